// libFuzzer: the layer tar reader over arbitrary bytes, reading every
// entry's data. Any crash, hang or sanitizer report is a bug; FormatError
// is the expected answer to garbage.
#include <cstddef>
#include <cstdint>

#include "util/byte_source.hpp"
#include "tar/reader.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  undocker::MemorySource source(undocker::Bytes(data, size));
  undocker::tar::TarReader reader(source, "fuzz.tar");
  undocker::tar::Entry entry;
  try {
    while (reader.next(entry)) {
      while (!reader.read_data(4096).empty()) {
      }
    }
  } catch (const undocker::Error&) {
  }
  return 0;
}
