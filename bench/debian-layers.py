#!/usr/bin/env python3
"""Helpers for bench/make-corpus: the Debian image's layers 2, 4 and 5.

usage: debian-layers.py app ROOTFS         change an unpacked rootfs in place (layer 2)
       debian-layers.py cleanup ROOTFS     delete docs, man pages, apt lists and caches (layer 3)
       debian-layers.py opaque ROOTFS OUT  write layer 4 as a tar (two opaque directories)
       debian-layers.py config ROOTFS OUT  write layer 5 as a tar (small config changes)

Layers 2 and 3 are changes to a rootfs that `umoci repack` then turns into a
layer (for layer 3, with a `.wh.NAME` whiteout for every removed path). umoci
never writes opaque markers, and its diff of a directory replaced by a file is
not what a Dockerfile build gives, so layers 4 and 5 are written here as tars
and appended with `umoci raw add-layer`. ROOTFS is the image's rootfs as it
stands below that layer (parent directories are written with their metadata
from it, as Docker does). Everything is deterministic: same input, same bytes.
"""
import io
import os
import random
import shutil
import stat
import sys
import tarfile

MTIME = 1700000000
WORDS = ("the quick brown fox jumps over lazy dog import return class def self value config "
         "server client request response handler error result data index cache layer image").split()


def text(rnd, size):
    out, n = [], 0
    while n < size:
        line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out)[:size].encode()


def app(root):
    rnd = random.Random(2)
    # Overwrite a few hundred files of the base: every Perl module (still valid
    # Perl: a comment is appended) and every copyright file (deleted again by
    # layer 3, as happens when a later RUN cleans up).
    overwritten = 0
    for top in ("usr/lib/x86_64-linux-gnu/perl-base", "usr/share/perl5", "usr/share/doc"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not (name.endswith(".pm") or name == "copyright"):
                    continue
                with open(path, "ab") as f:
                    f.write(b"\n# changed by the benchmark's second layer\n")
                overwritten += 1
    # An application directory: source-like text, a few binaries, a hardlink group.
    base = os.path.join(root, "opt/app")
    count = 0
    for pkg in range(40):
        d = os.path.join(base, "lib", f"pkg{pkg:02d}", rnd.choice(WORDS))
        os.makedirs(d, exist_ok=True)
        for k in range(rnd.randint(20, 50)):
            size = int(300 * 40 ** rnd.random())  # 300 B .. 12 KB
            with open(os.path.join(d, f"{rnd.choice(WORDS)}_{k}.py"), "wb") as f:
                f.write(text(rnd, size))
            count += 1
    os.makedirs(os.path.join(base, "bin"), exist_ok=True)
    os.makedirs(os.path.join(base, "share/assets"), exist_ok=True)
    for k in range(8):
        with open(os.path.join(base, "share/assets", f"blob{k}.bin"), "wb") as f:
            f.write(rnd.randbytes(int(1.5e6)))
        count += 1
    tool = os.path.join(base, "bin/app")
    with open(tool, "wb") as f:
        f.write(b"#!/bin/sh\necho app\n" + rnd.randbytes(200000))
    os.chmod(tool, 0o755)
    os.link(tool, os.path.join(base, "bin/app-cli"))
    os.makedirs(os.path.join(root, "usr/local/bin"), exist_ok=True)
    os.link(tool, os.path.join(root, "usr/local/bin/app"))
    os.symlink("../../../opt/app/bin/app", os.path.join(root, "usr/local/bin/app-link"))
    print(f"layer 2: {overwritten} files overwritten, {count + 1} files added under /opt/app "
          "(+2 hardlinks, 1 symlink)", file=sys.stderr)


def cleanup(root):
    removed = 0
    globs = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
             "usr/share/lintian", "var/lib/apt/lists", "var/cache/apt", "var/cache/debconf"]
    for rel in globs:
        d = os.path.join(root, rel)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if rel == "usr/share/locale" and name == "locale.alias":
                continue
            if rel == "var/cache/debconf" and not name.endswith("-old"):
                continue
            p = os.path.join(d, name)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
            removed += 1
    print(f"layer 3: {removed} paths removed (whiteouts)", file=sys.stderr)


