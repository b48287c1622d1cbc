#include "layer/path_records.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "layer/changeset.hpp"
#include "layer/header_blocks.hpp"
#include "tar/header.hpp"
#include "tar/plain_header.hpp"
#include "tar/reader.hpp"
#include "util/byte_source.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/path.hpp"

namespace undocker::layer {

namespace {

// Records the entry at `header_offset`; false when it cannot be chosen on
// its own.
bool record_entry(std::uint64_t header_offset, std::uint32_t index, std::string_view raw_path, tar::EntryType type,
                  std::string_view link_target, const ApplyOptions& options, Stretch& out) {
  const auto store = [&](std::string_view text, const char*& data, std::uint32_t& size) {
    data = out.arena.copy(text).data();
    size = static_cast<std::uint32_t>(text.size());
  };
  // Most names are clean already: then nothing is copied but into the arena.
  std::optional<std::string> cleaned;
  if (!is_clean_entry_path(raw_path)) {
    cleaned = clean_entry_path(raw_path);
    if (!cleaned) return false;
    raw_path = *cleaned;
  }
  const std::string_view clean = raw_path;
  Record record;
  record.header_offset = header_offset;
  record.layer = index;
  const Change change = options.whiteouts ? classify_change(clean) : Change{};
  switch (change.kind) {
    case ChangeKind::kMetadata: return true;  // never part of the tree
    case ChangeKind::kInvalidWhiteout: return false;
    case ChangeKind::kWhiteout:
    case ChangeKind::kOpaque:
      record.kind = change.kind == ChangeKind::kWhiteout ? RecordKind::kWhiteout : RecordKind::kOpaque;
      store(change.target, record.target_data, record.target_size);
      break;
    case ChangeKind::kEntry:
      if (type == tar::EntryType::kSymlink) record.kind = RecordKind::kLink;
      if (type == tar::EntryType::kHardlink) {
        const std::optional<std::string> target = clean_entry_path(link_target);
        if (!target || target->empty()) return false;
        record.kind = RecordKind::kLink;
        record.hardlink = true;
        store(*target, record.target_data, record.target_size);
      }
      break;
  }
  store(clean, record.path_data, record.path_size);
  const auto slashes = static_cast<std::size_t>(std::count(clean.begin(), clean.end(), '/'));
  if (slashes >= UINT16_MAX) return false;  // deeper than any path TarReader takes
  record.hash_count = static_cast<std::uint16_t>(slashes + 1);
  std::uint64_t* hashes = out.arena.allocate<std::uint64_t>(record.hash_count);
  record.hashes = hashes;
  std::uint64_t hash = kFnvOffset;
  for (const char byte : clean) {
    if (byte == '/') *hashes++ = hash;
    hash = fnv_step(hash, byte);
  }
  *hashes = hash;
  out.records.push_back(record);
  return true;
}

// Reads the headers from `begin` until the first entry at or past `stop`.
// Plain headers are read as blocks (tar/plain_header, layer/header_blocks);
// from anything else (extension headers, the end, a malformed field)
// TarReader reads on.
void scan_stretch(const PathPlanLayer& layer, std::uint32_t index, std::uint64_t begin, std::uint64_t stop,
                  const ApplyOptions& options, Stretch& out) {
  HeaderBlocks blocks(layer.stream, layer.file);
  std::uint64_t at = begin;
  tar::PlainHeader plain;
  std::string joined;
  for (;;) {
    check_interrupted();
    const std::uint64_t size = layer.stream.size();
    if (at <= size && size - at >= tar::kBlockSize &&
        tar::read_plain_header(blocks.block(at), size - at - tar::kBlockSize, plain)) {
      if (at >= stop) {
        out.stopped_at = at;
        return;
      }
      std::string_view path = plain.name;
      if (!plain.prefix.empty()) {
        joined.assign(plain.prefix).append("/").append(plain.name);
        path = joined;
      }
      if (!record_entry(at, index, path, plain.type, plain.link_target, options, out)) {
        out.usable = false;
        return;
      }
      at += plain.entry_bytes;
      continue;
    }
    const std::unique_ptr<ByteSource> source = open_header_source(layer.stream, layer.file, at);
    tar::TarReader reader(*source, layer.name);
    tar::Entry entry;
    for (;;) {
      if (!reader.next(entry)) {
        out.global_header = reader.saw_global_header();
        return;
      }
      // A global header makes every entry after it depend on it: the whole
      // plan answers (even when it came just before the stop).
      if (reader.saw_global_header()) {
        out.global_header = true;
        return;
      }
      if (entry.header_offset >= stop) {
        out.stopped_at = entry.header_offset;
        return;
      }
      if (!record_entry(entry.header_offset, index, entry.path, entry.type, entry.link_target, options, out)) {
        out.usable = false;
        return;
      }
      const std::uint64_t data_end = entry.data_offset + entry.size_bytes;
      const std::uint64_t next = (data_end + tar::kBlockSize - 1) / tar::kBlockSize * tar::kBlockSize;
      // Back to plain headers, unless this entry's data or padding reach the
      // end of the layer: how that ends is the reader's to say.
      if (next <= layer.stream.size()) {
        at = next;
        break;
      }
      check_interrupted();
    }
  }
}

// How far after a cut a piece's first header is looked for. A cut mostly
// falls in a large file (they hold most of the bytes), and reading on to
// its end cost more than the pieces saved; where no header is that near,
// the piece before simply goes on (measured on the synthetic image).
constexpr std::uint64_t kGuessSearchBytes = std::uint64_t{256} << 10;

// Where a piece of a layer may start (Records::scan): the first block in
// [from, until) that reads as a ustar header. A guess: it may lie inside a
// file's data (a tar stored in the image), which the walk of the piece
// before finds out when it does not arrive exactly there.
std::optional<std::uint64_t> guess_header_after(const PathPlanLayer& layer, std::uint64_t from, std::uint64_t until) {
  HeaderBlocks blocks(layer.stream, layer.file);
  from = (from + tar::kBlockSize - 1) / tar::kBlockSize * tar::kBlockSize;
  for (std::uint64_t at = from; at + tar::kBlockSize <= layer.stream.size() && at < until; at += tar::kBlockSize) {
    tar::UstarHeader header;
    std::memcpy(&header, blocks.block(at), tar::kBlockSize);
    if (std::memcmp(header.magic, "ustar", 5) == 0 && tar::checksum_matches(header)) return at;
  }
  return std::nullopt;
}

// A stretch of one layer to read: from a header (the layer's start, or a
// guess) up to the first entry at or past `stop`.
struct Piece {
  std::uint32_t layer = 0;
  std::uint64_t begin = 0;
  std::uint64_t stop = Stretch::kToTheEnd;
  Stretch stretch;
};

// Every layer, and a layer of piece_bytes or more in pieces of about
// that size, each from a guessed header on.
std::deque<Piece> cut_into_pieces(const std::vector<PathPlanLayer>& layers, std::size_t piece_bytes) {
  std::deque<Piece> pieces;
  for (std::uint32_t index = 0; index < layers.size(); ++index) {
    const std::uint64_t size = layers[index].stream.size();
    pieces.push_back(Piece{index, 0, Stretch::kToTheEnd, {}});
    for (std::uint64_t from = piece_bytes; size >= piece_bytes && from < size; from += piece_bytes) {
      const std::uint64_t until = from + std::min<std::uint64_t>(piece_bytes, kGuessSearchBytes);
      const std::optional<std::uint64_t> guess = guess_header_after(layers[index], from, until);
      if (!guess || *guess <= pieces.back().begin) continue;
      pieces.back().stop = *guess;
      pieces.push_back(Piece{index, *guess, Stretch::kToTheEnd, {}});
    }
  }
  return pieces;
}

// Reads every piece, on this thread and on others, each taking the next
// piece not yet taken. A failure is kept with its piece: it counts only
// if that piece does (scan).
void read_pieces(const std::vector<PathPlanLayer>& layers, const ApplyOptions& options, std::deque<Piece>& pieces) {
  std::atomic<std::size_t> next_piece{0};
  const auto read = [&] {
    for (std::size_t taken; (taken = next_piece.fetch_add(1)) < pieces.size();) {
      Piece& piece = pieces[taken];
      try {
        scan_stretch(layers[piece.layer], piece.layer, piece.begin, piece.stop, options, piece.stretch);
      } catch (...) {
        piece.stretch.error = std::current_exception();
      }
    }
  };
  const unsigned cores = std::max(1U, std::min(4U, std::thread::hardware_concurrency()));
  std::vector<std::thread> helpers;
  for (unsigned i = 1; i < cores && i < pieces.size(); ++i) {
    try {
      helpers.emplace_back(read);
    } catch (const std::system_error&) {
      break;  // fewer threads read the same pieces
    }
  }
  read();
  for (std::thread& helper : helpers) helper.join();
}

}  // namespace

bool Records::scan(const std::vector<PathPlanLayer>& layers, const ApplyOptions& options, std::size_t piece_bytes) {
  std::deque<Piece> pieces = cut_into_pieces(layers, piece_bytes);
  read_pieces(layers, options, pieces);
  // In archive order: a piece counts only where the walk before it
  // arrived exactly at its start; elsewhere that stretch is read again.
  std::size_t next = 0;
  for (std::uint32_t index = 0; index < layers.size(); ++index) {
    std::uint64_t at = 0;  // where this layer's walk has arrived
    for (; next < pieces.size() && pieces[next].layer == index; ++next) {
      Piece& piece = pieces[next];
      if (at == Stretch::kToTheEnd) continue;  // the layer ended before this guess
      if (piece.begin == at) {
        if (piece.stretch.error) std::rethrow_exception(piece.stretch.error);
      } else {
        log(LogLevel::kDebug, "{}: offset {} is not where a header starts; read again from {}",
            escape(layers[index].name), piece.begin, at);
        piece.stretch = Stretch();
        scan_stretch(layers[index], index, at, piece.stop, options, piece.stretch);
      }
      at = piece.stretch.stopped_at;
      if (!append(std::move(piece.stretch))) return false;
    }
  }
  return true;
}

bool Records::land_where_named() const {
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
  // One bit per hash of those paths: most parents are no link's path,
  // and the bit says so without a lookup.
  HashBits maybe_link;
  const auto is_link = [&](std::uint64_t hash, std::string_view name) {
    if (!maybe_link.test(hash)) return false;
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
  // through_link(path(record)), from the hashes made while scanning.
  const auto parent_through_link = [&](const Record& record) {
    const std::string_view name = record.path();
    for (std::size_t i = 0; i + 1 < record.hash_count; ++i) {
      const std::uint64_t hash = record.hashes[i];
      if (!maybe_link.test(hash)) continue;
      const auto found = links.find(hash);
      if (found == links.end() || !found->second.now) continue;
      const std::string_view link = found->second.path;
      if (name.size() > link.size() && name[link.size()] == '/' && name.starts_with(link)) return true;
    }
    return false;
  };
  // One record, in archive order; false when it does not land where named.
  const auto lands = [&](const Record& record) {
    if (!links.empty()) {
      if (parent_through_link(record)) return false;
      if ((record.hardlink || record.kind == RecordKind::kWhiteout) && through_link(record.target())) return false;
      if (record.kind == RecordKind::kOpaque &&
          (is_link(fnv(record.target()), record.target()) || through_link(record.target()))) {
        return false;
      }
    }
    const std::uint64_t path_hash = record.path_hash();
    if (record.kind == RecordKind::kLink) {
      const auto [found, fresh] = links.try_emplace(path_hash, LinkState{record.path(), true});
      if (!fresh && found->second.path != record.path()) return false;  // two paths, one hash: play safe
      found->second.now = true;
      maybe_link.set(path_hash);
    } else if (record.kind == RecordKind::kEntry && !links.empty()) {
      const auto found = links.find(path_hash);
      if (found != links.end() && found->second.path == record.path()) found->second.now = false;
    }
    return true;
  };
  for (const Stretch& stretch : stretches_) {
    for (const Record& record : stretch.records) {
      if (!lands(record)) return false;
    }
  }
  return true;
}

std::size_t Records::size() const {
  std::size_t count = 0;
  for (const Stretch& stretch : stretches_) count += stretch.records.size();
  return count;
}

// Adds a stretch's records after those read so far.
bool Records::append(Stretch&& stretch) {
  if (!stretch.usable || stretch.global_header) return false;
  stretches_.push_back(std::move(stretch));
  return true;
}

}  // namespace undocker::layer
