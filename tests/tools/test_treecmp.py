#!/usr/bin/env python3
"""Self-test of treecmp.py: a tree equals itself and a copy made with
`cp -a`; every kind of deliberate alteration of the copy is reported on the
right path and field, through the module and through the command line.
Needs root (owners, device nodes). Takes no arguments (an argument, such as
the binary meson passes, is ignored).
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
from treecmp import compare_trees, snapshot_tree, diff_snapshots  # noqa: E402
from common import Layer, reference_apply, MTIME  # noqa: E402


def build(dest):
    layer = (Layer()
             .dir("etc").file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")
             .dir("bin").file("bin/sh", "#!shell", mode=0o755).hardlink("bin/ash", "bin/sh")
             .file("bin/su", "su", mode=0o4755).dir("tmp", mode=0o1777)
             .dir("dev").chardev("dev/null", 1, 3).blockdev("dev/sda", 8, 0).fifo("dev/fifo")
             .symlink("lnk", "etc/passwd", mtime=MTIME + 7)
             .file("xa", "x", xattrs={"user.test": "hello"})
             .file("owned", "o", uid=1234, gid=5678)
             .file("sub", "s", pax={"mtime": "1600000000.25"}))
    reference_apply([layer], dest)


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root")
        print("0 passed, 0 failed: all skipped: needs root")
        return 77
    scratch = tempfile.mkdtemp(prefix="treecmp-selftest-")
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {detail}")

    a = os.path.join(scratch, "a")
    build(a)
    check("tree equals itself", compare_trees(a, a) == [], compare_trees(a, a))

    def altered(name, change, expect, **kw):
        b = os.path.join(scratch, "b-" + name)
        subprocess.run(["cp", "-a", a, b], check=True)
        lines = compare_trees(a, b, **kw)
        check(f"cp -a copy equals ({name})", lines == [], lines)
        change(b)
        if expect is not None:
            lines = compare_trees(a, b, **kw)
            check(f"alteration reported: {name}", lines == expect, f"expected {expect}, got {lines}")
        return b

    altered("mode", lambda b: os.chmod(b + "/etc/passwd", 0o600), ["/etc/passwd: mode: 0o644 != 0o600"])
    altered("setuid", lambda b: os.chmod(b + "/bin/su", 0o755), ["/bin/su: mode: 0o4755 != 0o755"])
    altered("sticky", lambda b: os.chmod(b + "/tmp", 0o777), ["/tmp: mode: 0o1777 != 0o777"])
    altered("uid", lambda b: os.lchown(b + "/owned", 1, -1), ["/owned: uid: 1234 != 1"])
    altered("gid", lambda b: os.lchown(b + "/lnk", -1, 9), ["/lnk: gid: 0 != 9"])

    def same_size(b):
        st = os.stat(b + "/etc/passwd")
        with open(b + "/etc/passwd", "r+b") as f:
            f.write(b"R")
        os.utime(b + "/etc/passwd", ns=(st.st_atime_ns, st.st_mtime_ns))
    b = altered("content", same_size, None)  # hash line checked below
    lines = compare_trees(a, b)
    check("content change reported as hash only", len(lines) == 1 and lines[0].startswith("/etc/passwd: hash: "), lines)

    def retarget(b):
        os.unlink(b + "/lnk")
        os.symlink("etc/shadow", b + "/lnk")
        os.utime(b + "/lnk", ns=(0, (MTIME + 7) * 10**9), follow_symlinks=False)
        os.utime(b, ns=(0, os.lstat(a).st_mtime_ns))
    altered("target", retarget, ["/lnk: target: etc/passwd != etc/shadow"])

    def redev(b):
        os.unlink(b + "/dev/sda")
        os.mknod(b + "/dev/sda", 0o660 | 0o60000, os.makedev(8, 1))
        os.chmod(b + "/dev/sda", 0o660)
        os.utime(b + "/dev/sda", ns=(0, MTIME * 10**9))
        os.utime(b + "/dev", ns=(0, MTIME * 10**9))
    altered("rdev", redev, ["/dev/sda: rdev: 8:0 != 8:1"])

    def unlink_hardlink(b):
        shutil.copy2(b + "/bin/sh", b + "/bin/ash.tmp")
        os.rename(b + "/bin/ash.tmp", b + "/bin/ash")
        os.utime(b + "/bin", ns=(0, MTIME * 10**9))
    altered("hardlink broken", unlink_hardlink,
            ["/bin/ash: links: [/bin/ash /bin/sh] != None", "/bin/sh: links: [/bin/ash /bin/sh] != None"])
    altered("xattr", lambda b: os.setxattr(b + "/xa", "user.test", b"other"),
            ["/xa: xattrs: {user.test=b'hello'} != {user.test=b'other'}"])
    altered("xattr ignored by name", lambda b: os.setxattr(b + "/xa", "user.extra", b"1"), [],
            ignore=["xattr:user.extra"])
    altered("mtime ns", lambda b: os.utime(b + "/sub", ns=(0, 1600000000_250000001)),
            ["/sub: mtime: 1600000000250000000 != 1600000000250000001"])
    altered("mtime seconds only", lambda b: os.utime(b + "/sub", ns=(0, 1600000000_900000000)), [],
            mtime_seconds=True)
    altered("symlink mtime", lambda b: os.utime(b + "/lnk", ns=(0, 5), follow_symlinks=False),
            [f"/lnk: mtime: {(MTIME + 7) * 10**9} != 5"])
    altered("directory mtime", lambda b: os.utime(b + "/etc", ns=(0, 5)), [f"/etc: mtime: {MTIME * 10**9} != 5"])
    altered("root mtime ignored for the root only", lambda b: os.utime(b, ns=(0, 5)), [],
            root_ignore=["mtime"])

    def type_change(b):
        os.unlink(b + "/dev/fifo")
        with open(b + "/dev/fifo", "w"):
            pass
        os.chmod(b + "/dev/fifo", 0o644)
        os.utime(b + "/dev/fifo", ns=(0, MTIME * 10**9))
        os.utime(b + "/dev", ns=(0, MTIME * 10**9))
    b = altered("type", type_change, None)
    lines = compare_trees(a, b)
    check("type change reported once", lines == ["/dev/fifo: type: fifo != file"], lines)

    def extra_and_missing(b):
        os.unlink(b + "/etc/passwd")
        with open(b + "/etc/new", "w"):
            pass
        os.utime(b + "/etc", ns=(0, MTIME * 10**9))
    altered("only in", extra_and_missing, ["only in B: /etc/new", "only in A: /etc/passwd"])

    # The command line: exit 0 / 1 and the same lines.
    b = os.path.join(scratch, "b-mode")
    tool = os.path.join(HERE, "treecmp.py")
    same = subprocess.run([sys.executable, tool, a, a], capture_output=True, text=True)
    check("cli: equal trees exit 0, print nothing", same.returncode == 0 and same.stdout == "", same)
    diff = subprocess.run([sys.executable, tool, a, b], capture_output=True, text=True)
    check("cli: differences exit 1, one a line", diff.returncode == 1 and
          diff.stdout == "/etc/passwd: mode: 0o644 != 0o600\n", diff)
    ign = subprocess.run([sys.executable, tool, a, b, "--ignore", "mode"], capture_output=True, text=True)
    check("cli: --ignore mode", ign.returncode == 0 and ign.stdout == "", ign)

    # snapshot_tree sees changes that are undone (ctime) and new hardlinks (nlink).
    before = snapshot_tree(a)
    st = os.stat(a + "/etc/passwd")
    os.chmod(a + "/etc/passwd", 0o600)
    os.chmod(a + "/etc/passwd", st.st_mode)
    check("snapshot: an undone chmod shows (ctime)",
          any("/etc/passwd: ctime" in line for line in diff_snapshots(before, snapshot_tree(a))))
    before = snapshot_tree(a)
    os.link(a + "/owned", os.path.join(scratch, "outside-link"))
    changes = diff_snapshots(before, snapshot_tree(a))
    check("snapshot: a new hardlink from outside shows (nlink)",
          any("/owned: nlink: 1 != 2" == line for line in changes), changes)

    print(f"{passed} passed, {failed} failed")
    if failed == 0:
        shutil.rmtree(scratch)
    else:
        print(f"scratch kept in {scratch}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
