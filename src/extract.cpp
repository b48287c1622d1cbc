#include "extract.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <cstdio>

#include <fmt/format.h>

#include "archive/index.hpp"
#include "archive/mapping.hpp"
#include "archive/spool.hpp"
#include "image/image.hpp"
#include "image/select.hpp"
#include "output/json_report.hpp"
#include "unpack.hpp"
#include "util/step_timer.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker {

namespace {

void print_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

void list_images(const image::ImageArchive& archive) {
  // One line per image, "NAME: TAG TAG", names in archive order.
  for (const image::Image& image : archive.images) {
    if (image.repo_tags.empty()) {
      print_line(fmt::format("{}: <none>", image.id));
      continue;
    }
    std::vector<std::pair<std::string, std::string>> groups;  // name → "tag tag"
    for (const std::string& repo_tag : image.repo_tags) {
      const std::pair<std::string, std::string> name_tag = image::split_name_tag(repo_tag);
      auto group = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == name_tag.first; });
      if (group == groups.end()) groups.push_back(name_tag);
      else group->second += " " + name_tag.second;
    }
    for (const auto& [name, tags] : groups) {
      print_line(fmt::format("{}: {}", name.empty() ? "<none>" : escape(name), escape(tags)));
    }
  }
}

void print_layers(const image::Image& image, const cli::Options& options) {
  if (options.json) {
    print_line(output::image_json(image));
    return;
  }
  // The original printed ids alone; -v adds index, media type and size.
  for (std::size_t i = 0; i < image.layers.size(); ++i) {
    const image::Layer& layer = image.layers[i];
    if (!log_enabled(LogLevel::kInfo)) {
      print_line(escape(layer.id));
      continue;
    }
    print_line(fmt::format("{}\t{}\t{}\t{}", i, escape(layer.digest.empty() ? layer.id : layer.digest),
                           escape(layer.media_type.empty() ? "-" : layer.media_type),
                           layer.size_bytes ? std::to_string(*layer.size_bytes) : "-"));
  }
}

void report(const cli::Options& options, const UnpackSummary& summary) {
  if (!options.json) return;
  print_line(fmt::format(R"({{"image":{},"id":{},"output":{},"layers":{},"entries":{},"bytes":{},"seconds":{:.3f}}})",
                         output::json_string(summary.image), output::json_string(summary.id),
                         output::json_string(summary.output), summary.layers, summary.entries, summary.bytes,
                         summary.seconds));
}

// The directory --all gives an image: DIR/NAME/TAG, or DIR/ID untagged.
std::string all_output_dir(const std::string& base, const image::Image& image) {
  if (image.repo_tags.empty()) return fmt::format("{}/{}", base, image.id);
  auto [name, tag] = image::split_name_tag(image.repo_tags.front());
  if (name.empty()) name = image.id;
  // Names come from the archive: they must stay below DIR.
  const std::optional<std::string> clean = archive::clean_member_name(fmt::format("{}/{}", name, tag));
  if (!clean || clean->empty() || name.starts_with('/') || *clean != fmt::format("{}/{}", name, tag)) {
    throw FormatError(fmt::format("image name {}:{} cannot be used as a directory name", escape(name), escape(tag)));
  }
  return fmt::format("{}/{}", base, *clean);
}

// --all: every image (one platform each, chosen as for a single image),
// from the one mapping of the archive.
void unpack_all(const cli::Options& options, const archive::MemberIndex& index, const image::ImageArchive& images) {
  std::vector<std::size_t> groups;
  for (const image::Image& image : images.images) {
    if (std::find(groups.begin(), groups.end(), image.group) == groups.end()) groups.push_back(image.group);
  }
  for (std::size_t group : groups) {
    image::ImageArchive one;
    one.format = images.format;
    for (const image::Image& image : images.images) {
      if (image.group == group) one.images.push_back(image);
    }
    const image::SelectedImage selected = image::select_image(one, std::nullopt, options.platform);
    const std::vector<std::size_t> layer_indices = image::select_layers(*selected.image, options.layer_ids);
    report(options, unpack_image(options, index, selected, layer_indices,
                                 all_output_dir(options.output, *selected.image)));
  }
}

}  // namespace

void run(const cli::Options& options) {
  // A pipe is copied once to an unlinked temp file; a file is used as is.
  std::unique_ptr<archive::InputFile> input;
  {
    StepTimer timer("spool_input");
    input = std::make_unique<archive::InputFile>(options.archive);
  }
  // Map it once: every later step reads members as views of this mapping.
  archive::MappedArchive mapping(input->fd(), input->name());
  // One pass over the headers: the offsets of every member.
  std::unique_ptr<archive::MemberIndex> index;
  {
    StepTimer timer("index_members");
    index = std::make_unique<archive::MemberIndex>(mapping.bytes(), input->name());
  }
  // Tell the format from the members and read every image's manifest.
  const image::ImageArchive images = image::load_images(*index);
  if (options.list && !options.json) {
    list_images(images);
    return;
  }
  if (options.list && options.json) {
    print_line(output::archive_json(images));
    return;
  }
  if (options.all) {
    unpack_all(options, *index, images);
    return;
  }
  const image::SelectedImage selected = image::select_image(images, options.image, options.platform);
  if (options.layers) {
    print_layers(*selected.image, options);
    return;
  }
  if (options.config) {
    const std::optional<archive::Member> config = index->find_file(selected.image->config_member);
    if (selected.image->config_member.empty() || !config) {
      throw NotFoundError(fmt::format("image {} has no config in the archive", escape(selected.image->id)));
    }
    const Bytes bytes = index->data(*config);
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fputc('\n', stdout);
    return;
  }
  const std::vector<std::size_t> layer_indices = image::select_layers(*selected.image, options.layer_ids);
  report(options, unpack_image(options, *index, selected, layer_indices, options.output));
}

}  // namespace undocker
