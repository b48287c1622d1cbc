"""The Debian test image of test_debian_rootfs.py: a real root filesystem
from debootstrap, in four layers that hold every case of SPEC section 3, made
with the tools that make real images (umoci builds an OCI layout, skopeo
writes the archives undocker reads).

  1. base     debootstrap --variant=minbase --include=iputils-ping,libcap2-bin
              bookworm (umoci repack): merged /usr (bin -> usr/bin, lib ->
              usr/lib, lib64 -> usr/lib64), absolute symlinks (var/run ->
              /run, var/lock -> /run/lock), hardlink groups (perl, gunzip),
              setuid binaries, sticky /tmp, device nodes in /dev, and
              /usr/bin/ping with security.capability (cap_net_raw=ep, set by
              iputils-ping's postinst, recorded by umoci as
              SCHILY.xattr.security.capability)
  2. run      a RUN step (umoci repack --refresh-bundle): docs, man pages,
              locales and apt caches deleted (umoci writes the whiteouts; one
              name of the gunzip hardlink group goes), shell profiles
              overwritten, /opt/app added with a hardlink group
  3. fidelity written here with tarfile (+ GNU tar for sparse members) and
              added with `umoci raw add-layer`: paths through lower symlinks
              (lib/, var/lock/ -> /run/lock) and through a symlink of this
              layer (lib64 replaced by the absolute /usr/lib64), a file over
              the symlink etc/os-release, type changes, hardlinks to lower and
              to this layer's files, PAX 0.0 / 0.1 / 1.0 sparse files, xattrs
              (user.*, trusted.*, security.capability), setuid / setgid with
              non-root owners, sticky bits, devices, a FIFO, symlink mtimes,
              nested read-only directories and a directory entry after its
              children
  4. later    also hand-written: overwrites and a whiteout of layer 3's
              hardlink targets, a directory over the absolute symlink
              var/lock, an opaque directory, writes through layer 3's lib64,
              a child added below layer 3's read-only directories

The old GNU sparse format ('S') is not in the image: umoci 0.4.7 refuses it
("unknown typeflag"); test_fidelity.py covers it.

Everything is cached under UNDOCKER_TEST_CACHE (default
/var/cache/undocker-tests), written to a temporary name and renamed when
complete, under a lock:

  rootfs-bookworm-minbase-KEY.tar   the debootstrap tree (GNU tar, pax, xattrs,
                                    numeric owners); KEY hashes suite, variant,
                                    package list and architecture
  debian-image-KEY/                 oci/ (umoci's layout, tag "debian"),
                                    docker.tar (skopeo docker-archive),
                                    oci-gzip.tar (skopeo oci-archive),
                                    image.json; KEY also hashes this file,
                                    sparse_members.py and the tool versions

debootstrap uses the bookworm mirror of /etc/apt/sources.list* (or
DEBIAN_MIRROR) and is tried twice (a mirror's hiccup); a second failure
raises BuildError with the tail of its log, and so does any other step.
image(), for the suites, builds or finds it once per process and turns a
BuildError into common.Failure; suite_work() is what their setup() shares.
"""
import fcntl
import glob
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import sparse_members  # noqa: E402

CACHE = os.environ.get("UNDOCKER_TEST_CACHE") or "/var/cache/undocker-tests"
SUITE, VARIANT = "bookworm", "minbase"
INCLUDE = ("iputils-ping", "libcap2-bin")
TAG = "debian"
TOOLS = ("debootstrap", "umoci", "skopeo", "tar", "chroot")

T3 = 1_700_000_000  # mtimes of layer 3's entries
T4 = 1_700_100_000  # and of layer 4's

# security.capability values (VFS_CAP_REVISION_2 with the effective flag):
# permitted bit 13 = cap_net_raw, bit 10 = cap_net_bind_service.
CAP_NET_RAW_EP = bytes.fromhex("0100000200200000000000000000000000000000")
CAP_NET_BIND_EP = bytes.fromhex("0100000200040000000000000000000000000000")

