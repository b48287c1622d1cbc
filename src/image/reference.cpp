#include "image/reference.hpp"

#include <cstddef>

namespace undocker::image {

namespace {

constexpr std::size_t kMaxTagBytes = 128;
// Docker refuses longer names; the limit also keeps DIR/NAME/TAG short.
constexpr std::size_t kMaxNameBytes = 255;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// alpha-numeric (separator alpha-numeric)*, separator = [_.] | __ | -+
bool is_valid_path_component(std::string_view part) {
  std::size_t i = 0;
  while (true) {
    const std::size_t run = i;
    while (i < part.size() && is_lower_alnum(part[i])) ++i;
    if (i == run) return false;  // empty, or a separator at the start, end or twice
    if (i == part.size()) return true;
    const std::size_t separator = i;
    if (part[i] == '-') {
      while (i < part.size() && part[i] == '-') ++i;
    } else if (part[i] == '.') {
      ++i;
    } else if (part[i] == '_') {
      ++i;
      if (i < part.size() && part[i] == '_') ++i;
    }
    if (i == separator) return false;  // not a separator either
  }
}

// host [":" port], host = components of [A-Za-z0-9-] joined by "."
bool is_valid_domain(std::string_view domain) {
  const std::size_t colon = domain.find(':');
  std::string_view host = domain.substr(0, colon);
  if (colon != std::string_view::npos) {
    const std::string_view port = domain.substr(colon + 1);
    if (port.empty()) return false;
    for (char c : port) {
      if (!is_digit(c)) return false;
    }
  }
  std::size_t begin = 0;
  while (true) {
    std::size_t end = host.find('.', begin);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view label = host.substr(begin, end - begin);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!is_alnum(c) && c != '-') return false;
    }
    if (end == host.size()) return true;
    begin = end + 1;
  }
}

bool looks_like_domain(std::string_view first) {
  if (first == "localhost") return true;
  for (char c : first) {
    if (c == '.' || c == ':' || (c >= 'A' && c <= 'Z')) return true;
  }
  return false;
}

}  // namespace

bool is_valid_repository(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  std::size_t begin = 0;
  std::size_t end = name.find('/');
  if (end != std::string_view::npos && looks_like_domain(name.substr(0, end))) {
    if (!is_valid_domain(name.substr(0, end))) return false;
    begin = end + 1;
  }
  while (true) {
    end = name.find('/', begin);
    if (end == std::string_view::npos) end = name.size();
    if (!is_valid_path_component(name.substr(begin, end - begin))) return false;
    if (end == name.size()) return true;
    begin = end + 1;
  }
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > kMaxTagBytes) return false;
  if (!is_alnum(tag.front()) && tag.front() != '_') return false;
  for (char c : tag) {
    if (!is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

bool is_valid_image_id(std::string_view id) { return is_valid_tag(id); }

}  // namespace undocker::image
