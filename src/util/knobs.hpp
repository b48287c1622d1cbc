// The environment, read in this one place: TMPDIR, and the UNDOCKER_*
// variables, knobs for measurements (bench/) and tests, never needed in
// normal use (README.md lists them). They are
// read and checked here only, once, before anything runs: a value we do not
// understand is a usage error naming the variable, never silently ignored
// or misread (UNDOCKER_THREADS=-1 once asked for ~4 billion threads).
#pragma once

#include <optional>
#include <string>

namespace undocker {

enum class InflateKnob { kFastest, kZlib };  // isa-l when built with it; zlib

struct Knobs {
  // UNDOCKER_THREADS=N: file workers (0: the main thread finishes every
  // file); unset: one per core, at most 4.
  std::optional<unsigned> threads;
  bool no_plan = false;      // UNDOCKER_NO_PLAN=1: plain layer-by-layer application
  bool plan_always = false;  // UNDOCKER_PLAN_ALWAYS=1: plan however small the layers
  bool path_plan = true;     // UNDOCKER_PATH_PLAN=0: --cat plans the whole tree, not just what its path needs
  bool read_ahead = true;    // UNDOCKER_READ_AHEAD=0: inflate on the reading thread
  // UNDOCKER_LAYER_AHEAD=0: start decoding a layer only when it is applied
  // (pipeline/layer_sources.hpp), not before the plan's scan and not when
  // the layer below has been decoded.
  bool layer_ahead = true;
  // UNDOCKER_SPECULATE=1: `… | undocker -o DIR` applies layers while the
  // archive arrives (pipeline/speculation.hpp). Off by default: on the
  // 2-core bench machine it measured no faster (bench/RESULTS.md, issue 14).
  bool speculate = false;
  InflateKnob inflate = InflateKnob::kFastest;  // UNDOCKER_INFLATE=zlib|isal
  std::string temp_dir = "/tmp";  // TMPDIR (unset or empty: /tmp): the spool of a pipe, decoded layers
};

/// Most file workers UNDOCKER_THREADS may ask for: each holds descriptors,
/// and a machine with more cores than this gains nothing (disk-bound).
inline constexpr unsigned kMaxThreadsKnob = 64;

/// Reads every knob from the environment; throws UsageError naming the
/// first variable whose value is not one of those documented above. An
/// empty value counts as unset (`UNDOCKER_NO_PLAN= undocker …`).
Knobs read_knobs_from_environment();

/// The knobs in force: read on first use (main() calls this before it
/// starts any thread, so a bad value fails the run at once). Thread-safe.
const Knobs& knobs();

/// Replaces the knobs in force (tests only; call while no other thread runs).
void set_knobs(const Knobs& knobs);

}  // namespace undocker
