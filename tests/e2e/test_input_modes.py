#!/usr/bin/env python3
"""Reading the archive: `-f FILE`, `-f - < FILE`, `< FILE`, `cat FILE |` and
`cat FILE | -f -` give identical trees; a pipe is spooled to an unlinked
temporary file in $TMPDIR, so $TMPDIR (an empty scratch directory) is empty
afterwards, after a failure (a truncated archive piped in), and after
SIGTERM/SIGINT while spooling.

usage: test_input_modes.py UNDOCKER
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Suite, Skip, Failure, Image, Layer, docker_archive, fixture)  # noqa: E402

suite = Suite("input")


def generated_archive(t, big=False):
    layers = [Layer().dir("etc").file("etc/a", "a" * 1000).symlink("etc/l", "a").hardlink("etc/h", "etc/a"),
              Layer().dir("etc").whiteout("etc/l").file("etc/b", "b", mode=0o4755)]
    if big:  # several MB: far more than a pipe buffer, so spooling really streams
        layers.append(Layer().file("big", os.urandom(1 << 20) * 12))
    path = t.path("archive.tar")
    docker_archive(Image(layers, tags=["input:latest"]), path)
    return path


def all_modes(t, archive, label):
    """Extract archive every way; every tree equals the -f FILE tree and TMPDIR stays empty."""
    modes = {
        "-f FILE": dict(args=["-f", archive]),
        "-f - < FILE": dict(args=["-f", "-"], stdin=archive),
        "< FILE": dict(args=[], stdin=archive),
        "cat FILE |": dict(args=[], pipe_from=archive),
        "cat FILE | -f -": dict(args=["-f", "-"], pipe_from=archive),
    }
    first = None
    for name, how in modes.items():
        out = t.path("out-" + "".join(c if c.isalnum() else "_" for c in name))
        r = t.run(how["args"] + ["-o", out], stdin=how.get("stdin"), pipe_from=how.get("pipe_from"))
        if r.rc != 0:
            raise Failure(f"{label}: {name}: exit {r.rc}\n{r.describe()}")
        t.tmp_empty()
        if first is None:
            first = out
        else:
            t.trees_equal(first, out, root_ignore=("mtime",))


@suite.check("generated archive: all five input modes give the same tree, TMPDIR empty")
def _(t):
    all_modes(t, generated_archive(t), "generated")


@suite.check("a 12 MiB archive through a pipe equals -f FILE, TMPDIR empty")
def _(t):
    all_modes(t, generated_archive(t, big=True), "big")


@suite.check("dive fixture: all five input modes give the same tree, TMPDIR empty")
def _(t):
    path = fixture("dive-test-docker-image.tar")
    if not path:
        raise Skip("fixture absent")
    all_modes(t, path, "dive")


@suite.check("--list and --layers read from a pipe too")
def _(t):
    archive = generated_archive(t)
    r = t.run(["--list"], pipe_from=archive)
    t.expect_rc(r, 0)
    t.eq(r.stdout, "input: latest\n", "--list from a pipe")
    r = t.run(["--layers"], pipe_from=archive)
    t.expect_rc(r, 0)
    t.eq(len(r.out_lines), 2, "--layers lines from a pipe")
    t.tmp_empty()


def truncated(t):
    data = open(generated_archive(t, big=True), "rb").read()
    # Cut inside the big layer's data: the outer tar ends in the middle of a member.
    return t.write("truncated.tar", data[: len(data) * 2 // 3])


@suite.check("a truncated archive through a pipe: exit 3, one ERROR line, TMPDIR empty")
def _(t):
    path = truncated(t)
    r = t.run(["-o", t.out], pipe_from=path)
    t.expect_rc(r, 3)
    t.tmp_empty()


@suite.check("a truncated archive on stdin (redirect) and with -f: exit 3, TMPDIR empty")
def _(t):
    path = truncated(t)
    r = t.run(["-o", t.out], stdin=path)
    t.expect_rc(r, 3)
    r = t.run(["-f", path, "-o", t.path("out2")])
    t.expect_rc(r, 3)
    t.tmp_empty()


@suite.check("empty standard input: exit 3, one ERROR line, TMPDIR empty")
def _(t):
    r = t.run(["-o", t.out], stdin=b"")
    t.expect_rc(r, 3)
    t.tmp_empty()


@suite.check("garbage through a pipe: exit 3, TMPDIR empty")
def _(t):
    r = t.run(["--list"], stdin=os.urandom(100000))
    t.expect_rc(r, 3)
    t.tmp_empty()


@suite.check("a pipe with TMPDIR missing: exit 1, one ERROR line")
def _(t):
    archive = generated_archive(t)
    r = t.run(["-o", t.out], pipe_from=archive, tmpdir=t.path("no-such-dir"))
    t.expect_rc(r, 1)


def interrupted(t, signum, name):
    """Feed half an archive through a pipe, then stall; once the binary has
    spooled all of it (so it is surely spooling, its handlers in place,
    however loaded the machine), signal the binary inside the jail."""
    common = sys.modules["common"]
    data = open(generated_archive(t, big=True), "rb").read()
    half = len(data) // 2
    env = {k: v for k, v in os.environ.items() if k != "UNDOCKER_NO_PLAN"}
    env["TMPDIR"] = t.tmp
    command = common.JAIL + ["--bind", t.scratch, t.scratch, "--cap-add", "ALL", "--chdir", t.scratch, "--",
                             common.UNDOCKER, "-o", t.out]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        proc.stdin.write(data[:half])
        proc.stdin.flush()
        pid, spooled = None, 0
        deadline = time.monotonic() + 120  # only a hang bound: the event ends the wait
        while spooled < half:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise Failure(f"the binary {'exited' if proc.poll() is not None else 'is still running'} "
                              f"with {spooled} of the {half} bytes fed spooled in TMPDIR")
            time.sleep(0.01)
            pid = pid or binary_pid(proc.pid, common.UNDOCKER)
            spooled = spool_bytes(pid, t.tmp) if pid else 0
        during = os.listdir(t.tmp)
        os.kill(pid, signum)
        try:
            # stdin stays open: the exit must come from the signal, not from EOF.
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise Failure(f"still running 60 s after signal {signum}")
        stderr = proc.stderr.read().decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    t.eq(proc.returncode, 128 + signum, f"exit status after {name} (stderr: {stderr.strip()!r})")
    t.eq([line for line in stderr.splitlines() if line.startswith("ERROR:undocker:")],
         [f"ERROR:undocker:{'interrupted' if signum == signal.SIGINT else 'terminated'} by {name}"], "ERROR lines")
    t.tmp_empty()
    t.eq(during, [], "TMPDIR while spooling (the spool file should be unlinked)")


def binary_pid(parent, binary):
    """The process below parent (bwrap) running binary, or None."""
    todo = [parent]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        for kid in kids:
            try:
                if os.path.realpath(f"/proc/{kid}/exe") == os.path.realpath(binary):
                    return kid
            except OSError:
                pass
        todo += kids
    return None


def spool_bytes(pid, tmpdir):
    """Size of the unlinked file in tmpdir that pid has open (the spool), or 0."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(tmpdir + "/"):
                return os.stat(f"/proc/{pid}/fd/{fd}").st_size
        except OSError:
            pass
    return 0


@suite.check("SIGTERM while spooling a pipe: TMPDIR empty, exit 143, one ERROR line")
def _(t):
    interrupted(t, signal.SIGTERM, "SIGTERM")


@suite.check("SIGINT while spooling a pipe: TMPDIR empty, exit 130, one ERROR line")
def _(t):
    interrupted(t, signal.SIGINT, "SIGINT")


if __name__ == "__main__":
    sys.exit(suite.main())
