// Replays inputs through a libFuzzer harness without libFuzzer, so that
// every build (gcc too) runs the seed corpus and every crash ever found
// (tests/fuzz/regressions/) as an ordinary test. Arguments: files, or
// directories whose files are each one input.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int replay(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 1;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::printf("%s (%zu bytes)\n", path.c_str(), bytes.size());
  std::fflush(stdout);  // a crash leaves the input's name behind
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int failures = 0;
  std::size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      std::vector<std::filesystem::path> files;
      for (const auto& item : std::filesystem::directory_iterator(arg)) {
        if (item.is_regular_file() && item.path().filename() != "README.md") files.push_back(item.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& file : files) failures += replay(file), ++inputs;
    } else {
      failures += replay(arg), ++inputs;
    }
  }
  std::printf("%zu inputs replayed\n", inputs);
  return failures == 0 ? 0 : 1;
}
