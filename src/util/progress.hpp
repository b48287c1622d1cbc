// A one-line progress display on stderr while layers are written: layer,
// entries, bytes, rate and time left, redrawn in place with "\r" as the
// status line of util/log.hpp, so log lines appear above it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <unistd.h>

namespace undocker {

/// What one progress line shows.
struct ProgressState {
  std::size_t layer_index = 0;  // 0-based; shown 1-based
  std::size_t layer_count = 0;
  std::string layer_id;         // shown shortened to 12 characters
  std::uint64_t entries = 0;
  std::uint64_t bytes_done = 0;
  std::uint64_t total_bytes = 0;  // 0: unknown
  double elapsed_seconds = 0;
};

/// "1023 B", "1.0 KiB", "1.2 GiB": binary units, one decimal.
std::string format_bytes(std::uint64_t bytes);

/// The text of one progress line (no "\r" or escapes), e.g.
/// "layer 2/5 ea13149945cb  1234 entries  1.2 GiB / 3.4 GiB  56.7 MiB/s  0:42 left".
/// The rate and time left appear once time has passed, the total and time
/// left only when the total is known. When max_width > 0 and the line is
/// wider, whole parts are left out (the id, the rate, the entries, the time
/// left, the bytes, in that order), never part of one; empty when not even
/// "layer i/n" fits.
std::string render_line(const ProgressState& state, std::size_t max_width = 0);

class Progress {
 public:
  using Clock = std::chrono::steady_clock;

  /// total_bytes 0 means unknown. When !enabled (stderr is no terminal, or
  /// --quiet; the caller decides) every call does nothing.
  Progress(std::uint64_t total_bytes, std::size_t layer_count, bool enabled, int fd = STDERR_FILENO);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void begin_layer(std::size_t index, std::string_view id);

  /// Adds entries and bytes to the counts. Cheap: redraws at most every
  /// kRedrawInterval.
  void advance(std::uint64_t entries, std::uint64_t bytes);

  /// Clears the line; the display stays quiet afterwards.
  void finish();

  static constexpr Clock::duration kRedrawInterval = std::chrono::milliseconds(100);

 private:
  void maybe_draw();
  void draw();

  ProgressState state_;
  bool enabled_;
  int fd_;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

}  // namespace undocker
