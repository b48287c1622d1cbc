// Decompression speed of the libraries we could build the layer reader on:
// zlib, libdeflate and isa-l for gzip, libzstd for zstd, plus undocker's
// own streaming source (open_decompressed) to show what its buffer costs.
// Throwaway measuring code, not part of the meson build; README.md in this
// directory has the command lines and the results.
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "layer/decompress.hpp"

namespace {

using Buffer = std::vector<std::uint8_t>;

// Streaming decoders write into one reused buffer of the size the layer
// reader uses, so they are measured as they would run in undocker.
constexpr std::size_t kStreamBufferBytes = std::size_t{1} << 20;
constexpr int kRuns = 5;
// Tiny layers are decoded repeatedly until a run lasts long enough to time.
constexpr double kMinRunSeconds = 0.2;

Buffer read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return Buffer(std::istreambuf_iterator<char>(in), {});
}

bool is_gzip_member(const std::uint8_t* p, std::size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

std::size_t inflate_zlib(const Buffer& blob) {
  static Buffer out(kStreamBufferBytes);
  z_stream stream{};
  inflateInit2(&stream, 15 + 16);
  stream.next_in = const_cast<Bytef*>(blob.data());
  stream.avail_in = static_cast<uInt>(blob.size());
  std::size_t total = 0;
  for (;;) {
    stream.next_out = out.data();
    stream.avail_out = static_cast<uInt>(out.size());
    const int status = inflate(&stream, Z_NO_FLUSH);
    total += out.size() - stream.avail_out;
    if (status == Z_STREAM_END) {
      if (!is_gzip_member(stream.next_in, stream.avail_in)) break;
      inflateReset(&stream);  // next member of a multi-member stream
    } else if (status != Z_OK) {
      throw std::runtime_error("zlib failed");
    }
  }
  inflateEnd(&stream);
  return total;
}

std::size_t inflate_isal(const Buffer& blob) {
  static Buffer out(kStreamBufferBytes);
  static inflate_state state;  // 87 KB, so not on the stack
  isal_inflate_init(&state);
  state.crc_flag = ISAL_GZIP;
  state.next_in = const_cast<std::uint8_t*>(blob.data());
  state.avail_in = static_cast<std::uint32_t>(blob.size());
  std::size_t total = 0;
  for (;;) {
    state.next_out = out.data();
    state.avail_out = static_cast<std::uint32_t>(out.size());
    if (isal_inflate(&state) != ISAL_DECOMP_OK) throw std::runtime_error("isa-l failed");
    total += out.size() - state.avail_out;
    if (state.block_state == ISAL_BLOCK_FINISH) {
      if (!is_gzip_member(state.next_in, state.avail_in)) break;
      isal_inflate_reset(&state);
      state.crc_flag = ISAL_GZIP;
    } else if (state.avail_in == 0 && state.avail_out > 0) {
      throw std::runtime_error("isa-l: truncated");
    }
  }
  return total;
}

// Whole-buffer: the output must be allocated up front at its final size.
std::size_t inflate_libdeflate(const Buffer& blob, Buffer& out) {
  libdeflate_decompressor* decompressor = libdeflate_alloc_decompressor();
  std::size_t in_offset = 0;
  std::size_t out_offset = 0;
  while (is_gzip_member(blob.data() + in_offset, blob.size() - in_offset)) {
    std::size_t in_bytes = 0;
    std::size_t out_bytes = 0;
    if (libdeflate_gzip_decompress_ex(decompressor, blob.data() + in_offset, blob.size() - in_offset,
                                      out.data() + out_offset, out.size() - out_offset, &in_bytes,
                                      &out_bytes) != LIBDEFLATE_SUCCESS) {
      throw std::runtime_error("libdeflate failed");
    }
    in_offset += in_bytes;
    out_offset += out_bytes;
  }
  libdeflate_free_decompressor(decompressor);
  return out_offset;
}

std::size_t decompress_zstd(const Buffer& blob) {
  static Buffer out(kStreamBufferBytes);
  ZSTD_DCtx* context = ZSTD_createDCtx();
  ZSTD_inBuffer input{blob.data(), blob.size(), 0};
  std::size_t total = 0;
  while (input.pos < input.size) {
    ZSTD_outBuffer output{out.data(), out.size(), 0};
    if (ZSTD_isError(ZSTD_decompressStream(context, &output, &input))) throw std::runtime_error("zstd failed");
    total += output.pos;
  }
  ZSTD_freeDCtx(context);
  return total;
}

std::size_t read_undocker(const Buffer& blob) {
  std::unique_ptr<undocker::layer::ByteSource> source = undocker::layer::open_decompressed(blob, "bench");
  std::size_t total = 0;
  for (undocker::Bytes chunk = source->read_some(kStreamBufferBytes); !chunk.empty();
       chunk = source->read_some(kStreamBufferBytes)) {
    total += chunk.size();
  }
  return total;
}

// Median over kRuns of decompressed MB (10^6 bytes) per second.
double measure(const std::function<std::size_t()>& decode, std::size_t& decoded_bytes) {
  std::vector<double> rates;
  for (int run = 0; run < kRuns; ++run) {
    const auto start = std::chrono::steady_clock::now();
    std::size_t bytes = 0;
    double seconds = 0;
    do {
      bytes += decoded_bytes = decode();
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (seconds < kMinRunSeconds);
    rates.push_back(static_cast<double>(bytes) / seconds / 1e6);
  }
  std::nth_element(rates.begin(), rates.begin() + kRuns / 2, rates.end());
  return rates[kRuns / 2];
}

void report(const std::string& path, const char* library, std::size_t compressed_bytes,
            const std::function<std::size_t()>& decode) {
  std::size_t decoded_bytes = 0;
  const double rate = measure(decode, decoded_bytes);
  std::printf("| %s | %s | %zu | %zu | %.0f |\n", path.c_str(), library, compressed_bytes, decoded_bytes, rate);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s LAYER.gz|LAYER.zst...\n", argv[0]);
    return 2;
  }
  std::printf("| input | library | compressed bytes | decompressed bytes | MB/s (median of %d) |\n", kRuns);
  std::printf("|---|---|---:|---:|---:|\n");
  for (int i = 1; i < argc; ++i) {
    const std::string path = argv[i];
    const Buffer blob = read_file(path);
    if (is_gzip_member(blob.data(), blob.size())) {
      const std::size_t size = inflate_zlib(blob);
      Buffer whole(size);
      std::fill(whole.begin(), whole.end(), 0);  // fault the pages in before timing
      report(path, "zlib " ZLIB_VERSION " inflate", blob.size(), [&] { return inflate_zlib(blob); });
      report(path, "isa-l igzip (isal_inflate)", blob.size(), [&] { return inflate_isal(blob); });
      report(path, "libdeflate " LIBDEFLATE_VERSION_STRING " (whole buffer)", blob.size(),
             [&] { return inflate_libdeflate(blob, whole); });
      report(path, "undocker open_decompressed (zlib)", blob.size(), [&] { return read_undocker(blob); });
    } else {
      report(path, "zstd " ZSTD_VERSION_STRING " ZSTD_decompressStream", blob.size(),
             [&] { return decompress_zstd(blob); });
      report(path, "undocker open_decompressed (zstd)", blob.size(), [&] { return read_undocker(blob); });
    }
  }
  return 0;
}
