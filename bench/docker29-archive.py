#!/usr/bin/env python3
"""Rewrite a single-image oci-archive as Docker 29 saves an image (issue 14).

usage: docker29-archive.py OCI_ARCHIVE OUT.tar NAME:TAG

Docker 29's default image store is containerd's, and `docker save` is then
containerd's archive exporter (core/images/archive/exporter.go). What it
writes, and what this script writes from the input's blobs:

  blobs/, blobs/sha256/, blobs/sha256/<hex>…   every blob, in name order
  index.json      one entry per name: an *image index* (not a manifest),
                  annotated io.containerd.image.name (docker.io/library/NAME:TAG)
                  and org.opencontainers.image.ref.name (TAG)
  manifest.json   docker-archive style, [{Config, RepoTags, Layers}], naming
                  blobs/sha256/<hex>; RepoTags familiar (NAME:TAG)
  oci-layout

The exporter sorts every record by name before writing, so the blobs (hex
order, layers mixed with configs and manifests) come first and index.json,
manifest.json, oci-layout last — the order Docker 25's save has too (see
ggcr-hello-world-v25.tar in the shared fixtures). Headers as Go's
archive/tar writes them there: ustar, mtime 0, uid/gid 0, no user names,
mode 0444 for blobs and oci-layout, 0644 for index.json and manifest.json,
0755 for the two directories.

The nested index is what BuildKit pushes for `docker build`: the platform
manifest (the input's, unchanged, so its layers stay as they are: gzip from
skopeo's oci-archive) and an attestation manifest (platform unknown/unknown,
vnd.docker.reference.type: attestation-manifest) whose one layer is an
in-toto JSON statement, not a tar. Docker saves it with every platform.

Stdlib only; the input is streamed, never held in memory.
"""
import hashlib
import io
import json
import sys
import tarfile


def compact(value):
    return json.dumps(value, separators=(",", ":")).encode()


def descriptor(media_type, data, **extra):
    return dict({"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
                 "size": len(data)}, **extra)


def blob_name(digest):
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def read_source(tar):
    """The input's manifest bytes, its descriptor, config and layer member names."""
    members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
    index = json.load(tar.extractfile(members["index.json"]))
    entries = index.get("manifests") or []
    if len(entries) != 1 or entries[0].get("mediaType") != "application/vnd.oci.image.manifest.v1+json":
        sys.exit("docker29-archive: the input must be an oci-archive of one image manifest")
    manifest_bytes = tar.extractfile(members[blob_name(entries[0]["digest"])]).read()
    manifest = json.loads(manifest_bytes)
    config_bytes = tar.extractfile(members[blob_name(manifest["config"]["digest"])]).read()
    return members, manifest_bytes, manifest, config_bytes


def attestation(subject_digest, name):
    """A BuildKit-shaped provenance attestation for the platform manifest."""
    statement = compact({
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": f"pkg:docker/{name}", "digest": {"sha256": subject_digest.partition(":")[2]}}],
        "predicate": {"builder": {"id": ""}, "buildType": "https://mobyproject.org/buildkit@v1",
                      "metadata": {"buildkit_completeness": {"environment": True}}},
    })
    config = compact({"architecture": "unknown", "os": "unknown", "config": {},
                      "rootfs": {"type": "layers",
                                 "diff_ids": ["sha256:" + hashlib.sha256(statement).hexdigest()]}})
    manifest = compact({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.in-toto+json", statement,
                              annotations={"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"})],
    })
    return manifest, [config, statement]


def main():
    if len(sys.argv) != 4 or ":" not in sys.argv[3]:
        sys.exit(__doc__.split("\n\n")[1])
    source, out, name = sys.argv[1:]
    tag = name.rpartition(":")[2]
    with tarfile.open(source, "r:") as tar, tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as new:
        members, manifest_bytes, manifest, config_bytes = read_source(tar)
        config = json.loads(config_bytes)
        platform = {"architecture": config["architecture"], "os": config["os"]}
        if config.get("variant"):
            platform["variant"] = config["variant"]
        # skopeo leaves mediaType out of the manifest itself; the index entry has it.
        manifest_desc = descriptor("application/vnd.oci.image.manifest.v1+json", manifest_bytes, platform=platform)
        attestation_manifest, attestation_blobs = attestation(manifest_desc["digest"], name)
        image_index = compact({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [manifest_desc, descriptor(
                "application/vnd.oci.image.manifest.v1+json", attestation_manifest,
                annotations={"vnd.docker.reference.digest": manifest_desc["digest"],
                             "vnd.docker.reference.type": "attestation-manifest"},
                platform={"architecture": "unknown", "os": "unknown"})],
        })
        top_index = compact({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [descriptor("application/vnd.oci.image.index.v1+json", image_index, annotations={
                "io.containerd.image.name": f"docker.io/library/{name}" if "/" not in name else name,
                "org.opencontainers.image.ref.name": tag})],
        })
        docker_manifest = compact([{
            "Config": blob_name(manifest["config"]["digest"]), "RepoTags": [name],
            "Layers": [blob_name(layer["digest"]) for layer in manifest["layers"]]}])

        # name -> bytes, or the input member to stream
        records = {"blobs/": None, "blobs/sha256/": None}
        for data in [manifest_bytes, config_bytes, image_index, attestation_manifest] + attestation_blobs:
            records[blob_name("sha256:" + hashlib.sha256(data).hexdigest())] = data
        for layer in manifest["layers"]:
            records[blob_name(layer["digest"])] = members[blob_name(layer["digest"])]
        records.update({"index.json": top_index, "manifest.json": docker_manifest,
                        "oci-layout": compact({"imageLayoutVersion": "1.0.0"})})

        for record in sorted(records):
            content = records[record]
            info = tarfile.TarInfo(record)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                new.addfile(info)
                continue
            info.mode = 0o644 if record in ("index.json", "manifest.json") else 0o444
            if isinstance(content, tarfile.TarInfo):
                info.size = content.size
                new.addfile(info, tar.extractfile(content))
            else:
                info.size = len(content)
                new.addfile(info, io.BytesIO(content))


if __name__ == "__main__":
    main()
