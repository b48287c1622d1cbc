// Legacy v1 archives (docker save before 1.10): `repositories` maps
// {"name": {"tag": "<top layer id>"}}; each layer is "<id>/layer.tar" with
// "<id>/json" naming its "parent". The chain is followed from the top down.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "image/image.hpp"
#include "image/json.hpp"
#include "util/error.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"

namespace undocker::image {

namespace {

// What made a legacy layer, as `docker history` shows it: the
// container_config Cmd joined by spaces. Only shown, so anything unexpected
// gives "" instead of an error.
std::string created_by_of(simdjson::dom::object layer_config) {
  simdjson::dom::array command;
  if (layer_config.at_key("container_config").at_key("Cmd").get(command)) return "";
  std::string text;
  for (simdjson::dom::element part : command) {
    std::string_view word;
    if (part.get(word)) return "";
    if (!text.empty()) text += ' ';
    text += word;
  }
  return text;
}

bool is_safe_id(std::string_view id) {
  return !id.empty() && id.find('/') == std::string_view::npos && id != "." && id != "..";
}

std::vector<Layer> follow_parent_chain(const archive::MemberIndex& index, const std::string& top_id) {
  std::vector<Layer> layers;
  std::set<std::string> seen;
  std::string id = top_id;
  std::string named_by = "repositories";  // where id came from, for messages
  while (!id.empty()) {
    if (!is_safe_id(id)) {
      throw FormatError(fmt::format("{}: invalid {} id {}", escape(named_by),
                                    named_by == "repositories" ? "layer" : "parent", escape(id)));
    }
    if (!seen.insert(id).second) {
      throw FormatError(fmt::format("{}/json: parent chain loops back to layer {}", escape(id), escape(id)));
    }
    if (seen.size() > limits::kMaxLayerChain) {
      throw FormatError(fmt::format("{}/json: parent chain is longer than {} layers", escape(id),
                                    limits::kMaxLayerChain));
    }
    const std::string json_name = id + "/json";
    const std::optional<archive::Member> json_member = index.find_file(json_name);
    if (!json_member) throw FormatError(fmt::format("{}: layer {} is not in the archive", escape(json_name), escape(id)));
    const std::string layer_name = id + "/layer.tar";
    if (!index.find_file(layer_name)) {
      throw FormatError(fmt::format("{}: layer {} is not in the archive", escape(layer_name), escape(id)));
    }
    JsonDocument doc(index.data(*json_member), json_name);
    Layer layer;
    layer.id = id;
    layer.member = layer_name;
    const simdjson::dom::object layer_config = doc.object(doc.root(), "the layer config");
    layer.created_by = created_by_of(layer_config);
    layers.push_back(std::move(layer));
    id = doc.optional_string(layer_config, "parent").value_or("");
    named_by = json_name;
  }
  std::reverse(layers.begin(), layers.end());
  return layers;
}

}  // namespace

ImageArchive load_docker_v1(const archive::MemberIndex& index) {
  const std::optional<archive::Member> member = index.find_file("repositories");
  if (!member) throw FormatError("repositories: not a regular file");
  JsonDocument doc(index.data(*member), "repositories");

  ImageArchive result;
  result.format = ArchiveFormat::kDockerV1;
  for (auto [name, tags_value] : doc.object(doc.root(), "the repositories")) {
    for (auto [tag, id_value] : doc.object(tags_value, fmt::format("\"{}\"", escape(name)))) {
      const std::string top_id = doc.string(id_value, fmt::format("tag \"{}\"", escape(tag)));
      const std::string repo_tag = fmt::format("{}:{}", name, tag);
      // Tags of the same top layer are one image.
      auto same = std::find_if(result.images.begin(), result.images.end(),
                               [&](const Image& image) { return image.id == top_id; });
      if (same != result.images.end()) {
        same->repo_tags.push_back(repo_tag);
        continue;
      }
      Image image;
      image.id = top_id;
      image.repo_tags.push_back(repo_tag);
      image.layers = follow_parent_chain(index, top_id);
      image.group = result.images.size();
      result.images.push_back(std::move(image));
    }
  }
  return result;
}

}  // namespace undocker::image
