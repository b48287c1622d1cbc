#!/usr/bin/env python3
"""Inspection without extracting (issue 13): `--files` against the on-disk
tree of a full extraction and against `tar -tv --numeric-owner` of the
`--tar` stream; `--cat` through symlinks, whiteouts and opaque directories,
with the exact message and exit status of each refusal; `--path` and
`--exclude` for `-o`, `--tar` and `--files` against a filtered copy of the
full extraction; `--verify`; hostile names that must stay inside the image.

usage: test_inspect.py UNDOCKER
"""
import fnmatch
import json
import os
import shlex
import stat
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import (Suite, Skip, Failure, Image, Layer, docker_archive, layers_docker_archive,  # noqa: E402
                    fixture, FIXTURES)
from treecmp import scan_tree, _diff  # noqa: E402

suite = Suite("inspect")
HELP = " (see undocker --help)"

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

JSON_TYPES = {"file": "file", "directory": "dir", "symlink": "symlink", "char": "char", "block": "block",
              "fifo": "fifo", "hardlink": "file"}


def sh(t, command, **kw):
    """A shell command line, jailed like the binary."""
    return t.run(["-c", command], binary="/bin/sh", **kw)


def quoted(*words):
    return " ".join(shlex.quote(str(w)) for w in words)


def files_json(t, archive, *extra):
    r = t.run(["-f", archive, "--files", "--json", *extra])
    t.expect_rc(r, 0)
    return [json.loads(line) for line in r.out_lines]


def compare_listing(t, listing, root, label):
    """--files --json against the tree at root: the same names, and for each
    its type, mode, owners, size and link target (a hardlink: the same inode
    as its target)."""
    on_disk = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            on_disk[os.path.relpath(path, root)] = os.lstat(path)
    listed = {item["path"]: item for item in listing if item["path"] != "."}
    t.eq(sorted(listed), sorted(on_disk), f"{label}: the names --files lists against those on disk")
    for path, item in listed.items():
        st = on_disk[path]
        where = f"{label}: {path}"
        t.eq(common.describe_type(st), JSON_TYPES[item["type"]], f"{where}: type")
        if item["type"] != "symlink":
            t.eq(item["mode"], stat.S_IMODE(st.st_mode), f"{where}: mode")
        t.eq((item["uid"], item["gid"]), (st.st_uid, st.st_gid), f"{where}: owners")
        if item["type"] == "file":
            t.eq(item["size"], st.st_size, f"{where}: size")
        if item["type"] == "symlink":
            t.eq(item["target"], os.readlink(os.path.join(root, path)), f"{where}: symlink target")
        if item["type"] == "hardlink":
            t.same_inode(path, item["target"], root=root)
        t.true(isinstance(item["layer"], int) and item["layer"] >= 0, f"{where}: layer {item['layer']!r}")
        t.eq(item["mtime"], int(st.st_mtime), f"{where}: mtime")


def compare_with_tar_tv(t, archive, *extra, label="x"):
    """--files is TZ=UTC tar -tv --numeric-owner of the --tar stream, line for line."""
    stream = t.path(f"{label}.stream.tar")
    cmd = quoted(common.UNDOCKER, "-f", archive, "--tar", "-", *extra)
    t.expect_rc(sh(t, f"{cmd} > {shlex.quote(stream)}"), 0)
    r = sh(t, f"TZ=UTC tar -tv --numeric-owner -f {shlex.quote(stream)}", env={"LC_ALL": "C.UTF-8"})
    t.eq(r.rc, 0, f"{label}: tar -tv\n{r.describe()}")
    files = t.run(["-f", archive, "--files", *extra])
    t.expect_rc(files, 0)
    if files.out_lines != r.out_lines:
        diff = [f"--files: {a!r}\ntar -tv: {b!r}" for a, b in zip(files.out_lines, r.out_lines) if a != b]
        raise Failure(f"{label}: --files differs from tar -tv of the --tar stream "
                      f"({len(files.out_lines)} against {len(r.out_lines)} lines):\n" + "\n".join(diff[:10]))


