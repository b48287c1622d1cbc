#include "archive/mapping.hpp"

#include <sys/stat.h>

#include <cerrno>

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::archive {

namespace bip = boost::interprocess;

MappedArchive::MappedArchive(int fd, std::string name) : name_(std::move(name)) {
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    throw IoError(fmt::format("cannot stat {}: {}", escape(name_), std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    throw IoError(fmt::format("{} is not a regular file", escape(name_)));
  }
  if (st.st_size == 0) return;
  // Boost maps by path; /proc/self/fd reaches the very file we hold open,
  // including an unlinked spool file that has no other name.
  const std::string fd_path = fmt::format("/proc/self/fd/{}", fd);
  try {
    file_ = std::make_unique<bip::file_mapping>(fd_path.c_str(), bip::read_only);
    region_ = std::make_unique<bip::mapped_region>(*file_, bip::read_only, 0,
                                                   static_cast<std::size_t>(st.st_size));
  } catch (const bip::interprocess_exception& e) {
    throw IoError(fmt::format("cannot map {}: {}", escape(name_), e.what()));
  }
  // One front-to-back pass indexes the archive, then layers are read in
  // order: tell the kernel to read ahead.
  region_->advise(bip::mapped_region::advice_sequential);
  bytes_ = Bytes(static_cast<const std::uint8_t*>(region_->get_address()), region_->get_size());
}

MappedArchive::~MappedArchive() = default;

}  // namespace undocker::archive
