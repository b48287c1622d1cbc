#!/usr/bin/env python3
"""Every message and option as a careful user expects (issue 15), and an
archive never read from a terminal (issue 11): the exact words and exit
status of each usage error, the refusals of options that contradict each
other or would do nothing, what follows a not-found ERROR line, "not a tar
archive", singular and plural, the --layers -v table and its JSON, the
progress line on a narrow terminal with log lines above it, the announced
restart, --help against the man page, and the bash completion loaded by
bash-completion in a real bash.

usage: test_messages.py UNDOCKER
Terminals are made with script (util-linux); every run is jailed.
"""
import gzip
import io
import json
import os
import re
import shlex
import shutil
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import (Suite, Skip, Failure, Image, Layer, docker_archive, docker25_archive,  # noqa: E402
                    legacy_archive, layers_docker_archive, fixture, sha256_hex, ROOT)

suite = Suite("messages")
HELP = " (see undocker --help)"


def one_error_line(t, result, rc, message):
    """stderr is exactly ERROR:undocker:message, stdout empty, exit rc."""
    t.eq(result.rc, rc, f"exit status of {result.args}")
    t.eq(result.err_lines, ["ERROR:undocker:" + message], f"stderr of {result.args}")
    t.eq(result.stdout, "", f"stdout of {result.args}")


def small_archive(t, name="a.tar", tags=("app:1",)):
    path = t.path(name)
    docker_archive(Image([Layer().file("hello", "hi")], tags=list(tags)), path)
    return path


def in_terminal(t, command, columns=None, env=None):
    """Run the shell command line under script, so that stdin, stdout and
    stderr are a terminal (of `columns` columns); returns the Result whose
    stdout is everything the terminal showed."""
    if shutil.which("script") is None:
        raise Skip("script (util-linux) missing")
    if columns:
        command = f"stty cols {columns} rows 24; {command}"
    return t.run(["-qfec", command, "/dev/null"], binary=shutil.which("script"), env=env)


def quoted(*words):
    return " ".join(shlex.quote(str(w)) for w in words)


# ------------------------------------------------------------ usage errors

@suite.check("usage: an unknown option is named as typed, dashes included, with the pointer to --help, exit 2")
def _(t):
    for args, message in (
            (["--frobnicate"], "unknown option --frobnicate"),
            (["--frobnicate=3"], "unknown option --frobnicate"),
            (["-x"], "unknown option -x"),
            (["-vx"], "unknown option -x"),
            (["--f"], "unknown option --f"),
            (["-@"], "unknown option -@"),
            (["-f"], "option -f needs an argument"),
            (["--file"], "option --file needs an argument"),
            (["-vo"], "option -o needs an argument"),
            (["--list=yes"], "option --list takes no argument"),
            (["a", "b"], "unexpected argument b: give at most one IMAGE"),
            (["-f", ""], "-f needs a file name, or - for standard input"),
            (["--file="], "--file needs a file name, or - for standard input"),
            (["-o", ""], "-o needs a directory name"),
            (["--tar", ""], "--tar needs a file name, or - for standard output"),
            (["--uid-shift", "x1"], "--uid-shift wants a number from 0 to 4294967294, not x1"),
            (["--platform", "linux"], "--platform wants OS/ARCH[/VARIANT], not linux")):
        one_error_line(t, t.run(args), 2, message + HELP)


@suite.check("usage: no cxxopts wording leaks out (one ERROR line, no curly quotes, the --help pointer)")
def _(t):
    for args in (["--"], ["---x"], ["-"], ["--=x"], ["-f", "a", "--bogus", "-q"], ["--list", "--json=1"]):
        r = t.run(args)
        if r.rc != 2:
            continue  # "--" and "-" alone are not usage errors (stdin is /dev/null here)
        t.eq(len(r.err_lines), 1, f"stderr lines of {args}: {r.err_lines}")
        line = r.err_lines[0]
        t.true(line.startswith("ERROR:undocker:") and line.endswith(HELP), f"{args}: {line!r}")
        t.true("‘" not in line and "Option" not in line and "Argument" not in line, f"{args}: {line!r}")


