#include "cli/options.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <string_view>

#include <cxxopts.hpp>
#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::cli {

namespace {

constexpr const char* kImageSyntax = R"(
IMAGE is NAME[:TAG] (no TAG means latest; busybox also matches
docker.io/library/busybox), NAME@sha256:HEX, or an image ID or a unique
prefix of one. Without IMAGE the archive must hold exactly one image.
)";

constexpr const char* kExamples = R"(
Examples:
  The original's way, the archive on standard input:
    docker save IMAGE | undocker -o DIR IMAGE
  The archive's only image into rootfs:
    undocker -f busybox.tar -o rootfs
  The images and tags in an archive, then every image into images/NAME/TAG:
    undocker -f bundle.tar --list
    undocker -f bundle.tar --all -o images
  The layers with diffIDs, media types, sizes and the commands that made them:
    undocker -f busybox.tar --layers -v
  One tar stream instead of a directory:
    undocker -f nginx.tar --tar - | machinectl import-tar - nginx
  What is in the image, and one file of it, without extracting:
    undocker -f nginx.tar --files
    undocker -f nginx.tar --cat /etc/os-release
  Only /etc, without the package manager's caches:
    undocker -f debian.tar -o etc-only --path /etc --exclude '*-old'
  Each layer once in a shared store, then the image as an overlay mount:
    lower=$(undocker -f nginx.tar --layer-store /var/lib/layers)
    mount -t overlay overlay -o "ro,$lower" /mnt
)";

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

// Every option once: its long name, its other spellings, and whether it
// takes an argument. The scan below checks argv against it before cxxopts
// parses, so that an error names the option exactly as it was typed.
struct OptionSpec {
  std::string_view name;      // the long name, as cxxopts knows it
  std::string_view aliases;   // other long names, space-separated
  char short_name;            // 0: none
  bool takes_argument;
};

constexpr OptionSpec kOptionSpecs[] = {
    {"file", "", 'f', true},          {"layer", "", 'l', true},
    {"platform", "", 0, true},        {"output", "", 'o', true},
    {"tar", "", 0, true},             {"nspawn", "", 0, false},
    {"list", "ls", 0, false},         {"layers", "", 0, false},
    {"config", "", 0, false},         {"json", "", 0, false},
    {"all", "", 0, false},            {"uid-shift", "", 0, true},
    {"ignore-errors", "", 'i', false}, {"no-whiteouts", "", 'W', false},
    {"no-verify", "", 0, false},      {"verbose", "", 'v', false},
    {"debug", "", 'd', false},        {"quiet", "", 'q', false},
    {"help", "", 'h', false},         {"version", "", 0, false},
    {"files", "", 0, false},          {"cat", "", 0, true},
    {"path", "", 0, true},            {"exclude", "", 0, true},
    {"verify", "", 0, false},
    {"layer-store", "", 0, true},     {"userxattr", "", 0, false},
};

const OptionSpec* find_long(std::string_view name) {
  for (const OptionSpec& spec : kOptionSpecs) {
    if (spec.name == name) return &spec;
    std::string_view aliases = spec.aliases;
    while (!aliases.empty()) {
      const std::size_t space = aliases.find(' ');
      if (aliases.substr(0, space) == name) return &spec;
      aliases = space == std::string_view::npos ? std::string_view() : aliases.substr(space + 1);
    }
  }
  return nullptr;
}

const OptionSpec* find_short(char name) {
  for (const OptionSpec& spec : kOptionSpecs) {
    if (spec.short_name == name) return &spec;
  }
  return nullptr;
}

/// What the scan learns from argv: each option given, spelled as the user
/// first typed it ("-q", "--quiet", "--ls"), and the positional arguments.
struct Typed {
  std::map<std::string, std::string, std::less<>> spelled;  // long name → as typed
  std::vector<std::string> positional;

  bool has(std::string_view name) const { return spelled.find(name) != spelled.end(); }
  const std::string& operator[](std::string_view name) const { return spelled.find(name)->second; }
};

