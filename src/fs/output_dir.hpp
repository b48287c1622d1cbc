// Where an output goes, reached only from directory handles the user named.
//
// The user names DIR (-o), the base of --all, and a --tar FILE; everything
// undocker creates beside or below them (an image's DIR/NAME/TAG under
// --all, DIR.nspawn, the staging sibling of DIR) is made with *at() calls
// relative to a handle of the user's directory, one component at a time
// with O_NOFOLLOW: a symlink that an archive planted (an earlier image of
// the same --all run, an earlier run) is never followed.
//
// A run into a missing or empty DIR builds the tree in a sibling named
// `.DIR.undocker-partial-PID` and renames it to DIR only once it is
// complete and verified; a failure removes the sibling, and a later run
// into the same DIR removes one that a killed run left behind.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "fs/fd.hpp"
#include "util/interrupt.hpp"

namespace undocker::fs {

/// A place for one output: the directory handle it lives in, and its name
/// there. display is the path as the user would write it, for messages.
struct OutputPlace {
  Fd parent;
  std::string leaf;     // one component; "." when the output is the parent itself
  std::string display;
  std::string parent_display;  // the parent's path, for the signal watcher
  bool leaf_is_users = true;   // false when the archive named it (--all): never follow a symlink there
};

/// The place of a path the user gave (-o DIR, --tar FILE, --all's base):
/// its parent directories are created (0755, as mkdir -p) and opened by
/// path, following symlinks: they are the user's, not the archive's.
OutputPlace place_of_user_path(const std::string& path);

/// The same place when its parent directory already exists, else nullopt
/// (nothing is created): for work that may start before the run knows it
/// will write at all.
std::optional<OutputPlace> place_if_parent_exists(const std::string& path);

/// Opens base/relative, creating missing components (0755) one at a time
/// with mkdirat and openat(O_NOFOLLOW): a symlink or a non-directory on the
/// way is an IoError naming it. relative is a clean path ("a/b").
Fd make_directories_nofollow(int base_fd, std::string_view relative, std::string_view base_display);

/// The output directory of one run. Staged: built under a temporary
/// sibling name and renamed into place by commit(); the destructor removes
/// an uncommitted one. Direct: DIR itself, when it already holds files, is
/// "." (or ".."), a symlink the user made, or a mount point.
class OutputDir {
 public:
  explicit OutputDir(OutputPlace place);

  /// True when OutputDir(place) would stage (DIR missing, or an empty
  /// directory that is not a mount point); looks only, changes nothing.
  static bool would_stage(const OutputPlace& place);
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  /// The directory to write into (the staging sibling or DIR itself).
  Fd open_root() const;
  bool staged() const { return staged_; }
  const std::string& display() const { return place_.display; }
  int parent_fd() const { return place_.parent.get(); }
  const std::string& leaf() const { return place_.leaf; }

  /// Moves a staged tree to its final name (nothing for a direct one).
  void commit();

 private:
  void remove_stale_siblings() const;

  OutputPlace place_;
  bool staged_ = false;
  bool committed_ = false;
  std::string staging_name_;
  std::optional<TemporaryPath> registered_;  // for the signal watcher's cleanup
};

/// Removes what runs that no longer exist left staged in dir_fd (a run
/// killed with SIGKILL, or the machine went down): every entry for which
/// staging_pid(name) gives the PID of a process that is gone. An INFO line
/// names each, as display(name).
void remove_stale_staging(int dir_fd, const std::function<std::optional<pid_t>(std::string_view name)>& staging_pid,
                          const std::function<std::string(std::string_view name)>& display);

/// The PID a staging name ends in: all of `digits`, or nullopt.
std::optional<pid_t> parse_pid(std::string_view digits);

/// Writes text to parent_fd/name atomically: a temporary sibling created
/// with O_EXCL|O_NOFOLLOW, then renamed over name (a symlink at name is
/// replaced, never written through).
void write_file_atomically(int parent_fd, const std::string& name, std::string_view text, std::string_view display);

}  // namespace undocker::fs