def full_check(t, archive, *extra, label="x"):
    out = t.path(f"{label}-dir")
    t.expect_rc(t.run(["-f", archive, "-o", out, *extra]), 0)
    compare_listing(t, files_json(t, archive, *extra), out, label)
    compare_with_tar_tv(t, archive, *extra, label=label)


def generated_layers():
    """Every kind of entry, a whiteout, an opaque directory, a hardlink
    across layers, a symlinked parent, a long name, setuid and sticky bits.
    Every directory has its own entry: one made implicitly gets the time of
    the run on disk and its first entry's in the plan."""
    long_name = "deep/" + "d" * 60 + "/" + "f" * 120 + ".txt"
    return [
        Layer().dir("usr").dir("usr/lib").dir("etc").dir("data", mode=0o700, uid=7, gid=8).dir("tmp", mode=0o1777)
        .file("usr/lib/libc.so", b"\x7fELF" + bytes(range(256)) * 300, mode=0o755)
        .symlink("lib", "usr/lib")
        .file("etc/shadow", "secret", mode=0o640, gid=42)
        .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", uid=1234567, gid=7654321)
        .file("data/old", "old").file("data/keep", "keep")
        .chardev("null", 1, 3).blockdev("sda", 8, 0).fifo("pipe")
        .file("etc/gone", "to be whited out"),
        Layer().dir("lib/extra").file("lib/extra/x", "through the symlink")
        .hardlink("etc/shadow-", "etc/shadow")
        .opaque("data").file("data/new", "new")
        .whiteout("etc/gone")
        .dir("usr/bin").file("usr/bin/su", "s", mode=0o4755)
        .symlink("abs", "/usr/lib/libc.so").symlink("rel", "usr/../lib/libc.so")
        .symlink("loop1", "loop2").symlink("loop2", "loop1")
        .symlink("escape", "../../../../../etc/passwd")
        .dir("deep").dir("deep/" + "d" * 60).file(long_name, "long\n", mtime=1_700_000_000)
        .file("etc/weird name\twith tab", "w"),
    ]


def generated_archive(t, name="gen.tar", compress=()):
    path = t.path(name)
    layers_docker_archive([layer.bytes() for layer in generated_layers()], path, compress=compress)
    return path


# ------------------------------------------------------------------ --files

@suite.check("--files equals a full extraction's tree and tar -tv of --tar on every real fixture")
def _(t):
    if not os.path.isdir(FIXTURES):
        raise Skip("no fixtures folder")
    done = 0
    for name, image in REAL:
        path = fixture(name)
        if not path:
            continue
        full_check(t, path, *([image] if image else []), label=name.replace(".tar", ""))
        done += 1
    if not done:
        raise Skip("no fixture present")


@suite.check("--files equals a full extraction's tree and tar -tv of --tar: generated layers, gzip, -l, -W")
def _(t):
    plain = generated_archive(t)
    full_check(t, plain, label="plain")
    full_check(t, generated_archive(t, "gz.tar", compress={0, 1}), label="gzip")
    full_check(t, plain, "-l", "0", label="bottom-only")
    full_check(t, plain, "-W", label="no-whiteouts")
    listing = {item["path"]: item for item in files_json(t, plain)}
    t.eq(listing["etc/shadow-"]["layer"], 0, "a hardlink's layer is its file's")
    t.eq(listing["data/new"]["layer"], 1, "data/new comes from layer 1")
    t.eq((listing["etc/shadow"]["type"], listing["etc/shadow-"]["type"], listing["etc/shadow-"]["target"]),
         ("file", "hardlink", "etc/shadow"), "the first name of a hardlinked file is the file, the next a link")
    t.true("etc/gone" not in listing and "data/old" not in listing, "whited out and hidden names are not listed")


