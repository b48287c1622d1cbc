#include "output/pax_stream.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include <fmt/format.h>

#include "tar/header.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::output {

namespace {

// Large enough that a pipe or disk sees few big writes.
constexpr std::size_t kBufferBytes = std::size_t{1} << 20;
// From this size a data view is written where it lies (the mapping)
// rather than copied into the buffer first.
constexpr std::size_t kDirectWriteBytes = 64 * 1024;
// Largest values of 7- and 11-digit octal ustar fields.
constexpr std::uint64_t kMaxOctal7 = 07777777;
constexpr std::uint64_t kMaxOctal11 = 077777777777;
constexpr std::size_t kUstarNameBytes = 100;
// Python's tarfile names every pax header so; a fixed name keeps the
// stream reproducible.
constexpr std::string_view kPaxHeaderName = "././@PaxHeader";

/// Writes value as width-1 octal digits and a NUL; 0 when it does not fit
/// (the caller then puts the value in a pax record).
template <std::size_t N>
void put_octal(char (&field)[N], std::uint64_t value) {
  if (value >> (3 * (N - 1)) != 0) value = 0;
  for (std::size_t i = N - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[N - 1] = '\0';
}

template <std::size_t N>
void put_string(char (&field)[N], std::string_view text) {
  std::memcpy(field, text.data(), std::min(N, text.size()));  // the rest stays NUL
}

void set_checksum(tar::UstarHeader& header) {
  std::memset(header.checksum, ' ', sizeof(header.checksum));
  const auto* bytes = reinterpret_cast<const unsigned char*>(&header);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < sizeof(header); ++i) sum += bytes[i];
  fmt::format_to_n(header.checksum, 7, "{:06o}", sum & 0777777);
  header.checksum[6] = '\0';
}

tar::UstarHeader ustar_header(std::string_view name, char type, std::uint32_t mode, std::uint64_t uid,
                              std::uint64_t gid, std::uint64_t size_bytes, std::uint64_t mtime_seconds) {
  tar::UstarHeader header{};
  put_string(header.name, name);
  put_octal(header.mode, mode);
  put_octal(header.uid, uid);
  put_octal(header.gid, gid);
  put_octal(header.size, size_bytes);
  put_octal(header.mtime, mtime_seconds);
  header.typeflag = type;
  std::memcpy(header.magic, "ustar", 6);
  std::memcpy(header.version, "00", 2);
  put_octal(header.devmajor, 0);
  put_octal(header.devminor, 0);
  return header;
}

/// "LEN key=value\n", where LEN counts its own digits too.
void append_pax_record(std::string& body, std::string_view key, std::string_view value) {
  const std::size_t rest = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t length = rest + 1;
  while (std::to_string(length).size() + rest != length) ++length;
  fmt::format_to(std::back_inserter(body), "{} {}={}\n", length, key, value);
}

/// A pax time: "-1.500000000" is half a second before -1 (tv_nsec stays
/// positive, so tv_sec = -2 there).
std::string pax_time(std::int64_t seconds, std::uint32_t nanoseconds) {
  if (nanoseconds == 0) return std::to_string(seconds);
  if (seconds >= 0) return fmt::format("{}.{:09}", seconds, nanoseconds);
  return fmt::format("-{}.{:09}", -(seconds + 1), 1000000000 - nanoseconds);
}

}  // namespace

PaxStream::PaxStream(int fd) : fd_(fd), buffer_(std::make_unique<char[]>(kBufferBytes)) {}

void PaxStream::write_headers(const PaxMember& member) {
  entry_ = member.name;
  std::string pax;
  if (member.name.size() > kUstarNameBytes) append_pax_record(pax, "path", member.name);
  if (member.link_target.size() > kUstarNameBytes) append_pax_record(pax, "linkpath", member.link_target);
  if (member.size_bytes > kMaxOctal11) append_pax_record(pax, "size", std::to_string(member.size_bytes));
  if (member.uid > kMaxOctal7) append_pax_record(pax, "uid", std::to_string(member.uid));
  if (member.gid > kMaxOctal7) append_pax_record(pax, "gid", std::to_string(member.gid));
  const bool mtime_fits = member.mtime_seconds >= 0 && static_cast<std::uint64_t>(member.mtime_seconds) <= kMaxOctal11;
  if (!mtime_fits || member.mtime_nanoseconds != 0) {
    append_pax_record(pax, "mtime", pax_time(member.mtime_seconds, member.mtime_nanoseconds));
  }
  for (const auto& [name, value] : member.xattrs) append_pax_record(pax, "SCHILY.xattr." + name, value);

  if (!pax.empty()) {
    tar::UstarHeader header = ustar_header(kPaxHeaderName, 'x', 0644, 0, 0, pax.size(), 0);
    set_checksum(header);
    write_buffered(&header, sizeof(header));
    write_buffered(pax.data(), pax.size());
    pad(pax.size());
  }

  tar::UstarHeader header = ustar_header(member.name, member.type, member.mode, member.uid, member.gid,
                                         member.size_bytes, mtime_fits ? member.mtime_seconds : 0);
  put_string(header.linkname, member.link_target);
  put_octal(header.devmajor, member.dev_major);
  put_octal(header.devminor, member.dev_minor);
  set_checksum(header);
  write_buffered(&header, sizeof(header));
}

void PaxStream::write_data(Bytes data) {
  if (data.size() < kDirectWriteBytes) {
    write_buffered(data.data(), data.size());
    return;
  }
  // Straight from the mapping (or the decoder's chunk): no copy of ours.
  flush();
  write_fully(reinterpret_cast<const char*>(data.data()), data.size());
}

void PaxStream::write_zeros(std::uint64_t size) {
  while (size > 0) {
    if (used_ == kBufferBytes) flush();
    const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(size, kBufferBytes - used_));
    std::memset(buffer_.get() + used_, 0, count);
    used_ += count;
    size -= count;
  }
}

void PaxStream::pad(std::uint64_t size_bytes) {
  const std::size_t tail = static_cast<std::size_t>(size_bytes % tar::kBlockSize);
  if (tail != 0) write_zeros(tar::kBlockSize - tail);
}

void PaxStream::finish() {
  entry_.clear();
  write_zeros(2 * tar::kBlockSize);
  flush();
}

void PaxStream::write_buffered(const void* data, std::size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    if (used_ == kBufferBytes) flush();
    const std::size_t count = std::min(size, kBufferBytes - used_);
    std::memcpy(buffer_.get() + used_, bytes, count);
    used_ += count;
    bytes += count;
    size -= count;
  }
}

void PaxStream::flush() {
  write_fully(buffer_.get(), used_);
  used_ = 0;
}

void PaxStream::write_fully(const char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t count = ::write(fd_, data + done, size - done);
    if (count < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        wait_writable();
        continue;
      }
      if (errno == EPIPE) throw OutputClosed();
      throw IoError(fmt::format("{}: cannot write the tar stream: {}", escape(entry_.empty() ? "." : entry_),
                                std::strerror(errno)));
    }
    done += static_cast<std::size_t>(count);
  }
}

void PaxStream::wait_writable() const {
  // A non-blocking output (a pipe someone set O_NONBLOCK on) waits here.
  pollfd waiting{fd_, POLLOUT, 0};
  while (::poll(&waiting, 1, -1) < 0) {
    if (errno != EINTR) {
      throw IoError(fmt::format("{}: cannot write the tar stream: {}", escape(entry_), std::strerror(errno)));
    }
  }
}

}  // namespace undocker::output
