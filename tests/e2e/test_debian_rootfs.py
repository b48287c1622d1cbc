#!/usr/bin/env python3
"""A real Debian root filesystem, unpacked by undocker, equals what umoci
unpacks from the same image, and works.

The image (debian_image.py): debootstrap --variant=minbase bookworm with
iputils-ping and libcap2-bin, in 4 layers made with umoci (two repacks of a
changed rootfs, two hand-written layers with every case of SPEC section 3
except old GNU sparse files), written by skopeo as a docker-archive and an
oci-archive (gzip layers). debootstrap runs once; the tree and the image are
cached in /var/cache/undocker-tests (UNDOCKER_TEST_CACHE), keyed by what they
are made from.

For the comparisons: umoci unpack --image LAYOUT:debian BUNDLE (as root,
not jailed: a trusted tool on a trusted image), then undocker (jailed in
bwrap) and treecmp BUNDLE/rootfs OUT on every field: path, type, mode, owner,
size, content, link target, hardlink group, xattrs and mtime in ns, the
root included (layer 1 has a './' entry). Then the tree is used: a shell,
id, ls and getcap run in it (chroot, itself jailed), dpkg --verify checks
every package file the image does not change on purpose, and one check per
SPEC item asserts the entries that the image put there for it.

usage: test_debian_rootfs.py UNDOCKER
Time on 2 cores: about a minute with debootstrap (more on a slow mirror),
about 35 s with the cache (45 s for the ASan build's binary).
Exit 77 (skip) only when not root or a tool is missing (debootstrap, umoci,
skopeo, bwrap); a debootstrap failure (e.g. the mirror unreachable) fails,
with the end of its log.
"""
import json
import os
import re
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Suite, Failure, main_sharing_work, run_undocker, compare_trees, _rmtree  # noqa: E402
import debian_image  # noqa: E402
from debian_image import (T3, T4, CAP_NET_RAW_EP, CAP_NET_BIND_EP, SPARSE_FILES, SPARSE_SIZE,  # noqa: E402
                          SPARSE_SEGMENTS)
import sparse_members  # noqa: E402

suite = Suite("debian")


class State:
    """What the checks share: the image, umoci's tree, undocker's tree."""
    image = None
    build_error = None
    work = None          # one scratch directory for the big trees (removed when every check passed)
    reference = None     # umoci's rootfs
    out = None           # undocker's tree from the docker-archive


def setup():
    if os.geteuid() != 0:
        return "needs root (debootstrap, umoci unpack, owners and device nodes)"
    State.work, skip = debian_image.suite_work(suite)
    return skip


def image():
    if State.image is None:
        raise Failure(f"no image: {State.build_error or 'the build did not run'}")
    return State.image


def sh(command, what=None, timeout=600):
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise Failure(f"{what or command[0]}: exit {proc.returncode}: {' '.join(command)}\n"
                      f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


def undocker(args, env=None):
    """undocker jailed in bwrap, with State.work the only writable directory."""
    result = run_undocker(args, State.work, env=env, tmpdir=os.path.join(State.work, "tmp"), timeout=900)
    if result.rc != 0:
        raise Failure(f"undocker failed\n{result.describe()}")
    if os.listdir(os.path.join(State.work, "tmp")):
        raise Failure(f"TMPDIR not empty after undocker: {os.listdir(os.path.join(State.work, 'tmp'))}")
    return result


def fresh(name):
    path = os.path.join(State.work, name)
    _rmtree(path)
    return path


def trees_equal(a, b, label):
    problems = compare_trees(a, b)
    if problems:
        raise Failure(f"{label}: {len(problems)} differences (A={a}, B={b}):\n  " + "\n  ".join(problems[:60]) +
                      (f"\n  ... {len(problems) - 60} more" if len(problems) > 60 else ""))


def need_out():
    if State.out is None:
        raise Failure("no undocker tree (see docker_archive_equals_umoci_unpack)")
    return State.out


def in_jailed_chroot(root, script):
    """Run /bin/sh -c script in root with chroot, inside bwrap (host read-only,
    root writable, no network), with a clean environment."""
    # --dev-bind: the tree's own device nodes (/dev/null) must work in it.
    command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--dev-bind", root, root,
               "--unshare-net", "--cap-add", "ALL", "--", "chroot", root, "/usr/bin/env", "-i",
               "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
               "/bin/sh", "-c", script]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------ the image


