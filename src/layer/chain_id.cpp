#include "layer/chain_id.hpp"

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"
#include "util/sha256.hpp"

namespace undocker::layer {

bool is_sha256_digest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.size() != kPrefix.size() + 64 || !digest.starts_with(kPrefix)) return false;
  for (char c : digest.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids, std::string_view image) {
  std::vector<std::string> chain;
  chain.reserve(diff_ids.size());
  for (std::size_t i = 0; i < diff_ids.size(); ++i) {
    if (!is_sha256_digest(diff_ids[i])) {
      throw FormatError(fmt::format("image {}: diffID {} of layer {} is not sha256: and 64 lowercase hex digits",
                                    escape(image), escape(diff_ids[i]), i));
    }
    if (i == 0) {
      chain.push_back(diff_ids[0]);
      continue;
    }
    const std::string text = chain.back() + " " + diff_ids[i];
    chain.push_back("sha256:" + sha256_hex(Bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size())));
  }
  return chain;
}

}  // namespace undocker::layer
