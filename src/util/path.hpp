// Lexical cleaning of names from an archive (outer members and layer
// entries), kept apart from resolving them on disk (fs/root) or in the plan
// (layer/final_tree): cleaning decides what the archive means, resolution
// decides where that is, safely.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace undocker {

/// An entry name made relative to the output root: leading "/" and "./"
/// stripped, "//" and "/./" collapsed, "a/../b" folded to "b". nullopt if
/// ".." climbs above the root (refused, as Docker refuses it). "" is the
/// root itself.
std::optional<std::string> clean_entry_path(std::string_view raw_path);

/// True when clean_entry_path(raw_path) would return raw_path itself: no
/// leading or trailing "/", no "//", no "." or ".." component. Most names
/// in a layer are; a caller can then skip the copy.
bool is_clean_entry_path(std::string_view raw_path);

/// The non-empty components of a path, in order ("/a//b/" → a, b); "."
/// and ".." are kept, for a resolver to interpret.
std::deque<std::string> split_components(std::string_view path);

/// "a/b/c" → {"a/b", "c"}; "c" → {"", "c"}.
std::pair<std::string_view, std::string_view> split_parent(std::string_view clean_path);

/// True when `path` is `ancestor` or lies below it ("a/b" under "a").
bool is_same_or_below(std::string_view path, std::string_view ancestor);

}  // namespace undocker
