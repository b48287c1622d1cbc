#!/usr/bin/env python3
"""The output options: `--tar -` (equals the directory output once untarred),
the progress line (only on a terminal), `--uid-shift`, `--nspawn`, `--all`
(with `--json`), and what `meson install` puts in place.

usage: test_outputs.py UNDOCKER
"""
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import (Suite, Skip, Failure, Image, Layer, docker_archive, fixture, FIXTURES)  # noqa: E402

suite = Suite("outputs")

# (fixture file, IMAGE argument or None)
REAL = [
    ("dive-test-docker-image.tar", None),
    ("dive-test-oci-estargz-image.tar", None),
    ("dive-test-oci-gzip-image.tar", None),
    ("dive-test-oci-uncompressed-image.tar", None),
    ("dive-test-oci-zstd-image.tar", None),
    ("ggcr-hello-world-v25.tar", None),
    ("ggcr-test_bundle.tar", "test_image_1"),
]


def sh(t, command, **kw):
    """Run a shell command line jailed like the binary (only the scratch directory writable)."""
    return t.run(["-c", command], binary="/bin/sh", **kw)


def tar_roundtrip(t, archive, image=None, label="x"):
    """-o D1 versus --tar - > out.tar, tar -x into D2; trees equal, tar -tvf succeeds."""
    d1, d2, out_tar = t.path(f"{label}-dir"), t.path(f"{label}-untar"), t.path(f"{label}-stream.tar")
    extra = [image] if image else []
    r = t.run(["-f", archive, "-o", d1, *extra])
    t.expect_rc(r, 0)
    cmd = " ".join(shlex.quote(a) for a in [common.UNDOCKER, "-f", archive, "--tar", "-", *extra])
    r = sh(t, f"{cmd} > {shlex.quote(out_tar)}")
    t.expect_rc(r, 0)
    t.true(os.path.getsize(out_tar) > 0, f"{label}: --tar - wrote nothing")
    os.makedirs(d2)
    r = sh(t, f"tar -xpf {shlex.quote(out_tar)} --numeric-owner --xattrs --xattrs-include='*' "
              f"-C {shlex.quote(d2)}")
    if r.rc != 0:
        raise Failure(f"{label}: tar -x of the stream failed\n{r.describe()}")
    t.trees_equal(d1, d2, root_ignore=("mtime",))
    r = sh(t, f"tar -tvf {shlex.quote(out_tar)} > /dev/null")
    if r.rc != 0:
        raise Failure(f"{label}: tar -tvf failed\n{r.describe()}")


@suite.check("--tar - | tar -x equals -o DIR on every real fixture")
def _(t):
    if not os.path.isdir(FIXTURES):
        raise Skip("no fixtures folder")
    done = 0
    for name, image in REAL:
        path = fixture(name)
        if not path:
            continue
        tar_roundtrip(t, path, image, label=name.replace(".tar", ""))
        done += 1
    if not done:
        raise Skip("no fixture present")


@suite.check("--tar - | tar -x equals -o DIR: layers, hardlinks, symlinks, setuid, long name, xattr")
def _(t):
    long_name = "deep/" + "d" * 60 + "/" + "f" * 80 + ".txt"
    layers = [
        Layer().dir("etc").dir("usr", mode=0o750, uid=1000, gid=1000).dir("usr/bin")
        .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        .file("usr/bin/tool", b"\x7fELF" + bytes(range(256)) * 40, mode=0o755)
        .hardlink("usr/bin/tool2", "usr/bin/tool")
        .symlink("bin", "usr/bin")
        .file("usr/bin/su", "setuid", mode=0o4755)
        .file("etc/gone", "to be removed"),
        # every parent has its own entry: a parent made implicitly gets the time of the run
        Layer().dir("etc").dir("deep").dir("deep/" + "d" * 60)
        .whiteout("etc/gone")
        .file(long_name, "long\n", uid=1000, gid=1000, mtime=1_700_000_000)
        .file("etc/attr", "xattr", xattrs={"user.x": "value-x"})
        .hardlink("etc/passwd-link", "etc/passwd")
        .symlink("etc/abs", "/usr/bin/tool")
        .file("usr/bin/sg", "setgid", mode=0o2711)
        .dir("tmp", mode=0o1777),
    ]
    archive = t.path("gen.tar")
    docker_archive(Image(layers, tags=["gen:latest"]), archive)
    tar_roundtrip(t, archive, label="gen")
    d2 = t.path("gen-untar")
    t.entry("etc/attr", xattrs={"user.x": b"value-x"}, root=d2)
    t.entry("usr/bin/su", mode=0o4755, root=d2)
    t.entry(long_name, content="long\n", root=d2)
    t.same_inode("usr/bin/tool", "usr/bin/tool2", root=d2)
    t.absent("etc/gone", root=d2)


