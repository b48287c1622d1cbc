// Times one step of the pipeline; shown with --debug, to explain what
// bench/ measures.
#pragma once

#include <chrono>

#include "util/log.hpp"

namespace undocker {

class StepTimer {
 public:
  explicit StepTimer(const char* name) : name_(name), start_(std::chrono::steady_clock::now()) {}
  ~StepTimer() {
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    log(LogLevel::kDebug, "step {} took {:.3f} s", name_, std::chrono::duration<double>(elapsed).count());
  }
  StepTimer(const StepTimer&) = delete;
  StepTimer& operator=(const StepTimer&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace undocker
