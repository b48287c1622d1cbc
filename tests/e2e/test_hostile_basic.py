#!/usr/bin/env python3
"""Hostile archives: nothing outside DIR may be created, changed, chmod'ed,
chown'ed, linked to or deleted. Every run is jailed in bubblewrap (host
read-only, only the test's scratch directory writable); the scratch holds a
sentinel directory beside DIR, and a snapshot of everything in the scratch
outside DIR (contents, modes, owners, mtimes, ctimes, link counts, xattrs)
must be unchanged afterwards.

Paths resolve inside DIR as if DIR were `/` (chroot semantics): a symlink to
`/SCRATCH/sentinel` means DIR/SCRATCH/sentinel, `..` at the root stays at
the root, and a member name whose `..` climbs above the root is an error
(exit 3) naming the member.

usage: test_hostile_basic.py UNDOCKER
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Suite, Failure, Image, Layer, docker_archive, legacy_archive, MTIME)  # noqa: E402

suite = Suite("hostile")


def check(name):
    """Register a check twice: extracting into an empty DIR, and into a DIR
    that already holds an unrelated file (an extractor may plan the tree
    ahead for an empty DIR and apply layers one by one otherwise)."""
    def register(fn):
        for mode in ("empty DIR", "non-empty DIR"):
            def run(t, fn=fn, mode=mode):
                t.nonempty = mode == "non-empty DIR"
                fn(t)
            suite.check(f"{name} [{mode}]")(run)
        return fn
    return register


def mirror(layer, absolute_dir):
    """Add directory entries for every component of absolute_dir (inside DIR)."""
    parts = absolute_dir.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        layer.dir("/".join(parts[:i]))
    return layer


def run_hostile(t, layers, *extra, image=None, prepare=None):
    """Write the archive, create the sentinel, extract jailed; return the result
    after checking that nothing outside DIR changed."""
    archive = t.path("hostile.tar")
    if image is None:
        image = Image(layers, tags=["hostile:latest"])
    docker_archive(image, archive)
    t.fresh_out()
    before = t.sentinel()
    if getattr(t, "nonempty", False):
        with open(os.path.join(t.out, "zz-unrelated"), "w") as f:
            f.write("already here\n")
    if prepare:
        prepare()
        before = t.outside_snapshot()
    r = t.run(["-f", archive, "-o", t.out, *extra])
    t.outside_unchanged(before)
    t.tmp_empty()
    if not os.path.isdir(t.out):
        raise Failure(f"DIR itself is gone\n{r.describe()}")
    return r


def expect_error(t, r, rc, member=None):
    t.expect_rc(r, rc)
    if member is not None:
        t.expect_one_error(r, member)


def expect_error_or(t, r, inside_check):
    """Either a clean failure (exit 1 or 3, one ERROR line) or success with
    inside_check() holding."""
    if r.rc == 0:
        inside_check()
    elif r.rc in (1, 3):
        t.expect_one_error(r)
    else:
        raise Failure(f"expected exit 0, 1 or 3, got {r.rc}\n{r.describe()}")


# ------------------------------------------------------------ member names

@check("'../x' member: exit 3 naming it, nothing outside")
def _(t):
    r = run_hostile(t, [Layer().file("ok", "fine").file("../x", "escaped")])
    expect_error(t, r, 3, "../x")


@check("'../sentinel/file' member: exit 3 naming it, sentinel unchanged")
def _(t):
    r = run_hostile(t, [Layer().file("../sentinel/file", "pwned")])
    expect_error(t, r, 3, "../sentinel/file")


@check("'a/../../sentinel/file' and './../x' members: exit 3 naming them")
def _(t):
    r = run_hostile(t, [Layer().dir("a").file("a/../../sentinel/file", "pwned")])
    expect_error(t, r, 3, "a/../../sentinel/file")
    r = run_hostile(t, [Layer().file("./../x", "pwned")])
    expect_error(t, r, 3, "../x")


@check("'../' climbing directory, symlink, hardlink and device members: exit 3")
def _(t):
    for layer, member in ((Layer().dir("../newdir"), "../newdir"),
                          (Layer().symlink("../newlink", "/etc/passwd"), "../newlink"),
                          (Layer().file("f", "f").hardlink("../newhard", "f"), "../newhard"),
                          (Layer().fifo("../newfifo"), "../newfifo")):
        r = run_hostile(t, [layer])
        expect_error(t, r, 3, member)


@check("'/abs/path' member lands inside DIR")
def _(t):
    r = run_hostile(t, [Layer().dir("/abs/").file("/abs/path", "inside").file("/top", "top")])
    t.expect_rc(r, 0)
    t.entry("abs/path", type="file", content="inside")
    t.entry("top", type="file", content="top")


@check("a member named /SCRATCH/sentinel/file lands at DIR/SCRATCH/sentinel/file")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().file(sentinel + "/file", "inside")])
    t.expect_rc(r, 0)
    t.entry(sentinel + "/file", type="file", content="inside")


# ------------------------------------------------- writes through symlinks

@check("absolute symlink to the sentinel, write through it in the same layer: lands inside DIR")
def _(t):
    sentinel = t.path("sentinel")
    layer = mirror(Layer(), sentinel).symlink("evil", sentinel).file("evil/file", "pwned").file("evil/new", "new")
    r = run_hostile(t, [layer])
    t.expect_rc(r, 0)
    t.entry("evil", type="symlink", target=sentinel)
    t.entry(sentinel + "/file", type="file", content="pwned")
    t.entry(sentinel + "/new", type="file", content="new")


@check("absolute symlink to the sentinel, write through it in a later layer: lands inside DIR")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [mirror(Layer(), sentinel).symlink("evil", sentinel),
                        Layer().file("evil/file", "pwned").dir("evil/dir/").file("evil/dir/inner", "pwned")])
    t.expect_rc(r, 0)
    t.entry(sentinel + "/file", type="file", content="pwned")
    t.entry(sentinel + "/dir/inner", type="file", content="pwned")


@check("absolute symlink to the sentinel with no mirror inside DIR: error or inside, never outside")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().symlink("evil", sentinel), Layer().file("evil/file", "pwned")])
    expect_error_or(t, r, lambda: t.entry(sentinel + "/file", type="file", content="pwned"))


@check("relative symlink '../sentinel' at the root, write through it: lands at DIR/sentinel")
def _(t):
    r = run_hostile(t, [Layer().dir("sentinel").symlink("up", "../sentinel"),
                        Layer().file("up/file", "pwned")])
    t.expect_rc(r, 0)
    t.entry("sentinel/file", type="file", content="pwned")


@check("relative chain d/l1 -> ../l2 -> ../../sentinel, write through it: lands at DIR/sentinel")
def _(t):
    r = run_hostile(t, [Layer().dir("sentinel").dir("d").symlink("d/l1", "../l2").symlink("l2", "../../sentinel"),
                        Layer().file("d/l1/file", "pwned").file("d/l1/dir/inner", "pwned")])
    t.expect_rc(r, 0)
    t.entry("sentinel/file", type="file", content="pwned")
    t.entry("sentinel/dir/inner", type="file", content="pwned")


@check("deep relative climb a/b/c/up -> ../../../../../../.. then up/sentinel/file: inside DIR")
def _(t):
    r = run_hostile(t, [Layer().dir("sentinel").dir("a").dir("a/b").dir("a/b/c").symlink("a/b/c/up", "../../../../../../.."),
                        Layer().file("a/b/c/up/sentinel/file", "pwned")])
    t.expect_rc(r, 0)
    t.entry("sentinel/file", type="file", content="pwned")


@check("a symlink to a file outside, then a regular file at the same path: replaces the link")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().symlink("evil", sentinel + "/file"), Layer().file("evil", "pwned")])
    t.expect_rc(r, 0)
    t.entry("evil", type="file", content="pwned")


@check("symlink entries pointing outside with owner, mode, mtime, xattr: nothing followed")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().symlink("evil", sentinel + "/file", uid=1234, gid=1234, mtime=MTIME)
                        .symlink("evildir", sentinel, uid=1234, mtime=MTIME)
                        .symlink("evilx", sentinel + "/file", xattrs={"user.pwned": "1"})], "-i")
    # -i: the kernel refuses user.* xattrs on symlinks; that may be a warning.
    if r.rc == 0:
        t.entry("evil", type="symlink", uid=1234, gid=1234, mtime=MTIME, target=sentinel + "/file")
    else:
        t.expect_one_error(r)


@check("metadata through a lower symlink: a dir entry evil/sub with mode 0777 lands inside DIR")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [mirror(Layer(), sentinel).symlink("evil", sentinel),
                        Layer().dir("evil/dir", mode=0o777, uid=1234, mtime=0)])
    t.expect_rc(r, 0)
    t.entry(sentinel + "/dir", type="dir", mode=0o777, uid=1234, mtime=0)


@check("a symlink already in DIR pointing outside: writes through it stay inside DIR")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().dir("sentinel").file("pre/file", "pwned").file("rel/file", "pwned")],
                    prepare=lambda: (os.symlink(sentinel, os.path.join(t.out, "pre")),
                                     os.symlink("../sentinel", os.path.join(t.out, "rel"))))
    expect_error_or(t, r, lambda: t.entry("sentinel/file", type="file", content="pwned"))


@check("a './' entry that is a symlink to the sentinel: DIR is not redirected")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().symlink("./", sentinel).file("file", "pwned")])
    expect_error_or(t, r, lambda: t.entry("file", type="file", content="pwned"))


# ---------------------------------------------------------------- hardlinks

@check("hardlink to '../sentinel/file': error or inside, never a link to the outside file")
def _(t):
    r = run_hostile(t, [Layer().dir("sentinel").file("sentinel/file", "inside").hardlink("h", "../sentinel/file")])
    expect_error_or(t, r, lambda: t.same_inode("h", "sentinel/file"))


@check("hardlink to /SCRATCH/sentinel/file (absolute): error or inside")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().hardlink("h", sentinel + "/file")])
    expect_error_or(t, r, lambda: t.entry("h", type="file"))


@check("hardlink through a symlink to the sentinel: error or inside")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().symlink("evil", sentinel), Layer().hardlink("h", "evil/file")])
    expect_error_or(t, r, lambda: t.entry("h", type="file"))


@check("hardlink through a relative symlink chain climbing out: error or inside")
def _(t):
    r = run_hostile(t, [Layer().dir("d").symlink("d/up", "../../.."),
                        Layer().hardlink("h", "d/up/sentinel/file").hardlink("h2", "d/up/../sentinel/link")])
    expect_error_or(t, r, lambda: None)


# ---------------------------------------------------------------- whiteouts

@check("whiteout 'a/../../.wh.sentinel' climbing out: exit 3, nothing deleted")
def _(t):
    r = run_hostile(t, [Layer().dir("a").file("a/x", "x"), Layer().file("a/../../.wh.sentinel")])
    expect_error(t, r, 3, ".wh.sentinel")


@check("whiteout '../.wh.sentinel': exit 3, nothing deleted")
def _(t):
    r = run_hostile(t, [Layer().file("x", "x"), Layer().file("../.wh.sentinel")])
    expect_error(t, r, 3, ".wh.sentinel")


@check("whiteout '.wh..' (of the parent of the root) and 'sub/.wh..': DIR survives, nothing outside")
def _(t):
    r = run_hostile(t, [Layer().file("x", "x").dir("sub").file("sub/y", "y"), Layer().file(".wh..")])
    if r.rc == 0:
        t.entry("x", content="x")
    else:
        t.expect_one_error(r)
    r = run_hostile(t, [Layer().file("x", "x").dir("sub").file("sub/y", "y"), Layer().dir("sub").file("sub/.wh..")])
    if r.rc != 0:
        t.expect_one_error(r)


@check("whiteouts through an absolute symlink to the sentinel stay inside DIR")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().symlink("evil", sentinel),
                        Layer().whiteout("evil/file").whiteout("evil/dir").whiteout("evil/link")])
    if r.rc != 0:
        t.expect_one_error(r)


@check("opaque marker through a symlink to the sentinel does not empty it")
def _(t):
    sentinel = t.path("sentinel")
    r = run_hostile(t, [Layer().symlink("evil", sentinel).symlink("rel", "../sentinel"),
                        Layer().opaque("evil").opaque("rel")])
    if r.rc != 0:
        t.expect_one_error(r)


@check("whiteout through a relative symlink climbing out: only DIR/sentinel/file goes")
def _(t):
    r = run_hostile(t, [Layer().dir("sentinel").file("sentinel/file", "inside").file("sentinel/keep", "k")
                        .symlink("up", "../.."),
                        Layer().whiteout("up/sentinel/file")])
    if r.rc == 0:
        t.absent("sentinel/file")
        t.entry("sentinel/keep", content="k")
    else:
        t.expect_one_error(r)


@check("a bare '.wh.' entry: an error, nothing deleted")
def _(t):
    r = run_hostile(t, [Layer().dir("d").file("d/x", "x"), Layer().dir("d").file("d/.wh.")])
    t.true(r.rc != 0, f"a bare .wh. was accepted\n{r.describe()}")
    t.expect_one_error(r)


# ------------------------------------------------------- manifest and v1 json

@check("manifest.json layer path with '..': exit 3")
def _(t):
    image = Image([Layer().file("x", "x")], tags=["hostile:latest"])

    def hook(manifest):
        manifest[0]["Layers"] = ["../" + image.layer_ids[0] + "/layer.tar"]
    archive = t.path("hostile.tar")
    docker_archive(image, archive, manifest_hook=hook,
                   extra_members=[("../" + image.layer_ids[0] + "/layer.tar", image.layers[0])])
    before = t.sentinel()
    r = t.run(["-f", archive, "-o", t.out])
    t.outside_unchanged(before)
    t.expect_rc(r, 3)


@check("manifest.json layer path '../sentinel/file' (a host file): exit 3")
def _(t):
    image = Image([Layer().file("x", "x")], tags=["hostile:latest"])
    archive = t.path("hostile.tar")
    docker_archive(image, archive, manifest_hook=lambda m: [dict(m[0], Layers=["../sentinel/file"])])
    before = t.sentinel()
    r = t.run(["-f", archive, "-o", t.out])
    t.outside_unchanged(before)
    t.expect_rc(r, 3)


@check("manifest.json Config path with '..': exit 3")
def _(t):
    image = Image([Layer().file("x", "x")], tags=["hostile:latest"])
    archive = t.path("hostile.tar")
    docker_archive(image, archive, manifest_hook=lambda m: [dict(m[0], Config="../" + m[0]["Config"])])
    before = t.sentinel()
    r = t.run(["-f", archive, "-o", t.out])
    t.outside_unchanged(before)
    t.expect_rc(r, 3)


@check("legacy v1 parent loop: exit 3, no hang")
def _(t):
    data, ids = legacy_archive([Layer().file("a", "a"), Layer().file("b", "b")], tags=["loop:latest"])
    import io
    import tarfile
    src = tarfile.open(fileobj=io.BytesIO(data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            payload = src.extractfile(m).read() if m.isfile() else None
            if m.name == ids[0] + "/json":
                body = json.loads(payload)
                body["parent"] = ids[1]  # bottom's parent is the top: a loop
                payload = json.dumps(body).encode()
            if payload is not None:
                m.size = len(payload)
                dst.addfile(m, io.BytesIO(payload))
            else:
                dst.addfile(m)
    archive = t.write("loop.tar", out.getvalue())
    before = t.sentinel()
    r = t.run(["-f", archive, "-o", t.out], timeout=60)
    t.outside_unchanged(before)
    t.expect_rc(r, 3)


if __name__ == "__main__":
    sys.exit(suite.main())
