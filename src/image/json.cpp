#include "image/json.hpp"

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"

namespace undocker::image {

JsonDocument::JsonDocument(Bytes text, std::string member)
    : parser_(std::make_unique<simdjson::dom::parser>(limits::kMaxJsonBytes)), member_(std::move(member)) {
  if (text.size() > limits::kMaxJsonBytes) {
    fail(fmt::format("JSON document of {} bytes exceeds the limit of {} bytes", text.size(),
                     limits::kMaxJsonBytes));
  }
  if (parser_->allocate(text.size() + 1, limits::kMaxJsonDepth) != simdjson::SUCCESS) {
    fail("cannot allocate the JSON parser");
  }
  const simdjson::padded_string padded(reinterpret_cast<const char*>(text.data()), text.size());
  simdjson::error_code error = parser_->parse(padded).get(root_);
  if (error) fail(fmt::format("invalid JSON: {}", simdjson::error_message(error)));
}

void JsonDocument::fail(std::string_view problem) const {
  throw FormatError(fmt::format("{}: {}", escape(member_), problem));
}

simdjson::dom::object JsonDocument::object(simdjson::dom::element value, std::string_view what) const {
  simdjson::dom::object obj;
  if (value.get(obj)) fail(fmt::format("{} is not a JSON object", what));
  return obj;
}

simdjson::dom::array JsonDocument::array(simdjson::dom::element value, std::string_view what) const {
  simdjson::dom::array arr;
  if (value.get(arr)) fail(fmt::format("{} is not a JSON array", what));
  return arr;
}

std::string JsonDocument::string(simdjson::dom::element value, std::string_view what) const {
  std::string_view text;
  if (value.get(text)) fail(fmt::format("{} is not a JSON string", what));
  return std::string(text);
}

std::optional<simdjson::dom::element> JsonDocument::field(simdjson::dom::object obj, std::string_view key) const {
  simdjson::dom::element value;
  if (obj.at_key(key).get(value)) return std::nullopt;
  if (value.is_null()) return std::nullopt;
  return value;
}

std::optional<std::string> JsonDocument::optional_string(simdjson::dom::object obj, std::string_view key) const {
  std::optional<simdjson::dom::element> value = field(obj, key);
  if (!value) return std::nullopt;
  return string(*value, fmt::format("\"{}\"", key));
}

std::string JsonDocument::required_string(simdjson::dom::object obj, std::string_view key) const {
  std::optional<std::string> value = optional_string(obj, key);
  if (!value) fail(fmt::format("\"{}\" is missing", key));
  return *value;
}

std::vector<std::string> JsonDocument::string_list(simdjson::dom::object obj, std::string_view key) const {
  std::vector<std::string> list;
  std::optional<simdjson::dom::element> value = field(obj, key);
  if (!value) return list;
  for (simdjson::dom::element item : array(*value, fmt::format("\"{}\"", key))) {
    list.push_back(string(item, fmt::format("an item of \"{}\"", key)));
  }
  return list;
}

}  // namespace undocker::image
