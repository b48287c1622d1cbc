#!/usr/bin/env python3
"""--layer-store STORE (issue 18 item 2, and item 3's overlayfs part).

Every check mounts what undocker printed, `lowerdir=TOP:...:BOTTOM`, with
the kernel's overlayfs (read-only, in a private mount namespace made with
unshare -m, so nothing leaks to the host) and compares the mount with the
tree `-o` writes from the same archive (tests/tools/treecmp: paths, types,
modes, owners, sizes, contents, link targets, hardlink groups, xattrs and
mtimes in ns). Two differences are expected and only those are let
through: the root's mtime when no layer describes it, and the mtime of a
parent directory no entry describes (-o gives those the time of the run,
the store the time of the entry that needed them; README says so).

Then the store itself: a second run writes nothing (every inode, ctime and
mtime of the store unchanged, the same line) and reads no layer (it
succeeds over an archive whose layer blobs are corrupt); --all writes a
shared base once; a killed run leaves only a staging directory, which the
next run removes; two concurrent runs on one STORE both succeed and leave
whole layers.

Exit 77 when not root, or when this kernel cannot mount overlayfs here.
usage: test_layer_store.py UNDOCKER
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import (Suite, Failure, Skip, Image, Layer, docker_archive, fixture, snapshot_tree,  # noqa: E402
                    diff_snapshots, JAIL)

suite = Suite("layer_store")
TOOLS = os.path.join(common.ROOT, "tests", "tools")

# Runs in the private mount namespace: mount, compare, print the lines as JSON.
COMPARE = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from treecmp import compare_trees
reference, mount = sys.argv[2], sys.argv[3]
print(json.dumps({"problems": compare_trees(reference, mount)}))
"""


def mount_overlay_then(lowerdir, mountpoint, command):
    """Runs command (a list) with the overlay mounted at mountpoint, in a
    private mount namespace; returns the CompletedProcess."""
    script = 'mount -t overlay overlay -o "ro,$1" "$2" || exit 99; shift 2; exec "$@"'
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", lowerdir,
                           mountpoint, *command], capture_output=True, text=True, timeout=600)


def setup():
    if subprocess.run(["which", "unshare"], capture_output=True).returncode != 0:
        return "unshare (util-linux) is not installed: no private mount namespace for the overlay mounts"
    probe = os.path.join(suite.base, f"undocker-overlay-probe-{os.getpid()}")
    for part in ("a", "b", "m"):
        os.makedirs(os.path.join(probe, part), exist_ok=True)
    try:
        proc = mount_overlay_then(f"lowerdir={probe}/a:{probe}/b", f"{probe}/m", ["true"])
    finally:
        common._rmtree(probe)
    if proc.returncode != 0:
        return f"this kernel or container cannot mount overlayfs here: {proc.stderr.strip()[:200]}"
    return None


def lowerdir_of(check, result):
    lines = result.out_lines
    check.eq(len(lines), 1, "lines on stdout")
    check.true(lines[0].startswith("lowerdir=/"), f"stdout is not a lowerdir= line: {lines[0]!r}")
    return lines[0]


def store_run(check, archive, store, *extra, expect_rc=0):
    result = check.run(["-f", archive, "--layer-store", store, *extra])
    check.expect_rc(result, expect_rc)
    return result


