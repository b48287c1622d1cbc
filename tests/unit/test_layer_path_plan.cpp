// The plan of one path (--cat) against the whole plan: on random layer
// stacks of files, directories, symlinks (relative, absolute, climbing,
// looping), hardlinks, whiteouts and opaque markers, whatever the path plan
// finds as a regular file must be exactly what the whole plan finds there.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "layer/apply.hpp"
#include "layer/final_tree.hpp"
#include "layer/path_plan.hpp"
#include "support/random_layers.hpp"
#include "support/tar_builder.hpp"
#include "util/error.hpp"

namespace undocker::layer {

namespace {

using test::TarBuilder;
using test::random_layers;
using test::random_path;
using test::random_target;

std::optional<FinalTree> whole_plan(const std::vector<TarBuilder>& layers) {
  FinalTree tree;
  try {
    for (std::size_t index = 0; index < layers.size(); ++index) {
      MemorySource source(Bytes(layers[index].bytes().data(), layers[index].bytes().size()));
      apply_layer(source, index, "layer", tree, ApplyOptions{});
    }
  } catch (const Error&) {
    return std::nullopt;  // the whole plan fails: --cat reports that error
  }
  tree.finish();
  return tree;
}

// Layers written one after another into an anonymous file, 100 bytes in.
class LayersFile {
 public:
  explicit LayersFile(const std::vector<TarBuilder>& layers) : fd_(memfd_create("layers", MFD_CLOEXEC)) {
    REQUIRE(fd_ >= 0);
    std::uint64_t offset = 100;
    REQUIRE(pwrite(fd_, std::string(100, 'j').data(), 100, 0) == 100);
    for (const TarBuilder& layer : layers) {
      offsets_.push_back(offset);
      const auto size = static_cast<ssize_t>(layer.bytes().size());
      REQUIRE(pwrite(fd_, layer.bytes().data(), layer.bytes().size(), static_cast<off_t>(offset)) == size);
      offset += layer.bytes().size();
    }
  }
  ~LayersFile() { close(fd_); }
  LayersFile(const LayersFile&) = delete;
  LayersFile& operator=(const LayersFile&) = delete;
  FileRange range(std::size_t index) const { return FileRange{fd_, offsets_[index]}; }

