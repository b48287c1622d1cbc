// The tar stream is POSIX pax (ustar headers, "ustar\0" "00"), as GNU tar
// --format=posix and Python's tarfile write it. A pax 'x' header goes before
// an entry only when ustar cannot hold a value: a name or link target over
// 100 bytes (we never use the ustar prefix split, as mold's lib/tar.cc),
// a size of 8 GiB or more, an id over 07777777, an mtime with nanoseconds
// or outside the octal field, and xattrs (SCHILY.xattr.NAME, as GNU tar
// and libarchive store them). The ustar field of a value moved to pax
// holds 0, as Python's tarfile does.
//
// The walk never follows a symlink: every name is looked at with
// fstatat(AT_SYMLINK_NOFOLLOW) and opened with O_NOFOLLOW relative to its
// directory's descriptor. It is iterative, holding at most kMaxOpenDirs
// directory descriptors; deeper ancestors are closed and reopened through
// ".." (checked by inode) on the way back up.
#include "output/tar_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "fs/fd.hpp"
#include "tar/header.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::output {

namespace {

// Large enough that a pipe or disk sees few big writes.
constexpr std::size_t kBufferBytes = std::size_t{1} << 20;
// Below this, one read into the buffer beats a flush plus sendfile.
constexpr std::uint64_t kSendfileMinBytes = 64 * 1024;
// Keeps a deep tree within the default limit of 1024 descriptors.
constexpr std::size_t kMaxOpenDirs = 64;
// Largest values of 7- and 11-digit octal ustar fields.
constexpr std::uint64_t kMaxOctal7 = 07777777;
constexpr std::uint64_t kMaxOctal11 = 077777777777;
constexpr std::size_t kUstarNameBytes = 100;
// Python's tarfile names every pax header so; a fixed name keeps the
// stream reproducible.
constexpr std::string_view kPaxHeaderName = "././@PaxHeader";

[[noreturn]] void fail(std::string_view path, std::string_view action, int error) {
  throw IoError(fmt::format("{}: cannot {}: {}", escape(path.empty() ? "." : path), action, std::strerror(error)));
}

/// Buffers the stream so that headers and small files cost no syscall.
class StreamWriter {
 public:
  explicit StreamWriter(int fd) : fd_(fd), buffer_(std::make_unique<char[]>(kBufferBytes)) {}

  /// Names the entry being written, for errors.
  void set_entry(std::string_view name) { entry_.assign(name); }
  const std::string& entry() const { return entry_; }

  void write(const void* data, std::size_t size) {
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

  void write_zeros(std::size_t size) {
    while (size > 0) {
      if (used_ == kBufferBytes) flush();
      const std::size_t count = std::min(size, kBufferBytes - used_);
      std::memset(buffer_.get() + used_, 0, count);
      used_ += count;
      size -= count;
    }
  }

  /// Free room at the end of the buffer (never empty), to read into.
  std::span<char> free_space() {
    if (used_ == kBufferBytes) flush();
    return {buffer_.get() + used_, kBufferBytes - used_};
  }
  void commit(std::size_t size) { used_ += size; }

  void flush() {
    std::size_t done = 0;
    while (done < used_) {
      const ssize_t count = ::write(fd_, buffer_.get() + done, used_ - done);
      if (count < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          wait_writable();
          continue;
        }
        fail(entry_, "write the tar stream", errno);
      }
      done += static_cast<std::size_t>(count);
    }
    used_ = 0;
  }

  /// A non-blocking output (a pipe someone set O_NONBLOCK on) waits here.
  void wait_writable() const {
    pollfd waiting{fd_, POLLOUT, 0};
    while (::poll(&waiting, 1, -1) < 0) {
      if (errno != EINTR) fail(entry_, "write the tar stream", errno);
    }
  }

  int fd() const { return fd_; }

 private:
  int fd_;
  std::unique_ptr<char[]> buffer_;
  std::size_t used_ = 0;
  std::string entry_;
};

/// One archive member, as its headers describe it.
struct Member {
  std::string name;  // relative; a directory's ends in '/'
  char type = '0';
  std::uint32_t mode = 0;
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::uint64_t size_bytes = 0;
  std::int64_t mtime_seconds = 0;
  std::uint32_t mtime_nanoseconds = 0;
  std::string link_target;
  std::uint32_t dev_major = 0;
  std::uint32_t dev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

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

/// A pax time: "-1.500000000" is half a second before -1 (st_mtim keeps
/// tv_nsec positive, so tv_sec = -2 there).
std::string pax_time(std::int64_t seconds, std::uint32_t nanoseconds) {
  if (nanoseconds == 0) return std::to_string(seconds);
  if (seconds >= 0) return fmt::format("{}.{:09}", seconds, nanoseconds);
  return fmt::format("-{}.{:09}", -(seconds + 1), 1000000000 - nanoseconds);
}

void pad_to_block(StreamWriter& out, std::uint64_t size_bytes) {
  const std::size_t tail = static_cast<std::size_t>(size_bytes % tar::kBlockSize);
  if (tail != 0) out.write_zeros(tar::kBlockSize - tail);
}

void write_headers(StreamWriter& out, const Member& member) {
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
    out.write(&header, sizeof(header));
    out.write(pax.data(), pax.size());
    pad_to_block(out, pax.size());
  }

