#include "layer/layer_diff.hpp"

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "util/path.hpp"

namespace undocker::layer {

namespace {

struct Named {
  std::string path;
  std::uint32_t inode;
};

struct TreeNames {
  std::vector<Named> order;                                   // the walk's order
  std::unordered_map<std::string, std::size_t> position;      // path → index in order
  std::unordered_map<std::uint32_t, std::vector<std::string>> names;  // a non-directory's names
};

TreeNames names_of(const FinalTree& tree) {
  TreeNames result;
  tree.walk([&](const std::string& path, std::uint32_t inode) {
    result.position.emplace(path, result.order.size());
    result.order.push_back(Named{path, inode});
    if (tree.inode(inode).type != tar::EntryType::kDirectory) result.names[inode].push_back(path);
  });
  return result;
}

bool same_metadata(const TreeInode& a, const TreeInode& b) {
  auto sorted = [](std::vector<std::pair<std::string, std::string>> xattrs) {
    std::sort(xattrs.begin(), xattrs.end());
    return xattrs;
  };
  return a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.mtime.seconds == b.mtime.seconds &&
         a.mtime.nanoseconds == b.mtime.nanoseconds && sorted(a.xattrs) == sorted(b.xattrs);
}

std::string parent_of(const std::string& path) { return std::string(split_parent(path).first); }

}  // namespace

std::vector<LayerDirEntry> layer_difference(const FinalTree& lower, const FinalTree& upper) {
  const TreeNames below = names_of(lower);
  const TreeNames above = names_of(upper);
  const std::size_t count = above.order.size();
  auto is_dir = [&](std::uint32_t inode) { return upper.inode(inode).type == tar::EntryType::kDirectory; };
  auto lower_inode_at = [&](const std::string& path) -> std::optional<std::uint32_t> {
    auto found = below.position.find(path);
    if (found == below.position.end()) return std::nullopt;
    return below.order[found->second].inode;
  };

  // Directories that are new or replaced: opaque where something stood
  // below, and everything in them is in the layer ("forced").
  std::vector<bool> included(count, false);
  std::vector<bool> opaque(count, false);
  std::vector<bool> forced(count, false);
  std::vector<bool> replaced_dir(count, false);
  // A directory that stays but keeps none of what it held below (an opaque
  // whiteout cleared it) is opaque too: one xattr instead of a whiteout for
  // each name it lost.
  std::unordered_map<std::string, std::pair<std::size_t, std::size_t>> children_below;  // parent → held, kept
  for (const Named& item : below.order) {
    if (item.path.empty()) continue;
    auto& [held, kept] = children_below[parent_of(item.path)];
    ++held;
    auto now = above.position.find(item.path);
    if (now != above.position.end() && above.order[now->second].inode == item.inode) ++kept;
  }
  auto cleared = [&](const std::string& path) {
    auto found = children_below.find(path);
    return found != children_below.end() && found->second.first > 0 && found->second.second == 0;
  };
  for (std::size_t i = 0; i < count; ++i) {
    const Named& item = above.order[i];
    const bool parent_forced = i > 0 && forced[above.position.at(parent_of(item.path))];
    if (!is_dir(item.inode)) {
      forced[i] = parent_forced;
      continue;
    }
    const std::optional<std::uint32_t> before = lower_inode_at(item.path);
    if (before != item.inode || (!parent_forced && cleared(item.path))) {
      replaced_dir[i] = true;
      opaque[i] = before.has_value() && !parent_forced;
      forced[i] = true;
      included[i] = true;
    } else {
      forced[i] = parent_forced;
      included[i] = parent_forced || !same_metadata(lower.inode(item.inode), upper.inode(item.inode));
    }
  }
  // A non-directory is in the layer with all its names when it is new,
  // its names changed, or one of them lies in a forced directory.
  std::unordered_map<std::uint32_t, bool> dirty;
  for (std::size_t i = 0; i < count; ++i) {
    const Named& item = above.order[i];
    if (is_dir(item.inode)) continue;
    bool& flag = dirty[item.inode];
    if (forced[i]) flag = true;
    if (flag) continue;
    auto lower_names = below.names.find(item.inode);
    flag = lower_names == below.names.end() || lower_names->second != above.names.at(item.inode);
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (!is_dir(above.order[i].inode) && dirty[above.order[i].inode]) included[i] = true;
  }
  // Whiteouts: gone names whose parent is still a directory that merges
  // with the one below (a forced one hides them already).
  std::vector<LayerDirEntry> whiteouts;
  for (const Named& item : below.order) {
    if (item.path.empty() || above.position.count(item.path) != 0) continue;
    auto parent = above.position.find(parent_of(item.path));
    if (parent == above.position.end() || !is_dir(above.order[parent->second].inode) ||
        replaced_dir[parent->second]) {
      continue;
    }
    whiteouts.push_back(LayerDirEntry{item.path, LayerDirEntry::Kind::kWhiteout, 0, false});
    included[parent->second] = true;
  }
  // Every directory on the way to something in the layer, and the root.
  for (std::size_t i = count; i-- > 1;) {
    if (included[i]) included[above.position.at(parent_of(above.order[i].path))] = true;
  }
  included[0] = true;

  std::vector<LayerDirEntry> entries;
  for (std::size_t i = 0; i < count; ++i) {
    if (!included[i]) continue;
    entries.push_back(LayerDirEntry{above.order[i].path, LayerDirEntry::Kind::kNode, above.order[i].inode, opaque[i]});
  }
  entries.insert(entries.end(), std::make_move_iterator(whiteouts.begin()), std::make_move_iterator(whiteouts.end()));
  return entries;
}

}  // namespace undocker::layer
