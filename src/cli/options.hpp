// The command line (SPEC section 1), parsed with cxxopts into a plain struct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/log.hpp"

namespace undocker::cli {

struct Options {
  std::string archive = "-";       // -f; "-" is standard input
  std::string output = ".";        // -o
  std::optional<std::string> image;
  bool list = false;
  bool layers = false;
  bool config = false;
  bool json = false;
  std::string platform;            // --platform OS/ARCH[/VARIANT]
  bool verify = true;              // layer digests and diffIDs: extraction by default (--no-verify: off),
                                   // --files and --cat only with --verify
  bool verify_metadata = true;     // manifest and config digests (--no-verify: off)
  bool all = false;                // --all: every image into DIR/NAME/TAG
  std::uint32_t uid_shift = 0;     // --uid-shift BASE
  std::string tar_output;          // --tar FILE ("-": stdout); empty: write a directory
  bool nspawn = false;             // --nspawn: also write DIR.nspawn
  std::string layer_store;         // --layer-store STORE; empty: no store
  bool userxattr = false;          // --userxattr: user.overlay.* instead of trusted.overlay.*
  std::vector<std::string> layer_ids;  // -l, repeatable
  bool files = false;              // --files: print the final tree
  std::optional<std::string> cat_path;  // --cat PATH: write that file to stdout
  std::vector<std::string> paths;     // --path, repeatable: only these subtrees
  std::vector<std::string> excludes;  // --exclude, repeatable: shell patterns left out
  bool ignore_errors = false;
  bool no_whiteouts = false;
  LogLevel log_level = LogLevel::kWarning;
  bool help = false;
  bool version = false;
};

/// Parses argv. Throws UsageError (exit 2) for anything it cannot accept.
Options parse_options(int argc, char** argv);

/// The --help text, exit statuses included.
std::string help_text();

}  // namespace undocker::cli