  tar::UstarHeader header = ustar_header(member.name, member.type, member.mode, member.uid, member.gid,
                                         member.size_bytes, mtime_fits ? member.mtime_seconds : 0);
  put_string(header.linkname, member.link_target);
  put_octal(header.devmajor, member.dev_major);
  put_octal(header.devminor, member.dev_minor);
  set_checksum(header);
  out.write(&header, sizeof(header));
}

/// Every xattr of an open file or directory, sorted by name so the stream
/// is reproducible.
std::vector<std::pair<std::string, std::string>> read_xattrs(int fd, std::string_view path) {
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::string names;
  for (;;) {
    const ssize_t size = ::flistxattr(fd, nullptr, 0);
    if (size < 0) {
      if (errno == ENOTSUP) return xattrs;  // the filesystem has none
      fail(path, "list xattrs", errno);
    }
    if (size == 0) return xattrs;
    names.resize(static_cast<std::size_t>(size));
    const ssize_t listed = ::flistxattr(fd, names.data(), names.size());
    if (listed < 0 && errno == ERANGE) continue;  // grew meanwhile
    if (listed < 0) fail(path, "list xattrs", errno);
    names.resize(static_cast<std::size_t>(listed));
    break;
  }
  for (std::size_t start = 0; start < names.size();) {
    const std::size_t end = std::min(names.find('\0', start), names.size());
    std::string name = names.substr(start, end - start);
    start = end + 1;
    if (name.empty()) continue;
    std::string value;
    bool present = true;
    for (;;) {
      const ssize_t size = ::fgetxattr(fd, name.c_str(), nullptr, 0);
      if (size < 0 && errno == ENODATA) {
        present = false;  // removed since the listing
        break;
      }
      if (size < 0) fail(path, fmt::format("read xattr {}", escape(name)), errno);
      value.resize(static_cast<std::size_t>(size));
      const ssize_t read = ::fgetxattr(fd, name.c_str(), value.data(), value.size());
      if (read < 0 && errno == ERANGE) continue;
      if (read < 0) fail(path, fmt::format("read xattr {}", escape(name)), errno);
      value.resize(static_cast<std::size_t>(read));
      break;
    }
    if (present) xattrs.emplace_back(std::move(name), std::move(value));
  }
  std::sort(xattrs.begin(), xattrs.end());
  return xattrs;
}

std::vector<std::string> list_directory(int dir_fd, std::string_view path) {
  // fdopendir takes over the descriptor it gets; ours stays open for openat.
  const int listing_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (listing_fd < 0) fail(path, "duplicate the directory descriptor", errno);
  DIR* dir = ::fdopendir(listing_fd);
  if (dir == nullptr) {
    const int error = errno;
    ::close(listing_fd);
    fail(path, "read the directory", error);
  }
  ::rewinddir(dir);  // the duplicate shares the file offset
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* item = ::readdir(dir);
    if (item == nullptr) break;
    const std::string_view name = item->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int error = errno;
  ::closedir(dir);
  if (error != 0) fail(path, "read the directory", error);
  std::sort(names.begin(), names.end());  // std::string compares bytes as unsigned
  return names;
}

class TreeTarWriter {
 public:
  TreeTarWriter(int root_dir_fd, int out_fd) : out_(out_fd) {
    const int root_fd = ::fcntl(root_dir_fd, F_DUPFD_CLOEXEC, 0);
    if (root_fd < 0) fail("", "duplicate the directory descriptor", errno);
    DirFrame root;
    root.fd = fs::Fd(root_fd);
    struct stat st {};
    if (::fstat(root_fd, &st) != 0) fail("", "stat the directory", errno);
    root.dev = st.st_dev;
    root.ino = st.st_ino;
    root.children = list_directory(root_fd, "");
    frames_.push_back(std::move(root));
    // The archive may be written inside the tree it archives.
    if (::fstat(out_fd, &st) == 0 && S_ISREG(st.st_mode)) archive_ = {st.st_dev, st.st_ino};
  }

