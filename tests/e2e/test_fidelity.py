#!/usr/bin/env python3
"""Issue 4's fidelity items, one check each, named after the item, on small
generated archives; each asserts the tree on disk (paths, types, modes,
owners, mtimes, link targets, contents, xattrs, device numbers, inodes,
holes).

Where else an item is checked (grep the name):
  - test_layer_semantics.py: the same rules from the SPEC's side (type
    replacement, hardlinks, modes, mtimes, devices, xattrs), and
    test_hostile_basic.py / tests/hostile/ for symlinks that point outside
  - test_umoci_equal.py: trees equal umoci's on generated and random images
  - test_debian_rootfs.py: every item below on a real Debian image, compared
    with umoci and used (chroot, dpkg --verify)
  - test_plan_equivalence.py: the planner against plain application on 150
    random archives, their gzipped variants and every real fixture
  - tests/unit/test_fs_writer.cpp: the writer's rules without the CLI

Non-root checks run the binary as uid/gid 65534 (setpriv) inside an
unprivileged bwrap (host read-only, only the stage's work/ writable): a
copy of the binary and the archives are staged first in a fresh directory
that user can reach (NobodyStage), since the checkout may lie under a 0700
home; nonroot_binary_and_archive_in_a_0700_home keeps that so.

usage: test_fidelity.py UNDOCKER     (as root)
"""
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Suite, Skip, Failure, Image, Layer, docker_archive, MTIME  # noqa: E402
import sparse_members  # noqa: E402
from nobody import NOBODY, NobodyStage, as_nobody_command, unprivileged_jail_works  # noqa: E402,F401

suite = Suite("fidelity")
T = MTIME
# security.capability, VFS_CAP_REVISION_2 with the effective flag: permitted
# bit 13 (cap_net_raw), bit 10 (cap_net_bind_service).
CAP_NET_RAW_EP = bytes.fromhex("0100000200200000000000000000000000000000")
CAP_NET_BIND_EP = bytes.fromhex("0100000200040000000000000000000000000000")

# Every archive the checks build, for planner_equals_plain_order: (check, layer tars).
ARCHIVES = []


