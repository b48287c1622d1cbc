#!/usr/bin/env python3
"""Every input format gives the tree umoci gives (issue 3), on the real
archives and on one image built with real tools and written in every form.

1. The real archives in ../shared/fixtures/real/ (skipped when absent): each
   lists (`--list`, exit 0) and extracts by default, and by name or image-id
   prefix where it has one, to the tree of
       skopeo --insecure-policy copy docker-archive:FILE[:@N] | oci-archive:FILE  oci:LAYOUT:t
       umoci unpack --image LAYOUT:t BUNDLE
   (the zstd OCI fixture against the uncompressed fixture's tree, which has the
   same diffID: umoci 0.4.7 cannot read zstd layers). The arm64-only OCI
   fixtures extract on amd64 with no --platform.
2. One 4-layer image made with `umoci repack` (files, dirs, a symlink,
   hardlinks, a device, a FIFO, setuid/setgid/sticky modes, owners, a whiteout
   of a file and of a directory, a directory emptied and recreated) and
   `umoci insert --opaque` (an opaque directory), written by skopeo as a
   docker-archive, an oci-archive, OCI layout tars with uncompressed, gzip and
   zstd layers, and a two-platform nested index crafted here; every one
   extracts (the index: by default = linux/amd64, and with --platform
   linux/arm64) to umoci's tree, so all are identical to each other.
3. A flipped byte in a layer blob: exit 5 and one ERROR line naming the blob;
   --no-verify extracts it. A two-platform index without the arm64 manifest
   blob: --platform linux/arm64 is exit 4 naming linux/arm64, the default
   still extracts.
4. `--list --json` and `--layers --json` on every archive: the keys README.md
   documents ("JSON output"), each value checked against an independent
   reading of the archive (formats_support.Archive); `--layers --json` is the
   `--list --json` entry of the same image, `--layers` prints its ids.

Trees are compared with tests/tools/treecmp.py, every field (mtimes in ns);
the root's mtime only when a layer has an entry for the root (else umoci
gives it 0 and undocker leaves DIR's own).

usage: test_formats.py UNDOCKER    (exit 77 without skopeo, umoci, bwrap or root)
"""
import atexit
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Suite, Skip, Failure, fixture, FIXTURES, _rmtree  # noqa: E402
import formats_support as fs  # noqa: E402

suite = Suite("formats")