  void run() {
    while (!frames_.empty()) {
      DirFrame& top = frames_.back();
      if (top.next_child == top.children.size()) {
        fs::Fd child = std::move(top.fd);
        frames_.pop_back();
        if (!frames_.empty() && !frames_.back().fd.valid()) reopen_from_child(frames_.back(), child.get());
        continue;
      }
      const std::string name = std::move(top.children[top.next_child++]);
      write_entry(name);
    }
    out_.write_zeros(2 * tar::kBlockSize);
    out_.flush();
  }

 private:
  struct DirFrame {
    fs::Fd fd;  // closed while the walk is more than kMaxOpenDirs below
    dev_t dev = 0;
    ino_t ino = 0;
    std::string prefix;  // member name with its '/', "" for the root
    std::vector<std::string> children;  // sorted
    std::size_t next_child = 0;
  };

  void write_entry(const std::string& name) {
    const int dir_fd = frames_.back().fd.get();
    Member member;
    member.name = frames_.back().prefix + name;
    out_.set_entry(member.name);
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) fail(member.name, "stat", errno);
    member.mode = st.st_mode & 07777;
    member.uid = st.st_uid;
    member.gid = st.st_gid;
    member.mtime_seconds = st.st_mtim.tv_sec;
    member.mtime_nanoseconds = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);

