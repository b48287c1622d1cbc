#include "util/log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <mutex>

namespace undocker {

namespace {
LogLevel g_level = LogLevel::kWarning;

// Log lines and the status line share the terminal: one lock orders them.
std::mutex g_output_mutex;
int g_status_fd = -1;     // -1: no status line shown
std::string g_status;     // its text, to draw again after a log line

/// Messages and the status line are written with write(2), whole, so that
/// nothing stdio buffers can land in the middle of a redrawn line.
void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t count = ::write(fd, text.data(), text.size());
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(count));
  }
}

// Erases the status line (when it is on stderr), prints line, draws the
// status line again below it. Called with g_output_mutex held.
void print_locked(const std::string& line) {
  if (g_status_fd == STDERR_FILENO) {
    write_all(STDERR_FILENO, "\r\x1b[K" + line + "\r" + g_status + "\x1b[K");
  } else {
    write_all(STDERR_FILENO, line);
  }
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
  }
  return "ERROR";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  std::size_t length = 0;
  unsigned min_code = 0;
  unsigned code = 0;
  if (lead >= 0xc2 && lead <= 0xdf) { length = 2; code = lead & 0x1f; min_code = 0x80; }
  else if (lead >= 0xe0 && lead <= 0xef) { length = 3; code = lead & 0x0f; min_code = 0x800; }
  else if (lead >= 0xf0 && lead <= 0xf4) { length = 4; code = lead & 0x07; min_code = 0x10000; }
  else return 0;
  if (i + length > s.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xc0) != 0x80) return 0;
    code = (code << 6) | (c & 0x3f);
  }
  if (code < min_code || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }

bool log_enabled(LogLevel level) { return level >= g_level; }

void vlog(LogLevel level, fmt::string_view format, fmt::format_args args) {
  std::string line = fmt::format("{}:undocker:", level_name(level));
  fmt::vformat_to(std::back_inserter(line), format, args);
  line += '\n';
  const std::lock_guard<std::mutex> lock(g_output_mutex);
  print_locked(line);
}

void log_note(std::string_view text) {
  if (!log_enabled(LogLevel::kWarning)) return;
  const std::lock_guard<std::mutex> lock(g_output_mutex);
  print_locked(fmt::format("{}:undocker:{}\n", level_name(LogLevel::kInfo), text));
}

std::string count_of(std::uint64_t count, std::string_view singular, std::string_view plural) {
  if (count == 1) return fmt::format("1 {}", singular);
  if (plural.empty()) return fmt::format("{} {}s", count, singular);
  return fmt::format("{} {}", count, plural);
}

void draw_status_line(int fd, std::string_view text) {
  const std::lock_guard<std::mutex> lock(g_output_mutex);
  g_status_fd = fd;
  g_status = std::string(text);
  write_all(fd, "\r" + g_status + "\x1b[K");
}

void clear_status_line() {
  const std::lock_guard<std::mutex> lock(g_output_mutex);
  if (g_status_fd < 0) return;
  write_all(g_status_fd, "\r\x1b[K");
  g_status_fd = -1;
  g_status.clear();
}

std::string escape(std::string_view raw) {
  // A crafted 64 KiB name must not make a 64 KiB error line.
  constexpr std::size_t kMaxShownBytes = 1024;
  std::string suffix;
  if (raw.size() > kMaxShownBytes) {
    suffix = fmt::format("…({} bytes)", raw.size());
    raw = raw.substr(0, kMaxShownBytes);
  }
  std::string out;
  out.reserve(raw.size() + suffix.size());
  for (std::size_t i = 0; i < raw.size();) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
      ++i;
    } else if (c >= 0x80) {
      const std::size_t length = utf8_sequence_length(raw, i);
      if (length == 0) {
        out += fmt::format("\\x{:02x}", c);
        ++i;
      } else {
        out.append(raw.substr(i, length));
        i += length;
      }
    } else {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    }
  }
  return out + suffix;
}

}  // namespace undocker
