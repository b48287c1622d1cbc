// Choosing the image and layers on hand-built ImageArchive values: Docker's
// name defaults (docker.io, library/, latest), registries with ports, ids,
// id prefixes and digests, and the exact not-found messages.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "image/image.hpp"
#include "image/select.hpp"
#include "util/error.hpp"

#include <fmt/format.h>

namespace undocker::image {

namespace {

const std::string kBusyboxId = "beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a";
const std::string kAlpineId = "c1aabb73d2339c5ebaa3681de2e9d9c18d57485045a4e311d9f8004bec208d67";
const std::string kLocalId = "c1ff0000000000000000000000000000000000000000000000000000000000aa";

Image make_image(std::string id, std::vector<std::string> repo_tags, std::size_t group) {
  Image image;
  image.id = std::move(id);
  image.repo_tags = std::move(repo_tags);
  image.group = group;
  return image;
}

ImageArchive three_images() {
  ImageArchive archive;
  archive.images.push_back(make_image(kBusyboxId, {"busybox:latest", "busybox:1.36"}, 0));
  archive.images.push_back(make_image(kAlpineId, {"docker.io/library/alpine:3.19"}, 1));
  archive.images.push_back(make_image(kLocalId, {"localhost:5000/team/app:v2", "host.example:5000/name:latest"}, 2));
  archive.images[2].manifest_digest = "sha256:" + std::string(64, 'e');
  return archive;
}

const Image* select(const ImageArchive& archive, const std::optional<std::string>& reference) {
  return select_image(archive, reference).image;
}

// The NotFoundError message selecting `reference` raises, or "" if none.
std::string error_of(const ImageArchive& archive, const std::optional<std::string>& reference,
                     const std::string& platform = "") {
  try {
    select_image(archive, reference, platform);
  } catch (const NotFoundError& error) {
    return error.what();
  }
  return "";
}

Image layered_image() {
  Image image;
  image.id = kBusyboxId;
  auto add = [&](std::string id, std::string digest, std::string diff_id) {
    Layer layer;
    layer.id = std::move(id);
    layer.member = "blobs/sha256/" + layer.id;
    layer.digest = std::move(digest);
    layer.diff_id = std::move(diff_id);
    image.layers.push_back(std::move(layer));
  };
  add("aaaa1111", "sha256:dddd0001", "sha256:ffff0001");
  add("aaaa2222", "sha256:dddd0002", "sha256:ffff0002");
  add("bbbb3333", "sha256:eeee0003", "sha256:9999abcd");
  add("bbbb", "", "");  // a full id that is also a prefix of another
  return image;
}

std::vector<std::size_t> layers(const std::vector<std::string>& wanted) {
  static const Image image = layered_image();
  return select_layers(image, wanted);
}

std::string layer_error_of(const std::vector<std::string>& wanted) {
  try {
    layers(wanted);
  } catch (const NotFoundError& error) {
    return error.what();
  }
  return "";
}

// The notes (INFO lines after the ERROR line) selecting `reference` raises.
std::vector<std::string> notes_of(const ImageArchive& archive, const std::optional<std::string>& reference) {
  try {
    select_image(archive, reference);
  } catch (const NotFoundError& error) {
    return error.notes();
  }
  return {};
}

using Indices = std::vector<std::size_t>;

}  // namespace

TEST_SUITE_BEGIN("image::select");

TEST_CASE("split_name_tag splits at the last ':' after the last '/'") {
  using Pair = std::pair<std::string, std::string>;
  CHECK(split_name_tag("busybox") == Pair{"busybox", "latest"});
  CHECK(split_name_tag("busybox:1.36") == Pair{"busybox", "1.36"});
  CHECK(split_name_tag("library/busybox:musl") == Pair{"library/busybox", "musl"});
  CHECK(split_name_tag("host:5000/name") == Pair{"host:5000/name", "latest"});
  CHECK(split_name_tag("host:5000/name:v1") == Pair{"host:5000/name", "v1"});
  CHECK(split_name_tag("localhost:5000/a/b:tag") == Pair{"localhost:5000/a/b", "tag"});
  CHECK(split_name_tag(":v1") == Pair{"", "v1"});
  CHECK(split_name_tag("name:") == Pair{"name", ""});
}

TEST_CASE("normalize_repository applies Docker's defaults") {
  CHECK(normalize_repository("busybox") == "docker.io/library/busybox");
  CHECK(normalize_repository("library/busybox") == "docker.io/library/busybox");
  CHECK(normalize_repository("docker.io/busybox") == "docker.io/library/busybox");
  CHECK(normalize_repository("docker.io/library/busybox") == "docker.io/library/busybox");
  CHECK(normalize_repository("index.docker.io/library/busybox") == "docker.io/library/busybox");
  CHECK(normalize_repository("index.docker.io/busybox") == "docker.io/library/busybox");
  CHECK(normalize_repository("user/repo") == "docker.io/user/repo");
  CHECK(normalize_repository("quay.io/x") == "quay.io/x");
  CHECK(normalize_repository("quay.io/org/x") == "quay.io/org/x");
  CHECK(normalize_repository("localhost/x") == "localhost/x");
  CHECK(normalize_repository("localhost:5000/a/b") == "localhost:5000/a/b");
  CHECK(normalize_repository("host:5000/name") == "host:5000/name");
  CHECK(normalize_repository("localhost") == "docker.io/library/localhost");
}

TEST_CASE("no name: the only image") {
  ImageArchive archive;
  archive.images.push_back(make_image(kBusyboxId, {"busybox:latest"}, 0));
  const SelectedImage selected = select_image(archive, std::nullopt);
  CHECK(selected.image == &archive.images[0]);
  CHECK(selected.display_name == "busybox");
  CHECK(select(archive, std::string()) == &archive.images[0]);
}

TEST_CASE("no name: an untagged image is named by its id") {
  ImageArchive archive;
  archive.images.push_back(make_image(kBusyboxId, {}, 0));
  const SelectedImage selected = select_image(archive, std::nullopt);
  CHECK(selected.image == &archive.images[0]);
  CHECK(selected.display_name == kBusyboxId);
}

TEST_CASE("no name and several images, or none") {
  CHECK(error_of(three_images(), std::nullopt) == "No image name specified and multiple images contained in archive");
  CHECK(error_of(three_images(), std::string()) == "No image name specified and multiple images contained in archive");
  CHECK(error_of(ImageArchive{}, std::nullopt) == "the archive holds no image");
}

TEST_CASE("Docker's name defaults: busybox is docker.io/library/busybox:latest") {
  const ImageArchive archive = three_images();
  for (const char* reference : {"busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox",
                                "docker.io/busybox:latest", "index.docker.io/library/busybox:latest"}) {
    CAPTURE(reference);
    CHECK(select(archive, reference) == &archive.images[0]);
  }
  CHECK(select(archive, "busybox:1.36") == &archive.images[0]);
  CHECK(select_image(archive, "docker.io/library/busybox:1.36").display_name == "docker.io/library/busybox");

  // The stored name may be the long form, and the request the short one.
  for (const char* reference : {"alpine:3.19", "library/alpine:3.19", "docker.io/library/alpine:3.19"}) {
    CAPTURE(reference);
    CHECK(select(archive, reference) == &archive.images[1]);
  }
}

TEST_CASE("registries with ports") {
  const ImageArchive archive = three_images();
  CHECK(select(archive, "localhost:5000/team/app:v2") == &archive.images[2]);
  CHECK(select(archive, "host.example:5000/name") == &archive.images[2]);  // tag latest
  CHECK(select(archive, "host.example:5000/name:latest") == &archive.images[2]);
  CHECK(error_of(archive, "localhost:5000/team/app") == "failed to find image localhost:5000/team/app with tag latest");
  // Not on Docker Hub: no library/ and no docker.io/ to add.
  CHECK(error_of(archive, "team/app:v2") == "failed to find image team/app with tag v2");
}

TEST_CASE("an unknown name or tag") {
  const ImageArchive archive = three_images();
  CHECK(error_of(archive, "nosuch") == "failed to find image nosuch with tag latest");
  CHECK(error_of(archive, "busybox:nosuch") == "failed to find image busybox with tag nosuch");
  CHECK(error_of(archive, "alpine") == "failed to find image alpine with tag latest");
  // Names are escaped in messages.
  CHECK(error_of(archive, "bad\x1bname") == "failed to find image bad\\x1bname with tag latest");
}

TEST_CASE("an image id or a unique prefix of one") {
  const ImageArchive archive = three_images();
  CHECK(select(archive, kAlpineId) == &archive.images[1]);
  CHECK(select(archive, "sha256:" + kAlpineId) == &archive.images[1]);
  CHECK(select(archive, "beae17") == &archive.images[0]);
  CHECK(select(archive, "c1a") == &archive.images[1]);
  CHECK(select(archive, "c1f") == &archive.images[2]);
  CHECK(select_image(archive, "c1f").display_name == "localhost:5000/team/app");
  CHECK(error_of(archive, "c1") == "image id prefix c1 is ambiguous");
  CHECK(error_of(archive, "sha256:c1") == "image id prefix c1 is ambiguous");
  CHECK(error_of(archive, "0123") == "failed to find image 0123 with tag latest");
}

TEST_CASE("NAME@sha256:ID") {
  const ImageArchive archive = three_images();
  CHECK(select(archive, "alpine@sha256:" + kAlpineId) == &archive.images[1]);
  CHECK(select_image(archive, "alpine@sha256:" + kAlpineId).display_name == "alpine");
  // The manifest digest names an image too (OCI layouts, `docker pull name@digest`).
  CHECK(select(archive, "localhost:5000/team/app@sha256:" + std::string(64, 'e')) == &archive.images[2]);
  CHECK(error_of(archive, "alpine@sha256:" + std::string(64, '0')) ==
        "failed to find image alpine with digest sha256:" + std::string(64, '0'));
}

TEST_CASE("a bare OCI tag is matched by the tag alone") {
  ImageArchive archive = three_images();
  archive.images.push_back(make_image(std::string(64, 'f'), {":v1"}, 3));
  CHECK(select(archive, "v1") == &archive.images[3]);
  CHECK(select(archive, ":v1") == &archive.images[3]);
}

TEST_CASE("platforms of one image") {
  ImageArchive archive;
  archive.images.push_back(make_image(kBusyboxId, {"busybox:latest"}, 0));
  archive.images.push_back(make_image(kAlpineId, {"busybox:latest"}, 0));
  archive.images[0].platform = "linux/amd64";
  archive.images[1].platform = "linux/arm64/v8";
  CHECK(select_image(archive, "busybox", "linux/arm64").image == &archive.images[1]);
  CHECK(select_image(archive, std::nullopt, "linux/amd64").image == &archive.images[0]);
  CHECK(error_of(archive, "busybox", "linux/s390x") ==
        "image busybox has no platform linux/s390x; available: linux/amd64, linux/arm64/v8");
}

TEST_CASE("select_layers: all of them when none is named") {
  CHECK(layers({}) == Indices{0, 1, 2, 3});
}

TEST_CASE("select_layers: by id, digest, diffID, prefix or index") {
  CHECK(layers({"aaaa2222"}) == Indices{1});
  CHECK(layers({"sha256:dddd0001"}) == Indices{0});
  CHECK(layers({"dddd0001"}) == Indices{0});
  CHECK(layers({"sha256:9999abcd"}) == Indices{2});
  CHECK(layers({"aaaa1"}) == Indices{0});      // unique id prefix
  CHECK(layers({"eeee"}) == Indices{2});       // unique digest prefix
  CHECK(layers({"ffff0002"}) == Indices{1});
  CHECK(layers({"bbbb"}) == Indices{3});       // an exact id is no ambiguous prefix
  CHECK(layers({"bbbb3"}) == Indices{2});
  CHECK(layers({"3"}) == Indices{3});          // index, bottom first
  CHECK(layers({"0"}) == Indices{0});
  CHECK(layers({"0002"}) == Indices{2});
  // Several, in any order and repeated: bottom first, once each.
  CHECK(layers({"bbbb3333", "0", "aaaa1111"}) == Indices{0, 2});
}

TEST_CASE("select_layers: a short number is an index, a longer one an id prefix") {
  Image image;
  for (const char* id : {"1234567890ab", "0000ffff", "abc"}) {
    Layer layer;
    layer.id = id;
    image.layers.push_back(layer);
  }
  CHECK(select_layers(image, {"1"}) == Indices{1});       // index 1, though an id starts with 1
  CHECK(select_layers(image, {"2"}) == Indices{2});
  CHECK(select_layers(image, {"12345"}) == Indices{0});   // five digits: a prefix
  CHECK(select_layers(image, {"0000f"}) == Indices{1});
  CHECK(select_layers(image, {"1234567890ab"}) == Indices{0});
}

TEST_CASE("select_layers: unknown or ambiguous layers") {
  CHECK_THROWS_AS(layers({"zzzz"}), NotFoundError);
  CHECK(layer_error_of({"zzzz"}) == "failed to find layer zzzz in the image");
  CHECK(layer_error_of({"4"}) == "layer index 4 is out of range: the image has 4 layers");
  CHECK(layer_error_of({"9999"}) == "layer index 9999 is out of range: the image has 4 layers");
  CHECK(layer_error_of({"-1"}) == "failed to find layer -1 in the image");
  CHECK(layer_error_of({"99999"}) == "failed to find layer 99999 in the image");  // too long for an index
  // With "sha256:" it is a digest, never an index.
  CHECK(layer_error_of({"sha256:0000"}) == "failed to find layer sha256:0000 in the image");
  CHECK(layer_error_of({"aaaa"}) == "layer aaaa is ambiguous");
  CHECK(layer_error_of({"ffff"}) == "layer ffff is ambiguous");
  CHECK(layer_error_of({"aaaa1111", "nope"}) == "failed to find layer nope in the image");
}

TEST_CASE("not-found and ambiguous errors are followed by what exists and a hint") {
  const ImageArchive archive = three_images();
  using Notes = std::vector<std::string>;
  CHECK(notes_of(archive, std::nullopt) ==
        Notes{"the archive holds 3 images: busybox:latest, docker.io/library/alpine:3.19, localhost:5000/team/app:v2",
              "name one as IMAGE (see --list), or extract every one with --all"});
  CHECK(notes_of(archive, "busybox:nope") ==
        Notes{"image busybox has tags: latest, 1.36", "see every image and tag with --list"});
  CHECK(notes_of(archive, "docker.io/library/alpine:edge") ==
        Notes{"image docker.io/library/alpine has tag: 3.19", "see every image and tag with --list"});
  CHECK(notes_of(archive, "nosuch")[0] ==
        "the archive holds 3 images: busybox:latest, docker.io/library/alpine:3.19, localhost:5000/team/app:v2");

  // At most 10 images, then how many more; untagged ones by their short id,
  // the platforms of one image once.
  ImageArchive many;
  for (std::size_t i = 0; i < 12; ++i) many.images.push_back(make_image(std::string(64, 'a'), {fmt::format("app{}:1", i)}, i));
  many.images.push_back(make_image(kBusyboxId, {}, 12));
  many.images.push_back(make_image(kBusyboxId, {}, 12));
  CHECK(notes_of(many, std::nullopt)[0] ==
        "the archive holds 13 images: app0:1, app1:1, app2:1, app3:1, app4:1, app5:1, app6:1, app7:1, app8:1, "
        "app9:1 and 3 more");
  ImageArchive one_untagged;
  one_untagged.images.push_back(make_image(kBusyboxId, {}, 0));
  CHECK(notes_of(one_untagged, "x")[0] == "the archive holds 1 image: beae173ccac6");
}

TEST_CASE("select_layers: the notes after a layer error") {
  try {
    layers({"zzzz"});
    FAIL("no error");
  } catch (const NotFoundError& error) {
    CHECK(error.notes() == std::vector<std::string>{"the image has 4 layers; see them with --layers"});
  }
}

TEST_SUITE_END();

}  // namespace undocker::image
