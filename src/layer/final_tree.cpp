#include "layer/final_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include <fmt/format.h>

#include "util/path.hpp"
#include "util/error.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"

namespace undocker::layer {

namespace {

// What a name may hold on Linux: a longer component fails on disk, so it
// fails here too.
constexpr std::size_t kMaxNameBytes = 255;

[[noreturn]] void fail(std::string_view clean_path, std::string_view action, int error) {
  throw EntryError(fmt::format("{}: cannot {}: {}", escape(clean_path), action, std::strerror(error)));
}

}  // namespace

FinalTree::FinalTree() {
  // The root: a directory that only a "./" entry describes.
  inodes_.emplace_back();
  nodes_.emplace_back();
}

void FinalTree::begin_layer(std::size_t index, const std::string& layer_name) {
  layer_ = static_cast<std::uint32_t>(index);
  layer_name_ = layer_name;
}

std::uint32_t FinalTree::new_inode(TreeInode inode) {
  inodes_.push_back(std::move(inode));
  return static_cast<std::uint32_t>(inodes_.size() - 1);
}

std::uint32_t FinalTree::new_directory(const tar::Timestamp& mtime, std::uint32_t mode) {
  TreeInode dir;
  dir.mode = mode;
  dir.mtime = mtime;
  dir.layer = layer_;
  return new_inode(std::move(dir));
}

std::uint32_t FinalTree::add_node(std::uint32_t parent, std::string_view name, std::uint32_t inode) {
  Node node;
  node.name.assign(name);
  node.parent = parent;
  node.inode = inode;
  nodes_.push_back(std::move(node));
  const auto id = static_cast<std::uint32_t>(nodes_.size() - 1);
  nodes_[parent].children.emplace(std::string(name), id);
  return id;
}

bool FinalTree::walk_path(std::string_view path, bool as_directory, bool follow_last,
                          const tar::Timestamp* made_mtime, std::uint32_t& node, int& error,
                          std::vector<std::string>* probed) {
  std::deque<std::string> pending = split_components(path);
  std::uint32_t current = 0;
  int hops = 0;
  while (!pending.empty()) {
    const std::string part = std::move(pending.front());
    pending.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      current = nodes_[current].parent;  // the root is its own parent
      continue;
    }
    if (part.size() > kMaxNameBytes) {
      error = ENAMETOOLONG;
      return false;
    }
    if (probed) {
      std::string probe = physical_path(current);
      probed->push_back(probe.empty() ? part : probe + "/" + part);
    }
    auto found = nodes_[current].children.find(part);
    if (found == nodes_[current].children.end()) {
      if (made_mtime == nullptr) {
        error = ENOENT;
        return false;
      }
      // Made as tar and Docker make a missing parent: 0755, described by no entry.
      current = add_node(current, part, new_directory(*made_mtime, 0755));
      continue;
    }
    const std::uint32_t child = found->second;
    const TreeInode& inode = inodes_[nodes_[child].inode];
    const bool last = pending.empty();
    if (inode.type == tar::EntryType::kDirectory) {
      current = child;
      continue;
    }
    if (inode.type != tar::EntryType::kSymlink) {
      if (last && !as_directory) {
        current = child;
        continue;
      }
      error = ENOTDIR;
      return false;
    }
    if (last && !follow_last && !as_directory) {
      current = child;
      continue;
    }
    if (++hops > limits::kMaxSymlinkHops) {
      error = ELOOP;
      return false;
    }
    if (inode.link_target.empty()) {  // names nothing, as the kernel has it
      error = ENOENT;
      return false;
    }
    std::deque<std::string> expanded = split_components(inode.link_target);
    pending.insert(pending.begin(), expanded.begin(), expanded.end());
    if (inode.link_target.starts_with('/')) current = 0;  // absolute: from our root
  }
  node = current;
  return true;
}

bool FinalTree::resolve_dir(std::string_view clean_dir, bool create, const tar::Timestamp& made_mtime,
                            std::uint32_t& node, int& error) {
  return walk_path(clean_dir, true, true, create ? &made_mtime : nullptr, node, error);
}

std::uint32_t FinalTree::open_parent(std::string_view clean_path, const tar::Timestamp& made_mtime) {
  std::uint32_t parent = 0;
  int error = 0;
  if (!resolve_dir(split_parent(clean_path).first, true, made_mtime, parent, error)) {
    fail(clean_path, "open the directory for the entry", error);
  }
  return parent;
}

void FinalTree::detach(std::uint32_t node) {
  Node& gone = nodes_[node];
  nodes_[gone.parent].children.erase(gone.name);
  // The subtree's nodes stay in the vector, unreachable; their maps go.
  std::vector<std::uint32_t> stack{node};
  while (!stack.empty()) {
    const std::uint32_t next = stack.back();
    stack.pop_back();
    for (const auto& [name, child] : nodes_[next].children) stack.push_back(child);
    nodes_[next].children.clear();
  }
}

