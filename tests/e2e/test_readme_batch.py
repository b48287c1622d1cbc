#!/usr/bin/env python3
"""README.md's "Batch unpacking" commands, run as they are printed (issue 18
item 4), so that the section stays true.

Each ```sh block of the section runs with /bin/sh in a fresh directory
holding saved/ with three generated archives: app.tar (one image, two
layers), bundle.tar (two images) and broken.tar (a copy of app.tar cut in
half: exit 3). `undocker` on the PATH is a wrapper that runs the binary under
test jailed in bubblewrap, the directory the only writable one. Each check
asserts what the block's reader would look at: the trees under rootfs/, the
JSON lines, what the block printed, and that nothing was made for the broken
archive.

usage: test_readme_batch.py UNDOCKER
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import Suite, Failure, Skip, Image, Layer, docker_archive  # noqa: E402

suite = Suite("readme_batch")
README = os.path.join(common.ROOT, "README.md")

# The trees the good archives give, and the summaries' image, output, layers, entries.
APP = Image([Layer().dir("etc").file("etc/app-release", "app 1.0\n"),
             Layer().file("usr/bin/app", "#!/bin/sh\necho app\n", mode=0o755)], tags=("app:1.0",))
BASE = Image([Layer().file("etc/os-release", "ID=base\n")], tags=("base:latest",))
TOOLS = Image([Layer().file("etc/os-release", "ID=base\n"), Layer().file("usr/bin/tool", "tool\n", mode=0o755)],
              tags=("tools:2",))
EXPECTED = sorted([
    ("app", "rootfs/app/app/1.0", 2, 3),
    ("base", "rootfs/bundle/base/latest", 1, 1),
    ("tools", "rootfs/bundle/tools/2", 2, 2),
])


def section_blocks():
    text = open(README, encoding="utf-8").read()
    start = text.index("\n## Batch unpacking\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", text[start:end], re.S)


def block(word):
    found = [b for b in section_blocks() if word in b]
    if len(found) != 1:
        raise Failure(f"README's Batch unpacking section: {len(found)} sh blocks with {word!r}, expected one")
    return found[0]


def prepare(t):
    """A directory with saved/ and a jailed `undocker` first on the PATH."""
    work = t.path("batch")
    os.makedirs(os.path.join(work, "saved"))
    docker_archive(APP, os.path.join(work, "saved", "app.tar"))
    docker_archive([BASE, TOOLS], os.path.join(work, "saved", "bundle.tar"))
    data = docker_archive(APP)
    with open(os.path.join(work, "saved", "broken.tar"), "wb") as f:
        f.write(data[: len(data) // 2])
    bin_dir = t.path("bin")
    os.makedirs(bin_dir)
    wrapper = os.path.join(bin_dir, "undocker")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                f"exec bwrap --ro-bind / / --dev /dev --proc /proc --bind '{work}' '{work}' --cap-add ALL "
                f"--chdir \"$PWD\" -- '{common.UNDOCKER}' \"$@\"\n")
    os.chmod(wrapper, 0o755)
    return work, bin_dir


def run_block(t, code, tools=()):
    for tool in tools:
        if shutil.which(tool) is None:
            raise Skip(f"{tool} is not installed (bash .ci/install-deps installs it)")
    work, bin_dir = prepare(t)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"], TMPDIR=t.tmp)
    proc = subprocess.run(["/bin/sh", "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    return work, proc


def check_outcome(t, work, proc):
    """The trees of the two good archives, nothing for the broken one, and
    summaries.jsonl with one line per image."""
    where = f"\nstdout {proc.stdout!r}\nstderr {proc.stderr!r}"
    with open(os.path.join(work, "summaries.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    t.eq(sorted((s["image"], s["output"], s["layers"], s["entries"]) for s in lines), EXPECTED,
         "summaries.jsonl (image, output, layers, entries)" + where)
    root = os.path.join(work, "rootfs")
    t.entry("app/app/1.0/etc/app-release", type="file", content="app 1.0\n", root=root)
    t.entry("app/app/1.0/usr/bin/app", type="file", mode=0o755, root=root)
    t.entry("bundle/base/latest/etc/os-release", content="ID=base\n", root=root)
    t.absent("bundle/base/latest/usr/bin/tool", root=root)
    t.entry("bundle/tools/2/usr/bin/tool", content="tool\n", mode=0o755, root=root)
    t.absent("broken", root=root)
    t.eq(sorted(os.listdir(os.path.join(work, "saved"))), ["app.tar", "broken.tar", "bundle.tar"], "saved/")


@suite.check("loop_by_exit_status (for …; case $status; jq over summaries.jsonl)")
def _(t):
    work, proc = run_block(t, block("case $status in"), tools=("jq",))
    check_outcome(t, work, proc)
    t.eq(proc.returncode, 0, "the block's status (jq's)")
    lines = proc.stderr.splitlines()
    t.eq(len(lines), 2, f"stderr lines: {lines}")
    t.true(lines[0].startswith("ERROR:undocker:saved/broken.tar: "), f"undocker's ERROR line: {lines[0]!r}")
    t.eq(lines[1], "saved/broken.tar: damaged or altered (exit 3), skipped", "the loop's line")
    t.eq(proc.stdout, "rootfs/app/app/1.0: 2 layers, 3 entries\nrootfs/bundle/base/latest: 1 layers, 1 entries\n"
         "rootfs/bundle/tools/2: 2 layers, 2 entries\n", "jq's lines (archive order)")


@suite.check("xargs_P (four runs at once, a JSON Lines file each, exit 123 reported)")
def _(t):
    work, proc = run_block(t, block("xargs -0"), tools=("xargs",))
    check_outcome(t, work, proc)
    t.true("some archive failed (xargs: exit 123)\n" in proc.stderr, f"xargs' status not reported: {proc.stderr!r}")
    t.true("ERROR:undocker:" in proc.stderr and "saved/broken.tar" in proc.stderr,
           f"undocker's ERROR line for saved/broken.tar missing: {proc.stderr!r}")


@suite.check("gnu_parallel_joblog (parallel -j 4 --joblog; the failed run named with its status)")
def _(t):
    work, proc = run_block(t, block("parallel -j"), tools=("parallel",))
    check_outcome(t, work, proc)
    t.true("exit 3: undocker -q --all --json -f saved/broken.tar -o rootfs/broken\n" in proc.stderr,
           f"the joblog's failed run not printed: {proc.stderr!r}")


if __name__ == "__main__":
    sys.exit(suite.main())
