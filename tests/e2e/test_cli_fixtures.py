#!/usr/bin/env python3
"""The original undocker's command-line behaviour, on the real archives in
../shared/fixtures/real (dive-test-docker-image.tar, ggcr-test_bundle.tar),
plus the CLI contract on small generated archives (list format, untagged
images, usage errors, exit statuses).

usage: test_cli_fixtures.py UNDOCKER
Every expected value about a fixture is derived from its manifest.json here,
and every expected tree from reference_apply() (the OCI rules in Python).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Suite, Skip, Failure, Image, Layer, docker_archive, docker25_archive, legacy_archive,  # noqa: E402
                    fixture, sha256_hex, read_manifest, reference_apply, has_root_entry, compare_trees)

suite = Suite("cli")
DIVE = "dive-test-docker-image.tar"
BUNDLE = "ggcr-test_bundle.tar"


def need(name):
    path = fixture(name)
    if path is None:
        raise Skip(f"fixture {name} is absent")
    return path


def root_ignore(layers):
    # No layer describes the root: its mtime is the extraction time in DIR
    # and whatever reference_apply's mkdir gave it; nothing to compare.
    return () if has_root_entry(layers) else ("mtime",)


def extraction_lines(result):
    return [line for line in result.err_lines if line.startswith("INFO:undocker:extracting")]


def no_errors(t, result):
    bad = [line for line in result.err_lines if line.startswith(("ERROR:", "WARNING:"))]
    t.eq(bad, [], "ERROR/WARNING lines on stderr")


def dir_empty_or_absent(t, path):
    if os.path.exists(path):
        t.eq(os.listdir(path), [], f"{path} after a failure")


# ------------------------------------------------------------ dive-test

@suite.check("dive: --list prints exactly 'dive-test: latest'")
def _(t):
    r = t.run(["-f", need(DIVE), "--list"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, "dive-test: latest\n", "stdout")


@suite.check("dive: --ls is --list")
def _(t):
    r = t.run(["-f", need(DIVE), "--ls"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, "dive-test: latest\n", "stdout")


@suite.check("dive: --layers prints the 14 layer ids bottom first")
def _(t):
    path = need(DIVE)
    expected = read_manifest(path)[0]["layer_ids"]
    t.eq(len(expected), 14, "layers in the fixture's manifest.json")
    r = t.run(["-f", path, "--layers"])
    t.expect_rc(r, 0)
    t.eq(r.out_lines, expected, "--layers")
    r = t.run(["-f", path, "--layers", "dive-test:latest"])
    t.expect_rc(r, 0)
    t.eq(r.out_lines, expected, "--layers dive-test:latest")


@suite.check("dive: -v logs the image and each layer in order; tree equals the OCI rules")
def _(t):
    path = need(DIVE)
    entry = read_manifest(path)[0]
    t.true(entry["config_hex"].startswith("75ae28b8ebf8"), f"config of the fixture: {entry['config_hex']}")
    r = t.extract(path, "-v")
    expected = [f"INFO:undocker:extracting image dive-test ({entry['config_hex']})"]
    expected += [f"INFO:undocker:extracting layer {layer_id}" for layer_id in entry["layer_ids"]]
    t.eq(extraction_lines(r), expected, "-v lines")
    no_errors(t, r)
    layers = entry["layer_bytes"]()
    reference_apply(layers, t.path("reference"))
    t.trees_equal(t.path("reference"), t.out, root_ignore=root_ignore(layers))


@suite.check("dive: extraction by name, name:tag, and with no IMAGE give the same tree")
def _(t):
    path = need(DIVE)
    t.extract(path, out=t.path("none"))
    for image in ("dive-test", "dive-test:latest"):
        out = t.path(image.replace(":", "_"))
        t.extract(path, image, out=out)
        t.trees_equal(t.path("none"), out, root_ignore=("mtime",))


@suite.check("dive: quiet by default, -q prints nothing on success")
def _(t):
    path = need(DIVE)
    r = t.extract(path, out=t.path("a"))
    t.eq([line for line in r.err_lines if line.startswith("INFO:")], [], "INFO lines without -v")
    r = t.extract(path, "-q", out=t.path("b"))
    t.eq(r.stderr, "", "stderr with -q")


@suite.check("dive: -l ID applies only that layer (each of the 14)")
def _(t):
    path = need(DIVE)
    entry = read_manifest(path)[0]
    layers = entry["layer_bytes"]()
    problems = []
    for index, (layer_id, layer) in enumerate(zip(entry["layer_ids"], layers)):
        out, ref = t.path(f"out{index}"), t.path(f"ref{index}")
        r = t.run(["-f", path, "-o", out, "-v", "-l", layer_id])
        if r.rc != 0:
            problems.append(f"-l {layer_id}: exit {r.rc}: {r.stderr.strip()}")
            continue
        lines = [line for line in extraction_lines(r) if "extracting layer" in line]
        if lines != [f"INFO:undocker:extracting layer {layer_id}"]:
            problems.append(f"-l {layer_id}: -v layer lines {lines}")
        reference_apply([layer], ref)
        diff = compare_trees(ref, out, root_ignore=root_ignore([layer]))
        problems += [f"-l {layer_id} (layer {index}): {line}" for line in diff[:10]]
    if problems:
        raise Failure("\n".join(problems))


@suite.check("dive: -l twice applies both layers in image order")
def _(t):
    path = need(DIVE)
    entry = read_manifest(path)[0]
    ids, layers = entry["layer_ids"], entry["layer_bytes"]()
    r = t.extract(path, "-v", "-l", ids[13], "-l", ids[0])  # given top first: applied bottom first
    t.eq([line for line in extraction_lines(r) if "extracting layer" in line],
         [f"INFO:undocker:extracting layer {ids[0]}", f"INFO:undocker:extracting layer {ids[13]}"], "-v layer lines")
    reference_apply([layers[0], layers[13]], t.path("ref"))
    t.trees_equal(t.path("ref"), t.out, root_ignore=root_ignore([layers[0], layers[13]]))


@suite.check("dive: dive-test:nope is 'failed to find image dive-test with tag nope', exit 4")
def _(t):
    r = t.run(["-f", need(DIVE), "-o", t.out, "dive-test:nope"])
    t.expect_rc(r, 4)
    t.eq(r.errors, ["ERROR:undocker:failed to find image dive-test with tag nope"], "error lines")
    dir_empty_or_absent(t, t.out)


@suite.check("dive: an unknown name is 'failed to find image NAME with tag latest', exit 4")
def _(t):
    r = t.run(["-f", need(DIVE), "-o", t.out, "nosuch"])
    t.expect_rc(r, 4)
    t.eq(r.errors, ["ERROR:undocker:failed to find image nosuch with tag latest"], "error lines")
    dir_empty_or_absent(t, t.out)


@suite.check("dive: -l with an unknown layer id is exit 4")
def _(t):
    r = t.run(["-f", need(DIVE), "-o", t.out, "-l", "f" * 64])
    t.expect_rc(r, 4)


# ---------------------------------------------------------- ggcr bundle

@suite.check("bundle: --list prints both images in archive order")
def _(t):
    r = t.run(["-f", need(BUNDLE), "--list"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, "test_image_2: latest\ntest_image_1: latest\n", "stdout")


@suite.check("bundle: no IMAGE is 'No image name specified and multiple images ...', exit 4")
def _(t):
    r = t.run(["-f", need(BUNDLE), "-o", t.out])
    t.expect_rc(r, 4)
    t.eq(r.errors, ["ERROR:undocker:No image name specified and multiple images contained in archive"],
         "error lines")
    dir_empty_or_absent(t, t.out)


@suite.check("bundle: --layers with no IMAGE is the same error, exit 4")
def _(t):
    r = t.run(["-f", need(BUNDLE), "--layers"])
    t.expect_rc(r, 4)
    t.eq(r.errors, ["ERROR:undocker:No image name specified and multiple images contained in archive"],
         "error lines")


@suite.check("bundle: test_image_1 and test_image_2 extract (-v, --layers, tree)")
def _(t):
    path = need(BUNDLE)
    for entry in read_manifest(path):
        name = entry["RepoTags"][0]
        r = t.run(["-f", path, "--layers", name])
        t.expect_rc(r, 0)
        t.eq(r.out_lines, entry["layer_ids"], f"--layers {name}")
        out, ref = t.path("out-" + name), t.path("ref-" + name)
        r = t.extract(path, "-v", name, out=out)
        expected = [f"INFO:undocker:extracting image {name} ({entry['config_hex']})"]
        expected += [f"INFO:undocker:extracting layer {layer_id}" for layer_id in entry["layer_ids"]]
        t.eq(extraction_lines(r), expected, f"-v lines for {name}")
        layers = entry["layer_bytes"]()
        reference_apply(layers, ref)
        t.trees_equal(ref, out, root_ignore=root_ignore(layers))


@suite.check("bundle: test_image_1:nope is exit 4 with the exact message")
def _(t):
    r = t.run(["-f", need(BUNDLE), "-o", t.out, "test_image_1:nope"])
    t.expect_rc(r, 4)
    t.eq(r.errors, ["ERROR:undocker:failed to find image test_image_1 with tag nope"], "error lines")


# ----------------------------------------------- generated: the CLI contract

def small_layer(text="hello"):
    return Layer().dir("etc").file("etc/hello", text)


@suite.check("generated: --list prints several tags of one image in archive order")
def _(t):
    archive = t.path("a.tar")
    docker_archive([Image([small_layer()], tags=["app:2.0", "app:latest", "app:1"]),
                    Image([small_layer("other")], tags=["registry.example:5000/team/tool:v3"])], archive)
    r = t.run(["-f", archive, "--list"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, "app: 2.0 latest 1\nregistry.example:5000/team/tool: v3\n", "stdout")


@suite.check("generated: an untagged image lists as '<64-hex id>: <none>'")
def _(t):
    archive = t.path("a.tar")
    image = Image([small_layer()], tags=None)
    docker_archive(image, archive)
    r = t.run(["-f", archive, "--list"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, f"{image.config_hex}: <none>\n", "stdout")
    t.extract(archive)  # the only image: no IMAGE needed
    t.entry("etc/hello", type="file", content="hello")


@suite.check("generated: the same image under two names is one image")
def _(t):
    archive = t.path("a.tar")
    image = Image([small_layer()], tags=["one:latest", "two:x"])
    docker_archive(image, archive)
    r = t.run(["-f", archive, "--list"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, "one: latest\ntwo: x\n", "stdout")
    t.extract(archive)  # one distinct image: no IMAGE needed
    t.extract(archive, "two:x", out=t.path("two"))


@suite.check("generated: legacy v1 --list, --layers, -v")
def _(t):
    layers = [small_layer(), Layer().dir("etc").file("etc/more", "m")]
    archive = t.path("v1.tar")
    _, ids = legacy_archive(layers, tags=["old:1.0", "old:latest"], path=archive)
    r = t.run(["-f", archive, "--list"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, "old: 1.0 latest\n", "stdout")
    r = t.run(["-f", archive, "--layers"])
    t.expect_rc(r, 0)
    t.eq(r.out_lines, ids, "--layers")
    r = t.extract(archive, "-v", "old:1.0")
    expected = [f"INFO:undocker:extracting image old ({ids[-1]})"]
    expected += [f"INFO:undocker:extracting layer {i}" for i in ids]
    t.eq(extraction_lines(r), expected, "-v lines")


@suite.check("generated Docker 25 layout: --list, --layers print blob hexes, -v the config hex")
def _(t):
    layers = [small_layer(), Layer().dir("etc").file("etc/two", "2")]
    image = Image(layers, tags=["new:25"])
    archive = t.path("d25.tar")
    docker25_archive(image, archive)
    r = t.run(["-f", archive, "--list"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, "new: 25\n", "--list")
    r = t.run(["-f", archive, "--layers"])
    t.expect_rc(r, 0)
    t.eq(r.out_lines, [sha256_hex(layer.bytes()) for layer in layers], "--layers")
    r = t.extract(archive, "-v")
    expected = [f"INFO:undocker:extracting image new ({image.config_hex})"]
    expected += [f"INFO:undocker:extracting layer {sha256_hex(layer.bytes())}" for layer in layers]
    t.eq(extraction_lines(r), expected, "-v lines")
    t.entry("etc/two", content="2")


@suite.check("generated Docker 25 layout saved by id: '<config hex>: <none>'")
def _(t):
    image = Image([small_layer()], tags=None)
    archive = t.path("d25.tar")
    docker25_archive(image, archive)
    r = t.run(["-f", archive, "--list"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, f"{image.config_hex}: <none>\n", "--list")


@suite.check("logging: -d prints DEBUG:undocker: lines, -v none of them")
def _(t):
    archive = t.path("a.tar")
    docker_archive(Image([small_layer()]), archive)
    r = t.extract(archive, "-d", out=t.path("d"))
    t.true(any(line.startswith("DEBUG:undocker:") for line in r.err_lines), f"no DEBUG lines:\n{r.stderr}")
    bad = [line for line in r.err_lines if not line.startswith(("DEBUG:undocker:", "INFO:undocker:"))]
    t.eq(bad, [], "stderr lines not in the LEVEL:undocker: form")
    r = t.extract(archive, "-v", out=t.path("v"))
    t.eq([line for line in r.err_lines if line.startswith("DEBUG:")], [], "DEBUG lines with -v")


@suite.check("generated: -o DIR is created with its parents if missing")
def _(t):
    archive = t.path("a.tar")
    docker_archive(Image([small_layer()]), archive)
    t.extract(archive, out=t.path("deep", "er", "root"))
    t.entry("etc/hello", content="hello", root=t.path("deep", "er", "root"))


@suite.check("generated: default output is the current directory")
def _(t):
    archive = t.path("a.tar")
    docker_archive(Image([small_layer()]), archive)
    os.makedirs(t.out)
    r = t.run(["-f", archive], cwd=t.out)
    t.expect_rc(r, 0)
    t.entry("etc/hello", content="hello")


@suite.check("usage: -h and --version exit 0 on stdout")
def _(t):
    for flag in ("-h", "--help", "--version"):
        r = t.run([flag])
        t.expect_rc(r, 0)
        t.true(r.stdout.strip() != "", f"{flag}: empty stdout")


@suite.check("usage: an unknown option is exit 2 with one ERROR line")
def _(t):
    r = t.run(["--no-such-option"])
    t.expect_rc(r, 2)


@suite.check("usage: a missing option argument is exit 2")
def _(t):
    r = t.run(["-f"])
    t.expect_rc(r, 2)


@suite.check("usage: a bad UNDOCKER_* knob is exit 2 naming it, before anything is read or written")
def _(t):
    archive = t.path("a.tar")
    docker_archive(Image([small_layer()]), archive)
    cases = [
        ("UNDOCKER_THREADS", "-1", "a number of file workers from 0 to 64"),
        ("UNDOCKER_THREADS", "65", "a number of file workers from 0 to 64"),
        ("UNDOCKER_THREADS", "4294967297", "a number of file workers from 0 to 64"),
        ("UNDOCKER_NO_PLAN", "yes", "0 or 1"),
        ("UNDOCKER_PLAN_ALWAYS", "2", "0 or 1"),
        ("UNDOCKER_READ_AHEAD", "off", "0 or 1"),
        ("UNDOCKER_INFLATE", "zlib-ng", "zlib or isal"),
    ]
    for name, value, expected in cases:
        out = t.path("out-" + name)
        r = t.run(["-f", archive, "-o", out], env={name: value})
        t.expect_rc(r, 2)
        t.eq(r.errors, [f"ERROR:undocker:bad value {name}={value}: expected {expected}"], f"{name}={value}: the ERROR line")
        t.true(not os.path.exists(out), f"{name}={value}: DIR was created")
    # The documented values, and an empty one (unset), all extract.
    for name, value in (("UNDOCKER_THREADS", "0"), ("UNDOCKER_THREADS", "3"), ("UNDOCKER_NO_PLAN", "1"),
                        ("UNDOCKER_READ_AHEAD", "0"), ("UNDOCKER_INFLATE", "zlib"),
                        ("UNDOCKER_NO_PLAN", "")):
        out = t.path(f"ok-{name}-{value}")
        t.extract(archive, out=out, env={name: value})
        t.entry("etc/hello", content="hello", root=out)


@suite.check("errors: a missing archive file is exit 1")
def _(t):
    r = t.run(["-f", t.path("does-not-exist.tar"), "--list"])
    t.expect_rc(r, 1)


@suite.check("errors: something that is not an archive is exit 3")
def _(t):
    path = t.write("junk.tar", b"this is not a tar archive at all\n" * 40)
    r = t.run(["-f", path, "--list"])
    t.expect_rc(r, 3)


@suite.check("errors: a manifest naming a missing layer is exit 3 naming it")
def _(t):
    archive = t.path("a.tar")

    def hook(manifest):
        manifest[0]["Layers"].append("0" * 64 + "/layer.tar")
    docker_archive(Image([small_layer()]), archive, manifest_hook=hook)
    r = t.run(["-f", archive, "-o", t.out])
    t.expect_rc(r, 3)
    t.expect_one_error(r, "0" * 64)


@suite.check("errors: a manifest Config naming a missing member is exit 3 naming it")
def _(t):
    archive = t.path("a.tar")
    docker_archive(Image([small_layer()]), archive,
                   manifest_hook=lambda m: [dict(m[0], Config="f" * 64 + ".json")])
    r = t.run(["-f", archive, "-o", t.out])
    t.expect_rc(r, 3)
    t.expect_one_error(r, "f" * 64)


def rewrite_member(data, name, change):
    """The outer archive bytes with member `name`'s content passed through change()."""
    import io
    import tarfile
    src = tarfile.open(fileobj=io.BytesIO(data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as dst:
        for m in src.getmembers():
            payload = src.extractfile(m).read() if m.isfile() else None
            if m.name == name:
                payload = change(payload)
            if payload is not None:
                m.size = len(payload)
                dst.addfile(m, io.BytesIO(payload))
            else:
                dst.addfile(m)
    return out.getvalue()


@suite.check("digests: a layer that does not match the config's diffID is exit 5; --no-verify extracts")
def _(t):
    archive = t.path("a.tar")
    image = Image([small_layer("greetings")])
    data = docker_archive(image)
    # Same size, other content (not in a header): only the digest can tell.
    t.write("a.tar", rewrite_member(data, image.layer_ids[0] + "/layer.tar",
                                    lambda b: b.replace(b"greetings", b"GREETINGS")))
    r = t.run(["-f", archive, "-o", t.out])
    t.expect_rc(r, 5)
    t.expect_one_error(r, image.layer_ids[0])
    t.extract(archive, "--no-verify", out=t.path("noverify"))
    t.entry("etc/hello", content="GREETINGS", root=t.path("noverify"))


@suite.check("digests: a config whose sha256 is not its name is exit 5")
def _(t):
    archive = t.path("a.tar")
    image = Image([small_layer()])
    data = docker_archive(image)
    t.write("a.tar", rewrite_member(data, image.config_hex + ".json", lambda b: b.replace(b"/bin/sh", b"/bin/xx")))
    r = t.run(["-f", archive, "-o", t.out])
    t.expect_rc(r, 5)
    t.expect_one_error(r, image.config_hex)


if __name__ == "__main__":
    sys.exit(suite.main())