@suite.check("usage: contradicting options and options that would do nothing are refused, naming both")
def _(t):
    archive = small_archive(t)
    out = t.path("out")
    for args, message in (
            (["-q", "-v"], "-q and -v exclude each other"),
            (["--quiet", "-d"], "--quiet and -d exclude each other"),
            (["-d", "-q"], "-q and -d exclude each other"),
            (["--list", "--layers"], "--list and --layers exclude each other"),
            (["--layers", "--config"], "--layers and --config exclude each other"),
            (["--list", "-o", out], "-o cannot be used with --list, which lists the images and extracts nothing"),
            (["--ls", "--nspawn"], "--nspawn cannot be used with --ls, which lists the images and extracts nothing"),
            (["--layers", "--uid-shift", "5"],
             "--uid-shift cannot be used with --layers, which lists one image's layers and extracts nothing"),
            (["--config", "--output", out],
             "--output cannot be used with --config, which prints one image's config and extracts nothing"),
            (["--layers", "-l", "0"], "-l cannot be used with --layers, which lists one image's layers and extracts nothing"),
            (["--list", "-i"], "-i cannot be used with --list, which lists the images and extracts nothing"),
            (["--list", "--all"], "--all cannot be used with --list, which lists the images and extracts nothing"),
            (["--list", "app:1"], "IMAGE app:1 cannot be used with --list, which lists every image"),
            (["--list", "--platform", "linux/amd64"], "--platform cannot be used with --list, which lists every image"),
            (["--config", "--json"], "--json cannot be used with --config, which prints JSON already"),
            (["--all", "-l", "0", "-o", out], "-l cannot be used with --all: layers are chosen in one image"),
            (["--all", "app:1", "-o", out], "IMAGE app:1 cannot be used with --all, which extracts every image"),
            (["-o", out, "--tar", t.path("x.tar")], "-o and --tar exclude each other"),
            (["--tar", "-", "--all"], "--all cannot be used with --tar, which writes one image as a tar stream"),
            (["--nspawn", "--tar", "-"], "--nspawn cannot be used with --tar, which writes one image as a tar stream")):
        one_error_line(t, t.run(["-f", archive, *args]), 2, message + HELP)
    t.true(not os.path.exists(out), "DIR was created by a refused command line")


@suite.check("usage: an output directory that resolves to / is refused, exit 2, nothing written")
def _(t):
    archive = small_archive(t)
    os.symlink("/", t.path("root-link"))
    for args, cwd, message in (
            (["-o", "/"], None, "refusing to extract into -o /, which is /"),
            (["--output", t.path("root-link")], None, f"refusing to extract into --output {t.path('root-link')}, which is /"),
            (["-o", "/nonexistent/.."], None, "refusing to extract into -o /nonexistent/.., which is /"),
            (["--all", "-o", "/"], None, "refusing to extract into -o /, which is /"),
            ([], "/", "refusing to extract into the current directory, which is /: name another with -o")):
        one_error_line(t, t.run(["-f", archive, *args], cwd=cwd), 2, message + HELP)
    # Listing from / writes nothing: allowed.
    r = t.run(["-f", archive, "--list"], cwd="/")
    t.expect_rc(r, 0)


@suite.check("terminal_on_stdin: no -f (or -f -) with a terminal on stdin is exit 2 with a hint, at once")
def _(t):
    archive = small_archive(t)
    message = "ERROR:undocker:refusing to read an archive from a terminal: name one with -f FILE, or pipe one in" + HELP
    for args in ([], ["--list"], ["-f", "-", "-o", t.path("out")]):
        r = in_terminal(t, quoted(common.UNDOCKER, *args))
        t.eq(r.rc, 2, f"exit status under script of {args}")
        t.eq([line.strip() for line in r.stdout.splitlines() if line.strip()], [message], f"terminal of {args}")
        t.true(r.elapsed < 10, f"took {r.elapsed:.1f} s")
    # A file named with -f, or a pipe, is read whatever stdin is.
    r = in_terminal(t, quoted(common.UNDOCKER, "-f", archive, "--list"))
    t.eq((r.rc, r.stdout.strip()), (0, "app: 1"), "-f FILE under script")
    r = in_terminal(t, f"cat {shlex.quote(archive)} | {quoted(common.UNDOCKER, '--list')}")
    t.eq((r.rc, r.stdout.strip()), (0, "app: 1"), "a pipe under script")