@suite.check("--files reads headers only: a layer's corrupt file data passes unless --verify (exit 5), -o fails")
def _(t):
    layer = Layer().file("a", "A" * 4096).file("b", "B" * 10).bytes()
    image = Image([layer], tags=["corrupt:1"])
    good = docker_archive(image)
    at = good.index(b"A" * 4096)
    bad = t.write("bad.tar", good[:at] + b"Z" + good[at + 1:])
    r = t.run(["-f", bad, "--files"])
    t.expect_rc(r, 0)
    t.eq([line.split()[-1] for line in r.out_lines], ["a", "b"], "--files on the corrupt archive")
    r = t.run(["-f", bad, "--cat", "b"])
    t.expect_rc(r, 0)
    t.eq(r.stdout, "B" * 10, "--cat of an intact file of the corrupt layer")
    for args in (["--files", "--verify"], ["--cat", "b", "--verify"], ["-o", t.path("out")]):
        r = t.run(["-f", bad, *args])
        t.expect_rc(r, 5)
        t.eq(r.stdout, "", f"stdout of {args} when a digest does not match")
    t.true(not os.path.exists(t.path("out")), "-o left a tree from a corrupt archive")


# -------------------------------------------------------------------- --cat

CAT_ERRORS = [
    ("etc/gone", "no such file or directory in the image"),         # whited out
    ("data/old", "no such file or directory in the image"),         # hidden by an opaque directory
    ("nope", "no such file or directory in the image"),
    ("/lib/nope", "no such file or directory in the image"),
    ("data", "not a regular file but a directory"),
    ("lib", "not a regular file but a directory"),                  # a symlink to a directory
    ("null", "not a regular file but a character device"),
    ("sda", "not a regular file but a block device"),
    ("pipe", "not a regular file but a FIFO"),
    ("loop1", "too many levels of symbolic links"),
    ("loop1/x", "too many levels of symbolic links"),
    ("etc/passwd/x", "not a directory"),
    ("a" * 300, "a name in it is longer than 255 bytes"),
]

CAT_CONTENT = [
    ("abs", b"\x7fELF" + bytes(range(256)) * 300),                  # an absolute symlink
    ("rel", b"\x7fELF" + bytes(range(256)) * 300),                  # a relative one, with ..
    ("/lib/extra/x", b"through the symlink"),                       # a symlinked parent directory
    ("data/new", b"new"),                                           # the opaque layer's own file
    ("etc/shadow-", b"secret"),                                     # a hardlink across layers
    ("escape", b"root:x:0:0::/root:/bin/sh\n"),                     # .. stops at the image's root
    ("../../../etc/passwd", b"root:x:0:0::/root:/bin/sh\n"),
    ("/./usr//lib/../lib/libc.so", b"\x7fELF" + bytes(range(256)) * 300),
    ("etc/weird name\twith tab", b"w"),
]


@suite.check("--cat through absolute and relative symlinks, a symlinked parent, whiteouts, an opaque directory")
def _(t):
    for label, archive in (("plain", generated_archive(t)), ("gzip", generated_archive(t, "gz.tar", {0, 1}))):
        for path, content in CAT_CONTENT:
            r = t.run(["-f", archive, "--cat", path])
            t.eq((r.rc, r.err_lines), (0, []), f"{label}: --cat {path}: exit and stderr")
            t.true(r.stdout.encode("utf-8", "surrogateescape") == content or
                   r.stdout == content.decode("utf-8", "replace"), f"{label}: --cat {path}: content")
        for path, message in CAT_ERRORS:
            r = t.run(["-f", archive, "--cat", path])
            t.eq(r.rc, 4, f"{label}: exit status of --cat {path[:40]}")
            t.eq(r.err_lines, [f"ERROR:undocker:--cat {path}: {message}"], f"{label}: stderr of --cat {path[:40]}")
            t.eq(r.stdout, "", f"{label}: stdout of --cat {path[:40]}")


