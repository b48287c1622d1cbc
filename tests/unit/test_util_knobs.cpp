// UNDOCKER_* knobs: the documented values, empty as unset, and the exact
// usage error for anything else.
#include <doctest/doctest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "util/error.hpp"
#include "util/knobs.hpp"

namespace undocker {

namespace {

// Reads the knobs with one variable set (and the others as they are).
Knobs knobs_with(const char* name, const char* value) {
  const char* old = std::getenv(name);
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  setenv(name, value, 1);
  struct Restore {
    const char* name;
    const std::optional<std::string>& saved;
    ~Restore() { saved ? setenv(name, saved->c_str(), 1) : unsetenv(name); }
  } restore{name, saved};
  return read_knobs_from_environment();
}

std::string error_with(const char* name, const char* value) {
  try {
    knobs_with(name, value);
  } catch (const UsageError& error) {
    CHECK(error.status() == kExitUsage);
    return error.what();
  }
  return "";
}

}  // namespace

TEST_SUITE_BEGIN("util::knobs");

TEST_CASE("knobs: documented values") {
  CHECK(knobs_with("UNDOCKER_THREADS", "0").threads == 0u);
  CHECK(knobs_with("UNDOCKER_THREADS", "64").threads == 64u);
  CHECK_FALSE(knobs_with("UNDOCKER_THREADS", "").threads.has_value());  // empty: unset
  CHECK(knobs_with("UNDOCKER_NO_PLAN", "1").no_plan);
  CHECK_FALSE(knobs_with("UNDOCKER_NO_PLAN", "0").no_plan);
  CHECK(knobs_with("UNDOCKER_PLAN_ALWAYS", "1").plan_always);
  CHECK_FALSE(knobs_with("UNDOCKER_READ_AHEAD", "0").read_ahead);
  CHECK(knobs_with("UNDOCKER_READ_AHEAD", "").read_ahead);
  CHECK_FALSE(knobs_with("UNDOCKER_LAYER_AHEAD", "0").layer_ahead);
  CHECK(knobs_with("UNDOCKER_LAYER_AHEAD", "").layer_ahead);  // on unless turned off
  CHECK(knobs_with("UNDOCKER_INFLATE", "zlib").inflate == InflateKnob::kZlib);
  CHECK(knobs_with("UNDOCKER_INFLATE", "isal").inflate == InflateKnob::kFastest);
  CHECK(knobs_with("UNDOCKER_PATH_PLAN", "").path_plan);  // on unless turned off
  CHECK_FALSE(knobs_with("UNDOCKER_PATH_PLAN", "0").path_plan);
  CHECK_FALSE(knobs_with("UNDOCKER_SPECULATE", "").speculate);  // off unless turned on
  CHECK(knobs_with("UNDOCKER_SPECULATE", "1").speculate);
}

TEST_CASE("knobs: anything else is a usage error naming the variable") {
  const std::string threads = ": expected a number of file workers from 0 to 64";
  CHECK(error_with("UNDOCKER_THREADS", "-1") == "bad value UNDOCKER_THREADS=-1" + threads);
  CHECK(error_with("UNDOCKER_THREADS", "65") == "bad value UNDOCKER_THREADS=65" + threads);
  CHECK(error_with("UNDOCKER_THREADS", "99999999999999999999") ==
        "bad value UNDOCKER_THREADS=99999999999999999999" + threads);
  CHECK(error_with("UNDOCKER_THREADS", " 2") == "bad value UNDOCKER_THREADS= 2" + threads);
  CHECK(error_with("UNDOCKER_NO_PLAN", "yes") == "bad value UNDOCKER_NO_PLAN=yes: expected 0 or 1");
  CHECK(error_with("UNDOCKER_READ_AHEAD", "\n") == "bad value UNDOCKER_READ_AHEAD=\\x0a: expected 0 or 1");
  CHECK(error_with("UNDOCKER_INFLATE", "gzip") == "bad value UNDOCKER_INFLATE=gzip: expected zlib or isal");
  CHECK(error_with("UNDOCKER_PATH_PLAN", "no") == "bad value UNDOCKER_PATH_PLAN=no: expected 0 or 1");
  CHECK(error_with("UNDOCKER_SPECULATE", "2") == "bad value UNDOCKER_SPECULATE=2: expected 0 or 1");
}

TEST_SUITE_END();

}  // namespace undocker
