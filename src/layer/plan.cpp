#include "layer/plan.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_set>

#include "util/path.hpp"
#include "util/byte_source.hpp"
#include "layer/changeset.hpp"
#include "tar/reader.hpp"

namespace undocker::layer {

namespace {


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

// Everything the skip rule needs to know about all layers together.
struct LayerSets {
  PathSet symlinks;
  PathSet link_targets;
  PathSet non_directories;
  PathSet ancestors;  // paths some entry, in some layer, needs as a directory
  std::size_t prefix_bytes = 0;
};

// What an upper layer does to the paths below it.
struct KillSets {
  PathSet replaced;      // a later layer puts something at, or deletes, exactly this path
  PathSet killed_below;  // a later layer removes everything strictly below this path

  bool killed(const std::string& path) const { return replaced.count(path) || has_ancestor_in(path, killed_below); }

  void absorb(const Event& event) {
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
};

// One entry as the planner sees it; records it in sets. Null when the
// planner's bounds are exceeded (plain application is used instead).
std::optional<Event> observe(const tar::Entry& entry, bool whiteouts, LayerSets& sets) {
  Event event;
  event.size_bytes = entry.size_bytes;
  std::optional<std::string> clean = clean_entry_path(entry.path);
  if (!clean || clean->empty()) return event;  // apply_layer reports or handles it
  if (static_cast<std::size_t>(std::count(clean->begin(), clean->end(), '/')) > kMaxPlannedDepth) return std::nullopt;
  if (!add_ancestors(*clean, sets.ancestors, sets.prefix_bytes)) return std::nullopt;
  const Change change = whiteouts ? classify_change(*clean) : Change{};
  if (change.kind != ChangeKind::kEntry) {
    // Bookkeeping and a whiteout naming nothing change nothing below.
    if (change.kind == ChangeKind::kOpaque || change.kind == ChangeKind::kWhiteout) {
      event.effect = change.kind == ChangeKind::kOpaque ? Effect::kOpaque : Effect::kWhiteout;
      event.path = change.target;
    }
    return event;
  }
  if (entry.type == tar::EntryType::kSymlink) sets.symlinks.insert(*clean);
  if (entry.type == tar::EntryType::kHardlink) {
    if (std::optional<std::string> target = clean_entry_path(entry.link_target)) sets.link_targets.insert(*target);
  }
  const bool is_directory = entry.type == tar::EntryType::kDirectory;
  if (!is_directory) sets.non_directories.insert(*clean);
  event.is_regular_file = entry.type == tar::EntryType::kFile;
  event.effect = is_directory ? Effect::kDirectory : Effect::kReplace;
  event.path = std::move(*clean);
  return event;
}

std::optional<Scan> scan_layer(ByteSource& source, const std::string& name, bool whiteouts, LayerSets& sets) {
  Scan scan;
  tar::TarReader reader(source, name);
  tar::Entry entry;
  while (reader.next(entry)) {
    std::optional<Event> event = observe(entry, whiteouts, sets);
    if (!event) return std::nullopt;
    scan.events.push_back(std::move(*event));
  }
  return scan;
}

// A hardlink through a symlinked directory may reach any path: then no
// lexical reasoning about what it links to holds.
bool links_are_lexical(const LayerSets& sets) {
  for (const std::string& target : sets.link_targets) {
    if (has_ancestor_in(target, sets.symlinks)) return false;
  }
  return true;
}

// Only regular files carry data worth skipping, and only where creating
// them could not have failed and their absence changes nothing else: every
// ancestor is a directory in every layer (no symlink or file is ever in the
// way), no entry anywhere lies below the file's path, and no hardlink needs
// its content.
bool may_skip(const Event& event, const LayerSets& sets, const KillSets& kills) {
  if (event.effect != Effect::kReplace || !event.is_regular_file) return false;
  if (sets.link_targets.count(event.path) || sets.ancestors.count(event.path)) return false;
  if (has_ancestor_in(event.path, sets.non_directories)) return false;
  return has_short_components(event.path) && kills.killed(event.path);
}

// Judges layers[first..] from the top down, each by the ones above it;
// returns the kill sets of all of them (what the layer below first sees).
KillSets judge_from_top(const std::vector<Scan>& scans, std::size_t first, const LayerSets& sets,
                        std::vector<LayerPlan>& plans) {
  KillSets kills;
  for (std::size_t i = scans.size(); i-- > first;) {
    LayerPlan& plan = plans[i];
    const std::vector<Event>& events = scans[i].events;
    plan.skip.assign(events.size(), false);
    for (std::size_t k = 0; k < events.size(); ++k) {
      if (!may_skip(events[k], sets, kills)) continue;
      plan.skip[k] = true;
      ++plan.skipped_entries;
      plan.skipped_bytes += events[k].size_bytes;
    }
    for (const Event& event : events) kills.absorb(event);
  }
  return kills;
}

}  // namespace

std::vector<LayerPlan> plan_layers(const std::vector<Bytes>& layers, const std::vector<std::string>& layer_names,
                                   bool whiteouts) {
  LayerSets sets;
  std::vector<Scan> scans;
  scans.reserve(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    MemorySource source(layers[i]);
    std::optional<Scan> scan = scan_layer(source, layer_names[i], whiteouts, sets);
    if (!scan) return {};
    scans.push_back(std::move(*scan));
  }
  if (!links_are_lexical(sets)) return {};
  std::vector<LayerPlan> plans(layers.size());
  judge_from_top(scans, 0, sets, plans);
  return plans;
}

struct StreamingPlanner::State {
  bool whiteouts = true;
  LayerSets sets;             // the upper layers', then the bottom layer's so far too
  std::vector<Scan> scans;    // [0] stays empty: the bottom layer is not kept
  KillSets upper_kills;       // what all upper layers remove
  std::vector<Event> skipped; // bottom-layer files skipped so far
  bool gave_up = false;       // the bottom layer exceeded the planner's bounds
};

StreamingPlanner::StreamingPlanner() : state_(std::make_unique<State>()) {}
StreamingPlanner::~StreamingPlanner() = default;

std::unique_ptr<StreamingPlanner> StreamingPlanner::scan_upper(const std::vector<ByteSource*>& upper,
                                                               const std::vector<std::string>& names, bool whiteouts) {
  std::unique_ptr<StreamingPlanner> planner(new StreamingPlanner());
  State& state = *planner->state_;
  state.whiteouts = whiteouts;
  state.scans.resize(1);
  for (std::size_t i = 0; i < upper.size(); ++i) {
    std::optional<Scan> scan = scan_layer(*upper[i], names[i], whiteouts, state.sets);
    if (!scan) return nullptr;
    for (const Event& event : scan->events) state.upper_kills.absorb(event);
    state.scans.push_back(std::move(*scan));
  }
  if (!links_are_lexical(state.sets)) return nullptr;
  return planner;
}

bool StreamingPlanner::skip_bottom_entry(const tar::Entry& entry) {
  State& state = *state_;
  if (state.gave_up) return false;
  std::optional<Event> event = observe(entry, state.whiteouts, state.sets);
  if (!event) {
    state.gave_up = true;
    return false;
  }
  if (!may_skip(*event, state.sets, state.upper_kills)) return false;
  state.skipped.push_back(std::move(*event));
  return true;
}

bool StreamingPlanner::skipped_any() const { return !state_->skipped.empty(); }

std::vector<LayerPlan> StreamingPlanner::finish() {
  State& state = *state_;
  // Each skip judged again, now that the whole bottom layer is known: the
  // same judgement plan_layers makes.
  const bool lexical = !state.gave_up && links_are_lexical(state.sets);
  for (const Event& event : state.skipped) {
    if (!lexical || !may_skip(event, state.sets, state.upper_kills)) throw PlanUndone{};
  }
  if (!lexical) return std::vector<LayerPlan>{};
  std::vector<LayerPlan> plans(state.scans.size());
  judge_from_top(state.scans, 1, state.sets, plans);
  plans[0].skipped_entries = state.skipped.size();
  for (const Event& event : state.skipped) plans[0].skipped_bytes += event.size_bytes;
  return plans;
}

}  // namespace undocker::layer
