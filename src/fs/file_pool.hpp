// Finishing regular files on worker threads. Creating a file (its name in
// the tree) stays on the main thread, in archive order; writing its data
// and setting owner, mode, xattrs and mtime through the open descriptor is
// independent of every other entry, so it runs on both cores. Only data
// that stays valid for the whole run (a view of the mapped archive) is
// handed over, or data in a decoder's chunk that is pinned until written.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fs/fd.hpp"
#include "tar/reader.hpp"
#include "util/batched_wake.hpp"
#include "util/bytes.hpp"

namespace undocker::fs {

/// A created, still empty file and everything needed to finish it.
struct PendingFile {
  Fd fd;
  Bytes data;  // the whole data (the segments, in order, for a sparse file)
  // A compressed layer's small file may span two decoder chunks: data is
  // then its first part and data_rest the second, each kept valid by a pin
  // (null for views of the mapped archive). Not for sparse files.
  Bytes data_rest;
  std::shared_ptr<const void> data_pins[2];
  std::optional<tar::SparseMap> sparse;
  std::uint32_t mode = 0;
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  tar::Timestamp mtime;
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::string clean_path;
  std::string layer_name;  // prefixes errors
};

/// A numeric owner.
struct Owner {
  std::int64_t uid = 0;
  std::int64_t gid = 0;
  bool operator==(const Owner&) const = default;
};

struct FinishOptions {
  bool set_owner = false;
  bool privileged = false;
  bool ignore_errors = false;
  // Set when the file's data need not be written any more (the run failed
  // elsewhere): finish_file then stops within one write step and throws
  // FinishAbandoned. Also stops on a signal (throws Interrupted).
  const std::atomic<bool>* abandoned = nullptr;
  // Set when every entry this run creates belongs to this owner from the
  // start (TreeWriter::owner_on_create): a chown to it is skipped.
  std::optional<Owner> owner_on_create;
};

/// Whether an entry just created must be chowned to become uid:gid.
inline bool needs_chown(const FinishOptions& options, std::int64_t uid, std::int64_t gid) {
  return options.set_owner && options.owner_on_create != Owner{uid, gid};
}

/// What finish_file throws when `abandoned` was set: never reported, the
/// failure that set it is.
struct FinishAbandoned {};

/// Sets each xattr on fd. Unprivileged, refused ones are skipped with one
/// warning per run; anything else throws EntryError naming the path.
void set_xattrs(int fd, const std::vector<std::pair<std::string, std::string>>& xattrs, std::string_view clean_path,
                const FinishOptions& options);

/// The same for the symlink `leaf` in parent_fd (the link itself).
void set_symlink_xattrs(int parent_fd, const std::string& leaf,
                        const std::vector<std::pair<std::string, std::string>>& xattrs, std::string_view clean_path,
                        const FinishOptions& options);

/// Writes data, owner, mode (after chown: setuid survives), xattrs and
/// mtime. Throws EntryError or IoError naming the path (see also
/// FinishOptions::abandoned).
void finish_file(PendingFile& file, const FinishOptions& options);

/// Workers that finish files. The first failure of any kind (an Error, or
/// std::bad_alloc, std::system_error, …), or a signal, ends the pool's work:
/// queued files are dropped, a file being written stops within one write
/// step, and submit(), drain() and check() rethrow that failure. Destroying
/// the pool without drain() (the pipeline failed) drops the queue the same
/// way.
class FilePool {
 public:
  /// What a worker does with a file: finish_file, or a test's stand-in.
  using Finish = std::function<void(PendingFile&, const FinishOptions&)>;

  FilePool(unsigned threads, FinishOptions options, Finish finish = finish_file);
  ~FilePool();
  FilePool(const FilePool&) = delete;
  FilePool& operator=(const FilePool&) = delete;

  /// Queues a file; blocks while too many are in flight (each holds an fd).
  /// Rethrows a worker's failure, if one happened.
  void submit(PendingFile file);

  /// Waits until every queued file is finished; rethrows the first failure.
  void drain();

  /// Rethrows a worker's failure, if one happened (cheap: call per entry).
  void check();

 private:
  void work();
  void rethrow_failure();
  void fail(std::exception_ptr failure);  // under mutex_: the first one wins
  void stop_work();

  FinishOptions options_;
  Finish finish_;
  std::mutex mutex_;
  std::condition_variable has_work_;
  std::condition_variable has_room_;
  std::condition_variable idle_;
  std::deque<PendingFile> queue_;
  BatchedWake wake_{16, 2};  // files; distinct decoder chunks their data pins
  std::size_t busy_ = 0;
  bool stopping_ = false;
  std::atomic<bool> abandoned_{false};  // failed or stopping: drop the work
  std::exception_ptr failure_;
  std::vector<std::thread> workers_;
};

}  // namespace undocker::fs
