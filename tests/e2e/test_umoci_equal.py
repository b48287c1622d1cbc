#!/usr/bin/env python3
"""undocker's tree equals umoci's, an independent implementation of the OCI
layer rules, on the real docker-archive fixtures and on generated archives
that hold every kind of entry and every changeset rule.

For each archive:  skopeo --insecure-policy copy docker-archive:FILE[:REF] oci:LAYOUT:t
                   umoci unpack --image LAYOUT:t BUNDLE        (as root: owners kept)
                   undocker -f FILE -o OUT [REF]               (jailed in bwrap)
                   treecmp BUNDLE/rootfs OUT                   (every field, mtimes in ns)

The one field left out, and only where it is not defined: the mtime of the
root directory itself when no layer has an entry for the root ('./'). umoci
then gives its rootfs the mtime 0 (1970), undocker leaves DIR as it found or
made it (now); neither is a value from the image. When a layer does describe
the root, the root is compared in full (both apply it). Mtimes are compared
in nanoseconds: both tools keep PAX sub-second mtimes exactly, so no
rounding allowance is needed (see the 'sub-second' entries below).

usage: test_umoci_equal.py UNDOCKER    (skips, exit 77, without skopeo, umoci or root)
"""
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Suite, Skip, Failure, Image, Layer, docker_archive, fixture, read_manifest,  # noqa: E402
                    has_root_entry, reference_apply, MTIME, _rmtree)

suite = Suite("umoci")
CAP_NET_BIND = bytes.fromhex("0100000200040000000000000000000000000000")  # v2, cap_net_bind_service+p


