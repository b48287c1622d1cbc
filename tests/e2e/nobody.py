"""Running the binary as an unprivileged user (uid 65534, "nobody"), jailed,
from wherever the checkout lives: what that user needs is staged where it
can reach it (root's home is 0700)."""
import os
import shutil
import stat
import subprocess
import tempfile
import time

import common
from common import Skip

NOBODY = 65534


# Where a stage for uid 65534 may go: the scratch base first, then the usual
# world-traversable temporary directories.
STAGE_BASES = ("/tmp", "/var/tmp", "/dev/shm")
_jail_probe = None


def reachable_by_nobody(path):
    """Whether uid/gid 65534 (no other groups) can traverse every directory
    down to path, and exec files there (no noexec mount)."""
    path = os.path.realpath(path)
    if not os.path.isdir(path) or os.statvfs(path).f_flag & os.ST_NOEXEC:
        return False
    while True:
        st = os.stat(path)
        bit = stat.S_IXUSR if st.st_uid == NOBODY else stat.S_IXGRP if st.st_gid == NOBODY else stat.S_IXOTH
        if not st.st_mode & bit:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def unprivileged_jail_works():
    global _jail_probe
    if _jail_probe is None:
        proc = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
                               "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--chdir", "/",
                               "--", "true"], capture_output=True, text=True, cwd="/")
        _jail_probe = (proc.returncode == 0, proc.stderr.strip())
    return _jail_probe


def as_nobody_command(binary, work, args, env=()):
    """setpriv to uid/gid 65534 with no capabilities, then an unprivileged
    bwrap: host read-only, only work writable."""
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--",
               "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
               "--bind", work, work, "--chdir", work]
    for name, value in env:
        command += ["--setenv", name, value]
    return command + ["--", binary] + [str(a) for a in args]


class NobodyStage:
    """What uid 65534 needs, put where it can reach it: wherever the checkout
    lives (root's home is 0700) and wherever the scratch directory is. A
    fresh directory of ours (made 0755: it is ours, nothing of the user's
    changes mode) in the first base that user can traverse, holding a copy
    of the binary (and of any library it links from a place that user
    cannot reach) and work/, handed to 65534: the archives, DIR and TMPDIR.
    Removed with the check's scratch directory, or kept with it."""

    def __init__(self, t, binary=None):
        if shutil.which("setpriv") is None:
            raise Skip("setpriv (util-linux) is not installed")
        works, why = unprivileged_jail_works()
        if not works:
            raise Skip(f"bwrap does not run as uid {NOBODY} here (unprivileged user namespaces?): {why}")
        bases = [t.suite.base] + [b for b in STAGE_BASES if b != t.suite.base]
        base = next((b for b in bases if reachable_by_nobody(b)), None)
        if base is None:
            raise Skip(f"no directory uid {NOBODY} can reach and exec from: {', '.join(bases)}")
        self.dir = tempfile.mkdtemp(prefix=f"undocker-e2e-nobody-{t.suite.name}-", dir=base)
        t.elsewhere.append(self.dir)
        os.chmod(self.dir, 0o755)
        self.binary = os.path.join(self.dir, "undocker")
        shutil.copy(binary or common.UNDOCKER, self.binary)
        os.chmod(self.binary, 0o755)
        self.env = []
        libraries = unreachable_libraries(binary or common.UNDOCKER)
        if libraries:
            lib = os.path.join(self.dir, "lib")
            os.mkdir(lib, 0o755)
            for path in libraries:
                shutil.copy(path, lib)
            self.env.append(("LD_LIBRARY_PATH", lib))
        self.work = os.path.join(self.dir, "work")
        self.tmp = os.path.join(self.work, "tmp")
        for path in (self.work, self.tmp):
            os.mkdir(path, 0o700)
            os.chown(path, NOBODY, NOBODY)

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def add(self, path):
        """A copy of the file at path in work/, readable by 65534."""
        copy = self.path(os.path.basename(path))
        shutil.copy(path, copy)
        os.chmod(copy, 0o644)
        return copy

    def run(self, args):
        """undocker args as 65534, jailed with only work/ writable."""
        env = dict(os.environ)
        env.pop("UNDOCKER_NO_PLAN", None)
        command = as_nobody_command(self.binary, self.work, args, [("TMPDIR", self.tmp)] + self.env)
        start = time.monotonic()
        proc = subprocess.run(command, capture_output=True, timeout=300, env=env, cwd="/")
        return common.Result(args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                             proc.stderr.decode("utf-8", "replace"), time.monotonic() - start)


def unreachable_libraries(binary):
    """Shared libraries ldd resolves for binary in places 65534 cannot reach
    (a wrap fallback built as a shared library in a 0700 build directory)."""
    proc = subprocess.run(["ldd", binary], capture_output=True, text=True)
    found = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>" and parts[2].startswith("/"):
            if not reachable_by_nobody(os.path.dirname(parts[2])):
                found.append(parts[2])
    return found