@suite.check("debian_image_built (debootstrap tree and 4-layer image, cached)")
def _(t):
    try:
        State.image = debian_image.ensure_image()
    except debian_image.BuildError as error:
        State.build_error = str(error).splitlines()[0]
        raise Failure(str(error)) from None
    print(f"     image {State.image['dir']} (built in {State.image['built_seconds']} s when it was made)")


@suite.check("base_layer_records_security_capability (umoci wrote SCHILY.xattr for /usr/bin/ping)")
def _(t):
    with tarfile.open(image()["docker_archive"], "r:") as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        layers = manifest[0]["Layers"]
        t.eq(len(layers), 4, "layers in the docker-archive")
        found = None
        with tarfile.open(fileobj=outer.extractfile(layers[0]), mode="r|") as base:
            for member in base:
                if member.name.lstrip("./") == "usr/bin/ping":
                    found = member
                    break
        if found is None:
            raise Failure("usr/bin/ping is not in the base layer")
        value = found.pax_headers.get("SCHILY.xattr.security.capability")
        if value is None:
            raise Failure(f"usr/bin/ping has no SCHILY.xattr.security.capability record: {found.pax_headers}")
        t.eq(value.encode("utf-8", "surrogateescape"), CAP_NET_RAW_EP, "the base layer's ping capability")
        # Layer 3 carries the three PAX sparse encodings as GNU tar wrote them.
        kinds = {}
        with tarfile.open(fileobj=outer.extractfile(layers[2]), mode="r|") as fidelity:
            for member in fidelity:
                if member.sparse is not None:
                    pax = member.pax_headers
                    kinds[member.name] = ("1.0" if "GNU.sparse.major" in pax else "0.1" if "GNU.sparse.map" in pax
                                          else "0.0" if "GNU.sparse.offset" in pax else "?")
        t.eq(kinds, {name: kind for kind, name in SPARSE_FILES.items()}, "sparse members of layer 3")


@suite.check("docker_archive_equals_umoci_unpack (every field, the root included)")
def _(t):
    img = image()
    bundle = fresh("umoci-bundle")
    sh(["umoci", "unpack", "--image", f"{img['layout']}:{img['tag']}", bundle], "umoci unpack")
    State.reference = os.path.join(bundle, "rootfs")
    out = fresh("out-docker")
    result = undocker(["-v", "-f", img["docker_archive"], "-o", out])
    print(f"     undocker: {result.elapsed:.1f} s")
    State.out = out
    trees_equal(State.reference, out, "umoci unpack (A) vs undocker on the docker-archive (B)")


@suite.check("oci_archive_gzip_equals_umoci_unpack (compressed layers, streaming planner)")
def _(t):
    if State.reference is None:
        raise Failure("no umoci tree (see docker_archive_equals_umoci_unpack)")
    out = fresh("out-oci")
    result = undocker(["-f", image()["oci_archive"], "-o", out])
    print(f"     undocker: {result.elapsed:.1f} s")
    trees_equal(State.reference, out, "umoci unpack (A) vs undocker on the oci-archive (B)")
    _rmtree(out)


@suite.check("planner_equals_plain_order (UNDOCKER_NO_PLAN=1 on the Debian image)")
def _(t):
    out = fresh("out-plain")
    undocker(["-f", image()["docker_archive"], "-o", out], env={"UNDOCKER_NO_PLAN": "1"})
    trees_equal(need_out(), out, "planned (A) vs plain layer-by-layer application (B)")
    _rmtree(out)


@suite.check("one_run_per_layer_into_one_dir_equals_umoci (symlinks and files already in DIR)")
def _(t):
    if State.reference is None:
        raise Failure("no umoci tree (see docker_archive_equals_umoci_unpack)")
    out = fresh("out-by-layer")
    for index in range(4):
        undocker(["-f", image()["docker_archive"], "-o", out, "-l", str(index)])
    problems = compare_trees(State.reference, out)
    # A directory that an earlier run made from an entry and a later run
    # changes without an entry of its own keeps the entry's mtime: each run
    # puts back the mtimes of the directories from before it.
    if problems:
        raise Failure(f"umoci unpack (A) vs one undocker run per layer (B): {len(problems)} differences:\n  " +
                      "\n  ".join(problems[:60]))
    _rmtree(out)


