#include "fs/errors.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/log.hpp"

namespace undocker::fs {

void fail(std::string_view clean_path, std::string_view action, int error) {
  const std::string message = fmt::format("{}: cannot {}: {}", escape(clean_path), action, std::strerror(error));
  switch (error) {
    case ENOSPC: case EDQUOT: case EIO: case EROFS: case ENOMEM: case EMFILE: case ENFILE:
      throw IoError(message);
    default:
      throw EntryError(message);
  }
}

}  // namespace undocker::fs