// Walks argv as getopt_long (and cxxopts) does: "--" ends the options, an
// option that takes an argument takes the next word whatever it is, "-fX"
// gives -f the argument X, "-vq" is -v -q. Throws UsageError for an unknown
// option, a missing argument, or an argument given to a flag.
Typed scan_arguments(int argc, char** argv) {
  Typed typed;
  auto remember = [&](const OptionSpec& spec, std::string spelling) {
    typed.spelled.emplace(std::string(spec.name), std::move(spelling));
  };
  bool options_ended = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (options_ended || word.size() < 2 || word[0] != '-') {
      typed.positional.emplace_back(word);
      continue;
    }
    if (word == "--") {
      options_ended = true;
      continue;
    }
    if (word.starts_with("--")) {
      const std::size_t equals = word.find('=');
      const std::string_view name = word.substr(2, equals == std::string_view::npos ? std::string_view::npos : equals - 2);
      const std::string spelling = fmt::format("--{}", escape(name));
      const OptionSpec* spec = find_long(name);
      if (!spec) throw UsageError(fmt::format("unknown option {}", spelling));
      if (equals != std::string_view::npos && !spec->takes_argument) {
        throw UsageError(fmt::format("option {} takes no argument", spelling));
      }
      if (equals == std::string_view::npos && spec->takes_argument) {
        if (i + 1 >= argc) throw UsageError(fmt::format("option {} needs an argument", spelling));
        ++i;
      }
      remember(*spec, spelling);
      continue;
    }
    for (std::size_t k = 1; k < word.size(); ++k) {
      const OptionSpec* spec = find_short(word[k]);
      const std::string spelling = fmt::format("-{}", escape(word.substr(k, 1)));
      if (!spec) throw UsageError(fmt::format("unknown option {}", spelling));
      remember(*spec, spelling);
      if (!spec->takes_argument) continue;
      if (k + 1 == word.size()) {
        if (i + 1 >= argc) throw UsageError(fmt::format("option {} needs an argument", spelling));
        ++i;
      }
      break;  // the rest of the word is the argument
    }
  }
  return typed;
}

cxxopts::Options make_parser() {
  cxxopts::Options parser("undocker", "Unpack a saved container image archive into a root filesystem directory.");
  parser.custom_help("[OPTIONS]");
  parser.positional_help("[IMAGE]");
  // clang-format off
  parser.add_options("Input and selection")
    ("f,file", "read this archive, or an OCI layout or docker-archive directory (default and '-': standard input, never a terminal)",
     cxxopts::value<std::string>(), "ARCHIVE")
    ("l,layer", "apply only this layer (id, digest, diffID, unique prefix or index; repeatable)",
     cxxopts::value<std::vector<std::string>>(), "ID")
    ("platform", "choose this platform from a multi-platform image (default: the only one, else the host's)",
     cxxopts::value<std::string>(), "OS/ARCH[/VARIANT]")
    ("image", "NAME[:TAG], NAME@sha256:HEX, or an image id or unique prefix", cxxopts::value<std::string>());
  parser.add_options("Output")
    ("o,output", "extract into DIR, created if missing (default: ., never /)", cxxopts::value<std::string>(), "DIR")
    ("tar", "write the flattened root filesystem as one tar stream to FILE ('-': stdout) instead of a directory",
     cxxopts::value<std::string>(), "FILE")
    ("nspawn", "also write DIR.nspawn (systemd-nspawn settings) from the image config")
    ("layer-store", "write each layer once into STORE/sha256/CHAINID as an overlayfs lower directory (reused when "
                    "already there) and print lowerdir=TOP:...:BOTTOM for each image, instead of a directory",
     cxxopts::value<std::string>(), "STORE")
    ("userxattr", "with --layer-store, mark opaque directories with user.overlay.opaque (for mounts with "
                  "-o userxattr) instead of trusted.overlay.opaque")
    ("list,ls", "list the images and their tags: NAME: TAG TAG ... (also --ls)")
    ("layers", "list the selected image's layer ids, bottom first; with -v a table with diffIDs, media types, "
               "sizes and created_by")
    ("config", "print the selected image's config JSON")
    ("files", "print the selected image's final tree as tar -tv --numeric-owner does (mtimes in UTC); with "
              "--json one object a line. Reads layer headers only")
    ("cat", "write the file PATH of the final tree to standard output (symlinks resolved inside the image)",
     cxxopts::value<std::string>(), "PATH")
    ("json", "machine-readable JSON for --list, --layers, --files and the summary of each image extracted")
    ("all", "extract every image into DIR/NAME/TAG (DIR/ID when untagged)")
    ("uid-shift", "write owners as BASE+uid, BASE+gid (for systemd-nspawn --private-users=BASE)",
     cxxopts::value<std::string>(), "BASE");
  parser.add_options("Behaviour")
    ("path", "only PATH and what is under it, and its parents (repeatable; for -o, --tar and --files)",
     cxxopts::value<std::vector<std::string>>(), "PATH")
    ("exclude", "leave out entries whose path matches the shell PATTERN, and what is under them (repeatable; "
                "unanchored, * matches /, as GNU tar's --exclude)", cxxopts::value<std::vector<std::string>>(),
     "PATTERN")
    ("i,ignore-errors", "report an entry that cannot be created as a warning and go on")
    ("W,no-whiteouts", "do not process whiteouts: write .wh.* entries as plain files")
    ("no-verify", "skip checking blob digests and diffIDs")
    ("verify", "with --files or --cat, hash every layer used first (they check only the manifest and config "
               "digests by default; extraction checks everything by default)");
  parser.add_options("Logging")
    ("v,verbose", "log each image and layer extracted")
    ("d,debug", "log debugging detail")
    ("q,quiet", "log errors only (excludes -v and -d)")
    ("h,help", "show this help")
    ("version", "show the version");
  // clang-format on
  parser.parse_positional({"image"});
  return parser;
}

