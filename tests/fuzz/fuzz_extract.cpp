// libFuzzer: applies arbitrary bytes as a layer into a fresh temporary
// directory, then checks nothing appeared beside it; and plans the same
// bytes as the final tree in memory and writes it as a tar stream to
// /dev/null (the --tar path). Run it jailed (README.md, "Fuzzing"): it
// writes to disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "layer/apply.hpp"
#include "layer/decompress.hpp"
#include "layer/decoded_spool.hpp"
#include "layer/final_tree.hpp"
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
  // The scratch directory must hold nothing but out/.
  for (const auto& item : std::filesystem::directory_iterator(scratch)) {
    if (item.path().filename() != "out") std::abort();
  }
  return 0;
}
