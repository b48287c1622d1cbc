// A scratch directory for one test case (ninja's ScopedTempDir, ccache's
// testdir): made under $TMPDIR, deleted when the test passed, kept and its
// path printed when an assertion failed or an exception escaped, so the tree
// can be inspected.
#pragma once

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace undocker::test {

/// Failed assertions in this run so far, counted by the listener below.
inline std::atomic<int>& failed_assertions() {
  static std::atomic<int> count{0};
  return count;
}

/// Counts failed assertions and test-case exceptions; reports nothing.
class FailureCounter : public doctest::IReporter {
 public:
  explicit FailureCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override { ++failed_assertions(); }
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData& data) override {
    if (data.m_failed) ++failed_assertions();
  }
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("undocker_failure_counter", 0, FailureCounter);

class ScopedTempDir {
 public:
  ScopedTempDir() : failures_at_start_(failed_assertions().load()) {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string pattern = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/undocker-unit-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path_ = buffer.data();
  }

  ~ScopedTempDir() {
    if (failed_assertions().load() != failures_at_start_ || std::uncaught_exceptions() > 0) {
      std::cerr << "kept scratch directory of the failed test: " << path_ << '\n';
      return;
    }
    remove_all_writable(path_);
  }

  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  // Extracted directories may be read-only (mode 0555, 0500): make each
  // one writable before it is emptied. Symlinks are never followed.
  static void remove_all_writable(const std::string& path) {
    namespace stdfs = std::filesystem;
    std::error_code error;
    for (stdfs::recursive_directory_iterator it(path, error), end; !error && it != end; it.increment(error)) {
      if (it->symlink_status().type() == stdfs::file_type::directory) {
        ::chmod(it->path().c_str(), 0700);
      }
    }
    stdfs::remove_all(path, error);
  }

  std::string path_;
  int failures_at_start_ = 0;
};

}  // namespace undocker::test
