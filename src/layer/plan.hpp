// Deciding, before anything is written, which entries an upper layer will
// replace or delete anyway, so that their data is never written (the bulk
// of the work for images whose later layers overwrite or clean up).
//
// The rules are lexical, so they only mark a regular file dead when lexical
// and physical paths must agree and making it could not have failed: every
// ancestor is a directory in every layer (no symlink, no file in the way),
// no hardlink points at it, and the output directory started empty.
// Under those conditions a later entry at the same path, a later whiteout
// of it or of an ancestor, a later opaque ancestor directory, or a later
// non-directory at an ancestor removes it, exactly as applying the layers
// in order would. Its parent directories are still made (a later whiteout
// of the file alone leaves them behind).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/byte_source.hpp"
#include "util/bytes.hpp"

namespace undocker::tar {
struct Entry;
}

namespace undocker::layer {

struct LayerPlan {
  std::vector<bool> skip;  // by entry ordinal in the layer's tar stream
  std::uint64_t skipped_entries = 0;
  std::uint64_t skipped_bytes = 0;
};

/// Plans uncompressed layers (bottom first). `whiteouts` is false under -W.
/// Callers must not plan when an entry may fail and be skipped (-i), since
/// an upper entry that is never made removes nothing.
/// Returns an empty vector when planning does not apply (a hardlink whose
/// target path runs through a symlink). Throws FormatError like the
/// reader would on a malformed layer.
std::vector<LayerPlan> plan_layers(const std::vector<Bytes>& layers, const std::vector<std::string>& layer_names,
                                   bool whiteouts);

/// The one way a plan is undone: thrown when a skip of the streaming
/// planner turns out not to hold, at a bottom-layer entry that cannot be
/// made while something was skipped (a hardlink to a skipped file), or at
/// finish(). The caller empties the output directory (it started empty)
/// and applies every layer in full, which makes the entry or reports it.
struct PlanUndone {};

/// Planning when the bottom layer can be read only once (it is compressed:
/// a second pass would inflate it again). The upper layers are scanned
/// first; each bottom-layer entry is judged as it streams by, against the
/// upper layers and the part of the bottom layer seen so far; finish()
/// judges every skip again against the whole bottom layer, exactly as
/// plan_layers would.

class StreamingPlanner {
 public:
  /// `upper`: the decoded layers above the bottom one, lowest first. Null
  /// when planning does not apply. Throws FormatError on a malformed layer.
  static std::unique_ptr<StreamingPlanner> scan_upper(const std::vector<ByteSource*>& upper,
                                                      const std::vector<std::string>& names, bool whiteouts);
  ~StreamingPlanner();

  /// Every bottom-layer entry, in stream order. True: an upper layer
  /// replaces it; only make its parents.
  bool skip_bottom_entry(const tar::Entry& entry);

  /// True once a bottom-layer entry was skipped.
  bool skipped_any() const;

  /// After the bottom layer: the plans of all layers ([0], the bottom, only
  /// counts what was skipped). Throws PlanUndone when a skip was not safe.
  std::vector<LayerPlan> finish();

 private:
  StreamingPlanner();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace undocker::layer
