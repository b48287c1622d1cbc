#include "layer/verify.hpp"

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::layer {

namespace {

void compare(std::string_view expected, const std::string& actual_hex, std::string_view member, std::string_view what) {
  const std::string actual = "sha256:" + actual_hex;
  if (!expected.starts_with("sha256:")) {
    throw FormatError(fmt::format("{}: unsupported digest algorithm in {}", escape(member), escape(expected)));
  }
  if (expected != actual) {
    throw DigestError(fmt::format("{}: {} mismatch: expected {}, got {}", escape(member), what, escape(expected), actual));
  }
}

}  // namespace

void verify_blob(Bytes blob, std::string_view digest, std::string_view member) {
  compare(digest, sha256_hex(blob), member, "digest");
}

void HashingSource::verify_rest(std::string_view diff_id, std::string_view member) {
  while (!read_some(std::size_t{1} << 20).empty()) {
  }
  const auto sum = hash_.finish();
  compare(diff_id, to_hex(sum), member, "diffID");
}

}  // namespace undocker::layer
