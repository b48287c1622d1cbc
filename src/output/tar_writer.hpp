// --tar: the flattened root filesystem as one POSIX pax tar stream, for
// `machinectl import-tar`, `tar -x` or another extractor.
#pragma once

namespace undocker::output {

/// Writes every entry below root_dir_fd (not the root itself) to out_fd as
/// one tar stream, ending with the two zero blocks. The order is fixed:
/// depth first, parents before children, the entries of each directory
/// sorted bytewise. Names are relative with no "./"; a directory's ends in
/// "/". Regular files, directories, symlinks, devices and FIFOs keep their
/// mode bits (setuid/setgid/sticky too), numeric owner and mtime; a second
/// name of an inode already written becomes a hardlink to the first.
/// xattrs of files and directories go into pax SCHILY.xattr.* records; pax
/// also carries long names, big sizes and ids, and sub-second mtimes.
/// Symlinks are never followed; sockets are skipped with a warning.
/// Throws IoError naming the path on any failure.
void write_tree_as_tar(int root_dir_fd, int out_fd);

}  // namespace undocker::output
