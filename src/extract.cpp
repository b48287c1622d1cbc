#include "extract.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "archive/index.hpp"
#include "archive/mapping.hpp"
#include "archive/spool.hpp"
#include "fs/fd.hpp"
#include "fs/output_dir.hpp"
#include "fs/writer.hpp"
#include "image/image.hpp"
#include "image/reference.hpp"
#include "image/select.hpp"
#include "output/json_report.hpp"
#include "output/layer_table.hpp"
#include "output/nspawn.hpp"
#include "stream_tar.hpp"
#include "unpack.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"
#include "util/step_timer.hpp"

namespace undocker {

namespace {

void print_line(std::FILE* stream, const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stream);
  std::fputc('\n', stream);
}

void print_line(const std::string& line) { print_line(stdout, line); }

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

void report(const cli::Options& options, const UnpackSummary& summary, std::FILE* stream = stdout) {
  if (!options.json) return;
  print_line(stream, fmt::format(R"({{"image":{},"id":{},"output":{},"layers":{},"entries":{},"bytes":{},"seconds":{:.3f}}})",
                         output::json_string(summary.image), output::json_string(summary.id),
                         output::json_string(summary.output), summary.layers, summary.entries, summary.bytes,
                         summary.seconds));
}

// --nspawn: DIR.nspawn beside DIR, from the image config, written through
// the handle of DIR's parent (never through a symlink at DIR.nspawn).
void write_nspawn(const archive::MemberIndex& index, const image::Image& image, int parent_fd, const std::string& leaf,
                  const std::string& display) {
  const std::optional<archive::Member> config = index.find_file(image.config_member);
  std::string shown = display;
  while (shown.size() > 1 && shown.back() == '/') shown.pop_back();
  shown += ".nspawn";
  if (image.config_member.empty() || !config) {
    throw NotFoundError(fmt::format("image {} has no config in the archive to write {} from", escape(image.id),
                                    escape(shown)));
  }
  const std::string text = output::nspawn_settings(index.data(*config), image.config_member);
  fs::write_file_atomically(parent_fd, leaf + ".nspawn", text, shown);
  log(LogLevel::kInfo, "wrote {}", escape(shown));
}

// Where --all puts an image below DIR: NAME/TAG, or ID when untagged. The
// name, tag and id come from the archive: they must match the reference
// grammar before they name a directory.
std::string all_relative_dir(const image::Image& image) {
  if (!image.repo_tags.empty()) {
    const auto [name, tag] = image::split_name_tag(image.repo_tags.front());
    if (!name.empty()) {
      if (!image::is_valid_repository(name)) {
        throw FormatError(fmt::format("image name {} is not a valid repository name (lowercase letters, digits and "
                                      "separators, as docker accepts); --all cannot make a directory of it",
                                      escape(name)));
      }
      if (!image::is_valid_tag(tag)) {
        throw FormatError(fmt::format("image {}: tag {} is not a valid tag; --all cannot make a directory of it",
                                      escape(name), escape(tag)));
      }
      return fmt::format("{}/{}", name, tag);
    }
  }
  if (!image::is_valid_image_id(image.id)) {
    throw FormatError(fmt::format("image id {} cannot be used as a directory name", escape(image.id)));
  }
  return image.id;
}

// True when one path is the other or lies below it, component-wise.
bool nests(std::string_view a, std::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  return b.starts_with(a) && (b.size() == a.size() || b[a.size()] == '/');
}

struct AllTarget {
  image::SelectedImage selected;
  std::vector<std::size_t> layer_indices;
  std::string relative;  // below DIR
};

// --all: every image (one platform each, chosen as for a single image),
// from the one mapping of the archive. Every name is checked, and no two
// images may land one inside the other, before anything is written.
void unpack_all(const cli::Options& options, const archive::MemberIndex& index, const image::ImageArchive& images) {
  std::vector<std::size_t> groups;
  for (const image::Image& image : images.images) {
    if (std::find(groups.begin(), groups.end(), image.group) == groups.end()) groups.push_back(image.group);
  }
  std::vector<image::ImageArchive> singles;
  singles.reserve(groups.size());
  std::vector<AllTarget> targets;
  for (std::size_t group : groups) {
    image::ImageArchive& one = singles.emplace_back();
    one.format = images.format;
    for (const image::Image& image : images.images) {
      if (image.group == group) one.images.push_back(image);
    }
    image::SelectedImage selected = image::select_image(one, std::nullopt, options.platform);
    std::vector<std::size_t> layer_indices = image::select_layers(*selected.image, options.layer_ids);
    std::string relative = all_relative_dir(*selected.image);
    for (const AllTarget& other : targets) {
      if (nests(other.relative, relative)) {
        throw FormatError(fmt::format(
            "images {} and {} would be extracted one inside the other ({} and {} under {}); extract them one at a "
            "time",
            escape(other.selected.display_name), escape(selected.display_name), escape(other.relative),
            escape(relative), escape(options.output)));
      }
    }
    targets.push_back(AllTarget{std::move(selected), std::move(layer_indices), std::move(relative)});
  }
  // DIR itself is the user's: made and opened by path.
  const fs::OutputPlace base_place = fs::place_of_user_path(options.output);
  if (mkdirat(base_place.parent.get(), base_place.leaf.c_str(), 0755) != 0 && errno != EEXIST) {
    throw IoError(fmt::format("cannot create output directory {}: {}", escape(options.output), std::strerror(errno)));
  }
  const fs::Fd base(openat(base_place.parent.get(), base_place.leaf.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!base.valid()) {
    throw IoError(fmt::format("cannot open output directory {}: {}", escape(options.output), std::strerror(errno)));
  }
  for (const AllTarget& target : targets) {
    // Below DIR, everything is reached from DIR's handle, never following
    // a symlink: an earlier image may have planted one.
    const std::size_t slash = target.relative.rfind('/');
    fs::OutputPlace place;
    place.leaf = slash == std::string::npos ? target.relative : target.relative.substr(slash + 1);
    place.parent_display = slash == std::string::npos ? options.output
                                                      : fmt::format("{}/{}", options.output, target.relative.substr(0, slash));
    place.display = fmt::format("{}/{}", options.output, target.relative);
    place.leaf_is_users = false;
    place.parent = slash == std::string::npos
                       ? fs::Fd(fcntl(base.get(), F_DUPFD_CLOEXEC, 0))
                       : fs::make_directories_nofollow(base.get(), target.relative.substr(0, slash), options.output);
    const int parent_fd = place.parent.get();
    fs::Fd parent_copy(fcntl(parent_fd, F_DUPFD_CLOEXEC, 0));
    const std::string leaf = place.leaf;
    const std::string display = place.display;
    report(options, unpack_image(options, index, target.selected, target.layer_indices, std::move(place)));
    if (options.nspawn) write_nspawn(index, *target.selected.image, parent_copy.get(), leaf, display);
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
    print_line(output::archive_json(images, *index));
    return;
  }
  if (options.all) {
    unpack_all(options, *index, images);
    return;
  }
  const image::SelectedImage selected = image::select_image(images, options.image, options.platform);
  if (options.layers) {
    output::print_layers(*index, *selected.image, options.json, log_enabled(LogLevel::kInfo));
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
  if (!options.tar_output.empty()) {
    UnpackSummary summary = stream_image_as_tar(options, *index, selected, layer_indices);
    // stdout may carry the tar itself: the summary goes to stderr then.
    report(options, summary, options.tar_output == "-" ? stderr : stdout);
    return;
  }
  fs::OutputPlace place = fs::place_of_user_path(options.output);
  if (options.nspawn && (place.leaf == "." || place.leaf == "..")) {
    throw UsageError(fmt::format("--nspawn writes DIR.nspawn beside DIR: name the output directory with -o DIR, not {}",
                                 escape(options.output)));
  }
  fs::Fd parent(fcntl(place.parent.get(), F_DUPFD_CLOEXEC, 0));
  const std::string leaf = place.leaf;
  report(options, unpack_image(options, *index, selected, layer_indices, std::move(place)));
  if (options.nspawn) write_nspawn(*index, *selected.image, parent.get(), leaf, options.output);
}

}  // namespace undocker
