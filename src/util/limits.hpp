// Every sanity limit on untrusted input, named, with its reason. A crafted
// archive must not make us allocate or recurse without bound.
#pragma once

#include <cstddef>
#include <cstdint>

namespace undocker::limits {

// Linux PATH_MAX is 4096; real images never come close, and a longer name is
// either garbage or an attack on our memory.
inline constexpr std::size_t kMaxPathBytes = 64 * 1024;
// Owner and group names are only informative (we use numeric ids).
inline constexpr std::size_t kMaxOwnerNameBytes = 4 * 1024;
// A PAX extended header holds a few records; xattrs are its largest payload.
// The bound holds for one header and for all the extension headers ('x',
// 'L', 'K') before one entry together, which the reader keeps in memory.
inline constexpr std::size_t kMaxPaxBodyBytes = 16 * 1024 * 1024;
// xattrs of one entry: Linux lists at most 64 KiB of names per inode, and a
// real file carries a handful (security.capability, security.selinux,
// user.*); the bound also keeps finding a repeated name cheap.
inline constexpr std::size_t kMaxXattrsPerEntry = 128;
// What pax global ('g') headers set stays in force for the rest of the
// layer and is copied into every later entry, so it is kept small: at most
// this many keys (a later value of a key replaces the earlier one) and this
// many bytes of values. Real writers put a comment or an mtime there (git
// archive, some BuildKit versions); unbounded, 20,000 headers adding a key
// each made every entry carry 20,000 xattrs.
inline constexpr std::size_t kMaxGlobalPaxKeys = 64;
inline constexpr std::size_t kMaxGlobalPaxBytes = 16 * 1024;
// A single xattr value: the kernel refuses more than 64 KiB anyway.
inline constexpr std::size_t kMaxXattrValueBytes = 64 * 1024;
// Manifests, configs and indexes are kilobytes; 64 MiB leaves room for
// images with thousands of history entries and stops a JSON bomb.
inline constexpr std::size_t kMaxJsonBytes = 64 * 1024 * 1024;
// simdjson recursion depth for our JSON documents.
inline constexpr std::size_t kMaxJsonDepth = 64;
// Member sizes beyond 2^60 cannot be real and would overflow offset math.
inline constexpr std::uint64_t kMaxEntryBytes = std::uint64_t{1} << 60;
// Segments of one sparse file (16 bytes each in memory): 1 Mi segments is
// far beyond any real file and caps the map at 16 MiB.
inline constexpr std::size_t kMaxSparseSegments = std::size_t{1} << 20;
// Legacy v1 parent chains and nested OCI indexes: deeper is a loop or a bomb.
inline constexpr std::size_t kMaxLayerChain = 4096;
inline constexpr std::size_t kMaxIndexDepth = 8;
// Symlinks followed while resolving one path inside the output directory
// (the kernel's own limit is 40).
inline constexpr int kMaxSymlinkHops = 40;
// Path components; deeper trees are refused rather than recursed into.
inline constexpr std::size_t kMaxPathDepth = 4096;
// A directory given with -f is walked once at open. An OCI layout is three
// levels deep (blobs/sha256/<hex>), a docker-archive two; one directory
// open per level, so the depth also bounds the walk's descriptors.
inline constexpr std::size_t kMaxInputDirectoryDepth = 16;
// Files, symlinks and directories of that walk (about 100 bytes each in the
// index): a layout shared by thousands of images holds tens of thousands of
// blobs; more is a wrong directory (`-f /`) or an attack on our memory.
inline constexpr std::size_t kMaxInputDirectoryEntries = 256 * 1024;

}  // namespace undocker::limits
