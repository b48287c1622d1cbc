"""Helpers of test_formats.py (stdlib only): images built with real tools
(umoci, skopeo), the OCI layouts crafted from them (a two-platform nested
index), byte flips at a member's data offset, and an independent reading of
an archive (what images, configs, layers it holds) to check the binary's
JSON against.

Nothing here runs the binary: test_formats.py does, jailed (common.run_undocker).
"""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile

INDEX_MT = "application/vnd.oci.image.index.v1+json"
MANIFEST_MT = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST_MT = "application/vnd.docker.distribution.manifest.list.v2+json"
T0 = 1_600_000_000  # mtimes of generated files (whole seconds: umoci writes ustar headers)


class ToolError(Exception):
    pass


def sh(*command, env=None):
    proc = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise ToolError(f"{' '.join(map(str, command))}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return proc.stdout


def skopeo(*args):
    return sh("skopeo", "--insecure-policy", "copy", "-q", *args)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------ umoci trees

def umoci_unpack(layout, tag, bundle):
    """umoci unpack --image LAYOUT:TAG BUNDLE (as root: owners kept); returns the rootfs."""
    shutil.rmtree(bundle, ignore_errors=True)
    sh("umoci", "unpack", "--image", f"{layout}:{tag}", bundle)
    return os.path.join(bundle, "rootfs")


def umoci_tree(source, workdir, name):
    """skopeo copy SOURCE (e.g. docker-archive:F, oci-archive:F) oci:WORKDIR/NAME-layout:t,
    then umoci unpack into WORKDIR/NAME-bundle; returns the rootfs."""
    layout = os.path.join(workdir, name + "-layout")
    shutil.rmtree(layout, ignore_errors=True)
    skopeo(source, f"oci:{layout}:t")
    return umoci_unpack(layout, "t", os.path.join(workdir, name + "-bundle"))


def umoci_tree_from_oci_tar(archive, workdir, name):
    """An OCI layout in a tar: through skopeo's oci-archive transport, or, if
    skopeo cannot read it, untarred and given to umoci directly (first ref name)."""
    try:
        return umoci_tree(f"oci-archive:{archive}", workdir, name)
    except ToolError:
        layout = os.path.join(workdir, name + "-untarred")
        shutil.rmtree(layout, ignore_errors=True)
        os.makedirs(layout)
        sh("tar", "-xf", archive, "-C", layout)
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
        ref = (index["manifests"][0].get("annotations") or {}).get("org.opencontainers.image.ref.name")
        if not ref:  # give it a tag umoci can name
            index["manifests"][0].setdefault("annotations", {})["org.opencontainers.image.ref.name"] = "t"
            ref = "t"
            with open(os.path.join(layout, "index.json"), "w") as f:
                json.dump(index, f)
        return umoci_unpack(layout, ref, os.path.join(workdir, name + "-bundle"))


# ------------------------------------------------- the image built with umoci

def _write(root, rel, data, mode=0o644, uid=0, gid=0, mtime=T0):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    os.utime(path, (mtime, mtime))
    return path


def _mkdir(root, rel, mode=0o755, uid=0, gid=0):
    path = os.path.join(root, rel)
    os.makedirs(path, exist_ok=True)
    os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


# Content of the file whose byte the corruption checks flip (it survives every layer).
KEEP_FILE = "keep/data.bin"
KEEP_DATA = bytes(range(256)) * 16


def _layer1(r):
    _mkdir(r, "etc")
    _write(r, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    _write(r, "etc/shadow", "root:*:19000::::::\n", mode=0o640, gid=42)
    _write(r, "etc/hostname", "formats\n", mtime=T0 + 1)
    _mkdir(r, "usr/bin")
    _write(r, "usr/bin/tool", "#!/bin/sh\necho tool\n" * 64, mode=0o4755, mtime=T0 + 2)
    os.link(os.path.join(r, "usr/bin/tool"), os.path.join(r, "usr/bin/tool-hardlink"))
    os.symlink("../etc/passwd", os.path.join(r, "usr/passwd-rel-link"))
    _write(r, "usr/bin/setgid", "sg", mode=0o2755, gid=5)
    _mkdir(r, "conf/sub")
    _write(r, "conf/a.conf", "a=1\n")
    _write(r, "conf/b.conf", "b=1\n")
    _write(r, "conf/sub/c.conf", "c=1\n")
    _mkdir(r, "remade/sub")
    _write(r, "remade/old-1", "o1")
    _write(r, "remade/sub/old-2", "o2")
    _mkdir(r, "gone-dir/inner")
    _write(r, "gone-dir/inner/f", "f")
    _write(r, "gone-file", "bye\n")
    _write(r, "file-then-dir", "a file first\n")
    _mkdir(r, "dir-then-symlink/x")
    _write(r, "dir-then-symlink/x/y", "y")
    _mkdir(r, "home/user", mode=0o700, uid=1000, gid=1000)
    _write(r, "home/user/.profile", "export A=1\n", uid=1000, gid=1000, mode=0o600)
    _mkdir(r, "tmp", mode=0o1777)
    _mkdir(r, "dev")
    os.mknod(os.path.join(r, "dev/null"), 0o666 | 0o020000, os.makedev(1, 3))
    os.chmod(os.path.join(r, "dev/null"), 0o666)
    _write(r, KEEP_FILE, KEEP_DATA)
    path = _write(r, "with-xattr", "x")
    try:
        os.setxattr(path, "user.formats", b"kept")
    except OSError:
        pass  # a filesystem without user xattrs: both tools then see none


def _layer2(r):
    os.unlink(os.path.join(r, "gone-file"))  # -> .wh.gone-file
    shutil.rmtree(os.path.join(r, "remade"))  # contents deleted, directory recreated with one new file
    _mkdir(r, "remade")
    _write(r, "remade/new", "only this\n", mtime=T0 + 10)
    _write(r, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n", mtime=T0 + 11)
    os.link(os.path.join(r, "etc/passwd"), os.path.join(r, "etc/passwd-"))  # hardlink in this layer
    os.mkfifo(os.path.join(r, "run-fifo"), 0o600)
    os.symlink("/etc/hostname", os.path.join(r, "abs-link"))
    _mkdir(r, "var/lib/empty")


def _layer4(r):
    shutil.rmtree(os.path.join(r, "gone-dir"))  # whiteout of a directory
    os.unlink(os.path.join(r, "etc/shadow"))
    os.unlink(os.path.join(r, "file-then-dir"))
    _mkdir(r, "file-then-dir", mode=0o750)
    _write(r, "file-then-dir/child", "c")
    shutil.rmtree(os.path.join(r, "dir-then-symlink"))
    os.symlink("etc", os.path.join(r, "dir-then-symlink"))
    # Rewrites the inode shared by tool and tool-hardlink: both change in the bundle.
    _write(r, "usr/bin/tool", "#!/bin/sh\necho tool v2\n", mode=0o755, mtime=T0 + 20)
    os.chown(os.path.join(r, "home/user"), 1000, 100)
    os.chmod(os.path.join(r, "home/user"), 0o750)
    _write(r, "var/lib/state", "s", mtime=T0 + 21)


def build_umoci_image(workdir):
    """An OCI layout WORKDIR/L with tag 'base' of four layers:
    1-2 and 4 by `umoci unpack` / edit the bundle / `umoci repack` (umoci writes
    whiteouts for what was deleted, one per entry: it never writes an opaque
    marker itself), 3 by `umoci insert --opaque` (the real tool's
    `.wh..wh..opq`). Returns the layout path."""
    layout = os.path.join(workdir, "L")
    bundle = os.path.join(workdir, "B")
    shutil.rmtree(layout, ignore_errors=True)
    sh("umoci", "init", "--layout", layout)
    sh("umoci", "new", "--image", f"{layout}:base")

    def repack(edit, created_by):
        rootfs = umoci_unpack(layout, "base", bundle)
        edit(rootfs)
        sh("umoci", "repack", "--history.created_by", created_by, "--image", f"{layout}:base", bundle)
        shutil.rmtree(bundle)

    repack(_layer1, "layer 1: files, dirs, links, device")
    repack(_layer2, "layer 2: whiteouts, recreated dir, hardlink, fifo")
    # Layer 3: /conf replaced as a whole. The new file's size is a multiple of
    # 512 on purpose: umoci 0.4.7's insert does not pad the last member's data
    # (nor write the end-of-archive blocks), which GNU tar rejects as well.
    source = os.path.join(workdir, "opaque-src")
    shutil.rmtree(source, ignore_errors=True)
    os.makedirs(source)
    _write(source, "only.conf", b"only=1\n" + b"#" * (512 - 8) + b"\n", mtime=T0 + 30)
    os.utime(source, (T0 + 31, T0 + 31))
    sh("umoci", "insert", "--history.created_by", "layer 3: opaque /conf", "--image", f"{layout}:base",
       "--opaque", source, "/conf")
    repack(_layer4, "layer 4: type changes, dir whiteout, metadata change")
    return layout


def layout_manifest(layout, ref=None):
    """(manifest dict, manifest digest) of the first (or the ref-named) entry of a layout dir."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entry = index["manifests"][0]
    for candidate in index["manifests"]:
        if ref and (candidate.get("annotations") or {}).get("org.opencontainers.image.ref.name") == ref:
            entry = candidate
    with open(os.path.join(layout, "blobs", "sha256", entry["digest"].split(":", 1)[1])) as f:
        return json.load(f), entry["digest"]


def layer_members(layout, ref=None):
    """[(media type, tar member names)] of every layer of a layout dir (decompressed with stdlib
    where it can; zstd is returned as None)."""
    manifest, _ = layout_manifest(layout, ref)
    result = []
    for layer in manifest["layers"]:
        with open(os.path.join(layout, "blobs", "sha256", layer["digest"].split(":", 1)[1]), "rb") as f:
            data = f.read()
        data = decompress(data)
        names = None
        if data is not None:
            names = [m.name for m in tarfile.open(fileobj=io.BytesIO(data), mode="r:")]
        result.append((layer["mediaType"], names))
    return result


def decompress(data):
    """Uncompressed layer bytes, or None for zstd (not in the stdlib)."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return None
    return data


def tar_layout(layout, archive):
    """Tar an OCI layout directory (sorted, relative names, no leading ./)."""
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for top in ("oci-layout", "index.json", "blobs"):
            tar.add(os.path.join(layout, top), arcname=top, recursive=False)
        for dirpath, dirnames, filenames in os.walk(os.path.join(layout, "blobs")):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                full = os.path.join(dirpath, name)
                tar.add(full, arcname=os.path.relpath(full, layout), recursive=False)
    return archive


def layout_media_types(layout):
    manifest, _ = layout_manifest(layout)
    return [layer["mediaType"] for layer in manifest["layers"]]


def write_variants(layout, workdir):
    """Every archive form of the image at LAYOUT:base, written by skopeo (and
    tar for the layouts). Returns {name: archive path}."""
    out = {}
    out["docker-archive"] = os.path.join(workdir, "docker-archive.tar")
    skopeo(f"oci:{layout}:base", f"docker-archive:{out['docker-archive']}:img:latest")
    out["oci-archive"] = os.path.join(workdir, "oci-archive.tar")
    skopeo(f"oci:{layout}:base", f"oci-archive:{out['oci-archive']}:img:latest")
    # Uncompressed layers: skopeo 1.9 decompresses only into its dir: transport
    # (--dest-decompress), and then keeps them with --dest-oci-accept-uncompressed-layers.
    plain_dir = os.path.join(workdir, "dir-uncompressed")
    shutil.rmtree(plain_dir, ignore_errors=True)
    skopeo("--dest-decompress", f"oci:{layout}:base", f"dir:{plain_dir}")
    plain = os.path.join(workdir, "layout-uncompressed")
    skopeo("--dest-oci-accept-uncompressed-layers", f"dir:{plain_dir}", f"oci:{plain}:img")
    gz = os.path.join(workdir, "layout-gzip")
    skopeo(f"docker-archive:{out['docker-archive']}", f"oci:{gz}:img")  # skopeo's default for oci: gzip
    zst = os.path.join(workdir, "layout-zstd")
    skopeo("--dest-compress", "--dest-compress-format", "zstd", f"oci:{layout}:base", f"oci:{zst}:img")
    for name, directory, want in (("oci-layout-uncompressed", plain, "application/vnd.oci.image.layer.v1.tar"),
                                  ("oci-layout-gzip", gz, "application/vnd.oci.image.layer.v1.tar+gzip"),
                                  ("oci-layout-zstd", zst, "application/vnd.oci.image.layer.v1.tar+zstd")):
        types = layout_media_types(directory)
        if set(types) != {want}:
            raise ToolError(f"{name}: skopeo wrote layers {types}, wanted {want}")
        out[name] = tar_layout(directory, os.path.join(workdir, name + ".tar"))
    out["_layout_gzip_dir"] = gz
    return out


# --------------------------------------------------- a two-platform index

def _put_blob(layout, data):
    hexdigest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", hexdigest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + hexdigest, "size": len(data)}


def make_two_platform(source_layout, workdir, name, drop_arm64_manifest=False):
    """Copy the OCI layout SOURCE_LAYOUT, add an arm64 manifest (same layers, a
    config saying "architecture": "arm64"), and make index.json's single entry
    a nested image index listing linux/amd64 and linux/arm64. With
    drop_arm64_manifest the arm64 manifest blob is left out of the tar (the
    index still lists it). Returns (archive path, info dict)."""
    layout = os.path.join(workdir, name + "-layout")
    shutil.rmtree(layout, ignore_errors=True)
    shutil.copytree(source_layout, layout)
    manifest, manifest_digest = layout_manifest(layout)
    with open(os.path.join(layout, "blobs", "sha256", manifest["config"]["digest"].split(":", 1)[1]), "rb") as f:
        amd64_config_bytes = f.read()
    config = json.loads(amd64_config_bytes)
    if config.get("architecture") != "amd64" or config.get("os") != "linux":
        raise ToolError(f"the source image is not linux/amd64: {config.get('os')}/{config.get('architecture')}")
    config["architecture"] = "arm64"
    arm_config = _put_blob(layout, json.dumps(config, sort_keys=True).encode())
    arm_manifest = dict(manifest)
    arm_manifest["config"] = dict(manifest["config"], **arm_config)
    arm_manifest_bytes = json.dumps(arm_manifest, sort_keys=True).encode()
    arm_ref = _put_blob(layout, arm_manifest_bytes)
    with open(os.path.join(layout, "blobs", "sha256", manifest_digest.split(":", 1)[1]), "rb") as f:
        amd_size = len(f.read())
    nested = {"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": [
        {"mediaType": MANIFEST_MT, "digest": manifest_digest, "size": amd_size,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": MANIFEST_MT, "digest": arm_ref["digest"], "size": arm_ref["size"],
         "platform": {"architecture": "arm64", "os": "linux"}},
    ]}
    nested_ref = _put_blob(layout, json.dumps(nested, sort_keys=True).encode())
    index = {"schemaVersion": 2, "mediaType": INDEX_MT, "manifests": [
        {"mediaType": INDEX_MT, "digest": nested_ref["digest"], "size": nested_ref["size"],
         "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    if drop_arm64_manifest:
        os.unlink(os.path.join(layout, "blobs", "sha256", arm_ref["digest"].split(":", 1)[1]))
    archive = tar_layout(layout, os.path.join(workdir, name + ".tar"))
    info = {"amd64_manifest": manifest_digest, "arm64_manifest": arm_ref["digest"],
            "amd64_config": manifest["config"]["digest"], "arm64_config": arm_config["digest"],
            "nested_index": nested_ref["digest"], "layout": layout}
    return archive, info


# ------------------------------------------------------- byte flips

def member_data(archive):
    """name -> (offset of the data in the file, size, TarInfo) for every member of an outer tar."""
    with tarfile.open(archive, "r:") as tar:
        return {m.name.removeprefix("./"): (m.offset_data, m.size, m) for m in tar.getmembers()}


def flip_byte(src, dst, offset):
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x01]))
    return dst


def file_offset_in_layer(layer_bytes, member_name):
    """Offset of MEMBER_NAME's data inside an uncompressed layer tar."""
    with tarfile.open(fileobj=io.BytesIO(layer_bytes), mode="r:") as tar:
        for m in tar:
            if m.name.removeprefix("./") == member_name and m.isfile() and m.size:
                return m.offset_data, m.size
    raise KeyError(member_name)


# ------------------------------------ an independent reading of an archive

class Archive:
    """The images of an outer archive, read with tarfile and json only."""

    def __init__(self, path):
        self.path = path
        self.members = member_data(path)
        self._tar = tarfile.open(path, "r:")

    def close(self):
        self._tar.close()

    def has(self, name):
        return name in self.members

    def resolve(self, name):
        """Follow symlink members (relative to their directory) to a regular member."""
        seen = set()
        while name in self.members and self.members[name][2].issym():
            if name in seen:
                raise ValueError(f"symlink loop at {name}")
            seen.add(name)
            target = self.members[name][2].linkname
            name = os.path.normpath(os.path.join(os.path.dirname(name), target)).lstrip("/")
        return name

    def read(self, name):
        name = self.resolve(name)
        _, _, info = self.members[name]
        return self._tar.extractfile(info).read()

    def json(self, name):
        return json.loads(self.read(name))

    def blob(self, digest):
        return "blobs/sha256/" + digest.split(":", 1)[1]

    def format(self):
        if self.has("manifest.json"):
            if self.has("index.json") and (self.json("index.json").get("manifests") or []):
                return "oci-layout"  # Docker 25+: index.json names the images
            return "docker-archive"
        if self.has("index.json"):
            return "oci-layout"
        return "docker-v1"

    def images(self):
        """[{config_digest, config, platform, manifest_digest, saved, names, layers:[{member,
        digest, media_type, size}]}] as the formats describe them."""
        fmt = self.format()
        if fmt == "docker-archive" or (fmt == "oci-layout" and self.has("manifest.json")
                                       and not self._oci_entries()):
            return self._docker_images()
        if fmt == "oci-layout":
            return self._oci_images()
        return []

    def _docker_images(self):
        images = []
        for entry in self.json("manifest.json"):
            config_name = entry["Config"]
            config = self.json(config_name)
            config_hex = hashlib.sha256(self.read(config_name)).hexdigest()
            layers = []
            for name in entry["Layers"]:
                real = self.resolve(name)
                layers.append({"member": name, "resolved": real, "size": self.members[real][1]})
            images.append({"config_digest": "sha256:" + config_hex, "config": config,
                           "platform": _platform(config), "manifest_digest": None, "saved": True,
                           "names": list(entry.get("RepoTags") or []), "layers": layers})
        return images

    def _oci_entries(self):
        if not self.has("index.json"):
            return []
        return self.json("index.json").get("manifests") or []

    def _oci_images(self):
        images = []

        def visit(entry, names):
            media = entry.get("mediaType")
            blob = self.blob(entry["digest"])
            ref = (entry.get("annotations") or {})
            if ref.get("io.containerd.image.name"):
                names = names + [ref["io.containerd.image.name"]]
            ref_name = ref.get("org.opencontainers.image.ref.name")
            if ref_name:
                # A bare tag (OCI's usual ref.name) is listed as ":TAG" (README, "Image names").
                bare = "/" not in ref_name and ":" not in ref_name and "@" not in ref_name
                names = names + [":" + ref_name if bare else ref_name]
            if media in (INDEX_MT, DOCKER_LIST_MT):
                for child in self.json(blob)["manifests"]:
                    visit(child, names)
                return
            platform = entry.get("platform")
            if not self.has(blob):
                images.append({"manifest_digest": entry["digest"], "saved": False, "names": names,
                               "platform": _platform(platform) if platform else None, "config_digest": None,
                               "layers": None, "config": None})
                return
            manifest = self.json(blob)
            config = self.json(self.blob(manifest["config"]["digest"]))
            layers = [{"member": self.blob(layer["digest"]), "resolved": self.blob(layer["digest"]),
                       "digest": layer["digest"], "media_type": layer.get("mediaType"),
                       "size": layer.get("size")} for layer in manifest["layers"]]
            images.append({"manifest_digest": entry["digest"], "saved": True, "names": names,
                           "platform": _platform(config), "config_digest": manifest["config"]["digest"],
                           "config": config, "layers": layers})

        for entry in self._oci_entries():
            visit(entry, [])
        return images

    def layer_bytes(self, image):
        """The uncompressed layer tars of an image (None for a zstd one)."""
        return [decompress(self.read(layer["resolved"])) for layer in image["layers"]]


def _platform(obj):
    if not obj:
        return None
    text = f"{obj.get('os')}/{obj.get('architecture')}"
    if obj.get("variant"):
        text += "/" + obj["variant"]
    return text


def describes_root(layers):
    """Whether a layer tar has an entry for the root itself; None when unknown (zstd)."""
    if any(layer is None for layer in layers):
        return None
    for data in layers:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar:
                if m.name.strip("/") in ("", "."):
                    return True
    return False


HEX64 = re.compile(r"^[0-9a-f]{64}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