class Tar:
    def __init__(self, root, out):
        self.root = root
        self.tar = tarfile.open(out, "w", format=tarfile.PAX_FORMAT)
        self.done = set()

    def parent_dirs(self, rel):
        parts = rel.split("/")[:-1]
        for n in range(1, len(parts) + 1):
            d = "/".join(parts[:n])
            if d not in self.done:
                self.lower_dir(d)

    def lower_dir(self, rel):
        st = os.lstat(os.path.join(self.root, rel))
        ti = tarfile.TarInfo(rel + "/")
        ti.type = tarfile.DIRTYPE
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid, ti.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
        self.tar.addfile(ti)
        self.done.add(rel)

    def dir(self, rel, mode=0o755, uid=0, gid=0):
        self.parent_dirs(rel)
        ti = tarfile.TarInfo(rel + "/")
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = tarfile.DIRTYPE, mode, uid, gid, MTIME
        self.tar.addfile(ti)
        self.done.add(rel)

    def file(self, rel, data, mode=0o644, uid=0, gid=0):
        self.parent_dirs(rel)
        ti = tarfile.TarInfo(rel)
        ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), mode, uid, gid, MTIME
        self.tar.addfile(ti, io.BytesIO(data))

    def symlink(self, rel, target):
        self.parent_dirs(rel)
        ti = tarfile.TarInfo(rel)
        ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.SYMTYPE, target, 0o777, MTIME
        self.tar.addfile(ti)

    def close(self):
        self.tar.close()


def opaque(root, out):
    t = Tar(root, out)
    # apt's configuration directory replaced as a whole...
    t.dir("etc/apt/apt.conf.d")
    t.file("etc/apt/apt.conf.d/.wh..wh..opq", b"", mode=0)
    t.file("etc/apt/apt.conf.d/90bench", b'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n')
    t.file("etc/apt/apt.conf.d/95no-cache", b'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n')
    # ... and the logs of the build (dpkg.log, apt/, bootstrap.log, ...) hidden.
    t.dir("var/log")
    t.file("var/log/.wh..wh..opq", b"", mode=0)
    t.dir("var/log/apt")
    t.file("var/log/lastlog", b"", mode=0o664, gid=43)
    t.close()


def config(root, out):
    t = Tar(root, out)
    with open(os.path.join(root, "etc/passwd"), "rb") as f:
        passwd = f.read()
    with open(os.path.join(root, "etc/group"), "rb") as f:
        group = f.read()
    t.file("etc/hostname", b"bench\n")
    t.file("etc/passwd", passwd + b"app:x:1000:1000:app:/home/app:/bin/bash\n")
    t.file("etc/group", group + b"app:x:1000:\n")
    # a directory replaced by a file
    t.file("etc/update-motd.d", b"# no motd scripts in this image\n")
    # a file replaced by a symlink, and a file replaced by a directory
    t.symlink("etc/issue.net", "issue")
    t.dir("etc/motd", mode=0o755)
    t.file("etc/motd/README", b"the motd is a directory now\n")
    # a setuid and a setgid file, a private home
    t.file("usr/local/bin/suid-helper", b"#!/bin/sh\nid\n", mode=0o4755)
    t.file("usr/local/bin/sgid-helper", b"#!/bin/sh\nid\n", mode=0o2755, gid=50)
    t.dir("home/app", mode=0o700, uid=1000, gid=1000)
    t.file("home/app/.profile", b"PATH=$HOME/bin:$PATH\n", uid=1000, gid=1000)
    t.close()


def main(argv):
    if len(argv) == 2 and argv[0] == "app":
        app(argv[1])
    elif len(argv) == 2 and argv[0] == "cleanup":
        cleanup(argv[1])
    elif len(argv) == 3 and argv[0] == "opaque":
        opaque(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "config":
        config(argv[1], argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