class FidelityLayer(Layer):
    """common.Layer plus raw members (GNU tar's sparse files) and binary xattr values."""

    def member_bytes(self, data):
        sparse_members.append_member(self._tar, data)
        return self

    def xfile(self, path, data, xattrs, **kw):
        """A file whose xattr values are bytes of any kind (not only UTF-8)."""
        pax = {"SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()}
        return self.file(path, data, pax=pax, **kw)


def extract(t, layers, *args, twice=True, expect_rc=0):
    """A docker-archive of layers, extracted into DIR (jailed); with twice, also
    into a non-empty DIR, which must give the same tree."""
    data = [layer.bytes() for layer in layers]
    ARCHIVES.append((t.name, data))
    archive = t.path("image.tar")
    image = Image(data, tags=["fidelity:latest"])
    docker_archive(image, archive)
    t.archive, t.layer_ids = archive, image.layer_ids
    if twice:
        return t.extract_twice(archive, *args, expect_rc=expect_rc)
    return t.extract(archive, *args, expect_rc=expect_rc)


def sentinel_snapshot(t):
    """The sentinel directory beside DIR (t.sentinel() makes it), as a snapshot."""
    return common.snapshot_tree(t.path("sentinel"))


def sentinel_unchanged(t, before):
    changes = common.diff_snapshots(before, sentinel_snapshot(t))
    if changes:
        raise Failure("the sentinel outside DIR changed:\n  " + "\n  ".join(changes[:30]))


def xattr_names(path):
    return sorted(os.listxattr(path, follow_symlinks=False))


# ---------------------------------------------------------- running as nobody

def archive_of(t, layers, name):
    data = [layer.bytes() for layer in layers]
    ARCHIVES.append((f"{t.name} ({name})", data))
    path = t.path(name)
    docker_archive(Image(data, tags=["fidelity:latest"]), path)
    os.chmod(path, 0o644)
    return path


# ---------------------------------------------------------------- symlinks

@suite.check("symlink_parent_resolves_inside_root")
def _(t):
    # Symlinked parents from a lower layer (relative, absolute, climbing with
    # ..) and from this very layer; the writes land at the targets in DIR.
    base = (FidelityLayer().dir("usr", mtime=T).dir("usr/lib", mtime=T).dir("usr/share", mtime=T)
            .dir("etc", mtime=T).dir("tmp", mode=0o1777, mtime=T).dir("deep", mtime=T).dir("deep/er", mtime=T)
            .symlink("lib", "usr/lib").symlink("abs-etc", "/etc").symlink("host-tmp", "/tmp")
            .symlink("deep/er/up", "../../../../.."))
    upper = (FidelityLayer()
             .file("lib/libc.so.6", "libc via lib -> usr/lib", mtime=T + 1)
             .file("abs-etc/hosts", "hosts via abs-etc -> /etc", mtime=T + 2)
             .file("host-tmp/x", "x via host-tmp -> /tmp", mtime=T + 3)
             .file("deep/er/up/etc/climbed", "via ../../../../.. clamped at the root", mtime=T + 4)
             .symlink("share", "usr/share", mtime=T + 5).dir("share/doc", mode=0o750, mtime=T + 6)
             .file("share/doc/README", "via this layer's share -> usr/share", mtime=T + 7))
    t.sentinel()
    before = sentinel_snapshot(t)
    extract(t, [base, upper])
    t.entry("usr/lib/libc.so.6", type="file", content="libc via lib -> usr/lib", mtime=T + 1)
    t.entry("etc/hosts", type="file", content="hosts via abs-etc -> /etc", mtime=T + 2)
    t.entry("tmp/x", type="file", content="x via host-tmp -> /tmp", mtime=T + 3)
    t.entry("etc/climbed", type="file", content="via ../../../../.. clamped at the root")
    t.entry("usr/share/doc", type="dir", mode=0o750, mtime=T + 6)
    t.entry("usr/share/doc/README", type="file", content="via this layer's share -> usr/share")
    for link, target in (("lib", "usr/lib"), ("abs-etc", "/etc"), ("host-tmp", "/tmp"), ("share", "usr/share"),
                         ("deep/er/up", "../../../../..")):
        t.entry(link, type="symlink", target=target)
    t.eq(t.listing("usr/lib"), ["libc.so.6"], "usr/lib/")
    sentinel_unchanged(t, before)


@suite.check("symlink_parent_present_in_dir_before")
def _(t):
    # Symlinks that were in DIR before undocker ran resolve inside DIR too,
    # including one whose absolute target is a real directory on the host.
    t.sentinel()
    sentinel_dir = t.path("sentinel", "dir")
    os.makedirs(os.path.join(t.out, "usr/lib64"))
    os.makedirs(os.path.join(t.out, "usr/lib"))
    os.symlink("usr/lib", os.path.join(t.out, "lib"))
    os.symlink("/usr/lib64", os.path.join(t.out, "lib64"))
    os.symlink(sentinel_dir, os.path.join(t.out, "host-dir"))   # absolute, to the sentinel outside DIR
    os.makedirs(os.path.join(t.out, sentinel_dir.lstrip("/")))    # ... which exists inside DIR as well
    before = sentinel_snapshot(t)
    layer = (FidelityLayer().file("lib/libz.so", "via the old lib", mtime=T + 1)
             .file("lib64/ld.so", "via the old lib64", mtime=T + 2)
             .file("host-dir/inner", "must stay inside DIR", mtime=T + 3))
    extract(t, [layer], twice=False)
    t.entry("usr/lib/libz.so", type="file", content="via the old lib", mtime=T + 1)
    t.entry("usr/lib64/ld.so", type="file", content="via the old lib64", mtime=T + 2)
    t.entry(os.path.join(sentinel_dir, "inner").lstrip("/"), type="file", content="must stay inside DIR")
    t.entry("lib", type="symlink", target="usr/lib")
    t.entry("lib64", type="symlink", target="/usr/lib64")
    sentinel_unchanged(t, before)
    with open(os.path.join(sentinel_dir, "inner"), "w"):  # the check itself sees a write there
        pass
    t.true(common.diff_snapshots(before, sentinel_snapshot(t)) != [], "the sentinel snapshot misses a new file")
    os.unlink(os.path.join(sentinel_dir, "inner"))


@suite.check("absolute_symlink_parent_lib64")
def _(t):
    base = (FidelityLayer().dir("usr", mtime=T).dir("usr/lib64", mtime=T + 1)
            .file("usr/lib64/ld-linux-x86-64.so.2", "the loader", mode=0o755, mtime=T + 2)
            .symlink("lib64", "/usr/lib64", mtime=T + 3))
    upper = (FidelityLayer().file("lib64/libfoo.so", "foo", mtime=T + 4)
             .dir("lib64/sub", mode=0o700, mtime=T + 5).file("lib64/sub/f", "f", mtime=T + 6)
             .hardlink("lib64/ld-hard", "lib64/ld-linux-x86-64.so.2")
             .symlink("lib64/libfoo.so.1", "libfoo.so", mtime=T + 7))
    extract(t, [base, upper])
    t.entry("lib64", type="symlink", target="/usr/lib64", mtime=T + 3)
    t.entry("usr/lib64/libfoo.so", type="file", content="foo", mtime=T + 4)
    t.entry("usr/lib64/sub", type="dir", mode=0o700, mtime=T + 5)
    t.entry("usr/lib64/sub/f", type="file", content="f", mtime=T + 6)
    t.entry("usr/lib64/libfoo.so.1", type="symlink", target="libfoo.so", mtime=T + 7)
    t.same_inode("usr/lib64/ld-hard", "usr/lib64/ld-linux-x86-64.so.2")
    t.eq(sorted(os.listdir(t.out)), ["lib64", "usr"], "DIR/")


@suite.check("last_component_replaced_never_followed")
def _(t):
    base = (FidelityLayer().dir("etc", mode=0o755, mtime=T).file("etc/target", "original", mode=0o600, mtime=T)
            .dir("real", mode=0o750, mtime=T).file("real/keep", "k", mtime=T)
            .symlink("rel", "etc/target").symlink("abs", "/etc/target").symlink("dirlink", "real")
            .symlink("chain", "rel"))
    upper = (FidelityLayer().file("rel", "replaced rel", mode=0o644, mtime=T + 1)
             .file("abs", "replaced abs", mode=0o4755, mtime=T + 2)
             .fifo("dirlink", mode=0o600, mtime=T + 3)
             .symlink("chain", "elsewhere", mtime=T + 4))
    extract(t, [base, upper])
    t.entry("rel", type="file", content="replaced rel", mode=0o644, mtime=T + 1)
    t.entry("abs", type="file", content="replaced abs", mode=0o4755, mtime=T + 2)
    t.entry("dirlink", type="fifo", mode=0o600, mtime=T + 3)
    t.entry("chain", type="symlink", target="elsewhere", mtime=T + 4)
    t.entry("etc/target", type="file", content="original", mode=0o600, mtime=T)
    t.entry("real", type="dir", mode=0o750, mtime=T)
    t.eq(t.listing("real"), ["keep"], "real/")


# ------------------------------------------------------------ type changes

@suite.check("dir_replaces_symlink_to_dir_target_untouched")
def _(t):
    base = (FidelityLayer().dir("real", mode=0o750, uid=7, gid=8, mtime=T).file("real/f", "f", mtime=T)
            .dir("absreal", mode=0o751, mtime=T + 1).file("absreal/g", "g", mtime=T + 1)
            .symlink("d", "real", mtime=T + 2).symlink("d-abs", "/absreal", mtime=T + 3))
    upper = (FidelityLayer().dir("d", mode=0o700, uid=3, gid=4, mtime=T + 5, xattrs={"user.new": "dir"})
             .file("d/new", "n", mtime=T + 6)
             .dir("d-abs", mode=0o711, mtime=T + 7))
    extract(t, [base, upper])
    t.entry("d", type="dir", mode=0o700, uid=3, gid=4, mtime=T + 5, xattrs={"user.new": b"dir"})
    t.eq(t.listing("d"), ["new"], "d/")
    t.entry("d-abs", type="dir", mode=0o711, mtime=T + 7)
    t.eq(t.listing("d-abs"), [], "d-abs/")
    # The links' targets: contents, mode, owner, mtime and xattrs as the base layer left them.
    t.entry("real", type="dir", mode=0o750, uid=7, gid=8, mtime=T)
    t.eq(xattr_names(os.path.join(t.out, "real")), [], "xattrs of real/")
    t.eq(t.listing("real"), ["f"], "real/")
    t.entry("absreal", type="dir", mode=0o751, mtime=T + 1)
    t.eq(t.listing("absreal"), ["g"], "absreal/")


@suite.check("file_dir_symlink_type_changes")
def _(t):
    base = (FidelityLayer().file("f2d", "file").file("f2s", "file")
            .dir("d2f", mtime=T).file("d2f/child", "c").dir("d2f/sub", mtime=T).file("d2f/sub/x", "x")
            .dir("d2s", mtime=T).file("d2s/child", "c")
            .file("target", "the target", mtime=T).dir("target-dir", mode=0o755, mtime=T).file("target-dir/t", "t")
            .symlink("s2f", "target").symlink("s2d", "target-dir").symlink("s2s", "target"))
    middle = (FidelityLayer().dir("f2d", mode=0o711, mtime=T + 1).file("f2d/child", "new child", mtime=T + 1)
              .symlink("f2s", "target", mtime=T + 2)
              .file("d2f", "was a directory", mode=0o600, mtime=T + 3)
              .symlink("d2s", "target-dir", mtime=T + 4)
              .file("s2f", "was a symlink", mode=0o640, mtime=T + 5)
              .dir("s2d", mode=0o750, mtime=T + 6).file("s2d/inner", "i", mtime=T + 6)
              .symlink("s2s", "target-dir", mtime=T + 7))
    top = (FidelityLayer().file("f2d", "a file again", mtime=T + 8)   # and back: dir -> file
           .dir("f2s", mode=0o755, mtime=T + 9))                     # symlink -> dir
    extract(t, [base, middle, top])
    t.entry("f2d", type="file", content="a file again", mtime=T + 8)
    t.entry("f2s", type="dir", mode=0o755, mtime=T + 9)
    t.eq(t.listing("f2s"), [], "f2s/")
    t.entry("d2f", type="file", content="was a directory", mode=0o600, mtime=T + 3)
    t.entry("d2s", type="symlink", target="target-dir", mtime=T + 4)
    t.entry("s2f", type="file", content="was a symlink", mode=0o640, mtime=T + 5)
    t.entry("s2d", type="dir", mode=0o750, mtime=T + 6)
    t.eq(t.listing("s2d"), ["inner"], "s2d/")
    t.entry("s2s", type="symlink", target="target-dir", mtime=T + 7)
    t.entry("target", type="file", content="the target", mtime=T)
    t.entry("target-dir", type="dir", mode=0o755, mtime=T)
    t.eq(t.listing("target-dir"), ["t"], "target-dir/")


# ---------------------------------------------------------------- hardlinks

@suite.check("hardlink_to_lower_layer_file")
def _(t):
    base = (FidelityLayer().dir("bin", mtime=T).dir("usr", mtime=T)
            .file("bin/busybox", "#!busybox\n" * 100, mode=0o755, uid=0, gid=0, mtime=T + 1,
                  xattrs={"user.origin": "base"})
            .symlink("b", "bin"))
    upper = (FidelityLayer().dir("bin", mtime=T + 2).hardlink("bin/sh", "bin/busybox")
             .hardlink("usr/ash", "b/busybox")          # the target's path crosses a lower symlink
             .hardlink("bin/ls", "/bin/busybox"))       # an absolute target name
    extract(t, [base, upper])
    t.same_inode("bin/busybox", "bin/sh", "usr/ash", "bin/ls")
    t.eq(t.lstat("bin/busybox").st_nlink, 4, "nlink of bin/busybox")
    t.entry("usr/ash", type="file", mode=0o755, content="#!busybox\n" * 100, mtime=T + 1,
            xattrs={"user.origin": b"base"})
    t.entry("bin", type="dir", mtime=T + 2)


@suite.check("hardlink_target_overwritten_later_keeps_content")
def _(t):
    base = (FidelityLayer().dir("etc", mtime=T).file("etc/conf", "v1", mode=0o640, gid=5, mtime=T + 1)
            .hardlink("etc/conf.same-layer", "etc/conf"))
    middle = (FidelityLayer().hardlink("etc/conf.lower", "etc/conf")
              .file("x", "first", mtime=T + 2).hardlink("y", "x").file("x", "second", mtime=T + 3))
    top = FidelityLayer().file("etc/conf", "v3", mode=0o600, mtime=T + 4)
    extract(t, [base, middle, top])
    t.entry("etc/conf", type="file", content="v3", mode=0o600, gid=0, mtime=T + 4)
    t.eq(t.lstat("etc/conf").st_nlink, 1, "nlink of the new etc/conf")
    t.same_inode("etc/conf.same-layer", "etc/conf.lower")
    t.entry("etc/conf.lower", content="v1", mode=0o640, gid=5, mtime=T + 1)
    t.eq(t.lstat("etc/conf.lower").st_nlink, 2, "nlink of the old inode")
    t.entry("x", content="second", mtime=T + 3)
    t.entry("y", content="first", mtime=T + 2)


@suite.check("hardlink_target_whited_out_later")
def _(t):
    base = (FidelityLayer().dir("data", mtime=T).file("data/file", "the data", mtime=T + 1)
            .dir("opq", mtime=T).file("opq/t", "opaque-hidden target", mtime=T + 2)
            .dir("gone", mtime=T).file("gone/t", "in a whited-out directory", mtime=T + 3))
    middle = (FidelityLayer().hardlink("keep-file", "data/file").hardlink("keep-opq", "opq/t")
              .hardlink("keep-gone", "gone/t"))
    top = (FidelityLayer().dir("data", mtime=T + 4).whiteout("data/file")
           .dir("opq", mtime=T + 5).opaque("opq").whiteout("gone"))
    extract(t, [base, middle, top])
    t.absent("data/file")
    t.absent("gone")
    t.eq(t.listing("opq"), [], "opq/")
    t.entry("keep-file", type="file", content="the data", mtime=T + 1)
    t.entry("keep-opq", type="file", content="opaque-hidden target", mtime=T + 2)
    t.entry("keep-gone", type="file", content="in a whited-out directory", mtime=T + 3)
    for rel in ("keep-file", "keep-opq", "keep-gone"):
        t.eq(t.lstat(rel).st_nlink, 1, f"nlink of {rel}")


# ------------------------------------------------------------ sparse files

SPARSE_SIZE = 3 << 20
# A leading hole, six segments (more than the four an old GNU header holds:
# an extension block follows), a trailing hole.
SPARSE_SEGMENTS = [(128 << 10, 4096), (256 << 10, 512), (512 << 10, 8192), (1 << 20, 4096),
                   (1536 << 10, 1024), (2 << 20, 65536)]


def sparse_check(kind):
    def check(t):
        name = f"var/sparse-{kind}"
        member = sparse_members.sparse_member(kind, name, SPARSE_SIZE, SPARSE_SEGMENTS, T + 9, mode=0o640,
                                              uid=33, gid=34)
        layer = FidelityLayer().dir("var", mtime=T).member_bytes(member).file("var/after", "after", mtime=T + 1)
        # A second layer, so the planner has something to plan (and a sparse
        # file of the upper layer replaced by a plain one).
        upper = (FidelityLayer()
                 .member_bytes(sparse_members.sparse_member(kind, "var/replaced", 1 << 20, [(4096, 4096)], T + 2))
                 .member_bytes(sparse_members.sparse_member(kind, "var/empty-map", 1 << 20, [], T + 3)))
        top = FidelityLayer().file("var/replaced", "plain now", mtime=T + 4)
        extract(t, [layer, upper, top])
        t.entry(name, type="file", mode=0o640, uid=33, gid=34, mtime=T + 9)
        problems = sparse_members.hole_problems(os.path.join(t.out, name), SPARSE_SIZE, SPARSE_SEGMENTS)
        problems += [f"var/empty-map: {p}" for p in
                     sparse_members.hole_problems(os.path.join(t.out, "var/empty-map"), 1 << 20, [])]
        if problems:
            raise Failure(f"/{name} ({kind}):\n  " + "\n  ".join(problems))
        t.entry("var/after", content="after", mtime=T + 1)
        t.entry("var/replaced", content="plain now", mtime=T + 4)
    return check


for _kind, _name in (("gnu", "sparse_gnu_old"), ("0.0", "sparse_pax_0_0"), ("0.1", "sparse_pax_0_1"),
                     ("1.0", "sparse_pax_1_0")):
    suite.check(_name)(sparse_check(_kind))


# ------------------------------------------------------------------ xattrs

@suite.check("xattr_schily")
def _(t):
    base = (FidelityLayer()
            .xfile("f", "f", {"user.text": b"hello", "user.empty": b"", "user.utf8": "h\u00e9".encode(),
                              "user.binary": b"\x00\xff\xfe\x01"}, mtime=T)
            .dir("d", mtime=T + 1, xattrs={"user.dir": "on a directory"})
            .symlink("l", "f", xattrs={"trusted.link": "on the link itself"})
            .file("replaced", "old", xattrs={"user.old": "lower"})
            .file("plain", "no xattrs"))
    upper = FidelityLayer().file("replaced", "new", xattrs={"user.new": "upper"})
    extract(t, [base, upper])
    t.entry("f", xattrs={"user.text": b"hello", "user.empty": b"", "user.utf8": "h\u00e9".encode(),
                         "user.binary": b"\x00\xff\xfe\x01"}, mtime=T)
    t.eq(xattr_names(os.path.join(t.out, "f")), ["user.binary", "user.empty", "user.text", "user.utf8"], "xattrs of f")
    t.entry("d", type="dir", xattrs={"user.dir": b"on a directory"}, mtime=T + 1)
    t.entry("l", type="symlink", target="f", xattrs={"trusted.link": b"on the link itself"})
    t.eq(xattr_names(os.path.join(t.out, "replaced")), ["user.new"], "xattrs of replaced (the lower file's are gone)")
    t.eq(xattr_names(os.path.join(t.out, "plain")), [], "xattrs of plain")


@suite.check("security_capability_as_root")
def _(t):
    base = (FidelityLayer().dir("usr", mtime=T).dir("usr/bin", mtime=T)
            .xfile("usr/bin/ping", "ping", {"security.capability": CAP_NET_RAW_EP}, mode=0o755, mtime=T + 1)
            # The kernel drops security.capability on chown: it must be set after the owner.
            .xfile("usr/bin/owned", "owned", {"security.capability": CAP_NET_BIND_EP}, mode=0o750,
                   uid=1000, gid=1000, mtime=T + 2)
            .hardlink("usr/bin/ping-link", "usr/bin/ping"))
    extract(t, [base])
    t.entry("usr/bin/ping", mode=0o755, mtime=T + 1, xattrs={"security.capability": CAP_NET_RAW_EP})
    t.entry("usr/bin/owned", mode=0o750, uid=1000, gid=1000, mtime=T + 2,
            xattrs={"security.capability": CAP_NET_BIND_EP})
    t.same_inode("usr/bin/ping", "usr/bin/ping-link")
    if shutil.which("getcap"):
        out = subprocess.run(["getcap", os.path.join(t.out, "usr/bin/ping"), os.path.join(t.out, "usr/bin/owned")],
                             capture_output=True, text=True).stdout.split("\n")
        t.eq([line.split()[-1] for line in out if line], ["cap_net_raw=ep", "cap_net_bind_service=ep"],
             "getcap of ping and owned")


# --------------------------------------------------------- modes and owners

@suite.check("setuid_setgid_after_chown")
def _(t):
    # chown clears setuid/setgid (for root too): the mode must come after the owner.
    base = (FidelityLayer().file("suid", "s", mode=0o4755, uid=1000, gid=1000, mtime=T)
            .file("sgid", "g", mode=0o2755, uid=1000, gid=50, mtime=T)
            .file("both", "b", mode=0o6711, uid=1001, gid=1002, mtime=T)
            .file("root-suid", "r", mode=0o4755, uid=0, gid=0, mtime=T)
            .dir("sgid-dir", mode=0o2775, uid=1000, gid=50, mtime=T))
    upper = (FidelityLayer().file("suid", "s2", mode=0o4750, uid=2000, gid=2000, mtime=T + 1)
             .file("sgid-dir/child", "c", mode=0o2750, uid=3, gid=50, mtime=T + 1))
    extract(t, [base, upper])
    t.entry("suid", content="s2", mode=0o4750, uid=2000, gid=2000, mtime=T + 1)
    t.entry("sgid", mode=0o2755, uid=1000, gid=50)
    t.entry("both", mode=0o6711, uid=1001, gid=1002)
    t.entry("root-suid", mode=0o4755, uid=0, gid=0)
    t.entry("sgid-dir", type="dir", mode=0o2775, uid=1000, gid=50, mtime=T)
    t.entry("sgid-dir/child", mode=0o2750, uid=3, gid=50)


@suite.check("sticky_bit")
def _(t):
    base = (FidelityLayer().dir("tmp", mode=0o1777, mtime=T).dir("var", mtime=T)
            .dir("var/tmp", mode=0o1777, mtime=T).dir("shared", mode=0o1770, uid=1000, gid=100, mtime=T)
            .file("sticky-file", "x", mode=0o1644, mtime=T))
    upper = (FidelityLayer().file("tmp/a", "a", uid=1000, mtime=T + 1).file("shared/b", "b", uid=1001, mtime=T + 1)
             .dir("var/tmp", mode=0o1777, mtime=T + 2))
    extract(t, [base, upper])
    t.entry("tmp", type="dir", mode=0o1777, mtime=T)
    t.entry("var/tmp", type="dir", mode=0o1777, mtime=T + 2)
    t.entry("shared", type="dir", mode=0o1770, uid=1000, gid=100, mtime=T)
    t.entry("sticky-file", mode=0o1644)
    t.entry("tmp/a", uid=1000)
    t.entry("shared/b", uid=1001)


@suite.check("device_and_fifo_nodes")
def _(t):
    base = (FidelityLayer().dir("dev", mode=0o755, mtime=T)
            .chardev("dev/null", 1, 3, mode=0o666, mtime=T + 1)
            .chardev("dev/tty", 5, 0, mode=0o620, gid=5, mtime=T + 2)
            .blockdev("dev/sda1", 8, 1, mode=0o660, gid=6, mtime=T + 3)
            .blockdev("dev/nvme-big", 259, (1 << 20) - 1, mode=0o600, mtime=T + 4)
            .fifo("dev/initctl", mode=0o600, mtime=T + 5)
            .fifo("pipe", mode=0o664, uid=1000, gid=1000, mtime=T + 6)
            .file("was-file", "f"))
    upper = FidelityLayer().chardev("was-file", 10, 200, mode=0o640, mtime=T + 7)
    extract(t, [base, upper])
    t.entry("dev/null", type="char", rdev=(1, 3), mode=0o666, mtime=T + 1)
    t.entry("dev/tty", type="char", rdev=(5, 0), mode=0o620, gid=5, mtime=T + 2)
    t.entry("dev/sda1", type="block", rdev=(8, 1), mode=0o660, gid=6, mtime=T + 3)
    t.entry("dev/nvme-big", type="block", rdev=(259, (1 << 20) - 1), mode=0o600, mtime=T + 4)
    t.entry("dev/initctl", type="fifo", mode=0o600, mtime=T + 5)
    t.entry("pipe", type="fifo", mode=0o664, uid=1000, gid=1000, mtime=T + 6)
    t.entry("was-file", type="char", rdev=(10, 200), mode=0o640, mtime=T + 7)
    t.entry("dev", type="dir", mtime=T)


# ------------------------------------------------------------------ mtimes

@suite.check("symlink_mtime")
def _(t):
    base = (FidelityLayer().dir("d", mtime=T)
            .symlink("d/rel", "../target", mtime=T + 1, uid=5, gid=6)
            .symlink("d/abs", "/etc/passwd", mtime=T + 2)
            .symlink("d/dangling", "/nowhere/at/all", mtime=T + 3, pax={"mtime": f"{T + 3}.250000001"})
            .symlink("d/replaced", "old", mtime=T + 4)
            .file("target", "t", mtime=T + 10))
    upper = FidelityLayer().symlink("d/replaced", "new", mtime=T + 20, pax={"mtime": f"{T + 20}.5"})
    extract(t, [base, upper])
    t.entry("d/rel", type="symlink", target="../target", mtime_ns=(T + 1) * 10**9, uid=5, gid=6)
    t.entry("d/abs", type="symlink", target="/etc/passwd", mtime_ns=(T + 2) * 10**9)
    t.entry("d/dangling", type="symlink", target="/nowhere/at/all", mtime_ns=(T + 3) * 10**9 + 250000001)
    t.entry("d/replaced", type="symlink", target="new", mtime_ns=(T + 20) * 10**9 + 500000000)
    t.entry("target", mtime=T + 10)  # a symlink's utime never reaches its target
    t.entry("d", type="dir", mtime=T)


@suite.check("one_run_per_layer_keeps_directory_mtimes")
def _(t):
    # SPEC section 3: layer A, then layer B in another run into the same
    # DIR, equals A and B in one run. B adds to etc/ (and through the lib
    # symlink to usr/lib/) without entries of their own, and deletes from
    # var/: their mtimes stay those of A's entries.
    base = (FidelityLayer().dir("etc", mtime=T).file("etc/a", "a", mtime=T + 1)
            .dir("usr", mtime=T + 2).dir("usr/lib", mtime=T + 3).symlink("lib", "usr/lib", mtime=T + 4)
            .dir("var", mtime=T + 5).file("var/old", "o", mtime=T + 6))
    upper = (FidelityLayer().file("etc/b", "b", mtime=T + 10).file("lib/libx.so", "x", mtime=T + 11)
             .whiteout("var/old"))
    archive = archive_of(t, [base, upper], "per-layer.tar")
    one, two = t.path("one"), t.path("two")
    t.expect_rc(t.run(["-f", archive, "-o", one]), 0)
    t.expect_rc(t.run(["-f", archive, "-o", two, "-l", "0"]), 0)
    t.expect_rc(t.run(["-f", archive, "-o", two, "-l", "1"]), 0)
    for directory, mtime in (("etc", T), ("usr/lib", T + 3), ("var", T + 5)):
        for out in (one, two):
            got = os.lstat(os.path.join(out, directory)).st_mtime_ns
            t.eq(got, mtime * 10**9, f"{os.path.basename(out)}/{directory} mtime")
    t.eq(sorted(os.listdir(os.path.join(two, "usr/lib"))), ["libx.so"], "two/usr/lib")
    t.eq(os.listdir(os.path.join(two, "var")), [], "two/var")


@suite.check("directory_metadata_last_deepest_first")
def _(t):
    # Entries parent first, as docker writes them: every directory still
    # receives its children (read-only ones too) and ends with its entry's
    # mode and mtime; a directory entry after its children sets it all the
    # same; a later layer's child below read-only directories that have no
    # entry in that layer keeps their mtimes; so does a directory in which
    # a subdirectory is made implicitly (srv for srv/late/sub).
    base = (FidelityLayer().dir("srv", mtime=T)
            .dir("srv/tree", mode=0o555, mtime=T + 1).dir("srv/tree/a", mode=0o500, uid=1000, mtime=T + 2)
            .dir("srv/tree/a/b", mode=0o700, mtime=T + 3).file("srv/tree/a/b/f", "f", mode=0o400, mtime=T + 4)
            .dir("srv/tree/a/b/c", mode=0o000, mtime=T + 5).file("srv/tree/a/b/c/g", "g", mtime=T + 6)
            .file("srv/tree/a/h", "h", mtime=T + 7)
            .dir("srv/late/sub", mode=0o750, mtime=T + 8).file("srv/late/sub/x", "x", mtime=T + 9)
            .dir("srv/late", mode=0o751, mtime=T + 10))
    upper = (FidelityLayer().file("srv/tree/a/b/new", "added below read-only directories", mtime=T + 20)
             .file("srv/tree/a/b/c/g", "replaced in a 0000 directory", mtime=T + 21))
    extract(t, [base, upper], twice=False)
    t.entry("srv", type="dir", mode=0o755, mtime=T)
    t.entry("srv/tree", type="dir", mode=0o555, mtime=T + 1)
    t.entry("srv/tree/a", type="dir", mode=0o500, uid=1000, mtime=T + 2)
    t.entry("srv/tree/a/b", type="dir", mode=0o700, mtime=T + 3)
    t.entry("srv/tree/a/b/f", mode=0o400, mtime=T + 4)
    t.entry("srv/tree/a/b/c", type="dir", mode=0o000, mtime=T + 5)
    t.entry("srv/tree/a/b/c/g", content="replaced in a 0000 directory", mtime=T + 21)
    t.entry("srv/tree/a/b/new", content="added below read-only directories", mtime=T + 20)
    t.entry("srv/tree/a/h", mtime=T + 7)
    t.entry("srv/late", type="dir", mode=0o751, mtime=T + 10)
    t.entry("srv/late/sub", type="dir", mode=0o750, mtime=T + 8)


@suite.check("directory_metadata_last_deepest_first_as_nobody")
def _(t):
    # As another user, DAC applies: a parent made 0500 or 0000 before its
    # children's metadata would lock undocker out of them. Deepest first works.
    nonroot = FidelityLayer().dir("locked", mode=0o500, mtime=T + 30).dir("locked/none", mode=0o000, mtime=T + 31)
    nonroot.dir("locked/none/deep", mode=0o555, mtime=T + 32).file("locked/none/deep/f", "f", mode=0o444, mtime=T + 33)
    stage = NobodyStage(t)
    archive = stage.add(archive_of(t, [nonroot, FidelityLayer().file("top", "second layer")], "nonroot.tar"))
    out = stage.path("as-nobody")
    result = stage.run(["-f", archive, "-o", out])
    t.expect_rc(result, 0)
    t.entry("locked", type="dir", mode=0o500, uid=NOBODY, mtime=T + 30, root=out)
    t.entry("locked/none", type="dir", mode=0o000, uid=NOBODY, mtime=T + 31, root=out)
    t.entry("locked/none/deep", type="dir", mode=0o555, mtime=T + 32, root=out)
    t.entry("locked/none/deep/f", mode=0o444, content="f", mtime=T + 33, root=out)


# ------------------------------------------------------------------ non-root

@suite.check("nonroot_policy_owners_devices_xattrs")
def _(t):
    # Owners: the running user's, whatever the archive says; xattrs the kernel
    # refuses to an unprivileged user (security.*, trusted.*) are skipped with
    # one warning for the whole run; user.* are set; FIFOs are made.
    layer = (FidelityLayer().dir("etc", mode=0o755, uid=1234, gid=5678, mtime=T)
             .file("etc/owned", "o", mode=0o640, uid=1234, gid=5678, mtime=T + 1)
             .symlink("etc/link", "owned", uid=1234, gid=5678, mtime=T + 2)
             .xfile("ping", "p", {"security.capability": CAP_NET_RAW_EP}, mode=0o755, mtime=T + 3)
             .xfile("ping2", "p2", {"security.capability": CAP_NET_BIND_EP}, mode=0o755, mtime=T + 4)
             .file("trusted", "t", xattrs={"trusted.a": "1", "user.kept": "yes"}, mtime=T + 5)
             .fifo("fifo", mode=0o600, mtime=T + 6))
    stage = NobodyStage(t)
    archive = stage.add(archive_of(t, [layer, FidelityLayer().file("second", "s")], "policy.tar"))
    out = stage.path("as-nobody")
    result = stage.run(["-f", archive, "-o", out])
    t.expect_rc(result, 0)
    for rel in ("etc", "etc/owned", "etc/link", "ping", "ping2", "trusted", "fifo", "second"):
        t.entry(rel, uid=NOBODY, gid=NOBODY, root=out)
    t.entry("etc/owned", mode=0o640, content="o", mtime=T + 1, root=out)
    t.entry("etc/link", type="symlink", target="owned", mtime=T + 2, root=out)
    t.entry("ping", mode=0o755, content="p", mtime=T + 3, root=out)
    t.entry("trusted", content="t", xattrs={"user.kept": b"yes"}, root=out)
    t.entry("fifo", type="fifo", mode=0o600, mtime=T + 6, root=out)
    for rel in ("ping", "ping2", "trusted"):
        names = [n for n in xattr_names(os.path.join(out, rel)) if not n.startswith("user.")]
        t.eq(names, [], f"privileged xattrs of {rel} written by an unprivileged run")
    warnings = [line for line in result.err_lines if line.startswith("WARNING:undocker:")]
    xattr_warnings = [line for line in warnings if "xattr" in line.lower() or "attribute" in line.lower()]
    t.eq(len(xattr_warnings), 1, f"xattr warnings (all warnings: {warnings})")
    t.eq(result.errors, [], "ERROR lines")
    # Device nodes: an error (exit 1, one ERROR line naming the entry)...
    devices = FidelityLayer().file("before", "b").chardev("dev-null", 1, 3).blockdev("dev-sda", 8, 0).file("after", "a")
    archive = stage.add(archive_of(t, [devices], "devices.tar"))
    result = stage.run(["-f", archive, "-o", stage.path("dev-strict")])
    t.expect_rc(result, 1)
    t.expect_one_error(result, "dev-null")
    # ... and with -i a warning per node, the rest extracted.
    out = stage.path("dev-ignored")
    result = stage.run(["-i", "-f", archive, "-o", out])
    t.expect_rc(result, 0)
    warned = [line for line in result.err_lines if line.startswith("WARNING:undocker:")]
    t.true(any("dev-null" in line for line in warned) and any("dev-sda" in line for line in warned),
           f"-i does not warn about each device node: {warned}")
    t.absent("dev-null", root=out)
    t.absent("dev-sda", root=out)
    t.entry("before", content="b", uid=NOBODY, root=out)
    t.entry("after", content="a", uid=NOBODY, root=out)


@suite.check("nonroot_binary_and_archive_in_a_0700_home")
def _(t):
    # Issue 16: cloned under root's home (0700), uid 65534 could not exec the
    # built binary. Here the binary and the archive always lie in a fresh
    # mktemp -d (0700, as /root), wherever CI cloned: the stage must still
    # give that user what it needs, and no mode or owner of the home, the
    # checkout or the build directory may change.
    home = tempfile.mkdtemp(prefix="undocker-e2e-home-", dir=t.suite.base)
    t.elsewhere.append(home)
    src = os.path.join(home, "undocker", "build", "src")
    os.makedirs(src)
    binary = os.path.join(src, "undocker")
    shutil.copy(common.UNDOCKER, binary)
    archive = os.path.join(home, "undocker", "image.tar")
    layer = (FidelityLayer().dir("etc", mode=0o755, uid=1234, mtime=T)
             .file("etc/hostname", "from a 0700 home\n", mode=0o600, uid=1234, gid=1234, mtime=T + 1))
    docker_archive(Image([layer.bytes()], tags=["fidelity:latest"]), archive)
    watched = [home, src] + ancestors(home) + ancestors(common.UNDOCKER)
    before = owners_and_modes(watched)
    stage = NobodyStage(t, binary=binary)
    # The control: as 65534 the binary cannot even be run where it lies, so
    # the run below succeeds only through the stage.
    control = subprocess.run(as_nobody_command(binary, stage.work, ["--version"]), capture_output=True, text=True,
                             cwd="/")
    t.true(control.returncode != 0 and "Permission denied" in control.stderr,
           f"uid {NOBODY} runs {binary} in place (exit {control.returncode}, {control.stderr.strip()!r}): "
           "the 0700 home does not shut it out, so this check proves nothing")
    out = stage.path("out")
    result = stage.run(["-f", stage.add(archive), "-o", out])
    t.expect_rc(result, 0)
    t.entry("etc", type="dir", mode=0o755, uid=NOBODY, gid=NOBODY, mtime=T, root=out)
    t.entry("etc/hostname", content="from a 0700 home\n", mode=0o600, uid=NOBODY, gid=NOBODY, mtime=T + 1, root=out)
    t.eq(owners_and_modes(watched), before, "modes and owners of the home, the checkout and their parents")
    t.eq(stat.S_IMODE(os.stat(home).st_mode), 0o700, "mode of the home")


def ancestors(path):
    """Every directory above path, up to /."""
    found = []
    path = os.path.dirname(os.path.abspath(path))
    while True:
        found.append(path)
        if path == "/":
            return found
        path = os.path.dirname(path)


def owners_and_modes(paths):
    return {path: (oct(os.stat(path).st_mode), os.stat(path).st_uid, os.stat(path).st_gid) for path in paths}


# ------------------------------------------------------------------ planner

@suite.check("planner_equals_plain_order")
def _(t):
    # Every archive of the checks above, uncompressed and gzipped (the
    # streaming planner), with the planner forced on (UNDOCKER_PLAN_ALWAYS=1)
    # and with UNDOCKER_NO_PLAN=1: equal trees. The fixtures and 150 random
    # archives get the same treatment in test_plan_equivalence.py.
    if not ARCHIVES:
        raise Failure("no archives: run the whole suite (E2E_ONLY leaves them out)")
    compared = 0
    for index, (name, layers) in enumerate(ARCHIVES):
        for variant in ("plain", "gzip"):
            archive = t.path(f"a{index}-{variant}.tar")
            if variant == "plain":
                docker_archive(Image(layers, tags=["fidelity:latest"]), archive)
            else:
                common.layers_docker_archive(layers, archive, compress=set(range(len(layers))), tag="fidelity:gz")
            trees = []
            for mode, env in (("planned", {"UNDOCKER_PLAN_ALWAYS": "1"}),
                              ("plain-order", {"UNDOCKER_PLAN_ALWAYS": "1", "UNDOCKER_NO_PLAN": "1"})):
                out = t.path(f"a{index}-{variant}-{mode}")
                result = t.run(["-f", archive, "-o", out], env=env)
                trees.append((out, result))
            (a, ra), (b, rb) = trees
            if (ra.rc, ra.errors) != (rb.rc, rb.errors):
                raise Failure(f"{name} [{variant}]: planned exit {ra.rc} {ra.errors} vs plain {rb.rc} {rb.errors}")
            if ra.rc == 0:
                problems = common.compare_trees(a, b, root_ignore=("mtime",))
                problems = [p for p in problems if not implicit_dir_time(p, a)]
                if problems:
                    raise Failure(f"{name} [{variant}]: planned (A) vs plain order (B):\n  " +
                                  "\n  ".join(problems[:30]))
                compared += 1
            common._rmtree(a)
            common._rmtree(b)
    t.true(compared >= len(ARCHIVES), f"only {compared} archives extracted")
    print(f"     {compared} archive variants compared")


def implicit_dir_time(problem, root):
    """A directory no entry describes gets the time of extraction in each run."""
    parts = problem.split(": ")
    if len(parts) != 3 or parts[1] != "mtime":
        return False
    values = parts[2].split(" != ")
    try:
        recent = all(int(v) > (T + 10**6) * 10**9 for v in values)
    except ValueError:
        return False
    return recent and os.path.isdir(os.path.join(root, parts[0].lstrip("/")))


if __name__ == "__main__":
    sys.exit(suite.main())
