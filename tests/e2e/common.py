"""Shared helpers of the end-to-end suites (stdlib only).

- Layer: a layer tar built in memory (files, dirs, symlinks, hardlinks,
  devices, FIFOs, PAX headers and xattrs, whiteouts, raw headers).
- docker_archive(), legacy_archive(): outer archives as `docker save` writes
  them (Docker 1.10+ with manifest.json, and the pre-1.10 v1 layout).
- reference_apply(): the OCI changeset rules in plain Python, an oracle for
  trusted (generated or real) layers only.
- run_undocker(): runs the binary jailed in bubblewrap (host read-only, only
  the test's scratch directory writable), returns rc/stdout/stderr.
- Suite / Check: one line per check, `N passed, M failed[, K skipped]` at
  the end (`: all skipped` when nothing ran), exit 1 on failure and 77 when
  everything was skipped; each check gets a scratch directory that is
  removed when it passes and kept (path printed) when not;
  main_sharing_work() does the same for a directory all checks share.
- Sentinels: a directory beside DIR whose snapshot must not change.

The binary comes from argv[1] or the environment variable UNDOCKER.
"""
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))  # the project root: parent of tests/
FIXTURES = os.path.normpath(os.path.join(ROOT, "..", "shared", "fixtures", "real"))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))

from treecmp import compare_trees, snapshot_tree, diff_snapshots, _type_name  # noqa: E402

MTIME = 1_600_000_000  # 2020-09-13, the default mtime of generated entries
SKIP = 77


def fixture(name):
    """Absolute path of a real fixture, or None when the folder or file is absent."""
    path = os.path.join(FIXTURES, name)
    return path if os.path.isfile(path) else None


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- layer tars

class Layer:
    """A layer tar built in memory. Paths are written exactly as given (a
    directory gets tarfile's trailing '/'), so hostile names stay hostile."""

    def __init__(self, format=tarfile.PAX_FORMAT):
        self._buffer = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buffer, mode="w", format=format)
        self._data = None

    def _add(self, path, type, data=b"", mode=0o644, uid=0, gid=0, mtime=MTIME, linkname="",
             xattrs=None, pax=None, uname="", gname="", devmajor=0, devminor=0):
        if self._data is not None:
            raise RuntimeError("layer already finished")
        info = tarfile.TarInfo(path)
        info.type = type
        info.mode = mode
        info.uid, info.gid = uid, gid
        info.uname, info.gname = uname, gname
        info.mtime = mtime
        info.linkname = linkname
        info.devmajor, info.devminor = devmajor, devminor
        headers = dict(pax or {})
        for name, value in (xattrs or {}).items():
            if isinstance(value, bytes):
                value = value.decode("utf-8")  # tarfile writes PAX values as UTF-8
            headers["SCHILY.xattr." + name] = value
        info.pax_headers = headers
        if type == tarfile.REGTYPE:
            info.size = len(data)
            self._tar.addfile(info, io.BytesIO(data))
        else:
            info.size = 0
            self._tar.addfile(info)
        return self

    def file(self, path, data=b"", mode=0o644, **kw):
        if isinstance(data, str):
            data = data.encode()
        return self._add(path, tarfile.REGTYPE, data=data, mode=mode, **kw)

    def dir(self, path, mode=0o755, **kw):
        return self._add(path, tarfile.DIRTYPE, mode=mode, **kw)

    def symlink(self, path, target, mode=0o777, **kw):
        return self._add(path, tarfile.SYMTYPE, linkname=target, mode=mode, **kw)

    def hardlink(self, path, target, mode=0o644, **kw):
        return self._add(path, tarfile.LNKTYPE, linkname=target, mode=mode, **kw)

    def chardev(self, path, major, minor, mode=0o666, **kw):
        return self._add(path, tarfile.CHRTYPE, mode=mode, devmajor=major, devminor=minor, **kw)

    def blockdev(self, path, major, minor, mode=0o660, **kw):
        return self._add(path, tarfile.BLKTYPE, mode=mode, devmajor=major, devminor=minor, **kw)

    def fifo(self, path, mode=0o644, **kw):
        return self._add(path, tarfile.FIFOTYPE, mode=mode, **kw)

    def whiteout(self, path, **kw):
        parent, _, base = path.rstrip("/").rpartition("/")
        return self.file((parent + "/" if parent else "") + ".wh." + base, b"", mode=0o644, **kw)

    def opaque(self, directory, **kw):
        return self.file(directory.rstrip("/") + "/.wh..wh..opq", b"", mode=0o644, **kw)

    def raw(self, info, data=b""):
        """A TarInfo written as is (size taken from data)."""
        info.size = len(data) if info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
        self._tar.addfile(info, io.BytesIO(data) if info.size else None)
        return self

    def bytes(self):
        if self._data is None:
            self._tar.close()
            self._data = self._buffer.getvalue()
        return self._data


