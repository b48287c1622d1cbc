// libFuzzer: the outer-archive index, format detection and every image
// loader (v1, docker-archive, OCI layout), then image and layer selection.
#include <cstddef>
#include <cstdint>

#include "archive/index.hpp"
#include "image/image.hpp"
#include "image/select.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    undocker::archive::MemberIndex index(undocker::Bytes(data, size), "fuzz.tar");
    undocker::image::ImageArchive archive = undocker::image::load_images(index);
    for (const undocker::image::Image& image : archive.images) {
      for (const undocker::image::Layer& layer : image.layers) (void)index.find_file(layer.member);
    }
    const undocker::image::SelectedImage selected = undocker::image::select_image(archive, std::nullopt);
    (void)undocker::image::select_layers(*selected.image, {"0"});
  } catch (const undocker::Error&) {
  }
  return 0;
}
