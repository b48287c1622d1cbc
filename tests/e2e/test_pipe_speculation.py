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
from common import (FIXTURES, Image, Layer, Skip, Suite, as_bytes, docker_archive, docker25_archive,  # noqa: E402
                    fixture, layers_docker_archive, legacy_archive, _rmtree)

suite = Suite("pipe_speculation")


def pipe_equals_file(t, archive, images=()):
    """The -f tree, then the pipe's with speculation on and off: all equal; for
    each IMAGE in turn (none: the archive's only image). Equal trees go at once."""
    for extra in [[image] for image in images] or [[]]:
        reference = t.path("ref")
        t.extract(archive, *extra, out=reference)
        for speculate in ("1", "0"):
            out = t.path(f"pipe{speculate}")
            result = t.run(["-o", out, *extra], pipe_from=archive, env={"UNDOCKER_SPECULATE": speculate})
            t.expect_rc(result, 0)
            # The root's mtime is the run's own where no layer describes it.
            t.trees_equal(reference, out, root_ignore=("mtime",))
            t.tmp_empty()
        for name in ("ref", "pipe1", "pipe0"):
            _rmtree(t.path(name))


def stacked_layers():
    """Three layers whose order matters: replaced files, a whiteout, an opaque directory, a hardlink."""
    return [Layer().dir("etc").file("etc/a", "a" * 5000).file("etc/gone", "x").dir("opt").file("opt/old", "o")
            .hardlink("etc/h", "etc/a"),
            Layer().dir("etc").file("etc/a", "second").whiteout("etc/gone").opaque("opt").file("opt/new", "n"),
            Layer().file("top", "t" * 70000).symlink("link", "etc/a")]


def two_images(path):
    layers = stacked_layers()
    docker_archive([Image(layers[:1], tags=["one:latest"]), Image(layers, tags=["two:latest"])], path)


# (check, the fixtures it reads, the IMAGEs it selects in turn): skipped when
# none of its fixtures is in the shared folder.
FIXTURE_CHECKS = [
    ("fixtures: every real archive, pipe = file",
     ["dive-test-docker-image.tar", "dive-test-oci-gzip-image.tar", "dive-test-oci-uncompressed-image.tar",
      "dive-test-oci-zstd-image.tar", "dive-test-oci-estargz-image.tar", "ggcr-hello-world-v25.tar"], ()),
    ("fixtures: multi-image bundle with IMAGE, pipe = file", ["ggcr-test_bundle.tar"], ("test_image_1", "test_image_2")),
]

# (check, how it writes its archive, the IMAGEs it selects in turn).
GENERATED_CHECKS = [
    ("generated docker-archive, plain layers",
     lambda path: docker_archive(Image(stacked_layers(), tags=["spec:latest"]), path), ()),
    ("generated docker-archive, gzip layers (some)",
     lambda path: layers_docker_archive([as_bytes(layer) for layer in stacked_layers()], path, compress=(0, 2)), ()),
    ("generated multi-image docker-archive, IMAGE picks the second", two_images, ("two:latest", "one:latest")),
    ("generated Docker 25 archive (OCI layout inside a docker-archive)",
     lambda path: docker25_archive(Image(stacked_layers(), tags=["d25:latest"]), path), ()),
    ("generated legacy docker-archive (no manifest.json)", lambda path: legacy_archive(stacked_layers(), path=path), ()),
]

for check_name, names, images in FIXTURE_CHECKS:
    @suite.check(check_name)
    def _(t, names=names, images=images):
        found = [fixture(name) for name in names if fixture(name)]
        if not found:
            raise Skip(f"not in {FIXTURES}: {', '.join(names)}")
        for archive in found:
            pipe_equals_file(t, archive, images)

for check_name, write_archive, images in GENERATED_CHECKS:
    @suite.check(check_name)
    def _(t, write_archive=write_archive, images=images):
        archive = t.path("a.tar")
        write_archive(archive)
        pipe_equals_file(t, archive, images)


if __name__ == "__main__":
    sys.exit(suite.main())
