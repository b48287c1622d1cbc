// Helper threads end cleanly: an exception of any kind thrown on a file
// worker, the read-ahead decoder or the blob verifier reaches the thread
// that owns it (never std::terminate), and after a failure they stop and
// drop their queued work. Every wait here is for an observable event (a
// latch, a count), never a sleep.
#include <doctest/doctest.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "fs/file_pool.hpp"
#include "layer/blob_verifier.hpp"
#include "layer/decompress.hpp"
#include "layer/read_ahead.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"

namespace undocker {

namespace {

// A one-shot gate: open() once, wait() until then.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    opened_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    opened_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
};

fs::PendingFile pending(int number) {
  fs::PendingFile file;
  file.clean_path = fmt::format("f{}", number);
  file.layer_name = "layer.tar";
  return file;
}

template <typename Thrown>
void pool_hands_over(Thrown thrown) {
  std::atomic<int> finished{0};
  Gate queued;
  fs::FilePool pool(1, {}, [&](fs::PendingFile& file, const fs::FinishOptions&) {
    if (file.clean_path == "f0") {
      queued.wait();  // every file is queued before the first one fails
      throw thrown;
    }
    ++finished;
  });
  for (int i = 0; i < 100; ++i) pool.submit(pending(i));
  queued.open();
  CHECK_THROWS_AS(pool.drain(), Thrown);
  // The one worker failed on the first file: the 99 queued behind it were
  // dropped, not finished.
  CHECK(finished == 0);
  CHECK_THROWS_AS(pool.check(), Thrown);
  CHECK_THROWS_AS(pool.submit(pending(100)), Thrown);
}

}  // namespace

TEST_SUITE_BEGIN("threads");

TEST_CASE("file pool: std::bad_alloc on a worker reaches drain(); queued files are dropped") {
  pool_hands_over(std::bad_alloc());
}

TEST_CASE("file pool: std::system_error on a worker reaches drain(); queued files are dropped") {
  pool_hands_over(std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "thread"));
}

TEST_CASE("file pool: an Error on a worker names the layer once and keeps its class") {
  fs::FilePool pool(2, {}, [](fs::PendingFile& file, const fs::FinishOptions&) {
    throw EntryError(file.clean_path + ": cannot set xattr user.x: Operation not supported");
  });
  pool.submit(pending(7));
  try {
    pool.drain();
    FAIL("drain() did not throw");
  } catch (const Error& error) {
    CHECK(std::string(error.what()) == "layer.tar: f7: cannot set xattr user.x: Operation not supported");
    CHECK(error.status() == kExitIo);
  }
}

TEST_CASE("file pool: destroyed without drain() (the run failed), it drops its queue") {
  std::atomic<int> finished{0};
  Gate first_started;
  {
    fs::FilePool pool(1, {}, [&](fs::PendingFile&, const fs::FinishOptions& options) {
      if (finished++ == 0) {
        first_started.open();
        // Busy until the destructor abandons the pool.
        while (!options.abandoned->load()) std::this_thread::yield();
      }
    });
    for (int i = 0; i < 200; ++i) pool.submit(pending(i));
    pool.check();  // no failure yet
    first_started.wait();
  }  // ~FilePool: the first file ends, the other 199 are dropped
  CHECK(finished == 1);
}

namespace {

// The calling thread's name, as perf and /proc/PID/task/*/comm show it.
std::string this_thread_name() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  return name;
}

}  // namespace

TEST_CASE("helper threads carry the names a profile shows") {
  std::mutex mutex;
  std::vector<std::string> names;
  {
    fs::FilePool pool(2, {}, [&](fs::PendingFile&, const fs::FinishOptions&) {
      std::lock_guard lock(mutex);
      names.push_back(this_thread_name());
    });
    pool.submit(pending(0));
    pool.drain();
  }
  class NamingDecoder final : public layer::Decoder {
   public:
    explicit NamingDecoder(std::string& name) : Decoder("layer.tar.gz"), name_(name) {}
    std::size_t fill(std::uint8_t* out, std::size_t) override {
      name_ = this_thread_name();
      finished_ = true;
      *out = 0;
      return 1;
    }

   private:
    std::string& name_;
  };
  std::string decoder_name;
  std::unique_ptr<ByteSource> source = layer::open_read_ahead_source(std::make_unique<NamingDecoder>(decoder_name));
  CHECK(source->read_some(10).size() == 1);
  source.reset();
  CHECK(names == std::vector<std::string>{"undocker-write"});
  CHECK(decoder_name == "undocker-decode");
}

TEST_CASE("file pool: a file being written stops once the pool is abandoned") {
  // finish_file's write loop looks at FinishOptions::abandoned between
  // steps; a worker's stand-in here does the same, and the destructor must
  // not wait for the rest of a long file.
  Gate started;
  std::atomic<std::uint64_t> steps{0};
  {
    fs::FilePool pool(1, {}, [&](fs::PendingFile&, const fs::FinishOptions& options) {
      for (;;) {  // "a huge file": ends only when abandoned
        if (++steps == 1) started.open();
        if (options.abandoned != nullptr && options.abandoned->load()) throw fs::FinishAbandoned{};
      }
    });
    // Workers are woken every 16 files (util/batched_wake.hpp).
    for (int i = 0; i < 16; ++i) pool.submit(pending(i));
    started.wait();
  }  // returns: the worker saw `abandoned`
  CHECK(steps > 0);
}