def stream_layers():
    """Layers with every kind of entry, a whiteout, an opaque directory, a
    hardlink across layers and a symlinked parent."""
    return [
        Layer().dir("usr").dir("usr/lib").dir("etc").dir("data", mode=0o700, uid=7, gid=8)
        .file("usr/lib/libc.so", b"\x7fELF" + bytes(range(256)) * 300, mode=0o755)
        .symlink("lib", "usr/lib")
        .file("etc/shadow", "secret", mode=0o640, gid=42)
        .file("data/old", "old").file("data/keep", "keep")
        .chardev("null", 1, 3).fifo("pipe"),
        Layer().dir("lib/extra").file("lib/extra/x", "through the symlink")
        .hardlink("etc/shadow-", "etc/shadow")
        .opaque("data").file("data/new", "new", xattrs={"user.k": "v"})
        .whiteout("etc/shadow")
        .file("usr/bin/setuid", "s", mode=0o4755),
    ]


@suite.check("--tar: the same bytes on every run, from uncompressed and gzip layers alike")
def _(t):
    layers = [layer.bytes() for layer in stream_layers()]
    streams = []
    for label, compress in (("plain", ()), ("plain again", ()), ("gzip", {0, 1})):
        archive = t.path(f"{label}.tar")
        common.layers_docker_archive(layers, archive, compress=compress)
        out = t.path(f"{label}.stream.tar")
        t.expect_rc(t.run(["-f", archive, "--tar", out]), 0)
        with open(out, "rb") as f:
            streams.append(f.read())
    t.true(streams[0] == streams[1], "two runs on one archive wrote different streams")
    t.true(streams[0] == streams[2], "gzip layers gave another stream than uncompressed ones")
    names = subprocess.run(["tar", "-tf", t.path("plain.stream.tar")], capture_output=True, text=True).stdout.split()
    # Parents before children, each directory's subtree together, sorted.
    # data/ is opaque in the upper layer: data/keep and data/old are gone.
    t.eq(names[:4], ["data/", "data/new", "etc/", "etc/shadow-"], "the stream's first names")
    t.true("lib" in names and "lib/extra/x" not in names and "usr/lib/extra/x" in names,
           f"the symlinked parent resolved inside the image: {names}")
    t.true("etc/shadow" not in names and "etc/shadow-" in names, f"whiteout and hardlink: {names}")


@suite.check("--tar: an unprivileged user gets the same stream as root (owners, devices, xattrs from the headers)")
def _(t):
    from nobody import NobodyStage
    layers = [layer.bytes() for layer in stream_layers()]
    archive = t.path("a.tar")
    common.layers_docker_archive(layers, archive, compress={1})
    t.expect_rc(t.run(["-f", archive, "--tar", t.path("root.tar")]), 0)
    stage = NobodyStage(t)
    staged = stage.add(archive)
    r = stage.run(["-f", staged, "--tar", stage.path("nobody.tar")])
    t.expect_rc(r, 0)
    with open(t.path("root.tar"), "rb") as a, open(stage.path("nobody.tar"), "rb") as b:
        t.true(a.read() == b.read(), "uid 65534 wrote another stream than root")


@suite.check("--tar with -f FILE needs no TMPDIR: missing, for uncompressed and gzip layers")
def _(t):
    layers = [layer.bytes() for layer in stream_layers()]
    for label, compress in (("plain", ()), ("gzip", {0})):
        archive = t.path(f"{label}.tar")
        common.layers_docker_archive(layers, archive, compress=compress)
        out = t.path(f"{label}.stream.tar")
        r = t.run(["-f", archive, "--tar", out], tmpdir=t.path("no", "such", "dir"))
        t.expect_rc(r, 0)
        d = t.path(f"{label}-untar")
        os.makedirs(d)
        t.expect_rc(sh(t, f"tar -xpf {shlex.quote(out)} --numeric-owner -C {shlex.quote(d)}"), 0)
        t.entry("usr/lib/extra/x", content="through the symlink", root=d)


@suite.check("--tar FILE: a failed run leaves no FILE and no partial file beside it")
def _(t):
    layer = Layer().file("ok", "x" * 100000).bytes()
    archive = t.path("corrupt.tar")
    common.layers_docker_archive([layer], archive)
    # Flip a byte of the layer's data: its diffID no longer matches (exit 5).
    with open(archive, "r+b") as f:
        data = f.read()
        at = data.index(b"x" * 1000)
        f.seek(at)
        f.write(b"y")
    os.makedirs(t.path("o"))
    r = t.run(["-f", archive, "--tar", t.path("o", "rootfs.tar")])
    t.expect_rc(r, 5)
    t.eq(os.listdir(t.path("o")), [], "what a failed --tar left")


