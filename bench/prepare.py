"""Untimed preparation of an image archive for bench/run (issue 17).

Every peer but undocker needs something made from the archive first, and
making it is not what is measured:

- the tar peers need the layer list (member names, bottom first, and each
  layer's compression from its magic bytes): `inspect_archive`;
- the umoci peer needs an OCI layout with gzip layers (umoci 0.4.7 reads
  nothing else): `skopeo copy` into `CACHE/oci`, tag "bench";
- `cp -a` and every tree comparison need the reference tree: `umoci unpack`
  of that layout into `CACHE/ref` (a whole umoci bundle; the tree is
  `CACHE/ref/rootfs`).

CACHE is `DATA/cache/<first 16 hex of the archive's SHA-256>-<selector>`, so
a renamed or copied archive reuses it and a changed one does not. Each
artifact is built under a temporary name and renamed when complete.
"""
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile

LAYOUT_TAG = "bench"


class ArchiveError(Exception):
    """The archive cannot be benchmarked (unreadable, no such image, ...)."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_one_layer_archive(layer_tar, out_path, tag="flat:bench"):
    """A docker-archive whose one layer is layer_tar (bench/run's
    undocker-flat peer: what undocker costs with no layering to do)."""
    digest = sha256_file(layer_tar)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest}"]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": [f"{digest}/layer.tar"]}]).encode()
    tmp = out_path + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as archive:
        archive.add(layer_tar, arcname=f"{digest}/layer.tar")
        for name, data in ((config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    os.replace(tmp, out_path)


# ---------------------------------------------------------------- inspection

class ArchiveInfo:
    """What the peers need to know about one image of an archive.

    format: 'docker-archive' or 'oci-archive' (the skopeo transport that reads it);
    layers: [(member name, compression '', 'gzip' or 'zstd')], bottom first;
    skopeo_source: the skopeo reference of the selected image;
    image: the user's --image (passed to undocker as IMAGE), or None."""

    def __init__(self, path, format, layers, skopeo_source, image):
        self.path, self.format, self.layers = path, format, layers
        self.skopeo_source, self.image = skopeo_source, image

    def compressions(self):
        return sorted({c or "tar" for _, c in self.layers})


def inspect_archive(path, image=None):
    """Read the outer tar's headers and JSON members (no layer is decompressed)."""
    if os.path.isdir(path):
        # The peers are prepared from one archive (undocker's -f DIR is not benchmarked).
        raise ArchiveError(f"{path}: the bench takes archives, not an OCI layout directory (tar it first)")
    try:
        with tarfile.open(path, "r:") as tar:
            members = {_clean(m.name): m for m in tar.getmembers()}
            reader = _Reader(tar, members)
            # Docker 25+ writes both manifest.json and an OCI layout; skopeo's
            # docker-archive transport reads it, like every older docker save.
            if "manifest.json" in members:
                return _docker_archive(path, reader, image)
            if "index.json" in members:
                return _oci_archive(path, reader, image)
    except (tarfile.TarError, OSError, ValueError, KeyError) as e:
        raise ArchiveError(f"{path}: cannot read as an image archive: {e}") from e
    raise ArchiveError(f"{path}: neither manifest.json nor index.json: not a docker-archive or oci-archive "
                       "(legacy v1 archives without manifest.json are not benchmarked: skopeo cannot read them)")


def _clean(name):
    return name[2:] if name.startswith("./") else name


class _Reader:
    def __init__(self, tar, members):
        self.tar, self.members = tar, members

    def json(self, name):
        return json.load(self.tar.extractfile(self.members[name]))

    def resolve(self, name):
        """Follow member symlinks (docker save links repeated layers to one copy)."""
        for _ in range(10):
            m = self.members[name]
            if not m.issym():
                return name
            name = os.path.normpath(os.path.join(os.path.dirname(name), m.linkname))
        raise ArchiveError(f"{name}: symlink loop")

    def compression(self, name):
        head = self.tar.extractfile(self.members[name]).read(4)
        if head[:2] == b"\x1f\x8b":
            return "gzip"
        if head == b"\x28\xb5\x2f\xfd":
            return "zstd"
        return ""

    def layers(self, names):
        resolved = [self.resolve(n) for n in names]
        return [(n, self.compression(n)) for n in resolved]


def normalize_reference(ref):
    """Docker's defaults: `busybox` = `docker.io/library/busybox:latest`."""
    name, tag = ref, "latest"
    if "@" in ref:
        return ref
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    return f"{name}:{tag}"


def _docker_archive(path, reader, image):
    manifest = reader.json("manifest.json")
    if image is None:
        if len(manifest) != 1:
            tags = [t for entry in manifest for t in entry.get("RepoTags") or []]
            raise ArchiveError(f"{path}: {len(manifest)} images, choose one with --image ({', '.join(tags)})")
        index = 0
    else:
        wanted = normalize_reference(image)
        hits = [i for i, entry in enumerate(manifest)
                if any(normalize_reference(t) == wanted for t in entry.get("RepoTags") or [])]
        if len(hits) != 1:
            raise ArchiveError(f"{path}: no image tagged {image}" if not hits else f"{path}: {image} is ambiguous")
        index = hits[0]
    layers = reader.layers(manifest[index]["Layers"])
    # `@N` selects by position: skopeo 1.9 normalises a tag such as
    # `test_image_2` to docker.io/library/test_image_2:latest and then misses
    # the archive's unnormalised RepoTags.
    source = f"docker-archive:{path}" + (f":@{index}" if len(manifest) > 1 else "")
    return ArchiveInfo(path, "docker-archive", layers, source, image)


