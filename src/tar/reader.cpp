#include "tar/reader.hpp"

#include <cstring>

#include <fmt/format.h>

#include "tar/header.hpp"
#include "util/error.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"

namespace undocker::tar {

namespace {

std::string ustar_path(const UstarHeader& header) {
  std::string path(field_string(header.name));
  // The prefix field exists only in POSIX ustar; old GNU headers keep
  // access times and the sparse map there.
  if (is_ustar(header)) {
    const std::string_view prefix = field_string(header.prefix);
    if (!prefix.empty()) path = fmt::format("{}/{}", prefix, path);
  }
  return path;
}

// Bytes of zero padding after `size` bytes of data, up to the next block.
std::uint64_t padding_after(std::uint64_t size) { return (kBlockSize - size % kBlockSize) % kBlockSize; }

// GNU long names are NUL-terminated inside their data block.
std::string until_nul(std::string text) {
  const std::size_t nul = text.find('\0');
  if (nul != std::string::npos) text.resize(nul);
  return text;
}

}  // namespace

bool is_header_only(char typeflag) {
  return typeflag == '1' || typeflag == '2' || typeflag == '3' || typeflag == '4' ||
         typeflag == '5' || typeflag == '6';
}

EntryType entry_type(char typeflag) {
  switch (typeflag) {
    case '1': return EntryType::kHardlink;
    case '2': return EntryType::kSymlink;
    case '3': return EntryType::kCharDevice;
    case '4': return EntryType::kBlockDevice;
    case '5': return EntryType::kDirectory;
    case '6': return EntryType::kFifo;
    default: return EntryType::kFile;  // '0', '\0', '7' (contiguous)
  }
}

TarReader::TarReader(ByteSource& source, std::string archive_name)
    : source_(source), archive_name_(std::move(archive_name)) {}

void TarReader::fail(std::string_view problem) const {
  if (current_name_.empty()) {
    throw FormatError(fmt::format("{}: {}", escape(archive_name_), problem));
  }
  throw FormatError(fmt::format("{}: {}: {}", escape(archive_name_), escape(current_name_), problem));
}

Bytes TarReader::read_data(std::size_t max_bytes) {
  if (data_remaining_ == 0 || max_bytes == 0) return {};
  const std::size_t want = data_remaining_ < max_bytes ? static_cast<std::size_t>(data_remaining_) : max_bytes;
  Bytes piece = source_.read_some(want);
  if (piece.empty()) {
    fail(fmt::format("archive ends inside the entry's data ({} missing)", count_of(data_remaining_, "byte")));
  }
  data_remaining_ -= piece.size();
  return piece;
}

void TarReader::skip_rest_of_entry() {
  while (data_remaining_ > 0) read_data(std::size_t{1} << 20);
  while (padding_remaining_ > 0) {
    Bytes piece = source_.read_some(static_cast<std::size_t>(padding_remaining_));
    if (piece.empty()) {
      // umoci insert writes its last entry without padding: the data is
      // whole, so this is taken as the end of the archive.
      padding_remaining_ = 0;
      ended_ = true;
      return;
    }
    padding_remaining_ -= piece.size();
  }
}

std::string TarReader::read_body(std::uint64_t size, std::size_t limit, std::string_view what) {
  if (size > limit) fail(fmt::format("{} of {} bytes exceeds the limit of {} bytes", what, size, limit));
  Bytes body = source_.read_exact(static_cast<std::size_t>(size));
  if (body.size() != size) fail(fmt::format("archive ends inside a {}", what));
  std::string text(as_chars(body));
  padding_remaining_ = padding_after(size);
  skip_rest_of_entry();
  return text;
}

SparseMap TarReader::read_old_gnu_sparse_map(Bytes header_block) {
  GnuSparseHeaderTail tail;
  std::memcpy(&tail, header_block.data() + offsetof(UstarHeader, prefix), sizeof tail);
  SparseMap map;
  const std::optional<std::int64_t> real_size = parse_number(tail.real_size);
  if (!real_size || *real_size < 0) fail("invalid sparse file size");
  map.real_size = static_cast<std::uint64_t>(*real_size);
  if (!append_gnu_sparse_pairs(tail.sparse[0], 4, map.segments)) fail("malformed sparse map");
  bool extended = tail.is_extended != 0;
  while (extended) {
    // Each extension block: 21 more pairs, then its own "more follow" flag.
    Bytes block = source_.read_exact(kBlockSize);
    if (block.size() != kBlockSize) fail("archive ends inside a sparse map");
    if (map.segments.size() > limits::kMaxSparseSegments) fail("sparse map has too many segments");
    if (!append_gnu_sparse_pairs(reinterpret_cast<const char*>(block.data()), 21, map.segments)) {
      fail("malformed sparse map extension");
    }
    extended = block[504] != 0;
  }
  return map;
}

SparseMap TarReader::read_pax_1_0_sparse_map(std::uint64_t real_size) {
  // Decimal numbers, one per line: the count, then offset and length pairs;
  // the map fills whole blocks, which count as data of the entry.
  SparseMap map;
  map.real_size = real_size;
  std::string pending;
  std::vector<std::uint64_t> numbers;
  std::optional<std::uint64_t> count;
  while (!count || numbers.size() < 2 * *count) {
    if (data_remaining_ < kBlockSize) fail("sparse map runs past the entry's data");
    Bytes block = source_.read_exact(kBlockSize);
    if (block.size() != kBlockSize) fail("archive ends inside a sparse map");
    data_remaining_ -= kBlockSize;
    pending.append(as_chars(block));
    std::size_t newline;
    while ((!count || numbers.size() < 2 * *count) && (newline = pending.find('\n')) != std::string::npos) {
      const std::optional<std::uint64_t> number = parse_decimal(std::string_view(pending).substr(0, newline));
      if (!number) fail("malformed sparse map");
      pending.erase(0, newline + 1);
      if (!count) {
        if (*number > limits::kMaxSparseSegments) fail("sparse map has too many segments");
        count = *number;
      } else {
        numbers.push_back(*number);
      }
    }
    if ((!count || numbers.size() < 2 * *count) && pending.size() > 64) fail("malformed sparse map");
  }
  for (std::size_t i = 0; i < numbers.size(); i += 2) map.segments.push_back({numbers[i], numbers[i + 1]});
  return map;
}

void TarReader::read_global_header(std::uint64_t size, std::uint64_t header_offset) {
  saw_global_header_ = true;
  PaxValues global;
  const std::string where = fmt::format("{}: offset {}", archive_name_, header_offset);
  parse_pax_records(read_body(size, limits::kMaxPaxBodyBytes, "pax global header"), global, where);
  // A sparse map describes one file's data; for every later file it could
  // only be wrong (and 0.0 maps would grow with each header).
  if (global.has_sparse_keys()) {
    fail(fmt::format("pax global header at offset {} holds GNU.sparse.* keys, which belong to one file",
                     header_offset));
  }
  global_.merge_from(global);
  if (global_.key_count() > limits::kMaxGlobalPaxKeys) {
    fail(fmt::format("pax global headers set more than {} keys (at offset {})", limits::kMaxGlobalPaxKeys,
                     header_offset));
  }
  if (global_.value_bytes() > limits::kMaxGlobalPaxBytes) {
    fail(fmt::format("pax global headers hold more than {} bytes of values (at offset {})",
                     limits::kMaxGlobalPaxBytes, header_offset));
  }
}

bool TarReader::next(Entry& entry) {
  if (ended_) return false;
  skip_rest_of_entry();
  current_name_.clear();

  PaxValues local;         // from 'x' headers for this entry only
  bool pending = false;    // an extension header waits for its entry
  // What the extension headers before this entry may still hold, together
  // (util/limits.hpp): repeated 'x' headers merge and must not add up.
  std::size_t extension_budget = limits::kMaxPaxBodyBytes;
  auto read_extension = [&](std::uint64_t size, std::size_t limit, std::string_view what) {
    if (size <= limit && size > extension_budget) {
      fail(fmt::format("extension headers before one entry exceed the limit of {} bytes", limits::kMaxPaxBodyBytes));
    }
    std::string body = read_body(size, limit, what);
    extension_budget -= body.size();
    return body;
  };
  std::optional<std::string> gnu_long_name;
  std::optional<std::string> gnu_long_link;
  const std::uint64_t first_header_offset = source_.position();

  for (;;) {
    const std::uint64_t header_offset = source_.position();
    Bytes block = source_.read_exact(kBlockSize);
    if (block.empty()) {
      // A clean end without end-of-archive blocks: accepted, as Go and
      // GNU tar do, unless an extension header was left without its entry.
      if (pending) fail("archive ends after an extension header, before its entry");
      ended_ = true;
      return false;
    }
    // What fails at the very first header says the input is no tar at all
    // (GNU tar: "This does not look like a tar archive"): say that first.
    const char* not_tar = header_offset == 0 ? "not a tar archive (" : "";
    const char* not_tar_end = header_offset == 0 ? ")" : "";
    if (block.size() != kBlockSize) {
      fail(fmt::format("{}archive ends inside a header at offset {}{}", not_tar, header_offset, not_tar_end));
    }
    if (is_zero_block(block)) {
      if (pending) fail("end-of-archive block right after an extension header");
      Bytes second = source_.read_exact(kBlockSize);
      if (!second.empty() && (second.size() != kBlockSize || !is_zero_block(second))) {
        fail(fmt::format("a zero block at offset {} is followed by data", header_offset));
      }
      ended_ = true;
      return false;
    }
    UstarHeader header;
    std::memcpy(&header, block.data(), kBlockSize);
    if (!checksum_matches(header)) {
      fail(fmt::format("{}header checksum mismatch at offset {}{}", not_tar, header_offset, not_tar_end));
    }
    const std::optional<std::int64_t> header_size = parse_number(header.size);
    if (!header_size || *header_size < 0 || static_cast<std::uint64_t>(*header_size) > limits::kMaxEntryBytes) {
      current_name_ = ustar_path(header);
      fail(fmt::format("invalid size field at offset {}", header_offset));
    }
    const auto size = static_cast<std::uint64_t>(*header_size);
    const char typeflag = header.typeflag;

    switch (typeflag) {
      case 'x':
        parse_pax_records(read_extension(size, limits::kMaxPaxBodyBytes, "pax header"), local,
                          fmt::format("{}: offset {}", archive_name_, header_offset));
        pending = true;
        continue;
      case 'g':
        read_global_header(size, header_offset);
        continue;
      case 'L':
        gnu_long_name = until_nul(read_extension(size, limits::kMaxPathBytes, "GNU long name"));
        pending = true;
        continue;
      case 'K':
        gnu_long_link = until_nul(read_extension(size, limits::kMaxPathBytes, "GNU long link name"));
        pending = true;
        continue;
      case 'V':  // a GNU volume label names the archive, not a file
        read_body(size, limits::kMaxPathBytes, "volume label");
        continue;
      default:
        break;
    }

    // Most archives have no global header: then this entry's own values
    // are all there is, and nothing is copied.
    if (global_.key_count() != 0) {
      PaxValues merged = global_;
      merged.merge_from(local);
      local = std::move(merged);
    }
    PaxValues& values = local;

    // Cleared field by field: the strings keep their buffers for the next entry.
    entry.path.clear();
    entry.link_target.clear();
    entry.type = EntryType::kFile;
    entry.mode = 0;
    entry.uid = entry.gid = 0;
    entry.mtime = Timestamp{};
    entry.size_bytes = 0;
    entry.dev_major = entry.dev_minor = 0;
    entry.xattrs.clear();
    entry.sparse.reset();
    entry.header_offset = first_header_offset;
    if (values.path) entry.path = *values.path;
    else if (gnu_long_name) entry.path = *gnu_long_name;
    else entry.path = ustar_path(header);
    current_name_ = entry.path;
    if (values.link_path) entry.link_target = *values.link_path;
    else if (gnu_long_link) entry.link_target = *gnu_long_link;
    else entry.link_target.assign(field_string(header.linkname));

    if (entry.path.empty()) fail(fmt::format("entry at offset {} has an empty name", header_offset));
    if (entry.path.size() > limits::kMaxPathBytes) fail("name is too long");
    if (entry.path.find('\0') != std::string::npos || entry.link_target.find('\0') != std::string::npos) {
      fail("name contains a NUL byte");
    }

    switch (typeflag) {
      case '0': case '\0': case '7':
      case '1': case '2': case '3': case '4': case '5': case '6':
        break;
      case 'S':
        break;
      default:
        fail(fmt::format("unsupported entry type '{}'", escape(std::string_view(&typeflag, 1))));
    }
    entry.type = entry_type(typeflag);
    if (typeflag == 'S') entry.sparse = read_old_gnu_sparse_map(block);

    const std::optional<std::int64_t> mode = parse_number(header.mode);
    if (!mode || *mode < 0) fail("invalid mode field");
    entry.mode = static_cast<std::uint32_t>(*mode) & 07777;

    auto id_field = [&](const std::optional<std::int64_t>& pax, const auto& field, std::string_view what) {
      if (pax) return *pax;
      const std::optional<std::int64_t> value = parse_number(field);
      if (!value) fail(fmt::format("invalid {} field", what));
      return *value;
    };
    entry.uid = id_field(values.uid, header.uid, "uid");
    entry.gid = id_field(values.gid, header.gid, "gid");
    if (entry.uid < 0 || entry.uid > UINT32_MAX - 1 || entry.gid < 0 || entry.gid > UINT32_MAX - 1) {
      fail(fmt::format("owner {}:{} is out of range", entry.uid, entry.gid));
    }
    if (values.mtime) {
      entry.mtime = *values.mtime;
    } else {
      const std::optional<std::int64_t> mtime = parse_number(header.mtime);
      if (!mtime) fail("invalid mtime field");
      entry.mtime = Timestamp{*mtime, 0};
    }
    if (entry.type == EntryType::kCharDevice || entry.type == EntryType::kBlockDevice) {
      const std::optional<std::int64_t> major = parse_number(header.devmajor);
      const std::optional<std::int64_t> minor = parse_number(header.devminor);
      if (!major || !minor || *major < 0 || *minor < 0 || *major > UINT32_MAX || *minor > UINT32_MAX) {
        fail("invalid device number");
      }
      entry.dev_major = values.dev_major.value_or(static_cast<std::uint32_t>(*major));
      entry.dev_minor = values.dev_minor.value_or(static_cast<std::uint32_t>(*minor));
    }
    entry.xattrs = std::move(values.xattrs);

    const std::uint64_t stored_size = values.size.value_or(size);
    entry.size_bytes = is_header_only(typeflag) ? 0 : stored_size;
    data_offset_ = entry.data_offset = source_.position();
    data_remaining_ = entry.size_bytes;
    padding_remaining_ = padding_after(entry.size_bytes);

    // pax sparse formats: 0.0 and 0.1 keep the map in records, 1.0 at the
    // start of the data; all of them may hide the real name.
    const bool pax_sparse = values.sparse_major || values.sparse_map || !values.sparse_offsets_0_0.empty();
    if (pax_sparse && entry.type == EntryType::kFile) {
      if (values.sparse_name) {
        entry.path = *values.sparse_name;
        current_name_ = entry.path;
      }
      if (!values.sparse_real_size) fail("sparse file without GNU.sparse.realsize");
      if (values.sparse_major && *values.sparse_major == "1") {
        entry.sparse = read_pax_1_0_sparse_map(*values.sparse_real_size);
        entry.size_bytes = data_remaining_;
        data_offset_ = entry.data_offset = source_.position();  // the segments start after the map
      } else {
        SparseMap map;
        map.real_size = *values.sparse_real_size;
        if (values.sparse_map) {
          if (!parse_sparse_map_text(*values.sparse_map, map.segments)) fail("malformed GNU.sparse.map");
        } else {
          if (values.sparse_offsets_0_0.size() != values.sparse_numbytes_0_0.size()) {
            fail("GNU.sparse.offset and GNU.sparse.numbytes do not pair up");
          }
          for (std::size_t i = 0; i < values.sparse_offsets_0_0.size(); ++i) {
            map.segments.push_back({values.sparse_offsets_0_0[i], values.sparse_numbytes_0_0[i]});
          }
        }
        entry.sparse = std::move(map);
      }
    }
    if (entry.sparse) {
      if (const char* problem = check_sparse_map(*entry.sparse); *problem) fail(problem);
      if (entry.sparse->stored_bytes() != entry.size_bytes) {
        fail(fmt::format("sparse map holds {} but the entry stores {}", count_of(entry.sparse->stored_bytes(), "byte"),
                         entry.size_bytes));
      }
    }
    return true;
  }
}

}  // namespace undocker::tar
