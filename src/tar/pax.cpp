#include "tar/pax.hpp"

#include <initializer_list>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"

namespace undocker::tar {

namespace {

std::optional<std::int64_t> parse_signed_decimal(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text[0] == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const std::optional<std::uint64_t> magnitude = parse_decimal(text);
  if (!magnitude || *magnitude > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
  const auto value = static_cast<std::int64_t>(*magnitude);
  return negative ? -value : value;
}

[[noreturn]] void fail(std::string_view where, std::string_view problem) {
  throw FormatError(fmt::format("{}: malformed pax header: {}", escape(where), problem));
}

void apply_record(std::string_view key, std::string_view value, PaxValues& values,
                  std::string_view where) {
  auto number = [&](std::string_view what) {
    std::optional<std::int64_t> parsed = parse_signed_decimal(value);
    if (!parsed) fail(where, fmt::format("bad {} {}", what, escape(value)));
    return *parsed;
  };
  if (key == "path") {
    values.path = std::string(value);
  } else if (key == "linkpath") {
    values.link_path = std::string(value);
  } else if (key == "size") {
    std::optional<std::uint64_t> size = parse_decimal(value);
    if (!size || *size > limits::kMaxEntryBytes) fail(where, fmt::format("bad size {}", escape(value)));
    values.size = *size;
  } else if (key == "mtime") {
    std::optional<Timestamp> mtime = parse_pax_time(value);
    if (!mtime) fail(where, fmt::format("bad mtime {}", escape(value)));
    values.mtime = *mtime;
  } else if (key == "uid") {
    values.uid = number("uid");
  } else if (key == "gid") {
    values.gid = number("gid");
  } else if (key == "uname") {
    values.uname = std::string(value.substr(0, limits::kMaxOwnerNameBytes));
  } else if (key == "gname") {
    values.gname = std::string(value.substr(0, limits::kMaxOwnerNameBytes));
  } else if (key == "SCHILY.devmajor" || key == "SCHILY.devminor") {
    const bool major = key == "SCHILY.devmajor";
    const std::int64_t device = number(major ? "devmajor" : "devminor");
    if (device < 0 || device > UINT32_MAX) fail(where, fmt::format("device number {} is out of range", device));
    (major ? values.dev_major : values.dev_minor) = static_cast<std::uint32_t>(device);
  } else if (key.starts_with("SCHILY.xattr.")) {
    std::string_view name = key.substr(13);
    if (name.empty()) fail(where, "empty xattr name");
    if (value.size() > limits::kMaxXattrValueBytes) fail(where, "xattr value too large");
    for (auto& [existing, existing_value] : values.xattrs) {
      if (existing == name) {
        existing_value = std::string(value);
        return;
      }
    }
    if (values.xattrs.size() >= limits::kMaxXattrsPerEntry) {
      fail(where, fmt::format("more than {} xattrs for one entry", limits::kMaxXattrsPerEntry));
    }
    values.xattrs.emplace_back(std::string(name), std::string(value));
  } else if (key == "GNU.sparse.name") {
    values.sparse_name = std::string(value);
  } else if (key == "GNU.sparse.realsize" || key == "GNU.sparse.size") {
    std::optional<std::uint64_t> size = parse_decimal(value);
    if (!size || *size > limits::kMaxEntryBytes) fail(where, "bad sparse size");
    values.sparse_real_size = *size;
  } else if (key == "GNU.sparse.major") {
    values.sparse_major = std::string(value);
  } else if (key == "GNU.sparse.minor") {
    values.sparse_minor = std::string(value);
  } else if (key == "GNU.sparse.map") {
    values.sparse_map = std::string(value);
  } else if (key == "GNU.sparse.offset" || key == "GNU.sparse.numbytes") {
    std::optional<std::uint64_t> n = parse_decimal(value);
    if (!n) fail(where, "bad sparse map entry");
    if (values.sparse_offsets_0_0.size() + values.sparse_numbytes_0_0.size() >= 2 * limits::kMaxSparseSegments) {
      fail(where, "sparse map has too many segments");
    }
    (key == "GNU.sparse.offset" ? values.sparse_offsets_0_0 : values.sparse_numbytes_0_0).push_back(*n);
  }
  // Other keys (atime, ctime, charset, comment, LIBARCHIVE.*, …) carry
  // nothing a root filesystem needs.
}

}  // namespace

void PaxValues::merge_from(const PaxValues& later) {
  auto take = [](auto& mine, const auto& theirs) {
    if (theirs) mine = theirs;
  };
  take(path, later.path);
  take(link_path, later.link_path);
  take(size, later.size);
  take(mtime, later.mtime);
  take(uid, later.uid);
  take(gid, later.gid);
  take(uname, later.uname);
  take(gname, later.gname);
  take(dev_major, later.dev_major);
  take(dev_minor, later.dev_minor);
  for (const auto& [name, value] : later.xattrs) {
    bool replaced = false;
    for (auto& [existing, existing_value] : xattrs) {
      if (existing == name) {
        existing_value = value;
        replaced = true;
        break;
      }
    }
    if (!replaced) xattrs.emplace_back(name, value);
  }
  take(sparse_name, later.sparse_name);
  take(sparse_real_size, later.sparse_real_size);
  take(sparse_major, later.sparse_major);
  take(sparse_minor, later.sparse_minor);
  take(sparse_map, later.sparse_map);
  sparse_offsets_0_0.insert(sparse_offsets_0_0.end(), later.sparse_offsets_0_0.begin(),
                            later.sparse_offsets_0_0.end());
  sparse_numbytes_0_0.insert(sparse_numbytes_0_0.end(), later.sparse_numbytes_0_0.begin(),
                             later.sparse_numbytes_0_0.end());
}

std::size_t PaxValues::key_count() const {
  std::size_t count = xattrs.size();
  for (bool set : {path.has_value(), link_path.has_value(), size.has_value(), mtime.has_value(), uid.has_value(),
                   gid.has_value(), uname.has_value(), gname.has_value(), dev_major.has_value(),
                   dev_minor.has_value()}) {
    count += set ? 1 : 0;
  }
  return count + (has_sparse_keys() ? 1 : 0);
}

std::size_t PaxValues::value_bytes() const {
  // Numbers count as the 8 bytes they take; strings as their length.
  std::size_t bytes = 0;
  for (const std::optional<std::string>* text : {&path, &link_path, &uname, &gname}) {
    if (*text) bytes += (*text)->size();
  }
  for (const auto& [name, value] : xattrs) bytes += name.size() + value.size();
  return bytes + 8 * (key_count() - xattrs.size());
}

bool PaxValues::has_sparse_keys() const {
  return sparse_name || sparse_real_size || sparse_major || sparse_minor || sparse_map ||
         !sparse_offsets_0_0.empty() || !sparse_numbytes_0_0.empty();
}

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::optional<Timestamp> parse_pax_time(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text[0] == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  std::string_view whole = text;
  std::string_view fraction;
  if (std::size_t dot = text.find('.'); dot != std::string_view::npos) {
    whole = text.substr(0, dot);
    fraction = text.substr(dot + 1);
  }
  const std::optional<std::uint64_t> seconds = parse_decimal(whole);
  if (!seconds || *seconds > static_cast<std::uint64_t>(INT64_MAX) - 1) return std::nullopt;
  std::uint32_t nanoseconds = 0;
  std::uint32_t scale = 100000000;
  for (char c : fraction) {
    if (c < '0' || c > '9') return std::nullopt;
    nanoseconds += static_cast<std::uint32_t>(c - '0') * scale;  // digits past 9 drop out
    scale /= 10;
  }
  Timestamp time{static_cast<std::int64_t>(*seconds), nanoseconds};
  if (negative) {
    // -1.25 is 1.25 s before the epoch: seconds -2, nanoseconds 750000000.
    time.seconds = -time.seconds;
    if (time.nanoseconds != 0) {
      time.seconds -= 1;
      time.nanoseconds = 1000000000 - time.nanoseconds;
    }
  }
  return time;
}

void parse_pax_records(std::string_view body, PaxValues& values, std::string_view where) {
  while (!body.empty()) {
    // Some writers pad the body with NULs after the last record.
    if (body[0] == '\0') break;
    const std::size_t space = body.find(' ');
    if (space == std::string_view::npos || space == 0 || space > 20) fail(where, "record without a length");
    const std::optional<std::uint64_t> length = parse_decimal(body.substr(0, space));
    if (!length || *length <= space + 1 || *length > body.size()) {
      fail(where, fmt::format("record length {} is invalid", escape(body.substr(0, space))));
    }
    const std::string_view record = body.substr(0, *length);
    if (record.back() != '\n') fail(where, "record does not end in a newline");
    const std::string_view key_value = record.substr(space + 1, record.size() - space - 2);
    const std::size_t equals = key_value.find('=');
    if (equals == std::string_view::npos || equals == 0) fail(where, "record without a key");
    apply_record(key_value.substr(0, equals), key_value.substr(equals + 1), values, where);
    body.remove_prefix(*length);
  }
}

}  // namespace undocker::tar
