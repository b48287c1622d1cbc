#!/usr/bin/env python3
"""One check per layer-application rule (SPEC section 3), on generated
archives, asserting the tree on disk: paths, types, modes, owners, mtimes,
link targets, contents, xattrs, device numbers, hardlink inodes.

usage: test_layer_semantics.py UNDOCKER     (as root: owners, devices, security.* xattrs)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Suite, Skip, Image, Layer, docker_archive, legacy_archive,  # noqa: E402
                    reference_apply, MTIME)
import tarfile  # noqa: E402

suite = Suite("semantics")
T = MTIME
CAP = bytes.fromhex("0100000200040000000000000000000000000000")


def extract_layers(t, layers, *args, legacy=False, expect_rc=0, out=None, tags=("sem:latest",), twice=True):
    """Build a docker-archive (or legacy v1) of layers and extract it into DIR."""
    archive = t.path("image.tar")
    if legacy:
        _, ids = legacy_archive(layers, tags=tags, path=archive)
    else:
        image = Image(layers, tags=tags)
        docker_archive(image, archive)
        ids = image.layer_ids
    t.layer_ids = ids
    t.archive = archive
    # Each archive twice: into a new DIR and into a DIR that already holds an
    # unrelated file; the trees must be the same (see Check.extract_twice).
    # (twice=False where directories without entries get the time of extraction.)
    if not twice:
        return t.extract(archive, *args, out=out, expect_rc=expect_rc)
    return t.extract_twice(archive, *args, out=out, expect_rc=expect_rc)


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root")


# ------------------------------------------------------------------ basics

@suite.check("regular files and directories: content, mode, owner, mtime")
def _(t):
    extract_layers(t, [Layer().dir("etc", mode=0o755, mtime=T + 1)
                       .file("etc/hostname", "box\n", mode=0o644, mtime=T + 2)
                       .file("etc/empty", "", mode=0o600, mtime=T + 3)
                       .dir("srv", mode=0o750, uid=33, gid=34, mtime=T + 4)
                       .file("srv/big", bytes(range(256)) * 20000, mode=0o640, uid=33, gid=34, mtime=T + 5)])
    t.entry("etc", type="dir", mode=0o755, uid=0, gid=0, mtime=T + 1)
    t.entry("etc/hostname", type="file", mode=0o644, content="box\n", mtime=T + 2)
    t.entry("etc/empty", type="file", mode=0o600, content="", mtime=T + 3)
    t.entry("srv", type="dir", mode=0o750, uid=33, gid=34, mtime=T + 4)
    t.entry("srv/big", type="file", mode=0o640, uid=33, gid=34, mtime=T + 5, content=bytes(range(256)) * 20000)


@suite.check("a later layer's file replaces the lower file (content, mode, mtime)")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/motd", "old", mode=0o600, mtime=T),
                       Layer().dir("etc").file("etc/motd", "new, longer content", mode=0o644, mtime=T + 9)])
    t.entry("etc/motd", type="file", content="new, longer content", mode=0o644, mtime=T + 9)


@suite.check("missing parent directories are created")
def _(t):
    extract_layers(t, [Layer().file("a/b/c/file", "deep")], twice=False)
    t.entry("a/b/c", type="dir")
    t.entry("a/b/c/file", type="file", content="deep")


@suite.check("a child listed before its directory keeps; the directory entry sets its metadata")
def _(t):
    extract_layers(t, [Layer().file("late/child", "c").dir("late", mode=0o700, uid=5, mtime=T + 7)])
    t.entry("late", type="dir", mode=0o700, uid=5, mtime=T + 7)
    t.entry("late/child", content="c")


@suite.check("a read-only directory (0555) still receives its children, in this and later layers")
def _(t):
    extract_layers(t, [Layer().dir("ro", mode=0o555, mtime=T + 1).file("ro/a", "a"),
                       Layer().dir("ro", mode=0o555, mtime=T + 2).file("ro/b", "b")])
    t.entry("ro", type="dir", mode=0o555, mtime=T + 2)
    t.entry("ro/a", content="a")
    t.entry("ro/b", content="b")


@suite.check("long names and link targets (PAX path/linkpath, > 100 bytes)")
def _(t):
    deep = "/".join(["d" * 40] * 5)
    target = "/" + "t" * 150
    layer = Layer()
    for i in range(1, 6):
        layer.dir("/".join(["d" * 40] * i))
    extract_layers(t, [layer.file(deep + "/" + "f" * 120, "long")
                       .symlink("longlink", target).hardlink("hl", deep + "/" + "f" * 120)])
    t.entry(deep + "/" + "f" * 120, type="file", content="long")
    t.entry("longlink", type="symlink", target=target)
    t.same_inode("hl", deep + "/" + "f" * 120)


@suite.check("GNU-format layers (././@LongLink names)")
def _(t):
    deep = "/".join(["g" * 60] * 3)
    layer = Layer(format=tarfile.GNU_FORMAT).dir("g" * 60).dir("/".join(["g" * 60] * 2)).dir(deep) \
        .file(deep + "/file", "gnu").symlink(deep + "/link", "x" * 130)
    extract_layers(t, [layer])
    t.entry(deep + "/file", type="file", content="gnu")
    t.entry(deep + "/link", type="symlink", target="x" * 130)


@suite.check("member names: './x' and '/x' land at DIR/x; a './' entry sets DIR's metadata")
def _(t):
    extract_layers(t, [Layer().dir("./", mode=0o751, uid=0, mtime=T + 3).file("./dot", "d", mtime=T)
                       .file("/abs", "a", mtime=T).dir("/absdir/", mtime=T + 1).file("/absdir/f", "f")])
    t.entry("dot", type="file", content="d")
    t.entry("abs", type="file", content="a")
    t.entry("absdir", type="dir", mtime=T + 1)
    t.entry("absdir/f", content="f")
    t.entry("", type="dir", mode=0o751, mtime=T + 3)


# --------------------------------------------------------------- whiteouts

@suite.check("whiteout .wh.NAME deletes a lower file and is not written")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/a", "a").file("etc/b", "b"),
                       Layer().dir("etc").whiteout("etc/a")])
    t.absent("etc/a")
    t.absent("etc/.wh.a")
    t.entry("etc/b", content="b")


@suite.check("whiteout of a directory deletes it recursively")
def _(t):
    extract_layers(t, [Layer().dir("opt").dir("opt/app").dir("opt/app/lib").file("opt/app/lib/x", "x")
                       .symlink("opt/app/link", "lib").file("opt/keep", "k"),
                       Layer().dir("opt").whiteout("opt/app")])
    t.absent("opt/app")
    t.entry("opt/keep", content="k")
    t.eq(t.listing("opt"), ["keep"], "opt/")


@suite.check("whiteout of a symlink deletes the link, not its target")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/real", "r").symlink("etc/link", "real")
                       .symlink("dirlink", "etc"),
                       Layer().dir("etc").whiteout("etc/link").whiteout("dirlink")])
    t.absent("etc/link")
    t.absent("dirlink")
    t.entry("etc/real", type="file", content="r")
    t.entry("etc", type="dir")


@suite.check("whiteout of a hardlink keeps the other names of the inode")
def _(t):
    extract_layers(t, [Layer().dir("bin").file("bin/busybox", "bb", mode=0o755).hardlink("bin/sh", "bin/busybox")
                       .hardlink("bin/ls", "bin/busybox"),
                       Layer().dir("bin").whiteout("bin/busybox")])
    t.absent("bin/busybox")
    t.entry("bin/sh", content="bb")
    t.same_inode("bin/sh", "bin/ls")
    t.eq(t.lstat("bin/sh").st_nlink, 2, "nlink of bin/sh")


@suite.check("a whiteout of something absent is harmless")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/a", "a"), Layer().dir("etc").whiteout("etc/nothing")
                       .whiteout("nodir/nothing")])
    t.entry("etc/a", content="a")
    t.absent("etc/.wh.nothing")
    t.absent("etc/nothing")


@suite.check("whiteouts apply in this layer only to lower layers: a file re-added after its whiteout stays")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/conf", "old"),
                       Layer().dir("etc").whiteout("etc/conf").file("etc/conf", "new")])
    t.entry("etc/conf", type="file", content="new")


@suite.check("a file re-added before its whiteout in the same layer stays")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/conf", "old"),
                       Layer().dir("etc").file("etc/conf", "new").whiteout("etc/conf")])
    t.entry("etc/conf", type="file", content="new")


@suite.check("opaque .wh..wh..opq hides lower entries, keeps this layer's (before and after the marker)")
def _(t):
    extract_layers(t, [Layer().dir("data", mode=0o755).file("data/lower", "l").dir("data/sub").file("data/sub/x", "x")
                       .symlink("data/link", "lower"),
                       Layer().dir("data", mode=0o750, uid=9, mtime=T + 20).file("data/before", "b")
                       .dir("data/newsub").file("data/newsub/y", "y")
                       .opaque("data").file("data/after", "a")])
    t.eq(t.listing("data"), ["after", "before", "newsub", "newsub/y"], "data/")
    t.entry("data", type="dir", mode=0o750, uid=9, mtime=T + 20)


@suite.check("opaque hides lower layers only: entries of the same layer at the same path survive")
def _(t):
    extract_layers(t, [Layer().dir("d").file("d/same", "lower version"),
                       Layer().dir("d").file("d/same", "upper version").opaque("d")])
    t.entry("d/same", content="upper version")
    t.eq(t.listing("d"), ["same"], "d/")


@suite.check("opaque in a nested directory leaves its parent's other children")
def _(t):
    extract_layers(t, [Layer().dir("a").file("a/keep", "k").dir("a/b").file("a/b/gone", "g"),
                       Layer().dir("a").dir("a/b").opaque("a/b")])
    t.entry("a/keep", content="k")
    t.eq(t.listing("a/b"), [], "a/b/")


@suite.check("opaque for a directory no lower layer has just creates it")
def _(t):
    extract_layers(t, [Layer().dir("x"), Layer().dir("fresh", mode=0o700).opaque("fresh").file("fresh/f", "f")])
    t.entry("fresh", type="dir", mode=0o700)
    t.eq(t.listing("fresh"), ["f"], "fresh/")


@suite.check(".wh..wh.* metadata (aufs .wh..wh.plnk) is skipped: not written, nothing deleted")
def _(t):
    extract_layers(t, [Layer().dir("d").file("d/plnk", "p").file("d/other", "o").file("plnk", "p"),
                       Layer().dir("d").file(".wh..wh.plnk", "aufs").dir(".wh..wh.plnk/").file("d/.wh..wh.aufs", "m")
                       .file("d/.wh..wh.other", "m")])
    t.absent(".wh..wh.plnk")
    t.absent("d/.wh..wh.aufs")
    t.absent("d/.wh..wh.other")
    t.entry("d/plnk", content="p")
    t.entry("d/other", content="o")
    t.entry("plnk", content="p")


@suite.check("-W writes whiteouts as plain files and deletes nothing")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/a", "a").dir("d").file("d/x", "x"),
                       Layer().dir("etc").whiteout("etc/a").dir("d").opaque("d")], "-W")
    t.entry("etc/a", content="a")
    t.entry("etc/.wh.a", type="file", content="")
    t.entry("d/x", content="x")
    t.entry("d/.wh..wh..opq", type="file", content="")


@suite.check("--no-whiteouts is -W")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/a", "a"), Layer().dir("etc").whiteout("etc/a")],
                   "--no-whiteouts")
    t.entry("etc/a", content="a")
    t.entry("etc/.wh.a", type="file")


@suite.check("whiteouts apply to what is already in DIR: -l A then -l B equals A and B at once")
def _(t):
    layers = [Layer().dir("etc").file("etc/a", "a").file("etc/b", "b").dir("d").file("d/x", "x"),
              Layer().dir("etc", mtime=T + 5).whiteout("etc/a").dir("d", mtime=T + 6).opaque("d").file("d/y", "y")]
    extract_layers(t, layers, out=t.path("all"))
    ids = t.layer_ids
    t.extract(t.archive, "-l", ids[0])
    t.extract(t.archive, "-l", ids[1])
    t.trees_equal(t.path("all"), t.out, root_ignore=("mtime",))
    t.absent("etc/a")
    t.eq(t.listing("d"), ["y"], "d/")


@suite.check("-l by 0-based index (as --layers shows it) picks that layer")
def _(t):
    # These layers are fixed bytes, so their ids and diffIDs are too; one of
    # the diffIDs starts with "1": "-l 1" must still mean the index.
    layers = [Layer().file("zero", "0"), Layer().file("one", "1"), Layer().file("two", "2")]
    extract_layers(t, layers, out=t.path("all"))
    for index, name in enumerate(["zero", "one", "two"]):
        out = t.path(f"by-index-{index}")
        t.extract(t.archive, "-l", str(index), out=out)
        t.eq(t.listing(root=out), [name], f"tree of -l {index} (layer ids {t.layer_ids})")


@suite.check("-l by unique layer id prefix")
def _(t):
    layers = [Layer().file("zero", "0"), Layer().file("one", "1"), Layer().file("two", "2")]
    extract_layers(t, layers, out=t.path("all"))
    t.extract(t.archive, "-l", t.layer_ids[2][:16], out=t.path("by-prefix"))
    t.eq(t.listing(root=t.path("by-prefix")), ["two"], "tree of -l PREFIX")


# --------------------------------------------------------- type replacement

@suite.check("a file over a directory removes the directory and its contents")
def _(t):
    extract_layers(t, [Layer().dir("x").dir("x/sub").file("x/sub/f", "f").file("x/g", "g"),
                       Layer().file("x", "now a file", mode=0o600, mtime=T + 4)])
    t.entry("x", type="file", content="now a file", mode=0o600, mtime=T + 4)


@suite.check("a directory over a file replaces the file")
def _(t):
    extract_layers(t, [Layer().file("x", "file"), Layer().dir("x", mode=0o711, mtime=T + 4).file("x/child", "c")])
    t.entry("x", type="dir", mode=0o711, mtime=T + 4)
    t.entry("x/child", content="c")


@suite.check("a directory over a directory merges and takes the upper metadata")
def _(t):
    extract_layers(t, [Layer().dir("m", mode=0o755, uid=1, gid=1, mtime=T).file("m/lower", "l"),
                       Layer().dir("m", mode=0o1770, uid=2, gid=3, mtime=T + 8,
                                   xattrs={"user.dir": "upper"}).file("m/upper", "u")])
    t.entry("m", type="dir", mode=0o1770, uid=2, gid=3, mtime=T + 8, xattrs={"user.dir": b"upper"})
    t.entry("m/lower", content="l")
    t.entry("m/upper", content="u")


@suite.check("a symlink over a file, a directory and a symlink replaces each")
def _(t):
    extract_layers(t, [Layer().file("f", "file").dir("d").file("d/inner", "i").symlink("s", "old").file("target", "t"),
                       Layer().symlink("f", "target", mtime=T + 1).symlink("d", "target", mtime=T + 2)
                       .symlink("s", "new", mtime=T + 3)])
    t.entry("f", type="symlink", target="target", mtime=T + 1)
    t.entry("d", type="symlink", target="target", mtime=T + 2)
    t.entry("s", type="symlink", target="new", mtime=T + 3)
    t.entry("target", type="file", content="t")


@suite.check("a symlink over a symlink to a directory replaces the link, not the directory's content")
def _(t):
    extract_layers(t, [Layer().dir("real").file("real/f", "f").symlink("ln", "real"),
                       Layer().symlink("ln", "elsewhere")])
    t.entry("ln", type="symlink", target="elsewhere")
    t.entry("real/f", content="f")


@suite.check("a file over a symlink replaces the link and never writes through it")
def _(t):
    extract_layers(t, [Layer().dir("etc").file("etc/target", "original").symlink("rel", "etc/target")
                       .symlink("abs", "/etc/target"),
                       Layer().file("rel", "replaced rel").file("abs", "replaced abs")])
    t.entry("rel", type="file", content="replaced rel")
    t.entry("abs", type="file", content="replaced abs")
    t.entry("etc/target", content="original")


@suite.check("a directory over a symlink replaces the link; the link's target is untouched")
def _(t):
    extract_layers(t, [Layer().dir("real").file("real/f", "f").symlink("d", "real"),
                       Layer().dir("d", mode=0o700).file("d/new", "n")])
    t.entry("d", type="dir", mode=0o700)
    t.eq(t.listing("d"), ["new"], "d/")
    t.eq(t.listing("real"), ["f"], "real/")


@suite.check("a write below a lower layer's symlinked directory lands in its target inside DIR")
def _(t):
    extract_layers(t, [Layer().dir("usr").dir("usr/lib").symlink("lib", "usr/lib").symlink("abslib", "/usr/lib"),
                       Layer().file("lib/libc.so", "via relative link").file("abslib/libm.so", "via absolute link")])
    t.entry("lib", type="symlink", target="usr/lib")
    t.entry("usr/lib/libc.so", type="file", content="via relative link")
    t.entry("usr/lib/libm.so", type="file", content="via absolute link")


@suite.check("a device, a FIFO, a hardlink over existing entries replace them")
def _(t):
    need_root()
    extract_layers(t, [Layer().file("a", "a").dir("b").file("b/x", "x").symlink("c", "a").file("src", "s"),
                       Layer().chardev("a", 1, 3).fifo("b").hardlink("c", "src")])
    t.entry("a", type="char", rdev=(1, 3))
    t.entry("b", type="fifo")
    t.entry("c", type="file", content="s")
    t.same_inode("c", "src")


# ---------------------------------------------------------------- hardlinks

@suite.check("hardlinks in one layer share the inode")
def _(t):
    extract_layers(t, [Layer().dir("bin").file("bin/busybox", "bb", mode=0o755).hardlink("bin/sh", "bin/busybox")
                       .hardlink("bin/ls", "bin/busybox")])
    t.same_inode("bin/busybox", "bin/sh", "bin/ls")
    t.eq(t.lstat("bin/sh").st_nlink, 3, "nlink")
    t.entry("bin/ls", mode=0o755, content="bb")


@suite.check("a hardlink to a lower layer's file shares its inode")
def _(t):
    extract_layers(t, [Layer().dir("bin").file("bin/busybox", "bb", mode=0o755),
                       Layer().dir("bin").hardlink("bin/sh", "bin/busybox")])
    t.same_inode("bin/busybox", "bin/sh")


@suite.check("a hardlink keeps the old content when a later layer replaces its target")
def _(t):
    extract_layers(t, [Layer().dir("bin").file("bin/busybox", "v1", mode=0o755).hardlink("bin/sh", "bin/busybox"),
                       Layer().dir("bin").file("bin/busybox", "v2", mode=0o755)])
    t.entry("bin/busybox", content="v2")
    t.entry("bin/sh", content="v1")
    t.eq(t.lstat("bin/sh").st_nlink, 1, "nlink of bin/sh")


@suite.check("a hardlink points at what its target held at that point of the layer")
def _(t):
    extract_layers(t, [Layer().file("x", "first").hardlink("y", "x").file("x", "second")])
    t.entry("x", content="second")
    t.entry("y", content="first")


@suite.check("a hardlink survives a later whiteout of its target")
def _(t):
    extract_layers(t, [Layer().file("x", "data").hardlink("y", "x"), Layer().whiteout("x")])
    t.absent("x")
    t.entry("y", content="data")


@suite.check("a hardlink to a symlink is a second name of the symlink")
def _(t):
    extract_layers(t, [Layer().symlink("s", "somewhere").hardlink("h", "s")])
    t.entry("h", type="symlink", target="somewhere")
    t.same_inode("h", "s")


@suite.check("a hardlink into a lower layer's symlinked directory resolves inside DIR")
def _(t):
    extract_layers(t, [Layer().dir("real").file("real/f", "f").symlink("ln", "/real"),
                       Layer().hardlink("h", "ln/f")])
    t.same_inode("h", "real/f")


# ------------------------------------------------------ modes and owners

@suite.check("setuid, setgid, sticky and 0000 modes on files and directories")
def _(t):
    extract_layers(t, [Layer().file("suid", "s", mode=0o4755).file("sgid", "g", mode=0o2711, gid=5)
                       .file("both", "b", mode=0o6755).file("none", "n", mode=0o000)
                       .dir("tmp", mode=0o1777).dir("shared", mode=0o2775, gid=100).dir("locked", mode=0o000)
                       .file("sticky-file", "x", mode=0o1644)])
    t.entry("suid", mode=0o4755)
    t.entry("sgid", mode=0o2711, gid=5)
    t.entry("both", mode=0o6755)
    t.entry("none", mode=0o000)
    t.entry("tmp", type="dir", mode=0o1777)
    t.entry("shared", type="dir", mode=0o2775, gid=100)
    t.entry("locked", type="dir", mode=0o000)
    t.entry("sticky-file", mode=0o1644)


@suite.check("setuid survives a non-root owner (chmod after chown)")
def _(t):
    need_root()
    extract_layers(t, [Layer().file("su", "s", mode=0o4755, uid=1000, gid=1000)
                       .file("sg", "g", mode=0o2755, uid=1000, gid=50).dir("d", mode=0o3775, uid=7, gid=8)])
    t.entry("su", mode=0o4755, uid=1000, gid=1000)
    t.entry("sg", mode=0o2755, uid=1000, gid=50)
    t.entry("d", type="dir", mode=0o3775, uid=7, gid=8)


@suite.check("owners are numeric: uname/gname are never looked up")
def _(t):
    need_root()
    extract_layers(t, [Layer().file("a", "a", uid=4242, gid=4343, uname="root", gname="root")
                       .file("b", "b", uid=0, gid=0, uname="nobody", gname="nogroup")
                       .symlink("c", "a", uid=4244, gid=4245, uname="daemon", gname="daemon")
                       .dir("d", uid=65534, gid=65534, uname="root", gname="root")
                       .file("e", "e", uid=2**21 + 5, gid=3_000_000, uname="root")])
    t.entry("a", uid=4242, gid=4343)
    t.entry("b", uid=0, gid=0)
    t.entry("c", type="symlink", uid=4244, gid=4245)
    t.entry("d", uid=65534, gid=65534)
    t.entry("e", uid=2**21 + 5, gid=3_000_000)  # beyond octal fields: PAX uid/gid


# ------------------------------------------------------------------ mtimes

@suite.check("mtimes on files, symlinks, devices, and directories (set after their children)")
def _(t):
    need_root()
    extract_layers(t, [Layer().dir("d", mtime=T + 10).dir("d/e", mtime=T + 11).file("d/e/f", "f", mtime=T + 12)
                       .symlink("d/link", "e", mtime=T + 13).fifo("d/fifo", mtime=T + 14)
                       .chardev("d/null", 1, 3, mtime=T + 15).file("d/later", "l", mtime=T + 16),
                       Layer().dir("d", mtime=T + 20).file("d/new", "n", mtime=T + 21)])
    t.entry("d", mtime=T + 20)
    t.entry("d/e", mtime=T + 11)
    t.entry("d/e/f", mtime=T + 12)
    t.entry("d/link", type="symlink", mtime=T + 13)
    t.entry("d/fifo", type="fifo", mtime=T + 14)
    t.entry("d/null", type="char", mtime=T + 15)
    t.entry("d/later", mtime=T + 16)
    t.entry("d/new", mtime=T + 21)


@suite.check("PAX sub-second mtimes are kept to the nanosecond")
def _(t):
    extract_layers(t, [Layer().dir("d", mtime=1600000000, pax={"mtime": "1600000000.123456789"})
                       .file("d/f", "f", mtime=1600000001, pax={"mtime": "1600000001.5"})
                       .symlink("d/l", "f", mtime=1600000002, pax={"mtime": "1600000002.000000001"})])
    t.entry("d", mtime_ns=1600000000_123456789)
    t.entry("d/f", mtime_ns=1600000001_500000000)
    t.entry("d/l", mtime_ns=1600000002_000000001)


@suite.check("mtimes 0 (1970) and past 2038 are kept")
def _(t):
    extract_layers(t, [Layer().file("epoch", "e", mtime=0).file("future", "f", mtime=4102444800)
                       .dir("olddir", mtime=0)])
    t.entry("epoch", mtime=0)
    t.entry("future", mtime=4102444800)
    t.entry("olddir", mtime=0)


# ------------------------------------------------ devices, FIFOs, xattrs

@suite.check("character and block devices and FIFOs, with modes and owners")
def _(t):
    need_root()
    extract_layers(t, [Layer().dir("dev").chardev("dev/null", 1, 3, mode=0o666).chardev("dev/tty", 5, 0, gid=5)
                       .blockdev("dev/sda1", 8, 1, mode=0o660, gid=6).blockdev("dev/big", 259, 65536 + 7)
                       .fifo("dev/initctl", mode=0o600).fifo("dev/pub", mode=0o666, uid=12)])
    t.entry("dev/null", type="char", rdev=(1, 3), mode=0o666)
    t.entry("dev/tty", type="char", rdev=(5, 0), gid=5)
    t.entry("dev/sda1", type="block", rdev=(8, 1), mode=0o660, gid=6)
    t.entry("dev/big", type="block", rdev=(259, 65536 + 7))
    t.entry("dev/initctl", type="fifo", mode=0o600)
    t.entry("dev/pub", type="fifo", mode=0o666, uid=12)


@suite.check("PAX SCHILY.xattr.* xattrs: user.* and security.capability, on files and directories")
def _(t):
    need_root()
    extract_layers(t, [Layer().file("ping", "p", mode=0o755, xattrs={"security.capability": CAP.decode()})
                       .file("f", "f", xattrs={"user.test": "hello", "user.empty": "", "user.utf8": "h\u00e9"})
                       .dir("d", xattrs={"user.test": "dir"})])
    t.entry("ping", xattrs={"security.capability": CAP}, mode=0o755)
    t.entry("f", xattrs={"user.test": b"hello", "user.empty": b"", "user.utf8": "h\u00e9".encode()})
    t.entry("d", type="dir", xattrs={"user.test": b"dir"})


@suite.check("a replaced file does not keep the lower file's xattrs")
def _(t):
    extract_layers(t, [Layer().file("f", "1", xattrs={"user.old": "1"}), Layer().file("f", "2", xattrs={"user.new": "2"})])
    names = sorted(os.listxattr(os.path.join(t.out, "f")))
    t.eq(names, ["user.new"], "xattrs of f")


@suite.check("xattrs on symlinks: trusted.* is set on the link itself (lsetxattr, as root)")
def _(t):
    need_root()
    extract_layers(t, [Layer().file("f", "f").symlink("l", "f", xattrs={"trusted.test": "on the link"})])
    t.entry("l", type="symlink", xattrs={"trusted.test": b"on the link"})
    t.eq(os.listxattr(os.path.join(t.out, "f")), [], "xattrs of the link's target")


# SPEC: -i reports "an entry that cannot be created (device node as non-root,
# xattr refused, ...) as a warning and go on"; without -i it is a failure.
@suite.check("an entry the filesystem refuses (user.* xattr on a symlink): exit 1; with -i a warning")
def _(t):
    need_root()
    layers = [Layer().file("before", "b").symlink("link", "before", xattrs={"user.refused": "x"})
              .file("after", "a")]
    r = extract_layers(t, layers, expect_rc=1)
    t.expect_one_error(r, "link")
    r = t.extract(t.archive, "-i", out=t.path("ignored"))
    t.true(any(line.startswith("WARNING:undocker:") and "link" in line for line in r.err_lines),
           f"no WARNING line naming the entry:\n{r.stderr}")
    t.entry("link", type="symlink", target="before", root=t.path("ignored"))
    t.entry("after", content="a", root=t.path("ignored"))


# ------------------------------------------------------ archive-level rules

@suite.check("legacy v1 archive: the parent chain is applied bottom first")
def _(t):
    layers = [Layer().dir("etc").file("etc/a", "a").file("etc/b", "b"),
              Layer().dir("etc").whiteout("etc/a").file("etc/c", "c"),
              Layer().dir("etc").file("etc/b", "b2").hardlink("etc/d", "etc/c")]
    extract_layers(t, layers, legacy=True)
    reference_apply(layers, t.path("ref"))
    t.trees_equal(t.path("ref"), t.out, root_ignore=("mtime",))


@suite.check("a layer listed twice in the manifest is applied each time")
def _(t):
    add = Layer().file("x", "added")
    delete = Layer().whiteout("x")
    image = Image([add, delete, add], tags=["twice:latest"])
    archive = t.path("twice.tar")
    docker_archive(image, archive)  # ids repeat the chain, so three distinct ids; force the same member:

    def hook(manifest):
        manifest[0]["Layers"] = [image.layer_ids[0] + "/layer.tar", image.layer_ids[1] + "/layer.tar",
                                 image.layer_ids[0] + "/layer.tar"]
    docker_archive(image, archive, manifest_hook=hook)
    t.extract(archive)
    t.entry("x", content="added")


@suite.check("empty layers and a zero-layer image")
def _(t):
    extract_layers(t, [Layer(), Layer().file("f", "f"), Layer()])
    t.entry("f", content="f")
    archive = t.path("zero.tar")
    docker_archive(Image([], tags=["zero:latest"]), archive)
    t.extract(archive, out=t.path("zero"))
    t.eq(os.listdir(t.path("zero")), [], "tree of a zero-layer image")


@suite.check("the full tree equals the OCI rules in Python (reference_apply) on a mixed image")
def _(t):
    need_root()
    layers = [Layer().dir("etc", mtime=T).file("etc/a", "a").file("etc/b", "b", mode=0o4711)
              .dir("usr").dir("usr/lib").symlink("lib", "usr/lib").fifo("p").chardev("null", 1, 3)
              .hardlink("etc/a2", "etc/a").dir("o").file("o/1", "1").dir("o/s").file("o/s/2", "2"),
              Layer().dir("etc", mtime=T + 1).whiteout("etc/b").file("etc/a", "A", mtime=T + 2)
              .dir("o", mode=0o700, mtime=T + 3).opaque("o").file("o/3", "3").file("lib", "no longer a link")
              .dir("p", mtime=T + 4).file("p/x", "x", xattrs={"user.k": "v"})]
    extract_layers(t, layers)
    reference_apply(layers, t.path("ref"))
    t.trees_equal(t.path("ref"), t.out, root_ignore=("mtime",))


if __name__ == "__main__":
    sys.exit(suite.main())
