#!/usr/bin/env python3
"""Write a large synthetic docker-archive for the benchmark (issue 7).

usage: make-synthetic.py OUT.tar [--entries N] [--gb G] [--seed S]

Defaults: about 100,000 entries and 3 GB of base-layer file content (a 3.8 GB
archive; bench/make-corpus passes --gb 1 for a ~2 GB one), the same bytes
for the same seed and parameters on every machine (content comes from a seeded
PRNG, mtimes are fixed).

  layer 1  the base: ~76 % of the entries. A directory tree ~8 levels deep,
           regular files with a realistic size mix (about 80 % under 4 KiB, a
           tail up to 16 MiB and three files of 110-200 MB), symlinks (relative,
           absolute, to directories, dangling), hardlink groups, FIFOs, long
           names (PAX headers), setuid/setgid files, sticky and private
           directories, files owned by non-root ids.
  layer 2  overwrites or deletes about 30 % of layer 1's file bytes: whole
           directories whited out, files overwritten or whited out, the big
           files replaced or deleted, one opaque directory with new content, and
           every change of type between file, directory, symlink, hardlink and
           FIFO (file->dir, dir->file, file->symlink, symlink->file,
           symlink->dir, dir->symlink, symlink->symlink, file->hardlink,
           hardlink->file, file->fifo, fifo->file), hardlinks to layer-1 files.
  layer 3  a small top layer: new files, files of layer 2 overwritten or
           whited out, one more opaque directory and a dir->file change.

Layer tars are streamed straight into the outer archive (each member's header
is patched with its size once the layer is written), so nothing is held in
memory and nothing is written twice. The outer archive is a Docker 1.10+
`docker save` archive: manifest.json, repositories, <config>.json and
<id>/layer.tar, <id>/json, <id>/VERSION, layers uncompressed.

Prints a summary (entries, bytes, what layer 2 changes) on stderr.
"""
import argparse
import hashlib
import io
import json
import os
import random
import sys
import tarfile

MTIME = 1700000000
BLOCK = 512


class Pool:
    """Pseudo-random content: slices of one seeded 8 MiB block, each file
    starting with its own path so that no two files are equal."""

    def __init__(self, rnd):
        self.data = rnd.randbytes(8 << 20)

    def reader(self, key, size):
        return _Content(self.data, key, size)


class _Content(io.RawIOBase):
    def __init__(self, data, key, size):
        head = (key + "\n").encode()
        self.head = head[:size]
        self.data = data
        self.pos = int.from_bytes(hashlib.blake2b(head, digest_size=4).digest(), "little") % len(data)
        self.left = size

    def readable(self):
        return True

    def read(self, n=-1):
        # Exactly min(n, left) bytes: tarfile treats a short read as truncation.
        if n is None or n < 0 or n > self.left:
            n = self.left
        if n <= 0:
            return b""
        parts, want = [], n
        if self.head:
            h = self.head[:want]
            self.head = self.head[len(h):]
            parts.append(h)
            want -= len(h)
        while want:
            k = min(want, len(self.data) - self.pos)
            parts.append(self.data[self.pos:self.pos + k])
            self.pos = (self.pos + k) % len(self.data)
            want -= k
        self.left -= n
        return parts[0] if len(parts) == 1 else b"".join(parts)


class HashingWriter:
    """File-like object that writes through to the outer archive and hashes."""

    def __init__(self, f):
        self.f = f
        self.sha = hashlib.sha256()
        self.n = 0

    def write(self, b):
        self.f.write(b)
        self.sha.update(b)
        self.n += len(b)
        return len(b)

    def tell(self):
        return self.n


class Layer:
    """Collects a layer's entries; write() emits them parents first."""

    def __init__(self):
        self.entries = {}  # path -> spec dict

    def add(self, path, kind, **kw):
        kw["kind"] = kind
        self.entries[path] = kw

    def sorted_paths(self):
        # Parents before children; hardlinks after everything else, so that
        # their targets in the same layer come first.
        return sorted(self.entries, key=lambda p: (self.entries[p]["kind"] == "hardlink", p.split("/")))


