#include "layer/path_plan.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "layer/path_records.hpp"
#include "tar/reader.hpp"
#include "util/byte_source.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/path.hpp"

namespace undocker::layer {

namespace {

// Rounds of "plan, look up, add what was probed": each adds at least one
// path, and a lookup follows at most limits::kMaxSymlinkHops symlinks.
constexpr int kMaxRounds = 256;

// The paths the plan must get right, with every parent of each ("" is the
// root).
class RelevantPaths {
 public:
  /// Adds path and its parents; true if any was new.
  bool add(std::string_view path) {
    bool grew = false;
    for (;;) {
      if (!index_.count(path)) {
        const std::string& kept = *owned_.insert(std::string(path)).first;
        index_.insert(kept);
        hashes_.set(fnv(kept));
        grew = true;
      }
      if (path.empty()) return grew;
      const std::size_t slash = path.rfind('/');
      path = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
    }
  }
  bool contains(std::string_view path) const { return contains(path, fnv(path)); }
  /// The same, given fnv(path): most paths are told apart by it alone.
  bool contains(std::string_view path, std::uint64_t hash) const {
    return hashes_.test(hash) && index_.count(path) != 0;
  }

 private:
  std::set<std::string> owned_;  // node-based: the views in index_ stay valid
  std::unordered_set<std::string_view> index_;
  HashBits hashes_;
};

// The records a lookup through `relevant` depends on, in archive order:
// the entries at relevant paths, the whiteouts and opaque markers of
// relevant paths, and (because a whiteout spares what its own layer wrote)
// that layer's entries below them. Hardlink targets become relevant too.
std::vector<const Record*> choose(const Records& records, RelevantPaths& relevant) {
  for (;;) {
    std::vector<std::pair<std::uint32_t, std::string_view>> hiders;  // (layer, what it hides)
    records.for_each([&](const Record& record) {
      if ((record.kind == RecordKind::kWhiteout || record.kind == RecordKind::kOpaque) &&
          relevant.contains(record.target())) {
        hiders.emplace_back(record.layer, record.target());
      }
    });
    const auto below_hider = [&](const Record& record) {
      for (const auto& [layer, hidden] : hiders) {
        if (layer == record.layer && is_same_or_below(record.path(), hidden)) return true;
      }
      return false;
    };
    bool grew = false;
    std::vector<const Record*> chosen;
    records.for_each([&](const Record& record) {
      const bool hider = record.kind == RecordKind::kWhiteout || record.kind == RecordKind::kOpaque;
      const bool relevant_here = hider ? relevant.contains(record.target())
                                       : relevant.contains(record.path(), record.path_hash());
      if (!relevant_here && (hiders.empty() || !below_hider(record))) return;
      chosen.push_back(&record);
      if (record.hardlink) grew = relevant.add(record.target()) || grew;
    });
    if (!grew) return chosen;
  }
}

// The chosen entries, read again from their headers and applied by the
// rules every plan follows.
std::unique_ptr<FinalTree> apply_chosen(const std::vector<PathPlanLayer>& layers,
                                        const std::vector<const Record*>& chosen, const ApplyOptions& options) {
  auto tree = std::make_unique<FinalTree>();
  ApplyStats stats;
  std::size_t next = 0;
  for (std::size_t index = 0; index < layers.size(); ++index) {
    EntryApplier applier(index, layers[index].name, *tree, options);
    for (; next < chosen.size() && chosen[next]->layer == index; ++next) {
      const Record& record = *chosen[next];
      MemorySource source(layers[index].stream, static_cast<std::size_t>(record.header_offset));
      tar::TarReader reader(source, layers[index].name);
      tar::Entry entry;
      if (!reader.next(entry)) {
        throw FormatError(fmt::format("{}: the entry at offset {} is gone", escape(layers[index].name),
                                      record.header_offset));
      }
      applier.apply(entry, std::string(record.path()), stats);
    }
  }
  tree->finish();
  return tree;
}

}  // namespace

std::unique_ptr<FinalTree> plan_for_path(const std::vector<PathPlanLayer>& layers, std::string_view raw_path,
                                         const ApplyOptions& options, std::size_t piece_bytes) {
  Records records;
  if (!records.scan(layers, options, piece_bytes)) {
    log(LogLevel::kDebug, "--cat: an entry cannot be read on its own; planning the whole tree");
    return nullptr;
  }
  if (!records.land_where_named()) {
    log(LogLevel::kDebug, "--cat: an entry's path leads through a symlink or hardlink; planning the whole tree");
    return nullptr;
  }
  RelevantPaths relevant;
  relevant.add("");
  // A first guess; the lookup below names every path it really needs.
  if (const std::optional<std::string> clean = clean_entry_path(raw_path)) relevant.add(*clean);
  for (int round = 0; round < kMaxRounds; ++round) {
    const std::vector<const Record*> chosen = choose(records, relevant);
    std::unique_ptr<FinalTree> tree = apply_chosen(layers, chosen, options);
    std::vector<std::string> probed;
    tree->lookup(raw_path, true, &probed);
    bool grew = false;
    for (const std::string& path : probed) grew = relevant.add(path) || grew;
    if (!grew) {
      log(LogLevel::kDebug, "--cat: planned {} of {} entries in {} rounds", chosen.size(), records.size(),
          round + 1);
      return tree;
    }
  }
  return nullptr;
}

}  // namespace undocker::layer