# ------------------------------------------------------ not found, not tar

def two_images(t):
    path = t.path("two.tar")
    docker_archive([Image([Layer().file("a", "1")], tags=["app:1", "app:2"]),
                    Image([Layer().file("b", "2")], tags=["tool:latest"])], path)
    return path


@suite.check("not found: the original's ERROR line, then the image's tags and a hint at INFO; -q keeps the ERROR line")
def _(t):
    archive = two_images(t)
    r = t.run(["-f", archive, "-o", t.out, "app:3"])
    t.eq(r.rc, 4, "exit")
    t.eq(r.err_lines, ["ERROR:undocker:failed to find image app with tag 3",
                       "INFO:undocker:image app has tags: 1, 2",
                       "INFO:undocker:see every image and tag with --list"], "stderr")
    r = t.run(["-f", archive, "-o", t.out, "nosuch"])
    t.eq(r.err_lines, ["ERROR:undocker:failed to find image nosuch with tag latest",
                       "INFO:undocker:the archive holds 2 images: app:1, tool:latest",
                       "INFO:undocker:see every image and tag with --list"], "stderr")
    r = t.run(["-f", archive, "-o", t.out, "-q", "app:3"])
    t.eq((r.rc, r.err_lines), (4, ["ERROR:undocker:failed to find image app with tag 3"]), "-q")


@suite.check("ambiguous: the original's ERROR line, then the archive's images (at most 10, then a count) and a hint")
def _(t):
    archive = two_images(t)
    r = t.run(["-f", archive, "-o", t.out])
    t.eq(r.rc, 4, "exit")
    t.eq(r.err_lines, ["ERROR:undocker:No image name specified and multiple images contained in archive",
                       "INFO:undocker:the archive holds 2 images: app:1, tool:latest",
                       "INFO:undocker:name one as IMAGE (see --list), or extract every one with --all"], "stderr")
    r = t.run(["-f", archive, "--layers", "-q"])
    t.eq((r.rc, r.err_lines), (4, ["ERROR:undocker:No image name specified and multiple images contained in archive"]),
         "-q")
    many = t.path("many.tar")
    docker_archive([Image([Layer().file(f"f{i}", str(i))], tags=[f"img{i}:v{i}"]) for i in range(12)], many)
    r = t.run(["-f", many, "-o", t.out])
    t.eq(r.err_lines[1], "INFO:undocker:the archive holds 12 images: " +
         ", ".join(f"img{i}:v{i}" for i in range(10)) + " and 2 more", "the list of images")


@suite.check("not found on the real fixtures: dive-test:nope and the bundle without IMAGE")
def _(t):
    dive, bundle = fixture("dive-test-docker-image.tar"), fixture("ggcr-test_bundle.tar")
    if not dive or not bundle:
        raise Skip("fixtures absent")
    r = t.run(["-f", dive, "-o", t.out, "dive-test:nope"])
    t.eq((r.rc, r.err_lines), (4, ["ERROR:undocker:failed to find image dive-test with tag nope",
                                   "INFO:undocker:image dive-test has tag: latest",
                                   "INFO:undocker:see every image and tag with --list"]), "dive-test:nope")
    r = t.run(["-f", bundle, "-o", t.out])
    t.eq((r.rc, r.err_lines[1:]), (4, ["INFO:undocker:the archive holds 2 images: test_image_2:latest, test_image_1:latest",
                                       "INFO:undocker:name one as IMAGE (see --list), or extract every one with --all"]),
         "bundle")


