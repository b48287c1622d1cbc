#include "pipeline/nspawn_output.hpp"

#include <optional>

#include <fmt/format.h>

#include "fs/output_dir.hpp"
#include "output/nspawn.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker {

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

}  // namespace undocker
