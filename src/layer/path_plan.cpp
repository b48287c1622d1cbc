#include "layer/path_plan.hpp"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "layer/changeset.hpp"
#include "tar/header.hpp"
#include "tar/reader.hpp"
#include "util/byte_source.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/path.hpp"

namespace undocker::layer {

namespace {

// Rounds of "plan, look up, add what was probed": each adds at least one
// path, and a lookup follows at most limits::kMaxSymlinkHops symlinks.
constexpr int kMaxRounds = 256;

// FNV-1a, 64 bits: cheap, and a path's prefixes hash on the way.
constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr std::uint64_t fnv_step(std::uint64_t hash, char byte) {
  return (hash ^ static_cast<unsigned char>(byte)) * 1099511628211ULL;
}
std::uint64_t fnv(std::string_view text) {
  std::uint64_t hash = kFnvOffset;
  for (char byte : text) hash = fnv_step(hash, byte);
  return hash;
}

enum class RecordKind : std::uint8_t {
  kEntry,     // lands at its path
  kLink,      // a symlink or hardlink: a name that can lead elsewhere
  kWhiteout,  // hides `target` of lower layers
  kOpaque,    // hides what lower layers put in directory `target`
};

// One entry, as little of it as choosing it again needs; its header is read
// again from header_offset if it is chosen.
struct Record {
  std::uint64_t header_offset = 0;
  std::size_t path_begin = 0;
  std::size_t target_begin = 0;  // a hardlink's target, a whiteout's or opaque marker's
  std::uint32_t path_size = 0;
  std::uint32_t target_size = 0;
  std::uint32_t layer = 0;
  RecordKind kind = RecordKind::kEntry;
  bool hardlink = false;
};

// The records of one stretch of a layer, read on their own (see
// Records::scan_layer).
struct Stretch {
  std::vector<Record> records;
  std::string arena;
  bool usable = true;        // false: an entry cannot be chosen on its own
  bool global_header = false;
  std::uint64_t stopped_at = kToTheEnd;  // first header at or past the stop, or kToTheEnd
  std::exception_ptr error;  // a malformed header, when read on another thread
  static constexpr std::uint64_t kToTheEnd = UINT64_MAX;
};

// Reads the headers from `begin` until the first entry at or past `stop`.
void scan_stretch(const PathPlanLayer& layer, std::uint32_t index, std::uint64_t begin, std::uint64_t stop,
                  const ApplyOptions& options, const std::atomic<bool>* cancelled, Stretch& out) {
  MemorySource source(layer.stream, static_cast<std::size_t>(begin));
  tar::TarReader reader(source, layer.name);
  tar::Entry entry;
  const auto store = [&](std::string_view text, std::size_t& at, std::uint32_t& size) {
    at = out.arena.size();
    size = static_cast<std::uint32_t>(text.size());
    out.arena += text;
  };
  while (reader.next(entry)) {
    check_interrupted();
    if (entry.header_offset >= stop) {
      // A global header read on the way (perhaps just before this entry)
      // counts even though this entry is not recorded.
      out.global_header = reader.saw_global_header();
      out.stopped_at = entry.header_offset;
      return;
    }
    if (cancelled && cancelled->load(std::memory_order_relaxed)) return;
    const std::optional<std::string> clean = clean_entry_path(entry.path);
    if (!clean) {
      out.usable = false;
      return;
    }
    Record record;
    record.header_offset = entry.header_offset;
    record.layer = index;
    const Change change = options.whiteouts ? classify_change(*clean) : Change{};
    switch (change.kind) {
      case ChangeKind::kMetadata: continue;  // never part of the tree
      case ChangeKind::kInvalidWhiteout: out.usable = false; return;
      case ChangeKind::kWhiteout:
      case ChangeKind::kOpaque:
        record.kind = change.kind == ChangeKind::kWhiteout ? RecordKind::kWhiteout : RecordKind::kOpaque;
        store(change.target, record.target_begin, record.target_size);
        break;
      case ChangeKind::kEntry:
        if (entry.type == tar::EntryType::kSymlink) record.kind = RecordKind::kLink;
        if (entry.type == tar::EntryType::kHardlink) {
          const std::optional<std::string> target = clean_entry_path(entry.link_target);
          if (!target || target->empty()) {
            out.usable = false;
            return;
          }
          record.kind = RecordKind::kLink;
          record.hardlink = true;
          store(*target, record.target_begin, record.target_size);
        }
        break;
    }
    store(*clean, record.path_begin, record.path_size);
    out.records.push_back(record);
  }
  out.global_header = reader.saw_global_header();
}

// Where a second thread may start reading a layer: the first block after
// `from` that reads as a ustar header. A guess: it may lie inside a file's
// data (a tar stored in the image), which the first thread finds out when
// it does not arrive exactly there.
std::optional<std::uint64_t> guess_header_after(Bytes stream, std::uint64_t from) {
  constexpr std::uint64_t kSearchBytes = std::uint64_t{16} << 20;
  from = (from + tar::kBlockSize - 1) / tar::kBlockSize * tar::kBlockSize;
  for (std::uint64_t at = from; at + tar::kBlockSize <= stream.size() && at < from + kSearchBytes;
       at += tar::kBlockSize) {
    tar::UstarHeader header;
    std::memcpy(&header, stream.data() + at, tar::kBlockSize);
    if (std::memcmp(header.magic, "ustar", 5) == 0 && tar::checksum_matches(header)) return at;
  }
  return std::nullopt;
}

class Records {
 public:
  /// Reads every header of every layer. False when an entry cannot be
  /// chosen on its own (the whole plan will tell what is wrong, if anything).
  bool scan(const std::vector<PathPlanLayer>& layers, const ApplyOptions& options, std::size_t split_bytes) {
    for (std::size_t index = 0; index < layers.size(); ++index) {
      if (!scan_layer(layers[index], static_cast<std::uint32_t>(index), options, split_bytes)) return false;
    }
    return true;
  }