@suite.check("layer not found: ERROR line, then how many layers and --layers")
def _(t):
    archive = small_archive(t)
    r = t.run(["-f", archive, "-o", t.out, "-l", "7"])
    t.eq((r.rc, r.err_lines), (4, ["ERROR:undocker:layer index 7 is out of range: the image has 1 layer",
                                   "INFO:undocker:see the layers and their indexes with --layers"]), "-l 7")
    r = t.run(["-f", archive, "-o", t.out, "-l", "ffffff"])
    t.eq((r.rc, r.err_lines), (4, ["ERROR:undocker:failed to find layer ffffff in the image",
                                   "INFO:undocker:the image has 1 layer; see them with --layers"]), "-l ffffff")


@suite.check("not_a_tar_archive: /etc/passwd, a short file and text are called that, with the detail after it")
def _(t):
    one_error_line(t, t.run(["-f", "/etc/passwd", "--list"]), 3,
                   "/etc/passwd: not a tar archive (header checksum mismatch at offset 0)")
    short = t.write("short.txt", b"hello\n")
    one_error_line(t, t.run(["-f", short, "-o", t.out]), 3,
                   f"{short}: not a tar archive (archive ends inside a header at offset 0)")
    text = t.write("text.tar", b"this is not a tar archive at all\n" * 40)
    one_error_line(t, t.run(["-f", text, "--list"], stdin=None), 3,
                   f"{text}: not a tar archive (header checksum mismatch at offset 0)")


@suite.check("plurals: the -v summary says '1 layer, 1 entry'")
def _(t):
    archive = small_archive(t)
    r = t.extract(archive, "-v")
    summary = [line for line in r.err_lines if line.startswith("INFO:undocker:extracted image")]
    t.eq(len(summary), 1, f"summary lines in {r.err_lines}")
    t.true(re.fullmatch(r"INFO:undocker:extracted image app \([0-9a-f]{64}\) into .*: 1 layer, 1 entry, 2 bytes in "
                        r"[0-9.]+ s", summary[0]), f"summary: {summary[0]!r}")


# ------------------------------------------------------------- --layers -v

HEADER = ["INDEX", "ID", "DIFF_ID", "MEDIA_TYPE", "COMPRESSED", "SIZE", "CREATED_BY"]
HISTORY = [{"created_by": "/bin/sh -c #(nop) ADD file:abc in /", "created": "2020-09-13T12:26:40Z"},
           {"created_by": "/bin/sh -c #(nop)  ENV A=1", "empty_layer": True},
           {"created_by": "RUN apk add curl # buildkit"},
           {"created_by": "CMD [\"sh\"]", "empty_layer": True}]


def table_rows(t, result):
    t.expect_rc(result, 0)
    lines = result.out_lines
    t.eq(lines[0].split(), HEADER, "header")
    return [line.split(None, 6) for line in lines[1:]]


@suite.check("--layers -v: header and one shape of row in every format; created_by skips empty_layer history")
def _(t):
    layers = [Layer().file("a", "1").bytes(), Layer().file("b", "22").bytes()]
    image = Image(layers, tags=["tab:1"], config={"history": HISTORY})
    created = ["/bin/sh -c #(nop) ADD file:abc in /", "RUN apk add curl # buildkit"]
    diff_ids = ["sha256:" + sha256_hex(layer) for layer in layers]

    docker_archive(image, t.path("d.tar"))
    rows = table_rows(t, t.run(["-f", t.path("d.tar"), "--layers", "-v"]))
    t.eq(rows, [[str(i), image.layer_ids[i], diff_ids[i], "-", "-", str(len(layers[i])), created[i]] for i in range(2)],
         "docker-archive rows")

    docker25_archive(image, t.path("d25.tar"))
    rows = table_rows(t, t.run(["-f", t.path("d25.tar"), "--layers", "-v"]))
    t.eq(rows, [[str(i), sha256_hex(layers[i]), diff_ids[i], "-", "-", str(len(layers[i])), created[i]]
                for i in range(2)], "Docker 25 rows")

    _, ids = legacy_archive(layers, tags=["old:1"], path=t.path("v1.tar"))
    rows = table_rows(t, t.run(["-f", t.path("v1.tar"), "--layers", "-v"]))
    t.eq(rows, [[str(i), ids[i], "-", "-", "-", str(len(layers[i])), f"layer {i}"] for i in range(2)], "v1 rows")

    # gzip layers: the compressed size known, the uncompressed not.
    layers_docker_archive(layers, t.path("gz.tar"), compress={0, 1})
    rows = table_rows(t, t.run(["-f", t.path("gz.tar"), "--layers", "-v"]))
    t.eq([row[4:] for row in rows], [[str(len(gzip.compress(layer, mtime=0))), "-", "-"] for layer in layers],
         "gzip rows: COMPRESSED SIZE CREATED_BY")

    # The ids alone without -v, as the original printed them.
    r = t.run(["-f", t.path("d.tar"), "--layers"])
    t.eq(r.out_lines, image.layer_ids, "--layers without -v")


