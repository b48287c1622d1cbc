// PLACEHOLDER written by the lead so the tree builds; helper replaces it.
#include "layer/decompress.hpp"
namespace undocker::layer {
std::unique_ptr<ByteSource> open_decompressed(Bytes blob, std::string) { return std::make_unique<MemorySource>(blob); }
}
