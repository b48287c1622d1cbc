// What applying a layer writes to: the directory on disk (fs::TreeWriter)
// or the plan of the final tree in memory (layer::FinalTree), which the
// other outputs read. apply_layer decides what each entry means by the
// OCI changeset rules; a target only carries it out, as libarchive's disk
// and archive writers share one face.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace undocker::tar {
struct Entry;
class TarReader;
}  // namespace undocker::tar

namespace undocker::layer {

class TreeTarget {
 public:
  virtual ~TreeTarget() = default;

  /// Creates `entry` at clean_path, replacing whatever is there (a
  /// directory over a directory merges); parents are resolved inside the
  /// root, following symlinks, and made if missing. Throws EntryError (this
  /// entry cannot be made), FormatError or IoError.
  virtual void write(const tar::Entry& entry, std::string_view clean_path) = 0;

  /// apply_layer lends its reader for the layer (null when the layer ends):
  /// at each write() of a file it stands at that file's data. Only a target
  /// that writes the data takes it (the disk); the plan in memory keeps
  /// Entry::data_offset instead and ignores this.
  virtual void read_data_from(tar::TarReader* reader) { (void)reader; }

  /// Makes the missing directories leading to clean_path, as writing an
  /// entry there would.
  virtual void make_parents(std::string_view clean_path) = 0;

  /// Deletes clean_path (a whole tree for a directory) if it exists; never
  /// follows a symlink in its last component. Returns true if removed.
  virtual bool remove(std::string_view clean_path) = 0;

  /// Deletes everything below clean_dir for which keep(path) is false;
  /// descends into kept directories. keep sees clean paths.
  virtual void prune(std::string_view clean_dir, const std::function<bool(const std::string&)>& keep) = 0;

  /// Names the layer being applied (for messages); index counts from the
  /// bottom of the selected layers.
  virtual void begin_layer(std::size_t index, const std::string& layer_name) = 0;
};

}  // namespace undocker::layer
