// Messages on stderr in the original undocker's form: LEVEL:undocker:message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace undocker {

enum class LogLevel { kDebug = 10, kInfo = 20, kWarning = 30, kError = 40 };

/// Messages below this level are dropped (default: warnings and errors).
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

void vlog(LogLevel level, fmt::string_view format, fmt::format_args args);

template <typename... T>
void log(LogLevel level, fmt::format_string<T...> format, T&&... args) {
  if (log_enabled(level)) vlog(level, format, fmt::make_format_args(args...));
}

/// An INFO line that follows an ERROR line (what exists instead, a hint):
/// labelled INFO, as the original's log levels go, but shown by default
/// like a warning, so that a user sees it; -q hides it.
void log_note(std::string_view text);

/// "1 layer", "2 layers", "1 entry", "0 entries": the count and the noun
/// in the right number (plural given, or the singular plus "s").
std::string count_of(std::uint64_t count, std::string_view singular, std::string_view plural = {});

/// A status line kept at the bottom of a terminal (util/progress.hpp):
/// drawn in place with "\r" on fd; a log line printed while it is shown
/// erases it, appears above it whole, and the line is drawn again. One lock
/// orders both, whichever thread logs.
void draw_status_line(int fd, std::string_view text);
/// Erases the status line; later log lines print plainly.
void clear_status_line();

/// An untrusted name made safe to print: control bytes, backslash and bytes
/// that are not UTF-8 become \xNN, so a member name cannot forge a log line.
std::string escape(std::string_view raw);

}  // namespace undocker
