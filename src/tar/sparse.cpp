#include "tar/sparse.hpp"

#include "tar/header.hpp"
#include "tar/pax.hpp"
#include "util/limits.hpp"

namespace undocker::tar {

std::uint64_t SparseMap::stored_bytes() const {
  std::uint64_t total = 0;
  for (const SparseSegment& segment : segments) total += segment.length;  // bounded by check_sparse_map
  return total;
}

bool append_gnu_sparse_pairs(const char* area, std::size_t pair_count, std::vector<SparseSegment>& segments) {
  for (std::size_t i = 0; i < pair_count; ++i) {
    const std::string_view offset_field(area + i * 24, 12);
    const std::string_view length_field(area + i * 24 + 12, 12);
    if (offset_field[0] == '\0') break;  // unused slots are zero-filled
    const std::optional<std::int64_t> offset = parse_number(offset_field);
    const std::optional<std::int64_t> length = parse_number(length_field);
    if (!offset || !length || *offset < 0 || *length < 0) return false;
    segments.push_back({static_cast<std::uint64_t>(*offset), static_cast<std::uint64_t>(*length)});
  }
  return true;
}

bool parse_sparse_map_text(std::string_view text, std::vector<SparseSegment>& segments) {
  std::vector<std::uint64_t> numbers;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::optional<std::uint64_t> number = parse_decimal(text.substr(0, comma));
    if (!number) return false;
    numbers.push_back(*number);
    if (numbers.size() > 2 * limits::kMaxSparseSegments) return false;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (numbers.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < numbers.size(); i += 2) segments.push_back({numbers[i], numbers[i + 1]});
  return true;
}

const char* check_sparse_map(const SparseMap& map) {
  if (map.segments.size() > limits::kMaxSparseSegments) return "sparse map has too many segments";
  if (map.real_size > limits::kMaxEntryBytes) return "sparse file size is out of range";
  std::uint64_t end_of_previous = 0;
  for (const SparseSegment& segment : map.segments) {
    if (segment.offset < end_of_previous) return "sparse map segments overlap or are out of order";
    if (segment.offset > map.real_size || segment.length > map.real_size - segment.offset) {
      return "sparse map segment lies beyond the file size";
    }
    end_of_previous = segment.offset + segment.length;
  }
  return "";
}

}  // namespace undocker::tar