def setup():
    missing = [tool for tool in ("skopeo", "umoci") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed"
    return None


def tool(fn, *args, **kw):
    """Run a formats_support step; a failing external tool fails the check."""
    try:
        return fn(*args, **kw)
    except fs.ToolError as error:
        raise Failure(str(error)) from None


def need_fixture(name):
    path = fixture(name)
    if not path:
        raise Skip(f"{name} absent ({FIXTURES} not there)")
    return path


def root_ignore_for(archive_path, pick=lambda images: images[0]):
    """('mtime',) unless a layer of the image describes the root itself."""
    archive = fs.Archive(archive_path)
    try:
        image = pick(archive.images())
        described = fs.describes_root(archive.layer_bytes(image))
    finally:
        archive.close()
    return () if described else ("mtime",)


def extract_equal(t, archive, reference, *args, out=None, root_ignore=None):
    """undocker -f ARCHIVE -o OUT ARGS (exit 0) and OUT equals the reference tree."""
    out = out or t.path("out-" + re.sub(r"[^A-Za-z0-9]+", "_", " ".join(args) or "default"))
    t.extract(archive, *args, out=out)
    t.trees_equal(reference, out, root_ignore=root_ignore if root_ignore is not None else ())
    return out


# ------------------------------------------------------------ 4: JSON

IMAGE_KEYS = {"id", "names", "platform", "manifest_digest", "config_digest", "saved", "layers"}
LAYER_KEYS = {"index", "id", "member", "digest", "diff_id", "media_type", "size"}
NAME_TAG = re.compile(r"^(?P<name>[^@]*?):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*)$")


def load_json(t, result, what):
    t.expect_rc(result, 0)
    try:
        return json.loads(result.stdout)
    except ValueError as error:
        raise Failure(f"{what}: stdout is not JSON ({error}):\n{result.stdout[:2000]}") from None


def expect_keys(obj, keys, what):
    if not isinstance(obj, dict):
        raise Failure(f"{what}: expected an object, got {obj!r:.200}")
    missing = keys - set(obj)
    if missing:
        raise Failure(f"{what}: keys {sorted(missing)} missing (has {sorted(obj)})")


def check_image_json(t, image, expected, what):
    expect_keys(image, IMAGE_KEYS, what)
    t.true(isinstance(image["id"], str) and fs.HEX64.match(image["id"]), f"{what}: id {image['id']!r} is not 64 hex")
    t.true(isinstance(image["names"], list) and all(isinstance(n, str) for n in image["names"]),
           f"{what}: names {image['names']!r} is not a list of strings")
    for name in image["names"]:
        # README: names are "name:tag" (a bare-tag OCI ref.name gives ":TAG"); a registry
        # host:port/name has its tag only after the last '/'.
        match = NAME_TAG.match(name)
        t.true(match and "/" not in match.group("tag"),
               f"{what}: name {name!r} is not of the documented form \"name:tag\"")
    t.eq(image["saved"], expected["saved"], f"{what}: saved")
    t.eq(image["platform"], expected["platform"], f"{what}: platform")
    t.eq(image["manifest_digest"], expected["manifest_digest"], f"{what}: manifest_digest")
    t.eq(image["config_digest"], expected["config_digest"], f"{what}: config_digest")
    if image["config_digest"] is not None:
        t.eq(image["id"], image["config_digest"].split(":", 1)[1], f"{what}: id (the config digest's hex)")
    # Names: every RepoTag / ref name of the archive is there (normalised to name:tag).
    want = set()
    for name in expected["names"]:
        slash, colon = name.rfind("/"), name.rfind(":")
        want.add(name if colon > slash else name + ":latest")  # a NAME without a tag means latest
    for name in want:
        bare = name.removeprefix("docker.io/library/").removeprefix("docker.io/")
        if not any(n in (name, bare) or n.endswith("/" + bare) for n in image["names"]):
            raise Failure(f"{what}: names {image['names']} lack {name!r} (from the archive)")
    if not expected["saved"]:
        return
    layers = image["layers"]
    t.true(isinstance(layers, list), f"{what}: layers is not a list")
    t.eq(len(layers), len(expected["layers"]), f"{what}: number of layers")
    diff_ids = ((expected["config"] or {}).get("rootfs") or {}).get("diff_ids")
    archive = expected["_archive"]
    for i, (layer, want_layer) in enumerate(zip(layers, expected["layers"])):
        where = f"{what}: layers[{i}]"
        expect_keys(layer, LAYER_KEYS, where)
        t.eq(layer["index"], i, f"{where}: index")
        t.true(isinstance(layer["id"], str) and layer["id"], f"{where}: id {layer['id']!r}")
        t.eq(layer["member"].removeprefix("./"), want_layer["member"].removeprefix("./"), f"{where}: member")
        real_size = archive.members[want_layer["resolved"]][1]
        if "digest" in want_layer:  # OCI: the manifest says
            t.eq(layer["digest"], want_layer["digest"], f"{where}: digest")
            t.eq(layer["media_type"], want_layer["media_type"], f"{where}: media_type")
            t.eq(layer["size"], want_layer["size"], f"{where}: size (manifest)")
            t.eq(layer["size"], real_size, f"{where}: size (the blob in the tar)")
        else:
            if layer["digest"] is not None:
                actual = "sha256:" + hashlib.sha256(archive.read(want_layer["resolved"])).hexdigest()
                t.eq(layer["digest"], actual, f"{where}: digest (sha256 of the member)")
            t.true(layer["media_type"] is None or isinstance(layer["media_type"], str),
                   f"{where}: media_type {layer['media_type']!r}")
            t.true(layer["size"] in (None, real_size), f"{where}: size {layer['size']!r}, member has {real_size}")
        if diff_ids:
            t.eq(layer["diff_id"], diff_ids[i], f"{where}: diff_id (the config's rootfs.diff_ids)")
        elif layer["diff_id"] is not None:
            t.true(fs.DIGEST.match(layer["diff_id"]), f"{where}: diff_id {layer['diff_id']!r}")


def selector(image, images):
    """How to name IMAGE on the command line: [name] [--platform P]."""
    if image["names"]:
        name = image["names"][0]
        args = [name[1:] if name.startswith(":") else name]
    else:
        args = [image["id"][:12]]
    same = [other for other in images if other is not image and
            (set(other["names"]) & set(image["names"]) or other["id"] == image["id"])]
    if same and image["platform"]:
        args += ["--platform", image["platform"]]
    return args


def check_json(t, archive_path):
    """--list --json, then --layers --json and --layers for every saved image."""
    listing = load_json(t, t.run(["-f", archive_path, "--list", "--json"]), "--list --json")
    expect_keys(listing, {"format", "images"}, "--list --json")
    archive = fs.Archive(archive_path)
    try:
        fmt = archive.format()
        allowed = {fmt}
        if archive.has("manifest.json") and archive.has("index.json"):
            allowed = {"docker-archive", "oci-layout"}  # Docker 25+: both are true
        t.true(listing["format"] in allowed, f"--list --json: format {listing['format']!r}, expected one of {allowed}")
        expected = archive.images()
        for image in expected:
            image["_archive"] = archive
        images = listing["images"]
        t.true(isinstance(images, list), "--list --json: images is not a list")
        t.eq(len(images), len(expected), "--list --json: number of images")
        for image in images:
            expect_keys(image, IMAGE_KEYS, "--list --json image")
        pool = list(expected)
        for n, image in enumerate(images):
            key = ("manifest_digest", image.get("manifest_digest")) if image.get("manifest_digest") else \
                  ("config_digest", image.get("config_digest"))
            match = [e for e in pool if e[key[0]] == key[1]]
            if not match:
                raise Failure(f"--list --json images[{n}]: no image of the archive has {key[0]} {key[1]}")
            pool.remove(match[0])
            check_image_json(t, image, match[0], f"--list --json images[{n}]")
        plain = t.run(["-f", archive_path, "--list"])
        t.expect_rc(plain, 0)
        lines = plain.out_lines
        t.eq(len(lines), len(images), f"--list: number of lines ({lines})")
        for line in lines:
            t.true(re.match(r"^\S+: \S+( \S+)*$", line), f"--list: line {line!r} is not 'NAME: TAG TAG ...'")
        for image in images:
            if not image["saved"]:
                continue
            args = selector(image, images)
            one = load_json(t, t.run(["-f", archive_path, "--layers", "--json", *args]), f"--layers --json {args}")
            expect_keys(one, IMAGE_KEYS, f"--layers --json {args}")
            t.eq(one, image, f"--layers --json {args} (the --list --json entry)")
            ids = t.run(["-f", archive_path, "--layers", *args])
            t.expect_rc(ids, 0)
            t.eq(ids.out_lines, [layer["id"] for layer in image["layers"]], f"--layers {args}")
    finally:
        archive.close()
    return listing


# ----------------------------------------------------- 1: the real archives

DOCKER_FIXTURES = ("dive-test-docker-image.tar", "ggcr-hello-world-v25.tar", "ggcr-test_bundle.tar")
OCI_FIXTURES = ("dive-test-oci-uncompressed-image.tar", "dive-test-oci-gzip-image.tar",
                "dive-test-oci-zstd-image.tar", "dive-test-oci-estargz-image.tar")
ALL_FIXTURES = ("dive-test-docker-image.tar",) + OCI_FIXTURES + DOCKER_FIXTURES[1:]


def fixture_list_check(name):
    @suite.check(f"fixture {name}: --list exit 0, one line an image")
    def _(t):
        path = need_fixture(name)
        result = t.run(["-f", path, "--list"])
        t.expect_rc(result, 0)
        t.true(result.out_lines, "--list printed nothing")
        for line in result.out_lines:
            t.true(re.match(r"^\S+: \S+( \S+)*$", line), f"line {line!r} is not 'NAME: TAG TAG ...'")
        t.eq(result.errors, [], "ERROR lines")


def fixture_json_check(name):
    @suite.check(f"fixture {name}: --list --json and --layers --json")
    def _(t):
        check_json(t, need_fixture(name))


for _name in ALL_FIXTURES:
    fixture_list_check(_name)


@suite.check("fixture dive-test-docker-image.tar: default, 'dive-test', 'dive-test:latest' equal umoci")
def _(t):
    path = need_fixture("dive-test-docker-image.tar")
    reference = tool(fs.umoci_tree, f"docker-archive:{path}", t.scratch, "umoci")
    ignore = root_ignore_for(path)
    for args in ((), ("dive-test",), ("dive-test:latest",)):
        extract_equal(t, path, reference, *args, root_ignore=ignore)


def oci_fixture_check(name):
    @suite.check(f"fixture {name} (arm64 only): default, no --platform, equals umoci")
    def _(t):
        path = need_fixture(name)
        reference = tool(fs.umoci_tree_from_oci_tar, path, t.scratch, "umoci")
        out = extract_equal(t, path, reference, root_ignore=root_ignore_for(path))
        for meta in ("stargz.index.json", ".prefetch.landmark", ".no.prefetch.landmark"):
            t.absent(meta, root=out)


for _name in ("dive-test-oci-uncompressed-image.tar", "dive-test-oci-gzip-image.tar",
              "dive-test-oci-estargz-image.tar"):
    oci_fixture_check(_name)


@suite.check("fixture dive-test-oci-zstd-image.tar (arm64 only): equals umoci's tree of the same diffID (uncompressed)")
def _(t):
    path = need_fixture("dive-test-oci-zstd-image.tar")
    plain = need_fixture("dive-test-oci-uncompressed-image.tar")
    archives = [fs.Archive(p) for p in (path, plain)]
    try:
        diff_ids = [a.images()[0]["config"]["rootfs"]["diff_ids"] for a in archives]
    finally:
        for a in archives:
            a.close()
    t.eq(diff_ids[0], diff_ids[1], "diffIDs of the zstd and the uncompressed fixture (else no common reference)")
    reference = tool(fs.umoci_tree_from_oci_tar, plain, t.scratch, "umoci")
    extract_equal(t, path, reference, root_ignore=root_ignore_for(plain))


@suite.check("fixture ggcr-hello-world-v25.tar (manifests: null, RepoTags: null): default and id prefix equal umoci")
def _(t):
    path = need_fixture("ggcr-hello-world-v25.tar")
    archive = fs.Archive(path)
    try:
        config_hex = os.path.basename(archive.json("manifest.json")[0]["Config"]).split(":")[-1]
        index = archive.json("index.json")
    finally:
        archive.close()
    t.eq(index.get("manifests", "absent"), None, "index.json manifests (the fixture's point)")
    listing = load_json(t, t.run(["-f", path, "--list", "--json"]), "--list --json")
    t.eq([image["config_digest"] for image in listing["images"]], ["sha256:" + config_hex], "config digest in --list --json")
    reference = tool(fs.umoci_tree, f"docker-archive:{path}", t.scratch, "umoci")
    ignore = root_ignore_for(path)
    for args in ((), (config_hex[:12],), (config_hex,)):
        extract_equal(t, path, reference, *args, root_ignore=ignore)


@suite.check("fixture ggcr-test_bundle.tar: no name is exit 4; each image by name equals umoci")
def _(t):
    path = need_fixture("ggcr-test_bundle.tar")
    result = t.run(["-f", path, "-o", t.path("none")])
    t.expect_rc(result, 4)
    archive = fs.Archive(path)
    try:
        entries = archive.json("manifest.json")
    finally:
        archive.close()
    for position, entry in enumerate(entries):
        tag = entry["RepoTags"][0]
        # skopeo cannot find a RepoTags entry without a tag: it is chosen by position.
        reference = tool(fs.umoci_tree, f"docker-archive:{path}:@{position}", t.scratch, f"umoci-{position}")
        ignore = root_ignore_for(path, lambda images, c=entry["Config"]: next(
            i for i in images if i["config_digest"].endswith(c.removesuffix(".json"))))
        for args in ((tag,), (tag + ":latest",)):
            extract_equal(t, path, reference, *args, root_ignore=ignore)


for _name in ALL_FIXTURES:
    fixture_json_check(_name)


# ------------------------------------------------- 2: the generated image

GEN = {}
GEN_DIR = None


def generated():
    """Build once: the umoci image, its skopeo forms, the two-platform layouts, umoci's tree."""
    global GEN_DIR
    if "error" in GEN:
        raise Failure("the generated image could not be built (see the first generated check)")
    if GEN:
        return GEN
    GEN_DIR = tempfile.mkdtemp(prefix="undocker-e2e-formats-generated-", dir=suite.base)
    print(f"     generated archives in {GEN_DIR} (kept when a check fails)")
    try:
        layout = fs.build_umoci_image(GEN_DIR)
        variants = fs.write_variants(layout, GEN_DIR)
        gzip_dir = variants.pop("_layout_gzip_dir")
        two, info = fs.make_two_platform(gzip_dir, GEN_DIR, "two-platform")
        missing, missing_info = fs.make_two_platform(gzip_dir, GEN_DIR, "two-platform-no-arm64",
                                                     drop_arm64_manifest=True)
        reference = fs.umoci_unpack(layout, "base", os.path.join(GEN_DIR, "umoci-bundle"))
    except Exception as error:
        GEN["error"] = error
        raise Failure(f"building the image with umoci and skopeo failed: {error}") from None
    GEN.update(layout=layout, variants=variants, two=two, two_info=info, missing=missing,
               missing_info=missing_info, reference=reference)
    return GEN


def _cleanup_generated():
    if GEN_DIR and os.path.isdir(GEN_DIR) and not KEEP_GENERATED:
        _rmtree(GEN_DIR)


KEEP_GENERATED = False
atexit.register(_cleanup_generated)


@suite.check("generated: umoci's layers hold the whiteouts, opaque marker, links the checks rely on")
def _(t):
    gen = generated()
    layers = fs.layer_members(gen["layout"], "base")
    t.eq(len(layers), 4, "number of layers")
    names = [set(n.removeprefix("./") for n in members) for _, members in layers]
    for index, name in ((0, "usr/bin/tool-hardlink"), (0, "usr/passwd-rel-link"), (0, "dev/null"),
                        (1, ".wh.gone-file"), (1, "remade/.wh.old-1"), (1, "remade/.wh.sub"), (1, "etc/passwd-"),
                        (1, "run-fifo"), (2, "conf/.wh..wh..opq"), (2, "conf/only.conf"), (3, ".wh.gone-dir"),
                        (3, "etc/.wh.shadow"), (3, "dir-then-symlink")):
        t.true(name in names[index], f"layer {index + 1} has no entry {name} (has {sorted(names[index])})")


@suite.check("generated: umoci's tree shows every rule (the reference is meaningful)")
def _(t):
    ref = generated()["reference"]
    for gone in ("gone-file", "gone-dir", "etc/shadow", "remade/old-1", "remade/sub", "conf/a.conf", "conf/sub"):
        t.absent(gone, root=ref)
    t.eq(sorted(os.listdir(os.path.join(ref, "conf"))), ["only.conf"], "/conf after the opaque layer")
    t.eq(sorted(os.listdir(os.path.join(ref, "remade"))), ["new"], "/remade after emptying and recreating it")
    t.entry("dir-then-symlink", type="symlink", target="etc", root=ref)
    t.entry("file-then-dir", type="dir", mode=0o750, root=ref)
    t.entry("usr/bin/tool", type="file", mode=0o755, content="#!/bin/sh\necho tool v2\n", root=ref)
    t.same_inode("usr/bin/tool", "usr/bin/tool-hardlink", root=ref)
    t.same_inode("etc/passwd", "etc/passwd-", root=ref)
    t.entry("dev/null", type="char", rdev=(1, 3), root=ref)
    t.entry("run-fifo", type="fifo", root=ref)
    t.entry("home/user", type="dir", mode=0o750, uid=1000, gid=100, root=ref)
    t.entry("usr/bin/setgid", mode=0o2755, gid=5, root=ref)
    t.entry("tmp", mode=0o1777, root=ref)
    t.entry(fs.KEEP_FILE, content=fs.KEEP_DATA, root=ref)


VARIANT_NAMES = {"docker-archive": "img:latest", "oci-archive": "img:latest", "oci-layout-uncompressed": "img",
                 "oci-layout-gzip": "img", "oci-layout-zstd": "img"}


def variant_check(variant):
    @suite.check(f"generated {variant}: default and by name equal umoci")
    def _(t):
        gen = generated()
        archive = gen["variants"][variant]
        extract_equal(t, archive, gen["reference"])
        extract_equal(t, archive, gen["reference"], VARIANT_NAMES[variant])


for _variant in VARIANT_NAMES:
    variant_check(_variant)


@suite.check("generated two-platform nested index: default (amd64), --platform linux/amd64 and linux/arm64 equal umoci")
def _(t):
    gen = generated()
    extract_equal(t, gen["two"], gen["reference"])
    extract_equal(t, gen["two"], gen["reference"], "--platform", "linux/amd64")
    extract_equal(t, gen["two"], gen["reference"], "--platform", "linux/arm64")
    extract_equal(t, gen["two"], gen["reference"], "multi", "--platform", "linux/arm64")
    info = gen["two_info"]
    for args, platform, config in (([], "linux/amd64", info["amd64_config"]),
                                   (["--platform", "linux/amd64"], "linux/amd64", info["amd64_config"]),
                                   (["--platform", "linux/arm64"], "linux/arm64", info["arm64_config"])):
        one = load_json(t, t.run(["-f", gen["two"], "--layers", "--json", *args]), f"--layers --json {args}")
        t.eq((one.get("platform"), one.get("config_digest")), (platform, config), f"--layers --json {args}: chosen image")


@suite.check("generated: the trees of all forms are identical to each other")
def _(t):
    gen = generated()
    runs = [(name, path, []) for name, path in gen["variants"].items()]
    runs += [("two-platform", gen["two"], []), ("two-platform-arm64", gen["two"], ["--platform", "linux/arm64"]),
             ("two-platform-no-arm64", gen["missing"], [])]
    first = None
    for name, path, args in runs:
        out = t.path("tree-" + name)
        t.extract(path, *args, out=out)
        if first is None:
            first = out
        else:
            t.trees_equal(first, out)


# ----------------------------------------------------------- 3: failures

def corrupt_check(variant, what, locate, expect_diff):
    @suite.check(f"generated {variant}: {what}: exit 5 naming the blob; --no-verify extracts")
    def _(t):
        gen = generated()
        source = gen["variants"][variant]
        archive = fs.Archive(source)
        try:
            image = archive.images()[0]
            offset, blob_name, names = locate(archive, image)
        finally:
            archive.close()
        bad = fs.flip_byte(source, t.path("corrupt.tar"), offset)
        result = t.run(["-f", bad, "-o", t.path("out-verify")])
        t.expect_rc(result, 5)
        error = result.errors[0]
        t.true(any(n in error for n in names), f"the ERROR line names none of {names}: {error!r}")
        out = t.path("out-no-verify")
        t.extract(bad, "--no-verify", out=out)
        from treecmp import compare_trees
        problems = compare_trees(gen["reference"], out)
        t.eq([p.split(":")[0:2] for p in problems], [[d, " hash"] for d in expect_diff],
             f"differences from umoci's tree after --no-verify ({problems})")


def _content_byte(archive, image):
    """A byte inside keep/data.bin's data in the first (uncompressed) layer."""
    layer = image["layers"][0]
    data = archive.read(layer["resolved"])
    inner, size = fs.file_offset_in_layer(data, fs.KEEP_FILE)
    outer = archive.members[layer["resolved"]][0]
    names = [layer["member"], layer["resolved"]]
    return outer + inner + size // 2, layer["resolved"], names


def _gzip_header_byte(archive, image):
    """Byte 4 of the first layer's gzip header (MTIME): the digest changes, the content does not."""
    layer = image["layers"][0]
    data = archive.read(layer["resolved"])
    if data[:2] != b"\x1f\x8b":
        raise Failure(f"{layer['resolved']} is not gzip")
    return archive.members[layer["resolved"]][0] + 4, layer["resolved"], [layer["resolved"]]


corrupt_check("oci-layout-uncompressed", "a flipped byte in a file of an uncompressed layer blob", _content_byte,
              ["/" + fs.KEEP_FILE])
corrupt_check("oci-archive", "a flipped byte in a gzip layer blob's header", _gzip_header_byte, [])
corrupt_check("docker-archive", "a flipped byte in a file of a layer (diffID mismatch)", _content_byte,
              ["/" + fs.KEEP_FILE])


@suite.check("generated two-platform index without the arm64 manifest blob: arm64 exit 4 naming it, default extracts")
def _(t):
    gen = generated()
    result = t.run(["-f", gen["missing"], "-o", t.path("out-arm64"), "--platform", "linux/arm64"])
    t.expect_rc(result, 4)
    t.expect_one_error(result, contains="linux/arm64")
    extract_equal(t, gen["missing"], gen["reference"])
    listing = load_json(t, t.run(["-f", gen["missing"], "--list", "--json"]), "--list --json")
    saved = sorted((image["platform"], image["saved"]) for image in listing["images"])
    t.eq(saved, [("linux/amd64", True), ("linux/arm64", False)], "--list --json: platforms and saved")


# ------------------------------------------------------------ 4: generated JSON

def generated_json_check(label, key):
    @suite.check(f"generated {label}: --list --json and --layers --json")
    def _(t):
        gen = generated()
        path = gen["variants"][key] if key in gen["variants"] else gen[key]
        check_json(t, path)


for _variant in VARIANT_NAMES:
    generated_json_check(_variant, _variant)
generated_json_check("two-platform", "two")
generated_json_check("two-platform without the arm64 manifest", "missing")


if __name__ == "__main__":
    rc = suite.main(setup)
    KEEP_GENERATED = rc == 1 or bool(os.environ.get("E2E_KEEP"))
    sys.exit(rc)
