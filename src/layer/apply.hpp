// Applying one layer to the output directory by the OCI changeset rules
// (SPEC section 3): entries replace what is at their path, `.wh.NAME`
// deletes NAME from lower layers, `.wh..wh..opq` hides what lower layers
// put in its directory. Whiteouts never remove entries of their own layer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layer/tree_target.hpp"
#include "util/byte_source.hpp"
#include "layer/plan.hpp"
#include "tar/reader.hpp"

namespace undocker {
class Progress;
}

namespace undocker::layer {

struct ApplyOptions {
  bool whiteouts = true;      // false with -W: .wh.* become plain files
  bool ignore_errors = false; // -i: an entry that cannot be made is a warning
  bool estargz = false;       // gzip layer: eStargz's own entries stay out of the tree
  std::uint32_t uid_shift = 0;  // --uid-shift: owners become BASE+uid, BASE+gid
  Progress* progress = nullptr; // told of every entry read
};

struct ApplyStats {
  std::uint64_t entries = 0;
  std::uint64_t planned_away = 0;  // skipped because an upper layer replaces them
  std::uint64_t bytes = 0;
  std::uint64_t whiteouts = 0;
  std::uint64_t skipped = 0;
};

/// Applies a layer's entries one at a time, as read: the changeset rules
/// (whiteouts never touch what this layer wrote) and the error policy (-i).
/// apply_layer feeds it every entry; the planner of one path (layer/path_plan)
/// only the entries that path depends on.
class EntryApplier {
 public:
  /// Tells `target` that layer `layer_index` begins.
  EntryApplier(std::size_t layer_index, const std::string& layer_name, TreeTarget& target,
               const ApplyOptions& options);
  ~EntryApplier();

  /// Applies `entry` at its clean path (a target that writes file data
  /// reads it from the reader apply_layer lent it). An entry that cannot be
  /// made throws EntryError naming the layer, or with -i is a warning and
  /// counted as skipped.
  void apply(tar::Entry& entry, const std::string& clean_path, ApplyStats& stats,
             StreamingPlanner* streaming = nullptr);

  /// An entry an upper layer replaces: only the directories leading to it.
  void apply_planned_away(const std::string& clean_path);

 private:
  class WrittenPaths;
  const std::string& layer_name_;
  TreeTarget& target_;
  const ApplyOptions& options_;
  std::unique_ptr<WrittenPaths> written_;
};

/// The error for an entry whose name climbs above the root with "..".
[[noreturn]] void throw_path_climbs_out(const std::string& layer_name, const tar::Entry& entry);

/// Reads the layer tar from `source` and applies it to `target` (the disk,
/// or the plan of the final tree). layer_index counts from the bottom.
/// layer_name (the outer member) prefixes every error message.
/// `skip`, when given (layer/plan), marks entries by ordinal that an upper
/// layer replaces or deletes: they are read past, never written.
/// `streaming`, instead, judges each entry of the bottom layer as it comes.
ApplyStats apply_layer(ByteSource& source, std::size_t layer_index, const std::string& layer_name, TreeTarget& target,
                       const ApplyOptions& options, const std::vector<bool>* skip = nullptr,
                       StreamingPlanner* streaming = nullptr);

}  // namespace undocker::layer
