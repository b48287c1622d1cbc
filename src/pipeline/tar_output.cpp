#include "pipeline/tar_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "fs/fd.hpp"
#include "fs/output_dir.hpp"
#include "layer/apply.hpp"
#include "layer/decoded_spool.hpp"
#include "layer/final_tree.hpp"
#include "layer/verify.hpp"
#include "pipeline/image_blobs.hpp"
#include "pipeline/plan_tree.hpp"
#include "output/tar_sink.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/step_timer.hpp"

namespace undocker {

namespace {

// Where the stream goes: stdout, a FIFO or device as it is, or a regular
// file built under a temporary name beside it and renamed when complete.
class TarDestination {
 public:
  explicit TarDestination(const std::string& path) : display_(path) {
    if (path == "-") {
      if (isatty(STDOUT_FILENO)) {
        throw UsageError("refusing to write a tar stream to a terminal; redirect it or use --tar FILE");
      }
      fd_ = fs::Fd(fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
      if (!fd_.valid()) fail(errno);
      return;
    }
    struct stat st {};
    const bool exists = stat(path.c_str(), &st) == 0;
    struct stat link {};
    const bool is_symlink = lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode);
    if ((exists && !S_ISREG(st.st_mode)) || is_symlink) {
      // The user's FIFO, device or symlink: written through, as tar -f does.
      fd_ = fs::Fd(open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
      if (!fd_.valid()) fail(errno);
      return;
    }
    place_ = fs::place_of_user_path(path);
    temporary_ = fmt::format(".{}.undocker-partial-{}", place_.leaf.size() > 200 ? "tar" : place_.leaf, getpid());
    unlinkat(place_.parent.get(), temporary_.c_str(), 0);
    fd_ = fs::Fd(openat(place_.parent.get(), temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        0644));
    if (!fd_.valid()) fail(errno);
    registered_.emplace(place_.parent_display == "." ? temporary_ : place_.parent_display + "/" + temporary_);
  }

  ~TarDestination() {
    if (!temporary_.empty() && !committed_) unlinkat(place_.parent.get(), temporary_.c_str(), 0);
  }

  int fd() const { return fd_.get(); }

  void commit() {
    if (temporary_.empty()) return;
    if (fsync(fd_.get()) != 0 && errno != EINVAL) fail(errno);
    if (renameat(place_.parent.get(), temporary_.c_str(), place_.parent.get(), place_.leaf.c_str()) != 0) fail(errno);
    committed_ = true;
  }

 private:
  [[noreturn]] void fail(int error) const {
    throw IoError(fmt::format("cannot write {}: {}", escape(display_), std::strerror(error)));
  }

  std::string display_;
  fs::Fd fd_;
  fs::OutputPlace place_;
  std::string temporary_;
  bool committed_ = false;
  std::optional<TemporaryPath> registered_;
};

}  // namespace

UnpackSummary stream_image_as_tar(const cli::Options& options, const archive::MemberIndex& index,
                                  const image::SelectedImage& selected, const std::vector<std::size_t>& layer_indices) {
  const auto start = std::chrono::steady_clock::now();
  log(LogLevel::kInfo, "streaming image {} ({}) as a tar", escape(selected.display_name), escape(selected.image->id));
  if (options.verify_metadata) verify_metadata(index, *selected.image);
  const std::vector<LayerBlob> blobs = find_layer_blobs(index, *selected.image, layer_indices);
  TarDestination destination(options.tar_output);
  UnpackSummary summary{selected.display_name, selected.image->id, options.tar_output, blobs.size(), 0, 0, 0};

  layer::BlobVerifier verifier;
  if (options.verify) queue_blob_digests(blobs, verifier);
  verifier.start();
  try {
    // The plan: every layer applied in memory, by the rules the directory
    // writer follows. Only headers are read; a compressed layer is decoded
    // once, its diffID checked on the way, and kept (layer/decoded_spool)
    // for the data the stream reads in tree order.
    const std::unique_ptr<PlannedTree> planned = plan_tree(options, blobs, LayerData::kKept);
    summary.entries = planned->entries;
    summary.bytes = planned->bytes;
    const layer::TreeFilter filter(planned->tree, options.paths, options.excludes);
    StepTimer timer("write_tar");
    // The end blocks only once every digest matched: a stream from a
    // corrupt archive is never complete.
    output::write_tree_tar(planned->tree, planned->layers, destination.fd(), [&] { verifier.finish(); }, filter);
    destination.commit();
  } catch (const Error& error) {
    // The first error, or the mismatch of the blob being read, which
    // explains it (layer/blob_verifier.hpp).
    verifier.throw_instead_of(error);
    throw;
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log(LogLevel::kInfo, "streamed image {} ({}) to {}: {} layers, {} entries in {:.2f} s", escape(summary.image),
      escape(summary.id), escape(summary.output), summary.layers, summary.entries, summary.seconds);
  return summary;
}

}  // namespace undocker
