// Random layer stacks for differential tests: files, directories, symlinks
// (relative, absolute, climbing, looping), hardlinks to files named before,
// whiteouts and opaque markers, over a small alphabet so that names collide.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "support/tar_builder.hpp"

namespace undocker::test {

inline const std::vector<std::string> kNames = {"a", "b", "c"};

inline std::string random_path(std::mt19937& random, int max_depth) {
  std::string path;
  const int depth = 1 + static_cast<int>(random() % static_cast<unsigned>(max_depth));
  for (int i = 0; i < depth; ++i) {
    if (!path.empty()) path += '/';
    path += kNames[random() % kNames.size()];
  }
  return path;
}

inline std::string random_target(std::mt19937& random) {
  // Built by appending (GCC 12 warns falsely on "literal" + std::string here).
  std::string target;
  switch (random() % 5) {
    case 0: target = "/"; break;
    case 1: target = "../"; break;
    case 3: target = "../../../"; break;
    case 4: return kNames[random() % kNames.size()];
    default: break;
  }
  target += random_path(random, 3);
  return target;
}

/// 1-4 layers of up to max_entries entries each.
inline std::vector<TarBuilder> random_layers(std::mt19937& random, unsigned max_entries = 14) {
  std::vector<TarBuilder> layers(1 + random() % 4);
  std::vector<std::string> files;  // hardlink targets: files named so far, mostly still there
  for (TarBuilder& layer : layers) {
    const unsigned entries = random() % (max_entries + 1);
    for (unsigned i = 0; i < entries; ++i) {
      const std::string path = random_path(random, 3);
      const std::size_t slash = path.find_last_of('/');
      const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
      const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
      std::string content = "data of ";
      content += path;
      content.append(random() % 700, 'x');
      switch (random() % 10) {
        case 0: case 1: layer.directory(path + "/", 0700 + random() % 0100); break;
        case 2: case 3: case 4: layer.file(path, content); files.push_back(path); break;
        case 5: case 6: layer.symlink(path, random_target(random)); break;
        case 7:
          if (!files.empty()) layer.hardlink(path, files[random() % files.size()]);
          break;
        case 8: layer.file(dir + ".wh." + base, ""); break;
        default: layer.file(dir + ".wh..wh..opq", ""); break;
      }
    }
    layer.end();
  }
  return layers;
}

}  // namespace undocker::test