void FinalTree::forget_records(std::string_view clean_path) {
  // As fs::DirFixups::forget: the path and everything below it, lexically.
  if (clean_path.empty()) {
    auto root = records_.find("");
    if (root == records_.end()) {
      records_.clear();
      return;
    }
    const DirRecord kept = root->second;
    records_.clear();
    records_.emplace("", kept);
    return;
  }
  records_.erase(std::string(clean_path));
  const std::string below = std::string(clean_path) + "/";
  auto it = records_.lower_bound(below);
  while (it != records_.end() && it->first.starts_with(below)) it = records_.erase(it);
}

void FinalTree::clear_for(std::uint32_t parent, std::string_view leaf, std::string_view clean_path, bool keep_directory) {
  auto found = nodes_[parent].children.find(leaf);
  if (found == nodes_[parent].children.end()) return;
  const bool directory = is_directory(found->second);
  if (directory && keep_directory) return;
  detach(found->second);
  if (directory) forget_records(clean_path);
}

void FinalTree::write(const tar::Entry& entry, std::string_view clean_path) {
  if (clean_path.empty()) {
    // "./": the root itself (apply_layer lets only a directory through).
    records_.insert_or_assign("", DirRecord{entry.mode, entry.uid, entry.gid, entry.mtime, layer_});
    return;
  }
  const std::uint32_t parent = open_parent(clean_path, entry.mtime);
  const std::string_view leaf = split_parent(clean_path).second;
  if (leaf.size() > kMaxNameBytes) fail(clean_path, "create the entry", ENAMETOOLONG);

  if (entry.type == tar::EntryType::kDirectory) {
    clear_for(parent, leaf, clean_path, true);
    auto found = nodes_[parent].children.find(leaf);
    // Owner-writable until the recorded metadata is applied, as on disk.
    const std::uint32_t dir = found != nodes_[parent].children.end()
                                  ? found->second
                                  : add_node(parent, leaf, new_directory(entry.mtime, 0700));
    // xattrs are set as the entry comes, over what a lower layer set.
    std::vector<std::pair<std::string, std::string>>& xattrs = inodes_[nodes_[dir].inode].xattrs;
    for (const auto& xattr : entry.xattrs) {
      auto same = std::find_if(xattrs.begin(), xattrs.end(), [&](const auto& item) { return item.first == xattr.first; });
      if (same != xattrs.end()) same->second = xattr.second;
      else xattrs.push_back(xattr);
    }
    records_.insert_or_assign(std::string(clean_path),
                              DirRecord{entry.mode, entry.uid, entry.gid, entry.mtime, layer_});
    return;
  }

  if (entry.type == tar::EntryType::kHardlink) {
    const std::optional<std::string> target = clean_entry_path(entry.link_target);
    if (!target || target->empty()) fail(clean_path, "link outside the output directory", EXDEV);
    if (*target == clean_path) return;  // a link to itself changes nothing
    const std::string action = fmt::format("link to {}", escape(*target));
    std::uint32_t target_parent = 0;
    int error = 0;
    if (!resolve_dir(split_parent(*target).first, false, entry.mtime, target_parent, error)) {
      fail(clean_path, action, ENOENT);
    }
    const std::string_view target_leaf = split_parent(*target).second;
    auto found = nodes_[target_parent].children.find(target_leaf);
    if (found == nodes_[target_parent].children.end()) fail(clean_path, action, ENOENT);
    const std::uint32_t target_node = found->second;
    if (is_directory(target_node)) fail(clean_path, action, EPERM);
    const std::uint32_t shared = nodes_[target_node].inode;
    auto existing = nodes_[parent].children.find(leaf);
    if (existing != nodes_[parent].children.end() && nodes_[existing->second].inode == shared) return;
    clear_for(parent, leaf, clean_path, false);
    // Clearing the leaf may have removed the target (it lay below it).
    auto still = nodes_[target_parent].children.find(target_leaf);
    if (still == nodes_[target_parent].children.end() || still->second != target_node) fail(clean_path, action, ENOENT);
    add_node(parent, leaf, shared);
    return;
  }

  clear_for(parent, leaf, clean_path, false);
  TreeInode inode;
  inode.type = entry.type;
  // Linux gives every symlink 0777, whatever the archive says.
  inode.mode = entry.type == tar::EntryType::kSymlink ? 0777 : entry.mode;
  inode.uid = entry.uid;
  inode.gid = entry.gid;
  inode.mtime = entry.mtime;
  inode.size_bytes = entry.type != tar::EntryType::kFile ? 0 : entry.sparse ? entry.sparse->real_size : entry.size_bytes;
  inode.dev_major = entry.dev_major;
  inode.dev_minor = entry.dev_minor;
  if (entry.type == tar::EntryType::kSymlink) inode.link_target = entry.link_target;
  inode.xattrs = entry.xattrs;
  inode.layer = layer_;
  inode.header_offset = entry.header_offset;
  if (entry.type == tar::EntryType::kFile) {
    inode.data_offset = entry.data_offset;
    inode.stored_bytes = entry.size_bytes;
    if (entry.sparse) inode.sparse = std::make_shared<const tar::SparseMap>(*entry.sparse);
  }
  add_node(parent, leaf, new_inode(std::move(inode)));
}