TEST_CASE("read-ahead: std::bad_alloc in the decoder thread reaches the reader") {
  class ThrowingDecoder final : public layer::Decoder {
   public:
    ThrowingDecoder() : Decoder("blobs/sha256/00") {}
    std::size_t fill(std::uint8_t* out, std::size_t capacity) override {
      if (produced_ >= 3 * (std::size_t{1} << 20)) throw std::bad_alloc();
      const std::size_t count = std::min<std::size_t>(capacity, 1 << 16);
      std::fill(out, out + count, 'x');
      produced_ += count;
      return count;
    }

   private:
    std::size_t produced_ = 0;
  };
  std::unique_ptr<ByteSource> source = layer::open_read_ahead_source(std::make_unique<ThrowingDecoder>());
  std::size_t read = 0;
  auto drain_source = [&] {
    for (Bytes piece = source->read_some(1 << 20); !piece.empty(); piece = source->read_some(1 << 20)) {
      read += piece.size();
    }
  };
  CHECK_THROWS_AS(drain_source(), std::bad_alloc);
  CHECK(read == 3 * (std::size_t{1} << 20));  // every byte decoded before it
}

TEST_CASE("blob verifier: stops at once after an unrelated failure, without hashing what is left") {
  // 32 blobs of 32 MiB (1 GiB, seconds to hash): stopping must not hash them.
  const std::vector<std::uint8_t> blob(std::size_t{32} << 20, 0);
  const std::string digest = "sha256:" + sha256_hex(Bytes(blob.data(), blob.size()));
  layer::BlobVerifier verifier;
  for (int i = 0; i < 32; ++i) verifier.add(Bytes(blob.data(), blob.size()), {digest}, fmt::format("blob{}", i));
  verifier.start();
  const auto start = std::chrono::steady_clock::now();
  CHECK_NOTHROW(verifier.throw_instead_of(IoError("out: cannot create: No space left on device")));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // One 4 MiB step: milliseconds; hashing all of it would take seconds.
  CHECK(seconds < 0.5);
  CHECK_FALSE(stop_requested());
}

TEST_CASE("blob verifier: a blob's own mismatch explains a failure while reading it; another's does not") {
  const std::vector<std::uint8_t> good(4096, 'g');
  const std::vector<std::uint8_t> bad(4096, 'b');
  const std::string good_digest = "sha256:" + sha256_hex(Bytes(good.data(), good.size()));
  auto make = [&](layer::BlobVerifier& verifier) {
    verifier.add(Bytes(good.data(), good.size()), {good_digest}, "blobs/sha256/aa");
    verifier.add(Bytes(bad.data(), bad.size()), {good_digest}, "blobs/sha256/bb");  // corrupt
  };
  {
    layer::BlobVerifier verifier;
    make(verifier);
    verifier.start();
    CHECK_THROWS_WITH_AS(verifier.throw_instead_of(FormatError("blobs/sha256/bb: x: header checksum mismatch at offset 0")),
                         doctest::Contains(("blobs/sha256/bb: digest mismatch: expected " + good_digest).c_str()), DigestError);
  }
  {
    // The failure names aa, which is fine; bb's mismatch is not reported
    // instead, unless it was found before the failure (then it came first).
    layer::BlobVerifier verifier;
    verifier.add(Bytes(good.data(), good.size()), {good_digest}, "blobs/sha256/aa");
    verifier.start();
    CHECK_NOTHROW(verifier.throw_instead_of(FormatError("blobs/sha256/aa: x: header checksum mismatch at offset 0")));
  }
  {
    layer::BlobVerifier verifier;
    make(verifier);
    verifier.start();
    CHECK_THROWS_AS(verifier.finish(), DigestError);
    CHECK_FALSE(stop_requested());
  }
}

TEST_CASE("blob verifier: a mismatch asks the pipeline to stop at its next entry") {
  const std::vector<std::uint8_t> bad(4096, 'b');
  layer::BlobVerifier verifier;
  verifier.add(Bytes(bad.data(), bad.size()), {"sha256:" + std::string(64, '0')}, "blobs/sha256/cc");
  verifier.start();
  // The pipeline's view: check_interrupted() between entries.
  bool stopped = false;
  while (!stopped) {
    try {
      check_interrupted();
    } catch (const StopRequested& error) {
      stopped = true;
      CHECK_THROWS_WITH_AS(verifier.throw_instead_of(error), doctest::Contains("blobs/sha256/cc: digest mismatch"),
                           DigestError);
    }
  }
  CHECK_FALSE(stop_requested());
}

TEST_SUITE_END();

}  // namespace undocker
