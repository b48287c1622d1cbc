#include "pipeline/inspect_output.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "layer/blob_verifier.hpp"
#include "layer/decompress.hpp"
#include "layer/path_plan.hpp"
#include "layer/tree_filter.hpp"
#include "output/file_list.hpp"
#include "pipeline/image_blobs.hpp"
#include "pipeline/plan_tree.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/knobs.hpp"
#include "util/log.hpp"
#include "util/step_timer.hpp"

namespace undocker {

namespace {

// The plan of the final tree from headers alone; with --verify, every
// selected layer hashed (and a compressed one's diffID checked) first.
std::unique_ptr<PlannedTree> plan_for_inspection(const cli::Options& options, const std::vector<LayerBlob>& blobs) {
  layer::BlobVerifier verifier;
  if (options.verify) queue_blob_digests(blobs, verifier);
  verifier.start();
  std::unique_ptr<PlannedTree> planned;
  try {
    planned = plan_tree(options, blobs, LayerData::kHeadersOnly);
  } catch (const Error& error) {
    verifier.throw_instead_of(error);
    throw;
  }
  StepTimer timer("verify_layers");
  verifier.finish();
  return planned;
}

// The plan of what raw_path depends on (layer/path_plan), when every
// selected layer is an uncompressed tar read in place and nothing asks for
// the whole plan; null otherwise, or when the path names no regular file.
std::unique_ptr<layer::FinalTree> plan_for_path(const cli::Options& options, const std::vector<LayerBlob>& blobs,
                                                const std::string& raw_path) {
  if (options.verify || !knobs().path_plan) return nullptr;
  std::vector<layer::PathPlanLayer> layers;
  for (const LayerBlob& item : blobs) {
    if (item.compression != layer::Compression::kNone) return nullptr;
    layers.push_back(layer::PathPlanLayer{item.blob, item.layer->member, item.file});
  }
  StepTimer timer("plan_path");
  layer::ApplyOptions apply_options{!options.no_whiteouts, options.ignore_errors};
  apply_options.uid_shift = options.uid_shift;
  std::unique_ptr<layer::FinalTree> tree = layer::plan_for_path(layers, raw_path, apply_options);
  if (!tree) return nullptr;
  const layer::FinalTree::Lookup found = tree->lookup(raw_path, true);
  if (!found.found || tree->inode(found.inode).type != tar::EntryType::kFile) return nullptr;
  return tree;
}

void write_fully(const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    check_interrupted();
    const ssize_t count = write(STDOUT_FILENO, data, size);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0 && errno == EPIPE) throw OutputClosed();
    if (count <= 0) throw IoError(fmt::format("cannot write to standard output: {}", std::strerror(count < 0 ? errno : EIO)));
    data += count;
    size -= static_cast<std::size_t>(count);
  }
}

void write_zeros(std::uint64_t size) {
  static const std::uint8_t zeros[64 * 1024] = {};
  while (size > 0) {
    const std::size_t count = size < sizeof zeros ? static_cast<std::size_t>(size) : sizeof zeros;
    write_fully(zeros, count);
    size -= count;
  }
}

// A file's stored bytes, in order, from wherever the layer keeps them.
class StoredData {
 public:
  virtual ~StoredData() = default;
  /// Writes the next `size` stored bytes to stdout.
  virtual void copy(std::uint64_t size) = 0;
};

// An uncompressed layer: the member's bytes are a view of the mapping.
class MappedData final : public StoredData {
 public:
  explicit MappedData(Bytes data) : data_(data) {}
  void copy(std::uint64_t size) override {
    write_fully(data_.data() + taken_, static_cast<std::size_t>(size));
    taken_ += static_cast<std::size_t>(size);
  }

 private:
  Bytes data_;
  std::size_t taken_ = 0;
};

// A compressed layer: decoded again from its start, as far as the file.
class DecodedData final : public StoredData {
 public:
  DecodedData(const LayerBlob& item, std::uint64_t data_offset, const std::string& name)
      : source_(layer::open_decompressed(item.blob, item.layer->member)), member_(item.layer->member), name_(name) {
    while (source_->position() < data_offset) {
      check_interrupted();
      const std::uint64_t left = data_offset - source_->position();
      if (source_->read_some(left < kPieceBytes ? static_cast<std::size_t>(left) : kPieceBytes).empty()) ended();
    }
  }
  void copy(std::uint64_t size) override {
    while (size > 0) {
      const Bytes piece = source_->read_some(size < kPieceBytes ? static_cast<std::size_t>(size) : kPieceBytes);
      if (piece.empty()) ended();
      write_fully(piece.data(), piece.size());
      size -= piece.size();
    }
  }

