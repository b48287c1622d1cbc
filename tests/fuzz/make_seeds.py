#!/usr/bin/env python3
"""Writes the seed corpus of each harness into tests/fuzz/corpus/HARNESS/.

usage: make_seeds.py [CORPUS_DIR]      (default: corpus/ next to this script)

Every seed is generated here, byte-exact (the hostile suite's tar writer),
and small (a few KB): each covers a feature a fuzzer should start from —
pax 'x' and 'g' headers, GNU long names, the three sparse encodings, links,
whiteouts, gzip and zstd layers for the tar harnesses; docker-archive,
OCI layout, legacy v1, multi-platform indexes for the image loader. Run it
again after changing a format reader; keep the output committed.
"""
import gzip
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "hostile"))
from run_hostile import (Tar, base256, docker_archive, oci_archive, pad, pax_record, sha256_hex,  # noqa: E402
                         tar_header, v1_archive)


def pax(records):
    return b"".join(pax_record(k, v) for k, v in records)


def layer_seeds():
    seeds = {}
    seeds["plain"] = (Tar().dir("etc").file("etc/hostname", "seed\n").file("bin/sh", "#!", mode=0o755)
                      .symlink("bin/ash", "sh").hardlink("bin/dash", "bin/sh").fifo("run/fifo").bytes())
    seeds["pax_local"] = (Tar().file("a", "x", pax={"path": "very/long/" + "n" * 120, "mtime": "1600000000.25",
                                                    "uid": "1000", "gid": "1000", "SCHILY.xattr.user.k": "v"})
                          .symlink("l", "t", pax={"linkpath": "target/" + "t" * 110}).bytes())
    seeds["pax_global"] = (Tar().pax(pax([("mtime", "1500000000"), ("uid", "7")]), typeflag=b"g").file("a", "x")
                           .pax(pax([("comment", "git archive"), ("SCHILY.xattr.user.g", "1")]), typeflag=b"g")
                           .file("b", "y").bytes())
    seeds["gnu_long"] = (Tar().raw(tar_header("././@LongLink", b"L", 131)).raw(pad(b"l" * 130 + b"\0"))
                         .raw(tar_header("././@LongLink", b"K", 121)).raw(pad(b"k" * 120 + b"\0"))
                         .raw(tar_header("short", b"2")).bytes())
    seeds["whiteouts"] = (Tar().dir("d").file("d/.wh..wh..opq").file(".wh.gone").file("d/.wh.x")
                          .dir(".wh..wh.plnk").file(".wh..wh.plnk/1.2").bytes())
    seeds["base256"] = (Tar().raw(tar_header("big-uid", uid=0)[:108] + base256(1 << 22, 8) +
                                  tar_header("big-uid", uid=0)[116:]).bytes())
    # pax 1.0 sparse: the map leads the data.
    map_text = pad(b"2\n0\n3\n8192\n2\n")
    seeds["sparse_pax_1_0"] = Tar().entry("GNUSparseFile.0/s", b"0", map_text + b"abcde", pax={
        "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "s",
        "GNU.sparse.realsize": "8194"}).bytes()
    seeds["sparse_pax_0_1"] = Tar().entry("s01", b"0", b"abcde", pax={
        "GNU.sparse.map": "0,3,8192,2", "GNU.sparse.realsize": "8194", "GNU.sparse.name": "s01"}).bytes()
    body = pax([("GNU.sparse.size", "8194"), ("GNU.sparse.numblocks", "2"), ("GNU.sparse.offset", "0"),
                ("GNU.sparse.numbytes", "3"), ("GNU.sparse.offset", "8192"), ("GNU.sparse.numbytes", "2")])
    seeds["sparse_pax_0_0"] = Tar().pax(body).raw(tar_header("s00", size=5)).raw(pad(b"abcde")).bytes()
    # Old GNU 'S': two segments in the header's sparse area.
    header = bytearray(tar_header("old-sparse", b"S", 5))
    header[257:265] = b"ustar  \0"
    area = 386
    for i, (offset, length) in enumerate(((0, 3), (8192, 2))):
        header[area + 24 * i: area + 24 * i + 12] = b"%011o\0" % offset
        header[area + 24 * i + 12: area + 24 * i + 24] = b"%011o\0" % length
    header[483:495] = b"%011o\0" % 8194
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    seeds["sparse_gnu_old"] = Tar().raw(bytes(header)).raw(pad(b"abcde")).bytes()
    seeds["devices"] = (Tar().raw(tar_header("dev/null", b"3", devmajor=1, devminor=3))
                        .raw(tar_header("dev/sda", b"4", devmajor=8, devminor=0)).bytes())
    seeds["truncated"] = Tar().file("a", "x" * 2000).bytes()[:1500]
    return seeds


def compressed(seeds):
    out = {}
    for name in ("plain", "pax_global", "whiteouts"):
        out[name + ".gz"] = gzip.compress(seeds[name], mtime=0)
        if shutil.which("zstd"):
            out[name + ".zst"] = subprocess.run(["zstd", "-q", "-c", "-3"], input=seeds[name], capture_output=True,
                                                check=True).stdout
    return out


def image_seeds(layers):
    small = [layers["plain"], layers["whiteouts"]]
    seeds = {}
    seeds["docker_archive"], _ = docker_archive(small, tags=("seed:latest", "seed:v1"))
    seeds["docker_archive_gzip"], _ = docker_archive([gzip.compress(layers["plain"], mtime=0)],
                                                     diff_ids=["sha256:" + sha256_hex(layers["plain"])])
    seeds["oci_archive"], _ = oci_archive(small)

    def two_platforms(index):
        first = index["manifests"][0]
        first["platform"] = {"os": "linux", "architecture": "amd64"}
        second = dict(first, platform={"os": "linux", "architecture": "arm64", "variant": "v8"})
        index["manifests"].append(second)
    seeds["oci_multi_platform"], _ = oci_archive(small[:1], index_hook=two_platforms)
    seeds["v1"] = v1_archive([("a" * 64, None, layers["plain"]), ("b" * 64, "a" * 64, layers["whiteouts"])],
                             {"seed": {"latest": "b" * 64}})
    return seeds


def write(directory, seeds):
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for name, data in seeds.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)


def main(argv):
    corpus = argv[1] if len(argv) > 1 else os.path.join(HERE, "corpus")
    layers = layer_seeds()
    all_layers = dict(layers, **compressed(layers))
    write(os.path.join(corpus, "fuzz_tar_reader"), layers)
    write(os.path.join(corpus, "fuzz_extract"), all_layers)
    write(os.path.join(corpus, "fuzz_image_load"), image_seeds(layers))
    for harness in sorted(os.listdir(corpus)):
        files = os.listdir(os.path.join(corpus, harness))
        size = sum(os.path.getsize(os.path.join(corpus, harness, f)) for f in files)
        print(f"{harness}: {len(files)} seeds, {size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
