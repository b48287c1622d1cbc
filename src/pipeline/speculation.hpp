// `… | undocker -o DIR`: layers applied while the archive still arrives.
//
// Writers put the layers before manifest.json / index.json (docker, podman,
// skopeo, crane), so the order is only known at the end. Meanwhile every
// outer member is read as soon as it is wholly spooled; one that looks like
// a layer (a tar, or gzip/zstd) is applied, in arrival order, into the
// staging directory (fs/output_dir.hpp) and hashed on another core. Once the
// archive is complete, the guess is kept only if the selected image's
// layers begin with exactly the members applied, digests and diffIDs
// included; otherwise the staging directory is emptied and the image
// applied the normal way from the complete spool. The tree is always the
// one the manifest describes; a wrong guess costs time, never correctness.
// Off unless UNDOCKER_SPECULATE=1: on 2 cores, applying while cat and the
// spool copy the input measured no faster than spooling first
// (bench/RESULTS.md, issue 14).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "archive/growing_spool.hpp"
#include "cli/options.hpp"
#include "fs/output_dir.hpp"
#include "fs/root.hpp"
#include "fs/writer.hpp"
#include "layer/blob_hasher.hpp"
#include "layer/decompress.hpp"
#include "pipeline/image_blobs.hpp"

namespace undocker {

class Speculation {
 public:
  /// Whether a run with these options may speculate: -o without -l,
  /// --path, --exclude, -i, --all or an inspecting mode, and
  /// UNDOCKER_SPECULATE=1.
  static bool applies(const cli::Options& options);

  /// destination must be staged (an empty tree of our own to guess into).
  Speculation(const cli::Options& options, fs::OutputDir& destination, archive::GrowingSpool& spool);
  ~Speculation();
  Speculation(const Speculation&) = delete;
  Speculation& operator=(const Speculation&) = delete;

  /// Reads and applies members until the input ends. Throws only
  /// Interrupted: anything else ends the guessing, and the normal path,
  /// reading the complete spool, reports it if it is an error there too.
  void run();

  /// With the complete archive mapped at `archive` (the spool's file) and
  /// the image's layers chosen: how many of `blobs`, from the bottom, are
  /// already applied and right, the writer then ready for the next one; or
  /// 0 after emptying the staging directory when the guess does not hold
  /// (-d says why). Throws Interrupted, or IoError if it cannot empty it.
  std::size_t keep_or_discard(const std::vector<LayerBlob>& blobs, Bytes archive, bool verify);

  fs::OutputDir& destination() { return destination_; }
  fs::RootDir& root() { return *root_; }
  fs::TreeWriter& writer() { return *writer_; }
  std::uint64_t entries() const { return entries_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  struct Guess {
    std::string member;
    std::uint64_t data_offset = 0;
    std::uint64_t size = 0;
    layer::Compression compression = layer::Compression::kNone;
    std::size_t hash_job = 0;  // the blob digest, from hasher_
    std::string diff_id;       // of a compressed blob: the digest of its tar
  };
  void consider(const std::string& member, std::uint64_t data_offset, std::uint64_t size);
  std::optional<std::string> mismatch(const std::vector<LayerBlob>& blobs, Bytes archive, bool verify);
  void discard();

  const cli::Options& options_;
  fs::OutputDir& destination_;
  archive::GrowingSpool& spool_;
  std::unique_ptr<fs::RootDir> root_;
  std::unique_ptr<fs::TreeWriter> writer_;
  std::vector<Guess> applied_;
  bool spoiled_ = false;  // a guess failed half-way: the tree is no prefix of anything
  std::uint64_t entries_ = 0;
  std::uint64_t bytes_ = 0;
  // Read by the hasher and the writer's workers, which the destructor
  // stops first.
  std::vector<archive::MappedRange> ranges_;
  std::vector<std::unique_ptr<archive::SpoolRangeSource>> streams_;
  std::unique_ptr<layer::BlobHasher> hasher_;
};

}  // namespace undocker
