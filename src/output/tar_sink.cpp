#include "output/tar_sink.hpp"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "output/pax_stream.hpp"
#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "util/log.hpp"

namespace undocker::output {

namespace {

char type_flag(tar::EntryType type) {
  switch (type) {
    case tar::EntryType::kFile: return '0';
    case tar::EntryType::kHardlink: return '1';
    case tar::EntryType::kSymlink: return '2';
    case tar::EntryType::kCharDevice: return '3';
    case tar::EntryType::kBlockDevice: return '4';
    case tar::EntryType::kDirectory: return '5';
    case tar::EntryType::kFifo: return '6';
  }
  return '0';
}

std::uint64_t owner_id(std::int64_t id) { return id < 0 ? 0 : static_cast<std::uint64_t>(id); }

PaxMember member_of(const layer::TreeInode& inode, std::string name) {
  PaxMember member;
  member.name = std::move(name);
  member.type = type_flag(inode.type);
  member.mode = inode.mode & 07777;
  member.uid = owner_id(inode.uid);
  member.gid = owner_id(inode.gid);
  member.size_bytes = inode.type == tar::EntryType::kFile ? inode.size_bytes : 0;
  member.mtime_seconds = inode.mtime.seconds;
  member.mtime_nanoseconds = inode.mtime.nanoseconds;
  member.link_target = inode.link_target;
  if (inode.type == tar::EntryType::kCharDevice || inode.type == tar::EntryType::kBlockDevice) {
    member.dev_major = inode.dev_major;
    member.dev_minor = inode.dev_minor;
  }
  member.xattrs = inode.xattrs;
  // A set of names, not a sequence: sorted, the stream does not depend on
  // the order layers happened to list them in.
  std::sort(member.xattrs.begin(), member.xattrs.end());
  return member;
}

// The data of a regular file, from its layer's stream; holes as zeros.
void copy_data(PaxStream& out, const layer::TreeInode& inode, const TarSinkLayer& layer, const std::string& name) {
  const Bytes stream = layer.stream;
  if (inode.data_offset > stream.size() || inode.stored_bytes > stream.size() - inode.data_offset) {
    throw FormatError(fmt::format("{}: {}: data runs past the end of the layer", escape(layer.member), escape(name)));
  }
  const Bytes data = stream.subspan(static_cast<std::size_t>(inode.data_offset), static_cast<std::size_t>(inode.stored_bytes));
  if (!inode.sparse) {
    out.write_data(data);
    return;
  }
  std::uint64_t written = 0;
  std::size_t taken = 0;
  for (const tar::SparseSegment& segment : inode.sparse->segments) {
    out.write_zeros(segment.offset - written);
    out.write_data(data.subspan(taken, static_cast<std::size_t>(segment.length)));
    taken += static_cast<std::size_t>(segment.length);
    written = segment.offset + segment.length;
  }
  out.write_zeros(inode.sparse->real_size - written);
}

}  // namespace

void write_tree_tar(const layer::FinalTree& tree, const std::vector<TarSinkLayer>& layers, int out_fd,
                    const std::function<void()>& before_end, const layer::TreeFilter& filter) {
  // Names per inode first: only an inode with several gets hardlinks.
  std::vector<std::uint32_t> names(tree.inode_count(), 0);
  filter.walk(tree, [&](const std::string&, std::uint32_t id) { ++names[id]; });
  std::unordered_map<std::uint32_t, std::string> first_name;  // of inodes with several names, once written

  PaxStream out(out_fd);
  filter.walk(tree, [&](const std::string& path, std::uint32_t id) {
    check_interrupted();
    const layer::TreeInode& inode = tree.inode(id);
    if (inode.type == tar::EntryType::kDirectory) {
      if (path.empty() && !inode.described) return;  // no "./" entry: DIR's own metadata stays the reader's
      out.write_headers(member_of(inode, path.empty() ? std::string("./") : path + "/"));
      return;
    }
    PaxMember member = member_of(inode, path);
    if (names[id] > 1) {
      auto [found, fresh] = first_name.emplace(id, path);
      if (!fresh) {
        member.type = '1';
        member.size_bytes = 0;
        member.link_target = found->second;
        member.dev_major = member.dev_minor = 0;
        member.xattrs.clear();
        out.write_headers(member);
        return;
      }
    }
    out.write_headers(member);
    if (inode.type == tar::EntryType::kFile && inode.size_bytes > 0) {
      copy_data(out, inode, layers[inode.layer], path);
      out.pad(inode.size_bytes);
    }
  });
  out.flush();
  before_end();
  out.finish();
}

}  // namespace undocker::output
