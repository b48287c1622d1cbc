// SIGINT, SIGTERM and SIGHUP end a run cleanly: a thread of our own waits for them
// (they are blocked everywhere else), the pipeline notices the flag between
// entries and unwinds, so temporary files and directories are removed by
// their owners as on any error. If the pipeline does not unwind within a
// grace period (a blocking read, a huge file), that thread removes the
// registered temporary paths itself and exits.
#pragma once

#include <string>

#include "util/error.hpp"

namespace undocker {

/// Removes the file or tree at a registered path, never following a symlink.
using PathRemover = void (*)(const std::string& path);

/// Blocks SIGINT/SIGTERM/SIGHUP in this thread (and every thread it starts
/// later) and starts the watcher, which removes the registered paths with
/// remove_path if it must end the run itself. Call once, early in main,
/// before other threads.
void install_interrupt_handling(PathRemover remove_path);

/// Throws Interrupted if a signal arrived, or StopRequested if another
/// thread asked the pipeline to stop.
void check_interrupted();

/// A helper thread found a failure the pipeline cannot see (a blob digest
/// mismatch): the pipeline stops at its next check_interrupted(), and the
/// helper's owner, catching StopRequested, reports the real error. Cleared
/// by clear_stop_request().
void request_stop();
void clear_stop_request();
bool stop_requested();

/// The signal that interrupted the run, or 0.
int interrupting_signal();

/// What check_interrupted() throws after request_stop(); never reported
/// as such (its message says so if it ever were).
class StopRequested : public Error {
 public:
  StopRequested() : Error(kExitIo, "stopped after a failure on another thread") {}
};

/// Keeps `path` on the list the watcher deletes (a whole tree) if it must
/// exit on its own; the owner removes it normally and then unregisters.
class TemporaryPath {
 public:
  explicit TemporaryPath(std::string path);
  ~TemporaryPath();
  TemporaryPath(const TemporaryPath&) = delete;
  TemporaryPath& operator=(const TemporaryPath&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace undocker
