// The command line: what parses, and the exact usage error of what does
// not (the option as typed, one line, the pointer to --help).
#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "cli/options.hpp"
#include "util/error.hpp"

namespace undocker::cli {

namespace {

// Every run names an archive: a terminal on the test's stdin must not matter.
Options parse(std::initializer_list<const char*> words) {
  std::vector<std::string> storage{"undocker", "-f", "image.tar"};
  storage.insert(storage.end(), words.begin(), words.end());
  std::vector<char*> argv;
  for (std::string& word : storage) argv.push_back(word.data());
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

std::string usage_error_of(std::initializer_list<const char*> words) {
  try {
    parse(words);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST_SUITE_BEGIN("cli::options");

TEST_CASE("short groups, attached arguments and long forms parse as getopt does") {
  const Options options = parse({"-vWfother.tar", "--output=out", "-l", "0", "-l1"});
  CHECK(options.archive == "other.tar");
  CHECK(options.output == "out");
  CHECK(options.layer_ids == std::vector<std::string>{"0", "1"});
  CHECK(options.no_whiteouts);
  CHECK(options.log_level == LogLevel::kInfo);
  CHECK(parse({"--ls"}).list);
}

TEST_CASE("usage errors name the option as typed") {
  CHECK(usage_error_of({"--frobnicate"}) == "unknown option --frobnicate (see undocker --help)");
  CHECK(usage_error_of({"-vqx"}) == "unknown option -x (see undocker --help)");
  CHECK(usage_error_of({"-o"}) == "option -o needs an argument (see undocker --help)");
  CHECK(usage_error_of({"--json=yes"}) == "option --json takes no argument (see undocker --help)");
  CHECK(usage_error_of({"-q", "--verbose"}) == "-q and --verbose exclude each other (see undocker --help)");
  CHECK(usage_error_of({"--ls", "-o", "x"}) ==
        "-o cannot be used with --ls, which lists the images and extracts nothing (see undocker --help)");
  CHECK(usage_error_of({"--all", "busybox"}) ==
        "IMAGE busybox cannot be used with --all, which extracts every image (see undocker --help)");
  CHECK(usage_error_of({"-o", "/"}) == "refusing to extract into -o /, which is / (see undocker --help)");
  CHECK(usage_error_of({"-o", "//.."}) == "refusing to extract into -o //.., which is / (see undocker --help)");
}

TEST_CASE("an option's argument may start with a dash; -- ends the options") {
  CHECK(parse({"-o", "-v"}).output == "-v");
  CHECK(parse({"-o", "x", "--", "-image"}).image == "-image");
}

TEST_CASE("--help wins over conflicts, not over unknown options") {
  CHECK(parse({"--help", "-q", "-v"}).help);
  CHECK(usage_error_of({"--help", "--bogus"}) == "unknown option --bogus (see undocker --help)");
}

TEST_CASE("--files and --cat check layer digests only with --verify; extraction always unless --no-verify") {
  CHECK(parse({"-o", "x"}).verify);
  CHECK_FALSE(parse({"-o", "x", "--no-verify"}).verify);
  CHECK_FALSE(parse({"--files"}).verify);
  CHECK(parse({"--files"}).verify_metadata);
  CHECK(parse({"--cat", "/etc/passwd", "--verify"}).verify);
  CHECK_FALSE(parse({"--files", "--no-verify"}).verify_metadata);
  CHECK(parse({"--files", "--path", "a", "--path", "b", "--exclude", "*.log"}).paths == std::vector<std::string>{"a", "b"});
}

TEST_CASE("inspection options that make no sense together are refused") {
  CHECK(usage_error_of({"--cat", "a", "-o", "x"}) ==
        "-o cannot be used with --cat, which writes one file to standard output and extracts nothing (see undocker --help)");
  CHECK(usage_error_of({"--files", "--tar", "-"}) ==
        "--tar cannot be used with --files, which lists the image's final tree and extracts nothing (see undocker --help)");
  CHECK(usage_error_of({"--files", "--cat", "a"}) == "--files and --cat exclude each other (see undocker --help)");
  CHECK(usage_error_of({"--verify", "--no-verify", "--files"}) ==
        "--verify and --no-verify exclude each other (see undocker --help)");
  CHECK(usage_error_of({"--verify", "-o", "x"}) ==
        "--verify is for --files and --cat: extraction and --tar verify every digest by default (see undocker --help)");
  CHECK(usage_error_of({"--cat", "a", "--path", "b"}) ==
        "--path cannot be used with --cat, which names the one file to write (see undocker --help)");
  CHECK(usage_error_of({"--cat", ""}) == "--cat needs a path in the image (see undocker --help)");
  CHECK(usage_error_of({"--exclude="}) == "--exclude needs a pattern (see undocker --help)");
}

TEST_SUITE_END();

}  // namespace undocker::cli
