#include "extract.hpp"

#include <fcntl.h>
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
#include "fs/writer.hpp"
#include "image/image.hpp"
#include "image/select.hpp"
#include "output/json_report.hpp"
#include "output/layer_table.hpp"
#include "output/nspawn.hpp"
#include "output/tar_writer.hpp"
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

// --nspawn: DIR.nspawn beside DIR, from the image config.
void write_nspawn(const archive::MemberIndex& index, const image::Image& image, std::string output_dir) {
  const std::optional<archive::Member> config = index.find_file(image.config_member);
  if (image.config_member.empty() || !config) {
    throw NotFoundError(fmt::format("image {} has no config in the archive to write {}.nspawn from", escape(image.id),
                                    escape(output_dir)));
  }
  while (output_dir.size() > 1 && output_dir.back() == '/') output_dir.pop_back();
  const std::string path = output_dir + ".nspawn";
  const std::string text = output::nspawn_settings(index.data(*config), image.config_member);
  fs::Fd file(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!file.valid() || write(file.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw IoError(fmt::format("cannot write {}: {}", escape(path), std::strerror(errno)));
  }
  log(LogLevel::kInfo, "wrote {}", escape(path));
}

// --tar: unpack into a private directory in $TMPDIR, stream it as one tar,
// remove it. (The directory is what the tar must equal, so it is built the
// one proven way.)
void unpack_to_tar(const cli::Options& options, const archive::MemberIndex& index, const image::SelectedImage& selected,
                   const std::vector<std::size_t>& layer_indices) {
  fs::Fd out;
  if (options.tar_output == "-") {
    if (isatty(STDOUT_FILENO)) throw UsageError("refusing to write a tar stream to a terminal; redirect it or use --tar FILE");
    out = fs::Fd(dup(STDOUT_FILENO));
  } else {
    out = fs::Fd(open(options.tar_output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  }
  if (!out.valid()) throw IoError(fmt::format("cannot open {}: {}", escape(options.tar_output), std::strerror(errno)));

  const char* tmpdir = std::getenv("TMPDIR");
  std::string pattern = fmt::format("{}/undocker-tar-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
  if (!mkdtemp(pattern.data())) {
    throw IoError(fmt::format("cannot create a temporary directory {}: {}", escape(pattern), std::strerror(errno)));
  }
  const TemporaryPath staging(pattern);
  auto remove_staging = [&] {
    const std::size_t slash = pattern.rfind('/');
    fs::Fd parent(open(slash == 0 ? "/" : pattern.substr(0, slash).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (parent.valid()) fs::remove_tree_at(parent.get(), pattern.substr(slash + 1));
  };
  try {
    const UnpackSummary summary = unpack_image(options, index, selected, layer_indices, pattern);
    {
      StepTimer timer("write_tar");
      fs::Fd root(open(pattern.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!root.valid()) throw IoError(fmt::format("cannot open {}: {}", escape(pattern), std::strerror(errno)));
      output::write_tree_as_tar(root.get(), out.get());
    }
    remove_staging();
    if (options.json) {
      // stdout may carry the tar itself: the summary goes to stderr then.
      UnpackSummary shown = summary;
      shown.output = options.tar_output;
      report(options, shown, options.tar_output == "-" ? stderr : stdout);
    }
  } catch (...) {
    remove_staging();
    throw;
  }
}

// The directory --all gives an image: DIR/NAME/TAG, or DIR/ID untagged.
std::string all_output_dir(const std::string& base, const image::Image& image) {
  std::string relative = image.id;
  if (!image.repo_tags.empty()) {
    const auto [name, tag] = image::split_name_tag(image.repo_tags.front());
    if (!name.empty()) relative = fmt::format("{}/{}", name, tag);
  }
  // Names and ids come from the archive: they must stay below DIR, as is.
  const std::optional<std::string> clean = archive::clean_member_name(relative);
  if (!clean || clean->empty() || *clean != relative) {
    throw FormatError(fmt::format("image name {} cannot be used as a directory name under {}", escape(relative),
                                  escape(base)));
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
    const std::string output_dir = all_output_dir(options.output, *selected.image);
    report(options, unpack_image(options, index, selected, layer_indices, output_dir));
    if (options.nspawn) write_nspawn(index, *selected.image, output_dir);
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
    unpack_to_tar(options, *index, selected, layer_indices);
    return;
  }
  report(options, unpack_image(options, *index, selected, layer_indices, options.output));
  if (options.nspawn) write_nspawn(*index, *selected.image, options.output);
}

}  // namespace undocker