void FinalTree::make_parents(std::string_view clean_path) { open_parent(clean_path, tar::Timestamp{}); }

bool FinalTree::remove(std::string_view clean_path) {
  if (clean_path.empty()) return false;
  std::uint32_t parent = 0;
  int error = 0;
  if (!resolve_dir(split_parent(clean_path).first, false, tar::Timestamp{}, parent, error)) return false;
  auto found = nodes_[parent].children.find(split_parent(clean_path).second);
  if (found == nodes_[parent].children.end()) return false;
  detach(found->second);
  forget_records(clean_path);
  return true;
}

void FinalTree::prune(std::string_view clean_dir, const std::function<bool(const std::string&)>& keep) {
  std::uint32_t dir = 0;
  if (!clean_dir.empty()) {
    std::uint32_t parent = 0;
    int error = 0;
    if (!resolve_dir(split_parent(clean_dir).first, false, tar::Timestamp{}, parent, error)) return;
    auto found = nodes_[parent].children.find(split_parent(clean_dir).second);
    // The last component is not followed: a symlink there hides nothing.
    if (found == nodes_[parent].children.end() || !is_directory(found->second)) return;
    dir = found->second;
  }
  prune_at(dir, std::string(clean_dir), keep);
}

void FinalTree::prune_at(std::uint32_t dir, const std::string& clean_dir,
                         const std::function<bool(const std::string&)>& keep) {
  std::vector<std::pair<std::string, std::uint32_t>> children(nodes_[dir].children.begin(), nodes_[dir].children.end());
  for (const auto& [name, child] : children) {
    const std::string path = clean_dir.empty() ? name : clean_dir + "/" + name;
    if (!keep(path)) {
      detach(child);
      forget_records(path);
      continue;
    }
    if (is_directory(child)) prune_at(child, path, keep);
  }
}

void FinalTree::finish() {
  // Deepest first (reverse lexical order), as fs::DirFixups applies them:
  // where two recorded paths reach one directory, the shallower wins.
  for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
    std::uint32_t dir = 0;
    if (!it->first.empty()) {
      std::uint32_t parent = 0;
      int error = 0;
      if (!resolve_dir(split_parent(it->first).first, false, tar::Timestamp{}, parent, error)) continue;
      auto found = nodes_[parent].children.find(split_parent(it->first).second);
      if (found == nodes_[parent].children.end() || !is_directory(found->second)) continue;
      dir = found->second;
    }
    TreeInode& inode = inodes_[nodes_[dir].inode];
    inode.mode = it->second.mode;
    inode.uid = it->second.uid;
    inode.gid = it->second.gid;
    inode.mtime = it->second.mtime;
    inode.layer = it->second.layer;
    inode.described = true;
  }
  records_.clear();
}

void FinalTree::walk(const std::function<void(const std::string& path, std::uint32_t inode)>& visit) const {
  walk_pruned([&](const std::string& path, std::uint32_t inode) {
    visit(path, inode);
    return true;
  });
}

void FinalTree::walk_pruned(const std::function<bool(const std::string& path, std::uint32_t inode)>& visit) const {
  // Iterative: a crafted tree may be thousands of levels deep.
  struct Frame {
    std::uint32_t node;
    std::string path;
  };
  std::vector<Frame> stack{{0, std::string()}};
  while (!stack.empty()) {
    Frame frame = std::move(stack.back());
    stack.pop_back();
    const Node& node = nodes_[frame.node];
    if (!visit(frame.path, node.inode)) continue;
    // Pushed in reverse so that the smallest name comes off first.
    for (auto child = node.children.rbegin(); child != node.children.rend(); ++child) {
      stack.push_back(Frame{child->second, frame.path.empty() ? child->first : frame.path + "/" + child->first});
    }
  }
}

}  // namespace undocker::layer

namespace undocker::layer {

const char* lookup_problem(int error) {
  switch (error) {
    case ENOENT: return "no such file or directory in the image";
    case ENOTDIR: return "not a directory";
    case ELOOP: return "too many levels of symbolic links";
    case ENAMETOOLONG: return "a name in it is longer than 255 bytes";
    default: return "cannot be resolved";
  }
}

std::string FinalTree::physical_path(std::uint32_t node) const {
  std::vector<std::string_view> names;
  for (; node != 0; node = nodes_[node].parent) names.push_back(nodes_[node].name);
  std::string path;
  for (auto name = names.rbegin(); name != names.rend(); ++name) {
    if (!path.empty()) path += '/';
    path += *name;
  }
  return path;
}

FinalTree::Lookup FinalTree::lookup(std::string_view raw_path, bool follow_last,
                                    std::vector<std::string>* probed) const {
  Lookup result;
  std::uint32_t current = 0;
  // Without made_mtime the walk creates nothing: the tree is not changed.
  if (!const_cast<FinalTree*>(this)->walk_path(raw_path, raw_path.ends_with('/'), follow_last, nullptr, current,
                                               result.error, probed)) {
    return result;
  }
  result.clean_path = physical_path(current);
  result.found = true;
  result.inode = nodes_[current].inode;
  return result;
}

}  // namespace undocker::layer
