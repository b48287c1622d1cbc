#include "util/progress.hpp"

#include <sys/ioctl.h>

#include <vector>

#include <fmt/format.h>

#include "util/log.hpp"

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
  // The parts in the order shown, each with the rank at which it is dropped
  // when the line is too wide (1 first): whole parts go, never part of a
  // word, and "layer i/n" stays as long as anything is shown.
  struct Part {
    std::string text;
    int drop_rank;  // 0: never dropped
  };
  std::vector<Part> parts;
  parts.push_back({fmt::format("layer {}/{}", state.layer_index + 1, state.layer_count), 0});
  if (!state.layer_id.empty()) parts.push_back({short_id(state.layer_id), 1});
  parts.push_back({count_of(state.entries, "entry", "entries"), 3});
  std::string bytes = format_bytes(state.bytes_done);
  if (state.total_bytes > 0) bytes += " / " + format_bytes(state.total_bytes);
  parts.push_back({bytes, 5});
  if (state.elapsed_seconds >= kMinRateSeconds) {
    const double rate = static_cast<double>(state.bytes_done) / state.elapsed_seconds;
    parts.push_back({fmt::format("{:.1f} MiB/s", rate / (1024 * 1024)), 2});
    if (state.total_bytes > 0 && rate > 0) {
      const std::uint64_t left_bytes = state.total_bytes > state.bytes_done ? state.total_bytes - state.bytes_done : 0;
      const double left_seconds = static_cast<double>(left_bytes) / rate;
      parts.push_back({fmt::format("{} left", format_duration(static_cast<std::uint64_t>(left_seconds + 0.5))), 4});
    }
  }
  auto join = [&] {
    std::string line;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      // The id belongs to the layer: one space; the other parts two.
      if (i > 0) line += parts[i].drop_rank == 1 ? " " : "  ";
      line += parts[i].text;
    }
    return line;
  };
  std::string line = join();
  for (int rank = 1; max_width > 0 && line.size() > max_width && rank <= 5; ++rank) {
    std::erase_if(parts, [rank](const Part& part) { return part.drop_rank == rank; });
    line = join();
  }
  if (max_width > 0 && line.size() > max_width) return "";
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
  if (drawn_) clear_status_line();
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
  // The status line erases what a longer line left behind, and log lines
  // printed meanwhile go above it (util/log.cpp).
  const std::size_t width = terminal_width(fd_);
  draw_status_line(fd_, render_line(state_, width > 1 ? width - 1 : 1));
  drawn_ = true;
}

}  // namespace undocker