def as_bytes(layer):
    return layer.bytes() if isinstance(layer, Layer) else layer


# ---------------------------------------------------------- outer archives

class Image:
    """One image of a docker-archive: its layers (bottom first) and tags.

    tags=None writes `"RepoTags": null` (an image saved by id)."""

    def __init__(self, layers, tags=("test:latest",), config=None, layer_ids=None):
        self.layers = [as_bytes(layer) for layer in layers]
        self.tags = list(tags) if tags is not None else None
        self.diff_ids = ["sha256:" + sha256_hex(layer) for layer in self.layers]
        body = {
            "architecture": "amd64",
            "os": "linux",
            "created": "2020-09-13T12:26:40Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": self.diff_ids},
            "history": [{"created": "2020-09-13T12:26:40Z", "created_by": f"layer {i}"}
                        for i in range(len(self.layers))],
        }
        body.update(config or {})
        self.config = json.dumps(body, sort_keys=True).encode()
        self.config_hex = sha256_hex(self.config)
        if layer_ids is None:  # v1-compatible ids: a chain over the parent and the diffID
            layer_ids, parent = [], ""
            for diff_id in self.diff_ids:
                parent = sha256_hex(f"{parent}\n{diff_id}".encode())
                layer_ids.append(parent)
        self.layer_ids = list(layer_ids)

    @property
    def repo(self):
        """The name part of the first tag (what -v logs), or None."""
        if not self.tags:
            return None
        return split_tag(self.tags[0])[0]


def split_tag(reference):
    """'host:5000/name:tag' -> ('host:5000/name', 'tag'); a missing tag is 'latest'."""
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1:]
    return reference, "latest"


def _v1_json(layer_id, parent, index=0):
    body = {"id": layer_id, "created": "2020-09-13T12:26:40Z",
            "container_config": {"Cmd": [f"layer {index}"]}, "os": "linux", "architecture": "amd64"}
    if parent:
        body["parent"] = parent
    return json.dumps(body).encode()


