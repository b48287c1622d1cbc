// Lexical cleaning of entry and member names, as a table (ninja's
// CanonicalizePath tests): what each raw name means relative to the output
// root, and which names climb out of it.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/path.hpp"

namespace undocker {

namespace {

struct CleanCase {
  std::string_view raw;
  std::optional<std::string_view> clean;  // nullopt: refused
};

// One cleaner serves both entries in a layer and members of the outer
// archive (MemberIndex), so one table covers both.
constexpr CleanCase kCleanCases[] = {
    {"a", "a"},
    {"a/b/c", "a/b/c"},
    {"./a", "a"},
    {"/a", "a"},
    {"//a", "a"},
    {"a//b", "a/b"},
    {"a///b//", "a/b"},
    {"a/./b", "a/b"},
    {"./././a", "a"},
    {"a/", "a"},
    {"a/b/", "a/b"},
    {"a/.", "a"},
    {"a/../b", "b"},
    {"a/b/../../c", "c"},
    {"a/./../b", "b"},
    {"a/..", ""},
    {"a/b/../..", ""},
    {".", ""},
    {"./", ""},
    {"/", ""},
    {"//", ""},
    {"/./", ""},
    {"", ""},
    {"..", std::nullopt},
    {"../a", std::nullopt},
    {"./..", std::nullopt},
    {"/..", std::nullopt},
    {"/../a", std::nullopt},
    {"a/../..", std::nullopt},
    {"a/../../b", std::nullopt},
    {"a/b/../../../c", std::nullopt},
    // Names that only look special.
    {"...", "..."},
    {"..a", "..a"},
    {"a..", "a.."},
    {".a", ".a"},
    {"a/.../b", "a/.../b"},
    {".wh..wh..opq", ".wh..wh..opq"},
    {"a\\..\\b", "a\\..\\b"},  // a backslash is an ordinary byte
    {"a b/c d", "a b/c d"},
};

}  // namespace

TEST_SUITE_BEGIN("util::path");

TEST_CASE("clean_entry_path table") {
  for (const CleanCase& sample : kCleanCases) {
    CAPTURE(sample.raw);
    const std::optional<std::string> clean = clean_entry_path(sample.raw);
    REQUIRE(clean.has_value() == sample.clean.has_value());
    if (clean) CHECK(*clean == *sample.clean);
  }
}

TEST_CASE("clean_entry_path: a cleaned path cleans to itself") {
  for (const CleanCase& sample : kCleanCases) {
    if (!sample.clean) continue;
    CAPTURE(sample.raw);
    CHECK(clean_entry_path(*sample.clean) == std::string(*sample.clean));
  }
}

TEST_CASE("is_clean_entry_path: true exactly when cleaning changes nothing") {
  const auto agrees = [](const std::string& raw) {
    CAPTURE(raw);
    const std::optional<std::string> clean = clean_entry_path(raw);
    CHECK(is_clean_entry_path(raw) == (clean && *clean == raw));
  };
  for (const CleanCase& sample : kCleanCases) agrees(std::string(sample.raw));
  // Every name of up to 7 bytes over the bytes that matter to cleaning.
  std::vector<std::string> names{""};
  for (std::size_t first = 0, length = 0; length < 7; ++length) {
    const std::size_t last = names.size();
    for (std::size_t i = first; i < last; ++i) {
      for (const char byte : {'a', '.', '/'}) names.push_back(names[i] + byte);
    }
    first = last;
  }
  for (const std::string& name : names) agrees(name);
}

TEST_CASE("clean_entry_path: long and deep names") {
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "d/";
  CHECK(clean_entry_path(deep + "f") == deep + "f");
  std::string climb = deep;
  for (int i = 0; i < 1000; ++i) climb += "../";
  CHECK(clean_entry_path(climb + "f") == "f");
  CHECK(clean_entry_path(climb + "../f") == std::nullopt);
}

TEST_CASE("split_parent") {
  using Parts = std::pair<std::string_view, std::string_view>;
  CHECK(split_parent("a/b/c") == Parts{"a/b", "c"});
  CHECK(split_parent("a/b") == Parts{"a", "b"});
  CHECK(split_parent("c") == Parts{"", "c"});
  CHECK(split_parent("") == Parts{"", ""});
  CHECK(split_parent(".wh.x/.wh..wh..opq") == Parts{".wh.x", ".wh..wh..opq"});
}

TEST_CASE("is_same_or_below") {
  CHECK(is_same_or_below("a", "a"));
  CHECK(is_same_or_below("a/b", "a"));
  CHECK(is_same_or_below("a/b/c", "a"));
  CHECK(is_same_or_below("a/b/c", "a/b"));
  CHECK(is_same_or_below("anything", ""));
  CHECK(is_same_or_below("", ""));
  CHECK_FALSE(is_same_or_below("ab", "a"));
  CHECK_FALSE(is_same_or_below("a-b", "a"));
  CHECK_FALSE(is_same_or_below("a", "a/b"));
  CHECK_FALSE(is_same_or_below("b/a", "a"));
  CHECK_FALSE(is_same_or_below("", "a"));
  CHECK_FALSE(is_same_or_below("a/bc", "a/b"));
}

TEST_SUITE_END();

}  // namespace undocker
