#include "layer/changeset.hpp"

#include "util/path.hpp"

namespace undocker::layer {

namespace {

// Inside an aufs bookkeeping directory (.wh..wh.plnk/…): skipped whole.
bool in_whiteout_meta_dir(std::string_view dir) {
  std::size_t begin = 0;
  while (begin < dir.size()) {
    std::size_t end = dir.find('/', begin);
    if (end == std::string_view::npos) end = dir.size();
    if (dir.substr(begin, end - begin).starts_with(kWhiteoutMeta)) return true;
    begin = end + 1;
  }
  return false;
}

}  // namespace

Change classify_change(std::string_view clean_path) {
  const auto [dir, base] = split_parent(clean_path);
  if (in_whiteout_meta_dir(dir)) return Change{ChangeKind::kMetadata, {}};
  if (!base.starts_with(kWhiteoutPrefix)) return Change{};
  if (base == kOpaqueMarker) return Change{ChangeKind::kOpaque, std::string(dir)};
  if (base.starts_with(kWhiteoutMeta)) return Change{ChangeKind::kMetadata, {}};
  const std::string_view name = base.substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..") return Change{ChangeKind::kInvalidWhiteout, {}};
  return Change{ChangeKind::kWhiteout, dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name)};
}

}  // namespace undocker::layer
