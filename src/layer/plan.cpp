#include "layer/plan.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "fs/path.hpp"
#include "layer/byte_source.hpp"
#include "tar/reader.hpp"

namespace undocker::layer {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kWhiteoutMeta = ".wh..wh.";

enum class Effect { kNone, kDirectory, kReplace, kWhiteout, kOpaque };

// What one entry does, seen from the layers below it.
struct Event {
  std::string path;  // the entry's path, or the whited-out / opaque one
  Effect effect = Effect::kNone;
  bool is_regular_file = false;
  std::uint64_t size_bytes = 0;
};

struct Scan {
  std::vector<Event> events;
};

using PathSet = std::unordered_set<std::string>;

bool has_ancestor_in(std::string_view path, const PathSet& set) {
  for (std::size_t slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/', slash + 1)) {
    if (set.count(std::string(path.substr(0, slash)))) return true;
  }
  return false;
}

// Every component fits NAME_MAX: creating the file could not fail on length.
bool has_short_components(std::string_view path) {
  std::size_t begin = 0;
  while (begin <= path.size()) {
    std::size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    if (end - begin > 255) return false;
    begin = end + 1;
  }
  return true;
}

// The planner's sets may hold this many bytes of path prefixes; beyond it
// (only crafted archives get there) plain application is used instead, so
// memory stays bounded whatever the names.
constexpr std::size_t kMaxPlanPrefixBytes = 32 * 1024 * 1024;

bool add_ancestors(std::string_view path, PathSet& ancestors, std::size_t& prefix_bytes) {
  for (std::size_t slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/', slash + 1)) {
    if (ancestors.emplace(path.substr(0, slash)).second) prefix_bytes += slash;
    if (prefix_bytes > kMaxPlanPrefixBytes) return false;
  }
  return true;
}

// Paths deeper than this are left to plain application: the ancestor sets
// cost O(depth²) per entry, and no real image comes near.
constexpr std::size_t kMaxPlannedDepth = 256;

std::optional<Scan> scan_layer(Bytes blob, const std::string& name, bool whiteouts, PathSet& symlinks,
                               PathSet& link_targets, PathSet& non_directories, PathSet& ancestors,
                               std::size_t& prefix_bytes) {
  Scan scan;
  MemorySource source(blob);
  tar::TarReader reader(source, name);
  tar::Entry entry;
  while (reader.next(entry)) {
    Event event;
    event.size_bytes = entry.size_bytes;
    std::optional<std::string> clean = fs::clean_entry_path(entry.path);
    if (!clean || clean->empty()) {
      scan.events.push_back(std::move(event));  // apply_layer reports or handles it
      continue;
    }
    if (static_cast<std::size_t>(std::count(clean->begin(), clean->end(), '/')) > kMaxPlannedDepth) return std::nullopt;
    if (!add_ancestors(*clean, ancestors, prefix_bytes)) return std::nullopt;
    const auto [dir, base] = fs::split_parent(*clean);
    if (whiteouts && base.starts_with(kWhiteoutPrefix)) {
      if (base == kOpaqueMarker) {
        event.effect = Effect::kOpaque;
        event.path = std::string(dir);
      } else if (!base.starts_with(kWhiteoutMeta) && base.size() > kWhiteoutPrefix.size()) {
        event.effect = Effect::kWhiteout;
        event.path = dir.empty() ? std::string(base.substr(4)) : std::string(dir) + "/" + std::string(base.substr(4));
      }
      scan.events.push_back(std::move(event));
      continue;
    }
    if (entry.type == tar::EntryType::kSymlink) symlinks.insert(*clean);
    if (entry.type == tar::EntryType::kHardlink) {
      if (std::optional<std::string> target = fs::clean_entry_path(entry.link_target)) link_targets.insert(*target);
    }
    const bool is_directory = entry.type == tar::EntryType::kDirectory;
    if (!is_directory) non_directories.insert(*clean);
    event.is_regular_file = entry.type == tar::EntryType::kFile;
    event.effect = is_directory ? Effect::kDirectory : Effect::kReplace;
    event.path = std::move(*clean);
    scan.events.push_back(std::move(event));
  }
  return scan;
}

}  // namespace

std::vector<LayerPlan> plan_layers(const std::vector<Bytes>& layers, const std::vector<std::string>& layer_names,
                                   bool whiteouts) {
  PathSet symlinks;
  PathSet link_targets;
  PathSet non_directories;
  PathSet ancestors;  // paths some entry, in some layer, needs as a directory
  std::size_t prefix_bytes = 0;
  std::vector<Scan> scans;
  scans.reserve(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    std::optional<Scan> scan =
        scan_layer(layers[i], layer_names[i], whiteouts, symlinks, link_targets, non_directories, ancestors, prefix_bytes);
    if (!scan) return {};
    scans.push_back(std::move(*scan));
  }
  // A hardlink through a symlinked directory may reach any path: then no
  // lexical reasoning about what it links to holds.
  for (const std::string& target : link_targets) {
    if (has_ancestor_in(target, symlinks)) return {};
  }

  std::vector<LayerPlan> plans(layers.size());
  PathSet replaced;      // a later layer puts something at, or deletes, exactly this path
  PathSet killed_below;  // a later layer removes everything strictly below this path
  auto killed = [&](const std::string& path) {
    return replaced.count(path) || has_ancestor_in(path, killed_below);
  };
  // From the top layer down: each layer is judged by the ones above it.
  for (std::size_t i = layers.size(); i-- > 0;) {
    LayerPlan& plan = plans[i];
    const std::vector<Event>& events = scans[i].events;
    plan.skip.assign(events.size(), false);
    for (std::size_t k = 0; k < events.size(); ++k) {
      const Event& event = events[k];
      // Only regular files carry data worth skipping, and only where
      // creating them could not have failed and their absence changes
      // nothing else: every ancestor is a directory in every layer (no
      // symlink or file is ever in the way), no entry anywhere lies below
      // the file's path, and no hardlink needs its content.
      if (event.effect != Effect::kReplace || !event.is_regular_file) continue;
      if (link_targets.count(event.path) || ancestors.count(event.path)) continue;
      if (has_ancestor_in(event.path, non_directories)) continue;
      if (!has_short_components(event.path) || !killed(event.path)) continue;
      plan.skip[k] = true;
      ++plan.skipped_entries;
      plan.skipped_bytes += event.size_bytes;
    }
    for (const Event& event : events) {
      switch (event.effect) {
        case Effect::kDirectory:  // replaces a lower non-directory only
          replaced.insert(event.path);
          break;
        case Effect::kReplace:
        case Effect::kWhiteout:
          replaced.insert(event.path);
          killed_below.insert(event.path);
          break;
        case Effect::kOpaque:
          // Only what is inside: a lower non-directory at this path stays
          // unless something replaces it.
          killed_below.insert(event.path);
          break;
        case Effect::kNone:
          break;
      }
    }
  }
  return plans;
}

}  // namespace undocker::layer
