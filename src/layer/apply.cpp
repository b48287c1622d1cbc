#include "layer/apply.hpp"

#include <set>
#include <vector>

#include <fmt/format.h>

#include "util/path.hpp"
#include "layer/changeset.hpp"
#include "tar/reader.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/progress.hpp"
#include "util/log.hpp"

namespace undocker::layer {

namespace {

// eStargz (a gzip layer with a table of contents) adds these at the top;
// they describe the layer and are not part of the image's filesystem.
bool is_estargz_metadata(std::string_view clean_path) {
  return clean_path == "stargz.index.json" || clean_path == ".prefetch.landmark" ||
         clean_path == ".no.prefetch.landmark";
}

// --uid-shift: the owners a user namespace starting at `base` maps back to
// the archive's (systemd-nspawn --private-users=BASE).
void shift_owner(tar::Entry& entry, std::uint32_t base) {
  constexpr std::int64_t kMaxId = 0xfffffffe;  // (uid_t)-1 means "unchanged" to chown
  if (entry.uid > kMaxId - base || entry.gid > kMaxId - base) {
    throw EntryError(fmt::format("{}: owner {}:{} shifted by {} does not fit in 32 bits", escape(entry.path), entry.uid,
                                 entry.gid, base));
  }
  entry.uid += base;
  entry.gid += base;
}

// The layer's reader, lent to the target while the layer is applied and
// taken back however it ends: the reader does not outlive apply_layer.
class LentReader {
 public:
  LentReader(TreeTarget& target, tar::TarReader& reader) : target_(target) { target_.read_data_from(&reader); }
  ~LentReader() { target_.read_data_from(nullptr); }
  LentReader(const LentReader&) = delete;
  LentReader& operator=(const LentReader&) = delete;

 private:
  TreeTarget& target_;
};

}  // namespace

// Paths this layer has written. A whiteout or opaque marker must not touch
// them, nor the directories that lead to them.
class EntryApplier::WrittenPaths {
 public:
  // Most layers hold no whiteout: their paths are only kept in order, and
  // sorted for lookups when the first whiteout or opaque marker asks.
  void add(const std::string& path) {
    if (sorted_) {
      paths_.insert(path);
    } else {
      pending_.push_back(path);
    }
  }

  /// True when path itself or something below it was written.
  bool touches(const std::string& path) {
    sort();
    if (path.empty()) return !paths_.empty();
    if (paths_.count(path)) return true;
    const std::string below = path + "/";
    auto it = paths_.lower_bound(below);
    return it != paths_.end() && it->starts_with(below);
  }

 private:
  void sort() {
    if (sorted_) return;
    for (std::string& path : pending_) paths_.insert(std::move(path));
    pending_ = {};
    sorted_ = true;
  }
  std::vector<std::string> pending_;
  std::set<std::string> paths_;
  bool sorted_ = false;
};

EntryApplier::EntryApplier(std::size_t layer_index, const std::string& layer_name, TreeTarget& target,
                           const ApplyOptions& options)
    : layer_name_(layer_name), target_(target), options_(options), written_(std::make_unique<WrittenPaths>()) {
  target_.begin_layer(layer_index, layer_name);
}

EntryApplier::~EntryApplier() = default;

void EntryApplier::apply_planned_away(const std::string& clean_path) {
  target_.make_parents(clean_path);
  written_->add(clean_path);
}

void EntryApplier::apply(tar::Entry& entry, const std::string& clean_path, ApplyStats& stats,
                         StreamingPlanner* streaming) {
  if (options_.estargz && is_estargz_metadata(clean_path)) return;
  WrittenPaths& written = *written_;
  const auto touched = [&](const std::string& path) { return written.touches(path); };
  try {
    const Change change = options_.whiteouts ? classify_change(clean_path) : Change{};
    if (change.kind != ChangeKind::kEntry) {
      ++stats.whiteouts;
      switch (change.kind) {
        case ChangeKind::kOpaque:
          // Hide what lower layers put in the directory; keep this layer's entries.
          target_.prune(change.target, touched);
          break;
        case ChangeKind::kWhiteout:
          if (written.touches(change.target)) {
            // This layer wrote target (or below it): only lower content goes.
            target_.prune(change.target, touched);
          } else {
            target_.remove(change.target);
          }
          break;
        case ChangeKind::kInvalidWhiteout:
          throw FormatError(fmt::format("{}: {}: whiteout names no file", escape(layer_name_), escape(entry.path)));
        case ChangeKind::kMetadata:  // aufs bookkeeping: not part of the tree
        case ChangeKind::kEntry:
          break;
      }
      return;
    }
    if (entry.type == tar::EntryType::kHardlink) {
      const std::optional<std::string> target = clean_entry_path(entry.link_target);
      if (!target || target->empty()) {
        throw FormatError(fmt::format("{}: {}: hardlink target {} is outside the output directory",
                                      escape(layer_name_), escape(entry.path), escape(entry.link_target)));
      }
    }
    if (clean_path.empty() && entry.type != tar::EntryType::kDirectory) {
      throw FormatError(fmt::format("{}: {}: only a directory can stand at the root", escape(layer_name_),
                                    escape(entry.path)));
    }
    if (options_.uid_shift != 0) shift_owner(entry, options_.uid_shift);
    target_.write(entry, clean_path);
    written.add(clean_path);
    stats.bytes += entry.size_bytes;
  } catch (const EntryError& error) {
    // Perhaps only because an entry was skipped: plain application decides.
    if (streaming && streaming->skipped_any()) throw PlanUndone{};
    const std::string message = fmt::format("{}: {}", escape(layer_name_), error.what());
    if (!options_.ignore_errors) throw EntryError(message);
    log(LogLevel::kWarning, "{}", message);
    ++stats.skipped;
  } catch (const IoError& error) {
    throw IoError(fmt::format("{}: {}", escape(layer_name_), error.what()));
  }
}

void throw_path_climbs_out(const std::string& layer_name, const tar::Entry& entry) {
  throw FormatError(fmt::format("{}: {}: path climbs out of the output directory with '..'", escape(layer_name),
                                escape(entry.path)));
}

ApplyStats apply_layer(ByteSource& source, std::size_t layer_index, const std::string& layer_name, TreeTarget& writer,
                       const ApplyOptions& options, const std::vector<bool>* skip, StreamingPlanner* streaming) {
  ApplyStats stats;
  tar::TarReader reader(source, layer_name);
  EntryApplier applier(layer_index, layer_name, writer, options);
  const LentReader lent(writer, reader);
  tar::Entry entry;
  for (std::size_t ordinal = 0; reader.next(entry); ++ordinal) {
    check_interrupted();
    ++stats.entries;
    if (options.progress) options.progress->advance(1, entry.size_bytes);
    const std::optional<std::string> clean_path = clean_entry_path(entry.path);
    if (!clean_path) throw_path_climbs_out(layer_name, entry);
    const bool planned_away = streaming ? streaming->skip_bottom_entry(entry)
                                        : skip && ordinal < skip->size() && (*skip)[ordinal];
    if (planned_away) {
      applier.apply_planned_away(*clean_path);
      ++stats.planned_away;
      continue;
    }
    applier.apply(entry, *clean_path, stats, streaming);
  }
  return stats;
}

}  // namespace undocker::layer
