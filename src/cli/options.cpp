#include "cli/options.hpp"

#include <algorithm>
#include <charconv>

#include <cxxopts.hpp>
#include <fmt/format.h>

#include "util/error.hpp"

namespace undocker::cli {

namespace {

constexpr const char* kExitStatuses = R"(
Exit status:
  0  success
  1  I/O or filesystem failure
  2  bad usage
  3  malformed or unsupported archive
  4  image, tag, platform or layer not found, or the choice is ambiguous
  5  digest mismatch

Runs as root: owners are set from the archive by number and device nodes
are created. As another user: owners are left as the user's own, a device
node is an error unless -i, and xattrs the kernel refuses (security.*,
trusted.*) are skipped with one warning.
)";

cxxopts::Options make_parser() {
  cxxopts::Options parser("undocker", "Unpack a saved container image archive into a root filesystem directory.");
  parser.custom_help("[OPTIONS]");
  parser.positional_help("[IMAGE]");
  // clang-format off
  parser.add_options("Input and selection")
    ("f,file", "read this archive (default and '-': standard input)", cxxopts::value<std::string>(), "ARCHIVE")
    ("l,layer", "apply only this layer (id, digest, unique prefix or index; repeatable)",
     cxxopts::value<std::vector<std::string>>(), "ID")
    ("platform", "choose this platform from a multi-platform image (default: the only one, else the host's)",
     cxxopts::value<std::string>(), "OS/ARCH[/VARIANT]")
    ("image", "NAME[:TAG], NAME@sha256:HEX, or an image id or unique prefix", cxxopts::value<std::string>());
  parser.add_options("Output")
    ("o,output", "extract into DIR, created if missing (default: .)", cxxopts::value<std::string>(), "DIR")
    ("tar", "write the flattened root filesystem as one tar stream to FILE ('-': stdout) instead of a directory",
     cxxopts::value<std::string>(), "FILE")
    ("nspawn", "also write DIR.nspawn (systemd-nspawn settings) from the image config")
    ("list,ls", "list the images and their tags: NAME: TAG TAG ...")
    ("layers", "list the selected image's layer ids, bottom first")
    ("config", "print the selected image's config JSON")
    ("json", "machine-readable JSON for --list, --layers and the summary of each image extracted")
    ("all", "extract every image into DIR/NAME/TAG (DIR/ID when untagged)")
    ("uid-shift", "write owners as BASE+uid, BASE+gid (for systemd-nspawn --private-users=BASE)",
     cxxopts::value<std::string>(), "BASE");
  parser.add_options("Behaviour")
    ("i,ignore-errors", "report an entry that cannot be created as a warning and go on")
    ("W,no-whiteouts", "do not process whiteouts: write .wh.* entries as plain files")
    ("no-verify", "skip checking blob digests and diffIDs");
  parser.add_options("Logging")
    ("v,verbose", "log each image and layer extracted")
    ("d,debug", "log debugging detail")
    ("q,quiet", "log errors only")
    ("h,help", "show this help")
    ("version", "show the version");
  // clang-format on
  parser.parse_positional({"image"});
  return parser;
}

}  // namespace

std::string help_text() { return make_parser().help({"Input and selection", "Output", "Behaviour", "Logging"}) + kExitStatuses; }

Options parse_options(int argc, char** argv) {
  cxxopts::Options parser = make_parser();
  cxxopts::ParseResult result;
  try {
    result = parser.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& error) {
    throw UsageError(error.what());
  }
  if (!result.unmatched().empty()) {
    throw UsageError(fmt::format("unexpected argument {}", result.unmatched().front()));
  }
  Options options;
  if (result.count("file")) options.archive = result["file"].as<std::string>();
  if (result.count("output")) options.output = result["output"].as<std::string>();
  if (result.count("image")) options.image = result["image"].as<std::string>();
  if (result.count("layer")) options.layer_ids = result["layer"].as<std::vector<std::string>>();
  options.list = result.count("list") > 0;
  options.layers = result.count("layers") > 0;
  options.config = result.count("config") > 0;
  options.json = result.count("json") > 0;
  options.verify = result.count("no-verify") == 0;
  options.all = result.count("all") > 0;
  options.nspawn = result.count("nspawn") > 0;
  if (result.count("tar")) {
    options.tar_output = result["tar"].as<std::string>();
    if (options.tar_output.empty()) throw UsageError("--tar wants a file name, or '-' for standard output");
    if (result.count("output")) throw UsageError("-o and --tar exclude each other: write a directory or a tar stream");
    if (result.count("all") || options.nspawn) throw UsageError("--tar writes one image: it excludes --all and --nspawn");
  }
  if (result.count("uid-shift")) {
    const std::string text = result["uid-shift"].as<std::string>();
    std::uint64_t base = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), base);
    if (error != std::errc() || end != text.data() + text.size() || base > 0xfffffffe) {
      throw UsageError(fmt::format("--uid-shift wants a number from 0 to 4294967294, not {}", text));
    }
    options.uid_shift = static_cast<std::uint32_t>(base);
  }
  if (options.all && (options.image || options.list || options.layers || options.config)) {
    throw UsageError("--all extracts every image: it takes no IMAGE and excludes --list, --layers and --config");
  }
  if (result.count("platform")) {
    options.platform = result["platform"].as<std::string>();
    const auto slashes = std::count(options.platform.begin(), options.platform.end(), '/');
    if (slashes < 1 || slashes > 2 || options.platform.front() == '/' || options.platform.back() == '/') {
      throw UsageError(fmt::format("--platform wants OS/ARCH[/VARIANT], not {}", options.platform));
    }
  }
  options.ignore_errors = result.count("ignore-errors") > 0;
  options.no_whiteouts = result.count("no-whiteouts") > 0;
  options.help = result.count("help") > 0;
  options.version = result.count("version") > 0;
  if (result.count("quiet")) options.log_level = LogLevel::kError;
  if (result.count("verbose")) options.log_level = LogLevel::kInfo;
  if (result.count("debug")) options.log_level = LogLevel::kDebug;
  if (options.output.empty()) throw UsageError("the output directory must not be empty");
  if (static_cast<int>(options.list) + static_cast<int>(options.layers) + static_cast<int>(options.config) > 1) {
    throw UsageError("--list, --layers and --config exclude each other");
  }
  return options;
}

}  // namespace undocker::cli