@suite.check("-o X --tar - is a usage error (exit 2, one ERROR line)")
def _(t):
    archive = t.path("gen.tar")
    docker_archive(Image([Layer().file("a", "a")]), archive)
    r = t.run(["-f", archive, "-o", t.path("x"), "--tar", "-"])
    t.expect_rc(r, 2)


def big_archive(t):
    chunk = os.urandom(64 << 10)
    layer = Layer()
    for i in range(300):
        layer.file(f"data/f{i:03d}", (b"%08d" % i + chunk) * 16)  # ~1 MiB each
    path = t.path("big.tar")
    docker_archive(Image([layer], tags=["big:latest"]), path)
    return path


@suite.check("progress: drawn on a terminal (layer 1/1, entries, \\r), nothing when stderr is a file")
def _(t):
    if shutil.which("script") is None:
        raise Skip("script (util-linux) missing")
    archive = big_archive(t)
    inner = " ".join(shlex.quote(a) for a in [common.UNDOCKER, "-f", archive, "-o", t.path("tty-out")])
    r = t.run(["-qfec", inner, "/dev/null"], binary=shutil.which("script"))
    if r.rc != 0:
        raise Failure(f"under script: exit {r.rc}\n{r.describe()}")
    captured = r.stdout
    lines = [seg for seg in captured.replace("\n", "\r").split("\r") if "layer 1/1" in seg and "entries" in seg]
    t.true(lines, f"no progress segment with 'layer 1/1' and 'entries' in {captured[-1500:]!r}")
    t.true("\r" in captured, "no carriage return in the terminal output")
    t.notes.append(lines[-1])
    errfile = t.path("stderr.txt")
    cmd = " ".join(shlex.quote(a) for a in [common.UNDOCKER, "-f", archive, "-o", t.path("file-out")])
    r = sh(t, f"{cmd} 2> {shlex.quote(errfile)}")
    t.expect_rc(r, 0)
    with open(errfile, "rb") as f:
        data = f.read()
    t.true(b"layer 1/1" not in data, f"progress text in stderr redirected to a file: {data[-500:]!r}")
    t.true(b"\r" not in data, f"carriage return in stderr redirected to a file: {data[-500:]!r}")
    print(f"     progress ({len(lines)} updates), last: " + lines[-1].replace("\x1b[K", "").strip()[:150])


@suite.check("--uid-shift 100000: 0:0 -> 100000:100000, 1000:1000 -> 101000:101000 (dirs, symlinks)")
def _(t):
    layer = (Layer()
             .dir("root0").dir("user1000", uid=1000, gid=1000)
             .file("root0/f", "r").file("user1000/f", "u", uid=1000, gid=1000)
             .symlink("root0/l", "f").symlink("user1000/l", "f", uid=1000, gid=1000)
             .file("mixed", "m", uid=0, gid=1000))
    archive = t.path("shift.tar")
    docker_archive(Image([layer]), archive)
    t.extract(archive, "--uid-shift", "100000")
    for rel in ("root0", "root0/f", "root0/l"):
        t.entry(rel, uid=100000, gid=100000)
    for rel in ("user1000", "user1000/f", "user1000/l"):
        t.entry(rel, uid=101000, gid=101000)
    t.entry("mixed", uid=100000, gid=101000)
    r = t.run(["-f", archive, "-o", t.path("bad"), "--uid-shift", "notanumber"])
    t.expect_rc(r, 2)