// What each list mode does instead of extracting, for the messages that
// refuse options which would do nothing there.
const char* mode_purpose(std::string_view mode) {
  if (mode == "list") return "which lists the images and extracts nothing";
  if (mode == "layers") return "which lists one image's layers and extracts nothing";
  if (mode == "files") return "which lists the image's final tree and extracts nothing";
  if (mode == "cat") return "which writes one file to standard output and extracts nothing";
  return "which prints one image's config and extracts nothing";
}

// Options that contradict each other, or would silently do nothing in the
// mode chosen, are refused: naming both, as the user typed them.
void refuse_conflicts(const Typed& typed) {
  auto refuse_pair = [&](std::string_view a, std::string_view b) {
    if (typed.has(a) && typed.has(b)) {
      throw UsageError(fmt::format("{} and {} exclude each other", typed[a], typed[b]));
    }
  };
  refuse_pair("quiet", "verbose");
  refuse_pair("quiet", "debug");
  refuse_pair("list", "layers");
  refuse_pair("list", "config");
  refuse_pair("layers", "config");
  refuse_pair("verify", "no-verify");
  // The modes that print instead of extracting exclude each other.
  refuse_pair("list", "files");
  refuse_pair("layers", "files");
  refuse_pair("config", "files");
  refuse_pair("list", "cat");
  refuse_pair("layers", "cat");
  refuse_pair("config", "cat");
  refuse_pair("files", "cat");
  const std::string image = typed.positional.empty() ? "" : fmt::format("IMAGE {}", escape(typed.positional.front()));

  for (std::string_view mode : {"list", "layers", "config"}) {
    if (!typed.has(mode)) continue;
    for (std::string_view extract_only : {"output", "tar", "nspawn", "uid-shift", "all", "layer", "ignore-errors",
                                          "no-whiteouts", "no-verify", "path", "exclude", "verify",
                                          "layer-store", "userxattr"}) {
      if (typed.has(extract_only)) {
        throw UsageError(fmt::format("{} cannot be used with {}, {}", typed[extract_only], typed[mode],
                                     mode_purpose(mode)));
      }
    }
  }
  if (typed.has("list")) {
    if (!image.empty()) throw UsageError(fmt::format("{} cannot be used with {}, which lists every image", image, typed["list"]));
    if (typed.has("platform")) {
      throw UsageError(fmt::format("{} cannot be used with {}, which lists every image", typed["platform"], typed["list"]));
    }
  }
  // --files and --cat read one image's plan: -l, -i, -W, IMAGE and
  // --platform shape it; what only writing does is refused.
  for (std::string_view mode : {"files", "cat"}) {
    if (!typed.has(mode)) continue;
    for (std::string_view extract_only : {"output", "tar", "nspawn", "uid-shift", "all", "layer-store", "userxattr"}) {
      if (typed.has(extract_only)) {
        throw UsageError(fmt::format("{} cannot be used with {}, {}", typed[extract_only], typed[mode],
                                     mode_purpose(mode)));
      }
    }
  }
  if (typed.has("cat")) {
    for (std::string_view other : {"path", "exclude"}) {
      if (typed.has(other)) {
        throw UsageError(fmt::format("{} cannot be used with {}, which names the one file to write", typed[other],
                                     typed["cat"]));
      }
    }
    if (typed.has("json")) {
      throw UsageError(fmt::format("{} cannot be used with {}, which writes the file's bytes as they are",
                                   typed["json"], typed["cat"]));
    }
  }
  if (typed.has("verify") && !typed.has("files") && !typed.has("cat")) {
    throw UsageError(fmt::format("{} is for --files and --cat: extraction and --tar verify every digest by default",
                                 typed["verify"]));
  }
  if (typed.has("config") && typed.has("json")) {
    throw UsageError(fmt::format("{} cannot be used with {}, which prints JSON already", typed["json"], typed["config"]));
  }
  if (typed.has("all")) {
    if (!image.empty()) throw UsageError(fmt::format("{} cannot be used with {}, which extracts every image", image, typed["all"]));
    if (typed.has("layer")) {
      throw UsageError(fmt::format("{} cannot be used with {}: layers are chosen in one image", typed["layer"], typed["all"]));
    }
  }
  if (typed.has("tar")) {
    refuse_pair("output", "tar");
    for (std::string_view other : {"all", "nspawn"}) {
      if (typed.has(other)) {
        throw UsageError(fmt::format("{} cannot be used with {}, which writes one image as a tar stream", typed[other],
                                     typed["tar"]));
      }
    }
  }
  if (typed.has("layer-store")) {
    // A layer directory holds a layer over all of the layers below it: it
    // cannot leave some out, filter names, shift owners or skip whiteouts.
    for (std::string_view other : {"output", "tar", "nspawn", "layer", "path", "exclude", "uid-shift",
                                   "no-whiteouts", "ignore-errors"}) {
      if (typed.has(other)) {
        throw UsageError(fmt::format("{} cannot be used with {}, which writes every layer of the image into the "
                                     "store whole",
                                     typed[other], typed["layer-store"]));
      }
    }
  }
  if (typed.has("userxattr") && !typed.has("layer-store")) {
    throw UsageError(fmt::format("{} is for --layer-store", typed["userxattr"]));
  }
}