# The sparse files of layer 3: leading, middle and trailing holes, more than
# four segments (past what an old GNU header holds).
SPARSE_SIZE = 4 << 20
SPARSE_SEGMENTS = [(256 << 10, 4096), (512 << 10, 8192), (1 << 20, 512), (1536 << 10, 4096),
                   (2 << 20, 4096), (3 << 20, 16384)]
SPARSE_FILES = {kind: f"var/lib/undocker/sparse-pax-{kind}" for kind in ("0.0", "0.1", "1.0")}

# Paths whose package content layers 2-4 change on purpose (dpkg --verify
# reports them); everything else must verify.
CHANGED_PATHS = ("/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/locale",
                 "/usr/share/lintian", "/var/cache/apt", "/var/lib/apt/lists", "/usr/bin/uncompress",
                 "/etc/bash.bashrc", "/etc/profile", "/etc/skel/.bashrc", "/etc/os-release", "/etc/motd",
                 "/etc/update-motd.d", "/etc/issue.net", "/usr/local/games", "/etc/apt/apt.conf.d",
                 "/etc/passwd")


class BuildError(Exception):
    pass


def log(message):
    print(f"     [debian image {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def missing_tools():
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def run(command, what=None, log_path=None, timeout=1200):
    """Run command; BuildError with the tail of its output (or log) on failure."""
    try:
        if log_path:
            with open(log_path, "wb") as out:
                proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
            with open(log_path, "rb") as f:
                output = f.read()
        else:
            proc = subprocess.run(command, capture_output=True, timeout=timeout)
            output = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what or command[0]}: timed out after {timeout}s: {' '.join(command)}") from None
    if proc.returncode != 0:
        tail = "\n".join(output.decode("utf-8", "replace").splitlines()[-30:])
        where = f" (log: {log_path})" if log_path else ""
        raise BuildError(f"{what or command[0]} failed, exit {proc.returncode}{where}: {' '.join(command)}\n{tail}")
    return output.decode("utf-8", "replace")


# ------------------------------------------------------------- the mirror

