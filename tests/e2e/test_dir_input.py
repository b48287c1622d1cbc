#!/usr/bin/env python3
"""`-f DIR` (issue 18, item 1): an OCI image layout or an unpacked
docker-archive read in place gives what the tar form gives.

1. Every real archive in ../shared/fixtures/real/ (skipped when absent),
   untarred with Python's tarfile into the scratch directory: `-f DIR`
   prints the same `--list`, `--list --json`, `--layers` and `--config` as
   `-f TAR`, and extracts (by default, or each image by name) to the same
   tree; `--tar -` writes the same bytes, `--all` the same trees.
2. A legacy archive (`repositories` + `<id>/json` only), untarred: the same
   tree as the tar.
3. An OCI layout written by `skopeo copy docker-archive:X oci:DIR` and one
   made by `umoci` (the 4-layer image of test_formats.py): `-f DIR` equals
   `umoci unpack` of that very layout.
4. A two-platform nested index (formats_support.make_two_platform) as a
   directory: default (amd64), `--platform linux/arm64`, `--list` and
   `--config` as from its tar.

The hostile directories (links and blob paths that leave DIR, FIFO and
directory blobs) are in tests/hostile/run_hostile.py (`dir_input_*`).

usage: test_dir_input.py UNDOCKER    (exit 77 without bwrap or root; parts 3
and 4 skip without skopeo and umoci)
"""
import os
import shutil
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Suite, Skip, Failure, Image, Layer, legacy_archive, fixture, FIXTURES  # noqa: E402
import formats_support as fs  # noqa: E402

suite = Suite("dir_input")

FIXTURE_NAMES = ("dive-test-docker-image.tar", "dive-test-oci-uncompressed-image.tar", "dive-test-oci-gzip-image.tar",
                 "dive-test-oci-zstd-image.tar", "dive-test-oci-estargz-image.tar", "ggcr-hello-world-v25.tar",
                 "ggcr-test_bundle.tar")


def need_fixture(name):
    path = fixture(name)
    if not path:
        raise Skip(f"{name} absent ({FIXTURES} not there)")
    return path


def need_tools():
    missing = [tool for tool in ("skopeo", "umoci") if shutil.which(tool) is None]
    if missing:
        raise Skip(f"{' and '.join(missing)} not installed")