 private:
  int fd_;
  std::vector<std::uint64_t> offsets_;
};

}  // namespace

TEST_SUITE_BEGIN("layer::path_plan");

TEST_CASE("the plan of one path finds exactly the file the whole plan finds, on random layer stacks") {
  std::mt19937 random(20261129);
  int files_found = 0;
  int whole_plans = 0;
  for (int round = 0; round < 6000; ++round) {
    const std::vector<TarBuilder> layers = random_layers(random);
    const std::optional<FinalTree> whole = whole_plan(layers);
    if (!whole) continue;
    ++whole_plans;
    std::vector<PathPlanLayer> plan_layers;
    for (const TarBuilder& layer : layers) {
      plan_layers.push_back(PathPlanLayer{Bytes(layer.bytes().data(), layer.bytes().size()), "layer", std::nullopt});
    }
    // The same layers, their headers read from a file that holds them one
    // after another (as an archive does), with a small pread window.
    const LayersFile file(layers);
    std::vector<PathPlanLayer> file_layers = plan_layers;
    for (std::size_t index = 0; index < layers.size(); ++index) file_layers[index].file = file.range(index);
    // Every name of the final tree, and paths through symlinks.
    std::vector<std::string> queries;
    whole->walk([&](const std::string& name, std::uint32_t) { queries.push_back(name); });
    for (int extra = 0; extra < 4; ++extra) queries.push_back(random_target(random));
    for (const std::string& path : queries) {
      const FinalTree::Lookup expected = whole->lookup(path, true);
      // Once read whole, once with every layer cut in pieces of 512 bytes
      // (a guess at every block that looks like a header), and once more
      // so with headers read from the file.
      for (const auto& variant : {std::pair{kPieceBytes, false}, std::pair{std::size_t{512}, false},
                                  std::pair{std::size_t{512}, true}}) {
        // Named copies: clang 14 refuses a structured binding inside the lambda of CAPTURE.
        const std::size_t piece = variant.first;
        const bool from_file = variant.second;
        CAPTURE(round);
        CAPTURE(path);
        CAPTURE(from_file);
        std::unique_ptr<FinalTree> planned;
        REQUIRE_NOTHROW(planned = plan_for_path(from_file ? file_layers : plan_layers, path, ApplyOptions{}, piece));
        if (!planned) continue;
        const FinalTree::Lookup found = planned->lookup(path, true);
        if (!found.found || planned->inode(found.inode).type != tar::EntryType::kFile) continue;
        // What --cat would print must be the whole plan's file.
        REQUIRE(expected.found);
        const TreeInode& want = whole->inode(expected.inode);
        const TreeInode& got = planned->inode(found.inode);
        CHECK(want.type == tar::EntryType::kFile);
        CHECK(found.clean_path == expected.clean_path);
        CHECK(got.layer == want.layer);
        CHECK(got.data_offset == want.data_offset);
        CHECK(got.stored_bytes == want.stored_bytes);
        CHECK(got.size_bytes == want.size_bytes);
        if (piece == kPieceBytes) ++files_found;
      }
    }
  }
  // The comparison must have had something to compare.
  CHECK(whole_plans > 1400);
  CHECK(files_found > 1500);
}

TEST_CASE("a piece guessed inside a file's data is read again from where the walk arrived") {
  // A file holding a tar of its own: its headers look like a layer's, and
  // the first one's size swallows the real entries after the file.
  TarBuilder inner;
  inner.add(test::Header{.name = "fake/big", .size = test::Number(1 << 20)}).file("fake/small", "x").end();
  const std::string inner_bytes(inner.bytes().begin(), inner.bytes().end());
  TarBuilder layer;
  layer.directory("etc/").file("etc/archive.tar", inner_bytes).file("etc/passwd", "root:x:0:0").end();
  const std::vector<PathPlanLayer> layers = {
      {Bytes(layer.bytes().data(), layer.bytes().size()), "layer", std::nullopt}};
  for (const std::size_t piece : {std::size_t{512}, std::size_t{1024}, kPieceBytes}) {
    CAPTURE(piece);
    const std::unique_ptr<FinalTree> tree = plan_for_path(layers, "/etc/passwd", ApplyOptions{}, piece);
    REQUIRE(tree);
    const FinalTree::Lookup found = tree->lookup("/etc/passwd", true);
    REQUIRE(found.found);
    CHECK(tree->inode(found.inode).size_bytes == 10);
    CHECK_FALSE(tree->lookup("fake/small", false).found);
  }
}

TEST_CASE("a symlink the archive made on the way leaves the choice to the whole plan") {
  TarBuilder bottom;
  bottom.symlink("lib", "usr/lib").directory("usr/").directory("usr/lib/").end();
  TarBuilder top;
  // Lands in usr/lib/libc.so through the symlink: not where it names.
  top.file("lib/libc.so", "elf").end();
  const std::vector<PathPlanLayer> layers = {
      {Bytes(bottom.bytes().data(), bottom.bytes().size()), "bottom", std::nullopt},
      {Bytes(top.bytes().data(), top.bytes().size()), "top", std::nullopt}};
  CHECK(plan_for_path(layers, "/usr/lib/libc.so", ApplyOptions{}) == nullptr);
}

TEST_CASE("a pax global header leaves the choice to the whole plan") {
  TarBuilder layer;
  layer.pax_global({{"uid", "7"}}).file("etc/passwd", "root").end();
  const std::vector<PathPlanLayer> layers = {
      {Bytes(layer.bytes().data(), layer.bytes().size()), "layer", std::nullopt}};
  CHECK(plan_for_path(layers, "/etc/passwd", ApplyOptions{}) == nullptr);
}

TEST_CASE("only the entries a path depends on are planned") {
  TarBuilder bottom;
  bottom.directory("etc/").file("etc/passwd", "root").file("etc/group", "wheel").directory("usr/")
      .file("usr/big", std::string(5000, 'b')).symlink("etc/os-release", "../usr/os-release").end();
  TarBuilder top;
  top.file("usr/os-release", "ID=test").file("usr/.wh.big", "").end();
  const std::vector<PathPlanLayer> layers = {
      {Bytes(bottom.bytes().data(), bottom.bytes().size()), "bottom", std::nullopt},
      {Bytes(top.bytes().data(), top.bytes().size()), "top", std::nullopt}};
  const std::unique_ptr<FinalTree> tree = plan_for_path(layers, "/etc/os-release", ApplyOptions{});
  REQUIRE(tree);
  const FinalTree::Lookup found = tree->lookup("/etc/os-release", true);
  REQUIRE(found.found);
  CHECK(found.clean_path == "usr/os-release");
  CHECK(tree->inode(found.inode).layer == 1);
  // etc/passwd and etc/group were not needed, so they are not in this plan.
  CHECK_FALSE(tree->lookup("etc/passwd", false).found);
  CHECK_FALSE(tree->lookup("usr/big", false).found);
}

TEST_SUITE_END();

}  // namespace undocker::layer
