// Messages on stderr in the original undocker's form: LEVEL:undocker:message.
#pragma once

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

/// An untrusted name made safe to print: control bytes, backslash and bytes
/// that are not UTF-8 become \xNN, so a member name cannot forge a log line.
std::string escape(std::string_view raw);

}  // namespace undocker
