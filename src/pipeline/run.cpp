#include "pipeline/run.hpp"

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
#include "archive/growing_spool.hpp"
#include "archive/spool.hpp"
#include "fs/fd.hpp"
#include "fs/output_dir.hpp"
#include "image/image.hpp"
#include "image/select.hpp"
#include "output/json_report.hpp"
#include "output/layer_table.hpp"
#include "pipeline/all_images.hpp"
#include "pipeline/directory_output.hpp"
#include "pipeline/inspect_output.hpp"
#include "pipeline/layer_store_output.hpp"
#include "pipeline/nspawn_output.hpp"
#include "pipeline/speculation.hpp"
#include "pipeline/tar_output.hpp"
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

// `… | undocker -o DIR` into a new or empty DIR: layers are applied while
// the archive arrives (pipeline/speculation.hpp), then everything else runs
// as for a file. Every error is the one the plain path would report: the
// spool's own first, then the complete archive's.
void run_speculating(const cli::Options& options, fs::OutputPlace place) {
  fs::Fd parent(fcntl(place.parent.get(), F_DUPFD_CLOEXEC, 0));
  const std::string leaf = place.leaf;
  archive::GrowingSpool spool(STDIN_FILENO, "<stdin>");
  fs::OutputDir destination(std::move(place));
  Speculation guess(options, destination, spool);
  {
    StepTimer timer("spool_input");
    guess.run();
    spool.finish();
  }
  const archive::MappedArchive mapping(spool.fd(), spool.name());
  std::unique_ptr<archive::MemberIndex> index;
  {
    StepTimer timer("index_members");
    index = std::make_unique<archive::MemberIndex>(mapping.bytes(), spool.name(), spool.fd());
  }
  const image::ImageArchive images = image::load_images(*index);
  const image::SelectedImage selected = image::select_image(images, options.image, options.platform);
  const std::vector<std::size_t> layer_indices = image::select_layers(*selected.image, options.layer_ids);
  report(options, unpack_image(options, *index, selected, layer_indices, mapping.bytes(), guess));
  if (options.nspawn) write_nspawn(*index, *selected.image, parent.get(), leaf, options.output);
}

}  // namespace

void run(const cli::Options& options) {
  if (Speculation::applies(options) && archive::stdin_needs_spool(options.archive)) {
    std::optional<fs::OutputPlace> place = fs::place_if_parent_exists(options.output);
    if (place && fs::OutputDir::would_stage(*place)) {
      run_speculating(options, std::move(*place));
      return;
    }
  }
  // A pipe is copied once to an unlinked temp file; a file is used as is.
  std::unique_ptr<archive::InputFile> input;
  {
    StepTimer timer("spool_input");
    input = std::make_unique<archive::InputFile>(options.archive);
  }
  // Map it once: every later step reads members as views of this mapping.
  // A directory is read in place instead, each file mapped when first used.
  std::unique_ptr<archive::MappedArchive> mapping;
  if (!input->is_directory()) mapping = std::make_unique<archive::MappedArchive>(input->fd(), input->name());
  // One pass over the headers (or the directory): where every member is.
  std::unique_ptr<archive::MemberIndex> index;
  {
    StepTimer timer("index_members");
    index = input->is_directory() ? archive::MemberIndex::open_directory(input->release_fd(), input->name())
                                  : std::make_unique<archive::MemberIndex>(mapping->bytes(), input->name(), input->fd());
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
  if (options.all && !options.layer_store.empty()) {
    store_all_images(options, *index, images);
    return;
  }
  if (options.all) {
    unpack_all(options, *index, images, [&](const UnpackSummary& summary) { report(options, summary); });
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
  if (!options.layer_store.empty()) {
    store_image_layers(options, *index, selected);
    return;
  }
  const std::vector<std::size_t> layer_indices = image::select_layers(*selected.image, options.layer_ids);
  if (options.files) {
    list_files(options, *index, selected, layer_indices);
    return;
  }
  if (options.cat_path) {
    cat_file(options, *index, selected, layer_indices);
    return;
  }
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
