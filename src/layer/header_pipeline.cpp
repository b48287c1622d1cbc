#include "layer/header_pipeline.hpp"

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tar/reader.hpp"
#include "util/byte_source.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/path.hpp"
#include "util/progress.hpp"

namespace undocker::layer {

namespace {

constexpr std::size_t kBatchEntries = 512;
constexpr std::size_t kBatchesAhead = 8;  // at most this many read and not yet applied

struct Batch {
  std::vector<tar::Entry> entries;
  std::vector<std::optional<std::string>> clean_paths;  // nullopt: the name climbs out with ".."
  std::exception_ptr error;                             // what stopped the reader after these entries
  bool last = false;
};

// Batches from the reading thread to the applying one, bounded.
class BatchQueue {
 public:
  /// False when the applier gave up: the reader stops.
  bool push(Batch batch) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return batches_.size() < kBatchesAhead || abandoned_; });
    if (abandoned_) return false;
    batches_.push_back(std::move(batch));
    ready_.notify_one();
    return true;
  }
  Batch pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !batches_.empty(); });
    Batch batch = std::move(batches_.front());
    batches_.pop_front();
    room_.notify_one();
    return batch;
  }
  void abandon() {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
    room_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable room_;
  std::deque<Batch> batches_;
  bool abandoned_ = false;
};

void read_headers(Bytes stream, const std::string& layer_name, BatchQueue& queue) {
  Batch batch;
  try {
    MemorySource source(stream);
    tar::TarReader reader(source, layer_name);
    for (;;) {
      check_interrupted();
      tar::Entry entry;
      if (!reader.next(entry)) break;
      batch.clean_paths.push_back(clean_entry_path(entry.path));
      batch.entries.push_back(std::move(entry));
      if (batch.entries.size() == kBatchEntries) {
        if (!queue.push(std::move(batch))) return;
        batch = Batch{};
      }
    }
  } catch (...) {
    batch.error = std::current_exception();
  }
  batch.last = true;
  queue.push(std::move(batch));
}

}  // namespace

ApplyStats apply_layer_headers(Bytes stream, std::size_t layer_index, const std::string& layer_name,
                               TreeTarget& target, const ApplyOptions& options) {
  ApplyStats stats;
  EntryApplier applier(layer_index, layer_name, target, options);
  BatchQueue queue;
  std::thread reader([&] { read_headers(stream, layer_name, queue); });
  try {
    for (;;) {
      Batch batch = queue.pop();
      for (std::size_t i = 0; i < batch.entries.size(); ++i) {
        check_interrupted();
        tar::Entry& entry = batch.entries[i];
        ++stats.entries;
        if (options.progress) options.progress->advance(1, entry.size_bytes);
        if (!batch.clean_paths[i]) throw_path_climbs_out(layer_name, entry);
        applier.apply(entry, *batch.clean_paths[i], stats);
      }
      if (batch.error) std::rethrow_exception(batch.error);
      if (batch.last) break;
    }
  } catch (...) {
    queue.abandon();
    reader.join();
    throw;
  }
  reader.join();
  return stats;
}

}  // namespace undocker::layer
