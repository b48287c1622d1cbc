// How a failed system call on one output entry becomes an exception.
#pragma once

#include <string_view>

namespace undocker::fs {

/// Throws for a failed `action` on the entry `clean_path`. Failures of one
/// entry (the filesystem refuses this particular thing) are EntryError and
/// may be skipped with --ignore-errors; a full disk, an I/O error or running
/// out of descriptors is IoError and may not.
[[noreturn]] void fail(std::string_view clean_path, std::string_view action, int error);

}  // namespace undocker::fs
