#include "output/file_list.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

#include "output/json_report.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"

namespace undocker::output {

namespace {

// tar -tv's first width of the UID/GID + size column; it only ever widens.
constexpr std::size_t kOwnerSizeWidth = 19;
constexpr std::size_t kFlushBytes = std::size_t{1} << 20;

char type_char(tar::EntryType type) {
  switch (type) {
    case tar::EntryType::kFile: return '-';
    case tar::EntryType::kHardlink: return 'h';
    case tar::EntryType::kSymlink: return 'l';
    case tar::EntryType::kCharDevice: return 'c';
    case tar::EntryType::kBlockDevice: return 'b';
    case tar::EntryType::kDirectory: return 'd';
    case tar::EntryType::kFifo: return 'p';
  }
  return '-';
}

const char* type_name(tar::EntryType type) {
  switch (type) {
    case tar::EntryType::kFile: return "file";
    case tar::EntryType::kHardlink: return "hardlink";
    case tar::EntryType::kSymlink: return "symlink";
    case tar::EntryType::kCharDevice: return "char";
    case tar::EntryType::kBlockDevice: return "block";
    case tar::EntryType::kDirectory: return "directory";
    case tar::EntryType::kFifo: return "fifo";
  }
  return "file";
}

std::string mode_string(tar::EntryType type, std::uint32_t mode) {
  std::string text(10, '-');
  text[0] = type_char(type);
  const char* letters = "rwxrwxrwx";
  for (int bit = 0; bit < 9; ++bit) {
    if (mode & (0400u >> bit)) text[1 + bit] = letters[bit];
  }
  // setuid, setgid, sticky: lower case over x, upper case without it.
  auto special = [&](std::uint32_t flag, std::size_t at, char with_x, char without_x) {
    if (mode & flag) text[at] = text[at] == '-' ? without_x : with_x;
  };
  special(04000, 3, 's', 'S');
  special(02000, 6, 's', 'S');
  special(01000, 9, 't', 'T');
  return text;
}

// The length of the valid UTF-8 sequence at text[i] of a printable
// character (not a C1 control), or 0.
std::size_t printable_utf8(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  const std::size_t length = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
  if (length == 0 || i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return 0;
  }
  std::uint32_t code = c & (0xff >> (length + 1));
  for (std::size_t k = 1; k < length; ++k) code = (code << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3f);
  const std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return code < 0xa0 ? 0 : length;
}

// GNU tar's default quoting of names (escape style) in a UTF-8 locale.
void append_quoted(std::string& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '\\': out += "\\\\"; continue;
      case '\a': out += "\\a"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\v': out += "\\v"; continue;
      default: break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
      continue;
    }
    const std::size_t length = c >= 0x80 ? printable_utf8(text, i) : 0;
    if (length == 0) {
      fmt::format_to(std::back_inserter(out), "\\{:03o}", c);
      continue;
    }
    out.append(text.substr(i, length));
    i += length - 1;
  }
}

std::string utc_minutes(std::int64_t seconds) {
  const std::time_t when = static_cast<std::time_t>(seconds);
  std::tm parts{};
  if (gmtime_r(&when, &parts) == nullptr) return std::to_string(seconds);  // as tar: the number when no date fits
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                     parts.tm_hour, parts.tm_min);
}

std::uint64_t owner_id(std::int64_t id) { return id < 0 ? 0 : static_cast<std::uint64_t>(id); }

class LineWriter {
 public:
  explicit LineWriter(std::FILE* out) : out_(out) {}
  std::string& buffer() { return buffer_; }
  void maybe_flush() {
    if (buffer_.size() >= kFlushBytes) flush();
  }
  void flush() {
    if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), out_) != buffer_.size()) {
      if (errno == EPIPE) throw OutputClosed();
      throw IoError(fmt::format("cannot write to standard output: {}", std::strerror(errno)));
    }
    buffer_.clear();
  }

 private:
  std::FILE* out_;
  std::string buffer_;
};

}  // namespace

void write_file_list(const layer::FinalTree& tree, const layer::TreeFilter& filter,
                     const std::vector<std::size_t>& layer_numbers, bool json, std::FILE* out) {
  // Names per inode first: only an inode with several gets hardlinks, as
  // in the tar stream.
  std::vector<std::uint32_t> names(tree.inode_count(), 0);
  filter.walk(tree, [&](const std::string&, std::uint32_t id) { ++names[id]; });
  std::unordered_map<std::uint32_t, std::string> first_name;

  LineWriter writer(out);
  std::size_t width = kOwnerSizeWidth;
  filter.walk(tree, [&](const std::string& path, std::uint32_t id) {
    check_interrupted();
    const layer::TreeInode& inode = tree.inode(id);
    const bool directory = inode.type == tar::EntryType::kDirectory;
    if (path.empty() && !inode.described) return;  // not in the stream either
    tar::EntryType type = inode.type;
    std::string link_target = inode.link_target;
    if (names[id] > 1) {
      auto [found, fresh] = first_name.emplace(id, path);
      if (!fresh) {
        type = tar::EntryType::kHardlink;
        link_target = found->second;
      }
    }
    const bool device = type == tar::EntryType::kCharDevice || type == tar::EntryType::kBlockDevice;
    const std::uint64_t size = type == tar::EntryType::kFile ? inode.size_bytes : 0;
    std::string& line = writer.buffer();
    if (json) {
      const std::size_t layer = inode.layer < layer_numbers.size() ? layer_numbers[inode.layer] : inode.layer;
      fmt::format_to(std::back_inserter(line), R"({{"path":{},"type":"{}","mode":{},"uid":{},"gid":{},"size":{},"mtime":{},)",
                     json_string(path.empty() ? std::string_view(".") : std::string_view(path)), type_name(type),
                     inode.mode & 07777, owner_id(inode.uid), owner_id(inode.gid), size, inode.mtime.seconds);
      if (type == tar::EntryType::kSymlink || type == tar::EntryType::kHardlink) {
        fmt::format_to(std::back_inserter(line), R"("target":{},)", json_string(link_target));
      }
      fmt::format_to(std::back_inserter(line), "\"layer\":{}}}\n", layer);
      writer.maybe_flush();
      return;
    }
    const std::string owner = fmt::format("{}/{}", owner_id(inode.uid), owner_id(inode.gid));
    const std::string size_text = device ? fmt::format("{},{}", inode.dev_major, inode.dev_minor) : std::to_string(size);
    width = std::max(width, owner.size() + 1 + size_text.size());
    fmt::format_to(std::back_inserter(line), "{} {}{:>{}} {} ", mode_string(type, inode.mode), owner, size_text,
                   width - owner.size(), utc_minutes(inode.mtime.seconds));
    if (path.empty()) {
      line += "./";
    } else {
      append_quoted(line, path);
      if (directory) line += '/';
    }
    if (type == tar::EntryType::kSymlink) {
      line += " -> ";
      append_quoted(line, link_target);
    } else if (type == tar::EntryType::kHardlink) {
      line += " link to ";
      append_quoted(line, link_target);
    }
    line += '\n';
    writer.maybe_flush();
  });
  writer.flush();
}

}  // namespace undocker::output