@suite.check("--nspawn writes DIR.nspawn from Env, WorkingDir, User, Entrypoint, Cmd")
def _(t):
    config = {"config": {"Env": ["A=1", "B=two words"], "WorkingDir": "/srv", "User": "1000",
                         "Entrypoint": ["/bin/ent"], "Cmd": ["arg one", "x"]}}
    archive = t.path("nspawn.tar")
    docker_archive(Image([Layer().dir("srv").file("bin/ent", "#!/bin/sh\n", mode=0o755)],
                         tags=["ns:latest"], config=config), archive)
    out = t.path("machine")
    t.extract(archive, "--nspawn", out=out)
    settings = out + ".nspawn"
    t.true(os.path.isfile(settings), f"{settings} missing")
    with open(settings) as f:
        text = f.read()
    for line in text.splitlines():
        print("     | " + line)
    lines = [line.strip() for line in text.splitlines()]
    t.true("[Exec]" in lines, "no [Exec] section")
    t.true("Environment=A=1" in lines or any(l.startswith("Environment=") and "A=1" in shlex.split(l[12:])
                                            for l in lines), "no Environment=A=1")
    b_ok = False
    for line in lines:
        if line.startswith("Environment=") and "B=" in line:
            try:
                b_ok = b_ok or "B=two words" in shlex.split(line[len("Environment="):])
            except ValueError:
                pass
    t.true(b_ok, "no properly quoted Environment line for B=two words")
    t.true("WorkingDirectory=/srv" in lines, "no WorkingDirectory=/srv")
    t.true("User=1000" in lines, "no User=1000")
    params = [line for line in lines if line.startswith("Parameters=")]
    t.true(len(params) == 1, f"expected one Parameters= line, got {params}")
    try:
        words = shlex.split(params[0][len("Parameters="):])
    except ValueError as error:
        raise Failure(f"Parameters= does not parse: {error}")
    t.eq(words, ["/bin/ent", "arg one", "x"], "Parameters= words")
    t.true("Boot=no" in lines, "Parameters= without Boot=no")


def two_images(t):
    one = Image([Layer().dir("etc").file("etc/one", "1").file("shared", "from one"),
                 Layer().file("etc/one-upper", "1b", uid=1000, gid=1000)], tags=["one:1"])
    two = Image([Layer().dir("opt").file("opt/two", "2").symlink("shared", "opt/two")], tags=["two:latest"])
    path = t.path("two.tar")
    docker_archive([one, two], path)
    return path


@suite.check("--all -o ALL: ALL/one/1 and ALL/two/latest equal each image extracted alone")
def _(t):
    archive = two_images(t)
    all_dir = t.path("ALL")
    t.extract(archive, "--all", out=all_dir)
    for ref, rel in (("one:1", "one/1"), ("two:latest", "two/latest")):
        got = os.path.join(all_dir, rel)
        t.true(os.path.isdir(got), f"{got} missing")
        single = t.path("single-" + rel.replace("/", "-"))
        t.extract(archive, ref, out=single)
        t.trees_equal(single, got, root_ignore=("mtime",))


@suite.check("--all --json: one JSON line per image with image,id,output,layers,entries,bytes,seconds")
def _(t):
    archive = two_images(t)
    r = t.extract(archive, "--all", "--json", out=t.path("ALLJ"))
    lines = [line for line in r.out_lines if line.strip()]
    t.eq(len(lines), 2, f"JSON lines on stdout ({r.stdout!r})")
    keys = {"image", "id", "output", "layers", "entries", "bytes", "seconds"}
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError as error:
            raise Failure(f"not JSON: {line!r}: {error}")
        missing = keys - set(obj)
        t.true(not missing, f"keys {sorted(missing)} missing from {line}")


@suite.check("meson install: binary, man page (renders), bash completion")
def _(t):
    if shutil.which("meson") is None:
        raise Skip("meson missing")
    build = os.path.dirname(os.path.dirname(common.UNDOCKER))
    if not os.path.isfile(os.path.join(build, "meson-private", "coredata.dat")):
        raise Skip(f"{build} is not a meson build directory")
    dest = t.path("destdir")
    proc = subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"meson install failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    found = {}
    for dirpath, _dirs, files in os.walk(dest):
        for name in files:
            found.setdefault(name, []).append(os.path.join(dirpath, name))
    binaries = [p for p in found.get("undocker", []) if os.path.basename(os.path.dirname(p)) == "bin"]
    t.true(binaries, f"no bin/undocker under {dest}")
    mode = os.stat(binaries[0]).st_mode
    t.true(stat.S_ISREG(mode) and os.access(binaries[0], os.X_OK), f"{binaries[0]} not executable")
    mans = [p for p in found.get("undocker.1", []) if p.endswith("/share/man/man1/undocker.1")]
    t.true(mans, f"no share/man/man1/undocker.1 under {dest}")
    comps = [p for p in found.get("undocker", []) if p.endswith("/share/bash-completion/completions/undocker")]
    t.true(comps, f"no share/bash-completion/completions/undocker under {dest}")
    if shutil.which("man"):
        proc = subprocess.run(["man", "-l", mans[0]], capture_output=True, text=True,
                              env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
        if proc.returncode != 0 or "undocker" not in proc.stdout:
            raise Failure(f"man -l {mans[0]}: exit {proc.returncode}\n{proc.stdout[:500]}\n{proc.stderr[-1000:]}")
    else:
        print("     (man missing: rendering not checked)")


if __name__ == "__main__":
    sys.exit(suite.main())