def mount_equals(check, lowerdir, reference, started_ns):
    """The overlay mount of lowerdir equals the -o tree `reference`, but for
    the mtimes of directories -o made at the time of the run (>= started_ns)."""
    mountpoint = check.path("mnt")
    os.makedirs(mountpoint, exist_ok=True)
    proc = mount_overlay_then(lowerdir, mountpoint, ["python3", "-c", COMPARE, TOOLS, reference, mountpoint])
    if proc.returncode != 0:
        raise Failure(f"mount or compare failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    problems = []
    for line in json.loads(proc.stdout)["problems"]:
        path, _, rest = line.partition(": mtime: ")
        if rest:
            st = os.lstat(os.path.join(reference, path.lstrip("/")))
            if os.path.isdir(os.path.join(reference, path.lstrip("/"))) and st.st_mtime_ns >= started_ns:
                continue  # a directory no entry describes: -o gives it the time of the run
        problems.append(line)
    if problems:
        raise Failure(f"overlay mount (B) != -o tree (A):\n  " + "\n  ".join(problems[:40]))


def store_and_compare(check, archive, *select):
    """-o and --layer-store from one archive; the mount equals the tree.
    Returns (lowerdir line, store path)."""
    started = time.time_ns() - 10**9
    check.extract(archive, *select)
    store = check.path("store")
    line = lowerdir_of(check, store_run(check, archive, store, *select))
    mount_equals(check, line[len("lowerdir="):] and line, check.out, started)
    return line, store


def store_layers(store):
    base = os.path.join(store, "sha256")
    return sorted(name for name in os.listdir(base))


# ------------------------------------------------------------ generated layers

def semantics_image():
    """Every rule a layer directory must get right, over four layers."""
    base = (Layer()
            .dir("etc/", mode=0o755).file("etc/passwd", "root:x:0:0\n").file("etc/keep", "keep\n")
            .dir("gone/").file("gone/a", "a").dir("gone/sub/").file("gone/sub/b", "b")
            .dir("opq/").file("opq/old1", "1").file("opq/old2", "2").dir("opq/olddir/").file("opq/olddir/x", "x")
            .dir("d2f/").file("d2f/inside", "i")
            .file("f2d", "was a file")
            .dir("usr/").dir("usr/lib/").file("usr/lib/libc.so", "libc")
            .symlink("lib", "usr/lib")
            .dir("secret/", mode=0o700, uid=1234, gid=5678, mtime=1_500_000_000)
            .file("secret/one", "1", uid=1234, gid=5678)
            .file("shared/orig", "shared data", mode=0o640, uid=7, gid=8)
            .file("shared/twin", "twin data").hardlink("shared/twin2", "shared/twin")
            .dir("meta/", mode=0o755).file("meta/f", "f")
            .file("sock/fifo-later", "x"))
    upper = (Layer()
             .whiteout("gone").whiteout("etc/keep")
             .opaque("opq/").file("opq/new", "new")
             .file("d2f", "now a file")           # a directory replaced by a file
             .dir("f2d/").file("f2d/child", "c")  # a file replaced by a directory
             .file("lib/libnew.so", "through the symlinked parent")
             .file("secret/two", "2", uid=1234, gid=5678)  # a parent with non-default metadata below
             .file("deep/implicit/parents/file", "made parents")
             .hardlink("shared/link-to-lower", "shared/orig")  # a hardlink to a lower layer's file
             .file("within/a", "within").hardlink("within/b", "within/a")  # hardlinks within a layer
             .dir("meta/", mode=0o711, uid=3, gid=4, mtime=1_400_000_000)  # metadata changed only
             .file("xattr-file", "x", xattrs={"user.comment": "hello"})
             .fifo("sock/fifo"))
    third = (Layer()
             .whiteout("shared/twin")          # a lower hardlink group loses a name
             .dir("gone/").file("gone/again", "back")  # whited out below, made again
             .whiteout("f2d").file("f2d", "a file again")
             .opaque("opq/").dir("opq/olddir/").file("opq/olddir/y", "y"))
    fourth = (Layer()
              .file("opq/new", "replaced", mode=0o600)
              .whiteout("lib").dir("lib/").file("lib/real", "a real directory now"))
    return Image([base, upper, third, fourth], tags=("semantics:latest",))


@suite.check("generated layers: whiteouts, opaque dirs, type changes, symlinked parents, hardlinks, implicit parents")
def generated_semantics(check):
    archive = check.write("semantics.tar", docker_archive(semantics_image()))
    line, store = store_and_compare(check, archive)
    check.eq(len(line.split(":")), 4, "layer directories in the lowerdir list")
    layers = line[len("lowerdir="):].split(":")
    # The forms overlayfs reads, in the layer directories themselves.
    upper = layers[-2]
    check.entry("gone", type="char", rdev=(0, 0), root=upper)
    check.entry("opq", type="dir", xattrs={"trusted.overlay.opaque": b"y"}, root=upper)
    check.entry("f2d", type="dir", xattrs={"trusted.overlay.opaque": b"y"}, root=upper)
    check.entry("secret", type="dir", mode=0o700, uid=1234, gid=5678, root=upper)
    check.entry("usr/lib/libnew.so", type="file", content="through the symlinked parent", root=upper)
    check.same_inode("shared/orig", "shared/link-to-lower", root=upper)
    check.same_inode("within/a", "within/b", root=upper)


@suite.check("--userxattr marks opaque directories with user.overlay.opaque")
def userxattr(check):
    archive = check.write("semantics.tar", docker_archive(semantics_image()))
    store = check.path("store")
    line = lowerdir_of(check, store_run(check, archive, store, "--userxattr"))
    upper = line[len("lowerdir="):].split(":")[-2]
    check.entry("opq", type="dir", xattrs={"user.overlay.opaque": b"y"}, root=upper)
    check.true("trusted.overlay.opaque" not in os.listxattr(os.path.join(upper, "opq")), "trusted xattr set too")
    started = time.time_ns() - 10**9
    check.extract(archive)
    mountpoint = check.path("mnt")
    os.makedirs(mountpoint)
    proc = mount_overlay_then(line + ",userxattr", mountpoint, ["python3", "-c", COMPARE, TOOLS, check.out, mountpoint])
    if proc.returncode == 99:
        raise Skip(f"this kernel's overlayfs has no userxattr option: {proc.stderr.strip()[:200]}")
    mount_equals(check, line + ",userxattr", check.out, started)


@suite.check("an image's own 0/0 character device or overlay xattr is refused, not taken for overlayfs's")
def overlay_lookalikes(check):
    for name, layer, words in (
            ("chardev", Layer().chardev("dev/null0", 0, 0), "a 0/0 character device cannot be stored"),
            ("xattr", Layer().dir("d/", xattrs={"trusted.overlay.opaque": "y"}), "xattr trusted.overlay.opaque")):
        archive = check.write(f"{name}.tar", docker_archive(Image([layer])))
        store = check.path(f"store-{name}")
        result = store_run(check, archive, store, expect_rc=3)
        check.expect_one_error(result, words)
        check.eq(store_layers(store), [], f"{name}: layers left in the store")


@suite.check("usage: what --layer-store cannot be combined with is refused by name, exit 2, nothing made")
def usage(check):
    archive = check.write("one.tar", docker_archive(Image([Layer().file("a", "a")])))
    store = check.path("store")
    whole = "which writes every layer of the image into the store whole (see undocker --help)"
    for extra, message in (
            (["-o", check.out], f"-o cannot be used with --layer-store, {whole}"),
            (["--tar", "-"], f"--tar cannot be used with --layer-store, {whole}"),
            (["-l", "0"], f"-l cannot be used with --layer-store, {whole}"),
            (["--exclude", "x"], f"--exclude cannot be used with --layer-store, {whole}"),
            (["--uid-shift", "1000"], f"--uid-shift cannot be used with --layer-store, {whole}"),
            (["--files"], "--layer-store cannot be used with --files, which lists the image's final tree and "
                          "extracts nothing (see undocker --help)")):
        result = check.run(["-f", archive, "--layer-store", store, *extra])
        check.expect_rc(result, 2)
        check.eq(result.errors, ["ERROR:undocker:" + message], f"error for {extra}")
    result = check.run(["-f", archive, "--userxattr", "-o", check.out])
    check.expect_rc(result, 2)
    check.eq(result.errors, ["ERROR:undocker:--userxattr is for --layer-store (see undocker --help)"], "--userxattr alone")
    check.true(not os.path.lexists(store) and not os.path.lexists(check.out), "a refused run made a directory")


@suite.check("real fixtures: the overlay mount equals -o")
def real_fixtures(check):
    names = sorted(n for n in os.listdir(common.FIXTURES) if n.endswith(".tar")) if os.path.isdir(common.FIXTURES) else []
    if not names:
        raise Skip(f"no fixtures in {common.FIXTURES}")
    for name in names:
        archive = fixture(name)
        listing = check.run(["-f", archive, "--list"])
        check.expect_rc(listing, 0)
        images = [l.split(":")[0] if not l.startswith("<none>") else None for l in listing.out_lines]
        for i, image in enumerate(images):
            select = [] if len(images) == 1 else [f"{listing.out_lines[i].split(': ')[0]}:{listing.out_lines[i].split(': ')[1].split()[0]}"]
            if os.path.lexists(check.out):
                common._rmtree(check.out)
            common._rmtree(check.path("store"))
            try:
                store_and_compare(check, archive, *select)
            except Failure as why:
                raise Failure(f"{name} {select}: {why}") from None


@suite.check("a second run writes nothing, prints the same line, and reads no layer")
def reuse(check):
    image = semantics_image()
    archive = check.write("semantics.tar", docker_archive(image))
    store = check.path("store")
    first = store_run(check, archive, store)
    before = snapshot_tree(store)
    second = store_run(check, archive, store, "-v")
    check.eq(second.stdout, first.stdout, "the second run's line")
    changes = diff_snapshots(before, snapshot_tree(store))
    check.true(not changes, "the store changed:\n  " + "\n  ".join(changes[:20]))
    check.true(not any("writing layer" in l or "reading layer" in l for l in second.err_lines),
               f"the second run read or wrote a layer:\n{second.stderr}")
    # No layer is read: an archive whose layer blobs are corrupt (manifest
    # and config intact) is reused, and refused by a fresh store (exit 5).
    data = bytearray(open(archive, "rb").read())
    marker = data.find(b"through the symlinked parent")
    check.true(marker > 0, "marker found in the archive")
    data[marker] ^= 0x20
    corrupt = check.write("corrupt.tar", bytes(data))
    third = store_run(check, corrupt, store)
    check.eq(third.stdout, first.stdout, "the line from the corrupt archive over a complete store")
    check.true(not diff_snapshots(before, snapshot_tree(store)), "the store changed on the corrupt archive")
    fresh = store_run(check, corrupt, check.path("fresh-store"), expect_rc=5)
    check.eq(store_layers(check.path("fresh-store")), [], "layers completed from a corrupt archive")
    del fresh


@suite.check("--all over images sharing a base writes the base once; --json names what was written")
def all_shared_base(check):
    base = Layer().dir("base/").file("base/big", "base data " * 1000)
    images = [Image([base, Layer().file(f"app{i}", f"app {i}")], tags=(f"app{i}:latest",)) for i in range(3)]
    archive = check.write("three.tar", docker_archive(images))
    store = check.path("store")
    result = store_run(check, archive, store, "--all", "--json", "-v")
    records = [json.loads(l) for l in result.out_lines]
    check.eq(len(records), 3, "JSON lines")
    check.eq([[l["written"] for l in r["layers"]] for r in records], [[True, True], [False, True], [False, True]],
             "layers written per image (bottom first)")
    check.eq(len({r["layers"][0]["path"] for r in records}), 1, "one base directory")
    check.eq(sum("writing layer" in l for l in result.err_lines), 4, "layers written")
    check.eq(len(store_layers(store)), 4, "directories in the store")
    for record in records:
        check.eq(record["lowerdir"], "lowerdir=" + ":".join(l["path"] for l in reversed(record["layers"])),
                 "lowerdir in the JSON")
    # Each image's mount equals its -o tree.
    for i, record in enumerate(records):
        out = check.path(f"out{i}")
        started = time.time_ns() - 10**9
        check.extract(archive, f"app{i}:latest", out=out)
        mount_equals(check, record["lowerdir"], out, started)


def debian_archive():
    try:
        import debian_image
    except ImportError as error:
        raise Skip(f"debian_image: {error}")
    if debian_image.missing_tools():
        raise Skip(f"{', '.join(debian_image.missing_tools())} not installed (bash .ci/install-deps installs them)")
    return debian_image.ensure_image()["docker_archive"]


@suite.check("the Debian image: the overlay mount equals -o; a second run writes nothing")
def debian(check):
    archive = debian_archive()
    line, store = store_and_compare(check, archive)
    before = snapshot_tree(store)
    again = store_run(check, archive, store)
    check.eq(again.stdout.strip(), line, "the second run's line")
    check.true(not diff_snapshots(before, snapshot_tree(store)), "the second run changed the store")


def jailed_popen(check, args):
    binary = common.UNDOCKER
    env = dict(os.environ, TMPDIR=check.tmp)
    return subprocess.Popen(JAIL + ["--bind", check.scratch, check.scratch, "--cap-add", "ALL", "--die-with-parent",
                                    "--chdir", check.scratch, "--", binary, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@suite.check("a killed run leaves only a staging directory; the next run removes it and completes the store")
def killed_run(check):
    archive = debian_archive()
    store = check.path("store")
    proc = jailed_popen(check, ["-f", archive, "--layer-store", store])
    staging = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        base = os.path.join(store, "sha256")
        staging = [n for n in os.listdir(base) if n.startswith(".tmp-")] if os.path.isdir(base) else []
        if staging:
            break
        time.sleep(0.01)
    if proc.poll() is not None:
        raise Skip("the run ended before a staging directory could be seen")
    proc.send_signal(signal.SIGKILL)  # bwrap, then undocker by --die-with-parent
    proc.communicate()
    time.sleep(0.2)
    left = store_layers(store)
    check.true(all(n.startswith(".tmp-") for n in left), f"a layer was completed before the digests: {left}")
    check.true(left, "the killed run left no staging directory to clean up")
    started = time.time_ns() - 10**9
    line = lowerdir_of(check, store_run(check, archive, store))
    check.eq([n for n in store_layers(store) if n.startswith(".tmp-")], [], "staging directories left")
    check.extract(archive)
    mount_equals(check, line, check.out, started)


@suite.check("two concurrent runs on one STORE both succeed and leave whole layers")
def concurrent_runs(check):
    archive = debian_archive()
    store = check.path("store")
    procs = [jailed_popen(check, ["-f", archive, "--layer-store", store]) for _ in range(2)]
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        check.eq(p.returncode, 0, f"exit status (stderr: {err.decode()[-1000:]})")
    check.eq(outputs[0][0], outputs[1][0], "the two lines")
    check.eq([n for n in store_layers(store) if n.startswith(".tmp-")], [], "staging directories left")
    started = time.time_ns() - 10**9
    check.extract(archive)
    mount_equals(check, outputs[0][0].decode().strip(), check.out, started)


if __name__ == "__main__":
    sys.exit(suite.main(setup))
