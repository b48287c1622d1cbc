// One header read quickly: a plain ustar (or old GNU) header, with no
// extension header before it, as TarReader would read it, taking only what
// says where the entry lands (name, type, link target) and where the next
// header starts. For walks over every header of a layer that need the
// shape of the tree, not its entries (--cat's plan of one path): anything
// else (an extension header, the end of the archive, a field TarReader
// would refuse) is left to TarReader, which says what is wrong.
#pragma once

#include <cstdint>
#include <string_view>

#include "tar/reader.hpp"

namespace undocker::tar {

struct PlainHeader {
  EntryType type = EntryType::kFile;
  std::string_view prefix;  // the ustar prefix field, "" when none
  std::string_view name;    // the name field; the path is prefix/name
  std::string_view link_target;
  std::uint64_t entry_bytes = 0;  // the header and its padded data: the next header is this far on
};

/// Reads the 512-byte header `block` into `out` when TarReader, started at
/// that header, would read it as a whole entry by itself: checksum, type
/// ('0', '\0', '1'-'7') and every numeric field valid, and its data and
/// padding within the `bytes_after` bytes that follow the header in the
/// stream. False otherwise, with `out` unspecified. The views point into
/// `block`.
bool read_plain_header(const std::uint8_t* block, std::uint64_t bytes_after, PlainHeader& out);

}  // namespace undocker::tar
