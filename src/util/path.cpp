#include "util/path.hpp"

#include <vector>

namespace undocker {

std::optional<std::string> clean_entry_path(std::string_view raw) {
  std::vector<std::string_view> parts;
  std::size_t begin = 0;
  while (begin <= raw.size()) {
    std::size_t end = raw.find('/', begin);
    if (end == std::string_view::npos) end = raw.size();
    const std::string_view part = raw.substr(begin, end - begin);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    begin = end + 1;
  }
  std::string clean;
  for (const std::string_view part : parts) {
    if (!clean.empty()) clean += '/';
    clean += part;
  }
  return clean;
}

bool is_clean_entry_path(std::string_view raw) {
  if (raw.empty()) return true;
  std::size_t begin = 0;
  for (;;) {
    std::size_t end = raw.find('/', begin);
    if (end == std::string_view::npos) end = raw.size();
    const std::string_view part = raw.substr(begin, end - begin);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == raw.size()) return true;
    begin = end + 1;
  }
}

std::deque<std::string> split_components(std::string_view path) {
  std::deque<std::string> parts;
  std::size_t begin = 0;
  while (begin <= path.size()) {
    std::size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    if (end > begin) parts.emplace_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
  return parts;
}

std::pair<std::string_view, std::string_view> split_parent(std::string_view clean_path) {
  const std::size_t slash = clean_path.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), clean_path};
  return {clean_path.substr(0, slash), clean_path.substr(slash + 1)};
}

bool is_same_or_below(std::string_view path, std::string_view ancestor) {
  if (ancestor.empty()) return true;
  if (!path.starts_with(ancestor)) return false;
  return path.size() == ancestor.size() || path[ancestor.size()] == '/';
}

}  // namespace undocker
