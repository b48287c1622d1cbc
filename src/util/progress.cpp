#include "util/progress.hpp"

#include <sys/ioctl.h>

#include <cerrno>

#include <fmt/format.h>

namespace undocker {

namespace {

// Enough of a layer id (or digest hex) to tell layers apart, as docker does.
constexpr std::size_t kShortIdChars = 12;
// The rate is noise before this much time has passed.
constexpr double kMinRateSeconds = 0.5;

std::string format_duration(std::uint64_t seconds) {
  if (seconds >= 3600) return fmt::format("{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
  return fmt::format("{}:{:02}", seconds / 60, seconds % 60);
}

std::string short_id(std::string_view id) {
  const std::size_t colon = id.find(':');  // "sha256:" says nothing
  if (colon != std::string_view::npos) id.remove_prefix(colon + 1);
  return std::string(id.substr(0, kShortIdChars));
}

/// Progress is cosmetic: a failed write is dropped, not reported.
void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t count = ::write(fd, text.data(), text.size());
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(count));
  }
}

std::size_t terminal_width(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return 80;
  return size.ws_col;
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  std::size_t unit = 0;
  // Round first, so 1048575 bytes reads "1.0 MiB", not "1024.0 KiB".
  while (value >= 1023.95 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string render_line(const ProgressState& state, std::size_t max_width) {
  std::string line = fmt::format("layer {}/{}", state.layer_index + 1, state.layer_count);
  if (!state.layer_id.empty()) line += ' ' + short_id(state.layer_id);
  line += fmt::format("  {} entries  {}", state.entries, format_bytes(state.bytes_done));
  if (state.total_bytes > 0) line += " / " + format_bytes(state.total_bytes);
  if (state.elapsed_seconds >= kMinRateSeconds) {
    const double rate = static_cast<double>(state.bytes_done) / state.elapsed_seconds;
    line += fmt::format("  {:.1f} MiB/s", rate / (1024 * 1024));
    if (state.total_bytes > 0 && rate > 0) {
      const std::uint64_t left_bytes = state.total_bytes > state.bytes_done ? state.total_bytes - state.bytes_done : 0;
      const double left_seconds = static_cast<double>(left_bytes) / rate;
      line += fmt::format("  {} left", format_duration(static_cast<std::uint64_t>(left_seconds + 0.5)));
    }
  }
  if (max_width > 0 && line.size() > max_width) line.resize(max_width);
  return line;
}

Progress::Progress(std::uint64_t total_bytes, std::size_t layer_count, bool enabled, int fd)
    : enabled_(enabled), fd_(fd), start_(Clock::now()) {
  state_.total_bytes = total_bytes;
  state_.layer_count = layer_count;
}

Progress::~Progress() { finish(); }

void Progress::begin_layer(std::size_t index, std::string_view id) {
  if (!enabled_) return;
  state_.layer_index = index;
  state_.layer_id = std::string(id);
  maybe_draw();
}

void Progress::advance(std::uint64_t entries, std::uint64_t bytes) {
  if (!enabled_) return;
  state_.entries += entries;
  state_.bytes_done += bytes;
  maybe_draw();
}

void Progress::finish() {
  if (!enabled_) return;
  if (drawn_) write_all(fd_, "\r\x1b[K");
  enabled_ = false;
}

void Progress::maybe_draw() {
  const Clock::time_point now = Clock::now();
  if (drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  state_.elapsed_seconds = std::chrono::duration<double>(now - start_).count();
  draw();
}

void Progress::draw() {
  // One column short of the width: writing the last column makes some
  // terminals wrap, and "\r" would then return to the wrong line.
  const std::size_t width = terminal_width(fd_);
  std::string text = "\r";
  text += render_line(state_, width > 1 ? width - 1 : 1);
  text += "\x1b[K";  // erase what a longer line left behind
  write_all(fd_, text);
  drawn_ = true;
}

}  // namespace undocker
