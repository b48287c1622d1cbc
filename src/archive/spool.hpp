// Input: a regular file is used in place, and so is a directory (read
// member by member, archive/directory.hpp); anything else (a pipe, a socket,
// a terminal) is copied once into an unlinked temporary file in $TMPDIR so
// that it can be mapped. The temporary file has no name from the start, so
// nothing is left behind after success, failure or a signal.
#pragma once

#include <cstdint>
#include <string>

namespace undocker::archive {

/// An open input ready to be mapped: fd refers to a regular file, or to a
/// directory when is_directory().
class InputFile {
 public:
  /// path "-" (or empty) means standard input.
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  bool spooled() const { return spooled_; }
  bool is_directory() const { return directory_; }

  /// Hands the descriptor over (to MemberIndex::open_directory).
  int release_fd();

 private:
  int fd_ = -1;
  bool owns_fd_ = false;
  bool spooled_ = false;
  bool directory_ = false;
  std::string name_;
};

/// Copies everything readable from in_fd into a new unlinked file in
/// $TMPDIR (or /tmp) and returns its descriptor.
int spool_to_temp_file(int in_fd, const std::string& name);

/// True when `path` means standard input ("-" or empty) and that is
/// neither a regular file nor a directory: InputFile would spool it.
bool stdin_needs_spool(const std::string& path);

/// A new unlinked file in $TMPDIR (or /tmp), open for reading and writing.
int open_unlinked_temp_file();

/// Told how far a copy has come, for a reader that follows it
/// (archive/growing_spool.hpp).
class SpoolListener {
 public:
  virtual ~SpoolListener() = default;
  /// `total` bytes of the input are now in the file.
  virtual void advanced(std::uint64_t total) = 0;
  /// Called while waiting for input (at least every 50 ms): throws to end
  /// the copy early.
  virtual void waiting() = 0;
};

/// Copies everything readable from in_fd to the end of out_fd (spliced
/// where it can), telling listener (if any) as it goes. Throws IoError, or
/// Interrupted on a signal.
void copy_input(int in_fd, int out_fd, const std::string& name, SpoolListener* listener);

}  // namespace undocker::archive