# ------------------------------------------------------ the tree works


@suite.check("chroot_sh_id_ls_getcap (chroot OUT /bin/sh -c 'id && ls / && getcap /usr/bin/ping')")
def _(t):
    out = need_out()
    proc = in_jailed_chroot(out, "id && ls / && getcap /usr/bin/ping")
    if proc.returncode != 0:
        raise Failure(f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    lines = proc.stdout.splitlines()
    t.true(lines and re.match(r"uid=0\(root\) gid=0\(root\) groups=0\(root\)$", lines[0]),
           f"id printed {lines[:1]}, expected uid=0(root) gid=0(root) groups=0(root)")
    listed = set(lines[1:-1])
    for name in ("bin", "etc", "lib", "lib64", "usr", "var", "srv", "tmp"):
        t.true(name in listed, f"ls / does not list {name}: {sorted(listed)}")
    t.eq(lines[-1], "/usr/bin/ping cap_net_raw=ep", "getcap /usr/bin/ping")
    # Programs through layer 3's symlinks and hardlinks run too: the dynamic
    # loader through the absolute /lib64, a script through bin -> usr/bin,
    # perl through a hardlink to the base layer's file, ping itself.
    proc = in_jailed_chroot(out, "undocker-hello && undocker-link && perl-hardlink -e 'print 6*7, qq(\\n)' && "
                                 "dash-via-bin -c 'echo dash' && ping -V && cat /etc/os-release")
    if proc.returncode != 0:
        raise Failure(f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    lines = proc.stdout.splitlines()
    t.eq(lines[:4], ["hello from the undocker test image", "hello from the undocker test image", "42", "dash"],
         "output of the scripts")
    t.true(lines[4].startswith("ping from iputils"), f"ping -V printed {lines[4]!r}")
    t.true("ID=undocker-test" in lines, "/etc/os-release is not layer 3's file")


@suite.check("files_listing_equals_tree (--files --json of the docker-archive and of the gzip oci-archive)")
def _(t):
    # The same comparison test_inspect makes for every fixture: names, types,
    # modes, owners, sizes, link targets, hardlink groups, mtimes.
    from test_inspect import compare_listing
    img = image()
    out = need_out()
    for label, archive in (("docker-archive", img["docker_archive"]), ("oci-archive gzip", img["oci_archive"])):
        result = undocker(["-f", archive, "--files", "--json"])
        listing = [json.loads(line) for line in result.out_lines]
        compare_listing(t, listing, out, f"debian {label}")
        print(f"     {label}: {len(listing)} names, {result.elapsed:.2f} s")


@suite.check("cat_equals_tree (--cat of symlinked and sampled files, docker-archive and gzip oci-archive)")
def _(t):
    import random
    img = image()
    out = need_out()
    files = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs
                   if os.path.isfile(os.path.join(d, f)) and not os.path.islink(os.path.join(d, f)))
    # Through symlinks the image made (etc/os-release -> ../usr/lib/os-release,
    # bin -> usr/bin, sh -> dash), and a sample of every other file.
    paths = ["/etc/os-release", "/bin/sh", "/lib/undocker/via-lib.txt"] + ["/" + f for f in random.Random(14).sample(files, 20)]
    for label, archive in (("docker-archive", img["docker_archive"]), ("oci-archive gzip", img["oci_archive"])):
        for path in paths:
            proc = subprocess.run(common.JAIL + ["--", common.UNDOCKER, "-q", "-f", archive, "--cat", path],
                                  capture_output=True, timeout=300)
            t.eq(proc.returncode, 0, f"{label}: --cat {path}: exit ({proc.stderr[-300:]!r})")
            # These links are relative, so the host resolves them inside the tree.
            resolved = os.path.realpath(os.path.join(out, path.lstrip("/")))
            t.true(resolved.startswith(os.path.realpath(out) + "/"), f"{path} resolves outside the tree: {resolved}")
            with open(resolved, "rb") as f:
                t.true(proc.stdout == f.read(), f"{label}: --cat {path} differs from the extracted {resolved}")
    print(f"     {len(paths)} paths, both archives")


@suite.check("tar_stream_untarred_equals_umoci_unpack (--tar - | tar -x, docker-archive and gzip oci-archive)")
def _(t):
    img = image()
    reference = State.reference
    if reference is None:
        raise Failure("no umoci tree (see docker_archive_equals_umoci_unpack)")
    for label, archive in (("docker-archive", img["docker_archive"]), ("oci-archive gzip", img["oci_archive"])):
        out = fresh("out-untar")
        os.makedirs(out)
        stream = os.path.join(State.work, "stream.tar")
        # Both halves jailed: undocker writes the stream, GNU tar unpacks it.
        script = ('"$1" -f "$2" --tar "$3" && '
                  'tar -xpf "$3" --numeric-owner --xattrs --xattrs-include="*" -C "$4"')
        result = run_undocker(["-c", script, "stream", common.UNDOCKER, archive, stream, out], State.work,
                              binary="/bin/bash", tmpdir=os.path.join(State.work, "tmp"), timeout=900)
        if result.rc != 0:
            raise Failure(f"{label}: --tar | tar -x failed\n{result.describe()}")
        os.unlink(stream)
        trees_equal(reference, out, f"umoci unpack (A) vs --tar | tar -x of the {label} (B)")


@suite.check("dpkg_verify_untouched_packages (every package file the layers do not change)")
def _(t):
    out = need_out()
    proc = in_jailed_chroot(out, "dpkg --verify; echo exit=$?")
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("exit="):
        raise Failure(f"dpkg --verify did not run: exit {proc.returncode}\n"
                      f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    reported = [line for line in lines[:-1] if line.strip()]
    # "missing   c /etc/x (Not a directory)", "??5?????? c /etc/y": the first
    # absolute path; dpkg lists files by their names before merged /usr.
    paths = []
    for line in reported:
        path = next((word for word in line.split() if word.startswith("/")), "")
        for old, new in (("/bin/", "/usr/bin/"), ("/sbin/", "/usr/sbin/"), ("/lib/", "/usr/lib/"),
                         ("/lib64/", "/usr/lib64/")):
            if path.startswith(old):
                path = new + path[len(old):]
        paths.append(path)
    unexpected = [line for line, path in zip(reported, paths)
                  if not any(path == p or path.startswith(p + "/") for p in debian_image.CHANGED_PATHS)]
    if unexpected:
        raise Failure("dpkg --verify reports files the image does not change:\n  " + "\n  ".join(unexpected[:40]))
    # It did verify: the docs that layer 2 deleted are reported missing.
    t.true(any(p.startswith("/usr/share/doc/") for p in paths) and any(l.startswith("missing") for l in reported),
           f"dpkg --verify reported none of layer 2's deletions ({len(reported)} lines): it checked nothing?")
    if proc.stderr.strip():
        raise Failure(f"dpkg --verify wrote errors:\n{proc.stderr[-2000:]}")
    print(f"     dpkg --verify: {len(reported)} files reported, all below the paths the image changes")


# ----------------------------------- every item, on undocker's Debian tree

def at(rel):
    return os.path.join(need_out(), rel)


@suite.check("debian: symlink_parent_resolves_inside_root (lib -> usr/lib, var/lock -> /run/lock, lib64 -> /usr/lib64)")
def _(t):
    need_out()
    t.entry("lib", type="symlink", target="usr/lib", root=State.out)
    t.entry("usr/lib/undocker", type="dir", mtime=T3 + 1, root=State.out)
    t.entry("usr/lib/undocker/via-lib.txt", type="file", content="written as lib/undocker/via-lib.txt\n",
            root=State.out)
    t.entry("run/lock/undocker.lock", type="file", mtime=T3 + 2, root=State.out,
            content="written as var/lock/undocker.lock\n")
    t.entry("usr/bin/undocker-hello", type="file", mode=0o755, root=State.out)
    t.entry("lib64", type="symlink", target="/usr/lib64", mtime=T3 + 3, root=State.out)
    t.entry("usr/lib64/undocker-abs.txt", type="file", content="written as lib64/undocker-abs.txt\n", root=State.out)
    t.entry("usr/lib64/undocker-layer4.txt", type="file", mtime=T4 + 5, root=State.out,
            content="written as lib64/undocker-layer4.txt by layer 4\n")
    t.true(os.path.islink(at("usr/lib64/ld-linux-x86-64.so.2")), "the dynamic loader's link in /usr/lib64 is gone")
    # The last component is replaced, never followed.
    t.entry("etc/os-release", type="file", root=State.out)
    with open(at("usr/lib/os-release")) as f:
        t.true("bookworm" in f.read(), "usr/lib/os-release (the replaced link's target) was changed")


@suite.check("debian: dir_replaces_symlink_to_dir_target_untouched and file_dir_symlink_type_changes")
def _(t):
    need_out()
    t.entry("var/lock", type="dir", mode=0o1777, mtime=T4 + 2, root=State.out)
    t.eq(t.listing("var/lock", root=State.out), ["layer4"], "var/lock/ (layer 4's directory)")
    t.entry("run/lock", type="dir", mode=0o1777, root=State.out)
    t.eq(t.listing("run/lock", root=State.out), ["undocker.lock"], "run/lock/ (the old link's target)")
    t.entry("etc/motd", type="dir", mode=0o750, mtime=T3 + 4, root=State.out)
    t.entry("etc/motd/README", type="file", root=State.out)
    t.entry("etc/update-motd.d", type="file", mode=0o600, mtime=T3 + 5, root=State.out)
    t.entry("etc/issue.net", type="symlink", target="issue", mtime=T3 + 6, root=State.out)
    t.entry("usr/local/games", type="symlink", target="../games", mtime=T3 + 7, root=State.out)


@suite.check("debian: hardlink_to_lower_layer_file, hardlink_target_overwritten_later_keeps_content, "
             "hardlink_target_whited_out_later")
def _(t):
    need_out()
    t.same_inode("usr/bin/perl", "usr/bin/perl5.36.0", "usr/local/bin/perl-hardlink", root=State.out)
    t.same_inode("usr/bin/dash", "usr/local/bin/dash-via-bin", root=State.out)
    t.eq(t.lstat("usr/bin/perl", root=State.out).st_nlink, 3, "nlink of usr/bin/perl")
    t.entry("usr/local/share/undocker/config.layer3", content="config as layer 3 wrote it\n", root=State.out)
    t.entry("etc/undocker/config", content="config as layer 4 wrote it\n", root=State.out)
    t.eq(t.lstat("etc/undocker/config", root=State.out).st_nlink, 1, "nlink of layer 4's etc/undocker/config")
    with open(at("usr/local/share/undocker/passwd.layer3"), "rb") as f:
        old = f.read()
    with open(at("etc/passwd"), "rb") as f:
        new = f.read()
    t.true(old.startswith(b"root:x:0:0:") and b"app:x:1000" not in old, "passwd.layer3 is not the base passwd")
    t.eq(new, old + b"app:x:1000:1000:app:/home/app:/bin/sh\n", "etc/passwd (layer 4)")
    t.absent("etc/undocker/legacy", root=State.out)
    t.entry("usr/local/share/undocker/legacy.layer3", content="legacy data of layer 3\n", root=State.out)
    # Layer 2 (umoci) whited out one name of the gunzip group; the other stays.
    t.absent("usr/bin/uncompress", root=State.out)
    t.entry("usr/bin/gunzip", type="file", root=State.out)


@suite.check("debian: sparse_pax_0_0, sparse_pax_0_1, sparse_pax_1_0 (holes preserved)")
def _(t):
    need_out()
    for kind, rel in SPARSE_FILES.items():
        t.entry(rel, type="file", mode=0o640, gid=50, mtime=T3 + 11, root=State.out)
        problems = sparse_members.hole_problems(at(rel), SPARSE_SIZE, SPARSE_SEGMENTS)
        if problems:
            raise Failure(f"/{rel} (PAX {kind}):\n  " + "\n  ".join(problems))


@suite.check("debian: xattr_schily, security_capability_as_root, setuid_setgid_after_chown, sticky_bit, "
             "device_and_fifo_nodes, symlink_mtime")
def _(t):
    need_out()
    r = State.out
    t.entry("usr/bin/ping", mode=0o755, xattrs={"security.capability": CAP_NET_RAW_EP}, root=r)
    t.entry("usr/local/bin/undocker-cap", mode=0o755, root=r, xattrs={
        "security.capability": CAP_NET_BIND_EP, "user.undocker": b"layer 3", "trusted.undocker": b"\x00\x01binary\xff"})
    t.entry("srv/xattr-dir", type="dir", root=r, xattrs={"user.dir": b"on a directory", "trusted.dir": b"t"})
    t.entry("srv/xattr-dir/link", type="symlink", mtime=T3 + 13, root=r, xattrs={"trusted.link": b"on the link itself"})
    t.entry("usr/local/bin/suid-helper", mode=0o4755, uid=1000, gid=1000, root=r)
    t.entry("usr/local/bin/sgid-helper", mode=0o2755, uid=0, gid=50, root=r)
    t.entry("usr/local/bin/suid-sgid", mode=0o6750, uid=0, gid=42, root=r)
    t.entry("usr/bin/su", mode=0o4755, uid=0, root=r)  # the base layer's setuid binaries
    t.entry("srv/shared", type="dir", mode=0o2775, gid=50, root=r)
    t.entry("srv/dropbox", type="dir", mode=0o1777, root=r)
    t.entry("srv/sticky-setgid", type="dir", mode=0o3770, uid=1000, gid=50, root=r)
    t.entry("tmp", type="dir", mode=0o1777, root=r)
    t.entry("dev/undocker-null", type="char", rdev=(1, 3), mode=0o666, mtime=T3 + 17, root=r)
    t.entry("dev/undocker-loop7", type="block", rdev=(7, 7), mode=0o660, gid=6, mtime=T3 + 18, root=r)
    t.entry("dev/null", type="char", rdev=(1, 3), root=r)  # debootstrap's
    t.entry("var/spool/undocker.fifo", type="fifo", mode=0o620, uid=1000, mtime=T3 + 19, root=r)
    t.entry("usr/local/bin/undocker-link", type="symlink", mtime_ns=(T3 + 20) * 10**9 + 123456789, root=r)
    t.entry("usr/local/games", type="symlink", mtime=T3 + 7, root=r)


@suite.check("debian: directory_metadata_last_deepest_first (read-only directories, a late directory entry)")
def _(t):
    need_out()
    r = State.out
    t.entry("srv/tree", type="dir", mode=0o555, mtime=T3 + 21, root=r)
    t.entry("srv/tree/a", type="dir", mode=0o500, mtime=T3 + 22, root=r)
    t.entry("srv/tree/a/b", type="dir", mode=0o700, uid=1000, mtime=T3 + 23, root=r)
    t.entry("srv/tree/a/b/f", content="deep\n", mtime=T3 + 24, root=r)
    t.entry("srv/tree/a/b/new", content="added by layer 4\n", mtime=T4 + 6, root=r)
    t.entry("srv/tree/a/g", mode=0o400, mtime=T3 + 25, root=r)
    t.entry("srv/late", type="dir", mode=0o751, mtime=T3 + 27, root=r)
    t.entry("srv", type="dir", mode=0o755, mtime=T3 + 29, root=r)
    t.entry("srv/late/sub", type="dir", mtime=T3 + 26, root=r)
    t.entry("home/app", type="dir", mode=0o700, uid=1000, gid=1000, mtime=T3 + 28, root=r)


@suite.check("debian: whiteouts (umoci's, of layer 2) and an opaque directory (layer 4)")
def _(t):
    need_out()
    r = State.out
    t.eq(t.listing("usr/share/doc", root=r), [], "usr/share/doc/")
    t.true(set(t.listing("usr/share/locale", root=r)) <= {"locale.alias"},
           f"usr/share/locale/ holds {t.listing('usr/share/locale', root=r)[:10]}")
    t.eq(t.listing("etc/apt/apt.conf.d", root=r), ["90undocker"], "etc/apt/apt.conf.d/ (opaque)")
    t.entry("etc/apt/apt.conf.d", type="dir", mtime=T4 + 3, root=r)
    t.true(not any(os.path.basename(name).startswith(".wh.") for name in t.listing(root=r)),
           "a .wh. entry reached the tree")


if __name__ == "__main__":
    sys.exit(main_sharing_work(suite, setup, lambda: State.work))
