#include "output/layer_table.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include <fmt/format.h>

#include "layer/decompress.hpp"
#include "output/json_report.hpp"
#include "util/log.hpp"

namespace undocker::output {

namespace {

// As docker shows ids on a terminal: enough hex digits to tell layers
// apart (and a unique prefix, which -l accepts).
constexpr std::size_t kShortIdChars = 12;
constexpr std::string_view kColumnGap = "  ";

std::string shown_id(std::string_view id, bool shorten) {
  if (id.empty()) return "-";
  if (!shorten) return escape(id);
  if (id.starts_with("sha256:")) id.remove_prefix(7);
  return escape(id.substr(0, kShortIdChars));
}

std::string shown_size(const std::optional<std::uint64_t>& bytes) {
  return bytes ? std::to_string(*bytes) : "-";
}

// The first max_bytes bytes of text (escaped: ASCII and valid UTF-8) with
// "…" when cut, never splitting a UTF-8 sequence.
std::string cut(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  constexpr std::string_view kEllipsis = "…";  // one column, three bytes
  if (max_bytes < 1) return "";
  std::size_t end = max_bytes - 1;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xc0) == 0x80) --end;
  return text.substr(0, end) + std::string(kEllipsis);
}

std::size_t terminal_width(int fd) {
  winsize size{};
  if (::ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return 80;
  return size.ws_col;
}

}  // namespace

std::vector<LayerSizes> layer_sizes(const archive::MemberIndex& index, const image::Image& image) {
  std::vector<LayerSizes> sizes;
  for (const image::Layer& layer : image.layers) {
    LayerSizes size;
    if (const std::optional<archive::Member> member = index.find_file(layer.member)) {
      const Bytes blob = index.data(*member);
      if (layer::detect_compression(blob) == layer::Compression::kNone) size.uncompressed_bytes = blob.size();
      else size.compressed_bytes = blob.size();
    }
    sizes.push_back(size);
  }
  return sizes;
}

std::string render_layer_table(const image::Image& image, const std::vector<LayerSizes>& sizes, std::size_t width) {
  const bool shorten = width > 0;
  constexpr std::size_t kColumns = 7;
  std::vector<std::array<std::string, kColumns>> rows;
  rows.push_back({"INDEX", "ID", "DIFF_ID", "MEDIA_TYPE", "COMPRESSED", "SIZE", "CREATED_BY"});
  for (std::size_t i = 0; i < image.layers.size(); ++i) {
    const image::Layer& layer = image.layers[i];
    const LayerSizes size = i < sizes.size() ? sizes[i] : LayerSizes{};
    rows.push_back({std::to_string(i), shown_id(layer.id, shorten), shown_id(layer.diff_id, shorten),
                    layer.media_type.empty() ? "-" : escape(layer.media_type), shown_size(size.compressed_bytes),
                    shown_size(size.uncompressed_bytes), layer.created_by.empty() ? "-" : escape(layer.created_by)});
  }
  // Every column but the last padded to its widest cell (the cells are
  // ASCII, the last one aside).
  std::array<std::size_t, kColumns> widths{};
  for (const auto& row : rows) {
    for (std::size_t c = 0; c + 1 < kColumns; ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string table;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c + 1 < kColumns; ++c) {
      line += row[c];
      line.append(widths[c] - row[c].size(), ' ');
      line += kColumnGap;
    }
    // One column short of the width, as the progress line: writing the last
    // column makes some terminals wrap.
    const std::size_t room = width > line.size() + 1 ? width - 1 - line.size() : 0;
    line += shorten ? cut(row[kColumns - 1], room) : row[kColumns - 1];
    while (!line.empty() && line.back() == ' ') line.pop_back();
    table += line;
    table += '\n';
  }
  return table;
}

void print_layers(const archive::MemberIndex& index, const image::Image& image, bool json, bool verbose) {
  std::string text;
  if (json) {
    text = image_json(image, layer_sizes(index, image)) + "\n";
  } else if (verbose) {
    text = render_layer_table(image, layer_sizes(index, image), isatty(STDOUT_FILENO) ? terminal_width(STDOUT_FILENO) : 0);
  } else {
    // The original printed ids alone, one a line.
    for (const image::Layer& layer : image.layers) text += escape(layer.id) + "\n";
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace undocker::output
