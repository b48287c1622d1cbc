// Creates entries on disk inside the RootDir: files, directories, symlinks,
// hardlinks, device nodes and FIFOs, with owner, mode, xattrs and mtime.
// Also the two removals a layer can ask for: a whiteout deletes a path, an
// opaque directory prunes what lower layers left in it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include <time.h>

#include "fs/file_pool.hpp"
#include "fs/fixups.hpp"
#include "fs/root.hpp"
#include "layer/tree_target.hpp"
#include "tar/reader.hpp"

namespace undocker::fs {

struct WriterOptions {
  bool set_owner = false;  // root: numeric owners from the archive
  bool privileged = false; // root: device nodes and security.* xattrs
  bool ignore_errors = false;  // -i, for files finished on worker threads
  unsigned threads = 0;    // workers finishing files; 0: all on the caller's thread
};

class TreeWriter : public layer::TreeTarget {
 public:
  TreeWriter(RootDir& root, WriterOptions options);

  /// Creates `entry` at clean_path, replacing whatever is there (a
  /// directory over a directory merges). File data is read from the reader
  /// apply_layer lent (read_data_from). Throws EntryError (this entry cannot
  /// be made), FormatError (the entry is invalid) or IoError (the
  /// filesystem failed).
  void write(const tar::Entry& entry, std::string_view clean_path) override;

  /// The layer's reader, which stands at each file's data when write() is
  /// called; null when the layer ends.
  void read_data_from(tar::TarReader* reader) override { data_ = reader; }

  /// Makes the missing directories leading to clean_path, as writing an
  /// entry there would.
  void make_parents(std::string_view clean_path) override { open_parent(clean_path, "the entry", true); }

  /// Deletes clean_path (a whole tree for a directory) if it exists; never
  /// follows a symlink in its last component. Returns true if removed.
  bool remove(std::string_view clean_path) override;

  /// Deletes everything below clean_dir for which keep(path) is false;
  /// descends into kept directories. keep sees clean paths.
  void prune(std::string_view clean_dir, const std::function<bool(const std::string&)>& keep) override;

  /// Waits for every file, then applies deferred directory metadata
  /// (call once, at the end).
  std::size_t finish();

  /// Names the layer being applied, for errors raised on worker threads.
  void begin_layer(std::size_t, const std::string& layer_name) override { layer_name_ = layer_name; }


 private:
  DirFd open_parent(std::string_view clean_path, std::string_view what, bool create);
  // Removes what stands at leaf, if anything; a directory stays with
  // keep_directory, and then true is returned.
  bool clear_for(int parent_fd, const std::string& leaf, std::string_view clean_path, bool keep_directory);
  // Hands a small file's data to the pool as pinned decoder chunks; false
  // (data written here) when the source could not pin it.
  bool hand_over_pinned(PendingFile& pending, tar::TarReader& data);
  void write_file(const tar::Entry& entry, int parent_fd, const std::string& leaf, std::string_view clean_path,
                  tar::TarReader& data);
  void write_directory(const tar::Entry& entry, int parent_fd, const std::string& leaf, std::string_view clean_path);
  void write_symlink(const tar::Entry& entry, int parent_fd, const std::string& leaf, std::string_view clean_path);
  void write_hardlink(const tar::Entry& entry, int parent_fd, const std::string& leaf, std::string_view clean_path);
  void write_node(const tar::Entry& entry, int parent_fd, const std::string& leaf, std::string_view clean_path);
  void set_owner_mode_time_at(const tar::Entry& entry, int parent_fd, const std::string& leaf,
                              std::string_view clean_path, bool is_symlink);
  // Records the mtime of a directory from before this run, the first time
  // this run opens it (only when the output directory was not empty).
  void note_existing_dir(std::string_view clean_dir, int dir_fd);
  void prune_at(int dir_fd, const std::string& clean_dir, const std::function<bool(const std::string&)>& keep);

  RootDir& root_;
  WriterOptions options_;
  FinishOptions finish_;  // for files finished here, and the pool's (owner_on_create: writer.cpp)
  DirFixups fixups_;
  timespec started_{};                        // directories older than this existed before the run
  std::unordered_set<std::string> seen_dirs_;  // noted by note_existing_dir
  std::optional<std::string> root_path_;       // the output directory's real path, once needed
  std::unique_ptr<FilePool> pool_;
  std::string layer_name_;
  tar::TarReader* data_ = nullptr;  // lent by apply_layer for the layer being applied
};

/// Removes everything inside dir_fd, without following symlinks. Returns
/// false with errno set on failure.
bool remove_children(int dir_fd);

/// Removes name (a whole tree for a directory) inside dir_fd, without
/// following symlinks. Returns false with errno set on failure.
bool remove_tree_at(int dir_fd, const std::string& name);

/// Removes the file or tree at path (its parent directories are followed,
/// its last component is not); errors are ignored. For the signal watcher.
void remove_path(const std::string& path);

}  // namespace undocker::fs
