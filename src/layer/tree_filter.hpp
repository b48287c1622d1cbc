// --path and --exclude: which names of the final tree (layer/final_tree)
// an output keeps. A filter of the plan, so that the listing, the tar
// stream and the directory get the same subset.
//
// --path PATH keeps PATH, everything under it, and the directories that
// lead to it (with their own metadata from the plan). PATH is resolved in
// the final tree as the container would see it: symlinks in its parent
// components are followed inside the image's root, the last component is
// not (as tar -c and lstat do) unless PATH ends in '/'; what is kept is the
// physical subtree found.
//
// --exclude PATTERN leaves out every name that matches, and everything
// under it. The matching follows GNU tar's defaults for --exclude
// (--wildcards --wildcards-match-slash --no-anchored): fnmatch without
// FNM_PATHNAME or FNM_PERIOD, so '*', '?' and '[...]' match '/' and a
// leading '.', tried against the whole relative path and against every tail
// of it that starts after a '/'. Two differences, because names here have
// no leading "./" or '/': a pattern that starts with '/' is anchored at the
// image's root (GNU tar would match nothing), and trailing slashes of a
// pattern are ignored (GNU tar would match nothing). A leading "./" is
// dropped. The root itself is never left out.
#pragma once

#include <string>
#include <vector>

#include "layer/final_tree.hpp"

namespace undocker::layer {

class TreeFilter {
 public:
  /// Keeps everything.
  TreeFilter() = default;

  /// Resolves each raw path in `tree`. Throws NotFoundError (exit 4)
  /// naming a path that is not in the final tree.
  TreeFilter(const FinalTree& tree, const std::vector<std::string>& raw_paths,
             const std::vector<std::string>& patterns);

  /// False when it keeps everything.
  bool active() const { return !targets_.empty() || !patterns_.empty(); }

  /// Whether the name at clean_path is kept. A name that is not kept has
  /// nothing kept below it either.
  bool keeps(const std::string& clean_path) const;

  /// tree.walk, over the names kept only.
  void walk(const FinalTree& tree, const std::function<void(const std::string& path, std::uint32_t inode)>& visit) const;

 private:
  struct Pattern {
    std::string text;
    bool anchored = false;
  };
  bool excluded(const std::string& clean_path) const;

  std::vector<std::string> targets_;  // physical clean paths of --path
  bool whole_tree_ = false;           // a --path named the root itself
  std::vector<Pattern> patterns_;
};

}  // namespace undocker::layer
