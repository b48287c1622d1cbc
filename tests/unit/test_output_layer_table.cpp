// The --layers -v table: one header, one shape of row whatever the format
// recorded, whole when not on a terminal, fitted to a terminal's width.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "image/image.hpp"
#include "output/json_report.hpp"
#include "output/layer_table.hpp"

namespace undocker::output {

namespace {

image::Image two_layers() {
  image::Image image;
  image.id = std::string(64, 'c');
  image::Layer docker;  // docker-archive: no media type, an uncompressed blob
  docker.id = "28cfe03618aa2e914e81fdd90345245c15f4478e35252c06ca52d238fd3cc694";
  docker.member = docker.id + "/layer.tar";
  docker.diff_id = "sha256:23bc2b70b2014dec0ac22f27bb93e9babd08cdd6f1115d0c955b9ff22b382f5a";
  docker.created_by = "/bin/sh -c #(nop) ADD file:ce02 in /";
  image::Layer oci;  // OCI: a gzip blob with its media type; no history
  oci.id = "9aef42427209c9a180c61bb36b0b09681cbe3d3ff6409408bde0eb17ec1ba0cc";
  oci.member = "blobs/sha256/" + oci.id;
  oci.digest = "sha256:" + oci.id;
  oci.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  image.layers = {docker, oci};
  return image;
}

const std::vector<LayerSizes> kSizes = {{std::nullopt, 1369600}, {4132, std::nullopt}};

}  // namespace

TEST_SUITE_BEGIN("output::layer_table");

TEST_CASE("not on a terminal: everything whole, '-' where unknown") {
  CHECK(render_layer_table(two_layers(), kSizes) ==
        "INDEX  ID                                                                "
        "DIFF_ID                                                                  "
        "MEDIA_TYPE                                   COMPRESSED  SIZE     CREATED_BY\n"
        "0      28cfe03618aa2e914e81fdd90345245c15f4478e35252c06ca52d238fd3cc694  "
        "sha256:23bc2b70b2014dec0ac22f27bb93e9babd08cdd6f1115d0c955b9ff22b382f5a  "
        "-                                            -           1369600  /bin/sh -c #(nop) ADD file:ce02 in /\n"
        "1      9aef42427209c9a180c61bb36b0b09681cbe3d3ff6409408bde0eb17ec1ba0cc  "
        "-                                                                        "
        "application/vnd.oci.image.layer.v1.tar+gzip  4132        -        -\n");
}

TEST_CASE("on a terminal: short ids, created_by cut to the width with an ellipsis") {
  const std::string table = render_layer_table(two_layers(), kSizes, 120);
  CHECK(table ==
        "INDEX  ID            DIFF_ID       MEDIA_TYPE                                   COMPRESSED  SIZE     CREATED_BY\n"
        "0      28cfe03618aa  23bc2b70b201  -                                            -           1369600  /bin/sh -c #(nop)…\n"
        "1      9aef42427209  -             application/vnd.oci.image.layer.v1.tar+gzip  4132        -        -\n");
}

TEST_CASE("--layers --json carries sizes and created_by") {
  const std::string json = image_json(two_layers(), kSizes);
  CHECK(json.find(R"("size":null,"compressed_size":null,"uncompressed_size":1369600,"created_by":"/bin/sh -c #(nop) ADD file:ce02 in /"})") !=
        std::string::npos);
  CHECK(json.find(R"("compressed_size":4132,"uncompressed_size":null,"created_by":null})") != std::string::npos);
}

TEST_SUITE_END();

}  // namespace undocker::output