 private:
  static constexpr std::size_t kPieceBytes = std::size_t{1} << 20;
  [[noreturn]] void ended() const {
    throw FormatError(fmt::format("{}: {}: the layer ends before the file's data", escape(member_), escape(name_)));
  }
  std::unique_ptr<ByteSource> source_;
  std::string member_;
  std::string name_;
};

const char* kind_of(tar::EntryType type) {
  switch (type) {
    case tar::EntryType::kDirectory: return "a directory";
    case tar::EntryType::kCharDevice: return "a character device";
    case tar::EntryType::kBlockDevice: return "a block device";
    case tar::EntryType::kFifo: return "a FIFO";
    case tar::EntryType::kSymlink: return "a symlink";
    case tar::EntryType::kHardlink:
    case tar::EntryType::kFile: break;
  }
  return "a file";
}

}  // namespace

void list_files(const cli::Options& options, const archive::MemberIndex& index, const image::SelectedImage& selected,
                const std::vector<std::size_t>& layer_indices) {
  log(LogLevel::kInfo, "listing image {} ({})", escape(selected.display_name), escape(selected.image->id));
  if (options.verify_metadata) verify_metadata(index, *selected.image);
  const std::vector<LayerBlob> blobs = find_layer_blobs(index, *selected.image, layer_indices);
  const std::unique_ptr<PlannedTree> planned = plan_for_inspection(options, blobs);
  const layer::TreeFilter filter(planned->tree, options.paths, options.excludes);
  StepTimer timer("write_list");
  output::write_file_list(planned->tree, filter, layer_indices, options.json, stdout);
}

void cat_file(const cli::Options& options, const archive::MemberIndex& index, const image::SelectedImage& selected,
              const std::vector<std::size_t>& layer_indices) {
  const std::string& raw_path = *options.cat_path;
  log(LogLevel::kInfo, "reading {} from image {} ({})", escape(raw_path), escape(selected.display_name),
      escape(selected.image->id));
  if (options.verify_metadata) verify_metadata(index, *selected.image);
  const std::vector<LayerBlob> blobs = find_layer_blobs(index, *selected.image, layer_indices);
  // Most often only what the path depends on is planned; where that
  // cannot be, or finds no file (the whole plan words the error), the
  // whole tree is.
  std::unique_ptr<layer::FinalTree> path_tree = plan_for_path(options, blobs, raw_path);
  std::unique_ptr<PlannedTree> planned;
  if (!path_tree) planned = plan_for_inspection(options, blobs);
  const layer::FinalTree& tree = path_tree ? *path_tree : planned->tree;
  // As the container would open it: every symlink followed inside the root.
  const layer::FinalTree::Lookup found = tree.lookup(raw_path, true);
  if (!found.found) throw NotFoundError(fmt::format("--cat {}: {}", escape(raw_path), layer::lookup_problem(found.error)));
  const layer::TreeInode& inode = tree.inode(found.inode);
  if (inode.type != tar::EntryType::kFile) {
    throw NotFoundError(fmt::format("--cat {}: not a regular file but {}", escape(raw_path), kind_of(inode.type)));
  }
  log(LogLevel::kDebug, "{} is {} in layer {}", escape(raw_path), escape(found.clean_path), layer_indices[inode.layer]);
  StepTimer timer("write_file");
  const LayerBlob& item = blobs[inode.layer];
  std::unique_ptr<StoredData> data;
  if (item.compression == layer::Compression::kNone) {
    const Bytes stream = item.blob;
    if (inode.data_offset > stream.size() || inode.stored_bytes > stream.size() - inode.data_offset) {
      throw FormatError(fmt::format("{}: {}: data runs past the end of the layer", escape(item.layer->member),
                                    escape(found.clean_path)));
    }
    data = std::make_unique<MappedData>(stream.subspan(static_cast<std::size_t>(inode.data_offset),
                                                       static_cast<std::size_t>(inode.stored_bytes)));
  } else {
    data = std::make_unique<DecodedData>(item, inode.data_offset, found.clean_path);
  }
  if (!inode.sparse) {
    data->copy(inode.stored_bytes);
    return;
  }
  std::uint64_t written = 0;
  for (const tar::SparseSegment& segment : inode.sparse->segments) {
    write_zeros(segment.offset - written);
    data->copy(segment.length);
    written = segment.offset + segment.length;
  }
  write_zeros(inode.sparse->real_size - written);
}

}  // namespace undocker
