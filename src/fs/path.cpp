#include "fs/path.hpp"

#include "archive/index.hpp"

namespace undocker::fs {

std::optional<std::string> clean_entry_path(std::string_view raw_path) {
  // Same rules as outer-archive member names.
  return archive::clean_member_name(raw_path);
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

}  // namespace undocker::fs
