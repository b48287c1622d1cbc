// libFuzzer: applies arbitrary bytes as a layer into a fresh temporary
// directory, then checks nothing appeared beside it; and plans the same
// bytes as the final tree in memory and writes it as a tar stream to
// /dev/null (the --tar path); and checks the plan of one path (--cat)
// against the whole plan. Run it jailed (README.md, "Fuzzing"): it
// writes to disk.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "layer/apply.hpp"
#include "layer/decompress.hpp"
#include "layer/decoded_spool.hpp"
#include "layer/final_tree.hpp"
#include "layer/path_plan.hpp"
#include "output/tar_sink.hpp"
#include "util/error.hpp"

namespace {

std::string make_scratch() {
  static std::string base = [] {
    std::string pattern = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + std::string("/fuzz-extract-XXXXXX");
    if (!mkdtemp(pattern.data())) std::abort();
    return pattern;
  }();
  return base;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string scratch = make_scratch();
  const std::string out = scratch + "/out";
  std::filesystem::remove_all(out);
  try {
    undocker::fs::RootDir root(out);
    // One file worker: the pool's hand-over and failure paths are fuzzed too.
    undocker::fs::TreeWriter writer(root, undocker::fs::WriterOptions{false, false, true, 1});
    std::unique_ptr<undocker::ByteSource> source =
        undocker::layer::open_decompressed(undocker::Bytes(data, size), "fuzz-layer");
    undocker::layer::apply_layer(*source, 0, "fuzz-layer", writer, undocker::layer::ApplyOptions{true, true});
    writer.finish();
  } catch (const undocker::Error&) {
  }
  try {
    undocker::layer::FinalTree tree;
    std::unique_ptr<undocker::ByteSource> source =
        undocker::layer::open_decompressed(undocker::Bytes(data, size), "fuzz-layer");
    undocker::layer::SpoolingSource spool(*source, "fuzz-layer");
    undocker::layer::apply_layer(spool, 0, "fuzz-layer", tree, undocker::layer::ApplyOptions{true, true});
    tree.finish();
    const std::vector<undocker::output::TarSinkLayer> layers{{spool.finish(), "fuzz-layer"}};
    static const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    undocker::output::write_tree_tar(tree, layers, null_fd, [] {});
  } catch (const undocker::Error&) {
  }
  // The plan of one path (--cat) against the whole plan, on the bytes
  // stacked twice as two layers (the second one whiting out, replacing and
  // linking into the first): every regular file it finds must be the one
  // the whole plan finds.
  // (Where the whole plan fails, --cat fails with it; where it succeeds, the
  // plan of one path must not fail.)
  const undocker::Bytes bytes(data, size);
  undocker::layer::FinalTree whole;
  bool whole_planned = true;
  try {
    for (std::size_t index = 0; index < 2; ++index) {
      undocker::MemorySource source(bytes);
      undocker::layer::apply_layer(source, index, "fuzz-layer", whole, undocker::layer::ApplyOptions{});
    }
    whole.finish();
  } catch (const undocker::Error&) {
    whole_planned = false;
  }
  if (whole_planned) {
    std::vector<std::string> paths;
    whole.walk([&](const std::string& path, std::uint32_t) {
      if (paths.size() < 32) paths.push_back(path);
    });
    // The top layer's headers are read from a file holding the bytes 100
    // bytes in (pread, as from an archive), the bottom one's from memory.
    static const int layer_file = memfd_create("fuzz-layer", MFD_CLOEXEC);
    if (layer_file < 0 || ftruncate(layer_file, 0) != 0 ||
        pwrite(layer_file, data, size, 100) != static_cast<ssize_t>(size)) {
      std::abort();
    }
    const std::vector<undocker::layer::PathPlanLayer> layers{
        {bytes, "fuzz-layer", std::nullopt}, {bytes, "fuzz-layer", undocker::FileRange{layer_file, 100}}};
    for (const std::string& path : paths) {
      std::unique_ptr<undocker::layer::FinalTree> planned;
      try {
        planned = undocker::layer::plan_for_path(layers, path, undocker::layer::ApplyOptions{}, 512);
      } catch (const undocker::Error&) {
        std::abort();
      }
      if (!planned) continue;
      const undocker::layer::FinalTree::Lookup found = planned->lookup(path, true);
      if (!found.found || planned->inode(found.inode).type != undocker::tar::EntryType::kFile) continue;
      const undocker::layer::FinalTree::Lookup expected = whole.lookup(path, true);
      if (!expected.found || expected.clean_path != found.clean_path) std::abort();
      const undocker::layer::TreeInode& want = whole.inode(expected.inode);
      const undocker::layer::TreeInode& got = planned->inode(found.inode);
      if (want.type != got.type || want.layer != got.layer || want.data_offset != got.data_offset ||
          want.stored_bytes != got.stored_bytes || want.size_bytes != got.size_bytes) {
        std::abort();
      }
    }
  }
  // The scratch directory must hold nothing but out/.
  for (const auto& item : std::filesystem::directory_iterator(scratch)) {
    if (item.path().filename() != "out") std::abort();
  }
  return 0;
}
