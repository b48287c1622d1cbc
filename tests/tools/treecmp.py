#!/usr/bin/env python3
"""Compare two directory trees entry by entry, as a root filesystem.

usage: treecmp.py A B [--ignore FIELD ...] [--ignore-root FIELD ...] [--mtime-seconds]
                   [--skip-root]

Fields compared for every path (relative to the tree root, shown as /path,
the root itself as /):

  type     regular file, dir, symlink, char, block, fifo, socket
  mode     permission bits including setuid/setgid/sticky (not for symlinks,
           whose mode Linux does not let anyone set)
  uid, gid numeric owner and group
  size     regular files only (a directory's size is the filesystem's business)
  hash     SHA-256 of a regular file's content
  target   a symlink's target, byte for byte
  rdev     major:minor of a char or block device
  links    the hardlink group: the sorted list of paths in the tree that share
           this entry's inode (only for entries with more than one such path)
  xattrs   every extended attribute (os.listxattr, follow_symlinks=False);
           `--ignore xattr:NAME` drops one attribute name only
  mtime    modification time in nanoseconds; with --mtime-seconds only whole
           seconds are compared (tar headers carry seconds, PAX can carry more)

Differences are printed one a line, `path: field: A-value != B-value`,
`only in A: path`, `only in B: path`; exit status 1 if there are any, 0 if
the trees are equal, 2 on bad usage.

--ignore-root FIELD leaves a field out for the two roots only (e.g. mtime:
umoci gives a rootfs that no layer describes the mtime 0, an extractor into an
existing or new directory leaves it alone); --skip-root leaves out the roots'
own metadata altogether.

As a module: compare_trees(a, b, ignore=(), mtime_seconds=False,
skip_root=False, root_ignore=()) -> list of those lines; snapshot_tree(dir) -> dict
path -> record (with ctime, nlink, inode too) for checking that a tree was not
touched at all.
"""
import hashlib
import os
import stat
import sys

FIELDS = ("type", "mode", "uid", "gid", "size", "hash", "target", "rdev", "links", "xattrs", "mtime")


