#!/usr/bin/env python3
"""`cat ARCHIVE | undocker -o DIR` applies layers while the archive arrives
(pipeline/speculation.hpp): the tree must be exactly the one `-f ARCHIVE`
gives, whatever the order of the members, with UNDOCKER_SPECULATE=1 and =0
(the default), for the real fixtures and generated docker-archive,
oci-archive (the fixtures: plain, gzip, zstd, eStargz), multi-image (`IMAGE`), Docker 25 and legacy
archives; TMPDIR is empty afterwards.

usage: test_pipe_speculation.py UNDOCKER
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Suite, Image, Layer, docker_archive, docker25_archive, layers_docker_archive,  # noqa: E402
                    legacy_archive, fixture)

suite = Suite("pipe_speculation")


def pipe_equals_file(t, archive, *extra):
    """The -f tree, then the pipe's with speculation on and off: all equal."""
    reference = t.path("ref")
    t.extract(archive, *extra, out=reference)
    for speculate in ("1", "0"):
        out = t.path(f"pipe{speculate}")
        result = t.run(["-o", out, *extra], pipe_from=archive, env={"UNDOCKER_SPECULATE": speculate})
        t.expect_rc(result, 0)
        # The root's mtime is the run's own where no layer describes it.
        t.trees_equal(reference, out, root_ignore=("mtime",))
        t.tmp_empty()


def stacked_layers():
    """Three layers whose order matters: replaced files, a whiteout, an opaque directory, a hardlink."""
    return [Layer().dir("etc").file("etc/a", "a" * 5000).file("etc/gone", "x").dir("opt").file("opt/old", "o")
            .hardlink("etc/h", "etc/a"),
            Layer().dir("etc").file("etc/a", "second").whiteout("etc/gone").opaque("opt").file("opt/new", "n"),
            Layer().file("top", "t" * 70000).symlink("link", "etc/a")]


@suite.check("fixtures: every real archive, pipe = file")
def _(t):
    names = ["dive-test-docker-image.tar", "dive-test-oci-gzip-image.tar", "dive-test-oci-uncompressed-image.tar",
             "dive-test-oci-zstd-image.tar", "dive-test-oci-estargz-image.tar", "ggcr-hello-world-v25.tar"]
    found = [name for name in names if os.path.exists(fixture(name))]
    if not found:
        from common import Skip
        raise Skip("no fixtures in /work/shared/fixtures/real")
    for name in found:
        pipe_equals_file(t, fixture(name))
        for d in ("ref", "pipe1", "pipe0"):
            os.system(f"rm -rf {t.path(d)}")


@suite.check("fixtures: multi-image bundle with IMAGE, pipe = file")
def _(t):
    archive = fixture("ggcr-test_bundle.tar")
    if not os.path.exists(archive):
        from common import Skip
        raise Skip("no ggcr-test_bundle.tar")
    for image in ("test_image_1", "test_image_2"):
        pipe_equals_file(t, archive, image)
        for d in ("ref", "pipe1", "pipe0"):
            os.system(f"rm -rf {t.path(d)}")


@suite.check("generated docker-archive, plain layers")
def _(t):
    archive = t.path("a.tar")
    docker_archive(Image(stacked_layers(), tags=["spec:latest"]), archive)
    pipe_equals_file(t, archive)


@suite.check("generated docker-archive, gzip layers (some)")
def _(t):
    archive = t.path("a.tar")
    from common import as_bytes
    layers_docker_archive([as_bytes(layer) for layer in stacked_layers()], archive, compress=(0, 2))
    pipe_equals_file(t, archive)


@suite.check("generated multi-image docker-archive, IMAGE picks the second")
def _(t):
    archive = t.path("a.tar")
    layers = stacked_layers()
    docker_archive([Image(layers[:1], tags=["one:latest"]), Image(layers, tags=["two:latest"])], archive)
    pipe_equals_file(t, archive, "two:latest")
    for d in ("ref", "pipe1", "pipe0"):
        os.system(f"rm -rf {t.path(d)}")
    pipe_equals_file(t, archive, "one:latest")


@suite.check("generated Docker 25 archive (OCI layout inside a docker-archive)")
def _(t):
    archive = t.path("a.tar")
    docker25_archive(Image(stacked_layers(), tags=["d25:latest"]), archive)
    pipe_equals_file(t, archive)


@suite.check("generated legacy docker-archive (no manifest.json)")
def _(t):
    archive = t.path("a.tar")
    legacy_archive(stacked_layers(), path=archive)
    pipe_equals_file(t, archive)


if __name__ == "__main__":
    sys.exit(suite.main())