  /// True when every entry lands at the path it names: no entry's parent
  /// (nor its target's) is a path where a symlink or hardlink entry stands
  /// at that point, and no opaque marker stands in one. (Induction in
  /// archive order: while every entry so far landed where it names, a
  /// symlink can stand only where the last entry naming that path was a
  /// link; a whiteout is not counted as removing it, which only errs on the
  /// side of the whole plan.)
  bool land_where_named() const {
    // Keyed by a hash each path is read once for (its prefixes' hashes
    // fall out of the same pass), checked against the path itself.
    struct LinkState {
      std::string_view path;
      bool now = false;
    };
    struct SameHash {
      std::size_t operator()(std::uint64_t hash) const { return static_cast<std::size_t>(hash); }
    };
    std::unordered_map<std::uint64_t, LinkState, SameHash> links;  // every path a link entry named
    const auto is_link = [&](std::uint64_t hash, std::string_view name) {
      const auto found = links.find(hash);
      return found != links.end() && found->second.now && found->second.path == name;
    };
    const auto through_link = [&](std::string_view name) {
      std::uint64_t hash = kFnvOffset;
      for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '/' && is_link(hash, name.substr(0, i))) return true;
        hash = fnv_step(hash, name[i]);
      }
      return false;
    };
    for (const Record& record : records_) {
      if (!links.empty()) {
        if (through_link(path(record))) return false;
        if ((record.hardlink || record.kind == RecordKind::kWhiteout) && through_link(target(record))) return false;
        if (record.kind == RecordKind::kOpaque &&
            (is_link(fnv(target(record)), target(record)) || through_link(target(record)))) {
          return false;
        }
      }
      if (record.kind == RecordKind::kLink) {
        const auto [found, fresh] = links.try_emplace(fnv(path(record)), LinkState{path(record), true});
        if (!fresh && found->second.path != path(record)) return false;  // two paths, one hash: play safe
        found->second.now = true;
      } else if (record.kind == RecordKind::kEntry && !links.empty()) {
        const auto found = links.find(fnv(path(record)));
        if (found != links.end() && found->second.path == path(record)) found->second.now = false;
      }
    }
    return true;
  }

  const std::vector<Record>& all() const { return records_; }
  std::string_view path(const Record& record) const { return {arena_.data() + record.path_begin, record.path_size}; }
  std::string_view target(const Record& record) const {
    return {arena_.data() + record.target_begin, record.target_size};
  }

 private:
  // A large layer is read by two threads: this one from the start, another
  // from a guessed header halfway; the second half counts only if this
  // thread's walk arrives exactly at the guess, else it is read again here.
  bool scan_layer(const PathPlanLayer& layer, std::uint32_t index, const ApplyOptions& options,
                  std::size_t split_bytes) {
    Stretch first;
    const std::optional<std::uint64_t> guess =
        layer.stream.size() >= split_bytes ? guess_header_after(layer.stream, layer.stream.size() / 2) : std::nullopt;
    if (!guess) {
      scan_stretch(layer, index, 0, Stretch::kToTheEnd, options, nullptr, first);
      return append(std::move(first));
    }
    Stretch second;
    std::atomic<bool> cancelled{false};
    std::thread reader([&] {
      try {
        scan_stretch(layer, index, *guess, Stretch::kToTheEnd, options, &cancelled, second);
      } catch (...) {
        second.error = std::current_exception();
      }
    });
    try {
      scan_stretch(layer, index, 0, *guess, options, nullptr, first);
    } catch (...) {
      cancelled = true;
      reader.join();
      throw;
    }
    const bool arrived = first.stopped_at == *guess;
    if (!arrived) cancelled = true;
    log(LogLevel::kDebug, "{}: headers read from offset {} on by a second thread: {}", escape(layer.name), *guess,
        arrived ? "used" : "not at a header, read again");
    reader.join();
    if (!append(std::move(first))) return false;
    if (arrived) {
      if (second.error) std::rethrow_exception(second.error);
      return append(std::move(second));
    }
    if (first.stopped_at == Stretch::kToTheEnd) return true;  // the layer ended before the guess
    Stretch rest;
    scan_stretch(layer, index, first.stopped_at, Stretch::kToTheEnd, options, nullptr, rest);
    return append(std::move(rest));
  }