    const mode_t type = st.st_mode & S_IFMT;
    if (type == S_IFDIR) {
      write_directory(dir_fd, name, st, std::move(member));
      return;
    }
    if (type == S_IFSOCK) {
      log(LogLevel::kWarning, "{}: skipping a socket, tar cannot hold one", escape(member.name));
      return;
    }
    if (type == S_IFREG && archive_ == std::pair{st.st_dev, st.st_ino}) {
      log(LogLevel::kWarning, "{}: skipping the tar stream itself", escape(member.name));
      return;
    }
    if (st.st_nlink > 1) {
      const auto [first, inserted] = first_names_.try_emplace({st.st_dev, st.st_ino}, member.name);
      if (!inserted) {
        member.type = '1';
        member.link_target = first->second;
        write_headers(out_, member);
        return;
      }
    }
    switch (type) {
      case S_IFREG: write_file(dir_fd, name, st, std::move(member)); return;
      case S_IFLNK:
        member.type = '2';
        member.link_target = read_link(dir_fd, name, st, member.name);
        break;
      case S_IFCHR:
      case S_IFBLK:
        member.type = type == S_IFCHR ? '3' : '4';
        member.dev_major = ::major(st.st_rdev);
        member.dev_minor = ::minor(st.st_rdev);
        break;
      case S_IFIFO: member.type = '6'; break;
      default: throw IoError(fmt::format("{}: cannot archive a file of type {:o}", escape(member.name), type));
    }
    write_headers(out_, member);
  }

  /// Opens name in dir_fd and checks it is still what fstatat saw.
  fs::Fd open_checked(int dir_fd, const std::string& name, const struct stat& seen, int flags,
                      const std::string& path) {
    // O_NONBLOCK: should a FIFO have taken the name meanwhile, do not hang.
    flags |= O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    fs::Fd fd(::openat(dir_fd, name.c_str(), flags));
    if (!fd.valid() && errno == EACCES && S_ISREG(seen.st_mode) && seen.st_uid == ::geteuid()) {
      // Extracted without root, a file keeps the image's mode, and some are
      // 0000 (Fedora's /etc/shadow): lend its owner, us, read access to open it.
      const mode_t mode = seen.st_mode & 07777;
      if (::fchmodat(dir_fd, name.c_str(), mode | S_IRUSR, AT_SYMLINK_NOFOLLOW) == 0) {
        fd = fs::Fd(::openat(dir_fd, name.c_str(), flags));
        const int error = errno;
        if (fd.valid() ? ::fchmod(fd.get(), mode) : ::fchmodat(dir_fd, name.c_str(), mode, AT_SYMLINK_NOFOLLOW)) {
          fail(path, "restore the mode", errno);
        }
        errno = error;
      } else {
        errno = EACCES;
      }
    }
    if (!fd.valid()) fail(path, "open", errno);
    struct stat now {};
    if (::fstat(fd.get(), &now) != 0) fail(path, "stat", errno);
    if (now.st_dev != seen.st_dev || now.st_ino != seen.st_ino) {
      throw IoError(fmt::format("{}: changed while being archived", escape(path)));
    }
    return fd;
  }

  void write_directory(int dir_fd, const std::string& name, const struct stat& st, Member member) {
    fs::Fd fd = open_checked(dir_fd, name, st, O_DIRECTORY, member.name);
    member.type = '5';
    member.name += '/';
    member.xattrs = read_xattrs(fd.get(), member.name);
    write_headers(out_, member);

    DirFrame frame;
    frame.children = list_directory(fd.get(), member.name);
    frame.fd = std::move(fd);
    frame.dev = st.st_dev;
    frame.ino = st.st_ino;
    frame.prefix = std::move(member.name);
    frames_.push_back(std::move(frame));
    if (frames_.size() > kMaxOpenDirs + 1) frames_[frames_.size() - 1 - kMaxOpenDirs].fd.reset();  // never the root
  }

  void write_file(int dir_fd, const std::string& name, const struct stat& st, Member member) {
    fs::Fd fd = open_checked(dir_fd, name, st, 0, member.name);
    member.type = '0';
    member.size_bytes = static_cast<std::uint64_t>(st.st_size);
    member.xattrs = read_xattrs(fd.get(), member.name);
    write_headers(out_, member);
    copy_data(fd.get(), member.size_bytes, member.name);
    pad_to_block(out_, member.size_bytes);
  }

  /// Copies exactly size_bytes (the size in the header). Holes of a sparse
  /// file read as zeros, so it is stored dense. A file that shrank is an
  /// error: the header already promised its size.
  void copy_data(int fd, std::uint64_t size_bytes, const std::string& path) {
    std::uint64_t done = 0;
    if (use_sendfile_ && size_bytes >= kSendfileMinBytes) {
      out_.flush();
      while (done < size_bytes) {
        const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(size_bytes - done, 1 << 30));
        const ssize_t count = ::sendfile(out_.fd(), fd, nullptr, chunk);
        if (count < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN) {
            out_.wait_writable();
            continue;
          }
          // An output sendfile cannot write to (O_APPEND, some special
          // files): fall back to read and write for good.
          if ((errno == EINVAL || errno == ENOSYS) && done == 0) {
            use_sendfile_ = false;
            break;
          }
          fail(path, "copy into the tar stream", errno);
        }
        if (count == 0) shrank(path, size_bytes, done);
        done += static_cast<std::uint64_t>(count);
      }
    }
    while (done < size_bytes) {
      std::span<char> space = out_.free_space();
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(space.size(), size_bytes - done));
      const ssize_t count = ::read(fd, space.data(), want);
      if (count < 0) {
        if (errno == EINTR) continue;
        fail(path, "read", errno);
      }
      if (count == 0) shrank(path, size_bytes, done);
      out_.commit(static_cast<std::size_t>(count));
      done += static_cast<std::uint64_t>(count);
    }
  }

  [[noreturn]] static void shrank(const std::string& path, std::uint64_t size_bytes, std::uint64_t done) {
    throw IoError(fmt::format("{}: shrank from {} to {} while being archived", escape(path), size_bytes, count_of(done, "byte")));
  }

  static std::string read_link(int dir_fd, const std::string& name, const struct stat& st, const std::string& path) {
    std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
    for (;;) {
      const ssize_t size = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
      if (size < 0) fail(path, "read the symlink", errno);
      if (static_cast<std::size_t>(size) < target.size()) {
        target.resize(static_cast<std::size_t>(size));
        return target;
      }
      target.resize(target.size() * 2);  // changed since fstatat: retry bigger
    }
  }

  /// The walk is back at `frame`, whose descriptor was closed while deep
  /// below: reach it again through "..", and check it is the same inode.
  void reopen_from_child(DirFrame& frame, int child_fd) {
    const std::string& path = frame.prefix;
    fs::Fd fd(::openat(child_fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) fail(path, "reopen the directory", errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail(path, "stat", errno);
    if (st.st_dev != frame.dev || st.st_ino != frame.ino) {
      throw IoError(fmt::format("{}: moved while being archived", escape(path)));
    }
    frame.fd = std::move(fd);
  }

  StreamWriter out_;
  std::vector<DirFrame> frames_;
  // First name written of each inode with more than one link.
  std::map<std::pair<dev_t, ino_t>, std::string> first_names_;
  std::pair<dev_t, ino_t> archive_{0, 0};
  bool use_sendfile_ = true;
};

}  // namespace

void write_tree_as_tar(int root_dir_fd, int out_fd) {
  TreeTarWriter writer(root_dir_fd, out_fd);
  writer.run();
}

}  // namespace undocker::output