def write_outer(members, path=None):
    """members: list of (name, bytes) or (name, None) for a directory entry, or
    (name, ('symlink', target)). Returns the archive bytes and writes path if given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(data, tuple):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, data[1], 0o777
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(data)
                tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    if path:
        with open(path, "wb") as f:
            f.write(data)
    return data


def layers_docker_archive(layers, path, compress=(), tag="plan:test"):
    """A minimal Docker 1.10+ archive of raw layer tars (diffIDs in the
    config); compress: indexes of the layers to store gzipped."""
    import gzip
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    blobs = [gzip.compress(layer, mtime=0) if i in compress else layer for i, layer in enumerate(layers)]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    members = [(f"l{i}/layer.tar", blob) for i, blob in enumerate(blobs)]
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [name for name, _ in members]}]
    members += [(config_name, config), ("manifest.json", json.dumps(manifest).encode())]
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def docker_archive(images, path=None, repositories=True, manifest_hook=None, extra_members=()):
    """A Docker 1.10+ `docker save` archive of one or more Image objects.

    manifest_hook(list) may edit the manifest before it is written.
    Returns the archive bytes (and writes it to path if given)."""
    if isinstance(images, Image):
        images = [images]
    members, seen = [], set()
    manifest, repos = [], {}
    for image in images:
        parent = ""
        for index, (layer_id, layer) in enumerate(zip(image.layer_ids, image.layers)):
            if layer_id not in seen:
                seen.add(layer_id)
                members += [(layer_id + "/", None),
                            (layer_id + "/VERSION", b"1.0"),
                            (layer_id + "/json", _v1_json(layer_id, parent, index)),
                            (layer_id + "/layer.tar", layer)]
            parent = layer_id
        config_name = image.config_hex + ".json"
        if config_name not in seen:
            seen.add(config_name)
            members.append((config_name, image.config))
        manifest.append({"Config": config_name, "RepoTags": image.tags,
                         "Layers": [layer_id + "/layer.tar" for layer_id in image.layer_ids]})
        for tag in image.tags or []:
            name, version = split_tag(tag)
            if image.layer_ids:
                repos.setdefault(name, {})[version] = image.layer_ids[-1]
    if manifest_hook:
        manifest = manifest_hook(manifest) or manifest
    members.append(("manifest.json", json.dumps(manifest).encode()))
    if repositories and repos:
        members.append(("repositories", json.dumps(repos).encode()))
    members += list(extra_members)
    return write_outer(members, path)


def docker25_archive(image, path=None):
    """A Docker 25+ `docker save` archive: an OCI layout (`oci-layout`,
    `index.json`, `blobs/sha256/<hex>`) plus a manifest.json whose Config and
    Layers name the blobs. index.json has `"manifests": null` (as for an
    image saved by id), so manifest.json is what names the image."""
    members = [("blobs/", None), ("blobs/sha256/", None)]
    seen = set()
    for layer in image.layers:
        hexdigest = sha256_hex(layer)
        if hexdigest not in seen:
            seen.add(hexdigest)
            members.append(("blobs/sha256/" + hexdigest, layer))
    members.append(("blobs/sha256/" + image.config_hex, image.config))
    manifest = [{"Config": "blobs/sha256/" + image.config_hex, "RepoTags": image.tags,
                 "Layers": ["blobs/sha256/" + sha256_hex(layer) for layer in image.layers]}]
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": None}
    members += [("index.json", json.dumps(index).encode()), ("manifest.json", json.dumps(manifest).encode()),
                ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')]
    return write_outer(members, path)


def legacy_archive(layers, tags=("legacy:latest",), path=None, layer_ids=None, version_files=False):
    """A pre-1.10 `docker save` archive: `repositories` + `<id>/json` (with
    `parent`) + `<id>/layer.tar` only. Returns (bytes, layer ids bottom first)."""
    layers = [as_bytes(layer) for layer in layers]
    if layer_ids is None:
        layer_ids, parent = [], ""
        for layer in layers:
            parent = sha256_hex(f"legacy {parent}\n{sha256_hex(layer)}".encode())
            layer_ids.append(parent)
    members, parent = [], ""
    # Written top layer first, as old docker did, so that nothing relies on order.
    entries = []
    for index, (layer_id, layer) in enumerate(zip(layer_ids, layers)):
        entry = [(layer_id + "/", None), (layer_id + "/json", _v1_json(layer_id, parent, index)),
                 (layer_id + "/layer.tar", layer)]
        if version_files:
            entry.insert(1, (layer_id + "/VERSION", b"1.0"))
        entries.append(entry)
        parent = layer_id
    for entry in reversed(entries):
        members += entry
    repos = {}
    for tag in tags:
        name, version = split_tag(tag)
        repos.setdefault(name, {})[version] = layer_ids[-1]
    members.append(("repositories", json.dumps(repos).encode()))
    return write_outer(members, path), list(layer_ids)


def read_manifest(path):
    """The manifest.json of a docker-archive as a list of dicts, each with the
    keys of the file plus 'config_hex', 'layer_ids' (what --layers prints)
    and 'layer_bytes' (a function returning the layer tars, bottom first)."""
    with tarfile.open(path, "r:") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    for entry in manifest:
        entry["config_hex"] = os.path.basename(entry["Config"]).removesuffix(".json").removeprefix("sha256:")
        entry["layer_ids"] = [layer_id_of(name) for name in entry["Layers"]]

        def layer_bytes(names=tuple(entry["Layers"])):
            with tarfile.open(path, "r:") as tar:
                return [tar.extractfile(name).read() for name in names]
        entry["layer_bytes"] = layer_bytes
    return manifest


def layer_id_of(member_name):
    """`<id>/layer.tar` -> id; `blobs/sha256/<hex>` -> hex."""
    if member_name.endswith("/layer.tar"):
        return member_name[: -len("/layer.tar")]
    return member_name.rsplit("/", 1)[-1]


def has_root_entry(layers):
    """Whether any layer tar has an entry for the root itself ('./' or '/')."""
    for data in layers:
        with tarfile.open(fileobj=io.BytesIO(as_bytes(data)), mode="r:") as tar:
            if any(_norm(m.name) == "" for m in tar.getmembers()):
                return True
    return False


# -------------------------------------------------------- reference applier

def _norm(name):
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise ValueError(f"reference_apply: {name!r} climbs out")
        parts.append(part)
    return "/".join(parts)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def reference_apply(layers, dest, whiteouts=True):
    """Apply trusted layer tars bottom-up to dest with the OCI changeset rules,
    as root (owners, devices). For oracles only: it does not defend against
    hostile names or symlinked parents."""
    os.makedirs(dest, exist_ok=True)
    dir_mtimes = {}

    def forget(rel):
        for key in [k for k in dir_mtimes if k == rel or k.startswith(rel + "/")]:
            del dir_mtimes[key]

    for data in layers:
        with tarfile.open(fileobj=io.BytesIO(as_bytes(data)), mode="r:") as tar:
            members = tar.getmembers()
            if whiteouts:  # deletions see only what lower layers left
                for m in members:
                    rel = _norm(m.name)
                    parent, _, base = rel.rpartition("/")
                    if base == ".wh..wh..opq":
                        where = os.path.join(dest, parent)
                        if os.path.isdir(where) and not os.path.islink(where):
                            for child in os.listdir(where):
                                _remove(os.path.join(where, child))
                                forget((parent + "/" if parent else "") + child)
                    elif base.startswith(".wh..wh."):
                        continue
                    elif base.startswith(".wh."):
                        victim = (parent + "/" if parent else "") + base[4:]
                        _remove(os.path.join(dest, victim))
                        forget(victim)
            for m in members:
                rel = _norm(m.name)
                base = rel.rpartition("/")[2]
                if whiteouts and base.startswith(".wh."):
                    continue
                path = os.path.join(dest, rel) if rel else dest
                if rel and os.path.lexists(path):
                    if not (m.isdir() and os.path.isdir(path) and not os.path.islink(path)):
                        _remove(path)
                        forget(rel)
                if rel:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                if m.isdir():
                    if not os.path.isdir(path):
                        os.mkdir(path)
                elif m.issym():
                    os.symlink(m.linkname, path)
                elif m.islnk():
                    os.link(os.path.join(dest, _norm(m.linkname)), path, follow_symlinks=False)
                    continue  # a hardlink has no metadata of its own
                elif m.ischr() or m.isblk():
                    kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                    os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
                elif m.isfifo():
                    os.mkfifo(path, 0o600)
                else:
                    with open(path, "wb") as f:
                        f.write(tar.extractfile(m).read())
                os.lchown(path, m.uid, m.gid)
                if not m.issym():
                    os.chmod(path, m.mode & 0o7777)
                for key, value in m.pax_headers.items():
                    if key.startswith("SCHILY.xattr."):
                        os.setxattr(path, key[len("SCHILY.xattr."):],
                                    value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
                mtime_ns = _mtime_ns(m)
                if m.isdir():
                    dir_mtimes[rel] = mtime_ns
                else:
                    os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
    for rel in sorted(dir_mtimes, key=lambda r: -r.count("/")):
        path = os.path.join(dest, rel) if rel else dest
        if os.path.isdir(path) and not os.path.islink(path):
            os.utime(path, ns=(dir_mtimes[rel], dir_mtimes[rel]), follow_symlinks=False)


def _mtime_ns(member):
    """A member's mtime in ns, with the PAX record's fraction when there is one."""
    text = member.pax_headers.get("mtime")
    if text is not None and not text.startswith("-"):
        whole, _, frac = text.partition(".")
        return int(whole) * 10**9 + int((frac + "000000000")[:9])
    return int(member.mtime) * 10**9


# ------------------------------------------------------------- the binary

def undocker_binary():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("UNDOCKER")
    if not path:
        print("usage: %s UNDOCKER (or set UNDOCKER)" % os.path.basename(sys.argv[0]), file=sys.stderr)
        sys.exit(2)
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        print(f"not an executable: {path}", file=sys.stderr)
        sys.exit(2)
    return path


class Result:
    def __init__(self, args, rc, stdout, stderr, elapsed):
        self.args, self.rc, self.stdout, self.stderr, self.elapsed = args, rc, stdout, stderr, elapsed

    @property
    def out_lines(self):
        return self.stdout.splitlines()

    @property
    def err_lines(self):
        return self.stderr.splitlines()

    @property
    def errors(self):
        return [line for line in self.err_lines if line.startswith("ERROR:undocker:")]

    def describe(self):
        return (f"rc={self.rc} args={self.args}\n--- stdout ---\n{self.stdout[-3000:]}"
                f"\n--- stderr ---\n{self.stderr[-3000:]}")


JAIL = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]


def run_undocker(args, sandbox, stdin=None, env=None, tmpdir=None, jail=True, timeout=300,
                 binary=None, cwd=None, pipe_from=None):
    """Run the binary with args, jailed in bubblewrap with only sandbox writable.

    stdin: None (/dev/null), bytes (fed through a pipe), a path (opened and
    redirected, like `< FILE`), or an open file object.
    pipe_from: a path fed through `cat FILE |` instead.
    tmpdir: TMPDIR for the run (default SANDBOX/tmp, created; it must lie in
    the sandbox since everything else is read-only in the jail)."""
    binary = binary or UNDOCKER
    sandbox = os.path.abspath(sandbox)
    if tmpdir is None:
        tmpdir = os.path.join(sandbox, "tmp")
        os.makedirs(tmpdir, exist_ok=True)
    run_env = dict(os.environ)
    run_env.pop("UNDOCKER_NO_PLAN", None)
    run_env["TMPDIR"] = tmpdir
    run_env.update(env or {})
    command = [binary] + [str(a) for a in args]
    if jail:
        command = JAIL + ["--bind", sandbox, sandbox, "--cap-add", "ALL", "--chdir", cwd or sandbox, "--"] + command
    opened = None
    feeder = None
    input_bytes = None
    if pipe_from is not None:
        feeder = subprocess.Popen(["cat", pipe_from], stdout=subprocess.PIPE)
        stdin_arg = feeder.stdout
    elif stdin is None:
        stdin_arg = subprocess.DEVNULL
    elif isinstance(stdin, bytes):
        stdin_arg, input_bytes = subprocess.PIPE, stdin
    elif isinstance(stdin, str):
        opened = open(stdin, "rb")
        stdin_arg = opened
    else:
        stdin_arg = stdin
    start = time.monotonic()
    try:
        proc = subprocess.run(command, input=input_bytes, stdin=None if input_bytes is not None else stdin_arg,
                              capture_output=True, env=run_env, timeout=timeout, cwd=None if jail else (cwd or sandbox))
    except subprocess.TimeoutExpired as expired:
        raise Failure(f"timed out after {timeout}s: {command}\n{(expired.stderr or b'')[-2000:]!r}")
    finally:
        if opened:
            opened.close()
        if feeder:
            feeder.stdout.close()
            feeder.wait()
    return Result(args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                  proc.stderr.decode("utf-8", "replace"), time.monotonic() - start)


# ------------------------------------------------------------ the harness

class Failure(Exception):
    pass


class Skip(Exception):
    pass


class Check:
    """What a check function gets: its scratch directory and assertion helpers."""

    def __init__(self, suite, name):
        self.suite, self.name = suite, name
        safe = "".join(c if c.isalnum() else "-" for c in name)[:40]
        self.scratch = tempfile.mkdtemp(prefix=f"undocker-e2e-{suite.name}-{safe}-", dir=suite.base)
        self.out = os.path.join(self.scratch, "out")
        self.tmp = os.path.join(self.scratch, "tmp")
        os.makedirs(self.tmp)
        self.notes = []
        # Directories the check made outside its scratch directory (one
        # another user can reach, say): removed with it, or kept with it.
        self.elsewhere = []

    def path(self, *parts):
        return os.path.join(self.scratch, *parts)

    def directories(self):
        """The scratch directory and those made elsewhere."""
        return [self.scratch] + self.elsewhere

    def write(self, name, data):
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def run(self, args, **kw):
        return run_undocker(args, self.scratch, **kw)

    def extract(self, archive, *extra, out=None, expect_rc=0, **kw):
        """undocker -f archive -o out *extra; asserts the exit status."""
        result = self.run(["-f", archive, "-o", out or self.out, *extra], **kw)
        self.expect_rc(result, expect_rc)
        return result

    def extract_twice(self, archive, *extra, out=None, expect_rc=0, **kw):
        """Extract into DIR (new), and again into a non-empty directory (one
        unrelated file already there); both runs must exit alike and, after
        that file is removed, give the same tree: what DIR held before never
        changes how layers apply (and an extractor may take another road for
        an empty output directory). Returns the first run's result."""
        out = out or self.out
        first = self.extract(archive, *extra, out=out, expect_rc=expect_rc, **kw)
        other = out.rstrip("/") + "-nonempty"
        os.makedirs(other, exist_ok=True)
        unrelated = os.path.join(other, "zz-unrelated-preexisting-file")
        with open(unrelated, "w") as f:
            f.write("already here\n")
        second = self.run(["-f", archive, "-o", other, *extra], **kw)
        if second.rc != first.rc:
            raise Failure(f"exit {first.rc} into an empty DIR but {second.rc} into a non-empty one\n"
                          f"{second.describe()}")
        if first.rc == 0:
            if not os.path.isfile(unrelated):
                raise Failure("the unrelated file already in DIR is gone")
            os.unlink(unrelated)
            problems = compare_trees(out, other, root_ignore=("mtime",))
            if problems:
                raise Failure("tree into an empty DIR (A) != tree into a non-empty DIR (B):\n  " +
                              "\n  ".join(problems[:40]))
        return first

    def expect_rc(self, result, rc):
        if result.rc != rc:
            raise Failure(f"expected exit {rc}, got {result.rc}\n{result.describe()}")
        if rc != 0:
            self.expect_one_error(result)
        return result

    def expect_one_error(self, result, contains=None):
        errors = result.errors
        if len(errors) != 1:
            raise Failure(f"expected exactly one ERROR:undocker: line, got {len(errors)}\n{result.describe()}")
        if contains and contains not in errors[0]:
            raise Failure(f"error line does not mention {contains!r}: {errors[0]!r}")
        return errors[0]

    # --- assertions on values and on the tree
    def eq(self, actual, expected, what="value"):
        if actual != expected:
            raise Failure(f"{what}: expected {expected!r}, got {actual!r}")

    def true(self, condition, what):
        if not condition:
            raise Failure(what)

    def lstat(self, rel, root=None):
        path = os.path.join(root or self.out, rel.lstrip("/"))
        try:
            return os.lstat(path)
        except FileNotFoundError:
            raise Failure(f"/{rel.lstrip('/')} is missing from the tree") from None

    def absent(self, rel, root=None):
        path = os.path.join(root or self.out, rel.lstrip("/"))
        if os.path.lexists(path):
            raise Failure(f"/{rel.lstrip('/')} should not exist (it is a {describe_type(os.lstat(path))})")

    def entry(self, rel, type=None, mode=None, uid=None, gid=None, mtime=None, mtime_ns=None,
              content=None, target=None, rdev=None, xattrs=None, root=None):
        """Assert the properties given of the tree entry rel (relative to DIR)."""
        st = self.lstat(rel, root)
        path = os.path.join(root or self.out, rel.lstrip("/"))
        where = "/" + rel.lstrip("/")
        if type is not None:
            self.eq(describe_type(st), type, f"{where}: type")
        if mode is not None:
            self.eq(oct(stat.S_IMODE(st.st_mode)), oct(mode), f"{where}: mode")
        if uid is not None:
            self.eq(st.st_uid, uid, f"{where}: uid")
        if gid is not None:
            self.eq(st.st_gid, gid, f"{where}: gid")
        if mtime is not None:
            self.eq(st.st_mtime_ns // 10**9, mtime, f"{where}: mtime (s)")
        if mtime_ns is not None:
            self.eq(st.st_mtime_ns, mtime_ns, f"{where}: mtime (ns)")
        if content is not None:
            if isinstance(content, str):
                content = content.encode()
            with open(path, "rb") as f:
                data = f.read()
            self.eq(data, content, f"{where}: content")
        if target is not None:
            self.eq(os.readlink(path), target, f"{where}: symlink target")
        if rdev is not None:
            self.eq((os.major(st.st_rdev), os.minor(st.st_rdev)), rdev, f"{where}: device numbers")
        if xattrs is not None:
            for name, value in xattrs.items():
                try:
                    actual = os.getxattr(path, name, follow_symlinks=False)
                except OSError as error:
                    raise Failure(f"{where}: xattr {name}: {error.strerror}") from None
                self.eq(actual, value, f"{where}: xattr {name}")
        return st

    def same_inode(self, *rels, root=None):
        inodes = {rel: (s.st_dev, s.st_ino) for rel in rels for s in [self.lstat(rel, root)]}
        if len(set(inodes.values())) != 1:
            raise Failure(f"expected one inode (hardlinks) for {list(rels)}, got {inodes}")

    def trees_equal(self, a, b, **kw):
        problems = compare_trees(a, b, **kw)
        if problems:
            raise Failure("trees differ (A=%s, B=%s):\n  " % (a, b) + "\n  ".join(problems[:40]) +
                          (f"\n  ... {len(problems) - 40} more" if len(problems) > 40 else ""))

    def listing(self, rel="", root=None):
        """Sorted relative paths of everything under DIR/rel."""
        base = os.path.join(root or self.out, rel.lstrip("/"))
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            for name in dirnames + filenames:
                found.append(os.path.relpath(os.path.join(dirpath, name), base))
        return sorted(found)

    # --- sentinels: everything in the scratch directory except DIR and TMPDIR
    def sentinel(self):
        """Create SCRATCH/sentinel (a file, a nested file, a symlink) and DIR, and
        return a snapshot of the scratch directory outside DIR and TMPDIR."""
        s = self.path("sentinel")
        if not os.path.isdir(s):  # once per check; later calls just snapshot again
            os.makedirs(os.path.join(s, "dir"))
            for rel, text in (("file", "precious\n"), ("dir/inner", "also precious\n")):
                with open(os.path.join(s, rel), "w") as f:
                    f.write(text)
                os.chmod(os.path.join(s, rel), 0o644)
            os.symlink("file", os.path.join(s, "link"))
        os.makedirs(self.out, exist_ok=True)
        return self.outside_snapshot()

    def fresh_out(self):
        """Empty DIR (it stays, so that the scratch directory's own times do not change)."""
        if os.path.lexists(self.out):
            for name in os.listdir(self.out):
                path = os.path.join(self.out, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    _rmtree(path)
                else:
                    os.unlink(path)

    def outside_snapshot(self):
        snap = snapshot_tree(self.scratch)
        skip = ("/" + os.path.basename(self.out), "/" + os.path.basename(self.tmp))
        snap = {k: v for k, v in snap.items()
                if not any(k == s or k.startswith(s + "/") for s in skip)}
        # The scratch directory is DIR's parent: a run into an empty DIR
        # builds the tree in a sibling and renames it, which moves the
        # parent's times. Its listing (the snapshot's keys) must not change.
        if "/" in snap:
            snap["/"] = {k: v for k, v in snap["/"].items() if k not in ("mtime", "ctime")}
        return snap

    def outside_unchanged(self, before):
        changes = diff_snapshots(before, self.outside_snapshot())
        if changes:
            raise Failure("something outside DIR changed:\n  " + "\n  ".join(changes[:30]))

    def tmp_empty(self, tmpdir=None):
        left = os.listdir(tmpdir or self.tmp)
        if left:
            raise Failure(f"TMPDIR not empty afterwards: {left}")


def describe_type(st):
    return _type_name(st.st_mode)


class Suite:
    def __init__(self, name):
        self.name = name
        self.checks = []
        self.base = os.environ.get("E2E_TMP") or tempfile.gettempdir()

    def check(self, name):
        def register(fn):
            self.checks.append((name, fn))
            return fn
        return register

    def main(self, setup=None):
        """Run every registered check; print one line each and the summary."""
        global UNDOCKER
        UNDOCKER = undocker_binary()
        if os.geteuid() != 0:
            return skip_suite("the suites run as root (owners, device nodes, bwrap --cap-add ALL)")
        if shutil.which("bwrap") is None:
            return skip_suite("bubblewrap (bwrap) is not installed; the suite only runs the binary jailed")
        if setup:
            reason = setup()
            if reason:
                return skip_suite(reason)
        only = os.environ.get("E2E_ONLY")
        passed = failed = skipped = 0
        for name, fn in self.checks:
            if only and only not in name:
                continue
            check = Check(self, name)
            try:
                fn(check)
            except Skip as why:
                skipped += 1
                print(f"skip {name}: {why}")
                for path in check.directories():
                    _rmtree(path)
            except Failure as why:
                failed += 1
                print(f"FAIL {name}: scratch kept in {' and '.join(check.directories())}")
                for line in str(why).splitlines():
                    print("     " + line)
            except Exception:
                failed += 1
                print(f"FAIL {name}: exception in the test, scratch kept in {' and '.join(check.directories())}")
                for line in traceback.format_exc().splitlines():
                    print("     " + line)
            else:
                passed += 1
                print(f"ok   {name}")
                if os.environ.get("E2E_KEEP"):
                    print(f"     scratch kept in {' and '.join(check.directories())} (E2E_KEEP)")
                else:
                    for path in check.directories():
                        _rmtree(path)
            sys.stdout.flush()
        print(closing_line(passed, failed, skipped))
        if failed:
            return 1
        if passed == 0 and skipped:
            return SKIP
        return 0


def closing_line(passed, failed, skipped=0, reason=None):
    """`N passed, M failed`, then the skips: a run where nothing ran says so."""
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    if passed == 0 and failed == 0:
        line += (": all skipped" + (f": {reason}" if reason else "")) if skipped or reason else ": nothing ran"
    return line


def skip_suite(reason):
    """The whole suite cannot run here: say why, and exit 77 (meson: SKIP)."""
    print(f"SKIP: {reason}")
    print(closing_line(0, 0, reason=reason))
    return SKIP


def main_sharing_work(suite, setup, work, kept="trees"):
    """suite.main(setup) for a suite whose checks share one directory besides
    their own (work(): its path, made by setup; None before): removed when
    nothing failed, kept and its path printed when something did."""
    code = suite.main(setup)
    directory = work()
    if directory and os.path.isdir(directory):
        if code in (0, SKIP):
            _rmtree(directory)
        else:
            print(f"{kept} kept in {directory}")
    return code


def _rmtree(path):
    def unlock(func, p, _exc):  # read-only directories from an archive
        try:
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o755) if os.path.isdir(p) and not os.path.islink(p) else None
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=unlock)


UNDOCKER = None