  // Adds a stretch's records after those read so far.
  bool append(Stretch&& stretch) {
    if (!stretch.usable || stretch.global_header) return false;
    const std::size_t base = arena_.size();
    arena_ += stretch.arena;
    for (Record& record : stretch.records) {
      record.path_begin += base;
      record.target_begin += base;
      records_.push_back(record);
    }
    return true;
  }

  std::vector<Record> records_;
  std::string arena_;  // every clean path and target, back to back
};

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
        grew = true;
      }
      if (path.empty()) return grew;
      const std::size_t slash = path.rfind('/');
      path = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
    }
  }
  bool contains(std::string_view path) const { return index_.count(path) != 0; }

 private:
  std::set<std::string> owned_;  // node-based: the views in index_ stay valid
  std::unordered_set<std::string_view> index_;
};

// The records a lookup through `relevant` depends on, in archive order:
// the entries at relevant paths, the whiteouts and opaque markers of
// relevant paths, and (because a whiteout spares what its own layer wrote)
// that layer's entries below them. Hardlink targets become relevant too.
std::vector<std::size_t> choose(const Records& records, RelevantPaths& relevant) {
  const std::vector<Record>& all = records.all();
  for (;;) {
    std::vector<bool> chosen(all.size());
    std::vector<std::pair<std::uint32_t, std::string_view>> hiders;  // (layer, what it hides)
    for (std::size_t i = 0; i < all.size(); ++i) {
      const Record& record = all[i];
      if (record.kind == RecordKind::kWhiteout || record.kind == RecordKind::kOpaque) {
        if (relevant.contains(records.target(record))) {
          chosen[i] = true;
          hiders.emplace_back(record.layer, records.target(record));
        }
      } else {
        chosen[i] = relevant.contains(records.path(record));
      }
    }
    if (!hiders.empty()) {
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (chosen[i]) continue;
        for (const auto& hider : hiders) {
          if (hider.first == all[i].layer && is_same_or_below(records.path(all[i]), hider.second)) {
            chosen[i] = true;
            break;
          }
        }
      }
    }
    bool grew = false;
    std::vector<std::size_t> indices;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (!chosen[i]) continue;
      indices.push_back(i);
      if (all[i].hardlink) grew = relevant.add(records.target(all[i])) || grew;
    }
    if (!grew) return indices;
  }
}

// The chosen entries, read again from their headers and applied by the
// rules every plan follows.
std::unique_ptr<FinalTree> apply_chosen(const std::vector<PathPlanLayer>& layers, const Records& records,
                                        const std::vector<std::size_t>& chosen, const ApplyOptions& options) {
  auto tree = std::make_unique<FinalTree>();
  ApplyStats stats;
  std::size_t next = 0;
  for (std::size_t index = 0; index < layers.size(); ++index) {
    EntryApplier applier(index, layers[index].name, *tree, options);
    for (; next < chosen.size() && records.all()[chosen[next]].layer == index; ++next) {
      const Record& record = records.all()[chosen[next]];
      MemorySource source(layers[index].stream, static_cast<std::size_t>(record.header_offset));
      tar::TarReader reader(source, layers[index].name);
      tar::Entry entry;
      if (!reader.next(entry)) {
        throw FormatError(fmt::format("{}: the entry at offset {} is gone", escape(layers[index].name),
                                      record.header_offset));
      }
      applier.apply(entry, std::string(records.path(record)), reader, stats);
    }
  }
  tree->finish();
  return tree;
}

}  // namespace

std::unique_ptr<FinalTree> plan_for_path(const std::vector<PathPlanLayer>& layers, std::string_view raw_path,
                                         const ApplyOptions& options, std::size_t split_bytes) {
  Records records;
  if (!records.scan(layers, options, split_bytes)) {
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
    const std::vector<std::size_t> chosen = choose(records, relevant);
    std::unique_ptr<FinalTree> tree = apply_chosen(layers, records, chosen, options);
    std::vector<std::string> probed;
    tree->lookup(raw_path, true, &probed);
    bool grew = false;
    for (const std::string& path : probed) grew = relevant.add(path) || grew;
    if (!grew) {
      log(LogLevel::kDebug, "--cat: planned {} of {} entries in {} rounds", chosen.size(), records.all().size(),
          round + 1);
      return tree;
    }
  }
  return nullptr;
}

}  // namespace undocker::layer