@suite.check("--layers --json: the same fields as the table (created_by, compressed and uncompressed size)")
def _(t):
    layers = [Layer().file("a", "1").bytes(), Layer().file("b", "22").bytes()]
    docker_archive(Image(layers, tags=["tab:1"], config={"history": HISTORY}), t.path("d.tar"))
    r = t.run(["-f", t.path("d.tar"), "--layers", "--json"])
    t.expect_rc(r, 0)
    doc = json.loads(r.stdout)
    got = [(layer["index"], layer["created_by"], layer["compressed_size"], layer["uncompressed_size"], layer["size"])
           for layer in doc["layers"]]
    t.eq(got, [(0, "/bin/sh -c #(nop) ADD file:abc in /", None, len(layers[0]), len(layers[0])),
               (1, "RUN apk add curl # buildkit", None, len(layers[1]), len(layers[1]))], "layer fields")
    keys = {"index", "id", "member", "digest", "diff_id", "media_type", "size", "compressed_size",
            "uncompressed_size", "created_by"}
    t.eq(set(doc["layers"][0]), keys, "layer keys")
    r = t.run(["-f", t.path("d.tar"), "--list", "--json"])
    t.eq(set(json.loads(r.stdout)["images"][0]["layers"][0]), keys, "--list --json layer keys")


@suite.check("--layers -v on a terminal: short ids, created_by cut to the width with an ellipsis")
def _(t):
    long_command = "RUN " + "x" * 300
    image = Image([Layer().file("a", "1")], tags=["tab:1"], config={"history": [{"created_by": long_command}]})
    docker_archive(image, t.path("d.tar"))
    r = in_terminal(t, quoted(common.UNDOCKER, "-f", t.path("d.tar"), "--layers", "-v"), columns=100)
    t.eq(r.rc, 0, f"exit\n{r.describe()}")
    lines = [line.rstrip("\r") for line in r.stdout.splitlines() if line.strip()]
    t.eq(len(lines), 2, f"lines: {lines}")
    t.true(all(len(line) <= 99 for line in lines), f"wider than 99 columns: {[len(line) for line in lines]}")
    row = lines[1].split(None, 6)
    t.eq(row[1], image.layer_ids[0][:12], "short id")
    t.true(row[6].startswith("RUN xxx") and row[6].endswith("…"), f"created_by cut: {row[6]!r}")
    r = t.run(["-f", t.path("d.tar"), "--layers", "-v"])
    t.eq(r.out_lines[1].split(None, 6)[6], long_command, "whole when not a terminal")


# -------------------------------------------------------------- progress

PART = (r"layer \d+/\d+( [0-9a-z]{1,12})?(  \d+ (entry|entries))?(  [\d.]+ (B|KiB|MiB|GiB)( / [\d.]+ (B|KiB|MiB|GiB))?)?"
        r"(  [\d.]+ MiB/s)?(  \d+:\d\d(:\d\d)? left)?")


def many_files_layer(count, prefix, size=2000):
    layer = Layer()
    layer.dir(prefix)
    for i in range(count):
        layer.file(f"{prefix}/f{i:05}", os.urandom(size))
    return layer.bytes()


def progress_segments(captured):
    """The progress texts drawn: what follows each \\r, without the erase
    sequence, that is not a log line."""
    segments = []
    for line in captured.split("\n"):
        for piece in line.split("\r"):
            piece = piece.replace("\x1b[K", "")
            if piece and not piece.startswith(("INFO:", "DEBUG:", "WARNING:", "ERROR:")):
                segments.append(piece)
    return segments


