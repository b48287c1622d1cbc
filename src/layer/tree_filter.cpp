#include "layer/tree_filter.hpp"

#include <fnmatch.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::layer {

namespace {

// a is b, or lies below it.
bool at_or_below(const std::string& a, const std::string& b) {
  return a.size() >= b.size() && a.compare(0, b.size(), b) == 0 && (a.size() == b.size() || a[b.size()] == '/');
}

}  // namespace

TreeFilter::TreeFilter(const FinalTree& tree, const std::vector<std::string>& raw_paths,
                       const std::vector<std::string>& patterns) {
  for (const std::string& raw : raw_paths) {
    const FinalTree::Lookup found = tree.lookup(raw, false);
    if (!found.found) {
      throw NotFoundError(fmt::format("--path {}: {}", escape(raw), lookup_problem(found.error)));
    }
    if (found.clean_path.empty()) whole_tree_ = true;
    targets_.push_back(found.clean_path);
  }
  for (const std::string& raw : patterns) {
    Pattern pattern;
    std::string_view text = raw;
    if (text.starts_with('/')) pattern.anchored = true;
    while (text.starts_with('/') || text.starts_with("./")) text.remove_prefix(text.starts_with('/') ? 1 : 2);
    while (text.ends_with('/')) text.remove_suffix(1);
    pattern.text.assign(text);
    patterns_.push_back(std::move(pattern));
  }
}

bool TreeFilter::excluded(const std::string& clean_path) const {
  for (const Pattern& pattern : patterns_) {
    // Only slashes were given: the root, which stands for everything in it.
    if (pattern.text.empty()) return true;
    if (fnmatch(pattern.text.c_str(), clean_path.c_str(), 0) == 0) return true;
    if (pattern.anchored) continue;
    for (std::size_t slash = clean_path.find('/'); slash != std::string::npos; slash = clean_path.find('/', slash + 1)) {
      if (fnmatch(pattern.text.c_str(), clean_path.c_str() + slash + 1, 0) == 0) return true;
    }
  }
  return false;
}

bool TreeFilter::keeps(const std::string& clean_path) const {
  if (clean_path.empty()) return true;
  if (excluded(clean_path)) return false;
  if (targets_.empty() || whole_tree_) return true;
  for (const std::string& target : targets_) {
    // PATH or below it, or a directory that leads to it.
    if (at_or_below(clean_path, target) || at_or_below(target, clean_path)) return true;
  }
  return false;
}

void TreeFilter::walk(const FinalTree& tree,
                      const std::function<void(const std::string& path, std::uint32_t inode)>& visit) const {
  tree.walk_pruned([&](const std::string& path, std::uint32_t inode) {
    if (!keeps(path)) return false;
    visit(path, inode);
    return true;
  });
}

}  // namespace undocker::layer
