// nspawn_settings: the exact .nspawn text for image configs, and the
// quoting systemd-nspawn's Environment=/Parameters= parser reads back.
#include <doctest/doctest.h>

#include <string>

#include "output/nspawn.hpp"
#include "util/error.hpp"

namespace undocker::output {

namespace {

std::string settings(const std::string& json) { return nspawn_settings(as_bytes(json), "blobs/sha256/c0ffee"); }

constexpr const char* kHeader =
    "# systemd-nspawn settings written by undocker from the image config\n"
    "# blobs/sha256/c0ffee: Env as Environment=, WorkingDir as WorkingDirectory=,\n"
    "# User as User=, Entrypoint followed by Cmd as Parameters=.\n"
    "[Exec]\n";

constexpr const char* kBoot = "# Without Boot=no, systemd-nspawn ignores Parameters=.\nBoot=no\n";

}  // namespace

TEST_CASE("output::nspawn_settings maps Env, WorkingDir, User, Entrypoint and Cmd") {
  const std::string json = R"({"architecture": "amd64", "config": {
      "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "GREETING=hello world", "QUOTE=say \"hi\""],
      "WorkingDir": "/srv/app", "User": "1000:1001",
      "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"]}})";
  CHECK(settings(json) == std::string(kHeader) +
                              "Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                              "Environment=\"GREETING=hello world\"\n"
                              "Environment='QUOTE=say \"hi\"'\n"
                              "WorkingDirectory=/srv/app\n"
                              "User=1000\n"
                              "# The config's User also names the group 1001; "
                              "systemd-nspawn sets the user's own groups.\n"
                              "# Without Boot=no, systemd-nspawn ignores Parameters=.\n"
                              "Boot=no\n"
                              "Parameters=/docker-entrypoint.sh nginx -g \"daemon off;\"\n");
}

TEST_CASE("output::nspawn_settings with null Entrypoint, empty User, relative WorkingDir") {
  CHECK(settings(R"({"config": {"Entrypoint": null, "Cmd": ["/bin/sh", "-c", "echo it's"], "User": "",
                                "WorkingDir": "app"}})") ==
        std::string(kHeader) + "WorkingDirectory=/app\n" + kBoot + "Parameters=/bin/sh -c \"echo it's\"\n");
  SUBCASE("both null: no Parameters=") {
    CHECK(settings(R"({"config": {"Entrypoint": null, "Cmd": null, "Env": null}})") == kHeader);
  }
  SUBCASE("no config at all") { CHECK(settings(R"({"rootfs": {}})") == kHeader); }
  SUBCASE("legacy container_config") {
    CHECK(settings(R"({"container_config": {"User": "nobody", "Cmd": ["true"]}})") ==
          std::string(kHeader) + "User=nobody\n" + kBoot + "Parameters=true\n");
  }
  SUBCASE("config wins over container_config") {
    CHECK(settings(R"({"container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]}, "config": {"Cmd": ["sh"]}})") ==
          std::string(kHeader) + kBoot + "Parameters=sh\n");
  }
}

TEST_CASE("output::nspawn_settings leaves out what no line can hold") {
  CHECK(settings(R"({"config": {"Env": ["A=1\n2", "B=2"], "Cmd": ["echo", "a\nb"]}})") ==
        std::string(kHeader) +
            "# Env A left out: its value holds a line break\n"
            "Environment=B=2\n"
            "# Entrypoint and Cmd left out: an argument holds a line break\n");
}

TEST_CASE("output::nspawn_settings rejects malformed configs naming the member") {
  CHECK_THROWS_AS(settings("{\"config\": "), FormatError);
  CHECK_THROWS_WITH(settings(R"({"config": {"Cmd": "sh"}})"),
                    R"(blobs/sha256/c0ffee: "Cmd" is not a JSON array)");
}

TEST_CASE("output::quote_word") {
  CHECK(quote_word("plain") == "plain");
  CHECK(quote_word("back\\slash") == "back\\slash");  // kept literally by nspawn
  CHECK(quote_word("") == "\"\"");
  CHECK(quote_word("a b") == "\"a b\"");
  CHECK(quote_word("tab\there") == "\"tab\there\"");
  CHECK(quote_word("it's") == "\"it's\"");
  CHECK(quote_word("say \"hi\"") == "'say \"hi\"'");
  CHECK(quote_word("a'b\"c") == "\"a'b\"'\"c'");
  CHECK(quote_word("dir\\") == "\"dir\\\"");  // a trailing backslash would join lines
  CHECK(quotable("a b"));
  CHECK_FALSE(quotable("a\nb"));
  CHECK_FALSE(quotable(std::string("a\0b", 3)));
}

}  // namespace undocker::output