def _oci_archive(path, reader, image):
    index = reader.json("index.json")
    entries = index.get("manifests") or []
    ref_name = None
    if image is not None:
        hits = [d for d in entries if image in _names_of(d)]
        if not hits:
            raise ArchiveError(f"{path}: no index entry named {image}")
        entries = hits[:1]
        ref_name = (entries[0].get("annotations") or {}).get("org.opencontainers.image.ref.name")
    elif len(entries) != 1:
        raise ArchiveError(f"{path}: {len(entries)} index entries, choose one with --image")
    desc = entries[0] if entries else None
    if desc is None:
        raise ArchiveError(f"{path}: index.json lists no manifest")
    manifest = reader.json(_blob(desc))
    if "manifests" in manifest:  # a nested (multi-platform) index
        manifest = reader.json(_blob(_pick_platform(path, manifest["manifests"])))
    layers = reader.layers([_blob(layer) for layer in manifest["layers"]])
    source = f"oci-archive:{path}" + (f":{ref_name}" if ref_name else "")
    return ArchiveInfo(path, "oci-archive", layers, source, image)


def _names_of(desc):
    ann = desc.get("annotations") or {}
    names = set()
    for key in ("org.opencontainers.image.ref.name", "io.containerd.image.name"):
        if key in ann:
            names.add(ann[key])
            if ":" in ann[key].rsplit("/", 1)[-1]:
                names.add(ann[key].rsplit(":", 1)[1])  # a bare tag selects too, as in undocker
    return names


def _blob(desc):
    algo, _, hexdigest = desc["digest"].partition(":")
    return f"blobs/{algo}/{hexdigest}"


def _pick_platform(path, descs):
    """The host's platform, else the only one (what skopeo copy picks too)."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    real = [d for d in descs if (d.get("platform") or {}).get("os") != "unknown"]  # skip attestations
    for d in real:
        p = d.get("platform") or {}
        if p.get("os") == "linux" and p.get("architecture") == arch:
            return d
    if len(real) == 1:
        return real[0]
    raise ArchiveError(f"{path}: {len(real)} platforms and none is linux/{arch}")


# ---------------------------------------------------------------- the cache

def cache_dir(data, digest, image):
    selector = re.sub(r"[^A-Za-z0-9_.-]+", "_", image) if image else "default"
    return os.path.join(data, "cache", f"{digest[:16]}-{selector}")


def skopeo_command(info, dest_layout, tmpdir):
    """`skopeo copy` of the selected image into an OCI layout umoci can unpack.
    Layers stay as skopeo writes them (gzip, also from uncompressed docker
    layers) except zstd, which umoci 0.4.7 cannot read: those are recompressed.
    --tmpdir: skopeo 1.9 unpacks an oci-archive into /var/tmp whatever TMPDIR says."""
    cmd = ["skopeo", "--insecure-policy", "copy", "-q", "--tmpdir", tmpdir]
    if any(c == "zstd" for _, c in info.layers):
        cmd += ["--dest-compress-format", "gzip"]
    return cmd + [info.skopeo_source, f"oci:{dest_layout}:{LAYOUT_TAG}"]


def _build_once(final, build, log):
    """Run build(tmp) unless `final` exists; rename tmp to final when it returns."""
    if os.path.exists(final):
        return final
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    os.rename(tmp, final)
    log(f"cached {final}")
    return final


def prepare_layout(info, cache, env, log):
    """umoci's input: the image as an OCI layout (skopeo), cached."""
    def build(tmp):
        log(f"skopeo copy {info.skopeo_source} -> OCI layout (untimed)")
        subprocess.run(skopeo_command(info, tmp, env["TMPDIR"]), check=True, env=env, stdout=subprocess.DEVNULL)
    return _build_once(os.path.join(cache, "oci"), build, log)


def prepare_reference(layout, tag, cache, log):
    """The reference tree: `umoci unpack` of the layout, cached as a bundle."""
    def build(tmp):
        log(f"umoci unpack {layout}:{tag} (untimed reference tree)")
        subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", tmp], check=True,
                       stdout=subprocess.DEVNULL)
    return os.path.join(_build_once(os.path.join(cache, "ref"), build, log), "rootfs")


def prepare_reference_undocker(undocker, info, cache, log):
    """Without umoci or skopeo there is no independent tree: undocker's own
    (untimed) stands in, and the report says so."""
    def build(tmp):
        log("umoci or skopeo missing: undocker's tree is the reference (untimed)")
        image = [info.image] if info.image else []
        subprocess.run([undocker, "-q", "-f", info.path, "-o", tmp] + image, check=True)
    return _build_once(os.path.join(cache, "ref-undocker"), build, log)


def load_or_inspect(path, image, cache):
    """inspect_archive, or its result cached in CACHE/layers.json."""
    saved = os.path.join(cache, "layers.json")
    if os.path.exists(saved):
        with open(saved) as f:
            d = json.load(f)
        return ArchiveInfo(path, d["format"], [tuple(x) for x in d["layers"]],
                           d["source"].replace(d["path"], path, 1), image)
    info = inspect_archive(path, image)
    os.makedirs(cache, exist_ok=True)
    with open(saved + ".tmp", "w") as f:
        json.dump({"path": path, "format": info.format, "source": info.skopeo_source, "layers": info.layers},
                  f, indent=1)
    os.rename(saved + ".tmp", saved)
    return info
