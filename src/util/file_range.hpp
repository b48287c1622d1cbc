// Where a view of a mapped input lies in its file: for a reader that
// touches only scattered blocks of a large view (--cat's header scan),
// pread costs less than faulting in the mapping page by page and tearing
// those page tables down at exit (bench/RESULTS.md, issue 13).
#pragma once

#include <cstdint>

namespace undocker {

struct FileRange {
  int fd = -1;               // open for reading for as long as the view is used
  std::uint64_t offset = 0;  // of the view's first byte
};

}  // namespace undocker