def _type_name(st_mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
                       (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(st_mode):
            return name
    return "unknown"


def _file_hash(path):
    digest = hashlib.sha256()
    # O_NOFOLLOW: the walk saw a regular file here; never follow a swapped-in link.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    values = {}
    for name in sorted(names):
        try:
            values[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as error:
            values[name] = f"<unreadable: {error.strerror}>"
    return values


def _walk(root):
    """Yield (relative path, absolute path, lstat) for root and everything below, sorted."""
    st = os.lstat(root)
    yield "/", root, st
    stack = [("", root)]
    while stack:
        rel_dir, abs_dir = stack.pop()
        with os.scandir(abs_dir) as it:
            entries = sorted(it, key=lambda e: e.name)
        subdirs = []
        for entry in entries:
            rel = rel_dir + "/" + entry.name
            st = entry.stat(follow_symlinks=False)
            yield rel, entry.path, st
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((rel, entry.path))
        stack.extend(reversed(subdirs))


def scan_tree(root, with_hash=True, extra=False):
    """path -> record dict of every entry under root (root included, as '/')."""
    records = {}
    inodes = {}
    hashes = {}  # one read per inode: hardlinked busybox applets are one file
    for rel, path, st in _walk(root):
        kind = _type_name(st.st_mode)
        digest = None
        if kind == "file" and with_hash:
            key = (st.st_dev, st.st_ino)
            if key not in hashes:
                hashes[key] = _file_hash(path)
            digest = hashes[key]
        record = {
            "type": kind,
            "mode": None if kind == "symlink" else oct(stat.S_IMODE(st.st_mode)),
            "uid": st.st_uid,
            "gid": st.st_gid,
            "size": st.st_size if kind == "file" else None,
            "hash": digest,
            "target": os.readlink(path) if kind == "symlink" else None,
            "rdev": f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}" if kind in ("char", "block") else None,
            "links": None,
            "xattrs": _xattrs(path),
            "mtime": st.st_mtime_ns,
        }
        if extra:
            record["ctime"] = st.st_ctime_ns
            record["nlink"] = st.st_nlink
            record["ino"] = (st.st_dev, st.st_ino)
        records[rel] = record
        if kind != "dir":
            inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
    for group in inodes.values():
        if len(group) > 1:
            group = sorted(group)
            for rel in group:
                records[rel]["links"] = group
    return records


def snapshot_tree(root):
    """Everything about a tree, for 'this must not have changed at all' checks.

    Includes ctime, nlink and inode so that a chmod/chown/utime that was undone,
    a new hardlink to a file, or a file replaced by a copy all show up."""
    if not os.path.lexists(root):
        return {}
    return scan_tree(root, with_hash=True, extra=True)


def diff_snapshots(before, after, label_a="before", label_b="after"):
    """Lines describing how two snapshot_tree() results differ."""
    return _diff(before, after, set(), set(), False, False, label_a, label_b)


def _fmt(value):
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v!r}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + " ".join(value) + "]"
    return str(value)


def _diff(a, b, ignore, ignore_xattrs, mtime_seconds, skip_root, label_a="A", label_b="B", root_ignore=()):
    lines = []
    for rel in sorted(set(a) | set(b)):
        if skip_root and rel == "/":
            continue
        if rel not in b:
            lines.append(f"only in {label_a}: {rel}")
            continue
        if rel not in a:
            lines.append(f"only in {label_b}: {rel}")
            continue
        ra, rb = a[rel], b[rel]
        for field in ra:
            if field in ignore or (rel == "/" and field in root_ignore):
                continue
            va, vb = ra[field], rb.get(field)
            if field == "xattrs" and ignore_xattrs:
                va = {k: v for k, v in va.items() if k not in ignore_xattrs}
                vb = {k: v for k, v in vb.items() if k not in ignore_xattrs}
            if field == "mtime" and mtime_seconds:
                va, vb = va // 10**9, vb // 10**9
            if field in ("size", "hash", "target", "rdev", "mode") and ra["type"] != rb["type"]:
                continue  # the type line already says it
            if va != vb:
                lines.append(f"{rel}: {field}: {_fmt(va)} != {_fmt(vb)}")
    return lines


def compare_trees(a, b, ignore=(), mtime_seconds=False, skip_root=False, root_ignore=()):
    """List of difference lines between trees a and b (empty when equal).

    ignore: field names from FIELDS, or 'xattr:NAME' to drop one attribute.
    skip_root: do not compare the metadata of the two roots themselves;
    root_ignore: fields left out for the two roots only."""
    ignore = set(ignore)
    unknown = [f for f in ignore if f not in FIELDS and not f.startswith("xattr:")]
    unknown += [f for f in root_ignore if f not in FIELDS]
    if unknown:
        raise ValueError(f"unknown field(s) to ignore: {', '.join(sorted(unknown))}")
    ignore_xattrs = {f[len("xattr:"):] for f in ignore if f.startswith("xattr:")}
    ignore = {f for f in ignore if f in FIELDS}
    for root in (a, b):
        if not os.path.isdir(root):
            raise NotADirectoryError(root)
    ra = scan_tree(a, with_hash="hash" not in ignore)
    rb = scan_tree(b, with_hash="hash" not in ignore)
    return _diff(ra, rb, ignore, ignore_xattrs, mtime_seconds, skip_root, root_ignore=set(root_ignore))


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description="Compare two root filesystem trees.")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--ignore", action="append", default=[], metavar="FIELD",
                        help="field to leave out (repeatable): " + ", ".join(FIELDS) + ", or xattr:NAME")
    parser.add_argument("--ignore-root", action="append", default=[], metavar="FIELD",
                        help="field to leave out for the two roots only (repeatable)")
    parser.add_argument("--mtime-seconds", action="store_true", help="compare mtimes in whole seconds")
    parser.add_argument("--skip-root", action="store_true", help="leave out the roots' own metadata")
    args = parser.parse_args(argv)
    ignore = [f for item in args.ignore for f in item.split(",") if f]
    try:
        root_ignore = [f for item in args.ignore_root for f in item.split(",") if f]
        lines = compare_trees(args.a, args.b, ignore, args.mtime_seconds, args.skip_root, root_ignore)
    except (ValueError, OSError) as error:
        print(f"treecmp: {error}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
