// JSON documents of the archive (manifest.json, repositories, configs,
// index.json) parsed with simdjson's DOM: they are kilobytes, and a full
// parse validates all of it before we trust any field. Every failure is a
// FormatError naming the member.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "util/bytes.hpp"

namespace undocker::image {

/// A parsed JSON document; keeps the parser alive for its elements.
class JsonDocument {
 public:
  /// Copies `text` into a padded buffer (simdjson reads past the end) and
  /// parses it. `member` names the document in errors.
  JsonDocument(Bytes text, std::string member);

  simdjson::dom::element root() const { return root_; }
  const std::string& member() const { return member_; }

  /// Throws FormatError("<member>: <problem>").
  [[noreturn]] void fail(std::string_view problem) const;

  // Typed accessors that throw FormatError naming the member and the key.
  simdjson::dom::object object(simdjson::dom::element value, std::string_view what) const;
  simdjson::dom::array array(simdjson::dom::element value, std::string_view what) const;
  std::string string(simdjson::dom::element value, std::string_view what) const;

  /// obj[key] if present and not null.
  std::optional<simdjson::dom::element> field(simdjson::dom::object obj, std::string_view key) const;
  /// obj[key] as a string, nullopt if absent or null.
  std::optional<std::string> optional_string(simdjson::dom::object obj, std::string_view key) const;
  /// obj[key] as a string; missing is an error.
  std::string required_string(simdjson::dom::object obj, std::string_view key) const;
  /// obj[key] as an array of strings; absent or null gives an empty list.
  std::vector<std::string> string_list(simdjson::dom::object obj, std::string_view key) const;

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
  simdjson::dom::element root_;
  std::string member_;
};

}  // namespace undocker::image
