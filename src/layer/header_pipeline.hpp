// Applying an uncompressed layer to a target that reads no file data (the
// in-memory plan of the final tree, layer/final_tree) on two cores: a second
// thread reads and checks the headers (the page faults of a mapped archive
// and the parsing, half the work), a batch ahead of this thread, which
// applies them by the same rules (layer/apply's EntryApplier).
#pragma once

#include <cstddef>
#include <string>

#include "layer/apply.hpp"
#include "util/bytes.hpp"

namespace undocker::layer {

/// Layers smaller than this are not worth a thread: apply_layer reads them.
inline constexpr std::size_t kHeaderPipelineBytes = std::size_t{4} << 20;

/// apply_layer for `stream`, an uncompressed tar in memory, into a target
/// that takes each file's place from Entry::data_offset and never reads
/// its data. The same entries, order, messages and first error as
/// apply_layer.
ApplyStats apply_layer_headers(Bytes stream, std::size_t layer_index, const std::string& layer_name,
                               TreeTarget& target, const ApplyOptions& options);

}  // namespace undocker::layer