@suite.check("progress on a 40-column terminal: never wider, only whole words; -v lines above it, whole")
def _(t):
    layers = [many_files_layer(3000, "one"), many_files_layer(3000, "two"), many_files_layer(3000, "three")]
    archive = t.path("big.tar")
    layers_docker_archive(layers, archive, tag="big:1")
    r = in_terminal(t, quoted(common.UNDOCKER, "-v", "-f", archive, "-o", t.out), columns=40,
                    env={"UNDOCKER_NO_PLAN": "1"})
    t.eq(r.rc, 0, f"exit\n{r.describe()}")
    segments = progress_segments(r.stdout)
    t.true(segments, f"no progress drawn: {r.stdout[-800:]!r}")
    for segment in segments:
        t.true(len(segment) <= 39, f"progress wider than 39 columns: {segment!r}")
        t.true(re.fullmatch(PART, segment), f"progress with a cut word: {segment!r}")
    # Each log line whole on its own line: at the start of the line, or
    # right after the erase of the progress line.
    logged = [line for line in r.stdout.split("\n") if "INFO:undocker:" in line]
    t.eq(len([line for line in logged if "extracting layer" in line]), 3, f"extracting lines: {logged}")
    for line in logged:
        before, _, rest = line.partition("INFO:undocker:")
        # (The old display wrote it straight after the bar: "…\x1b[KINFO:".)
        t.true(before == "" or before.endswith("\r\x1b[K"), f"log line not on a line of its own: {line!r}")
        t.true(re.fullmatch(r"(extracting|extracted) [^\r\x1b]*\r?", rest), f"log line not whole: {line!r}")


@suite.check("restart: a plan that does not hold is announced once at INFO with its reason; the count goes on")
def _(t):
    bottom, upper = io.BytesIO(), io.BytesIO()
    with tarfile.open(fileobj=bottom, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(4000):  # enough entries for the bar to be drawn while the bottom layer streams
            info = tarfile.TarInfo(f"fill/f{i:05}")
            data = os.urandom(3000)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("a/x")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"bottom"))
        link = tarfile.TarInfo("b/y")
        link.type = tarfile.LNKTYPE
        link.linkname = "a/x"
        tar.addfile(link)
    with tarfile.open(fileobj=upper, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a/x")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"upper"))
    archive = t.path("restart.tar")
    layers_docker_archive([bottom.getvalue(), upper.getvalue()], archive, compress={0}, tag="restart:1")
    env = {"UNDOCKER_PLAN_ALWAYS": "1"}
    r = t.run(["-v", "-f", archive, "-o", t.out], env=env)
    t.expect_rc(r, 0)
    restarts = [line for line in r.err_lines if "does not hold" in line]
    t.eq(restarts, ["INFO:undocker:the plan does not hold for layer l0 (a later entry needs a file skipped because an "
                    "upper layer replaces it): starting over, applying every layer in full"], "restart lines")
    t.entry("b/y", content="bottom")
    t.entry("a/x", content="upper")
    r = t.run(["-f", archive, "-o", t.path("quiet")], env=env)
    t.eq((r.rc, r.stderr), (0, ""), "without -v the restart is silent")
    r = in_terminal(t, quoted(common.UNDOCKER, "-f", archive, "-o", t.path("tty")), columns=120, env=env)
    t.eq(r.rc, 0, f"exit\n{r.describe()}")
    counts = [int(m.group(1)) for m in re.finditer(r"(\d+) entr(?:y|ies)", r.stdout)]
    t.true(counts, f"no progress drawn: {r.stdout[-500:]!r}")
    t.eq(counts, sorted(counts), "entry counts on the progress line (never back)")


# ------------------------------------------------------ --help, man page

@suite.check("--help: the IMAGE syntax, every alias, examples with the original's pipe form; the man page matches")
def _(t):
    r = t.run(["--help"])
    t.expect_rc(r, 0)
    text = r.stdout
    for wanted in ("IMAGE is NAME[:TAG]", "NAME@sha256:HEX", "unique\nprefix", "--ls", "Examples:",
                   "docker save IMAGE | undocker -o DIR IMAGE", "Exit status:"):
        t.true(wanted in text, f"--help lacks {wanted!r}")
    examples = text.split("Examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    t.true(len(examples) >= 3, f"fewer than 3 examples: {examples}")
    with open(os.path.join(ROOT, "doc", "undocker.1"), encoding="utf-8") as f:
        man = f.read().replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")
    options = sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-zA-Z])\b", text)))
    missing = [option for option in options if option not in man]
    t.eq(missing, [], "options of --help missing from doc/undocker.1")
    for wanted in ("docker save IMAGE | undocker -o DIR IMAGE", "@sha256:", "--ls", "CREATED_BY",
                   "see undocker --help", "not a tar archive"):
        t.true(wanted in man, f"doc/undocker.1 lacks {wanted!r}")


