// The final tree's lookup (a container's view of a path), the --path and
// --exclude filter, and the --files listing, without a disk.
#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "layer/apply.hpp"
#include "layer/final_tree.hpp"
#include "layer/tree_filter.hpp"
#include "output/file_list.hpp"
#include "support/tar_builder.hpp"
#include "util/error.hpp"

namespace undocker::layer {

namespace {

using test::TarBuilder;

FinalTree plan_of(const std::vector<TarBuilder>& layers) {
  FinalTree tree;
  std::size_t index = 0;
  for (const TarBuilder& layer : layers) {
    MemorySource source(Bytes(layer.bytes().data(), layer.bytes().size()));
    apply_layer(source, index++, "layer", tree, ApplyOptions{});
  }
  tree.finish();
  return tree;
}

FinalTree sample() {
  TarBuilder bottom;
  bottom.directory("usr/").directory("usr/lib/").file("usr/lib/libc.so", "elf")
      .symlink("lib", "usr/lib").symlink("abs", "/usr/lib/libc.so").symlink("rel", "usr/../usr/lib/libc.so")
      .symlink("loop1", "loop2").symlink("loop2", "loop1").symlink("up", "../../../usr/lib/libc.so")
      .directory("etc/").file("etc/passwd", "root").file("etc/gone", "x").directory("var/").file("var/a.log", "l")
      .directory("var/cache/").file("var/cache/b.log", "l").file("var/cache/keep", "k").end();
  TarBuilder top;
  top.file("etc/.wh.gone", "").end();
  return plan_of({bottom, top});
}

std::vector<std::string> kept(const FinalTree& tree, const TreeFilter& filter) {
  std::vector<std::string> names;
  filter.walk(tree, [&](const std::string& path, std::uint32_t) { names.push_back(path); });
  return names;
}

}  // namespace

TEST_SUITE_BEGIN("layer::tree_filter");

TEST_CASE("lookup resolves symlinks inside the image root, as a container sees the path") {
  const FinalTree tree = sample();
  CHECK(tree.lookup("abs", true).clean_path == "usr/lib/libc.so");
  CHECK(tree.lookup("/rel", true).clean_path == "usr/lib/libc.so");
  CHECK(tree.lookup("lib/libc.so", false).clean_path == "usr/lib/libc.so");
  CHECK(tree.lookup("up", true).clean_path == "usr/lib/libc.so");  // ".." stops at the root
  CHECK(tree.lookup("../../etc/passwd", true).clean_path == "etc/passwd");
  CHECK(tree.lookup("lib", false).clean_path == "lib");  // the last component is not followed…
  CHECK(tree.lookup("lib/", false).clean_path == "usr/lib");  // …unless the path ends in '/'
  CHECK(tree.lookup("/", true).clean_path.empty());
  CHECK(tree.lookup("loop1", true).error == ELOOP);
  CHECK(tree.lookup("loop1", false).found);
  CHECK(tree.lookup("etc/gone", true).error == ENOENT);  // whited out
  CHECK(tree.lookup("etc/passwd/x", true).error == ENOTDIR);
  CHECK(tree.lookup("etc/passwd/", true).error == ENOTDIR);
  CHECK(tree.lookup(std::string(300, 'a'), true).error == ENAMETOOLONG);
}

TEST_CASE("--path keeps the subtree and the directories that lead to it") {
  const FinalTree tree = sample();
  CHECK(kept(tree, TreeFilter(tree, {"lib/"}, {})) == std::vector<std::string>{"", "usr", "usr/lib", "usr/lib/libc.so"});
  CHECK(kept(tree, TreeFilter(tree, {"/etc/passwd", "lib"}, {})) == std::vector<std::string>{"", "etc", "etc/passwd", "lib"});
  CHECK(kept(tree, TreeFilter(tree, {"/"}, {})).size() == kept(tree, TreeFilter()).size());
  CHECK_THROWS_AS(TreeFilter(tree, {"etc/gone"}, {}), NotFoundError);
}

TEST_CASE("--exclude: unanchored, '*' matches '/', a leading '/' anchors, trailing slashes ignored") {
  const FinalTree tree = sample();
  CHECK(kept(tree, TreeFilter(tree, {"var"}, {"*.log"})) == std::vector<std::string>{"", "var", "var/cache", "var/cache/keep"});
  CHECK(kept(tree, TreeFilter(tree, {"var"}, {"cache/"})) == std::vector<std::string>{"", "var", "var/a.log"});
  CHECK(kept(tree, TreeFilter(tree, {"var"}, {"v*e"})) == std::vector<std::string>{"", "var", "var/a.log"});
  CHECK(kept(tree, TreeFilter(tree, {"usr"}, {"lib"})) == std::vector<std::string>{"", "usr"});
  CHECK(kept(tree, TreeFilter(tree, {"usr"}, {"/lib"})) == std::vector<std::string>{"", "usr", "usr/lib", "usr/lib/libc.so"});
  CHECK(kept(tree, TreeFilter(tree, {}, {"*"})) == std::vector<std::string>{""});
}

TEST_CASE("--files: tar -tv --numeric-owner columns, quoting, and the widening owner/size column") {
  TarBuilder layer;
  layer.file("a", "1", 04755)
      .add(test::Header{.name = "b", .uid = 1234567, .gid = 1234567}, std::string(123456, 'x'))
      .file("c\nd\\e\x01\xc3\xa9\xff", "1", 01644)
      .symlink("s", "a")
      .hardlink("h", "a")
      .end();
  const FinalTree tree = plan_of({layer});
  std::FILE* out = std::tmpfile();
  REQUIRE(out);
  output::write_file_list(tree, TreeFilter(), {0}, false, out);
  std::rewind(out);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  CHECK(text ==
        "-rwsr-xr-x 0/0               1 1970-01-01 00:00 a\n"
        "-rw-r--r-- 1234567/1234567 123456 1970-01-01 00:00 b\n"
        "-rw-r--r-T 0/0                  1 1970-01-01 00:00 c\\nd\\\\e\\001\xc3\xa9\\377\n"
        "hrwsr-xr-x 0/0                  0 1970-01-01 00:00 h link to a\n"
        "lrwxrwxrwx 0/0                  0 1970-01-01 00:00 s -> a\n");
}

TEST_SUITE_END();

}  // namespace undocker::layer
