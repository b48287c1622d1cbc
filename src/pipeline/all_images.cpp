#include "pipeline/all_images.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "fs/fd.hpp"
#include "fs/output_dir.hpp"
#include "image/reference.hpp"
#include "image/select.hpp"
#include "pipeline/nspawn_output.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker {

namespace {

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
}  // namespace

void unpack_all(const cli::Options& options, const archive::MemberIndex& index, const image::ImageArchive& images,
                const std::function<void(const UnpackSummary&)>& report) {
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
      // With --nspawn, REL.nspawn beside each image's directory is taken too.
      const bool settings_clash =
          options.nspawn && (nests(other.relative + ".nspawn", relative) || nests(relative + ".nspawn", other.relative));
      if (nests(other.relative, relative) || settings_clash) {
        throw FormatError(fmt::format(
            "images {} and {} would be extracted one inside the other ({} and {}{} under {}); extract them one at a "
            "time",
            escape(other.selected.display_name), escape(selected.display_name), escape(other.relative),
            escape(relative), settings_clash ? ", with their .nspawn files" : "", escape(options.output)));
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
    report(unpack_image(options, index, target.selected, target.layer_indices, std::move(place)));
    if (options.nspawn) write_nspawn(index, *target.selected.image, parent_copy.get(), leaf, display);
  }
}

}  // namespace undocker
