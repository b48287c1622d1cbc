#include "util/knobs.hpp"

#include <cstdlib>
#include <mutex>
#include <string_view>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker {

namespace {

Knobs g_knobs;
std::once_flag g_knobs_read;

// The variable's value, or nullopt when unset or empty.
std::optional<std::string_view> value_of(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string_view(value);
}

[[noreturn]] void bad_value(const char* name, std::string_view value, std::string_view expected) {
  throw UsageError(fmt::format("bad value {}={}: expected {}", name, escape(value), expected));
}

bool read_flag(const char* name, bool unset) {
  const std::optional<std::string_view> value = value_of(name);
  if (!value) return unset;
  if (*value == "0") return false;
  if (*value == "1") return true;
  bad_value(name, *value, "0 or 1");
}

std::optional<unsigned> read_threads(const char* name) {
  const std::optional<std::string_view> value = value_of(name);
  if (!value) return std::nullopt;
  unsigned threads = 0;
  // Digits only (no sign, spaces or suffix), without overflow.
  for (char c : *value) {
    if (c < '0' || c > '9' || threads > kMaxThreadsKnob) {
      bad_value(name, *value, fmt::format("a number of file workers from 0 to {}", kMaxThreadsKnob));
    }
    threads = threads * 10 + static_cast<unsigned>(c - '0');
  }
  if (threads > kMaxThreadsKnob) bad_value(name, *value, fmt::format("a number of file workers from 0 to {}", kMaxThreadsKnob));
  return threads;
}

}  // namespace

Knobs read_knobs_from_environment() {
  Knobs knobs;
  if (const std::optional<std::string_view> tmpdir = value_of("TMPDIR")) knobs.temp_dir = std::string(*tmpdir);
  knobs.threads = read_threads("UNDOCKER_THREADS");
  knobs.no_plan = read_flag("UNDOCKER_NO_PLAN", false);
  knobs.plan_always = read_flag("UNDOCKER_PLAN_ALWAYS", false);
  knobs.read_ahead = read_flag("UNDOCKER_READ_AHEAD", true);
  knobs.layer_ahead = read_flag("UNDOCKER_LAYER_AHEAD", true);
  knobs.path_plan = read_flag("UNDOCKER_PATH_PLAN", true);
  knobs.speculate = read_flag("UNDOCKER_SPECULATE", false);
  if (const std::optional<std::string_view> inflate = value_of("UNDOCKER_INFLATE")) {
    if (*inflate == "zlib") knobs.inflate = InflateKnob::kZlib;
    else if (*inflate == "isal") knobs.inflate = InflateKnob::kFastest;
    else bad_value("UNDOCKER_INFLATE", *inflate, "zlib or isal");
  }
  return knobs;
}

const Knobs& knobs() {
  // A throw leaves the flag unset: the next call reads (and throws) again.
  std::call_once(g_knobs_read, [] { g_knobs = read_knobs_from_environment(); });
  return g_knobs;
}

void set_knobs(const Knobs& knobs) {
  std::call_once(g_knobs_read, [] {});
  g_knobs = knobs;
}

}  // namespace undocker
