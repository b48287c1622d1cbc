// The OCI ChainID of each layer: the identity of a layer *with everything
// below it*, which is what a layer store directory holds (a hardlink to a
// lower layer's file needs that file's data, a whiteout hides what lies
// below). ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256 of the text
// "ChainID(Ln-1) DiffID(Ln)", as the image spec, containerd's snapshots
// and Docker's layer store have it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace undocker::layer {

/// True for "sha256:" followed by 64 lowercase hex digits.
bool is_sha256_digest(std::string_view digest);

/// The ChainIDs ("sha256:<hex>") of layers whose diffIDs are given bottom
/// first. A diffID that is not a sha256 digest is a FormatError naming it
/// and `image` (it would become a directory name).
std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids, std::string_view image);

}  // namespace undocker::layer
