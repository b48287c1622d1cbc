#include "pipeline/speculation.hpp"

#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "layer/apply.hpp"
#include "layer/verify.hpp"
#include "pipeline/directory_output.hpp"
#include "tar/header.hpp"
#include "tar/reader.hpp"
#include "util/error.hpp"
#include "util/knobs.hpp"
#include "util/log.hpp"
#include "util/path.hpp"

namespace undocker {

namespace {

// An uncompressed member is applied only when its first block is a tar
// header (or the zero block of an empty tar): config and manifest JSON are
// not, and are left alone.
bool looks_like_tar(Bytes blob) {
  if (blob.size() < sizeof(tar::UstarHeader)) return false;
  bool zero = true;
  for (std::size_t i = 0; i < sizeof(tar::UstarHeader) && zero; ++i) zero = blob[i] == 0;
  if (zero) return true;
  tar::UstarHeader header;
  std::memcpy(&header, blob.data(), sizeof header);
  return tar::checksum_matches(header);
}

bool is_interrupt(const std::exception& error) { return dynamic_cast<const Interrupted*>(&error) != nullptr; }

}  // namespace

bool Speculation::applies(const cli::Options& options) {
  return knobs().speculate && !options.list && !options.layers && !options.config && !options.all && !options.files &&
         !options.cat_path && options.tar_output.empty() && options.layer_ids.empty() && options.paths.empty() &&
         options.excludes.empty() && !options.ignore_errors;
}

Speculation::Speculation(const cli::Options& options, fs::OutputDir& destination, archive::GrowingSpool& spool)
    : options_(options), destination_(destination), spool_(spool), hasher_(std::make_unique<layer::BlobHasher>()) {}

Speculation::~Speculation() {
  // The hasher and the writer's workers read the mapped ranges: they stop first.
  hasher_.reset();
  writer_.reset();
}

void Speculation::run() {
  archive::GrowingSource source(spool_);
  tar::TarReader reader(source, spool_.name());
  tar::Entry entry;
  try {
    while (reader.next(entry)) {
      if (entry.type != tar::EntryType::kFile || entry.size_bytes == 0) continue;
      const std::optional<std::string> name = clean_entry_path(entry.path);
      if (name && !spoiled_) consider(*name, reader.data_offset(), entry.size_bytes);
      if (!spool_.wait_for(reader.data_offset() + entry.size_bytes)) return;  // the input ends inside it
    }
  } catch (const Error& error) {
    // A malformed outer archive: the index of the complete spool says so.
    if (is_interrupt(error)) throw;
  }
}

void Speculation::consider(const std::string& member, std::uint64_t data_offset, std::uint64_t size) {
  // What the member is, from its first block.
  const std::size_t head_size = static_cast<std::size_t>(std::min<std::uint64_t>(size, sizeof(tar::UstarHeader)));
  if (!spool_.wait_for(data_offset + head_size)) return;
  const archive::MappedRange head(spool_.fd(), data_offset, head_size, member);
  const layer::Compression compression = layer::detect_compression(head.bytes());
  if (compression == layer::Compression::kNone && !looks_like_tar(head.bytes())) return;
  try {
    if (!writer_) {
      root_ = std::make_unique<fs::RootDir>(destination_.open_root(), destination_.display());
      const bool root = geteuid() == 0;
      writer_ = std::make_unique<fs::TreeWriter>(*root_, fs::WriterOptions{root, root, false, writer_threads()});
    }
    layer::ApplyOptions apply_options{!options_.no_whiteouts, false};
    apply_options.uid_shift = options_.uid_shift;
    apply_options.estargz = compression == layer::Compression::kGzip;
    std::string diff_id;
    layer::ApplyStats stats;
    if (compression == layer::Compression::kNone) {
      // A tar is applied while it arrives, straight from the spool; file
      // workers may still read its views, so it stays until the end.
      streams_.push_back(std::make_unique<archive::SpoolRangeSource>(spool_, data_offset, size));
      stats = layer::apply_layer(*streams_.back(), applied_.size(), member, *writer_, apply_options);
      // Its digest (and diffID) is hashed once it is all there.
      if (!spool_.wait_for(data_offset + size)) throw FormatError(fmt::format("{}: the input ends inside it", escape(member)));
    } else {
      // A decoder needs the whole blob.
      if (!spool_.wait_for(data_offset + size)) throw FormatError(fmt::format("{}: the input ends inside it", escape(member)));
      const archive::MappedRange blob(spool_.fd(), data_offset, static_cast<std::size_t>(size), member);
      std::unique_ptr<ByteSource> source = layer::open_decompressed(blob.bytes(), member);
      std::unique_ptr<layer::HashingSource> hashing;
      if (options_.verify) hashing = std::make_unique<layer::HashingSource>(*source);
      ByteSource& input = hashing ? static_cast<ByteSource&>(*hashing) : *source;
      stats = layer::apply_layer(input, applied_.size(), member, *writer_, apply_options);
      if (hashing) diff_id = hashing->digest_rest();
    }
    ranges_.emplace_back(spool_.fd(), data_offset, static_cast<std::size_t>(size), member);
    entries_ += stats.entries;
    bytes_ += stats.bytes;
    applied_.push_back(Guess{member, data_offset, size, compression, hasher_->add(ranges_.back().bytes()), diff_id});
  } catch (const Error& error) {
    if (is_interrupt(error)) throw;
    // Not a layer after all, or not one this tree can take: no more guesses.
    log(LogLevel::kDebug, "stopped applying layers while the archive arrives: {}", error.what());
    spoiled_ = true;
    writer_.reset();
  }
}

std::optional<std::string> Speculation::mismatch(const std::vector<LayerBlob>& blobs, Bytes archive, bool verify) {
  if (spoiled_) return "a member that looked like a layer could not be applied";
  if (applied_.size() > blobs.size()) {
    return fmt::format("{} members were applied and the image has {} layers", applied_.size(), blobs.size());
  }
  for (std::size_t i = 0; i < applied_.size(); ++i) {
    const Guess& guess = applied_[i];
    const LayerBlob& item = blobs[i];
    const bool same_bytes = item.blob.data() >= archive.data() &&
                            static_cast<std::uint64_t>(item.blob.data() - archive.data()) == guess.data_offset &&
                            item.blob.size() == guess.size;
    if (!same_bytes) return fmt::format("layer {} of the image is not {}, which arrived in its place", i, escape(guess.member));
    if (!verify) continue;
    const std::string digest = hasher_->digest(guess.hash_job);
    const std::string& want_digest = item.layer->digest;
    const std::string& want_diff_id = item.layer->diff_id;
    const std::string& diff_id = guess.compression == layer::Compression::kNone ? digest : guess.diff_id;
    if ((!want_digest.empty() && want_digest != digest) || (!want_diff_id.empty() && want_diff_id != diff_id)) {
      return fmt::format("{} does not match its digest", escape(guess.member));
    }
  }
  return std::nullopt;
}

std::size_t Speculation::keep_or_discard(const std::vector<LayerBlob>& blobs, Bytes archive, bool verify) {
  const std::optional<std::string> reason = mismatch(blobs, archive, verify);
  if (!reason) {
    if (applied_.empty()) discard();  // nothing guessed: nothing to keep
    return applied_.size();
  }
  log(LogLevel::kDebug, "the layers applied while the archive arrived are not the image's ({}): starting over", *reason);
  discard();
  return 0;
}

void Speculation::discard() {
  hasher_.reset();
  writer_.reset();
  // A fresh descriptor: one that was read already (RootDir looked whether
  // it was empty) would list from where that read stopped.
  if (root_ && !fs::remove_children(destination_.open_root().get())) {
    throw IoError(fmt::format("cannot empty {} to start over: {}", escape(destination_.display()), std::strerror(errno)));
  }
  root_.reset();
  applied_.clear();
  ranges_.clear();
  streams_.clear();
}

}  // namespace undocker
