#!/usr/bin/env python3
"""The planner (layer/plan.cpp) must never change the tree.

Generates random multi-layer docker-archives full of the cases that matter
to it (overwrites, type changes, whiteouts of files and directories, opaque
directories, symlinked directories, hardlinks to files that later layers
replace) and extracts each twice, with the planner and with
UNDOCKER_NO_PLAN=1 (plain layer-by-layer application), inside bubblewrap.
The two trees must be equal on every field treecmp compares. Also runs both
ways on every real fixture. Gzip-compressed variants run the streaming
planner (a compressed bottom layer is judged as it streams, then checked
again at its end), with UNDOCKER_PLAN_ALWAYS=1 so that tiny layers are
planned too; one archive is made so that the check at the end must fail
and undocker must start over without a plan.

usage: test_plan_equivalence.py UNDOCKER [ROUNDS]
"""
import io
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures", "real")

NAMES = ["a", "b", "c", "d"]
LEAVES = ["x", "y", "z"]


def random_path(rng, depth=3):
    return "/".join(rng.choice(NAMES) for _ in range(rng.randint(1, depth)))


def random_leaf(rng):
    """A path in the shape of real images: directories named apart from files."""
    return "/".join(rng.choice(NAMES) for _ in range(rng.randint(0, 2))) + "/" + rng.choice(LEAVES)


def add(tar, info, data=b""):
    info.mtime = 1_600_000_000 + len(data)
    info.size = len(data) if info.type == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)


def random_layer(rng, layer_index, realistic):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        written = []
        for _ in range(rng.randint(3, 14)):
            kind = rng.choice(["file", "file", "file", "dir", "dir", "symlink", "hardlink", "whiteout", "opaque"])
            if realistic:
                path = random_path(rng) if kind in ("dir", "opaque") else random_leaf(rng).lstrip("/")
                if kind == "symlink" and rng.random() < 0.8:
                    kind = "file"
            else:
                path = random_path(rng)
            if kind == "file":
                info = tarfile.TarInfo(path)
                info.mode = rng.choice([0o644, 0o755, 0o4755, 0o600])
                add(tar, info, f"{path} in layer {layer_index} {rng.random()}".encode())
                written.append(path)
            elif kind == "dir":
                info = tarfile.TarInfo(path)
                info.type = tarfile.DIRTYPE
                info.mode = rng.choice([0o755, 0o700, 0o1777])
                add(tar, info)
            elif kind == "symlink":
                info = tarfile.TarInfo(path)
                info.type = tarfile.SYMTYPE
                info.linkname = rng.choice(["/" + random_path(rng), random_path(rng, 2), "../" + rng.choice(NAMES)])
                add(tar, info)
            elif kind == "hardlink" and written:
                info = tarfile.TarInfo(path)
                info.type = tarfile.LNKTYPE
                info.linkname = rng.choice(written)
                if info.linkname != path:
                    add(tar, info)
            elif kind == "whiteout" and layer_index > 0:
                parent, _, base = path.rpartition("/")
                name = (parent + "/" if parent else "") + ".wh." + base
                add(tar, tarfile.TarInfo(name))
            elif kind == "opaque" and layer_index > 0:
                add(tar, tarfile.TarInfo(path + "/.wh..wh..opq"))
    return buffer.getvalue()


def is_extraction_time_mtime(problem, started_ns):
    """'path: mtime: A != B' where both times are from this test run."""
    parts = problem.split(": ")
    if len(parts) != 3 or parts[1] != "mtime":
        return False
    try:
        return all(int(value) >= started_ns for value in parts[2].split(" != "))
    except ValueError:
        return False


def has_extraction_time_mtime(problem, started_ns):
    """'path: mtime: A != B' where one of the times is from this test run."""
    parts = problem.split(": ")
    if len(parts) != 3 or parts[1] != "mtime":
        return False
    try:
        return any(int(value) >= started_ns for value in parts[2].split(" != "))
    except ValueError:
        return False


def stream_and_untar(undocker, scratch, archive, out, extra=()):
    """--tar into a file, then GNU tar -x of it, both jailed."""
    stream = os.path.join(scratch, "stream.tar")
    os.makedirs(out)
    script = (f'"$1" -f "$2" --tar "$3" "${{@:5}}" && '
              f'tar -xpf "$3" --numeric-owner --xattrs --xattrs-include="*" -C "$4"')
    command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
               "--bind", scratch, scratch, "--cap-add", "ALL", "--chdir", scratch, "--",
               "bash", "-c", script, "stream", undocker, archive, stream, out, *extra]
    return subprocess.run(command, capture_output=True, text=True)


def extract(undocker, scratch, archive, out, plan, extra=()):
    env = dict(os.environ)
    env.pop("UNDOCKER_NO_PLAN", None)
    env["UNDOCKER_PLAN_ALWAYS"] = "1"
    if not plan:
        env["UNDOCKER_NO_PLAN"] = "1"
    command = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
               "--bind", scratch, scratch, "--cap-add", "ALL", "--chdir", scratch, "--",
               undocker, "-f", archive, "-o", out, *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True)