def debian_mirror():
    """The first URI of a bookworm source in /etc/apt/sources.list* (one-line
    .list or deb822 .sources) that is not the security archive, unless
    DEBIAN_MIRROR says otherwise; else deb.debian.org."""
    if os.environ.get("DEBIAN_MIRROR"):
        return os.environ["DEBIAN_MIRROR"]
    candidates = []
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for line in lines:
            match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match:
                candidates.append((match.group(1), [match.group(2)]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in open(path).read().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith((" ", "#")):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []):
                for uri in fields.get("uris", []):
                    candidates.append((uri, fields.get("suites", [])))
    for uri, suites in candidates:
        if SUITE in suites and not uri.rstrip("/").endswith("-security"):
            return uri
    return "http://deb.debian.org/debian"


# ------------------------------------------------------------ the cache

def _digest(*parts):
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip() or "amd64"


def rootfs_key():
    return _digest("rootfs v1", SUITE, VARIANT, ",".join(sorted(INCLUDE)), _arch())


def image_key():
    sources = b"".join(open(os.path.join(HERE, name), "rb").read()
                       for name in ("debian_image.py", "sparse_members.py"))
    versions = [run([tool, "--version"]).strip() for tool in ("umoci", "skopeo")]
    return _digest("image v1", rootfs_key(), sources, *versions)


class _Lock:
    """An exclusive flock on CACHE/lock: one builder at a time (two builds of
    the project may run their suites at once)."""

    def __enter__(self):
        os.makedirs(CACHE, exist_ok=True)
        self.fd = os.open(os.path.join(CACHE, "lock"), os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _rmtree(path):
    if os.path.lexists(path):
        shutil.rmtree(path, ignore_errors=True)


def ensure_rootfs_tarball():
    """The debootstrap tree as a tarball, made once (a few minutes) and reused."""
    key = rootfs_key()
    tarball = os.path.join(CACHE, f"rootfs-{SUITE}-{VARIANT}-{key}.tar")
    if os.path.isfile(tarball):
        return tarball
    mirror = debian_mirror()
    root = os.path.join(CACHE, f"debootstrap-{key}.tmp")
    log_path = os.path.join(CACHE, f"debootstrap-{key}.log")
    _rmtree(root)
    log(f"debootstrap --variant={VARIANT} --include={','.join(INCLUDE)} {SUITE} from {mirror} "
        f"(a few minutes; log {log_path})")
    started = time.monotonic()
    try:
        command = ["debootstrap", f"--variant={VARIANT}", f"--include={','.join(INCLUDE)}", SUITE, root, mirror]
        try:
            run(command, "debootstrap", log_path=log_path, timeout=1800)
        except BuildError as error:
            # One more try for a mirror that hiccuped; a second failure is the test's.
            log(f"debootstrap failed, trying once more in 10 s:\n{error}")
            time.sleep(10)
            _rmtree(root)
            run(command, "debootstrap (second try)", log_path=log_path, timeout=1800)
        # iputils-ping's postinst gives ping cap_net_raw with setcap when
        # libcap2-bin is configured first (it is, as a dependency order of
        # debootstrap); the test needs the capability in the base layer.
        caps = run(["chroot", root, "/usr/sbin/getcap", "/usr/bin/ping"], "getcap in the debootstrap tree")
        if "cap_net_raw" not in caps:
            raise BuildError(f"debootstrap left /usr/bin/ping without cap_net_raw (getcap: {caps.strip()!r})")
        partial = tarball + ".tmp"
        run(["tar", "-C", root, "--xattrs", "--xattrs-include=*", "--numeric-owner", "--format=posix",
             "--pax-option=delete=atime,delete=ctime", "-cf", partial, "."], "tar of the debootstrap tree")
        os.rename(partial, tarball)
    finally:
        _rmtree(root)
    log(f"debootstrap tree cached in {tarball} ({time.monotonic() - started:.0f} s)")
    return tarball


def ensure_image():
    """The image's directory in the cache (built when absent) and its description."""
    with _Lock():
        key = image_key()
        directory = os.path.join(CACHE, f"debian-image-{key}")
        description = os.path.join(directory, "image.json")
        if not os.path.isfile(description):
            tarball = ensure_rootfs_tarball()
            for stale in glob.glob(os.path.join(CACHE, "debian-image-*")):
                if stale != directory:
                    _rmtree(stale)
            _build_image(tarball, directory)
        with open(description) as f:
            image = json.load(f)
    image["dir"] = directory
    for name in ("layout", "docker_archive", "oci_archive"):
        image[name] = os.path.join(directory, image[name])
    return image


_image = None  # what image() answered first


def image():
    """ensure_image() once per process, for a suite's checks: a BuildError
    fails the check that asked, with the build's words."""
    global _image
    if _image is None:
        try:
            _image = ensure_image()
        except BuildError as error:
            raise common.Failure(str(error)) from None
    return _image


def suite_work(suite):
    """For the setup() of a suite built on the image: (None, why it skips)
    when a tool is missing, else (the directory its checks share, None):
    undocker-e2e-NAME-* under suite.base, with an empty tmp/ for undocker's
    TMPDIR."""
    missing = missing_tools()
    if missing:
        return None, f"{', '.join(missing)} not installed (bash .ci/install-deps installs them)"
    work = tempfile.mkdtemp(prefix=f"undocker-e2e-{suite.name}-", dir=suite.base)
    os.makedirs(os.path.join(work, "tmp"))
    return work, None


def _build_image(tarball, directory):
    started = time.monotonic()
    work = directory + ".tmp"
    _rmtree(work)
    os.makedirs(work)
    layout, bundle = os.path.join(work, "oci"), os.path.join(work, "bundle")
    image = f"{layout}:{TAG}"
    rootfs = os.path.join(bundle, "rootfs")
    log("layer 1: the debootstrap tree (umoci repack)")
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", image])
    run(["umoci", "unpack", "--image", image, bundle])
    run(["tar", "-C", rootfs, "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", tarball],
        "untar of the debootstrap tree")
    run(["umoci", "repack", "--refresh-bundle", "--image", image,
         "--history.created_by", f"debootstrap --variant={VARIANT} --include={','.join(INCLUDE)} {SUITE}", bundle])
    log("layer 2: a RUN step (umoci repack)")
    run_step(rootfs)
    run(["umoci", "repack", "--refresh-bundle", "--image", image,
         "--history.created_by", "RUN rm -rf docs caches; install app", bundle])
    check_lower_tree(rootfs)
    with open(os.path.join(rootfs, "etc/passwd"), "rb") as f:
        passwd = f.read()
    log("layers 3 and 4: hand-written (umoci raw add-layer)")
    for name, data in (("layer3.tar", fidelity_layer()), ("layer4.tar", later_layer(passwd))):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(data)
        run(["umoci", "raw", "add-layer", "--image", image, "--history.created_by", f"COPY {name}", path])
    _rmtree(bundle)
    run(["umoci", "config", "--image", image, "--config.cmd", "/bin/sh", "--config.workingdir", "/",
         "--config.env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
         "--history.created_by", "CMD /bin/sh"])
    run(["umoci", "gc", "--layout", layout])
    log("archives (skopeo copy)")
    run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{image}",
         f"docker-archive:{work}/docker.tar:debian:test"], "skopeo copy to docker-archive")
    run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{image}",
         f"oci-archive:{work}/oci-gzip.tar:debian:test"], "skopeo copy to oci-archive")
    with open(os.path.join(work, "image.json"), "w") as f:
        json.dump({"layout": "oci", "tag": TAG, "docker_archive": "docker.tar", "oci_archive": "oci-gzip.tar",
                   "layers": 4, "built_seconds": round(time.monotonic() - started, 1)}, f)
    _rmtree(directory)
    os.rename(work, directory)
    log(f"image cached in {directory} ({time.monotonic() - started:.0f} s)")


