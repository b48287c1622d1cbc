// Names the calling thread (15 characters at most, the kernel's limit), so
// that `perf`, `top -H` and /proc/PID/task/*/comm tell undocker's threads
// apart when a profile asks where the time goes (bench/RESULTS.md).
#pragma once

#include <pthread.h>

namespace undocker {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace undocker
