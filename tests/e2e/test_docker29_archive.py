#!/usr/bin/env python3
"""The bench corpus's Docker 29-shaped archive (issue 14 item 1): what
bench/docker29-archive.py writes has the member order and structure of
`docker save` with Docker 29's containerd image store, and undocker reads it
from a file and from a pipe to umoci's tree.

The archive is made by the bench's own script from the cached Debian test
image's oci-archive (debian_image.py; gzip layers by skopeo), so this suite
checks what `bench/make-corpus` puts in the corpus. The order is compared
with the real Docker 25 save in the shared fixtures (ggcr-hello-world-v25.tar)
when it is there: containerd's exporter sorts every member by name, so the
blobs come first and index.json, manifest.json and oci-layout last.

usage: test_docker29_archive.py UNDOCKER
Time on 2 cores: about 15 s with the Debian image cached, 70–110 s when the machine is busy.
"""
import gzip
import json
import os
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Suite, Failure, fixture, main_sharing_work, run_undocker  # noqa: E402
import debian_image  # noqa: E402
from debian_image import image  # noqa: E402

suite = Suite("docker29")
SCRIPT = os.path.join(common.ROOT, "bench", "docker29-archive.py")
NAME = "debian:bench"
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class State:
    archive = None      # the Docker 29-shaped archive
    work = None         # its directory
    reference = None    # umoci's rootfs of the same image
    tree = None         # undocker -f ARCHIVE


def setup():
    State.work, skip = debian_image.suite_work(suite)
    return skip


def archive(t):
    if State.archive is None:
        path = os.path.join(State.work, "docker29.tar")
        proc = subprocess.run([sys.executable, SCRIPT, image()["oci_archive"], path, NAME],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise Failure(f"docker29-archive.py failed, exit {proc.returncode}: {proc.stderr[-2000:]}")
        State.archive = path
    return State.archive


def blob(tar, digest):
    return tar.extractfile("blobs/sha256/" + digest.partition(":")[2]).read()


@suite.check("member_order_is_docker29s (blobs first, then index.json, manifest.json, oci-layout; as the real save)")
def _(t):
    path = archive(t)
    with tarfile.open(path, "r:") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    t.eq(names, sorted(names), "member order (containerd sorts by name)")
    t.eq(names[:2], ["blobs", "blobs/sha256"], "the first members (tarfile drops the trailing /)")
    t.eq(names[-3:], ["index.json", "manifest.json", "oci-layout"], "the last members")
    t.true(all(n.startswith("blobs/sha256/") for n in names[2:-3]), f"only blobs between: {names}")
    for m in members:
        mode = 0o755 if m.isdir() else 0o644 if m.name in ("index.json", "manifest.json") else 0o444
        t.eq((m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode), (0, 0, 0, "", "", mode), f"{m.name}: header")
    real = fixture("ggcr-hello-world-v25.tar")
    if real:
        with tarfile.open(real, "r:") as tar:
            real_names = [m.name for m in tar.getmembers()]
        kinds = ["blob" if n.startswith("blobs") else n for n in real_names]
        ours = ["blob" if n.startswith("blobs") else n for n in names]
        collapse = lambda seq: [k for i, k in enumerate(seq) if i == 0 or seq[i - 1] != k]  # noqa: E731
        t.eq(collapse(ours), collapse(kinds), "order of blobs and top-level files, against the real save")
    else:
        print("     (the real Docker 25 save is not in the shared fixtures: order checked against the rule only)")


@suite.check("structure_is_docker29s (index.json -> image index -> platform + attestation manifest; manifest.json)")
def _(t):
    with tarfile.open(archive(t), "r:") as tar:
        top = json.load(tar.extractfile("index.json"))
        t.eq(len(top["manifests"]), 1, "index.json entries")
        entry = top["manifests"][0]
        t.eq(entry["mediaType"], INDEX, "index.json's entry is an image index")
        t.eq(entry["annotations"], {"io.containerd.image.name": "docker.io/library/debian:bench",
                                    "org.opencontainers.image.ref.name": "bench"}, "its annotations")
        nested = json.loads(blob(tar, entry["digest"]))
        t.eq([m["platform"] for m in nested["manifests"]],
             [{"architecture": "amd64", "os": "linux"}, {"architecture": "unknown", "os": "unknown"}],
             "the nested index's platforms")
        platform, attest = nested["manifests"]
        t.eq(attest["annotations"], {"vnd.docker.reference.digest": platform["digest"],
                                     "vnd.docker.reference.type": "attestation-manifest"}, "attestation annotations")
        statement = json.loads(blob(tar, json.loads(blob(tar, attest["digest"]))["layers"][0]["digest"]))
        t.eq(statement["subject"][0]["digest"]["sha256"], platform["digest"].partition(":")[2],
             "the attestation's subject")
        manifest = json.loads(blob(tar, platform["digest"]))
        docker = json.load(tar.extractfile("manifest.json"))
        t.eq(docker, [{"Config": "blobs/sha256/" + manifest["config"]["digest"].partition(":")[2],
                       "RepoTags": [NAME],
                       "Layers": ["blobs/sha256/" + layer["digest"].partition(":")[2]
                                  for layer in manifest["layers"]]}], "manifest.json")
        config = json.loads(blob(tar, manifest["config"]["digest"]))
        for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
            data = blob(tar, layer["digest"])
            t.eq(data[:2], b"\x1f\x8b", f"{layer['digest']}: gzip magic")
            t.eq("sha256:" + common.sha256_hex(gzip.decompress(data)), diff_id, f"{layer['digest']}: diffID")


@suite.check("list_and_select_by_name (--list; IMAGE debian:bench with Docker's defaults)")
def _(t):
    result = t.run(["-f", archive(t), "--list"])
    t.expect_rc(result, 0)
    t.eq(result.stdout, "docker.io/library/debian: bench\n", "--list")
    result = t.run(["-f", archive(t), "--layers", NAME])
    t.expect_rc(result, 0)
    t.eq(len(result.out_lines), 4, f"--layers {NAME} (the attestation's in-toto layer is no image layer)")


@suite.check("file_equals_umoci_unpack (undocker -f docker29.tar -o DIR, every field)")
def _(t):
    img = image()
    bundle = os.path.join(State.work, "umoci-bundle")
    proc = subprocess.run(["umoci", "unpack", "--image", f"{img['layout']}:{img['tag']}", bundle],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"umoci unpack failed: {proc.stderr[-2000:]}")
    State.reference = os.path.join(bundle, "rootfs")
    State.tree = os.path.join(State.work, "out-file")
    result = run_undocker(["-f", archive(t), "-o", State.tree], State.work, timeout=900)
    t.expect_rc(result, 0)
    t.tmp_empty(os.path.join(State.work, "tmp"))
    t.trees_equal(State.reference, State.tree)


@suite.check("pipe_equals_file (cat docker29.tar | undocker -o DIR, the blobs before the manifests)")
def _(t):
    if State.tree is None:
        raise Failure("no tree from the file (see file_equals_umoci_unpack)")
    out = os.path.join(State.work, "out-pipe")
    result = run_undocker(["-o", out], State.work, pipe_from=archive(t), timeout=900)
    t.expect_rc(result, 0)
    t.tmp_empty(os.path.join(State.work, "tmp"))
    t.trees_equal(State.tree, out)


if __name__ == "__main__":
    sys.exit(main_sharing_work(suite, setup, lambda: State.work, kept="archive and trees"))