def tarinfo(path, spec):
    kind = spec["kind"]
    ti = tarfile.TarInfo(path + ("/" if kind == "dir" else ""))
    ti.mtime = spec.get("mtime", MTIME)
    ti.uid = spec.get("uid", 0)
    ti.gid = spec.get("gid", 0)
    ti.uname = ti.gname = ""
    if kind == "dir":
        ti.type = tarfile.DIRTYPE
        ti.mode = spec.get("mode", 0o755)
    elif kind == "file":
        ti.type = tarfile.REGTYPE
        ti.mode = spec.get("mode", 0o644)
        ti.size = spec["size"]
    elif kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.mode = 0o777
        ti.linkname = spec["target"]
    elif kind == "hardlink":
        ti.type = tarfile.LNKTYPE
        ti.mode = spec.get("mode", 0o644)
        ti.linkname = spec["target"]
    elif kind == "fifo":
        ti.type = tarfile.FIFOTYPE
        ti.mode = spec.get("mode", 0o644)
    elif kind == "whiteout":
        ti.type = tarfile.REGTYPE
        ti.mode = 0
    else:
        raise ValueError(kind)
    return ti


def write_layer(out, name, layer, pool):
    """Append one layer as member `name` of the outer tar open on `out`.
    Returns (diff_id hex, size, entry count)."""
    header_at = out.tell()
    placeholder = tarfile.TarInfo(name)
    placeholder.size = 0
    placeholder.mtime = MTIME
    placeholder.mode = 0o644
    out.write(placeholder.tobuf(tarfile.USTAR_FORMAT))
    writer = HashingWriter(out)
    count = 0
    with tarfile.open(fileobj=writer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.copybufsize = 1 << 20
        for path in layer.sorted_paths():
            spec = layer.entries[path]
            ti = tarinfo(path, spec)
            if spec["kind"] == "file":
                tar.addfile(ti, pool.reader(path + "@" + str(spec.get("gen", 0)), spec["size"]))
            else:
                tar.addfile(ti)
            count += 1
    size = writer.n
    pad = (-size) % BLOCK
    out.write(b"\0" * pad)
    end = out.tell()
    placeholder.size = size
    out.seek(header_at)
    out.write(placeholder.tobuf(tarfile.USTAR_FORMAT))
    out.seek(end)
    return writer.sha.hexdigest(), size, count


def add_small_member(out, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = MTIME
    ti.mode = 0o644
    out.write(ti.tobuf(tarfile.USTAR_FORMAT))
    out.write(data)
    out.write(b"\0" * ((-len(data)) % BLOCK))


def add_dir_member(out, name):
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mtime = MTIME
    ti.mode = 0o755
    out.write(ti.tobuf(tarfile.USTAR_FORMAT))


WORDS = ("lib share bin include src python3 site-packages node_modules dist build cache data "
         "locale man doc java go pkg vendor modules assets static images fonts icons themes "
         "plugins config templates tests fixtures schemas migrations www app api core util "
         "common internal x86_64-linux-gnu perl5 ruby gems cargo registry index crates").split()
EXTS = (".py", ".pyc", ".js", ".json", ".so", ".h", ".txt", ".md", ".png", ".mo", ".gz", ".html",
        ".css", ".rb", ".pm", ".xml", ".yaml", "", ".conf", ".svg")


def file_size(rnd):
    r = rnd.random()
    if r < 0.58:
        return rnd.randint(0, 1024)
    if r < 0.80:
        return rnd.randint(1025, 4096)
    if r < 0.955:
        return int(4096 * 16 ** rnd.random())  # 4 KiB .. 64 KiB, log-uniform
    if r < 0.9965:
        return int(65536 * 16 ** rnd.random())  # 64 KiB .. 1 MiB
    return int((1 << 20) * 16 ** rnd.random())  # 1 MiB .. 16 MiB


def build(args):
    rnd = random.Random(args.seed)
    pool = Pool(rnd)
    scale = args.entries / 100000.0
    byte_scale = args.gb / 2.0

    # ---------------- layer 1: the base ----------------
    l1 = Layer()
    dirs = []          # layer-1 directories (paths)
    children = {"": []}
    depth = {"": 0}

    def mkdir(parent, name, **kw):
        path = f"{parent}/{name}" if parent else name
        if path in l1.entries:
            return path
        l1.add(path, "dir", **kw)
        dirs.append(path)
        children[path] = []
        children[parent].append(path)
        depth[path] = depth[parent] + 1
        return path

    for top in ("usr", "var", "opt", "srv", "home", "etc"):
        mkdir("", top)
    n_dirs = int(8000 * scale)
    i = 0
    while len(dirs) < n_dirs:
        # Prefer shallow parents so that the tree fans out, but reach depth ~8.
        parent = dirs[min(int(rnd.paretovariate(1.2)) - 1, len(dirs) - 1)] if rnd.random() < 0.3 else rnd.choice(dirs)
        if depth[parent] >= 9:
            continue
        name = rnd.choice(WORDS) + (f"-{i}" if rnd.random() < 0.8 else f".{i}.d")
        if rnd.random() < 0.01:
            name = ("long-directory-name-" * 6) + str(i)  # > 100 bytes in the path: PAX
        kw = {}
        r = rnd.random()
        if r < 0.02:
            kw = {"mode": 0o700, "uid": 1000, "gid": 1000}
        elif r < 0.03:
            kw = {"mode": 0o1777}
        elif r < 0.05:
            kw = {"mode": 0o2775, "gid": 50}
        kw["mtime"] = MTIME - rnd.randint(0, 10**7)
        mkdir(parent, name, **kw)
        i += 1

    files = []   # layer-1 regular files (paths), including hardlink group leaders
    # Files go to directories with a skewed distribution (a few hold hundreds).
    weights = [rnd.paretovariate(1.0) for _ in dirs]
    n_files = int(62000 * scale)
    target_dirs = rnd.choices(dirs, weights=weights, k=n_files)
    for k, parent in enumerate(target_dirs):
        name = f"{rnd.choice(WORDS)}_{k}{rnd.choice(EXTS)}"
        if rnd.random() < 0.005:
            name = "a-rather-long-file-name-that-needs-a-pax-header-" * 3 + str(k)
        path = f"{parent}/{name}"
        kw = {"size": int(file_size(rnd) * byte_scale), "mtime": MTIME - rnd.randint(0, 10**7)}
        r = rnd.random()
        if r < 0.10:
            kw["mode"] = 0o755
        elif r < 0.101:
            kw["mode"] = 0o4755
        elif r < 0.102:
            kw["mode"] = 0o2755
            kw["gid"] = 42
        elif r < 0.12:
            kw["uid"] = kw["gid"] = rnd.choice((1, 33, 100, 1000, 65534))
        l1.add(path, "file", **kw)
        children[parent].append(path)
        files.append(path)
    big = []
    for n, mb in enumerate((110, 150, 200)):
        path = f"opt/models-{n}/weights-{n}.bin"
        mkdir("opt", f"models-{n}")
        l1.add(path, "file", size=int(mb * 1000000 * byte_scale))
        children[f"opt/models-{n}"].append(path)
        files.append(path)
        big.append(path)

    # Hardlink groups: 2-4 names for one file, in the same or another directory.
    hardlinks = []
    for g in range(int(1500 * scale)):
        leader = rnd.choice(files)
        if leader in big or l1.entries[leader]["kind"] != "file":
            continue
        for m in range(rnd.randint(1, 3)):
            parent = rnd.choice(dirs) if rnd.random() < 0.3 else leader.rsplit("/", 1)[0]
            path = f"{parent}/hl{g}_{m}"
            if path in l1.entries:
                continue
            l1.add(path, "hardlink", target=leader, mode=l1.entries[leader].get("mode", 0o644))
            children[parent].append(path)
            hardlinks.append(path)

    # Symlinks: relative to a sibling, absolute to a file, to directories, dangling.
    symlinks, dir_symlinks = [], []
    for s in range(int(5000 * scale)):
        parent = rnd.choice(dirs)
        path = f"{parent}/link{s}"
        r = rnd.random()
        if r < 0.4 and children[parent]:
            target = rnd.choice(children[parent]).rsplit("/", 1)[1]
        elif r < 0.7:
            target = "/" + rnd.choice(files)
        elif r < 0.9:
            d = rnd.choice(dirs)
            target = os.path.relpath(d, parent)
            dir_symlinks.append(path)
        else:
            target = f"../missing/target-{s}"
        l1.add(path, "symlink", target=target)
        children[parent].append(path)
        symlinks.append(path)
    fifos = []
    for f in range(int(40 * scale) + 8):
        parent = rnd.choice(dirs)
        path = f"{parent}/fifo{f}"
        l1.add(path, "fifo", mode=0o600)
        children[parent].append(path)
        fifos.append(path)

    l1_bytes = sum(e["size"] for e in l1.entries.values() if e["kind"] == "file")

    # ---------------- layer 2: overwrite or delete ~30 % of layer 1's bytes ----------------
    l2 = Layer()
    claimed = set()       # layer-1 directories whose whole subtree layer 2 rewrites
    touched = set()       # layer-1 non-directories layer 2 changes
    busy = set()          # ancestors of everything in claimed or touched
    stats = {"whiteout dirs": 0, "whiteout files": 0, "overwritten files": 0, "opaque dirs": 0,
             "new files": 0, "type changes": 0}
    affected = [0]

    def subtree_bytes(d):
        total, stack = 0, [d]
        while stack:
            p = stack.pop()
            for c in children.get(p, ()):
                e = l1.entries[c]
                if e["kind"] == "dir":
                    stack.append(c)
                elif e["kind"] == "file":
                    total += e["size"]
        return total

    def ancestors(p):
        parts = p.split("/")
        return ["/".join(parts[:n]) for n in range(1, len(parts))]

    def free(p):
        """p and its ancestors are untouched by other layer-2 operations."""
        return p not in claimed and p not in touched and not any(a in claimed for a in ancestors(p))

    def free_dir(d):
        return free(d) and d not in busy

    def touch(p):
        touched.add(p)
        busy.update(ancestors(p))

    def claim(d):
        claimed.add(d)
        busy.update(ancestors(d))

    def add_parents(layer, p, src=None):
        for a in ancestors(p):
            if a not in layer.entries:
                e = (src or l1.entries).get(a) or {"kind": "dir"}
                kw = {k: v for k, v in e.items() if k != "kind"}
                kw["mtime"] = MTIME + 100
                layer.add(a, "dir", **kw)

    def wh(layer, p):
        parent, _, name = p.rpartition("/")
        layer.add(f"{parent}/.wh.{name}" if parent else f".wh.{name}", "whiteout")

    # The big files: one replaced, one deleted.
    l2.add(big[1], "file", size=int(120 * 1000000 * byte_scale), gen=2)
    add_parents(l2, big[1])
    wh(l2, big[0])
    add_parents(l2, big[0])
    touch(big[0])
    touch(big[1])
    affected[0] += l1.entries[big[0]]["size"] + l1.entries[big[1]]["size"]
    stats["whiteout files"] += 1
    stats["overwritten files"] += 1

    deep_dirs = [d for d in dirs if depth[d] >= 3]
    rnd.shuffle(deep_dirs)
    it = iter(deep_dirs)

    def next_dir(min_children=1):
        for d in it:
            if len(children[d]) >= min_children and free_dir(d):
                return d
        raise RuntimeError("ran out of directories")

    # Type changes, several of each.
    plain_files = [f for f in files if f not in big]
    rnd.shuffle(plain_files)
    fit = iter(plain_files)

    def next_file():
        for f in fit:
            if free(f):
                return f
        raise RuntimeError("ran out of files")

    def next_of(pool_list):
        cands = [p for p in pool_list if free(p)]
        return rnd.choice(cands)

    def change(path, kind, **kw):
        touch(path)
        add_parents(l2, path)
        l2.add(path, kind, **kw)
        stats["type changes"] += 1

    for n in range(int(20 * scale) + 3):
        # file -> dir (with children)
        f = next_file()
        affected[0] += l1.entries[f]["size"]
        change(f, "dir", mode=0o750, mtime=MTIME + 200)
        for c in range(3):
            l2.add(f"{f}/child{c}", "file", size=rnd.randint(0, 5000))
        # dir -> file
        d = next_dir(2)
        claim(d)
        affected[0] += subtree_bytes(d)
        add_parents(l2, d)
        l2.add(d, "file", size=rnd.randint(10, 3000), mode=0o640, mtime=MTIME + 201)
        stats["type changes"] += 1
        # file -> symlink
        f = next_file()
        affected[0] += l1.entries[f]["size"]
        change(f, "symlink", target="/etc/replaced-by-link")
        # symlink -> file
        s = next_of(symlinks)
        change(s, "file", size=rnd.randint(0, 8000), mode=0o600)
        # symlink (to a directory) -> dir, with a child that must land in the new dir
        s = next_of(dir_symlinks)
        change(s, "dir", mode=0o755, mtime=MTIME + 202)
        l2.add(f"{s}/inside-new-dir", "file", size=100)
        # dir -> symlink
        d = next_dir(1)
        claim(d)
        affected[0] += subtree_bytes(d)
        add_parents(l2, d)
        l2.add(d, "symlink", target="../" + rnd.choice(WORDS))
        stats["type changes"] += 1
        # symlink -> symlink (retarget)
        s = next_of(symlinks)
        change(s, "symlink", target="/usr/retargeted")
        # file -> hardlink (to a layer-1 file left alone)
        f = next_file()
        keep = next_file()
        touch(keep)
        affected[0] += l1.entries[f]["size"]
        change(f, "hardlink", target=keep, mode=l1.entries[keep].get("mode", 0o644))
        # hardlink -> file (leaves the rest of its group alone)
        h = next_of(hardlinks)
        touch(l1.entries[h]["target"])
        change(h, "file", size=rnd.randint(0, 3000))
        # file -> fifo and fifo -> file
        f = next_file()
        affected[0] += l1.entries[f]["size"]
        change(f, "fifo", mode=0o640)
        fi = next_of(fifos)
        change(fi, "file", size=77)

    # One opaque directory with much below it, and new content in it.
    d = next_dir(20)
    claim(d)
    affected[0] += subtree_bytes(d)
    add_parents(l2, d)
    l2.add(d, "dir", mode=0o755, mtime=MTIME + 300)
    l2.add(f"{d}/.wh..wh..opq", "whiteout")
    for c in range(50):
        l2.add(f"{d}/after-opaque-{c}.txt", "file", size=rnd.randint(0, 4000))
    l2.add(f"{d}/after-opaque-dir", "dir")
    l2.add(f"{d}/after-opaque-dir/x", "file", size=10)
    stats["opaque dirs"] += 1

    # Whole directories whited out, files overwritten or whited out, until ~30 %.
    goal = 0.30 * l1_bytes
    while affected[0] < goal:
        if rnd.random() < 0.02:
            try:
                d = next_dir(3)
            except RuntimeError:
                continue
            claim(d)
            affected[0] += subtree_bytes(d)
            add_parents(l2, d)
            wh(l2, d)
            stats["whiteout dirs"] += 1
            continue
        f = next_file()
        touch(f)
        affected[0] += l1.entries[f]["size"]
        add_parents(l2, f)
        if rnd.random() < 0.6:
            e = l1.entries[f]
            l2.add(f, "file", size=int(e["size"] * rnd.uniform(0.5, 1.5)), mode=e.get("mode", 0o644),
                   uid=e.get("uid", 0), gid=e.get("gid", 0), gen=2)
            stats["overwritten files"] += 1
        else:
            wh(l2, f)
            stats["whiteout files"] += 1

    # Hardlinks to layer-1 files that stay, and new files, up to the entry budget.
    new_root = "srv/layer2"
    l2.add("srv", "dir", mtime=MTIME + 100)
    l2.add(new_root, "dir")
    new_dirs = [new_root]
    for n in range(int(300 * scale)):
        p = f"{rnd.choice(new_dirs)}/pkg{n}"
        l2.add(p, "dir")
        new_dirs.append(p)
    l2_budget = int(22000 * scale)
    n = 0
    l2_new_files = []
    while len(l2.entries) < l2_budget:
        parent = rnd.choice(new_dirs)
        p = f"{parent}/new{n}{rnd.choice(EXTS)}"
        if rnd.random() < 0.02:
            keep = next_file()
            touch(keep)
            l2.add(p, "hardlink", target=keep, mode=l1.entries[keep].get("mode", 0o644))
        elif rnd.random() < 0.05:
            l2.add(p, "symlink", target="../" + rnd.choice(WORDS))
        else:
            l2.add(p, "file", size=int(file_size(rnd) * byte_scale))
            l2_new_files.append(p)
            stats["new files"] += 1
        n += 1
    # A new file of ~100 MB: the big-file tail of an upper layer.
    l2.add(f"{new_root}/blob.bin", "file", size=int(105 * 1000000 * byte_scale))
    l2_new_files.append(f"{new_root}/blob.bin")

    # ---------------- layer 3: a small top layer ----------------
    l3 = Layer()
    l3.add("srv", "dir", mtime=MTIME + 400)
    l3.add(new_root, "dir", mtime=MTIME + 400)
    rnd.shuffle(l2_new_files)
    gone = set()
    n_over, n_wh = int(300 * scale), int(200 * scale)
    for p in l2_new_files[:n_over]:
        add_parents(l3, p, l2.entries)
        l3.add(p, "file", size=rnd.randint(0, 6000), gen=3)
        gone.add(p)
    for p in l2_new_files[n_over:n_over + n_wh]:
        add_parents(l3, p, l2.entries)
        wh(l3, p)
        gone.add(p)
    # One more opaque directory (made in layer 2), and a layer-2 directory -> file.
    pkgs = [d for d in new_dirs[1:] if not any(g.startswith(d + "/") for g in gone)]
    opq = pkgs[0]
    to_file = next(d for d in pkgs[1:] if not d.startswith(opq + "/") and not opq.startswith(d + "/"))
    add_parents(l3, opq, l2.entries)
    l3.add(opq, "dir", mtime=MTIME + 401)
    l3.add(f"{opq}/.wh..wh..opq", "whiteout")
    l3.add(f"{opq}/only-this", "file", size=1234)
    add_parents(l3, to_file, l2.entries)
    l3.add(to_file, "file", size=99, mtime=MTIME + 402)
    l3.add("etc", "dir", mtime=MTIME + 400)
    for n in range(int(3000 * scale) - len(l3.entries)):
        l3.add(f"etc/conf{n}.conf", "file", size=rnd.randint(0, 2000))
    return [l1, l2, l3], {"layer1 file bytes": l1_bytes, "layer-1 bytes overwritten or deleted": affected[0],
                          **stats}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--entries", type=int, default=100000, help="about this many entries in all layers")
    ap.add_argument("--gb", type=float, default=2.0, help="about this many GB of file content")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    layers, stats = build(args)
    tmp = args.out + ".tmp"
    diff_ids, names, history = [], [], []
    total_entries = 0
    with open(tmp, "wb") as out:
        parent = ""
        for n, layer in enumerate(layers):
            layer_id = hashlib.sha256(f"synthetic-{args.seed}-{n}-{parent}".encode()).hexdigest()
            add_dir_member(out, layer_id + "/")
            add_small_member(out, f"{layer_id}/VERSION", b"1.0")
            js = {"id": layer_id, "created": "2023-11-14T22:13:20Z"}
            if parent:
                js["parent"] = parent
            add_small_member(out, f"{layer_id}/json", json.dumps(js).encode())
            diff, size, count = write_layer(out, f"{layer_id}/layer.tar", layer, _POOL_HOLDER.pool(args.seed))
            total_entries += count
            print(f"layer {n + 1}: {count} entries, {size} bytes, sha256:{diff}", file=sys.stderr)
            diff_ids.append("sha256:" + diff)
            names.append(f"{layer_id}/layer.tar")
            history.append({"created": "2023-11-14T22:13:20Z", "created_by": f"make-synthetic.py layer {n + 1}"})
            parent = layer_id
        config = {
            "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        add_small_member(out, config_name, config_bytes)
        manifest = [{"Config": config_name, "RepoTags": ["synthetic:latest"], "Layers": names}]
        add_small_member(out, "manifest.json", json.dumps(manifest).encode())
        add_small_member(out, "repositories", json.dumps({"synthetic": {"latest": parent}}).encode())
        out.write(b"\0" * (2 * BLOCK))
        size = out.tell()
        out.write(b"\0" * ((-size) % tarfile.RECORDSIZE))
    os.replace(tmp, args.out)
    stats["entries"] = total_entries
    stats["archive bytes"] = os.path.getsize(args.out)
    for k, v in stats.items():
        print(f"{k}: {v}", file=sys.stderr)


class _POOL_HOLDER:
    _pool = None

    @classmethod
    def pool(cls, seed):
        if cls._pool is None:
            cls._pool = Pool(random.Random(seed * 7919 + 1))
        return cls._pool


if __name__ == "__main__":
    main()
