#include "util/interrupt.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "util/error.hpp"

namespace undocker {

namespace {

// How long the pipeline gets to unwind by itself after a signal.
constexpr auto kGracePeriod = std::chrono::seconds(2);

std::atomic<int> g_signal{0};
std::atomic<bool> g_stop_requested{false};
std::mutex g_paths_mutex;
std::vector<std::string> g_paths;

const char* signal_name(int signal_number) {
  switch (signal_number) {
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    default: return "SIGTERM";
  }
}

// "interrupted by SIGINT" (a user's ^C), "terminated by SIGTERM", "… SIGHUP".
const char* signal_verb(int signal_number) { return signal_number == SIGINT ? "interrupted" : "terminated"; }

// How a registered path is removed (a whole tree, never following a
// symlink): given by main, so that util/ needs nothing above it.
PathRemover g_remove_path = nullptr;

void remove_registered_paths() {
  std::lock_guard lock(g_paths_mutex);
  if (g_remove_path == nullptr) return;
  for (const std::string& path : g_paths) g_remove_path(path);
}

void watch(sigset_t signals) {
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  g_signal.store(signal_number);
  std::this_thread::sleep_for(kGracePeriod);
  // Still running: leave without the pipeline's help.
  remove_registered_paths();
  const std::string line =
      fmt::format("ERROR:undocker:{} by {}\n", signal_verb(signal_number), signal_name(signal_number));
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  _exit(128 + signal_number);
}

}  // namespace

void install_interrupt_handling(PathRemover remove_path) {
  g_remove_path = remove_path;
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread(watch, signals).detach();
}

int interrupting_signal() { return g_signal.load(std::memory_order_relaxed); }

void request_stop() { g_stop_requested.store(true); }
void clear_stop_request() { g_stop_requested.store(false); }
bool stop_requested() { return g_stop_requested.load(std::memory_order_relaxed); }

void check_interrupted() {
  const int signal_number = interrupting_signal();
  if (signal_number == 0) {
    if (stop_requested()) throw StopRequested();
    return;
  }
  throw Interrupted(signal_number, fmt::format("{} by {}", signal_verb(signal_number), signal_name(signal_number)));
}

TemporaryPath::TemporaryPath(std::string path) : path_(std::move(path)) {
  std::lock_guard lock(g_paths_mutex);
  g_paths.push_back(path_);
}

TemporaryPath::~TemporaryPath() {
  std::lock_guard lock(g_paths_mutex);
  g_paths.erase(std::remove(g_paths.begin(), g_paths.end(), path_), g_paths.end());
}

}  // namespace undocker
