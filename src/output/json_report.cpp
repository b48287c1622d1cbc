#include "output/json_report.hpp"

#include <fmt/format.h>

namespace undocker::output {

namespace {

std::string optional_string(std::string_view text) { return text.empty() ? "null" : json_string(text); }

std::string optional_number(const std::optional<std::uint64_t>& number) {
  return number ? std::to_string(*number) : "null";
}

std::string layer_json(const image::Layer& layer, std::size_t index, const LayerSizes& sizes) {
  return fmt::format(
      R"({{"index":{},"id":{},"member":{},"digest":{},"diff_id":{},"media_type":{},"size":{},)"
      R"("compressed_size":{},"uncompressed_size":{},"created_by":{}}})",
      index, json_string(layer.id), json_string(layer.member), optional_string(layer.digest),
      optional_string(layer.diff_id), optional_string(layer.media_type), optional_number(layer.size_bytes),
      optional_number(sizes.compressed_bytes), optional_number(sizes.uncompressed_bytes),
      optional_string(layer.created_by));
}

}  // namespace

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\t': out += "\\t"; continue;
      case '\r': out += "\\r"; continue;
      default: break;
    }
    if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      // Copy a valid UTF-8 sequence; replace anything else.
      std::size_t length = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
      bool valid = length != 0 && i + length <= text.size();
      for (std::size_t k = 1; valid && k < length; ++k) valid = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
      if (valid) {
        out.append(text.substr(i, length));
        i += length - 1;
      } else {
        out += "\\ufffd";
      }
    }
  }
  out += '"';
  return out;
}

std::string image_json(const image::Image& image, const std::vector<LayerSizes>& sizes) {
  std::string names;
  for (const std::string& name : image.repo_tags) {
    if (!names.empty()) names += ',';
    names += json_string(name);
  }
  std::string layers;
  for (std::size_t i = 0; i < image.layers.size(); ++i) {
    if (i) layers += ',';
    layers += layer_json(image.layers[i], i, i < sizes.size() ? sizes[i] : LayerSizes{});
  }
  return fmt::format(
      R"({{"id":{},"names":[{}],"platform":{},"manifest_digest":{},"config_digest":{},"saved":{},"layers":[{}]}})",
      json_string(image.id), names, optional_string(image.platform), optional_string(image.manifest_digest),
      optional_string(image.config_digest), image.missing_blob.empty() ? "true" : "false", layers);
}

std::string archive_json(const image::ImageArchive& archive, const archive::MemberIndex& index) {
  std::string images;
  for (const image::Image& image : archive.images) {
    if (!images.empty()) images += ',';
    images += image_json(image, layer_sizes(index, image));
  }
  return fmt::format(R"({{"format":{},"images":[{}]}})", json_string(image::format_name(archive.format)), images);
}

}  // namespace undocker::output
