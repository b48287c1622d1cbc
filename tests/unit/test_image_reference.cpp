// The reference grammar that --all checks names from an archive against
// before they name a directory (DIR/NAME/TAG, DIR/ID): the distribution
// project's, as Docker, containerd and podman enforce it.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "image/reference.hpp"

namespace undocker::image {

namespace {

struct Row {
  std::string_view text;
  bool valid;
  std::string_view why;
};

}  // namespace

TEST_CASE("reference: repository names") {
  const std::string max_name(255, 'a');
  const std::string long_name(256, 'a');
  const Row rows[] = {
      {"busybox", true, "a plain name"},
      {"docker.io/library/busybox", true, "registry, namespace, name"},
      {"localhost:5000/a/b", true, "a registry with a port"},
      {"localhost/a", true, "localhost is a registry"},
      {"127.0.0.1:5000/a", true, "an IPv4 registry with a port"},
      {"registry.example.com/team/app", true, "a dotted registry"},
      {"Example.COM/a", true, "a registry may hold capitals"},
      {"Bad/name", true, "a first component with a capital is a registry (docker's splitDockerDomain)"},
      {"my-registry.example.com:443/a", true, "a registry label may hold '-' inside"},
      {"a__b", true, "'__' separates"},
      {"a-----b", true, "a run of '-' separates"},
      {"a_b", true, "'_' separates"},
      {"a.b", true, "'.' separates"},
      {"a-b.c__d_e", true, "mixed separators"},
      {"0", true, "a digit alone"},
      {"a/b/c/d/e", true, "many path components"},
      {"x/latest/etc", true, "looks like a path, but every component is valid"},
      {max_name, true, "255 bytes"},
      {"", false, "empty"},
      {"A", false, "a capital"},
      {"Bad/Name", false, "a capital in a path component"},
      {"a.", false, "a separator at the end"},
      {".a", false, "a separator at the start"},
      {"-a", false, "'-' at the start"},
      {"a-", false, "'-' at the end"},
      {"_a", false, "'_' at the start"},
      {"a__-b", false, "'__' then '-' is not one separator"},
      {"a___b", false, "three '_' are not a separator"},
      {"a_-b", false, "'_' then '-'"},
      {"a..b", false, "'..' is not a separator"},
      {"x/a..b", false, "'..' inside a later component"},
      {"..", false, "the parent directory"},
      {".", false, "the current directory"},
      {"a/../b", false, "a '..' component"},
      {"a/./b", false, "a '.' component"},
      {"a//b", false, "an empty component"},
      {"a/", false, "a trailing '/'"},
      {"/a", false, "a leading '/'"},
      {"a b", false, "a space"},
      {"a\nb", false, "a control byte"},
      {"caf\xc3\xa9", false, "non-ASCII"},
      {"localhost:5000", false, "host:port without a path is not a repository"},
      {"x:a/b", false, "a port that is not a number"},
      {"example.com:/a", false, "an empty port"},
      {"-example.com/a", false, "a registry label starting with '-'"},
      {"example-.com/a", false, "a registry label ending with '-'"},
      {"exa_mple.com/a", false, "'_' in a registry"},
      {"example..com/a", false, "an empty registry label"},
      {"example.com/A", false, "a capital after the registry"},
      {"example.com/", false, "a registry and nothing else"},
      {long_name, false, "256 bytes"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    CAPTURE(row.why);
    CHECK(is_valid_repository(row.text) == row.valid);
  }
}

TEST_CASE("reference: tags") {
  const std::string max_tag = "v" + std::string(127, '1');
  const std::string long_tag = "v" + std::string(128, '1');
  const Row rows[] = {
      {"latest", true, "the default"},
      {"v1.2.3", true, "dots"},
      {"1.0-rc_2", true, "'-' and '_' inside"},
      {"_x", true, "'_' may start a tag"},
      {"A", true, "capitals are allowed in tags"},
      {"0", true, "one digit"},
      {"cron.d", true, "a dotted word"},
      {max_tag, true, "128 bytes"},
      {"", false, "empty"},
      {"-tag", false, "'-' at the start"},
      {".tag", false, "'.' at the start"},
      {".", false, "the current directory"},
      {"..", false, "the parent directory"},
      {"a/b", false, "a '/'"},
      {"a:b", false, "a ':'"},
      {"a b", false, "a space"},
      {"a\tb", false, "a control byte"},
      {"a@b", false, "an '@'"},
      {long_tag, false, "129 bytes"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    CAPTURE(row.why);
    CHECK(is_valid_tag(row.text) == row.valid);
  }
}

TEST_CASE("reference: image ids as directory names") {
  const Row rows[] = {
      {"beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a", true, "a sha256 hex digest"},
      {"511136ea3c5a", true, "a short legacy id"},
      {"abc_def", true, "a v1 id with '_'"},
      {"", false, "empty"},
      {".", false, "the current directory"},
      {"..", false, "the parent directory"},
      {"...", false, "dots only"},
      {".hidden", false, "a dot-file"},
      {"-x", false, "'-' at the start"},
      {"a/b", false, "a '/'"},
      {"sha256:abcd", false, "an algorithm prefix"},
      {"x y", false, "a space"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.text);
    CAPTURE(row.why);
    CHECK(is_valid_image_id(row.text) == row.valid);
  }
  CHECK_FALSE(is_valid_image_id(std::string(129, 'a')));
  CHECK(is_valid_image_id(std::string(128, 'a')));
}

}  // namespace undocker::image
