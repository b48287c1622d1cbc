// The few kinds of failure undocker reports. main() alone turns them into an
// `ERROR:undocker:` line and the exit status of their class (SPEC section 1).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace undocker {

/// Exit statuses by class, documented in README.md and --help.
enum ExitStatus : int {
  kExitOk = 0,
  kExitIo = 1,         // I/O or filesystem failure
  kExitUsage = 2,      // bad command line
  kExitFormat = 3,     // malformed or unsupported archive
  kExitNotFound = 4,   // image, tag, platform or layer not found, or ambiguous
  kExitDigest = 5,     // a blob does not match its digest
};

/// Base of our own errors: carries the exit status of its class.
class Error : public std::runtime_error {
 public:
  Error(ExitStatus status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  ExitStatus status() const { return status_; }

  /// Lines main() prints after the ERROR line: what exists instead, and a
  /// hint (INFO lines, shown unless -q).
  const std::vector<std::string>& notes() const { return notes_; }

 protected:
  Error(ExitStatus status, const std::string& message, std::vector<std::string> notes)
      : std::runtime_error(message), status_(status), notes_(std::move(notes)) {}

 private:
  ExitStatus status_;
  std::vector<std::string> notes_;
};

/// The archive is malformed or unsupported. The message names the member,
/// outermost first ("blobs/sha256/ab…: usr/bin/env: size … runs past end").
class FormatError : public Error {
 public:
  explicit FormatError(const std::string& message) : Error(kExitFormat, message) {}
};

/// The requested image, tag, platform or layer is not in the archive.
class NotFoundError : public Error {
 public:
  explicit NotFoundError(const std::string& message) : Error(kExitNotFound, message) {}
  NotFoundError(const std::string& message, std::vector<std::string> notes)
      : Error(kExitNotFound, message, std::move(notes)) {}
};

/// A blob's content does not match its digest.
class DigestError : public Error {
 public:
  explicit DigestError(const std::string& message) : Error(kExitDigest, message) {}
};

/// The command line is wrong.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(kExitUsage, message) {}
};

/// One entry cannot be created on disk (device node as non-root, refused
/// xattr, …). apply_layer turns it into a warning under --ignore-errors.
class EntryError : public Error {
 public:
  explicit EntryError(const std::string& message) : Error(kExitIo, message) {}
};

/// SIGINT or SIGTERM arrived: exit 128 + the signal, as shells report it.
class Interrupted : public Error {
 public:
  Interrupted(int signal_number, const std::string& message)
      : Error(static_cast<ExitStatus>(128 + signal_number), message) {}
};

/// The reader of our output went away (EPIPE on --tar or stdout): main()
/// ends the run as SIGPIPE would have, silently, as tar and cat do, once
/// everything temporary has been removed.
class OutputClosed : public Error {
 public:
  OutputClosed() : Error(static_cast<ExitStatus>(128 + 13), "the reader of the output went away") {}
};

/// A filesystem or I/O failure outside any one entry (exit 1).
class IoError : public Error {
 public:
  explicit IoError(const std::string& message) : Error(kExitIo, message) {}
};

}  // namespace undocker
