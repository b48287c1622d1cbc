// How systemd-nspawn (252, src/nspawn/nspawn-gperf.gperf) reads what we
// write: Environment= and Parameters= are split into words with quotes
// removed but backslashes kept (config_parse_strv: EXTRACT_UNQUOTE |
// EXTRACT_RETAIN_ESCAPE), so systemd.syntax's C escapes do not apply there;
// WorkingDirectory= is taken raw and must be absolute; User= is taken raw
// and refused if it holds quotes, backslashes or control characters. Any
// line ending in a backslash continues on the next one.
#include "output/nspawn.hpp"

#include <optional>
#include <vector>

#include <fmt/format.h>

#include "image/json.hpp"
#include "util/log.hpp"

namespace undocker::output {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

/// True when value can follow "Key=" unquoted and unchanged: the parser
/// strips blanks around it and joins a line ending in a backslash.
bool fits_raw(std::string_view value) {
  if (value.empty() || is_blank(value.front()) || is_blank(value.back()) || value.back() == '\\') return false;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

/// Docker's User is "user", "uid", "user:group" or "uid:gid".
void append_user(std::string& text, std::string_view user) {
  const std::size_t colon = user.find(':');
  const std::string_view name = user.substr(0, colon);
  const bool safe = name.find_first_of("\"'\\") == std::string_view::npos && fits_raw(name);
  if (!name.empty() && safe) {
    text += fmt::format("User={}\n", name);
  } else if (!name.empty()) {
    text += fmt::format("# User {} left out: a .nspawn file cannot hold it\n", escape(name));
  }
  if (colon != std::string_view::npos) {
    text += fmt::format("# The config's User also names the group {}; systemd-nspawn sets the user's own groups.\n",
                        escape(user.substr(colon + 1)));
  }
}

void append_working_directory(std::string& text, std::string_view working_dir) {
  if (working_dir.empty()) return;
  // Docker resolves a relative WorkingDir against "/"; nspawn wants it absolute.
  std::string path;
  if (working_dir.front() != '/') path = "/";
  path += working_dir;
  if (fits_raw(path)) {
    text += fmt::format("WorkingDirectory={}\n", path);
  } else {
    text += fmt::format("# WorkingDir {} left out: a .nspawn file cannot hold it\n", escape(path));
  }
}

void append_parameters(std::string& text, const std::vector<std::string>& arguments) {
  if (arguments.empty()) return;
  std::string line = "Parameters=";
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    if (!quotable(arguments[i])) {
      text += "# Entrypoint and Cmd left out: an argument holds a line break\n";
      return;
    }
    if (i > 0) line += ' ';
    line += quote_word(arguments[i]);
  }
  // systemd-nspawn (252) takes Parameters= from a settings file only
  // together with a start mode; Boot=no is Docker's: the command is PID 1.
  text += "# Without Boot=no, systemd-nspawn ignores Parameters=.\nBoot=no\n";
  text += line;
  text += '\n';
}

}  // namespace

bool quotable(std::string_view word) {
  return word.find_first_of(std::string_view("\n\r\0", 3)) == std::string_view::npos;
}

std::string quote_word(std::string_view word) {
  const bool plain = !word.empty() && word.back() != '\\' &&
                     word.find_first_of(" \t\"'") == std::string_view::npos;
  if (plain) return std::string(word);
  // Each piece is wrapped in the quote character that the next quote
  // character of the word allows; a piece ends only where that changes.
  std::string quoted;
  char quote = 0;
  for (std::size_t i = 0; i < word.size(); ++i) {
    const char c = word[i];
    const char needed = c == '"' ? '\'' : c == '\'' ? '"' : 0;
    if (quote == 0 || (needed != 0 && needed != quote)) {
      if (quote != 0) quoted += quote;
      const std::size_t next_quote = word.find_first_of("\"'", i);
      quote = next_quote != std::string_view::npos && word[next_quote] == '"' ? '\'' : '"';
      quoted += quote;
    }
    quoted += c;
  }
  if (quote == 0) return "\"\"";  // the empty word
  quoted += quote;
  return quoted;
}

std::string nspawn_settings(Bytes config_json, std::string_view config_member) {
  const image::JsonDocument document(config_json, std::string(config_member));
  const simdjson::dom::object root = document.object(document.root(), "the image config");
  // Old Docker configs (v1 layer json) may carry only container_config.
  std::optional<simdjson::dom::element> config = document.field(root, "config");
  if (!config) config = document.field(root, "container_config");

  std::string text = fmt::format(
      "# systemd-nspawn settings written by undocker from the image config\n"
      "# {}: Env as Environment=, WorkingDir as WorkingDirectory=,\n"
      "# User as User=, Entrypoint followed by Cmd as Parameters=.\n"
      "[Exec]\n",
      escape(config_member));
  if (!config) return text;

  const simdjson::dom::object object = document.object(*config, "\"config\"");
  for (const std::string& variable : document.string_list(object, "Env")) {
    if (quotable(variable)) {
      text += fmt::format("Environment={}\n", quote_word(variable));
    } else {
      const std::string_view name = std::string_view(variable).substr(0, variable.find('='));
      text += fmt::format("# Env {} left out: its value holds a line break\n", escape(name));
    }
  }
  append_working_directory(text, document.optional_string(object, "WorkingDir").value_or(""));
  append_user(text, document.optional_string(object, "User").value_or(""));
  std::vector<std::string> arguments = document.string_list(object, "Entrypoint");
  for (std::string& argument : document.string_list(object, "Cmd")) arguments.push_back(std::move(argument));
  append_parameters(text, arguments);
  return text;
}

}  // namespace undocker::output
