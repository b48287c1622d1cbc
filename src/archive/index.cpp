#include "archive/index.hpp"

#include "archive/directory.hpp"

#include <fmt/format.h>

#include "util/byte_source.hpp"
#include "util/error.hpp"
#include "util/path.hpp"
#include "util/limits.hpp"
#include "util/log.hpp"

namespace undocker::archive {

MemberIndex::MemberIndex(Bytes archive, std::string archive_name, int archive_fd)
    : archive_(archive), archive_fd_(archive_fd), archive_name_(std::move(archive_name)) {
  MemorySource source(archive_);
  tar::TarReader reader(source, archive_name_);
  tar::Entry entry;
  while (reader.next(entry)) {
    std::optional<std::string> name = clean_entry_path(entry.path);
    if (!name) {
      throw FormatError(fmt::format("{}: {}: member name climbs out of the archive with '..'",
                                    escape(archive_name_), escape(entry.path)));
    }
    Member member{std::move(*name), entry.type, entry.header_offset, reader.data_offset(),
                  entry.size_bytes, std::move(entry.link_target)};
    // The data must be wholly inside the mapping; the reader checks this
    // too when it skips it, but layers are later read by offset alone.
    if (member.data_offset > archive_.size() || member.size_bytes > archive_.size() - member.data_offset) {
      throw FormatError(fmt::format("{}: {}: size {} runs past the end of the archive",
                                    escape(archive_name_), escape(member.name), member.size_bytes));
    }
    by_name_[member.name] = members_.size();
    members_.push_back(std::move(member));
  }
}

MemberIndex::MemberIndex(std::unique_ptr<DirectoryMembers> directory, std::string directory_name)
    : directory_(std::move(directory)), archive_name_(std::move(directory_name)) {}

std::unique_ptr<MemberIndex> MemberIndex::open_directory(int dir_fd, std::string directory_name) {
  auto directory = std::make_unique<DirectoryMembers>(dir_fd, directory_name);
  return std::unique_ptr<MemberIndex>(new MemberIndex(std::move(directory), std::move(directory_name)));
}

MemberIndex::~MemberIndex() = default;

const std::vector<Member>& MemberIndex::members() const {
  return directory_ ? directory_->members() : members_;
}

bool MemberIndex::contains(std::string_view name) const {
  if (directory_) return directory_->contains(name);
  return by_name_.count(std::string(name)) != 0;
}

std::optional<Member> MemberIndex::find_file(std::string_view raw_name) const {
  if (directory_) return directory_->find_file(raw_name);
  std::optional<std::string> name = clean_entry_path(raw_name);
  for (std::size_t hops = 0; name && hops <= static_cast<std::size_t>(limits::kMaxSymlinkHops); ++hops) {
    const auto found = by_name_.find(*name);
    if (found == by_name_.end()) return std::nullopt;
    const Member& member = members_[found->second];
    switch (member.type) {
      case tar::EntryType::kFile:
        return member;
      case tar::EntryType::kHardlink:
        // A hardlink names its target from the archive's top.
        name = clean_entry_path(member.link_target);
        break;
      case tar::EntryType::kSymlink: {
        // A symlink's relative target is relative to its own directory.
        const std::size_t slash = member.name.rfind('/');
        const std::string dir = slash == std::string::npos ? "" : member.name.substr(0, slash + 1);
        name = member.link_target.starts_with('/') ? clean_entry_path(member.link_target)
                                                    : clean_entry_path(dir + member.link_target);
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;
}

Bytes MemberIndex::data(const Member& member) const {
  if (directory_) return directory_->data(member);
  return archive_.subspan(member.data_offset, member.size_bytes);
}

std::optional<FileRange> MemberIndex::file_range(const Member& member) const {
  if (directory_ || archive_fd_ < 0) return std::nullopt;
  return FileRange{archive_fd_, member.data_offset};
}

}  // namespace undocker::archive
