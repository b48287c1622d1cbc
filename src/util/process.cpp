#include "util/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace undocker {

bool process_alive(pid_t pid) {
  if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)) return false;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;  // no /proc: alive, as kill(2) said
  char stat_line[256] = {};
  const ssize_t count = read(fd, stat_line, sizeof stat_line - 1);
  close(fd);
  if (count <= 0) return true;
  const char* state = std::strrchr(stat_line, ')');  // "PID (COMM) STATE ...": COMM may hold ')'
  return state == nullptr || state[1] == '\0' || state[2] != 'Z';
}

}  // namespace undocker