def main():
    undocker = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
    from treecmp import compare_trees  # noqa: E402
    sys.path.insert(0, HERE)
    from common import layers_docker_archive as docker_archive  # noqa: E402

    passed = failed = 0
    scratch = tempfile.mkdtemp(prefix="plan-equivalence-")

    started_ns = time.time_ns() - 60 * 10**9

    def check(name, archive, extra=(), expect_restart=False):
        nonlocal passed, failed
        planned, plain = os.path.join(scratch, "planned"), os.path.join(scratch, "plain")
        untarred = os.path.join(scratch, "untarred")
        for tree in (planned, plain, untarred):
            shutil.rmtree(tree, ignore_errors=True)
        a = extract(undocker, scratch, archive, planned, True, extra)
        b = extract(undocker, scratch, archive, plain, False, extra)
        problems = []
        if expect_restart:
            # -d: the debug log says whether the plan was undone.
            restarted = "the plan does not hold" in a.stderr
            if not restarted:
                problems.append("the plan was kept although a later bottom-layer hardlink needs a skipped file")
            a.stderr = "\n".join(line for line in a.stderr.splitlines() if line.startswith(("WARNING", "ERROR")))
            b.stderr = "\n".join(line for line in b.stderr.splitlines() if line.startswith(("WARNING", "ERROR")))
        if a.returncode != b.returncode or a.stderr != b.stderr:
            problems.append(f"exit {a.returncode} vs {b.returncode}: {a.stderr.strip()!r} vs {b.stderr.strip()!r}")
        elif a.returncode == 0:
            problems = compare_trees(planned, plain, root_ignore=("mtime",))
            # Directories no entry made (implicit parents, or recreated after
            # a whiteout) get the time of extraction in each run; archive
            # mtimes are all far older than this test.
            problems = [p for p in problems if not is_extraction_time_mtime(p, started_ns)]
        if not expect_restart:
            # The tar stream is planned in memory by the same rules: untarred,
            # it is the same tree (implicit parents: the stream gives them the
            # mtime of the entry that needed them, the disk the run's time).
            c = stream_and_untar(undocker, scratch, archive, untarred, extra)
            if (c.returncode == 0) != (b.returncode == 0):
                problems.append(f"--tar exit {c.returncode} vs -o exit {b.returncode}: {c.stderr.strip()!r}")
            elif c.returncode == 0:
                tar_problems = compare_trees(plain, untarred, root_ignore=("mtime",))
                problems += ["--tar: " + p for p in tar_problems if not has_extraction_time_mtime(p, started_ns)]
        if problems:
            failed += 1
            kept = os.path.join(scratch, f"failed-{name.replace('/', '_')}")
            shutil.copy(archive, kept + ".tar")
            print(f"FAIL {name}: kept {kept}.tar")
            for problem in problems[:20]:
                print("   ", problem)
        else:
            passed += 1
            print(f"ok   {name}")

    if os.path.isdir(FIXTURES):
        for fixture in sorted(os.listdir(FIXTURES)):
            if fixture.endswith(".tar"):
                extra = ["test_image_1"] if fixture == "ggcr-test_bundle.tar" else []
                check(f"fixture {fixture}", os.path.join(FIXTURES, fixture), extra)
    rng = random.Random(20261126)
    for round_number in range(rounds):
        realistic = round_number % 2 == 0
        layers = [random_layer(rng, i, realistic) for i in range(rng.randint(2, 5))]
        archive = os.path.join(scratch, "random.tar")
        docker_archive(layers, archive)
        check(f"random archive {round_number}", archive)
        if round_number % 2 == 0:
            docker_archive(layers, archive, compress={0})
            check(f"random archive {round_number}, bottom layer gzipped", archive)
        else:
            docker_archive(layers, archive, compress=set(range(1, len(layers))))
            check(f"random archive {round_number}, upper layers gzipped", archive)

    # The bottom layer skips a/x (the upper layer replaces it), then links
    # b/y to it: the streaming plan must be undone, and the link must carry
    # the bottom layer's content.
    bottom, upper = io.BytesIO(), io.BytesIO()
    with tarfile.open(fileobj=bottom, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("a", "b"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            add(tar, info)
        add(tar, tarfile.TarInfo("a/x"), b"bottom content")
        link = tarfile.TarInfo("b/y")
        link.type = tarfile.LNKTYPE
        link.linkname = "a/x"
        add(tar, link)
    with tarfile.open(fileobj=upper, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, tarfile.TarInfo("a/x"), b"upper content")
    archive = os.path.join(scratch, "restart.tar")
    docker_archive([bottom.getvalue(), upper.getvalue()], archive, compress={0})
    check("bottom-layer hardlink to a skipped file: plan undone", archive, ["-d"], expect_restart=True)
    with open(os.path.join(scratch, "planned", "b", "y"), "rb") as f:
        content = f.read() if os.path.exists(os.path.join(scratch, "planned", "b", "y")) else b""
    if content == b"bottom content":
        passed += 1
        print("ok   the link keeps the bottom layer's content")
    else:
        failed += 1
        print(f"FAIL the link holds {content!r}, not the bottom layer's content")

    print(f"{passed} passed, {failed} failed")
    if failed == 0:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print(f"scratch kept in {scratch}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