def tool(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except fs.ToolError as error:
        raise Failure(str(error)) from None


def untar(t, archive, name="layout"):
    """The archive unpacked with Python's tarfile into the scratch directory."""
    directory = t.path(name)
    os.makedirs(directory)
    with tarfile.open(archive) as tar:
        tar.extractall(directory)
    return directory


def same_output(t, args, tar_path, dir_path, what):
    """undocker ARGS with -f TAR and with -f DIR: same exit 0 and stdout."""
    from_tar = t.run(["-f", tar_path, *args])
    t.expect_rc(from_tar, 0)
    from_dir = t.run(["-f", dir_path, *args])
    t.expect_rc(from_dir, 0)
    t.eq(from_dir.stdout, from_tar.stdout, f"{what}: stdout of -f DIR (vs -f TAR)")
    return from_tar.stdout


def selectors(t, tar_path):
    """How to name each image: [] for the only one, else NAME:TAG (or the id) per --list line."""
    lines = t.run(["-f", tar_path, "--list"]).out_lines
    if len(lines) == 1:
        return [[]]
    picks = []
    for line in lines:
        name, tags = line.split(": ", 1)
        picks.append([name if tags == "<none>" else f"{name}:{tags.split()[0]}"])
    return picks


def same_tree(t, tar_path, dir_path, *args, label="default"):
    a = t.path("from-tar-" + label)
    b = t.path("from-dir-" + label)
    t.extract(tar_path, *args, out=a)
    t.extract(dir_path, *args, out=b)
    # The root's mtime is the output directory's own unless a layer has an entry for it.
    t.trees_equal(a, b, root_ignore=("mtime",))


# ------------------------------------------------------------ 1: real archives

def fixture_check(name):
    @suite.check(f"fixture {name} untarred: --list, --list --json, --layers, --config and the tree as the tar")
    def _(t):
        path = need_fixture(name)
        directory = untar(t, path)
        same_output(t, ["--list"], path, directory, "--list")
        same_output(t, ["--list", "--json"], path, directory, "--list --json")
        for n, pick in enumerate(selectors(t, path)):
            same_output(t, ["--layers", *pick], path, directory, f"--layers {pick}")
            same_output(t, ["--layers", "-v", *pick], path, directory, f"--layers -v {pick}")
            same_output(t, ["--config", *pick], path, directory, f"--config {pick}")
            same_tree(t, path, directory, *pick, label=str(n))


for _name in FIXTURE_NAMES:
    fixture_check(_name)


@suite.check("fixture dive-test-docker-image.tar untarred: --tar - writes the same stream, --nspawn the same file")
def _(t):
    path = need_fixture("dive-test-docker-image.tar")
    directory = untar(t, path)
    same_output(t, ["--tar", "-"], path, directory, "--tar -")
    t.extract(path, "--nspawn", out=t.path("a"))
    t.extract(directory, "--nspawn", out=t.path("b"))
    with open(t.path("a.nspawn"), "rb") as a, open(t.path("b.nspawn"), "rb") as b:
        t.eq(b.read(), a.read(), "DIR.nspawn from -f DIR (vs -f TAR)")


@suite.check("fixture ggcr-test_bundle.tar untarred: --all gives the same trees")
def _(t):
    path = need_fixture("ggcr-test_bundle.tar")
    directory = untar(t, path)
    t.extract(path, "--all", out=t.path("a"))
    t.extract(directory, "--all", out=t.path("b"))
    images = sorted(os.listdir(t.path("a")))
    t.eq(sorted(os.listdir(t.path("b"))), images, "--all: the image directories")
    for image in images:  # each image's root is a directory --all made
        t.trees_equal(t.path("a", image), t.path("b", image), root_ignore=("mtime",))


# ------------------------------------------------------------ 2: legacy

@suite.check("legacy archive (repositories + <id>/json) untarred: the same tree as the tar")
def _(t):
    layers = [Layer().dir("etc").file("etc/a", "a\n"), Layer().file("etc/b", "b\n").whiteout("etc/a")]
    data, _ = legacy_archive(layers)
    path = t.write("legacy.tar", data)
    directory = untar(t, path)
    same_output(t, ["--list"], path, directory, "--list")
    same_output(t, ["--layers"], path, directory, "--layers")
    same_tree(t, path, directory)
    t.entry("etc/b", type="file", content="b\n", root=t.path("from-dir-default"))
    t.absent("etc/a", root=t.path("from-dir-default"))


# ------------------------------------------------------------ 3: skopeo and umoci layouts

@suite.check("OCI layout by skopeo copy docker-archive:X oci:DIR: -f DIR equals umoci unpack of it")
def _(t):
    need_tools()
    path = need_fixture("dive-test-docker-image.tar")
    layout = t.path("skopeo-layout")
    tool(fs.skopeo, f"docker-archive:{path}", f"oci:{layout}:t")
    reference = tool(fs.umoci_unpack, layout, "t", t.path("bundle"))
    t.extract(layout, out=t.path("out"))
    t.trees_equal(reference, t.path("out"), root_ignore=("mtime",))
    t.extract(layout, "t", out=t.path("out-by-tag"))  # ref.name "t": a bare tag
    t.trees_equal(reference, t.path("out-by-tag"), root_ignore=("mtime",))


@suite.check("OCI layout made by umoci (4 layers: whiteouts, opaque, links, devices): -f DIR equals umoci unpack")
def _(t):
    need_tools()
    layout = tool(fs.build_umoci_image, t.scratch)
    reference = tool(fs.umoci_unpack, layout, "base", t.path("bundle"))
    t.extract(layout, out=t.path("out"))
    t.trees_equal(reference, t.path("out"), root_ignore=("mtime",))
    listing = t.run(["-f", layout, "--layers"])
    t.expect_rc(listing, 0)
    t.eq(len(listing.out_lines), 4, "--layers: one line a layer")


# ------------------------------------------------------------ 4: multi-platform

@suite.check("two-platform nested index as a directory: default, --platform linux/arm64, --list, --config as the tar")
def _(t):
    need_tools()
    path = need_fixture("dive-test-docker-image.tar")
    gzip_layout = t.path("gzip-layout")
    tool(fs.skopeo, f"docker-archive:{path}", f"oci:{gzip_layout}:img")
    archive, info = tool(fs.make_two_platform, gzip_layout, t.scratch, "two")
    directory = info["layout"]
    same_output(t, ["--list"], archive, directory, "--list")
    same_output(t, ["--list", "--json"], archive, directory, "--list --json")
    for platform in ("linux/amd64", "linux/arm64"):
        config = same_output(t, ["--config", "--platform", platform], archive, directory, f"--config {platform}")
        t.true(f'"architecture": "{platform.split("/")[1]}"' in config or
               f'"architecture":"{platform.split("/")[1]}"' in config, f"--config {platform}: architecture")
        same_tree(t, archive, directory, "--platform", platform, label=platform.replace("/", "-"))
    same_tree(t, archive, directory)


if __name__ == "__main__":
    sys.exit(suite.main())