# ------------------------------------------------------------ layer 2

def run_step(root):
    """What a Dockerfile RUN would change, made on the unpacked rootfs."""
    for rel in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
                "var/cache/apt", "var/lib/apt/lists"):
        where = os.path.join(root, rel)
        if not os.path.isdir(where):
            continue
        for name in sorted(os.listdir(where)):
            if (rel, name) in (("usr/share/locale", "locale.alias"), ("var/lib/apt/lists", "partial")):
                continue
            path = os.path.join(where, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    os.unlink(os.path.join(root, "usr/bin/uncompress"))  # one name of the gunzip hardlink group
    for rel in ("etc/bash.bashrc", "etc/profile", "etc/skel/.bashrc"):
        with open(os.path.join(root, rel), "ab") as f:
            f.write(b"\n# changed by the test image's RUN step\nexport UNDOCKER_TEST=1\n")
    app = os.path.join(root, "opt/app")
    for index in range(40):
        sub = os.path.join(app, "lib", f"pkg{index % 8}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"module{index}.py"), "w") as f:
            f.write(f"# module {index}\nVALUE = {index * 7919}\n" * (index + 1))
    os.makedirs(os.path.join(app, "bin"))
    tool = os.path.join(app, "bin/app")
    with open(tool, "w") as f:
        f.write("#!/bin/sh\necho app\n")
    os.chmod(tool, 0o755)
    os.link(tool, os.path.join(app, "bin/app-cli"))


# ------------------------------------------------------- layers 3 and 4

# What layers 3 and 4 expect below them, so that a change in Debian cannot
# quietly turn a type change or a path through a symlink into a plain write.
LOWER_TREE = {"lib": ("symlink", "usr/lib"), "bin": ("symlink", "usr/bin"), "lib64": ("symlink", "usr/lib64"),
              "var/lock": ("symlink", "/run/lock"), "run/lock": ("dir", None),
              "etc/os-release": ("symlink", "../usr/lib/os-release"), "usr/lib/os-release": ("file", None),
              "etc/motd": ("file", None), "etc/update-motd.d": ("dir", None), "etc/issue.net": ("file", None),
              "usr/local/games": ("dir", None), "usr/bin/perl": ("file", None), "usr/bin/dash": ("file", None),
              "etc/passwd": ("file", None), "etc/apt/apt.conf.d": ("dir", None), "var/spool": ("dir", None),
              "usr/lib64/ld-linux-x86-64.so.2": ("symlink", None)}


def check_lower_tree(root):
    for rel, (kind, target) in LOWER_TREE.items():
        path = os.path.join(root, rel)
        actual = ("symlink" if os.path.islink(path) else "dir" if os.path.isdir(path)
                  else "file" if os.path.isfile(path) else "absent")
        if actual != kind or (target is not None and os.readlink(path) != target):
            raise BuildError(f"the Debian tree below layer 3 has /{rel} as {actual}"
                             f"{' -> ' + os.readlink(path) if actual == 'symlink' else ''}, expected {kind}"
                             f"{' -> ' + target if target else ''}: update debian_image.py")

class _Tar:
    """A PAX layer written in the order of the calls; parents are not added."""

    def __init__(self):
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)

    def _add(self, name, kind, mode, mtime, uid=0, gid=0, data=b"", linkname="", xattrs=None, pax=None,
             devmajor=0, devminor=0):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, mtime, uid, gid
        info.linkname, info.devmajor, info.devminor = linkname, devmajor, devminor
        headers = dict(pax or {})
        for key, value in (xattrs or {}).items():
            # tarfile encodes PAX values as UTF-8 with surrogateescape: raw bytes survive
            headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
        info.pax_headers = headers
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        self.tar.addfile(info, io.BytesIO(data) if info.size else None)
        return self

    def dir(self, name, mode=0o755, mtime=T3, **kw):
        return self._add(name + "/", tarfile.DIRTYPE, mode, mtime, **kw)

    def file(self, name, data, mode=0o644, mtime=T3, **kw):
        return self._add(name, tarfile.REGTYPE, mode, mtime, data=data if isinstance(data, bytes) else data.encode(),
                         **kw)

    def symlink(self, name, target, mtime=T3, **kw):
        return self._add(name, tarfile.SYMTYPE, 0o777, mtime, linkname=target, **kw)

    def hardlink(self, name, target, mtime=T3, **kw):
        return self._add(name, tarfile.LNKTYPE, 0o644, mtime, linkname=target, **kw)

    def chardev(self, name, major, minor, mode=0o666, mtime=T3, **kw):
        return self._add(name, tarfile.CHRTYPE, mode, mtime, devmajor=major, devminor=minor, **kw)

    def blockdev(self, name, major, minor, mode=0o660, mtime=T3, **kw):
        return self._add(name, tarfile.BLKTYPE, mode, mtime, devmajor=major, devminor=minor, **kw)

    def fifo(self, name, mode=0o620, mtime=T3, **kw):
        return self._add(name, tarfile.FIFOTYPE, mode, mtime, **kw)

    def whiteout(self, name, mtime=T4):
        parent, _, base = name.rpartition("/")
        return self.file(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"", mtime=mtime)

    def raw(self, member_bytes):
        sparse_members.append_member(self.tar, member_bytes)
        return self

    def bytes(self):
        self.tar.close()
        return self.buffer.getvalue()


HELLO = b"#!/bin/sh\necho hello from the undocker test image\n"


def fidelity_layer():
    t = _Tar()
    # Paths through symlinks of the base layer: lib -> usr/lib (relative),
    # var/lock -> /run/lock (absolute); the parent resolves inside the root.
    t.dir("lib/undocker", mtime=T3 + 1).file("lib/undocker/via-lib.txt", "written as lib/undocker/via-lib.txt\n")
    t.file("var/lock/undocker.lock", "written as var/lock/undocker.lock\n", mtime=T3 + 2)
    t.file("bin/undocker-hello", HELLO, mode=0o755)
    # A symlink replaced by a symlink (the last component is replaced, never
    # followed), then used as a parent in this layer: the absolute lib64
    # must still find the dynamic loader in a chroot.
    t.symlink("lib64", "/usr/lib64", mtime=T3 + 3)
    t.file("lib64/undocker-abs.txt", "written as lib64/undocker-abs.txt\n")
    # A file over a symlink: the link goes, its target (usr/lib/os-release) stays.
    t.file("etc/os-release", 'PRETTY_NAME="undocker test image"\nID=undocker-test\n')
    # Type changes: file -> dir, dir -> file, file -> symlink, dir -> symlink.
    t.dir("etc/motd", mode=0o750, mtime=T3 + 4).file("etc/motd/README", "the motd is a directory now\n")
    t.file("etc/update-motd.d", "# a file where a directory was\n", mode=0o600, mtime=T3 + 5)
    t.symlink("etc/issue.net", "issue", mtime=T3 + 6)
    t.symlink("usr/local/games", "../games", mtime=T3 + 7)
    # Hardlinks: to a lower layer's file (the perl group grows to three), to
    # files of this layer and of lower layers that layer 4 overwrites or
    # whites out.
    t.dir("usr/local/share/undocker", mtime=T3 + 8)
    t.hardlink("usr/local/bin/perl-hardlink", "usr/bin/perl")
    t.hardlink("usr/local/bin/dash-via-bin", "bin/dash")  # the target's path crosses bin -> usr/bin
    t.dir("etc/undocker", mode=0o750, mtime=T3 + 9)
    t.file("etc/undocker/config", "config as layer 3 wrote it\n", mode=0o640, gid=50)
    t.hardlink("usr/local/share/undocker/config.layer3", "etc/undocker/config")
    t.hardlink("usr/local/share/undocker/passwd.layer3", "etc/passwd")
    t.file("etc/undocker/legacy", "legacy data of layer 3\n")
    t.hardlink("usr/local/share/undocker/legacy.layer3", "etc/undocker/legacy")
    # Sparse files, PAX 0.0, 0.1 and 1.0 (GNU tar writes them).
    t.dir("var/lib/undocker", mtime=T3 + 10)
    for kind, name in SPARSE_FILES.items():
        t.raw(sparse_members.sparse_member(kind, name, SPARSE_SIZE, SPARSE_SEGMENTS, T3 + 11, mode=0o640, gid=50))
    # Extended attributes from SCHILY.xattr.*.
    t.file("usr/local/bin/undocker-cap", HELLO, mode=0o755,
           xattrs={"security.capability": CAP_NET_BIND_EP, "user.undocker": b"layer 3",
                   "trusted.undocker": b"\x00\x01binary\xff"})
    t.dir("srv/xattr-dir", mtime=T3 + 12, xattrs={"user.dir": b"on a directory", "trusted.dir": b"t"})
    t.symlink("srv/xattr-dir/link", "../dropbox", mtime=T3 + 13, xattrs={"trusted.link": b"on the link itself"})
    # setuid / setgid with owners other than root (chmod after chown), sticky bits.
    t.file("usr/local/bin/suid-helper", HELLO, mode=0o4755, uid=1000, gid=1000)
    t.file("usr/local/bin/sgid-helper", HELLO, mode=0o2755, gid=50)
    t.file("usr/local/bin/suid-sgid", HELLO, mode=0o6750, uid=0, gid=42)
    t.dir("srv/shared", mode=0o2775, gid=50, mtime=T3 + 14)
    t.dir("srv/dropbox", mode=0o1777, mtime=T3 + 15)
    t.dir("srv/sticky-setgid", mode=0o3770, uid=1000, gid=50, mtime=T3 + 16)
    # Devices and a FIFO.
    t.chardev("dev/undocker-null", 1, 3, mtime=T3 + 17)
    t.blockdev("dev/undocker-loop7", 7, 7, gid=6, mtime=T3 + 18)
    t.fifo("var/spool/undocker.fifo", mtime=T3 + 19, uid=1000)
    # Symlink mtimes, one with nanoseconds.
    t.symlink("usr/local/bin/undocker-link", "../../bin/undocker-hello", mtime=T3 + 20,
              pax={"mtime": f"{T3 + 20}.123456789"})
    # Directory metadata last, deepest first: read-only directories receive
    # their children after their own entries; a directory's entry after its
    # children still sets its metadata.
    t.dir("srv/tree", mode=0o555, mtime=T3 + 21).dir("srv/tree/a", mode=0o500, mtime=T3 + 22)
    t.dir("srv/tree/a/b", mode=0o700, uid=1000, mtime=T3 + 23)
    t.file("srv/tree/a/b/f", "deep\n", mtime=T3 + 24).file("srv/tree/a/g", "g\n", mode=0o400, mtime=T3 + 25)
    t.dir("srv/late/sub", mtime=T3 + 26).file("srv/late/sub/x", "x\n").dir("srv/late", mode=0o751, mtime=T3 + 27)
    t.dir("home/app", mode=0o700, uid=1000, gid=1000, mtime=T3 + 28)
    t.file("home/app/.profile", "PATH=$HOME/bin:$PATH\n", uid=1000, gid=1000)
    # srv's own entry, last: umoci 0.4.7 gives a directory the time of
    # extraction when a new subdirectory appears in it implicitly (srv/late
    # for srv/late/sub) and the layer has no entry for it; undocker keeps the
    # mtime of its last entry. With an entry, both apply the entry's.
    t.dir("srv", mtime=T3 + 29)
    return t.bytes()


def later_layer(passwd):
    t = _Tar()
    # Overwrite a hardlink's target of layer 3 and one of layer 1 (etc/passwd),
    # white out another: the links keep what their target held in layer 3.
    t.file("etc/undocker/config", "config as layer 4 wrote it\n", mode=0o640, gid=50, mtime=T4)
    t.file("etc/passwd", passwd + b"app:x:1000:1000:app:/home/app:/bin/sh\n", mtime=T4 + 1)
    t.whiteout("etc/undocker/legacy")
    # A directory over var/lock -> /run/lock: the link is replaced, /run/lock
    # (with layer 3's undocker.lock) is untouched.
    t.dir("var/lock", mode=0o1777, mtime=T4 + 2).file("var/lock/layer4", "a file in the new var/lock\n")
    # An opaque directory.
    t.dir("etc/apt/apt.conf.d", mtime=T4 + 3).file("etc/apt/apt.conf.d/.wh..wh..opq", b"", mode=0)
    t.file("etc/apt/apt.conf.d/90undocker", 'APT::Install-Recommends "false";\n', mtime=T4 + 4)
    # Through layer 3's absolute lib64, and below layer 3's read-only
    # directories without entries for them (their metadata stays layer 3's).
    t.file("lib64/undocker-layer4.txt", "written as lib64/undocker-layer4.txt by layer 4\n", mtime=T4 + 5)
    t.file("srv/tree/a/b/new", "added by layer 4\n", mtime=T4 + 6)
    return t.bytes()


if __name__ == "__main__":
    # Build (or find) the image and print its description.
    missing = missing_tools()
    if missing:
        sys.exit(f"missing: {', '.join(missing)}")
    print(json.dumps(ensure_image(), indent=2))
