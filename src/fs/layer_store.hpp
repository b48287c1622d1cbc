// A layer store (--layer-store STORE): STORE/sha256/<chainID hex>/ holds
// one layer over the layers below it, as an overlayfs lower directory.
//
// STORE is the user's (made as mkdir -p, opened by path). sha256/ and
// everything below it are reached from STORE's handle with O_NOFOLLOW: a
// symlink planted there is an error, never followed. A layer directory is
// built under a staging name, `.tmp-<hex>-<pid>`, and is complete only once
// renamed to <hex> (renameat2 RENAME_NOREPLACE): a complete layer is never
// rewritten, a run that loses the race to another drops its own copy, and
// a killed run leaves only its staging directory, which a later run
// removes once that PID is gone.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "fs/fd.hpp"
#include "util/interrupt.hpp"

namespace undocker::fs {

class LayerStore {
 public:
  /// Makes and opens STORE and STORE/sha256; removes staging directories
  /// of runs that no longer exist. Throws IoError.
  explicit LayerStore(const std::string& path);

  /// True when the layer <hex> is complete. A symlink or a file at its
  /// name is an IoError naming it.
  bool has(std::string_view hex) const;

  /// The absolute path of the layer directory <hex>, for a lowerdir list.
  std::string path_of(std::string_view hex) const;

  /// STORE/empty, an empty directory (made when missing), absolute: the
  /// bottom of a one-layer image's lowerdir list, since overlayfs wants two
  /// lower directories when it has no upper one. Anything in it, or a
  /// symlink at its name, is an IoError.
  std::string empty_dir() const;

  /// The display name of the layer directory <hex> (STORE as typed).
  std::string display_of(std::string_view hex) const;

  /// One layer directory under construction; removed unless committed.
  class Staging {
   public:
    Staging(const LayerStore& store, std::string hex);
    ~Staging();
    Staging(const Staging&) = delete;
    Staging& operator=(const Staging&) = delete;

    /// The staging directory, to write the layer into.
    int fd() const { return dir_.get(); }
    const std::string& display() const { return display_; }

    /// Makes the layer complete: renamed to <hex>, unless another run did
    /// so first (then this copy is removed: the two are the same layer).
    /// Returns true when this run's copy became the layer.
    bool commit();

   private:
    const LayerStore& store_;
    std::string hex_;
    std::string name_;
    std::string display_;
    Fd dir_;
    bool done_ = false;
    std::optional<TemporaryPath> registered_;  // for the signal watcher's cleanup
  };

 private:
  void remove_stale_staging() const;

  std::string display_;   // STORE as the user typed it
  std::string absolute_;  // STORE's real path
  Fd store_;
  Fd sha256_;
};

}  // namespace undocker::fs