def setup():
    missing = [tool for tool in ("skopeo", "umoci") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed"
    if os.geteuid() != 0:
        return "umoci must run as root to keep owners and create devices"
    return None


def sh(t, *command):
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"{' '.join(command)}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return proc


def umoci_tree(t, archive, source_ref=""):
    """Unpack archive (docker-archive, with an optional :REF or :@INDEX) with
    skopeo + umoci; returns the rootfs."""
    layout, bundle = t.path("layout"), t.path("bundle")
    shutil.rmtree(layout, ignore_errors=True)
    shutil.rmtree(bundle, ignore_errors=True)
    source = f"docker-archive:{archive}" + (f":{source_ref}" if source_ref else "")
    sh(t, "skopeo", "--insecure-policy", "copy", "-q", source, f"oci:{layout}:t")
    sh(t, "umoci", "unpack", "--image", f"{layout}:t", bundle)
    return os.path.join(bundle, "rootfs")


def compare_with_umoci(t, archive, image_ref="", layers=None, skopeo_ref=None):
    rootfs = umoci_tree(t, archive, image_ref if skopeo_ref is None else skopeo_ref)
    out = t.path("undocker-" + (image_ref.replace(":", "_") or "only"))
    # Into a new DIR, and into one holding an unrelated file (same tree after it is removed).
    t.extract_twice(archive, *([image_ref] if image_ref else []), out=out)
    if layers is None:
        entries = read_manifest(archive)
        entry = entries[0] if not image_ref else next(
            e for e in entries if image_ref in (e["RepoTags"] or []) or image_ref.split(":")[0] in
            [tag.split(":")[0] for tag in e["RepoTags"] or []])
        layers = entry["layer_bytes"]()
    root_ignore = () if has_root_entry(layers) else ("mtime",)
    t.trees_equal(rootfs, out, root_ignore=root_ignore)


# ------------------------------------------------------------ the fixtures

@suite.check("fixture dive-test-docker-image.tar equals umoci")
def _(t):
    path = fixture("dive-test-docker-image.tar")
    if not path:
        raise Skip("fixture absent")
    compare_with_umoci(t, path)


@suite.check("fixture ggcr-test_bundle.tar test_image_1 equals umoci")
def _(t):
    path = fixture("ggcr-test_bundle.tar")
    if not path:
        raise Skip("fixture absent")
    # skopeo cannot find a RepoTags entry without a tag ("test_image_1"): by index.
    compare_with_umoci(t, path, "test_image_1:latest", skopeo_ref="@1")


@suite.check("fixture ggcr-test_bundle.tar test_image_2 equals umoci")
def _(t):
    path = fixture("ggcr-test_bundle.tar")
    if not path:
        raise Skip("fixture absent")
    compare_with_umoci(t, path, "test_image_2:latest", skopeo_ref="@0")


# -------------------------------------------------------- generated archives

def rich_layers():
    """Every entry type and every changeset rule, over four layers, with the
    parent directory entries that docker writes in every layer."""
    T = MTIME
    base = (Layer()
            .dir("bin", mtime=T).file("bin/busybox", "#!busybox\n" * 50, mode=0o755, mtime=T + 1)
            .hardlink("bin/sh", "bin/busybox").hardlink("bin/ls", "bin/busybox")
            .file("bin/su", "su", mode=0o4755).file("bin/wall", "wall", mode=0o2755, gid=5)
            .file("bin/ping", "ping", mode=0o755, xattrs={"security.capability": CAP_NET_BIND.decode()})
            .dir("etc", mtime=T + 2).file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
            .file("etc/shadow", "root:*::0:::::\n", mode=0o640, gid=42)
            .symlink("etc/mtab", "/proc/mounts", mtime=T + 3)
            .dir("tmp", mode=0o1777).dir("var", mode=0o755).dir("var/tmp", mode=0o1777)
            .dir("dev").chardev("dev/null", 1, 3).chardev("dev/tty", 5, 0, mode=0o666, gid=5)
            .blockdev("dev/loop0", 7, 0).fifo("dev/initctl", mode=0o600)
            .dir("home", mtime=T).dir("home/user", mode=0o700, uid=1000, gid=1000)
            .file("home/user/.profile", "export A=1\n", uid=1000, gid=1000, uname="root", gname="root")
            .file("xattr-file", "x", xattrs={"user.test": "hello", "user.other": "2"})
            .dir("opaque", mode=0o755).file("opaque/lower", "lower").dir("opaque/sub").file("opaque/sub/deep", "d")
            .dir("dir-to-file").file("dir-to-file/inner", "i").dir("dir-to-file/sub").file("dir-to-file/sub/x", "x")
            .file("file-to-dir", "was a file")
            .symlink("symlink-to-dir", "bin")
            .dir("dir-to-symlink").file("dir-to-symlink/kept-out", "k")
            .dir("gone").dir("gone/nested").file("gone/nested/file", "g").file("gone-file", "g")
            .symlink("gone-link", "etc/passwd")
            .file("subsecond", "s", pax={"mtime": "1600000123.456789012"}))
    second = (Layer()
              .dir("etc", mtime=T + 100).file("etc/passwd", "root:x:0:0::/root:/bin/ash\nuser:x:1000:1000::/home/user:/bin/sh\n",
                                              mtime=T + 101)
              .hardlink("etc/passwd-", "etc/passwd")  # a hardlink to a file of this layer
              .dir("bin", mtime=T + 100).hardlink("bin/ash", "bin/busybox")  # ... and to one of a lower layer
              .dir("opaque", mode=0o750, uid=3, mtime=T + 102).file("opaque/before", "same layer, before the marker")
              .opaque("opaque").file("opaque/after", "same layer, after the marker")
              .dir("opaque/sub").file("opaque/sub/new", "n")
              .file("dir-to-file", "now a file", mode=0o600)
              .dir("file-to-dir", mode=0o711, mtime=T + 103).file("file-to-dir/child", "c")
              .dir("symlink-to-dir", mode=0o755).file("symlink-to-dir/inside", "in a real dir")
              .symlink("dir-to-symlink", "etc")
              .whiteout("gone").whiteout("gone-file").whiteout("gone-link")
              .file(".wh..wh.plnk", "aufs metadata").dir("var", mtime=T + 104).file("var/.wh..wh.aufs", "meta")
              .file("./dot-slash", "a ./ name", mtime=T + 105)
              .dir("./dot-dir/", mtime=T + 106).file("./dot-dir/f", "f"))
    third = (Layer()
             .dir("bin", mtime=T + 200).file("bin/busybox", "#!busybox v2\n", mode=0o755, mtime=T + 201)
             # bin/sh, bin/ls, bin/ash keep the old inode's content
             .dir("etc", mtime=T + 200).whiteout("etc/shadow")
             .file("etc/passwd-", "replaces the hardlink", mtime=T + 202)
             .dir("home", mtime=T + 203).dir("home/user", mode=0o750, uid=1000, gid=100, mtime=T + 204)
             .file("xattr-file", "x2", xattrs={"user.test": "replaced"})
             .symlink("file-to-dir/child", "../etc/passwd"))
    empty = Layer()  # docker writes empty layers for ENV and friends
    fourth = (Layer()
              .dir("opaque", mode=0o755, mtime=T + 300).opaque("opaque")  # everything below goes
              .dir("new-top", mode=0o2775, gid=10).file("new-top/sgid-child", "c", gid=10, mode=0o2750)
              .dir("dev", mtime=T + 301).whiteout("dev/loop0"))
    return [base, second, third, empty, fourth]


@suite.check("generated: every entry type and changeset rule (4 layers + empty) equals umoci")
def _(t):
    layers = rich_layers()
    archive = t.path("rich.tar")
    docker_archive(Image(layers, tags=["rich:latest"]), archive)
    compare_with_umoci(t, archive, layers=[layer.bytes() for layer in layers])


@suite.check("generated: a root entry './' with its own mode, owner, mtime equals umoci")
def _(t):
    layers = [Layer().dir("./", mode=0o750, uid=7, gid=8, mtime=MTIME + 5).file("./a", "a"),
              Layer().dir("./", mode=0o700, mtime=MTIME + 9).file("b", "b")]
    archive = t.path("root.tar")
    docker_archive(Image(layers, tags=["root:latest"]), archive)
    compare_with_umoci(t, archive, layers=[layer.bytes() for layer in layers])


@suite.check("generated: a child changed without its parent's entry keeps the parent's mtime (umoci)")
def _(t):
    layers = [Layer().dir("etc", mtime=MTIME).file("etc/a", "a").file("etc/b", "b").dir("etc/d"),
              Layer().file("etc/a", "a2", mtime=MTIME + 50).whiteout("etc/b").whiteout("etc/d")]
    archive = t.path("noparent.tar")
    docker_archive(Image(layers, tags=["noparent:latest"]), archive)
    compare_with_umoci(t, archive, layers=[layer.bytes() for layer in layers])


@suite.check("generated: xattrs on symlinks and directories (trusted.*, user.*) equal umoci")
def _(t):
    layers = [Layer().dir("d", xattrs={"user.dir": "d", "trusted.dir": "t"}).file("d/f", "f")
              .symlink("d/l", "f", xattrs={"trusted.test": "on a symlink"})]
    archive = t.path("xattr.tar")
    docker_archive(Image(layers, tags=["xattr:latest"]), archive)
    compare_with_umoci(t, archive, layers=[layer.bytes() for layer in layers])


@suite.check("generated: two images of one archive each equal umoci")
def _(t):
    one = [Layer().dir("etc").file("etc/os", "one"), Layer().dir("etc").whiteout("etc/os").file("etc/x", "1")]
    two = [Layer().dir("etc").file("etc/os", "two").symlink("etc/link", "os")]
    archive = t.path("two.tar")
    docker_archive([Image(one, tags=["first:1"]), Image(two, tags=["second:2"])], archive)
    compare_with_umoci(t, archive, "first:1", layers=[layer.bytes() for layer in one])
    compare_with_umoci(t, archive, "second:2", layers=[layer.bytes() for layer in two])


# ------------------------------------------------------ random archives
#
# Realistic random images, as docker writes them: every layer carries entries
# for the parent directories of what it changes (so every directory's
# metadata, mtime included, comes from an entry), directories are named a-c
# and leaves x-z (so a symlink is never used as a parent), a path is not both
# whited out and written in one layer (umoci applies a whiteout that follows
# an entry of its own layer to that entry; the SPEC says whiteouts hide lower
# layers only, which test_layer_semantics checks), and hardlinks name a regular
# file that exists at that point: earlier in the layer, or from a lower layer
# and not removed by this one. Overwrites, type changes in both directions,
# whiteouts of files and directories, opaque directories, hardlinks to files
# that later layers replace, devices, FIFOs, xattrs, odd modes and owners.

DIRS, LEAVES = ["a", "b", "c"], ["x", "y", "z"]


def _ancestors(path):
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _under(path, roots):
    return any(path == r or path.startswith(r + "/") for r in roots)


def random_layer(rng, index, lower_files):
    """lower_files: regular files of the tree below this layer."""
    used, nondir, whiteouts, opaques, parents, ops = set(), set(), set(), set(), set(), []
    for _ in range(rng.randint(3, 14)):
        kind = rng.choice(["file"] * 5 + ["symlink", "hardlink", "hardlink", "fifo", "char", "leafdir",
                                          "dirmeta", "dir-to-file", "whiteout", "whiteout", "opaque"])
        parent = "/".join(rng.choice(DIRS) for _ in range(rng.randint(0, 2)))
        leaf = rng.choice(LEAVES)
        if kind in ("dirmeta", "dir-to-file", "opaque"):
            if not parent:
                continue
            path = parent
        elif kind == "whiteout":
            path = (parent + "/" if parent else "") + rng.choice(DIRS + LEAVES)
        else:
            path = (parent + "/" if parent else "") + leaf
        if index == 0 and kind in ("whiteout", "opaque"):
            continue
        if path in used or any(a in nondir or a in whiteouts for a in _ancestors(path)):
            continue
        is_dir = kind in ("dirmeta", "opaque", "leafdir")
        if not is_dir and (path in parents or _under(path, whiteouts)):
            continue
        if kind == "whiteout" and any(u == path or u.startswith(path + "/") for u in used | parents):
            continue
        if kind == "hardlink":
            candidates = [(f, "lower") for f in sorted(lower_files)]
            candidates += [(op[0], "same") for op in ops if op[1] in ("file", "dir-to-file")]
            candidates = [c for c in candidates if c[0] != path and not _under(path, [c[0]])]
            if not candidates:
                continue
            ops.append((path, kind, rng.choice(candidates)))
        else:
            ops.append((path, kind, None))
        used.add(path)
        parents.update(_ancestors(path))
        if kind == "whiteout":
            whiteouts.add(path)
        elif kind == "opaque":
            opaques.add(path)
        elif not is_dir:
            nondir.add(path)
    dirs = sorted({a for op in ops for a in _ancestors(op[0])} |
                  {op[0] for op in ops if op[1] in ("dirmeta", "opaque", "leafdir")})
    dirs = [d for d in dirs if d not in nondir]

    def target_exists(target, origin):
        # Directories are written first and whiteouts and opaque markers act
        # before the entries, whatever their order: check against the final sets.
        if target in dirs or any(a in nondir for a in _ancestors(target)):
            return False
        if origin == "lower":
            return not _under(target, whiteouts) and not any(a in opaques for a in _ancestors(target))
        return True
    ops = [op if op[1] != "hardlink" else (op[0], op[1], op[2][0]) for op in ops
           if op[1] != "hardlink" or target_exists(*op[2])]
    layer = Layer()
    t = MTIME + index * 1000
    for d in dirs:  # parents first (sorted), as docker writes them
        layer.dir(d, mode=rng.choice([0o755, 0o755, 0o750, 0o1777, 0o2775]), uid=rng.choice([0, 0, 1000]),
                  mtime=t + rng.randint(0, 999))
        if any(op[0] == d and op[1] == "opaque" for op in ops):
            layer.opaque(d)
    for path, kind, extra in ops:
        common = dict(uid=rng.choice([0, 0, 0, 1, 1000, 65534]), gid=rng.choice([0, 0, 5, 1000]),
                      mtime=t + rng.randint(0, 999))
        if kind in ("file", "dir-to-file"):
            xattrs = {"user.r": str(rng.randint(0, 99))} if rng.random() < 0.2 else None
            pax = {"mtime": f"{common['mtime']}.{rng.randint(0, 999999999):09d}"} if rng.random() < 0.2 else None
            layer.file(path, f"{path} in layer {index}: {rng.random()}" * rng.randint(1, 30),
                       mode=rng.choice([0o644, 0o755, 0o600, 0o4755, 0o2711, 0o444]), xattrs=xattrs, pax=pax, **common)
        elif kind == "symlink":
            layer.symlink(path, rng.choice(["x", "../y", "/a/b/z", "/etc/passwd", "a/" + rng.choice(LEAVES)]), **common)
        elif kind == "hardlink":
            layer.hardlink(path, extra)
        elif kind == "fifo":
            layer.fifo(path, mode=rng.choice([0o644, 0o600]), **common)
        elif kind == "char":
            layer.chardev(path, rng.choice([1, 5, 136]), rng.randint(0, 9), **common)
        elif kind == "whiteout":
            layer.whiteout(path)
    return layer


def random_image(rng, scratch):
    layers = []
    state = tempfile.mkdtemp(dir=scratch, prefix="model-")
    try:
        for index in range(rng.randint(2, 5)):
            files = set()
            for dirpath, _, filenames in os.walk(state):
                for name in filenames:
                    full = os.path.join(dirpath, name)
                    if os.path.isfile(full) and not os.path.islink(full):
                        files.add(os.path.relpath(full, state))
            layer = random_layer(rng, index, files)
            layers.append(layer)
            reference_apply([layer], state)
    finally:
        _rmtree(state)
    return layers


ROUNDS = int(os.environ.get("E2E_ROUNDS", "25"))


def random_check(round_number):
    @suite.check(f"random archive {round_number} (seed {round_number}) equals umoci")
    def _(t):
        rng = random.Random(20261126 + round_number)
        layers = random_image(rng, t.scratch)
        archive = t.path("random.tar")
        docker_archive(Image(layers, tags=[f"random:{round_number}"]), archive)
        compare_with_umoci(t, archive, layers=[layer.bytes() for layer in layers])


for _round in range(ROUNDS):
    random_check(_round)


if __name__ == "__main__":
    sys.exit(suite.main(setup))
