// The plan of the final tree: the selected layers applied, in memory, by
// the same rules (layer/apply) and with the same resolution as the
// directory writer on disk (fs/writer, fs/root), so that every output that
// is not a directory (the tar stream, the listing) reads one finished plan.
//
// Nothing here touches the disk. Each name is a node; each file system
// object an inode, shared by the names a hardlink gave it. An inode keeps
// its metadata and where its content comes from: the layer and the offset
// of the entry's header in that layer's (decoded) tar stream, so that a
// sink reads the data again from the mapped or decoded layer, never from a
// copy.
//
// Resolution mirrors fs::RootDir: parent components follow symlinks inside
// the root (absolute targets from the root, ".." stops at the root, at most
// limits::kMaxSymlinkHops), the last component is never followed, missing
// directories are made. Directory metadata is recorded by path and applied
// once every layer is in, deepest first, as fs::DirFixups does.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "layer/tree_target.hpp"
#include "tar/pax.hpp"
#include "tar/reader.hpp"

namespace undocker::layer {

struct TreeInode {
  tar::EntryType type = tar::EntryType::kDirectory;
  std::uint32_t mode = 0755;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  tar::Timestamp mtime;
  std::uint64_t size_bytes = 0;  // a regular file's length (a sparse one's real size)
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::string link_target;  // a symlink's target, as the archive wrote it
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::uint32_t layer = 0;          // the layer whose entry made it (a directory: whose entry described it last)
  std::uint64_t header_offset = 0;  // that entry's first header in the layer's (decoded) stream
  std::uint64_t data_offset = 0;    // a regular file's data in that stream
  std::uint64_t stored_bytes = 0;   // bytes of data stored there (a sparse file's segments)
  std::shared_ptr<const tar::SparseMap> sparse;  // where a sparse file's segments go
  bool described = false;           // a directory: some entry gave its metadata
};

/// Why FinalTree::lookup found nothing, in words for a message: "no such
/// file or directory in the image", "not a directory", …
const char* lookup_problem(int error);

class FinalTree final : public TreeTarget {
 public:
  FinalTree();

  void write(const tar::Entry& entry, std::string_view clean_path) override;
  void make_parents(std::string_view clean_path) override;
  bool remove(std::string_view clean_path) override;
  void prune(std::string_view clean_dir, const std::function<bool(const std::string&)>& keep) override;
  void begin_layer(std::size_t index, const std::string& layer_name) override;

  /// Applies the recorded directory metadata (call once, after the last layer).
  void finish();

  /// Every name of the final tree, depth first, the children of each
  /// directory in bytewise order; the root first, as "". visit gets the
  /// clean path and the inode id.
  void walk(const std::function<void(const std::string& path, std::uint32_t inode)>& visit) const;

  /// The same walk, where visit also decides whether to descend: false
  /// skips everything below that name.
  void walk_pruned(const std::function<bool(const std::string& path, std::uint32_t inode)>& visit) const;

  /// What a path names, resolved as the kernel would inside the image's
  /// root (a container's view): symlinks in parent components followed
  /// (absolute targets from the root, ".." stopping at the root, at most
  /// limits::kMaxSymlinkHops), the last one too when follow_last or when
  /// raw_path ends in '/' (which also asks for a directory). The result is
  /// the physical path: clean, relative, "" for the root.
  struct Lookup {
    bool found = false;
    int error = 0;            // when not found: ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG
    std::string clean_path;   // when found
    std::uint32_t inode = 0;  // when found
  };
  /// With `probed`, every physical path the walk asked for is appended to
  /// it, found or not: what the answer depends on (layer/path_plan).
  Lookup lookup(std::string_view raw_path, bool follow_last, std::vector<std::string>* probed = nullptr) const;

  const TreeInode& inode(std::uint32_t id) const { return inodes_[id]; }
  std::size_t inode_count() const { return inodes_.size(); }

 private:
  struct Node {
    std::string name;
    std::uint32_t parent = 0;
    std::uint32_t inode = 0;
    std::map<std::string, std::uint32_t, std::less<>> children;  // a directory's
  };
  struct DirRecord {
    std::uint32_t mode = 0;
    std::int64_t uid = 0;
    std::int64_t gid = 0;
    tar::Timestamp mtime;
    std::uint32_t layer = 0;
  };

  bool is_directory(std::uint32_t node) const { return inodes_[nodes_[node].inode].type == tar::EntryType::kDirectory; }
  // The one resolution inside the root, as fs::RootDir's: follows symlinks
  // in every component but the last (the last too with follow_last, or when
  // as_directory: the path must name a directory). With made_mtime, missing
  // components are made as directories with that mtime; without, they are
  // ENOENT and the tree is not changed. Errors: ENOENT, ENOTDIR, ELOOP,
  // ENAMETOOLONG.
  bool walk_path(std::string_view path, bool as_directory, bool follow_last, const tar::Timestamp* made_mtime,
                 std::uint32_t& node, int& error, std::vector<std::string>* probed = nullptr);
  // The names from the root down to `node`, joined: "" for the root.
  std::string physical_path(std::uint32_t node) const;
  // The directory clean_dir names, or none with error set. Made directories
  // get `made_mtime`.
  bool resolve_dir(std::string_view clean_dir, bool create, const tar::Timestamp& made_mtime, std::uint32_t& node,
                   int& error);
  std::uint32_t open_parent(std::string_view clean_path, const tar::Timestamp& made_mtime);
  std::uint32_t add_node(std::uint32_t parent, std::string_view name, std::uint32_t inode);
  std::uint32_t new_inode(TreeInode inode);
  std::uint32_t new_directory(const tar::Timestamp& mtime, std::uint32_t mode);
  // Removes what stands at parent/leaf (a whole tree for a directory),
  // unless keep_directory and it is one.
  void clear_for(std::uint32_t parent, std::string_view leaf, std::string_view clean_path, bool keep_directory);
  void detach(std::uint32_t node);
  void prune_at(std::uint32_t dir, const std::string& clean_dir, const std::function<bool(const std::string&)>& keep);
  void forget_records(std::string_view clean_path);

  std::vector<Node> nodes_;  // [0]: the root
  std::vector<TreeInode> inodes_;
  std::map<std::string, DirRecord> records_;  // directory metadata, by the path the entry named
  std::uint32_t layer_ = 0;
  std::string layer_name_;
};

}  // namespace undocker::layer