// The output directory of an extraction must not be / itself: with the
// default "-o ." run as root in /, that would unpack over the host. This is
// a guard against a mistake, not a security boundary (which is RootDir's).
void refuse_root_output(const Options& options, const Typed& typed) {
  std::error_code error;
  const std::filesystem::path resolved =
      std::filesystem::weakly_canonical(std::filesystem::absolute(options.output, error), error);
  if (error || resolved != std::filesystem::path("/")) return;
  if (!typed.has("output")) {
    throw UsageError("refusing to extract into the current directory, which is /: name another with -o");
  }
  throw UsageError(fmt::format("refusing to extract into {} {}, which is /", typed["output"], escape(options.output)));
}

Options parse_checked(int argc, char** argv) {
  const Typed typed = scan_arguments(argc, argv);
  if (typed.positional.size() > 1) {
    throw UsageError(fmt::format("unexpected argument {}: give at most one IMAGE", escape(typed.positional[1])));
  }
  cxxopts::Options parser = make_parser();
  cxxopts::ParseResult result;
  try {
    result = parser.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& error) {
    // The scan above accepts only what cxxopts parses; should they ever
    // disagree, cxxopts' own wording must still not reach the user.
    throw UsageError("cannot parse the command line");
  }
  if (!result.unmatched().empty()) {
    throw UsageError(fmt::format("unexpected argument {}", escape(result.unmatched().front())));
  }
  Options options;
  options.help = result.count("help") > 0;
  options.version = result.count("version") > 0;
  if (options.help || options.version) return options;

  if (result.count("file")) options.archive = result["file"].as<std::string>();
  if (result.count("output")) options.output = result["output"].as<std::string>();
  if (result.count("image")) options.image = result["image"].as<std::string>();
  if (result.count("layer")) options.layer_ids = result["layer"].as<std::vector<std::string>>();
  options.list = result.count("list") > 0;
  options.layers = result.count("layers") > 0;
  options.config = result.count("config") > 0;
  options.json = result.count("json") > 0;
  options.files = result.count("files") > 0;
  if (result.count("cat")) options.cat_path = result["cat"].as<std::string>();
  if (result.count("path")) options.paths = result["path"].as<std::vector<std::string>>();
  if (result.count("exclude")) options.excludes = result["exclude"].as<std::vector<std::string>>();
  // Inspection reads a fraction of the archive: hashing whole layers would
  // undo that, so it checks them only when asked (--verify).
  const bool inspects = options.files || options.cat_path.has_value();
  options.verify_metadata = result.count("no-verify") == 0;
  options.verify = inspects ? result.count("verify") > 0 : options.verify_metadata;
  options.all = result.count("all") > 0;
  options.nspawn = result.count("nspawn") > 0;
  options.ignore_errors = result.count("ignore-errors") > 0;
  options.no_whiteouts = result.count("no-whiteouts") > 0;
  if (result.count("quiet")) options.log_level = LogLevel::kError;
  if (result.count("verbose")) options.log_level = LogLevel::kInfo;
  if (result.count("debug")) options.log_level = LogLevel::kDebug;

  if (options.archive.empty()) {
    throw UsageError(fmt::format("{} needs a file name, or - for standard input", typed["file"]));
  }
  if (options.output.empty()) throw UsageError(fmt::format("{} needs a directory name", typed["output"]));
  if (result.count("tar")) {
    options.tar_output = result["tar"].as<std::string>();
    if (options.tar_output.empty()) {
      throw UsageError(fmt::format("{} needs a file name, or - for standard output", typed["tar"]));
    }
  }
  if (result.count("layer-store")) {
    options.layer_store = result["layer-store"].as<std::string>();
    if (options.layer_store.empty()) throw UsageError(fmt::format("{} needs a directory name", typed["layer-store"]));
  }
  options.userxattr = result.count("userxattr") > 0;
  if (options.cat_path && options.cat_path->empty()) {
    throw UsageError(fmt::format("{} needs a path in the image", typed["cat"]));
  }
  for (const std::string& path : options.paths) {
    if (path.empty()) throw UsageError(fmt::format("{} needs a path in the image", typed["path"]));
  }
  for (const std::string& pattern : options.excludes) {
    if (pattern.empty()) throw UsageError(fmt::format("{} needs a pattern", typed["exclude"]));
  }
  refuse_conflicts(typed);
  if (result.count("uid-shift")) {
    const std::string text = result["uid-shift"].as<std::string>();
    std::uint64_t base = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), base);
    if (error != std::errc() || end != text.data() + text.size() || base > 0xfffffffe) {
      throw UsageError(fmt::format("{} wants a number from 0 to 4294967294, not {}", typed["uid-shift"], escape(text)));
    }
    options.uid_shift = static_cast<std::uint32_t>(base);
  }
  if (result.count("platform")) {
    options.platform = result["platform"].as<std::string>();
    const auto slashes = std::count(options.platform.begin(), options.platform.end(), '/');
    if (slashes < 1 || slashes > 2 || options.platform.front() == '/' || options.platform.back() == '/') {
      throw UsageError(fmt::format("{} wants OS/ARCH[/VARIANT], not {}", typed["platform"], escape(options.platform)));
    }
  }
  const bool extracts = !options.list && !options.layers && !options.config && options.tar_output.empty() &&
                        !inspects && options.layer_store.empty();
  if (extracts) refuse_root_output(options, typed);
  // Nobody types a tar archive: a terminal on stdin means -f was forgotten,
  // and reading it would wait forever without a word.
  if (options.archive == "-" && isatty(STDIN_FILENO)) {
    throw UsageError("refusing to read an archive from a terminal: name one with -f FILE, or pipe one in");
  }
  return options;
}

}  // namespace

std::string help_text() {
  std::string text = make_parser().help({"Input and selection", "Output", "Behaviour", "Logging"});
  // The IMAGE syntax right under the usage line it explains.
  const std::size_t usage_end = text.find("[IMAGE]\n");
  if (usage_end != std::string::npos) text.insert(usage_end + 8, kImageSyntax);
  return text + kExamples + kExitStatuses;
}

Options parse_options(int argc, char** argv) {
  try {
    return parse_checked(argc, argv);
  } catch (const UsageError& error) {
    // Every usage error is one line that ends with where to look.
    throw UsageError(fmt::format("{} (see undocker --help)", error.what()));
  }
}

}  // namespace undocker::cli