@suite.check("--cat writes every regular file of a fixture byte for byte as -o extracts it")
def _(t):
    done = 0
    for name in ("dive-test-docker-image.tar", "dive-test-oci-gzip-image.tar", "dive-test-oci-zstd-image.tar"):
        path = fixture(name)
        if not path:
            continue
        out = t.path(name + "-dir")
        t.expect_rc(t.run(["-f", path, "-o", out]), 0)
        files = []
        for dirpath, _dirs, names in os.walk(out):
            files += [os.path.join(dirpath, n) for n in names if stat.S_ISREG(os.lstat(os.path.join(dirpath, n)).st_mode)]
        for file in sorted(files)[:: max(1, len(files) // 15)]:
            rel = os.path.relpath(file, out)
            cat = t.path("cat.out")
            r = sh(t, f"{quoted(common.UNDOCKER, '-f', path, '--cat', '/' + rel)} > {shlex.quote(cat)}")
            t.expect_rc(r, 0)
            with open(file, "rb") as a, open(cat, "rb") as b:
                t.true(a.read() == b.read(), f"{name}: --cat /{rel} differs from the extracted file")
        done += 1
    if not done:
        raise Skip("no fixture present")


# ------------------------------------------------------- --path, --exclude

def excluded(rel, patterns):
    """The rules of layer/tree_filter.hpp in Python (for simple patterns)."""
    for raw in patterns:
        anchored = raw.startswith("/")
        pattern = raw.lstrip("/")
        while pattern.startswith("./"):
            pattern = pattern[2:]
        pattern = pattern.rstrip("/")
        tails = [rel] if anchored else [rel] + [rel[i + 1:] for i, c in enumerate(rel) if c == "/"]
        if any(fnmatch.fnmatchcase(tail, pattern) for tail in tails):
            return True
    return False


def keeps(rel, targets, patterns):
    """rel: the path without its leading '/'; targets: physical paths."""
    if rel == "":
        return True
    parts = rel.split("/")
    if any(excluded("/".join(parts[:i]), patterns) for i in range(1, len(parts) + 1)):
        return False
    if not targets or "" in targets:
        return True
    return any(rel == target or rel.startswith(target + "/") or target.startswith(rel + "/") for target in targets)


def filtered_scan(root, targets, patterns):
    """scan_tree of a full extraction with only what the filter keeps; hardlink
    groups recomputed within it."""
    records = {rel: dict(record) for rel, record in scan_tree(root).items()
               if keeps(rel.lstrip("/"), targets, patterns)}
    for record in records.values():
        if record["links"]:
            group = [rel for rel in record["links"] if rel in records]
            record["links"] = group if len(group) > 1 else None
    return records


FILTERS = [
    # (arguments, physical targets)
    (["--path", "/lib/"], ["usr/lib"]),
    (["--path", "lib/extra/x", "--path", "etc"], ["usr/lib/extra/x", "etc"]),
    (["--path", "lib"], ["lib"]),
    (["--path", "/deep", "--exclude", "*.txt"], ["deep"]),
    (["--exclude", "etc", "--exclude", "/usr/lib/*.so"], []),
    (["--exclude", "d*"], []),
    (["--path", "../../../usr/./bin", "--exclude", "nothing-matches"], ["usr/bin"]),
    (["--path", "/", "--exclude", "lib/"], [""]),
]


def expect_filtered(t, full, out, targets, patterns, label):
    problems = _diff(filtered_scan(full, targets, patterns), scan_tree(out), set(), set(), False, False,
                     "filtered full extraction", "filtered output", root_ignore={"mtime"})
    if problems:
        raise Failure(f"{label}:\n  " + "\n  ".join(problems[:30]))


@suite.check("--path and --exclude: -o, --tar and --files equal a filtered copy of the full extraction")
def _(t):
    for compress, tag in (((), "plain"), ({0, 1}, "gzip")):
        archive = generated_archive(t, f"{tag}.tar", compress)
        full = t.path(f"{tag}-full")
        t.expect_rc(t.run(["-f", archive, "-o", full]), 0)
        for number, (args, targets) in enumerate(FILTERS):
            patterns = [args[i + 1] for i, a in enumerate(args) if a == "--exclude"]
            label = f"{tag} {' '.join(args)}"
            out = t.path(f"{tag}-{number}-o")
            t.expect_rc(t.run(["-f", archive, "-o", out, *args]), 0)
            expect_filtered(t, full, out, targets, patterns, f"-o {label}")
            untar = t.path(f"{tag}-{number}-untar")
            os.makedirs(untar)
            cmd = quoted(common.UNDOCKER, "-f", archive, "--tar", "-", *args)
            r = sh(t, f"{cmd} | tar -xpf - --numeric-owner -C {shlex.quote(untar)}")
            t.expect_rc(r, 0)
            expect_filtered(t, full, untar, targets, patterns, f"--tar {label}")
            listed = sorted(item["path"] for item in files_json(t, archive, *args) if item["path"] != ".")
            expected = sorted(rel.lstrip("/") for rel in filtered_scan(full, targets, patterns) if rel != "/")
            t.eq(listed, expected, f"--files {label}")


@suite.check("--path and --exclude on a real fixture: -o equals the filtered full extraction")
def _(t):
    path = fixture("dive-test-docker-image.tar")
    if not path:
        raise Skip("no fixture present")
    full = t.path("full")
    t.expect_rc(t.run(["-f", path, "-o", full]), 0)
    tops = sorted(os.listdir(full))
    chosen = [name for name in tops if os.path.isdir(os.path.join(full, name)) and
              not os.path.islink(os.path.join(full, name))][:1]
    t.true(chosen, f"no directory at the top of the fixture's tree: {tops}")
    out = t.path("out")
    t.expect_rc(t.run(["-f", path, "-o", out, "--path", chosen[0], "--exclude", "*.txt"]), 0)
    expect_filtered(t, full, out, chosen, ["*.txt"], f"--path {chosen[0]} --exclude *.txt")


@suite.check("--path of a name the image lacks: exit 4, one ERROR line, nothing written")
def _(t):
    archive = generated_archive(t)
    out = t.path("out")
    for path, message in (("etc/gone", "no such file or directory in the image"),
                          ("etc/passwd/x", "not a directory"),
                          ("loop1/", "too many levels of symbolic links")):
        r = t.run(["-f", archive, "-o", out, "--path", path])
        t.eq((r.rc, r.err_lines), (4, [f"ERROR:undocker:--path {path}: {message}"]), f"-o --path {path}")
        r = t.run(["-f", archive, "--files", "--path", path])
        t.eq((r.rc, r.err_lines, r.stdout), (4, [f"ERROR:undocker:--path {path}: {message}"], ""),
             f"--files --path {path}")
    t.true(not os.path.exists(out), "-o left a directory behind")


@suite.check("hostile names in --cat and --path (.., absolute, very long) never reach outside the image root")
def _(t):
    # The image has no etc/hostname: the host's must never come out.
    archive = t.path("small.tar")
    docker_archive(Image([Layer().dir("etc").file("etc/issue", "image issue\n")
                          .symlink("hostlink", "/../../../../etc/hostname")
                          .symlink("up", "../../../../../../")]), archive)
    before = t.sentinel()
    for path in ("../../../../etc/hostname", "/etc/hostname", "hostlink", "up/etc/hostname",
                 "/" + "../" * 5000 + "etc/hostname", "a/" * 3000 + "b", "x" * 5000):
        r = t.run(["-f", archive, "--cat", path])
        t.eq(r.rc, 4, f"--cat {path[:50]}…: exit status")
        t.eq(r.stdout, "", f"--cat {path[:50]}…: stdout")
        t.expect_one_error(r)
    r = t.run(["-f", archive, "--cat", "up/../../etc/issue"])
    t.eq((r.rc, r.stdout), (0, "image issue\n"), "--cat up/../../etc/issue")
    for number, path in enumerate(("../../../etc", "/../etc/", "up/etc")):
        target = os.path.join(t.out, str(number))
        t.expect_rc(t.run(["-f", archive, "-o", target, "--path", path]), 0)
        t.eq(t.listing(root=target), ["etc", "etc/issue"], f"-o --path {path}")
    t.outside_unchanged(before)


# ----------------------------------------------------------------- messages

@suite.check("usage: inspection options that make no sense together are refused, naming both, exit 2")
def _(t):
    archive = generated_archive(t)
    out = t.path("out")
    for args, message in (
            (["--cat", "a", "-o", out],
             "-o cannot be used with --cat, which writes one file to standard output and extracts nothing"),
            (["--cat", "a", "--tar", "-"],
             "--tar cannot be used with --cat, which writes one file to standard output and extracts nothing"),
            (["--files", "--cat", "a"], "--files and --cat exclude each other"),
            (["--files", "-o", out], "-o cannot be used with --files, which lists the image's final tree and extracts nothing"),
            (["--files", "--nspawn"],
             "--nspawn cannot be used with --files, which lists the image's final tree and extracts nothing"),
            (["--files", "--all"], "--all cannot be used with --files, which lists the image's final tree and extracts nothing"),
            (["--list", "--files"], "--list and --files exclude each other"),
            (["--layers", "--cat", "a"], "--layers and --cat exclude each other"),
            (["--verify", "--no-verify", "--files"], "--verify and --no-verify exclude each other"),
            (["--verify", "-o", out], "--verify is for --files and --cat: extraction and --tar verify every digest by default"),
            (["--verify", "--tar", "-"], "--verify is for --files and --cat: extraction and --tar verify every digest by default"),
            (["--cat", "a", "--path", "b"], "--path cannot be used with --cat, which names the one file to write"),
            (["--cat", "a", "--exclude", "b"], "--exclude cannot be used with --cat, which names the one file to write"),
            (["--cat", "a", "--json"], "--json cannot be used with --cat, which writes the file's bytes as they are"),
            (["--list", "--path", "a"], "--path cannot be used with --list, which lists the images and extracts nothing"),
            (["--layers", "--exclude", "a"],
             "--exclude cannot be used with --layers, which lists one image's layers and extracts nothing"),
            (["--cat", ""], "--cat needs a path in the image"),
            (["--files", "--path", ""], "--path needs a path in the image"),
            (["--files", "--exclude="], "--exclude needs a pattern"),
            (["--cat"], "option --cat needs an argument")):
        r = t.run(["-f", archive, *args])
        t.eq((r.rc, r.err_lines, r.stdout), (2, ["ERROR:undocker:" + message + HELP], ""), f"{args}")
    t.true(not os.path.exists(out), "DIR was created by a refused command line")


@suite.check("--help, the man page, the bash completion and README name every inspection option")
def _(t):
    r = t.run(["--help"])
    t.expect_rc(r, 0)
    with open(os.path.join(common.ROOT, "doc", "undocker.1"), encoding="utf-8") as f:
        man = f.read().replace("\\-", "-")
    with open(os.path.join(common.ROOT, "doc", "undocker.bash-completion"), encoding="utf-8") as f:
        completion = f.read()
    with open(os.path.join(common.ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for option in ("--files", "--cat", "--path", "--exclude", "--verify"):
        for where, text in (("--help", r.stdout), ("doc/undocker.1", man), ("the completion", completion),
                            ("README.md", readme)):
            t.true(option in text, f"{where} lacks {option}")
    for where, text in (("--help", r.stdout.replace("\n", " ")), ("doc/undocker.1", man.replace("\n", " "))):
        t.true("UTC" in text, f"{where} does not say that --files shows mtimes in UTC")
        t.true("manifest and config" in text, f"{where} does not say what --files/--cat verify")


if __name__ == "__main__":
    sys.exit(suite.main())