# ------------------------------------------------------- bash completion

@suite.check("bash_completion: the installed completion loads through bash-completion and completes options")
def _(t):
    framework = "/usr/share/bash-completion/bash_completion"
    if not os.path.isfile(framework) or shutil.which("bash") is None:
        raise Skip("bash-completion is not installed (.ci/install-deps installs it)")
    # Where `meson install` puts it (doc/meson.build), found by the
    # framework's own loader through XDG_DATA_DIRS.
    completions = t.path("share", "bash-completion", "completions")
    os.makedirs(completions)
    shutil.copy(os.path.join(ROOT, "doc", "undocker.bash-completion"), os.path.join(completions, "undocker"))
    bindir = t.path("bin")
    os.makedirs(bindir)
    os.symlink(common.UNDOCKER, os.path.join(bindir, "undocker"))
    archive = two_images(t)
    script = f"""
set -u
export XDG_DATA_DIRS={shlex.quote(t.path("share"))}
export PATH={shlex.quote(bindir)}:$PATH
source {framework}
__load_completion undocker || {{ echo "LOAD FAILED"; exit 1; }}
complete -p undocker
complete_line() {{
    COMP_LINE=$1; COMP_POINT=${{#COMP_LINE}}
    read -ra COMP_WORDS <<<"$COMP_LINE"
    [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
    COMPREPLY=()
    _undocker undocker "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
    echo "$1=> ${{COMPREPLY[*]}}"
}}
complete_line "undocker --la"
complete_line "undocker --l"
complete_line "undocker -"
complete_line "undocker -f {archive} ap"
complete_line "undocker -f {archive} --platform linux/arm"
"""
    r = t.run(["--norc", "--noprofile", "-c", script], binary=shutil.which("bash"))
    t.eq(r.rc, 0, f"bash\n{r.describe()}")
    lines = r.out_lines
    t.true(any(line.startswith("complete -F _undocker") and line.endswith(" undocker") for line in lines),
           f"no 'complete -F _undocker undocker': {lines}")
    replies = {line.split("=> ", 1)[0]: set(line.split("=> ", 1)[1].split()) for line in lines if "=> " in line}
    t.eq(replies.get("undocker --la"), {"--layers", "--layer", "--layer-store"}, "completions of --la")
    t.eq(replies.get("undocker --l"), {"--list", "--ls", "--layers", "--layer", "--layer-store"}, "completions of --l")
    every = replies.get("undocker -", set())
    for option in ("--file", "--output", "--tar", "--list", "--ls", "--layers", "--config", "--json", "--all",
                   "--uid-shift", "--nspawn", "--platform", "--no-verify", "-q", "-v", "--help", "--version",
                   "--layer-store", "--userxattr"):
        t.true(option in every, f"{option} not offered after '-': {sorted(every)}")
    t.eq(replies.get(f"undocker -f {archive} ap"), {"app:1", "app:2"}, "IMAGE completion from --list")
    t.true({"linux/arm64", "linux/arm/v7"} <= replies.get(f"undocker -f {archive} --platform linux/arm", set()),
           "--platform completion")


if __name__ == "__main__":
    sys.exit(suite.main())
