#!/usr/bin/env python3
"""Hostile archives, one case per attack class (tests/hostile/README.md has the table).

usage: run_hostile.py UNDOCKER          run every case, one line each, then `N passed, M failed[, K skipped]`
       run_hostile.py --markdown        print the case table of README.md

Every archive is generated here (byte-exact tar headers, gzip and zstd
streams built by hand or with the `zstd` CLI). Every run of the binary is
jailed in bubblewrap with the host read-only:

    bwrap --ro-bind / / --dev /dev --proc /proc --bind SANDBOX SANDBOX --cap-add ALL --chdir SANDBOX -- UNDOCKER ...

SANDBOX is a fresh directory per case holding the archive, the output
directory DIR (`out`), TMPDIR (`tmp`) and a sentinel tree beside DIR. After
each run the sentinel tree (paths, types, modes, owners, sizes, contents,
link targets, link counts, xattrs, mtimes and ctimes) must be unchanged, nothing
may appear in SANDBOX outside DIR, and TMPDIR must be empty. A failing run
must exit with the status of its class (3 malformed, 4 not found, 1 I/O,
5 digest, 128+N on a signal) and print exactly one `ERROR:undocker:` line,
whose text is matched exactly (or by a precise regular expression).

Environment: HOSTILE_ONLY=SUBSTRING runs the matching cases; HOSTILE_KEEP=1
keeps every scratch directory (a failing case's is always kept);
HOSTILE_TMP=DIR puts the scratch directories there (default: the system
temporary directory); HOSTILE_BOMB_MIB sets the decompressed size of the
gzip and zstd bombs (default 2048). Peak RSS is asserted only when the binary
is not an ASan build (ASan's shadow memory inflates it); ASan builds are
detected with ldd or by ASAN_OPTIONS in the environment.
"""
import hashlib
import io
import json
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib

MTIME = 1_600_000_000          # mtime of generated entries
SENTINEL_MTIME = 1_000_000_000  # the sentinel tree's mtimes: any touch moves them
MIB = 1 << 20
RSS_LIMIT_KIB = 128 * 1024     # peak RSS allowed for the decompression bombs

# ============================================================== tar building


def _b(text):
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


def _octal(value, width):
    digits = b"%0*o" % (width - 1, value)
    if len(digits) > width - 1:
        raise ValueError(f"{value} does not fit an octal field of {width}")
    return digits + b"\0"


def base256(value, width):
    """GNU base-256 (two's complement, high bit of the first byte set)."""
    raw = (value % (1 << (8 * width))).to_bytes(width, "big")
    return bytes([raw[0] | 0x80]) + raw[1:]


def tar_header(name, typeflag=b"0", size=0, mode=0o644, uid=0, gid=0, mtime=MTIME, linkname=b"",
               devmajor=0, devminor=0, size_field=None, checksum=None, prefix=b""):
    """One 512-byte ustar header; size_field and checksum override the computed fields."""
    name, linkname, prefix = _b(name), _b(linkname), _b(prefix)
    if len(name) > 100 or len(linkname) > 100 or len(prefix) > 155:
        raise ValueError("name too long for a ustar field: use a pax record")
    block = bytearray(512)
    block[0:100] = name.ljust(100, b"\0")
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(uid, 8)
    block[116:124] = _octal(gid, 8)
    block[124:136] = size_field if size_field is not None else _octal(size, 12)
    block[136:148] = _octal(mtime, 12)
    block[148:156] = b" " * 8
    block[156:157] = typeflag
    block[157:257] = linkname.ljust(100, b"\0")
    block[257:265] = b"ustar\x0000"
    block[265:297] = b"root".ljust(32, b"\0")
    block[297:329] = b"root".ljust(32, b"\0")
    block[329:337] = _octal(devmajor, 8)
    block[337:345] = _octal(devminor, 8)
    block[345:500] = prefix.ljust(155, b"\0")
    block[148:156] = checksum if checksum is not None else b"%06o\0 " % sum(block)
    return bytes(block)


def pad(data):
    return data + b"\0" * (-len(data) % 512)


def pax_record(key, value):
    body = b" " + _b(key) + b"=" + _b(value) + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


class Tar:
    """A tar stream built block by block, so that hostile names and broken
    fields stay exactly as written. Names longer than ustar allows go in a
    pax `path` (or `linkpath`) record."""

    def __init__(self):
        self.parts = []

    def raw(self, data):
        self.parts.append(data)
        return self

    def pax(self, body, typeflag=b"x", size_field=None):
        """A pax extended header with this exact body (bytes)."""
        self.parts.append(tar_header("PaxHeaders/entry", typeflag, len(body), size_field=size_field))
        self.parts.append(pad(body))
        return self

    def entry(self, name, typeflag=b"0", data=b"", mode=0o644, link=b"", pax=None, **fields):
        name, link = _b(name), _b(link)
        records = dict(pax or {})
        header_name, header_link = name, link
        if len(name) > 100:
            records["path"] = name
            header_name = b"long-name-in-pax"
        if len(link) > 100:
            records["linkpath"] = link
            header_link = b"long-link-in-pax"
        if records:
            self.pax(b"".join(pax_record(k, v) for k, v in records.items()))
        self.parts.append(tar_header(header_name, typeflag, len(data), mode=mode, linkname=header_link, **fields))
        self.parts.append(pad(data))
        return self

    def file(self, name, data=b"", mode=0o644, **kw):
        return self.entry(name, b"0", _b(data), mode, **kw)

    def dir(self, name, mode=0o755, **kw):
        name = _b(name)
        return self.entry(name if name.endswith(b"/") else name + b"/", b"5", b"", mode, **kw)

    def symlink(self, name, target, **kw):
        return self.entry(name, b"2", b"", 0o777, link=target, **kw)

    def hardlink(self, name, target, **kw):
        return self.entry(name, b"1", b"", 0o644, link=target, **kw)

    def fifo(self, name, mode=0o644, **kw):
        return self.entry(name, b"6", b"", mode, **kw)

    def bytes(self, end=True):
        return b"".join(self.parts) + (b"\0" * 1024 if end else b"")


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def outer_tar(members):
    """members: [(name, bytes)] regular files, (name, None) directories,
    (name, ('symlink', target)) symlinks."""
    tar = Tar()
    for name, data in members:
        if data is None:
            tar.dir(name)
        elif isinstance(data, tuple):
            tar.symlink(name, data[1])
        else:
            tar.file(name, data)
    return tar.bytes()


def image_config(diff_ids, extra=None):
    body = {"architecture": "amd64", "os": "linux", "created": "2020-09-13T12:26:40Z",
            "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    body.update(extra or {})
    return json.dumps(body, sort_keys=True).encode()


def docker_archive(layers, tags=("hostile:latest",), diff_ids=None, manifest_hook=None, extra_members=(),
                   config=None):
    """A `docker save` (1.10+) archive. layers: bottom first, each the layer
    blob (bytes); diff_ids defaults to the blobs' sha256 (uncompressed)."""
    members, seen, layer_names = [], set(), []
    for blob in layers:
        layer_id = sha256_hex(blob)
        if layer_id not in seen:
            seen.add(layer_id)
            members += [(layer_id + "/", None), (layer_id + "/VERSION", b"1.0"),
                        (layer_id + "/json", json.dumps({"id": layer_id}).encode()),
                        (layer_id + "/layer.tar", blob)]
        layer_names.append(layer_id + "/layer.tar")
    if diff_ids is None:
        diff_ids = ["sha256:" + sha256_hex(blob) for blob in layers]
    config = config if config is not None else image_config(diff_ids)
    config_name = sha256_hex(config) + ".json"
    members.append((config_name, config))
    manifest = [{"Config": config_name, "RepoTags": list(tags) if tags is not None else None,
                 "Layers": layer_names}]
    if manifest_hook:
        manifest = manifest_hook(manifest) or manifest
    manifest_bytes = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    members.append(("manifest.json", manifest_bytes))
    members += list(extra_members)
    return outer_tar(members), layer_names


def oci_archive(layers, manifest_hook=None, index_hook=None):
    """An oci-archive: oci-layout, index.json, blobs/sha256/*. Hooks edit the
    manifest and index dicts before they are written."""
    diff_ids = ["sha256:" + sha256_hex(blob) for blob in layers]
    config = image_config(diff_ids)
    blobs = {sha256_hex(config): config}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": "sha256:" + sha256_hex(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": "sha256:" + sha256_hex(blob), "size": len(blob)} for blob in layers]}
    for blob in layers:
        blobs[sha256_hex(blob)] = blob
    if manifest_hook:
        manifest_hook(manifest)
    manifest_bytes = json.dumps(manifest).encode()
    blobs[sha256_hex(manifest_bytes)] = manifest_bytes
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": "sha256:" + sha256_hex(manifest_bytes), "size": len(manifest_bytes),
                            "annotations": {"org.opencontainers.image.ref.name": "hostile:latest"}}]}
    if index_hook:
        index_hook(index)
    members = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", json.dumps(index).encode()),
               ("blobs/", None), ("blobs/sha256/", None)]
    members += [("blobs/sha256/" + hexdigest, blob) for hexdigest, blob in blobs.items()]
    return outer_tar(members), sha256_hex(manifest_bytes)


def v1_archive(chain, repositories):
    """A pre-1.10 archive. chain: [(id, parent or None, layer bytes)];
    repositories: the dict written as `repositories`."""
    members = []
    for layer_id, parent, blob in chain:
        body = {"id": layer_id, "os": "linux"}
        if parent is not None:
            body["parent"] = parent
        members += [(layer_id + "/", None), (layer_id + "/json", json.dumps(body).encode()),
                    (layer_id + "/layer.tar", blob)]
    members.append(("repositories", json.dumps(repositories).encode()))
    return outer_tar(members)


# ---------------------------------------------------------------- compression

class BitWriter:
    """Deflate's bit order: values LSB first, Huffman codes MSB first."""

    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.bits = 0

    def put(self, value, count):
        self.acc |= value << self.bits
        self.bits += count
        while self.bits >= 8:
            self.out.append(self.acc & 0xff)
            self.acc >>= 8
            self.bits -= 8

    def code(self, code, length):
        self.put(int(format(code, f"0{length}b")[::-1], 2), length)

    def take(self):
        """The complete bytes written since the last take."""
        data = bytes(self.out)
        self.out.clear()
        return data


def deflate_zero_run_block(count):
    """(head, period, repeats, tail): a non-final dynamic-Huffman deflate
    block whose output is `count` zero bytes (a multiple of 1032), given that
    the byte before it is zero. Its only codes are "length 258" and "end of
    block" (one bit each) and "distance 1" (one bit), so four matches fill
    one byte: head + period * repeats + tail, 1 byte per 1032 zeros, as dense
    as zlib's best and with nothing to compress."""
    assert count % 1032 == 0 and count >= 3 * 1032
    groups = count // 1032          # 4 matches of 258 bytes, distance 1
    writer = BitWriter()
    writer.put(0, 1)                # BFINAL = 0
    writer.put(2, 2)                # BTYPE = 10, dynamic Huffman
    writer.put(286 - 257, 5)        # HLIT: literal/length codes 0..285
    writer.put(2 - 1, 5)            # HDIST: distance codes 0 and 1 (a complete code)
    writer.put(18 - 4, 4)           # HCLEN: 18 code length code lengths
    order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1]
    for symbol in order:
        writer.put(1 if symbol in (1, 18) else 0, 3)
    # Code length codes: symbol 1 is '0', symbol 18 (a run of 11..138 zeros) is '1'.
    writer.code(1, 1); writer.put(138 - 11, 7)   # lengths of literals 0..137: none
    writer.code(1, 1); writer.put(118 - 11, 7)   # 138..255: none
    writer.code(0, 1)                            # 256 (end of block): 1 bit
    writer.code(1, 1); writer.put(28 - 11, 7)    # 257..284: none
    writer.code(0, 1)                            # 285 (length 258): 1 bit
    writer.code(0, 1); writer.code(0, 1)         # distances 1 and 2: 1 bit each
    # Canonical codes: 256 -> '0', 285 -> '1'; distance code 0 (distance 1) -> '0'.

    def group():
        for _ in range(4):
            writer.code(1, 1)
            writer.code(0, 1)
    group()
    head = writer.take()
    group()
    period = writer.take()
    group()
    assert writer.take() == period and len(period) == 1
    writer.code(0, 1)               # end of block
    writer.put(0, 1)                # an empty stored block realigns to a byte boundary
    writer.put(0, 2)
    if writer.bits:
        writer.put(0, 8 - writer.bits)
    writer.put(0x0000, 16)
    writer.put(0xffff, 16)
    tail = writer.take()
    return head, period, groups - 2, period + tail


def zero_file_tar_pieces(name, size_bytes):
    """(header, zero count, trailer) of a layer tar holding one file of zeros."""
    header = tar_header(name, b"0", size_bytes, mode=0o644)
    trailer = b"\0" * (-size_bytes % 512) + b"\0" * 1024
    return header, size_bytes, trailer


def write_gzip_bomb(path, name, size_bytes):
    """A gzip layer of one `size_bytes` file of zeros, a few MB on disk,
    written without compressing gigabytes. Returns the tar's sha256 (diffID)."""
    header, zeros, trailer = zero_file_tar_pieces(name, size_bytes)
    bulk = zeros - zeros % 1032 - 1032  # leave a little for zlib on each side
    head, period, repeats, tail = deflate_zero_run_block(bulk)
    lead = header + b"\0" * 1032          # ends in a zero byte: distance 1 copies zeros
    rest = b"\0" * (zeros - 1032 - bulk) + trailer
    crc, digest, total = 0, hashlib.sha256(), 0
    chunk = bytes(16 * MIB)
    for piece in (lead,):
        crc = zlib.crc32(piece, crc)
        digest.update(piece)
        total += len(piece)
    remaining = bulk
    while remaining:
        n = min(remaining, len(chunk))
        view = memoryview(chunk)[:n]
        crc = zlib.crc32(view, crc)
        digest.update(view)
        remaining -= n
        total += n
    crc = zlib.crc32(rest, crc)
    digest.update(rest)
    total += len(rest)
    with open(path, "wb") as f:
        f.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03")  # gzip header, no name, OS unix
        first = zlib.compressobj(6, zlib.DEFLATED, -15)
        f.write(first.compress(lead) + first.flush(zlib.Z_SYNC_FLUSH))
        f.write(head)
        block = period * MIB
        left = repeats
        while left >= MIB:
            f.write(block)
            left -= MIB
        f.write(period * left)
        f.write(tail)
        last = zlib.compressobj(6, zlib.DEFLATED, -15)
        f.write(last.compress(rest) + last.flush(zlib.Z_FINISH))
        f.write(struct.pack("<II", crc & 0xffffffff, total & 0xffffffff))
    return digest.hexdigest()


def write_zstd_bomb(path, name, size_bytes):
    """The same tar through the `zstd` CLI. Returns the tar's sha256."""
    header, zeros, trailer = zero_file_tar_pieces(name, size_bytes)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        proc = subprocess.Popen(["zstd", "-q", "-1", "-c"], stdin=subprocess.PIPE, stdout=out)
        chunk = bytes(16 * MIB)
        proc.stdin.write(header)
        digest.update(header)
        remaining = zeros
        while remaining:
            n = min(remaining, len(chunk))
            view = memoryview(chunk)[:n]
            proc.stdin.write(view)
            digest.update(view)
            remaining -= n
        proc.stdin.write(trailer)
        digest.update(trailer)
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError("zstd failed")
    return digest.hexdigest()


def zstd_frame_with_window(window_log, payload):
    """A zstd frame whose header asks for a 2^window_log window, then one raw block."""
    assert len(payload) < 1 << 17
    descriptor = ((window_log - 10) << 3)  # exponent, mantissa 0
    block_header = 1 | (0 << 1) | (len(payload) << 3)  # last block, raw
    return (b"\x28\xb5\x2f\xfd" + bytes([0x00, descriptor]) + block_header.to_bytes(3, "little") + payload)


# ================================================================= the jail

def is_asan_build(binary):
    if os.environ.get("ASAN_OPTIONS"):
        return True
    try:
        linked = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        linked = ""
    if "libasan" in linked:
        return True
    try:
        symbols = subprocess.run(["nm", "-D", binary], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        symbols = ""
    return "__asan_init" in symbols


class Failure(Exception):
    pass


class Result:
    def __init__(self, rc, stdout, stderr, seconds, maxrss_kib, peak_anon_kib):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.seconds, self.maxrss_kib, self.peak_anon_kib = seconds, maxrss_kib, peak_anon_kib

    @property
    def errors(self):
        return [line[len("ERROR:undocker:"):] for line in self.stderr.split("\n")
                if line.startswith("ERROR:undocker:")]

    def describe(self):
        err = self.stderr if len(self.stderr) < 3000 else self.stderr[:1500] + "\n[...]\n" + self.stderr[-1500:]
        return f"exit {self.rc} after {self.seconds:.2f}s, stderr:\n" + "\n".join("  | " + l for l in err.splitlines())


def descendants(pid):
    """Every process below pid (children via /proc/PID/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def proc_status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Case:
    """A scratch SANDBOX: archive.tar, out/ (DIR), tmp/ (TMPDIR) and sentinel/."""

    def __init__(self, suite, name):
        self.suite, self.name = suite, name
        self.sandbox = tempfile.mkdtemp(prefix=f"hostile-{name}-", dir=suite.base)
        self.archive = self.path("archive.tar")
        self.out = self.path("out")
        self.tmp = self.path("tmp")
        self.notes = []
        os.mkdir(self.out)
        os.mkdir(self.tmp)
        self.make_sentinel()
        self.excluded = {"out", "tmp"}
        self.before = None

    def path(self, *parts):
        return os.path.join(self.sandbox, *parts)

    def write_archive(self, data, name="archive.tar"):
        with open(self.path(name), "wb") as f:
            f.write(data)
        self.arm()  # the sandbox is prepared: this is the state to keep
        return self.path(name)

    # ---- the sentinel tree beside DIR
    def make_sentinel(self):
        s = self.path("sentinel")
        os.makedirs(os.path.join(s, "dir"))
        os.makedirs(os.path.join(s, "subdir", "deeper"))
        for rel, text, mode in (("file", "precious\n", 0o644), ("exec", "#!/bin/sh\necho precious\n", 0o755),
                                ("dir/inner", "also precious\n", 0o600),
                                ("subdir/deeper/leaf", "deep and precious\n", 0o640)):
            with open(os.path.join(s, rel), "w") as f:
                f.write(text)
            os.chmod(os.path.join(s, rel), mode)
        os.symlink("file", os.path.join(s, "link"))
        os.chmod(os.path.join(s, "dir"), 0o700)
        for rel in ("file", "exec", "dir/inner", "subdir/deeper/leaf", "link", "subdir/deeper", "subdir", "dir", ""):
            os.utime(os.path.join(s, rel), (SENTINEL_MTIME, SENTINEL_MTIME), follow_symlinks=False)

    def snapshot(self):
        """Everything in SANDBOX outside the excluded top-level names."""
        snap = {}
        for dirpath, dirnames, filenames in os.walk(self.sandbox):
            rel_dir = os.path.relpath(dirpath, self.sandbox)
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d not in self.excluded]
                filenames = [f for f in filenames if f not in self.excluded]
            for name in [""] + dirnames + filenames if rel_dir == "." else dirnames + filenames:
                rel = os.path.normpath(os.path.join(rel_dir, name))
                full = os.path.join(self.sandbox, rel)
                st = os.lstat(full)
                info = [stat.filemode(st.st_mode), st.st_uid, st.st_gid, st.st_nlink, st.st_mtime_ns, st.st_ctime_ns]
                if stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as f:
                        info.append(hashlib.sha256(f.read()).hexdigest())
                    info.append(st.st_size)
                elif stat.S_ISLNK(st.st_mode):
                    info.append(os.readlink(full))
                if rel == ".":
                    # SANDBOX is DIR's parent: a run into an empty DIR builds
                    # the tree in a sibling and renames it, which moves the
                    # parent's times. What it holds is what must not change.
                    # DIR, TMPDIR and other excluded names are checked by
                    # the cases themselves (a run into a missing DIR makes it).
                    info = [stat.filemode(st.st_mode), st.st_uid, st.st_gid,
                            sorted(n for n in os.listdir(self.sandbox) if n not in self.excluded)]
                try:
                    info.append(sorted((n, os.getxattr(full, n, follow_symlinks=False))
                                       for n in os.listxattr(full, follow_symlinks=False)))
                except OSError:
                    pass
                snap[rel] = info
        return snap

    def arm(self):
        """Take the 'before' snapshot (call once the sandbox is prepared)."""
        self.before = self.snapshot()

    def check_outside(self):
        after = self.snapshot()
        changes = []
        for rel in sorted(set(self.before) | set(after)):
            if self.before.get(rel) != after.get(rel):
                changes.append(f"{rel}: {self.before.get(rel)} -> {after.get(rel)}")
        if changes:
            raise Failure("outside DIR changed:\n  " + "\n  ".join(changes[:20]))
        left = os.listdir(self.tmp) if os.path.isdir(self.tmp) else []
        if left:
            raise Failure(f"TMPDIR not empty afterwards: {left}")

    # ---- running the binary
    def run(self, args, stdin=None, extra_bwrap=(), timeout=120, signal_plan=None, env=None, stdout=None):
        """Run UNDOCKER jailed; returns a Result. stdin: None, a path (file),
        or a file object / fd. stdout: None (captured in Result.stdout) or an
        fd / file object to write to. signal_plan: (signal, predicate) sends
        the signal to the undocker process once predicate(pid) is true: an
        event (DIR filling, the input spooled), never a duration, so that a
        loaded machine only delays it (the pid is kept in self.signal_target)."""
        if self.before is None:
            self.arm()
        sandbox = self.sandbox
        command = ["bwrap", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                   "--bind", sandbox, sandbox, *extra_bwrap, "--cap-add", "ALL", "--chdir", sandbox, "--",
                   *self.suite.timer, self.suite.binary, *[str(a) for a in args]]
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("UNDOCKER_")}
        run_env["TMPDIR"] = self.tmp
        run_env.update(env or {})
        stdout_file = tempfile.TemporaryFile()
        stderr_file = tempfile.TemporaryFile()
        opened = None
        if isinstance(stdin, str):
            opened = open(stdin, "rb")
            stdin = opened
        start = time.monotonic()
        proc = subprocess.Popen(command, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                stdout=stdout if stdout is not None else stdout_file, stderr=stderr_file, env=run_env)
        if opened:
            opened.close()
        status, usage = None, None
        peak_anon = 0
        target = None
        signalled = False
        polls = 0
        while True:
            pid, wait_status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, usage = wait_status, ru
                break
            elapsed = time.monotonic() - start
            if target is None or polls % 10 == 0:
                for kid in descendants(proc.pid):
                    try:
                        if os.path.realpath(f"/proc/{kid}/exe") == self.suite.binary_real:
                            target = kid
                    except OSError:
                        pass
            polls += 1
            if target is not None:
                anon = proc_status_kib(target, "RssAnon")
                if anon:
                    peak_anon = max(peak_anon, anon)
            if signal_plan and not signalled and target is not None and signal_plan[1](target):
                os.kill(target, signal_plan[0])
                signalled = True
                self.signal_target = target
                self.signal_sent_at = elapsed
            if elapsed > timeout:
                # The jail's processes first: --die-with-parent covers only
                # bwrap's direct child (GNU time), not the binary below it.
                for kid in reversed(descendants(proc.pid)):
                    try:
                        os.kill(kid, signal.SIGKILL)
                    except OSError:
                        pass
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise Failure(f"timed out after {timeout}s: {' '.join(map(str, args))}")
            time.sleep(0.01 if signal_plan else 0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        stdout_file.seek(0)
        stderr_file.seek(0)
        stderr = stderr_file.read().decode("utf-8", "replace")
        # GNU time's line (the binary's own peak RSS; wait4's figure would also
        # count the pre-exec copy of this Python process).
        maxrss = usage.ru_maxrss
        found = re.search(r"(?:^|\n)HOSTILE_MAXRSS_KIB=(\d+)\n?$", stderr)
        if found:
            maxrss = int(found.group(1))
            stderr = stderr[:found.start()] + ("\n" if found.group(0).startswith("\n") else "")
        result = Result(proc.returncode, stdout_file.read().decode("utf-8", "replace"), stderr, seconds, maxrss,
                        peak_anon)
        stdout_file.close()
        stderr_file.close()
        if signal_plan and not signalled:
            raise Failure(f"the run ended before the signal could be sent\n{result.describe()}")
        self.last = result
        self.sanitizer_clean(result)
        return result

    def extract(self, *extra, archive="archive.tar", out="out", **kw):
        return self.run(["-f", archive, "-o", out, *extra], **kw)

    def sanitizer_clean(self, result):
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"):
            if marker in result.stderr:
                raise Failure(f"sanitizer report ({marker})\n{result.describe()}")

    # ---- assertions
    def expect_ok(self, result):
        if result.rc != 0:
            raise Failure(f"expected exit 0\n{result.describe()}")
        if result.errors:
            raise Failure(f"exit 0 but ERROR lines\n{result.describe()}")
        self.check_outside()
        return result

    def expect_error(self, result, rc, pattern):
        """Exit status rc, exactly one ERROR:undocker: line matching pattern
        (a regular expression over the text after the prefix, fullmatch)."""
        if result.rc != rc:
            raise Failure(f"expected exit {rc}\n{result.describe()}")
        errors = result.errors
        if len(errors) != 1:
            raise Failure(f"expected exactly one ERROR:undocker: line, got {len(errors)}\n{result.describe()}")
        if not re.fullmatch(pattern, errors[0], re.S):
            raise Failure(f"ERROR line does not match\n  expected: {pattern}\n  actual:   {errors[0]!r}")
        stray = [l for l in result.stderr.split("\n") if l and not re.match(r"(DEBUG|INFO|WARNING|ERROR):undocker:", l)]
        if stray:
            raise Failure(f"stderr lines without the LEVEL:undocker: prefix (split message?): {stray[:3]!r}")
        self.check_outside()
        return errors[0]

    def tree(self, rel, kind=None, content=None, mode=None, target=None, uid=None, mtime=None):
        full = os.path.join(self.out, rel)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            raise Failure(f"DIR/{rel} is missing") from None
        kinds = {"file": stat.S_ISREG, "dir": stat.S_ISDIR, "symlink": stat.S_ISLNK, "fifo": stat.S_ISFIFO}
        if kind and not kinds[kind](st.st_mode):
            raise Failure(f"DIR/{rel}: expected a {kind}, found {stat.filemode(st.st_mode)}")
        if content is not None:
            with open(full, "rb") as f:
                data = f.read()
            if data != _b(content):
                raise Failure(f"DIR/{rel}: content {data[:60]!r}, expected {_b(content)[:60]!r}")
        if mode is not None and stat.S_IMODE(st.st_mode) != mode:
            raise Failure(f"DIR/{rel}: mode {oct(stat.S_IMODE(st.st_mode))}, expected {oct(mode)}")
        if target is not None and os.readlink(full) != target:
            raise Failure(f"DIR/{rel}: symlink to {os.readlink(full)!r}, expected {target!r}")
        if uid is not None and st.st_uid != uid:
            raise Failure(f"DIR/{rel}: uid {st.st_uid}, expected {uid}")
        if mtime is not None and st.st_mtime_ns // 10**9 != mtime:
            raise Failure(f"DIR/{rel}: mtime {st.st_mtime_ns // 10**9}, expected {mtime}")
        return st

    def absent(self, rel):
        if os.path.lexists(os.path.join(self.out, rel)):
            raise Failure(f"DIR/{rel} should not exist")

    def note(self, text):
        self.notes.append(text)


# ================================================================ the cases

CASES = []


def case(name, attack, asserts, source):
    def register(fn):
        CASES.append((name, attack, asserts, source, fn))
        return fn
    return register


def layer_name(blob):
    return sha256_hex(blob) + "/layer.tar"


def L(blob):
    """The layer's member name as messages show it, as a regex."""
    return re.escape(layer_name(blob))


def one_image(c, *layers, **kw):
    data, _ = docker_archive(list(layers), **kw)
    c.write_archive(data)
    return data


# ---------------------------------------------------------------- member names

@case("dotdot_path", "a member name that climbs out with `..` (`../x`, `a/../../x`)",
      "exit 3; the error names the member; nothing outside DIR", "Python tarfile CVE-2007-4559")
def _(c):
    for name in ("../escaped", "a/../../sentinel/file"):
        layer = Tar().file("ok", "fine").file(name, "pwned").bytes()
        one_image(c, layer)
        r = c.extract()
        c.expect_error(r, 3, L(layer) + ": " + re.escape(name) + ": path climbs out of the output directory with '..'")


@case("dotdot_path_inside", "`a/../b` and `./x` stay inside: `a/../b` is `b`",
      "exit 0; DIR/b and DIR/x written", "README behaviour choice")
def _(c):
    layer = Tar().dir("a").file("a/../b", "b").file("./x", "x").bytes()
    one_image(c, layer)
    c.expect_ok(c.extract())
    c.tree("b", "file", "b")
    c.tree("x", "file", "x")


@case("absolute_member_name", "absolute member names, one being the real path of the sentinel",
      "exit 0; the files land inside DIR (DIR/SANDBOX/sentinel/file, DIR/etc/...); the sentinel and /etc unchanged",
      "Python tarfile CVE-2007-4559; README (leading / stripped, as Docker)")
def _(c):
    real = c.path("sentinel", "file")
    layer = Tar().file(real, "pwned").file("/etc/undocker-hostile-abs", "pwned").bytes()
    one_image(c, layer)
    c.expect_ok(c.extract())
    c.tree(real.lstrip("/"), "file", "pwned")
    c.tree("etc/undocker-hostile-abs", "file", "pwned")
    if os.path.lexists("/etc/undocker-hostile-abs"):
        raise Failure("/etc/undocker-hostile-abs exists on the host")


@case("outer_dotdot_member", "a member of the outer archive named `../x`",
      "exit 3 naming the member", "Python tarfile CVE-2007-4559 (outer archive)")
def _(c):
    data, _ = docker_archive([Tar().file("a", "a").bytes()], extra_members=[("../sentinel/file", b"pwned")])
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"archive\.tar: \.\./sentinel/file: member name climbs out of the archive with '\.\.'")


# ---------------------------------------------------------------- symlinks

@case("abs_symlink_parent", "a symlink to /SANDBOX/sentinel, then a write through it (same layer)",
      "exit 0; the write lands in DIR/SANDBOX/sentinel/file (chroot semantics); the sentinel unchanged",
      "Docker CVE-2014-9356 (absolute symlinks); CVE-2014-6407 (docker load)")
def _(c):
    target = c.path("sentinel")
    layer = Tar().symlink("link", target).file("link/file", "pwned").file("link/dir/inner", "pwned").bytes()
    one_image(c, layer)
    c.expect_ok(c.extract())
    c.tree("link", "symlink", target=target)
    c.tree(target.lstrip("/") + "/file", "file", "pwned")
    c.tree(target.lstrip("/") + "/dir/inner", "file", "pwned")


@case("root_symlink", "a symlink entry named `.`, `./` or `/` (the root itself) pointing at the sentinel, then writes",
      "exit 3 `only a directory can stand at the root`; DIR stays a directory; the sentinel unchanged",
      "umoci CVE-2021-29136 (a `.` symlink redirected the whole unpack)")
def _(c):
    for name in (".", "./", "/"):
        layer = Tar().symlink(name, c.path("sentinel")).file("file", "pwned").bytes()
        one_image(c, layer)
        c.expect_error(c.extract(), 3, L(layer) + ": " + re.escape(name) + r": only a directory can stand at the root")
        if os.path.islink(c.out) or not os.path.isdir(c.out):
            raise Failure("DIR is no longer a directory")


@case("abs_symlink_parent_cross_layer", "the symlink in layer 1, the write through it in layer 2",
      "exit 0; the write lands inside DIR; the sentinel unchanged", "crane symlink regressions (go-containerregistry); Docker CVE-2014-9356")
def _(c):
    target = c.path("sentinel")
    lower = Tar().symlink("link", target).bytes()
    upper = Tar().file("link/file", "pwned").file("link/exec", "pwned", mode=0o4755).bytes()
    one_image(c, lower, upper)
    c.expect_ok(c.extract())
    c.tree(target.lstrip("/") + "/file", "file", "pwned")
    c.tree(target.lstrip("/") + "/exec", "file", "pwned", mode=0o4755)


@case("abs_symlink_etc", "a symlink to /etc, then files written through it (two layers)",
      "exit 0; DIR/etc/... written; host /etc untouched", "Docker CVE-2014-9356; umoci CVE-2021-29136")
def _(c):
    lower = Tar().symlink("hostetc", "/etc").file("hostetc/undocker-hostile-1", "pwned").bytes()
    upper = Tar().file("hostetc/undocker-hostile-2", "pwned").bytes()
    one_image(c, lower, upper)
    c.expect_ok(c.extract())
    c.tree("etc/undocker-hostile-1", "file", "pwned")
    c.tree("etc/undocker-hostile-2", "file", "pwned")
    for name in ("undocker-hostile-1", "undocker-hostile-2"):
        if os.path.lexists("/etc/" + name):
            raise Failure(f"/etc/{name} exists on the host")


@case("rel_symlink_parent", "relative symlinks that climb (`..`, `../sentinel`, `../../sentinel`, `a/b/../../../../sentinel`)",
      "exit 0; `..` stops at DIR: the writes land in DIR/sentinel; the sentinel unchanged",
      "Python tarfile CVE-2007-4559 (symlink variant); Docker CVE-2014-6407")
def _(c):
    layer = (Tar().symlink("up", "..").symlink("rel1", "../sentinel").symlink("rel2", "../../sentinel")
             .dir("a").dir("a/b").symlink("a/b/rel3", "../../../../sentinel")
             .file("up/sentinel/file", "pwned-0").file("rel1/exec", "pwned-1").file("rel2/dir/inner", "pwned-2")
             .file("a/b/rel3/subdir/deeper/leaf", "pwned-3")).bytes()
    one_image(c, layer)
    c.expect_ok(c.extract())
    c.tree("sentinel/file", "file", "pwned-0")
    c.tree("sentinel/exec", "file", "pwned-1")
    c.tree("sentinel/dir/inner", "file", "pwned-2")
    c.tree("sentinel/subdir/deeper/leaf", "file", "pwned-3")


@case("symlink_chain_escape", "a chain a -> b -> c -> outside (absolute and relative ends), across three layers",
      "exit 0; the write through the chain lands inside DIR; the sentinel unchanged", "crane symlink regressions; Docker CVE-2014-9356")
def _(c):
    l1 = Tar().symlink("c", c.path("sentinel")).symlink("r3", "../../../sentinel/dir").bytes()
    l2 = Tar().symlink("b", "c").dir("x").symlink("x/r2", "../r3").bytes()
    l3 = Tar().symlink("a", "b").symlink("r1", "x/r2").file("a/file", "pwned").file("r1/inner", "pwned").bytes()
    one_image(c, l1, l2, l3)
    c.expect_ok(c.extract())
    c.tree(c.path("sentinel").lstrip("/") + "/file", "file", "pwned")
    c.tree("sentinel/dir/inner", "file", "pwned")


@case("symlink_loop", "a symlink loop (a -> b -> a) used as a parent directory",
      "exit 1 (the filesystem refuses the entry); one error naming the entry and ELOOP; nothing outside",
      "kernel ELOOP semantics (chroot); Docker CVE-2014-9356 hardening")
def _(c):
    layer = Tar().symlink("a", "b").symlink("b", "a").file("a/x", "x").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 1, L(layer) + r": a/x: cannot open the directory for the entry: Too many levels of symbolic links")


@case("symlink_final_component_replaced",
      "a symlink to an outside file (or dangling, or to a dir) replaced by a file, dir, hardlink, FIFO and symlink entry",
      "exit 0; each symlink is replaced, never written through; the sentinel unchanged",
      "GNU tar / libarchive: replace the link, never follow it (SECURE_SYMLINKS); Docker CVE-2018-15664")
def _(c):
    s = c.path("sentinel")
    lower = (Tar().symlink("f1", s + "/file").symlink("f2", "../sentinel/exec").symlink("f3", s + "/newfile")
             .symlink("d1", s + "/dir").symlink("h1", s + "/file").symlink("p1", s + "/file").symlink("s1", s + "/file")
             .file("real", "real")).bytes()
    upper = (Tar().file("f1", "new-1").file("f2", "new-2", mode=0o600).file("f3", "new-3").dir("d1", mode=0o777)
             .hardlink("h1", "real").fifo("p1").symlink("s1", "real")
             .symlink("same", s + "/file").file("same", "same layer")).bytes()
    one_image(c, lower, upper)
    c.expect_ok(c.extract())
    c.tree("f1", "file", "new-1")
    c.tree("f2", "file", "new-2", mode=0o600)
    c.tree("f3", "file", "new-3")
    c.tree("d1", "dir", mode=0o777)
    c.tree("h1", "file", "real")
    c.tree("p1", "fifo")
    c.tree("s1", "symlink", target="real")
    c.tree("same", "file", "same layer")
    if os.path.lexists(s + "/newfile"):
        raise Failure("sentinel/newfile was created through the dangling symlink")


@case("symlink_in_dir_beforehand", "DIR already holds symlinks to the sentinel (absolute and relative) before extraction",
      "exit 0; writes, whiteouts and opaque markers through them stay inside DIR; the sentinel unchanged",
      "SPEC section 3 (symlinks in DIR beforehand); Docker CVE-2018-15664-style")
def _(c):
    os.symlink(c.path("sentinel"), os.path.join(c.out, "pre"))
    os.symlink("../sentinel", os.path.join(c.out, "prerel"))
    layer = (Tar().file("pre/newfile", "new").file("pre/file", "pwned").file("prerel/.wh.file")
             .file("prerel/dir/.wh..wh..opq").file("prerel/exec", "pwned").bytes())
    one_image(c, layer)
    c.arm()
    c.expect_ok(c.extract())
    inner = c.path("sentinel").lstrip("/")
    c.tree(inner + "/newfile", "file", "new")
    c.tree(inner + "/file", "file", "pwned")
    c.tree("sentinel/exec", "file", "pwned")


@case("symlink_swap_in_layer", "within one layer: dir `d` + `d/f1`, then `d` becomes a symlink to the sentinel, then `d/f2`; and the reverse",
      "exit 0; every write follows the tree as it is at that entry (no stale resolution), inside DIR",
      "Docker CVE-2018-15664 / CVE-2019-14271-style time-of-check races, replayed by the archive itself")
def _(c):
    s = c.path("sentinel")
    layer = (Tar().dir("d").file("d/f1", "one").symlink("d", s).file("d/f2", "two")
             .symlink("e", s).file("e/g1", "one").dir("e").file("e/g2", "two")).bytes()
    one_image(c, layer)
    c.expect_ok(c.extract())
    inner = s.lstrip("/")
    c.tree("d", "symlink", target=s)
    c.tree(inner + "/f2", "file", "two")
    c.tree(inner + "/g1", "file", "one")
    c.tree("e", "dir")
    c.tree("e/g2", "file", "two")
    c.absent(inner + "/g2")


@case("xattr_through_symlink", "xattrs (`trusted.*`, `user.*`) on a symlink to the sentinel, on a file and a dir written through one",
      "exit 0; xattrs land on the link itself or inside DIR; the sentinel's xattrs unchanged",
      "libarchive #745 (metadata through symlinks); containerd CVE-2021-32760")
def _(c):
    s = c.path("sentinel")
    lower = Tar().symlink("sfile", s + "/file").symlink("sdir", s + "/dir").symlink("up", "..").bytes()
    upper = (Tar().symlink("sfile", s + "/file", pax={"SCHILY.xattr.trusted.hostile": "link"})
             .dir("sdir", pax={"SCHILY.xattr.trusted.hostile": "dir"})
             .file("up/sentinel/file", "x", pax={"SCHILY.xattr.user.hostile": "file"})).bytes()
    one_image(c, lower, upper)
    c.expect_ok(c.extract())
    c.tree("sfile", "symlink")
    c.tree("sdir", "dir")
    for rel, name, value in (("sfile", "trusted.hostile", b"link"), ("sdir", "trusted.hostile", b"dir"),
                             ("sentinel/file", "user.hostile", b"file")):
        got = os.getxattr(os.path.join(c.out, rel), name, follow_symlinks=False)
        if got != value:
            raise Failure(f"DIR/{rel}: xattr {name} = {got!r}, expected {value!r}")


# ---------------------------------------------------------------- hardlinks

@case("hardlink_target_outside", "hardlinks to `../sentinel/file` and `a/../../sentinel/file`",
      "exit 3; the error names the entry and its target; the sentinel's link count unchanged",
      "libarchive #746; Python tarfile CVE-2007-4559")
def _(c):
    for target in ("../sentinel/file", "a/../../sentinel/file"):
        layer = Tar().dir("a").hardlink("h", target).bytes()
        one_image(c, layer)
        c.expect_error(c.extract(), 3, L(layer) + r": h: hardlink target " + re.escape(target) +
                       r" is outside the output directory")


@case("hardlink_abs_target", "a hardlink to the sentinel's absolute path (resolved inside DIR, where it is absent)",
      "exit 1, naming the entry and the target; the sentinel's link count unchanged", "libarchive #746")
def _(c):
    target = c.path("sentinel", "file")
    layer = Tar().hardlink("h", target).bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 1, L(layer) + r": h: cannot link to " + re.escape(target.lstrip("/")) +
                   r": No such file or directory")


@case("hardlink_to_symlink_outside", "hardlinks to symlinks that point outside (absolute and relative)",
      "exit 0; the hardlink is the symlink itself (same inode); the sentinel's link count unchanged",
      "libarchive #746; Go archive/tar / Docker semantics")
def _(c):
    s = c.path("sentinel")
    lower = Tar().symlink("sabs", s + "/file").symlink("srel", "../sentinel/file").hardlink("habs", "sabs").bytes()
    upper = Tar().hardlink("hrel", "srel").bytes()
    one_image(c, lower, upper)
    c.expect_ok(c.extract())
    a, b = c.tree("habs", "symlink", target=s + "/file"), c.tree("sabs", "symlink")
    if (a.st_ino, a.st_dev) != (b.st_ino, b.st_dev):
        raise Failure("habs is not a hardlink of the symlink sabs")
    c.tree("hrel", "symlink", target="../sentinel/file")


@case("hardlink_through_symlink_dir", "a hardlink whose target path goes through a symlink to the sentinel dir",
      "exit 1 when the in-DIR target is absent (naming entry and target); exit 0 linking the in-DIR file when present",
      "libarchive #746; containerd CVE-2021-32760")
def _(c):
    s = c.path("sentinel")
    layer = Tar().symlink("d", s).hardlink("h", "d/file").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 1, L(layer) + r": h: cannot link to d/file: No such file or directory")
    shutil.rmtree(c.out)
    os.mkdir(c.out)
    layer = Tar().symlink("d", s).file("d/file", "inside").hardlink("h", "d/file").bytes()
    one_image(c, layer)
    c.arm()
    c.expect_ok(c.extract())
    c.tree("h", "file", "inside")


# ---------------------------------------------------------------- deferred directory metadata

@case("chmod_through_symlink_fixup",
      "dir `d` (layer 1) replaced by a symlink to the sentinel dir (layer 2), then `d/` with mode 0777, uid 4242, mtime 0",
      "exit 0; the deferred chmod/chown/utime hits DIR/d, never the sentinel (same layer, later layer, no redeclaration)",
      "containerd CVE-2021-32760 (chmod of host files); libarchive #745")
def _(c):
    s = c.path("sentinel")
    variants = {
        "same layer": [Tar().dir("d", mode=0o700, mtime=5).bytes(),
                       Tar().symlink("d", s).dir("d", mode=0o777, uid=4242, gid=4242, mtime=0).bytes()],
        "later layer": [Tar().dir("d", mode=0o700, mtime=5).bytes(), Tar().symlink("d", "../sentinel").bytes(),
                        Tar().dir("d", mode=0o777, uid=4242, gid=4242, mtime=0).bytes()],
        "no redeclaration": [Tar().dir("d", mode=0o777, uid=4242, mtime=0).dir("d/dir", mode=0o777, mtime=0).bytes(),
                             Tar().symlink("d", "../sentinel").bytes()],
        "parent symlink": [Tar().symlink("up", "..").dir("up/sentinel", mode=0o777, uid=4242, mtime=0)
                           .dir("up/sentinel/subdir", mode=0o777, mtime=0).bytes()],
    }
    for label, layers in variants.items():
        for name in os.listdir(c.out):
            p = os.path.join(c.out, name)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        one_image(c, *layers)
        c.arm()
        r = c.extract()
        try:
            c.expect_ok(r)
            if label in ("same layer", "later layer"):
                c.tree("d", "dir", mode=0o777, uid=4242, mtime=0)
            elif label == "no redeclaration":
                c.tree("d", "symlink", target="../sentinel")
            else:
                c.tree("sentinel", "dir", mode=0o777, uid=4242, mtime=0)
                c.tree("sentinel/subdir", "dir", mode=0o777, mtime=0)
        except Failure as failure:
            raise Failure(f"[{label}] {failure}") from None


# ---------------------------------------------------------------- whiteouts

@case("whiteout_escape", "whiteouts whose names escape: `../.wh.sentinel`, `.wh..`, `a/.wh..`, `.wh...`",
      "exit 3 naming the entry; nothing deleted anywhere", "containerd CVE-2021-32760-style; OCI image-spec whiteouts")
def _(c):
    for name, problem in (("../.wh.sentinel", "path climbs out of the output directory with '..'"),
                          (".wh..", "whiteout names no file"), ("a/.wh..", "whiteout names no file"),
                          (".wh...", "whiteout names no file"), (".wh.", "whiteout names no file")):
        layer = Tar().dir("a").file(name).bytes()
        one_image(c, Tar().file("keep", "keep").bytes(), layer)
        c.expect_error(c.extract(), 3, L(layer) + ": " + re.escape(name) + ": " + re.escape(problem))


@case("whiteout_through_symlink", "`link/.wh.file`, `link/.wh.dir` and `link/.wh..wh..opq` under symlinks to the sentinel",
      "exit 0; nothing outside DIR is deleted; the symlinks stay", "containerd CVE-2021-32760; umoci CVE-2021-29136; moby pkg/archive whiteout handling")
def _(c):
    s = c.path("sentinel")
    lower = Tar().symlink("link", s).symlink("rel", "../sentinel").symlink("up", "..").bytes()
    upper = (Tar().file("link/.wh.file").file("link/.wh.dir").file("rel/.wh.exec").file("rel/.wh..wh..opq")
             .file("link/.wh..wh..opq").file("up/sentinel/.wh.subdir").file("up/.wh.sentinel").bytes())
    one_image(c, lower, upper)
    c.expect_ok(c.extract())
    c.tree("link", "symlink", target=s)
    c.tree("rel", "symlink", target="../sentinel")


@case("whiteout_symlink_itself", "`.wh.link` where link points at the sentinel directory",
      "exit 0; the symlink is removed, its target untouched", "OCI image-spec whiteouts; libarchive #745")
def _(c):
    lower = Tar().symlink("link", c.path("sentinel")).symlink("rel", "../sentinel").bytes()
    upper = Tar().file(".wh.link").file(".wh.rel").bytes()
    one_image(c, lower, upper)
    c.expect_ok(c.extract())
    c.absent("link")
    c.absent("rel")


# ---------------------------------------------------------------- image metadata

def manifest_edit(**changes):
    def hook(manifest):
        manifest[0].update(changes)
        return manifest
    return hook


@case("manifest_layer_path_escape", "`..` and absolute paths in manifest.json \"Layers\"",
      "exit 3: `manifest.json: layer path ... leaves the archive`", "moby image/tarexport (safePath on load); Docker CVE-2014-6407")
def _(c):
    for bad in ("../../sentinel/file", "/etc/passwd", "a/../../etc/passwd"):
        data, _ = docker_archive([Tar().file("a").bytes()], manifest_hook=manifest_edit(Layers=[bad]))
        c.write_archive(data)
        c.expect_error(c.extract(), 3, r"manifest\.json: layer path " + re.escape(bad) + " leaves the archive")


@case("manifest_config_path_escape", "`..` and absolute paths in manifest.json \"Config\"",
      "exit 3: `manifest.json: config path ... leaves the archive`", "moby image/tarexport (safePath on load); Docker CVE-2014-6407")
def _(c):
    for bad in ("../../etc/passwd", "/etc/passwd", "..", "/"):
        data, _ = docker_archive([Tar().file("a").bytes()], manifest_hook=manifest_edit(Config=bad))
        c.write_archive(data)
        c.expect_error(c.extract(), 3, r"manifest\.json: config path " + re.escape(bad) + " leaves the archive")


@case("outer_layer_symlink_escape", "`<id>/layer.tar` stored as a symlink to `../../../etc/passwd` and to `/etc/passwd`",
      "exit 3: the layer is not in the archive (the host file is never read)", "SPEC 2.7 trap turned hostile")
def _(c):
    for target in ("../../../../etc/passwd", "/etc/passwd"):
        members = [("abc/", None), ("abc/layer.tar", ("symlink", target))]
        data, _ = docker_archive([], manifest_hook=manifest_edit(Layers=["abc/layer.tar"]), extra_members=members)
        c.write_archive(data)
        c.expect_error(c.extract(), 3, r"manifest\.json: layer abc/layer\.tar is not in the archive")


@case("index_digest_escape", "`sha256:../../x` digests in index.json, in a manifest's layers and config",
      "exit 3: `MEMBER: invalid digest ...` naming the document", "OCI image-layout digests (umoci/containerd digest validation)")
def _(c):
    layer = Tar().file("a", "a").bytes()
    data, _ = oci_archive([layer], index_hook=lambda i: i["manifests"][0].update(digest="sha256:../../sentinel/file"))
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"index\.json: invalid digest sha256:\.\./\.\./sentinel/file")
    bad = "sha256:../../../../etc/passwd"
    data, manifest_hex = oci_archive([layer], manifest_hook=lambda m: m["layers"][0].update(digest=bad))
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"blobs/sha256/" + manifest_hex + r": invalid digest " + re.escape(bad))
    data, manifest_hex = oci_archive([layer], manifest_hook=lambda m: m["config"].update(digest="sha256:/etc/passwd"))
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"blobs/sha256/" + manifest_hex + r": invalid digest sha256:/etc/passwd")


@case("repositories_id_escape", "`..` and `/` in v1 `repositories` ids and in a layer's `parent`",
      "exit 3 naming the member that holds the bad id", "Docker CVE-2014-5282 (image ids not validated on load)")
def _(c):
    blob = Tar().file("a", "a").bytes()
    c.write_archive(v1_archive([("aaaa", None, blob)], {"hostile": {"latest": "../../sentinel"}}))
    c.expect_error(c.extract(), 3, r"repositories: invalid layer id \.\./\.\./sentinel")
    c.write_archive(v1_archive([("aaaa", None, blob)], {"hostile": {"latest": "/etc"}}))
    c.expect_error(c.extract(), 3, r"repositories: invalid layer id /etc")
    c.write_archive(v1_archive([("aaaa", "../../sentinel", blob)], {"hostile": {"latest": "aaaa"}}))
    c.expect_error(c.extract(), 3, r"aaaa/json: invalid (layer|parent) id \.\./\.\./sentinel")


@case("manifest_missing_layer", "manifest.json naming a layer (or config) that the archive lacks",
      "exit 3 naming the missing member", "SPEC section 3 (a manifest naming a missing layer)")
def _(c):
    data, _ = docker_archive([Tar().file("a").bytes()], manifest_hook=manifest_edit(Layers=["missing/layer.tar"]))
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"manifest\.json: layer missing/layer\.tar is not in the archive")
    data, _ = docker_archive([Tar().file("a").bytes()], manifest_hook=manifest_edit(Config="missing.json"))
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"manifest\.json: config missing\.json is not in the archive")


@case("v1_parent_loop", "v1 parent chains a -> b -> a, a self-parent, and a parent that is missing",
      "exit 3 naming the member; no hang", "SPEC section 3 (a parent loop)")
def _(c):
    blob = Tar().file("a", "a").bytes()
    c.write_archive(v1_archive([("aaaa", "bbbb", blob), ("bbbb", "aaaa", blob)], {"hostile": {"latest": "aaaa"}}))
    c.expect_error(c.extract(), 3, r"(aaaa|bbbb)/json: parent chain loops back to layer aaaa")
    c.write_archive(v1_archive([("aaaa", "aaaa", blob)], {"hostile": {"latest": "aaaa"}}))
    c.expect_error(c.extract(), 3, r"aaaa/json: parent chain loops back to layer aaaa")
    c.write_archive(v1_archive([("aaaa", "cccc", blob)], {"hostile": {"latest": "aaaa"}}))
    c.expect_error(c.extract(), 3, r"cccc/json: layer cccc is not in the archive")


@case("digest_mismatch", "a tampered layer (diffID mismatch), and an OCI manifest blob that is a symlink to another manifest",
      "exit 5 naming the blob", "OCI image-spec content addressing; Docker CVE-2014-5282 (load trusted unverified ids)")
def _(c):
    good, evil = Tar().file("a", "good").bytes(), Tar().file("a", "evil").bytes()
    data, names = docker_archive([evil], diff_ids=["sha256:" + sha256_hex(good)])
    c.write_archive(data)
    c.expect_error(c.extract(), 5, re.escape(names[0]) + r": (digest|diffID) mismatch: expected sha256:" + sha256_hex(good) +
                   r", got sha256:" + sha256_hex(evil))
    data, manifest_hex = oci_archive([good])
    with tarfile_open(data) as tar:
        real_manifest = json.load(tar.extractfile("blobs/sha256/" + manifest_hex))
    evil_manifest = json.dumps(dict(real_manifest, layers=[])).encode()
    # The manifest's name stays; its member becomes a symlink to another blob.
    members = []
    with tarfile_open(data) as tar:
        for info in tar.getmembers():
            if info.name == "blobs/sha256/" + manifest_hex:
                members.append((info.name, ("symlink", "evil")))
                members.append(("blobs/sha256/evil", evil_manifest))
            elif info.isdir():
                members.append((info.name, None))
            else:
                members.append((info.name, tar.extractfile(info).read()))
    c.write_archive(outer_tar(members))
    c.expect_error(c.extract(), 5, r"blobs/sha256/" + manifest_hex + r": digest mismatch: expected sha256:" + manifest_hex +
                   r", got sha256:" + sha256_hex(evil_manifest))


def tarfile_open(data):
    import tarfile
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:")


@case("index_missing_blob", "an OCI index naming a manifest whose blob was not saved",
      "exit 4 naming the image and the missing manifest", "SPEC 2.7 (index entries whose blobs were not saved)")
def _(c):
    missing = "sha256:" + "ab" * 32
    data, _ = oci_archive([Tar().file("a").bytes()], index_hook=lambda i: i["manifests"][0].update(digest=missing))
    c.write_archive(data)
    c.expect_error(c.extract(), 4, r".*was not saved in the archive \(manifest " + re.escape(missing) + r" is missing\)")


@case("all_untagged_id_escape", "`--all` with an untagged image whose id (from Config `...json`) is `..`",
      "exit 3 (the id cannot be a directory name) or extraction confined to DIR; nothing written beside DIR",
      "Python tarfile CVE-2007-4559 (names from the archive used as paths)")
def _(c):
    layer = Tar().file("sentinel/file", "pwned").file("escaped", "pwned").bytes()
    config = image_config(["sha256:" + sha256_hex(layer)])
    for config_name in ("...json", "sha256/...json"):
        members = [(config_name, config)]
        data, _ = docker_archive([layer], tags=None, manifest_hook=manifest_edit(Config=config_name),
                                 extra_members=members)
        c.write_archive(data)
        r = c.extract("--all")
        if r.rc == 0:
            c.expect_ok(r)
        else:
            c.expect_error(r, 3, r"image id \.\. cannot be used as a directory name")


# ---------------------------------------------------------------- tar format

def pax_case(c, body, message):
    layer = Tar().pax(body).file("f", "hello").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": offset 0: malformed pax header: " + message)


@case("pax_path_escape", "`..` smuggled past the ustar name field: pax `path`, GNU `L` long name, `GNU.sparse.name`, pax `linkpath` of a hardlink",
      "exit 3 naming the real (overriding) name", "libarchive #744 (checks skipped for long names); Python tarfile CVE-2007-4559")
def _(c):
    variants = [
        ("pax path", Tar().file("innocent", "x", pax={"path": "../escaped"}), "../escaped", "path climbs out of the output directory with '..'"),
        ("GNU L", Tar().raw(tar_header("././@LongLink", b"L", 11)).raw(pad(b"../escaped\0")).file("innocent", "x"),
         "../escaped", "path climbs out of the output directory with '..'"),
        ("sparse name", Tar().entry("innocent", b"0", b"hello", pax={"GNU.sparse.name": "../escaped", "GNU.sparse.realsize": "5",
                                                                  "GNU.sparse.map": "0,5"}),
         "../escaped", "path climbs out of the output directory with '..'"),
        ("pax linkpath", Tar().hardlink("h", "innocent", pax={"linkpath": "../sentinel/file"}), "h",
         "hardlink target ../sentinel/file is outside the output directory"),
    ]
    for label, tar, shown, problem in variants:
        layer = tar.bytes()
        one_image(c, layer)
        try:
            c.expect_error(c.extract(), 3, L(layer) + ": " + re.escape(shown) + ": " + re.escape(problem))
        except Failure as failure:
            raise Failure(f"[{label}] {failure}") from None


def sparse_entry(name, real_size, segments, data):
    """A pax 1.0 sparse file: the map leads the data, padded to a block."""
    map_text = f"{len(segments)}\n" + "".join(f"{o}\n{n}\n" for o, n in segments)
    stored = pad(map_text.encode()) + data
    return Tar().entry("GNUSparseFile.0/" + name, b"0", stored,
                       pax={"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
                            "GNU.sparse.realsize": str(real_size)})


@case("sparse_size_bomb", "pax 1.0 sparse files of apparent size 1 TiB (fine) and 2^60 (too large for the filesystem)",
      "1 TiB: exit 0, a hole-filled file using no space; 2^60: exit 1 naming the file; nothing outside",
      "sparse-file bombs (GNU tar, libarchive sparse handling)")
def _(c):
    layer = sparse_entry("big", 1 << 40, [((1 << 40) - 5, 5)], b"tail!").bytes()
    one_image(c, layer)
    c.expect_ok(c.extract())
    st = c.tree("big", "file")
    if st.st_size != 1 << 40 or st.st_blocks > 1024:
        raise Failure(f"DIR/big: size {st.st_size}, {st.st_blocks} blocks; expected 1 TiB and a hole")
    with open(os.path.join(c.out, "big"), "rb") as f:
        f.seek((1 << 40) - 5)
        if f.read() != b"tail!":
            raise Failure("DIR/big: wrong tail")
    os.unlink(os.path.join(c.out, "big"))
    layer = sparse_entry("huge", 1 << 60, [], b"").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 1, L(layer) + r": huge: cannot set the file size: File too large")


@case("pax_size_negative", "pax `size=-1`", "exit 3 naming the layer and the offset", "libarchive pax size checks; Go CVE-2022-2879-style")
def _(c):
    pax_case(c, pax_record("size", "-1"), r"bad size -1")


@case("pax_size_huge", "pax `size=2^70` and `size=99999999999999999999`", "exit 3", "libarchive pax size checks")
def _(c):
    pax_case(c, pax_record("size", str(2 ** 70)), r"bad size " + str(2 ** 70))
    pax_case(c, pax_record("size", "99999999999999999999"), r"bad size 99999999999999999999")


@case("huge_pax_record", "pax record lengths 99999999999999999999, -5, `abc` and 0",
      "exit 3: `record length ... is invalid`", "libarchive pax parser fuzz finds; Go archive/tar")
def _(c):
    for length in (b"99999999999999999999", b"-5", b"abc", b"0"):
        pax_case(c, length + b" path=x\n", r"record length " + re.escape(length.decode()) + r" is invalid")


@case("pax_body_over_limit", "a 20 MiB pax header body (over the 16 MiB limit)", "exit 3", "Go CVE-2022-2879 (unbounded pax headers)")
def _(c):
    body = pax_record("comment", "x" * (20 * MIB))
    layer = Tar().pax(body).file("f", "x").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": pax header of %d bytes exceeds the limit of 16777216 bytes" % len(body))


def pax_flood_layer(keys, files):
    """`keys` pax global headers, each adding its own SCHILY.xattr key, then `files` small files."""
    tar = Tar()
    for i in range(keys):
        tar.pax(pax_record(f"SCHILY.xattr.user.k{i:05}", "v"), typeflag=b"g")
    for i in range(files):
        tar.file(f"f{i:05}", "x")
    return tar.bytes()


@case("pax_global_flood", "20,000 pax `g` headers each adding a distinct `SCHILY.xattr.*` key, then 20,000 files; "
      "a `g` header holding 20 KiB of values; `GNU.sparse.*` keys in a `g` header; 20,000 `g` headers replacing one key",
      "exit 3 naming the layer and the header's offset, well under a second, peak RSS under 64 MiB; "
      "the replacing headers: exit 0, each file with the mtime of the last `g` before it",
      "unbounded global state (issue 11); Go CVE-2022-2879 (unbounded pax headers)")
def _(c):
    def bounded(r, label, limit):
        # Before the limits: killed after more than 30 s (the state was
        # merged forever and copied into every entry).
        limit = limit if not c.suite.asan else 10 * limit
        c.note(f"{label}: exit {r.rc} in {r.seconds:.2f}s, peak RSS {r.maxrss_kib // 1024} MiB")
        if r.seconds > limit:
            raise Failure(f"{label}: took {r.seconds:.2f}s (limit {limit}s)")
        if not c.suite.asan and r.maxrss_kib > 64 * 1024:
            raise Failure(f"{label}: peak RSS {r.maxrss_kib // 1024} MiB (limit 64 MiB)")

    layer = pax_flood_layer(20_000, 20_000)
    one_image(c, layer)
    r = c.extract(timeout=60)
    # The 65th distinct key, in the 65th header (each takes two blocks).
    c.expect_error(r, 3, L(layer) + r": pax global headers set more than 64 keys \(at offset %d\)" % (64 * 1024))
    bounded(r, "20,000 keys", 1.0)

    layer = Tar().pax(pax_record("SCHILY.xattr.user.big", "v" * 20_000), typeflag=b"g").file("f", "x").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": pax global headers hold more than 16384 bytes of values \(at offset 0\)")

    body = pax_record("GNU.sparse.map", "0,1") + pax_record("GNU.sparse.realsize", "1")
    layer = Tar().file("a", "x").pax(body, typeflag=b"g").file("f", "x").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": pax global header at offset 1024 holds GNU\.sparse\.\* keys, "
                   r"which belong to one file")

    tar = Tar()
    for i in range(20_000):
        tar.pax(pax_record("mtime", str(MTIME + i)), typeflag=b"g")
        if i % 10 == 9:
            tar.file(f"f{i:05}", "x")
    layer = tar.bytes()
    one_image(c, layer)
    r = c.expect_ok(c.extract(timeout=60))
    for i in (9, 10_009, 19_999):
        c.tree(f"f{i:05}", "file", "x", mtime=MTIME + i)
    # 0.15 s on a quiet machine: the time goes into creating the files.
    bounded(r, "20,000 replacing headers, 2,000 files", 5.0)


@case("ustar_size_negative", "a base-256 size field holding -1", "exit 3 naming the entry", "libarchive base-256 checks")
def _(c):
    layer = Tar().raw(tar_header("neg", b"0", size_field=base256(-1, 12))).bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": neg: invalid size field at offset 0")


@case("size_past_end", "sizes past the end: a layer entry (ustar and pax size 1 GB), an outer member",
      "exit 3: `archive ends inside the entry's data (N bytes missing)` / `size N runs past the end of the archive`",
      "libarchive test_read_format_tar truncation tests; SPEC section 3")
def _(c):
    layer = Tar().file("ok", "fine").raw(tar_header("big", b"0", 1_000_000)).raw(b"x" * 512).bytes(end=False)
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": big: archive ends inside the entry's data \(999488 bytes missing\)")
    layer = Tar().pax(pax_record("size", "1000000000")).raw(tar_header("big", b"0", 0)).bytes(end=False)
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": big: archive ends inside the entry's data \(1000000000 bytes missing\)")
    data, names = docker_archive([Tar().file("a", "a").bytes()])
    cut = data.rfind(b"\0" * 1024)
    outer = Tar().raw(data[:cut]).raw(tar_header("huge", b"0", 50_000_000)).raw(b"y" * 1024).bytes(end=False)
    c.write_archive(outer)
    c.expect_error(c.extract(), 3, r"archive\.tar: huge: size 50000000 runs past the end of the archive")


@case("bad_checksum", "a header checksum that does not match (outer archive and layer)",
      "exit 3: `header checksum mismatch at offset N`", "libarchive test_read_format_tar; GNU tar")
def _(c):
    layer = Tar().file("ok", "fine").raw(tar_header("bad", b"0", 0, checksum=b"0000000\0")).bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": header checksum mismatch at offset 1024")
    data, _ = docker_archive([Tar().file("a", "a").bytes()])
    broken = bytearray(data)
    broken[148:156] = b"0000001\0"
    c.write_archive(bytes(broken))
    c.expect_error(c.extract(), 3, r"archive\.tar: not a tar archive \(header checksum mismatch at offset 0\)")


@case("truncated_archive", "archives truncated mid-header and mid-data (outer and layer)",
      "exit 3 naming the member and the offset", "libarchive truncation handling; Go archive/tar io.ErrUnexpectedEOF")
def _(c):
    base = Tar().file("one", "1" * 700).file("two", "2" * 3000)
    full = base.bytes(end=False)
    mid_header = full[:1536 + 300]
    one_image(c, mid_header)
    c.expect_error(c.extract(), 3, L(mid_header) + r": archive ends inside a header at offset 1536")
    mid_data = full[:1536 + 512 + 1000]
    one_image(c, mid_data)
    c.expect_error(c.extract(), 3, L(mid_data) + r": two: archive ends inside the entry's data \(2000 bytes missing\)")
    layer = Tar().file("a", "a" * 5000).bytes()
    data, names = docker_archive([layer])
    position = data.find(names[0].encode())
    c.write_archive(data[:position + 200])
    c.expect_error(c.extract(), 3, r"archive\.tar: archive ends inside a header at offset %d" % position)
    c.write_archive(data[:position + 512 + 4000])
    c.expect_error(c.extract(), 3, r"archive\.tar: " + re.escape(names[0]) + r": size %d runs past the end of the archive" % len(layer))


@case("gnu_longname_10mb", "a GNU `L` long name of 10 MiB (the limit is 64 KiB), and a 100 KiB pax path",
      "exit 3, fast, bounded memory", "libarchive #744 (long paths); Go CVE-2022-2879 (unbounded headers)")
def _(c):
    layer = Tar().raw(tar_header("././@LongLink", b"L", 10 * MIB)).raw(b"a" * (10 * MIB)).file("x", "x").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": GNU long name of 10485760 bytes exceeds the limit of 65536 bytes")
    layer = Tar().pax(pax_record("path", "b/" * 50000 + "f")).file("short", "x").bytes()
    one_image(c, layer)
    # The whole 100 KB name is printed today; a shortened name would be clearer.
    c.expect_error(c.extract(), 3, L(layer) + r": (b/)+[^:]*: name is too long.*")


# ---------------------------------------------------------------- JSON

@case("json_malformed", "malformed JSON in manifest.json, a config and index.json", "exit 3 naming the document",
      "simdjson error paths; SPEC section 3")
def _(c):
    data, _ = docker_archive([Tar().file("a").bytes()], manifest_hook=lambda m: b'[{"Config": "x.json", ')
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"manifest\.json: invalid JSON: .+")
    layer = Tar().file("a").bytes()
    data, _ = docker_archive([layer], config=b'{"rootfs": [}')
    c.write_archive(data)
    c.expect_error(c.extract(), 3, re.escape(sha256_hex(b'{"rootfs": [}')) + r"\.json: invalid JSON: .+")
    data, _ = oci_archive([layer], index_hook=lambda i: i.update(manifests="not a list"))
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r'index\.json: "manifests" is not a JSON array')


@case("json_too_large", "a 100 MB manifest.json (the limit is 64 MiB)", "exit 3 with the sizes, memory bounded",
      "JSON bomb; SPEC section 3 (memory bounded)")
def _(c):
    size = 100 * 1000 * 1000
    body = b"[" + b" " * (size - 2) + b"]"
    data, _ = docker_archive([Tar().file("a").bytes()], manifest_hook=lambda m: body)
    c.write_archive(data)
    r = c.extract()
    c.expect_error(r, 3, r"manifest\.json: JSON document of 100000000 bytes exceeds the limit of 67108864 bytes")
    c.note(f"{r.seconds:.2f}s, peak RSS {r.maxrss_kib // 1024} MiB (the 100 MB archive is mapped)")


@case("json_deep_nesting", "10,000-deep nested JSON arrays in manifest.json and index.json", "exit 3, no stack overflow",
      "simdjson depth limit; JSON bombs")
def _(c):
    deep = b"[" * 10000 + b"]" * 10000
    data, _ = docker_archive([Tar().file("a").bytes()], manifest_hook=lambda m: deep)
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"manifest\.json: invalid JSON: .+")
    data, _ = oci_archive([Tar().file("a").bytes()], index_hook=lambda i: i.update(annotations=json.loads("[" * 900 + "]" * 900)))
    c.write_archive(data)
    c.expect_error(c.extract(), 3, r"index\.json: invalid JSON: .+")


# ---------------------------------------------------------------- names in messages

@case("name_control_bytes", "entry names with a newline (forging a second ERROR line), ESC and invalid UTF-8",
      "exactly one ERROR line; control and invalid bytes escaped as \\xNN", "log injection (CWE-117)")
def _(c):
    for raw, shown in ((b"../evil\nERROR:undocker:forged", r"../evil\x0aERROR:undocker:forged"),
                       (b"../\x1b[31mred\r", r"../\x1b[31mred\x0d"),
                       (b"../bad\xff\xfeutf8", r"../bad\xff\xfeutf8"),
                       (b"../caf\xc3\xa9", "../café")):
        layer = Tar().file(raw, "x").bytes()
        one_image(c, layer)
        r = c.extract()
        c.expect_error(r, 3, L(layer) + ": " + re.escape(shown) + ": path climbs out of the output directory with '..'")


@case("name_dot_root", "entries `.`, `./` (the root) as directories, and `.` as a regular file",
      "directories set DIR's mode and mtime (exit 0); a file at the root is exit 3", "README (./ sets DIR itself, as tar -x)")
def _(c):
    layer = Tar().dir(".", mode=0o750, mtime=12345).dir("./", mode=0o751, mtime=23456).file("./x", "x").bytes()
    one_image(c, layer)
    c.expect_ok(c.extract())
    st = os.stat(c.out)
    if stat.S_IMODE(st.st_mode) != 0o751 or int(st.st_mtime) != 23456:
        raise Failure(f"DIR mode {oct(stat.S_IMODE(st.st_mode))} mtime {int(st.st_mtime)}, expected 0o751 23456")
    os.chmod(c.out, 0o755)
    layer = Tar().file(".", "x").bytes()
    one_image(c, layer)
    c.expect_error(c.extract(), 3, L(layer) + r": \.: only a directory can stand at the root")


@case("tar_output_stream", "`--tar DIR/rootfs.tar` (streamed from the plan) on a symlink escape, and on an archive that fails mid-way",
      "escape: exit 0, the redirected file is in the stream, the sentinel unchanged; failure: exit 3, no rootfs.tar nor partial file left, TMPDIR empty", "SPEC section 3 (TMPDIR)")
def _(c):
    layer = Tar().symlink("link", c.path("sentinel")).file("link/file", "pwned").symlink("up", "..").file("up/sentinel/exec", "x").bytes()
    one_image(c, layer)
    c.expect_ok(c.run(["-f", "archive.tar", "--tar", "out/rootfs.tar"]))
    names = subprocess.run(["tar", "-tf", c.path("out", "rootfs.tar")], capture_output=True, text=True).stdout.split()
    if not any(n.rstrip("/").endswith("sentinel/file") for n in names):
        raise Failure(f"rootfs.tar lacks the redirected file: {names}")
    layer = Tar().file("ok", "x" * 100000).file("../escape", "x").bytes()
    one_image(c, layer)
    c.expect_error(c.run(["-f", "archive.tar", "--tar", "out/rootfs.tar"]), 3,
                   L(layer) + r": \.\./escape: path climbs out of the output directory with '\.\.'")
    if os.listdir(c.out) != ["rootfs.tar"]:
        raise Failure(f"a failed --tar left {os.listdir(c.out)} (only the earlier rootfs.tar may stay)")


# ---------------------------------------------------------------- faults

@case("disk_full", "the output is a 1 MiB tmpfs; a 4 MB file (uncompressed layer, and gzip layer)",
      "exit 1; one error naming the file and `No space left on device`", "SPEC section 3 (fail loudly); GNU tar ENOSPC")
def _(c):
    os.mkdir(c.path("small"))
    big = os.urandom(4 * 1000 * 1000)
    layer = Tar().file("small-ok", "ok").file("big", big).bytes()
    bwrap = ["--size", "1048576", "--tmpfs", c.path("small")]
    for label, blob in (("tar", layer), ("gzip", gzip_blob(layer))):
        data, names = docker_archive([blob], diff_ids=["sha256:" + sha256_hex(layer)])
        c.write_archive(data)
        r = c.extract(out="small/out", extra_bwrap=bwrap)
        try:
            c.expect_error(r, 1, re.escape(names[0]) + r": big: cannot write data: No space left on device")
        except Failure as failure:
            raise Failure(f"[{label}] {failure}") from None


def gzip_blob(data):
    out = io.BytesIO()
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    out.write(compressor.compress(data) + compressor.flush())
    return out.getvalue()


@case("output_read_only", "DIR is a read-only bind mount; DIR missing below a read-only directory",
      "exit 1 naming the path and `Read-only file system`", "SPEC exit status 1")
def _(c):
    os.mkdir(c.path("ro"))
    layer = Tar().file("f", "x").bytes()
    one_image(c, layer)
    bwrap = ["--ro-bind", c.path("ro"), c.path("ro")]
    c.expect_error(c.extract(out="ro", extra_bwrap=bwrap), 1, L(layer) + r": f: cannot create the file: Read-only file system")
    c.expect_error(c.extract(out="ro/new/dir", extra_bwrap=bwrap), 1,
                   r"cannot create output directory ro/new: Read-only file system")


@case("pipe_truncated", "the archive on a pipe that closes early (`head -c N archive | undocker`), mid-header and mid-data",
      "exit 3 naming the member; TMPDIR empty", "SPEC section 2 (spooling) and 3")
def _(c):
    data, names = docker_archive([Tar().file("a", "a" * 300_000).bytes()])
    c.write_archive(data)
    position = data.find(names[0].encode())
    for cut, pattern in ((position + 100, r"<stdin>: archive ends inside a header at offset %d" % position),
                         (position + 512 + 100_000, r"<stdin>: " + re.escape(names[0]) + r": size \d+ runs past the end of the archive")):
        head = subprocess.Popen(["head", "-c", str(cut), c.archive], stdout=subprocess.PIPE)
        try:
            r = c.run(["-o", "out"], stdin=head.stdout)
        finally:
            head.stdout.close()
            head.wait()
        c.expect_error(r, 3, pattern)


def pipe_extract(c, data, *extra, shell_tail=""):
    """Writes data as the archive and runs `cat archive | undocker -o out`
    with UNDOCKER_SPECULATE=1: the layers are applied while the archive
    arrives (pipeline/speculation)."""
    c.write_archive(data)
    feeder = subprocess.Popen(["sh", "-c", f'cat "$1"{shell_tail}', "sh", c.archive], stdout=subprocess.PIPE)
    try:
        return c.run(["-o", "out", *extra], stdin=feeder.stdout, env={"UNDOCKER_SPECULATE": "1"})
    finally:
        feeder.stdout.close()
        feeder.wait()


def pipe_with_members(members_before_config, layers, diff_ids=None, manifest_layers=None):
    """A docker-archive whose members are exactly members_before_config (in
    that order), then the config and manifest.json naming `layers` (blobs,
    bottom first) as <sha>/layer.tar."""
    diff_ids = diff_ids or ["sha256:" + sha256_hex(blob) for blob in layers]
    config = image_config(diff_ids)
    config_name = sha256_hex(config) + ".json"
    names = manifest_layers or [layer_name(blob) for blob in layers]
    manifest = [{"Config": config_name, "RepoTags": ["hostile:latest"], "Layers": names}]
    return outer_tar(list(members_before_config) + [(config_name, config), ("manifest.json", json.dumps(manifest).encode())])


@case("pipe_manifest_contradicts_arrival", "from a pipe, layers A then B arrive but the manifest stacks B over A "
      "(B deletes a file of A's, A deletes one of B's)",
      "exit 0; the manifest's tree: A's file over B's, A's whiteout of B's file applied, B's of A's not", "issue 14 item 2")
def _(c):
    a = Tar().file("shared", "from A").file("a_only", "a").file(".wh.b_only").bytes()
    b = Tar().file("shared", "from B").file("b_only", "b").file(".wh.a_only").bytes()
    data = pipe_with_members([(layer_name(a), a), (layer_name(b), b)], [b, a])
    c.expect_ok(pipe_extract(c, data))
    c.tree("shared", "file", content="from A")
    c.tree("a_only", "file", content="a")
    c.absent("b_only")


@case("pipe_layer_arrives_twice", "from a pipe, the bottom layer arrives again (under another name) after the top "
      "layer that deletes its file, before the manifest",
      "exit 0; the deleted file stays deleted (the second copy is not part of the image)", "issue 14 item 2")
def _(c):
    a = Tar().file("doomed", "a").file("kept", "a").bytes()
    b = Tar().file(".wh.doomed").file("top", "b").bytes()
    data = pipe_with_members([(layer_name(a), a), (layer_name(b), b), ("copy/layer.tar", a)], [a, b])
    c.expect_ok(pipe_extract(c, data))
    c.absent("doomed")
    c.tree("kept", "file", content="a")
    c.tree("top", "file", content="b")


@case("pipe_foreign_tar_blob", "from a pipe, a tar member that no manifest names arrives between the layers",
      "exit 0; none of its files in DIR", "issue 14 item 2")
def _(c):
    a = Tar().file("base", "a").bytes()
    foreign = Tar().file("foreign", "x").file(".wh.base").bytes()
    b = Tar().file("top", "b").bytes()
    data = pipe_with_members([(layer_name(a), a), ("foreign.tar", foreign), (layer_name(b), b)], [a, b])
    c.expect_ok(pipe_extract(c, data))
    c.absent("foreign")
    c.tree("base", "file", content="a")
    c.tree("top", "file", content="b")


@case("pipe_layer_digest_mismatch", "from a pipe, a layer whose bytes do not match the diffID its config names "
      "(applied while it arrives, before the config is read)",
      "exit 5 with the message a file gives; DIR left as it was (empty), no staging sibling", "issue 14 item 2; SPEC exit status 5")
def _(c):
    a = Tar().file("base", "a").bytes()
    b = Tar().file("evil", "b").bytes()
    wrong = "sha256:" + "0" * 64
    data = pipe_with_members([(layer_name(a), a), (layer_name(b), b)], [a, b], diff_ids=["sha256:" + sha256_hex(a), wrong])
    c.write_archive(data)
    message = c.expect_error(c.extract(), 5, L(b) + r": digest mismatch: expected " + re.escape(wrong) +
                             r", got sha256:" + sha256_hex(b))
    c.expect_error(pipe_extract(c, data), 5, re.escape(message))
    if os.listdir(c.out):
        raise Failure(f"DIR holds {os.listdir(c.out)}")


@case("pipe_cut_while_applying", "the writer of the pipe is killed (SIGKILL) in the middle of a 24 MB layer that is "
      "being applied while it arrives",
      "exit 3 with the error `-f` gives for the same bytes; DIR left as it was (empty), no staging sibling", "issue 14 item 2")
def _(c):
    big = Tar()
    for i in range(3000):
        big.file(f"d/f{i:04}", bytes([i % 251]) * 8192)
    layer = big.bytes()
    data = pipe_with_members([(layer_name(layer), layer)], [layer])
    cut = len(data) // 2
    c.write_archive(data[:cut], name="cut.tar")
    expected = c.extract(archive="cut.tar")
    message = c.expect_error(expected, 3, r".*")
    r = pipe_extract(c, data, shell_tail=f' | head -c {cut}; kill -9 $$')
    c.expect_error(r, 3, re.escape(message.replace("cut.tar", "<stdin>")))
    if os.listdir(c.out):
        raise Failure(f"DIR holds {os.listdir(c.out)}")


def busy_archive(c):
    """~340 MB: 20,000 files of 16 KiB in 100 directories (cached for the run)."""
    cache = c.suite.cache("busy.tar")
    if not os.path.exists(cache):
        tar = Tar()
        payload = b"z" * 16384
        for d in range(100):
            tar.dir(f"d{d:03}")
            for f in range(200):
                tar.file(f"d{d:03}/f{f:03}", payload)
        data, _ = docker_archive([tar.bytes()])
        with open(cache, "wb") as out:
            out.write(data)
    os.link(cache, c.archive)
    return c.archive


def extraction_started(c):
    """True once files appear in DIR, or in the sibling a run into an empty
    DIR builds it in (`.out.undocker-partial-PID`)."""
    for name in os.listdir(c.sandbox):
        if name == "out" or name.startswith(".out.undocker-partial-"):
            try:
                if os.listdir(c.path(name)):
                    return True
            except OSError:
                pass
    return False


def interrupt_case(c, signum, name):
    archive = busy_archive(c)
    feeder = subprocess.Popen(["cat", archive], stdout=subprocess.PIPE)

    def ready(_pid):
        return extraction_started(c)
    try:
        r = c.run(["-o", "out"], stdin=feeder.stdout, signal_plan=(signum, ready), timeout=120)
    finally:
        feeder.stdout.close()
        feeder.kill()
        feeder.wait()
    verb = "interrupted" if signum == signal.SIGINT else "terminated"
    c.expect_error(r, 128 + signum, f"{verb} by {name}")
    took = r.seconds - c.signal_sent_at
    c.note(f"signal at {c.signal_sent_at:.2f}s, exit {took:.2f}s later")
    if took > 1.5:
        raise Failure(f"exit came {took:.1f}s after the signal")


@case("sigint_mid_extraction", "SIGINT once extraction has begun, the archive read from a pipe",
      "exit 130, one `interrupted by SIGINT` line, TMPDIR empty, sentinel unchanged", "SPEC section 3 (nothing left in TMPDIR)")
def _(c):
    interrupt_case(c, signal.SIGINT, "SIGINT")


@case("sigterm_mid_extraction", "SIGTERM once extraction has begun, the archive read from a pipe",
      "exit 143, one `terminated by SIGTERM` line, TMPDIR empty", "SPEC section 3")
def _(c):
    interrupt_case(c, signal.SIGTERM, "SIGTERM")


@case("sigterm_tar_stream", "SIGTERM while `--tar FILE` streams (archive on a pipe)",
      "exit 143, one `terminated by SIGTERM` line, no partial tar left beside FILE, TMPDIR empty", "SPEC section 3 (TMPDIR after a signal)")
def _(c):
    archive = busy_archive(c)
    feeder = subprocess.Popen(["cat", archive], stdout=subprocess.PIPE)
    try:
        r = c.run(["--tar", "out/rootfs.tar"], stdin=feeder.stdout, timeout=120,
                  signal_plan=(signal.SIGTERM, lambda _pid: tar_stream_started(c)))
    finally:
        feeder.stdout.close()
        feeder.kill()
        feeder.wait()
    c.expect_error(r, 143, "terminated by SIGTERM")
    if os.listdir(c.out):
        raise Failure(f"left in DIR after the signal: {os.listdir(c.out)}")
    c.note(f"signal at {c.signal_sent_at:.2f}s, exit {r.seconds - c.signal_sent_at:.2f}s later")


def spooled_bytes(pid, tmpdir):
    """Size of the unlinked file in tmpdir that pid has open (the spool of
    a piped archive), or 0."""
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


def tar_stream_started(c):
    """True once the stream's temporary file beside FILE holds some data."""
    for name in os.listdir(c.out):
        if name.startswith(".rootfs.tar.undocker-partial-"):
            try:
                if os.path.getsize(os.path.join(c.out, name)) > 1 << 20:
                    return True
            except OSError:
                pass
    return False


@case("sigterm_stalled_pipe", "SIGTERM once the first half is spooled and the input pipe stalls",
      "exit 143 within 1.5 s (a read of the stalled pipe looks for signals every 50 ms), one ERROR line, TMPDIR empty", "SPEC section 3")
def _(c):
    data, _ = docker_archive([Tar().file("a", "a" * 4 * MIB).bytes()])
    c.write_archive(data)
    read_end, write_end = os.pipe()
    stop = threading.Event()

    def feed():
        try:
            os.write(write_end, data[: len(data) // 2])
        except OSError:
            pass
        stop.wait(30)
        os.close(write_end)
    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    try:
        # The whole first half in the spool: undocker waits in read().
        r = c.run(["-o", "out"], stdin=read_end, timeout=30,
                  signal_plan=(signal.SIGTERM, lambda pid: spooled_bytes(pid, c.tmp) >= len(data) // 2))
    finally:
        os.close(read_end)
        stop.set()
        thread.join()
    c.expect_error(r, 143, "terminated by SIGTERM")
    c.note(f"exit {r.seconds - c.signal_sent_at:.2f}s after the signal")
    if r.seconds - c.signal_sent_at > 1.5:
        raise Failure("exit came more than 1.5 s after the signal")


# ---------------------------------------------------------------- one door for every output (issue 11)
# --all names and nesting, symlinks planted below DIR and at DIR.nspawn, no
# half trees after a digest mismatch or SIGKILL, SIGHUP, a closed --tar pipe.

def docker_archive_images(images):
    """A docker-archive holding several images: [(repo_tags or None, [layer blobs]) or
    (repo_tags, layers, config_name)]. Their layers must differ (equal configs are one image)."""
    members, seen, manifest = [], set(), []
    for tags, layers, *config_name in images:
        names = []
        for blob in layers:
            layer_id = sha256_hex(blob)
            if layer_id not in seen:
                seen.add(layer_id)
                members += [(layer_id + "/", None), (layer_id + "/VERSION", b"1.0"),
                            (layer_id + "/json", json.dumps({"id": layer_id}).encode()),
                            (layer_id + "/layer.tar", blob)]
            names.append(layer_id + "/layer.tar")
        config = image_config(["sha256:" + sha256_hex(blob) for blob in layers])
        name = config_name[0] if config_name else sha256_hex(config) + ".json"
        members.append((name, config))
        manifest.append({"Config": name, "RepoTags": list(tags) if tags is not None else None, "Layers": names})
    members.append(("manifest.json", json.dumps(manifest).encode()))
    return outer_tar(members)


def oci_archive_images(images, tamper=None):
    """An oci-archive holding several images: [(index entry annotations, [layer blobs])].
    tamper: {hex: bytes} stored as blobs/sha256/hex instead of the real blob."""
    blobs, entries = {}, []
    for annotations, layers in images:
        config = image_config(["sha256:" + sha256_hex(blob) for blob in layers])
        blobs[sha256_hex(config)] = config
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": "sha256:" + sha256_hex(config), "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                "digest": "sha256:" + sha256_hex(blob), "size": len(blob)} for blob in layers]}
        for blob in layers:
            blobs[sha256_hex(blob)] = blob
        manifest_bytes = json.dumps(manifest).encode()
        blobs[sha256_hex(manifest_bytes)] = manifest_bytes
        entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:" + sha256_hex(manifest_bytes), "size": len(manifest_bytes),
                        "annotations": annotations})
    blobs.update(tamper or {})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    members = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", json.dumps(index).encode()),
               ("blobs/", None), ("blobs/sha256/", None)]
    members += [("blobs/sha256/" + hexdigest, blob) for hexdigest, blob in blobs.items()]
    return outer_tar(members)


def partial_siblings(c, leaf="out", parent=None):
    """The `.LEAF.undocker-partial-*` names beside DIR (in SANDBOX, or in parent)."""
    where = parent or c.sandbox
    return sorted(n for n in os.listdir(where) if n.startswith(f".{leaf}.undocker-partial-"))


def reset_out(c, exists=True):
    """DIR back to empty (or missing), and the state to keep re-taken."""
    remove_tree(c.out)
    if exists:
        os.mkdir(c.out)


def out_listing(c):
    """Every path below DIR, with symlink targets: what DIR holds."""
    found = []
    for dirpath, dirnames, filenames in os.walk(c.out):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, c.out)
            found.append(rel + (" -> " + os.readlink(full) if os.path.islink(full) else ""))
    return sorted(found)


def expect_out_empty(c, label):
    if not os.path.isdir(c.out) or os.path.islink(c.out):
        raise Failure(f"[{label}] DIR is no longer a directory")
    if os.listdir(c.out):
        raise Failure(f"[{label}] something was written into DIR: {out_listing(c)[:10]}")


def dead_pid():
    """A pid that has just exited (for a stale staging name)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


NESTED_MESSAGE = ("images {a} and {b} would be extracted one inside the other ({ra} and {rb} under out); "
                  "extract them one at a time")


@case("all_nested_names_symlink_escape",
      "`--all`, image `x:latest` holding `etc -> SANDBOX/sentinel` (and `etc -> ../../../sentinel`), image "
      "`x/latest/etc:cron.d` that would land through it; docker-archive (both orders) and oci-archive "
      "(`io.containerd.image.name` annotations)",
      "exit 3 naming both images and both directories, before anything is written (DIR empty); the sentinel unchanged",
      "SPEC section 3 (every output through one door); Python tarfile CVE-2007-4559 (names from the archive used as paths)")
def _(c):
    for target in (c.path("sentinel"), "../../../sentinel"):
        first = Tar().symlink("etc", target).file("bin/sh", "sh").bytes()
        second = Tar().file("pwned", "pwned").dir("sub").file("sub/file", "pwned").bytes()
        for label, data, order in (
                ("docker-archive", docker_archive_images([(["x:latest"], [first]),
                                                          (["x/latest/etc:cron.d"], [second])]), "first"),
                ("docker-archive reversed", docker_archive_images([(["x/latest/etc:cron.d"], [second]),
                                                                   (["x:latest"], [first])]), "second"),
                ("oci-archive", oci_archive_images([({"io.containerd.image.name": "x:latest"}, [first]),
                                                    ({"io.containerd.image.name": "x/latest/etc:cron.d"}, [second])]),
                 "first")):
            c.write_archive(data)
            names = [("x", "x/latest"), ("x/latest/etc", "x/latest/etc/cron.d")]
            if order == "second":
                names.reverse()
            message = NESTED_MESSAGE.format(a=names[0][0], b=names[1][0], ra=names[0][1], rb=names[1][1])
            try:
                c.expect_error(c.extract("--all"), 3, re.escape(message))
                expect_out_empty(c, label)
            except Failure as failure:
                raise Failure(f"[{label}, etc -> {target}] {failure}") from None


@case("all_nspawn_name_clash",
      "`--all --nspawn` on images `x:latest` and `x:latest.nspawn` (a valid tag): the second's directory is the "
      "first's settings file",
      "exit 3 naming both images before anything is written (DIR empty); without `--nspawn` both extract",
      "SPEC section 3 (every output through one door)")
def _(c):
    layer = Tar().file("file", "content").bytes()
    other = Tar().file("file", "content").file("other", "two images, not two tags of one").bytes()
    c.write_archive(docker_archive_images([(["x:latest"], [layer]), (["x:latest.nspawn"], [other])]))
    message = NESTED_MESSAGE.format(a="x", b="x", ra="x/latest", rb="x/latest.nspawn").replace(
        "x/latest.nspawn under", "x/latest.nspawn, with their .nspawn files under")
    c.expect_error(c.extract("--all", "--nspawn"), 3, re.escape(message))
    expect_out_empty(c, "--all --nspawn")
    c.expect_ok(c.extract("--all"))
    c.tree("x/latest/file", "file", content="content")
    c.tree("x/latest.nspawn/file", "file", content="content")


@case("all_planted_symlink_in_dir",
      "DIR already holds `x -> SANDBOX/sentinel` (or `../sentinel`), or `x/latest -> SANDBOX/sentinel/dir` (or "
      "`../../sentinel/dir`), as an earlier run could have left; `--all` with image `x:latest`. And a stale "
      "`x/.latest.undocker-partial-PID` (dead PID) that is a symlink to the sentinel",
      "exit 1 naming the path (`cannot use out/x as an output directory: …`), nothing written through the link, the "
      "link unchanged; the stale symlink is removed (INFO line), never followed, and the run succeeds",
      "SPEC section 3 (every output through one door); Docker CVE-2018-15664-style (symlinks in DIR beforehand)")
def _(c):
    layer = Tar().dir("etc").file("etc/hostname", "pwned\n").file("file", "pwned").bytes()
    data = docker_archive_images([(["x:latest"], [layer])])
    for plant, target in (("x", c.path("sentinel")), ("x", "../sentinel"),
                          ("x/latest", c.path("sentinel", "dir")), ("x/latest", "../../sentinel/dir")):
        reset_out(c)
        os.makedirs(os.path.join(c.out, os.path.dirname(plant)), exist_ok=True)
        os.symlink(target, os.path.join(c.out, plant))
        c.write_archive(data)
        planted = out_listing(c)
        try:
            c.expect_error(c.extract("--all"), 1,
                           re.escape(f"cannot use out/{plant} as an output directory: it is not a directory "
                                     "(a symlink or a file stands there; undocker does not follow it)"))
            if out_listing(c) != planted:
                raise Failure(f"DIR changed: {planted} -> {out_listing(c)}")
        except Failure as failure:
            raise Failure(f"[{plant} -> {target}] {failure}") from None
    # A stale staging name that an earlier run's archive content could have
    # made a symlink: removed as a leftover, never followed.
    reset_out(c)
    os.mkdir(c.path("out", "x"))
    stale = f".latest.undocker-partial-{dead_pid()}"
    os.symlink(c.path("sentinel"), c.path("out", "x", stale))
    c.write_archive(data)
    r = c.expect_ok(c.extract("--all", "-v"))
    if f"INFO:undocker:removing out/x/{stale}, left by an unfinished run" not in r.stderr.splitlines():
        raise Failure(f"no INFO line for the stale sibling\n{r.describe()}")
    if os.path.lexists(c.path("out", "x", stale)):
        raise Failure(f"out/x/{stale} is still there")
    c.tree("x/latest/etc/hostname", "file", "pwned\n")
    if out_listing(c) != ["x", "x/latest", "x/latest/etc", "x/latest/etc/hostname", "x/latest/file"]:
        raise Failure(f"DIR holds {out_listing(c)}")


def expect_nspawn_file(c, path):
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise Failure(f"{os.path.relpath(path, c.sandbox)} is {stat.filemode(st.st_mode)}, expected a regular file")
    with open(path) as f:
        text = f.read()
    if not text.startswith("# systemd-nspawn settings") or "\n[Exec]\n" not in text or \
            not text.endswith("\nBoot=no\nParameters=/bin/sh\n"):
        raise Failure(f"{os.path.relpath(path, c.sandbox)} does not hold the settings: {text!r}")


@case("nspawn_planted_symlink",
      "`DIR.nspawn -> SANDBOX/sentinel/file` (and `-> sentinel/file`) planted before `--nspawn`; `DIR/x/latest.nspawn` "
      "planted before `--all --nspawn`; `-o .`, `..`, `./`, `out/..` with `--nspawn`",
      "exit 0, the .nspawn is a regular file with the settings (the link replaced, never written through), the "
      "sentinel file unchanged, no temporary file left; `-o .` etc.: exit 2 with the usage message, nothing written",
      "SPEC section 3 (every output through one door); CWE-59 (link following)")
def _(c):
    layer = Tar().file("bin/sh", "sh").bytes()
    data = docker_archive_images([(["x:latest"], [layer])])
    c.excluded.add("out.nspawn")  # checked here; a temporary sibling of it would still show
    for target in (c.path("sentinel", "file"), "sentinel/file"):
        reset_out(c)
        if os.path.lexists(c.path("out.nspawn")):
            os.unlink(c.path("out.nspawn"))
        os.symlink(target, c.path("out.nspawn"))
        c.write_archive(data)
        try:
            c.expect_ok(c.extract("--nspawn"))
            expect_nspawn_file(c, c.path("out.nspawn"))
            c.tree("bin/sh", "file", "sh")
        except Failure as failure:
            raise Failure(f"[out.nspawn -> {target}] {failure}") from None
    reset_out(c)
    os.mkdir(c.path("out", "x"))
    os.symlink(c.path("sentinel", "file"), c.path("out", "x", "latest.nspawn"))
    c.write_archive(data)
    try:
        c.expect_ok(c.extract("--all", "--nspawn"))
        expect_nspawn_file(c, c.path("out", "x", "latest.nspawn"))
        c.tree("x/latest/bin/sh", "file", "sh")
        if out_listing(c) != ["x", "x/latest", "x/latest.nspawn", "x/latest/bin", "x/latest/bin/sh"]:
            raise Failure(f"DIR holds {out_listing(c)}")
    except Failure as failure:
        raise Failure(f"[--all, out/x/latest.nspawn planted] {failure}") from None
    reset_out(c)
    c.write_archive(data)
    for output in (".", "..", "./", "out/.."):
        try:
            c.expect_error(c.extract("--nspawn", out=output), 2,
                           re.escape("--nspawn writes DIR.nspawn beside DIR: name the output directory with -o DIR, "
                                     f"not {output}"))
            expect_out_empty(c, output)
        except Failure as failure:
            raise Failure(f"[-o {output} --nspawn] {failure}") from None


INVALID_NAME = ("image name {} is not a valid repository name (lowercase letters, digits and separators, as docker "
                "accepts); --all cannot make a directory of it")
INVALID_TAG = "image {}: tag {} is not a valid tag; --all cannot make a directory of it"
INVALID_ID = "image id {} cannot be used as a directory name"


@case("invalid_reference_names",
      "`--all` on images named `Bad/Name:tag`, `x:-tag`, `x:..`, `x:.hidden`, `x:a/b` (a tagless name `x:a/b`), "
      "`a..b:tag`, `x/a..b:tag`, `x/../../sentinel:latest`, `..`, `/abs:latest`, an untagged image whose id is "
      "`.hidden` or `-x`, an OCI "
      "`io.containerd.image.name` of `x:..`; a valid image listed before an invalid one",
      "exit 3 with the exact message (`image name … is not a valid repository name …`, `image X: tag Y is not a valid "
      "tag …`, `image id X cannot be used as a directory name`); nothing written, even for the valid image",
      "SPEC section 1 (names from archive content checked against the reference grammar); distribution/reference")
def _(c):
    ok_layer = Tar().file("ok", "ok").bytes()
    layer = Tar().file("pwned", "pwned").bytes()
    cases = [
        ("Bad/Name:tag", INVALID_NAME.format("Bad/Name")),
        ("x:-tag", INVALID_TAG.format("x", "-tag")),
        ("x:..", INVALID_TAG.format("x", "..")),
        ("x:.hidden", INVALID_TAG.format("x", ".hidden")),
        ("x:a/b", INVALID_NAME.format("x:a/b")),  # the tag is after the last '/': none, so latest
        ("a..b:tag", INVALID_NAME.format("a..b")),
        ("x/a..b:tag", INVALID_NAME.format("x/a..b")),
        ("x/../../sentinel:latest", INVALID_NAME.format("x/../../sentinel")),
        ("..", INVALID_NAME.format("..")),
        ("/abs:latest", INVALID_NAME.format("/abs")),
    ]
    for repo_tag, message in cases:
        for label, images in (("alone", [([repo_tag], [layer])]),
                              ("after a valid image", [(["ok:latest"], [ok_layer]), ([repo_tag], [layer])])):
            c.write_archive(docker_archive_images(images))
            try:
                c.expect_error(c.extract("--all"), 3, re.escape(message))
                expect_out_empty(c, label)
            except Failure as failure:
                raise Failure(f"[RepoTags {repo_tag!r}, {label}] {failure}") from None
    for config_name, image_id in ((".hidden.json", ".hidden"), ("-x.json", "-x")):
        c.write_archive(docker_archive_images([(["ok:latest"], [ok_layer]), (None, [layer], config_name)]))
        try:
            c.expect_error(c.extract("--all"), 3, re.escape(INVALID_ID.format(image_id)))
            expect_out_empty(c, config_name)
        except Failure as failure:
            raise Failure(f"[untagged, Config {config_name}] {failure}") from None
    c.write_archive(oci_archive_images([({"io.containerd.image.name": "ok:latest"}, [ok_layer]),
                                        ({"io.containerd.image.name": "x:.."}, [layer])]))
    try:
        c.expect_error(c.extract("--all"), 3, re.escape(INVALID_TAG.format("x", "..")))
        expect_out_empty(c, "oci")
    except Failure as failure:
        raise Failure(f"[oci-archive, x:..] {failure}") from None


def digest_mismatch_archives():
    """(label, archive, error regex): a layer whose content is not what the
    manifest or config says, big enough that files are written before the
    mismatch is known."""
    good = Tar().dir("etc").file("etc/hostname", "good\n").file("bin/sh", b"g" * 300_000).bytes()
    evil = Tar().dir("etc").file("etc/hostname", "evil\n").file("bin/sh", b"e" * 300_000).bytes()
    assert len(good) == len(evil)
    mismatch = r": (digest|diffID) mismatch: expected sha256:{}, got sha256:{}"
    archives = []
    data, names = docker_archive([evil], diff_ids=["sha256:" + sha256_hex(good)])
    archives.append(("docker-archive", data, re.escape(names[0]) + mismatch.format(sha256_hex(good), sha256_hex(evil))))
    data, names = docker_archive([gzip_blob(evil)], diff_ids=["sha256:" + sha256_hex(good)])
    archives.append(("docker-archive gzip", data,
                     re.escape(names[0]) + mismatch.format(sha256_hex(good), sha256_hex(evil))))
    data = oci_archive_images([({"org.opencontainers.image.ref.name": "hostile:latest"}, [good])],
                              tamper={sha256_hex(good): evil})
    archives.append(("oci-archive", data, "blobs/sha256/" + sha256_hex(good) +
                     mismatch.format(sha256_hex(good), sha256_hex(evil))))
    return archives


@case("digest_mismatch_new_dir", "a corrupt layer blob (docker-archive plain and gzip, oci-archive) into a missing DIR",
      "exit 5 naming the blob; no DIR and no `.DIR.undocker-partial-*` left", "SPEC section 3 (no half trees)")
def _(c):
    for label, data, pattern in digest_mismatch_archives():
        reset_out(c, exists=False)
        c.write_archive(data)
        try:
            c.expect_error(c.extract(), 5, pattern)
            if os.path.lexists(c.out):
                raise Failure(f"DIR exists after the failed run: {out_listing(c)[:10]}")
            if partial_siblings(c):
                raise Failure(f"left: {partial_siblings(c)}")
        except Failure as failure:
            raise Failure(f"[{label}] {failure}") from None


@case("digest_mismatch_empty_dir", "a corrupt layer blob (docker-archive plain and gzip, oci-archive) into an empty DIR",
      "exit 5 naming the blob; DIR stays empty; no `.DIR.undocker-partial-*` left", "SPEC section 3 (no half trees)")
def _(c):
    for label, data, pattern in digest_mismatch_archives():
        reset_out(c)
        c.write_archive(data)
        try:
            c.expect_error(c.extract(), 5, pattern)
            expect_out_empty(c, label)
            if partial_siblings(c):
                raise Failure(f"left: {partial_siblings(c)}")
        except Failure as failure:
            raise Failure(f"[{label}] {failure}") from None


def partial_started(c):
    """True once the staging sibling of DIR holds a few entries."""
    for name in partial_siblings(c):
        try:
            if len(os.listdir(c.path(name))) > 3:
                return True
        except OSError:
            pass
    return False


@case("sigkill_leaves_marked_partial",
      "SIGKILL once files appear in the staging sibling of a missing DIR; then the same run again",
      "killed: no DIR, one `.DIR.undocker-partial-PID` (PID the killed process), nothing else changed; the next run "
      "removes it (`INFO:undocker:removing .out.undocker-partial-PID, left by an unfinished run`) and DIR is complete",
      "SPEC section 3 (no half trees)")
def _(c):
    busy_archive(c)
    reset_out(c, exists=False)
    c.arm()
    r = c.extract(signal_plan=(signal.SIGKILL, lambda _pid: partial_started(c)), timeout=120)
    if r.rc != 128 + signal.SIGKILL or r.errors:
        raise Failure(f"expected exit 137 and no ERROR line\n{r.describe()}")
    if os.path.lexists(c.out):
        raise Failure("DIR exists after SIGKILL")
    expected = f".out.undocker-partial-{c.signal_target}"
    if partial_siblings(c) != [expected]:
        raise Failure(f"expected [{expected!r}] beside DIR, found {partial_siblings(c)}")
    c.excluded.add(expected)
    c.check_outside()
    c.excluded.discard(expected)
    c.note(f"killed at {c.signal_sent_at:.2f}s with {len(os.listdir(c.path(expected)))} entries staged")
    r = c.expect_ok(c.extract("-v"))
    if f"INFO:undocker:removing {expected}, left by an unfinished run" not in r.stderr.splitlines():
        raise Failure(f"no INFO line for the stale sibling\n{r.describe()}")
    if partial_siblings(c):
        raise Failure(f"left: {partial_siblings(c)}")
    count = sum(len(files) for _, _, files in os.walk(c.out))
    if count != 20_000:
        raise Failure(f"{count} files in DIR, expected 20000")
    c.tree("d099/f199", "file", b"z" * 16384)
    c.note(f"second run {r.seconds:.1f}s")


@case("sighup_mid_extraction", "SIGHUP once extraction has begun into a missing DIR, the archive read from a pipe",
      "exit 129, one `terminated by SIGHUP` line, no DIR, no `.DIR.undocker-partial-*`, TMPDIR empty",
      "SPEC section 3 (SIGHUP)")
def _(c):
    reset_out(c, exists=False)
    interrupt_case(c, signal.SIGHUP, "SIGHUP")
    if os.path.lexists(c.out):
        raise Failure("DIR exists after SIGHUP")
    if partial_siblings(c):
        raise Failure(f"left: {partial_siblings(c)}")


@case("tar_stdout_reader_goes_away",
      "`--tar -` into a pipe whose reader takes 1000 bytes and closes it (`| head -c 1000`), a 16 MiB tree; the "
      "archive as a file and on a pipe; `--config` of a 2 MiB config the same way",
      "exit 141 (SIGPIPE's status) within 5 s of the close, no stderr at all, the bytes read are the start of the "
      "output (a tar header, the JSON), TMPDIR empty", "SPEC section 3 (a closed output pipe); GNU tar / cat on EPIPE")
def _(c):
    tar = Tar()
    for i in range(128):
        tar.file(f"d/f{i:03}", bytes([i]) * (128 * 1024))
    layer = tar.bytes()
    big_config = image_config(["sha256:" + sha256_hex(layer)],
                              {"config": {"Cmd": ["/bin/sh"], "Env": ["BIG=" + "x" * (2 * MIB)]}})
    one_image(c, layer, config=big_config)
    failures = []
    for label, args, on_pipe, looks_right in (
            ("--tar -, archive as a file", ["-f", "archive.tar", "--tar", "-"], False, lambda got: got[257:262] == b"ustar"),
            ("--tar -, archive on a pipe", ["--tar", "-"], True, lambda got: got[257:262] == b"ustar"),
            ("--config", ["-f", "archive.tar", "--config"], False, lambda got: got.startswith(b"{"))):
        read_fd, write_fd = os.pipe()
        state = {}

        def reader():
            got = b""
            while len(got) < 1000:
                chunk = os.read(read_fd, 1000 - len(got))
                if not chunk:
                    break
                got += chunk
            state["closed"] = time.monotonic()
            os.close(read_fd)
            state["got"] = got
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        feeder = subprocess.Popen(["cat", c.archive], stdout=subprocess.PIPE) if on_pipe else None
        try:
            r = c.run(args, stdin=feeder.stdout if feeder else None, stdout=write_fd, timeout=60)
            ended = time.monotonic()
        finally:
            os.close(write_fd)
            thread.join(10)
            if feeder:
                feeder.stdout.close()
                feeder.kill()
                feeder.wait()
        try:
            if r.rc != 128 + signal.SIGPIPE or r.stderr.strip():
                raise Failure(f"expected exit 141 and nothing on stderr\n{r.describe()}")
            got = state.get("got", b"")
            if len(got) != 1000 or not looks_right(got):
                raise Failure(f"the first 1000 bytes are not the output's start: {got[:300]!r}")
            if ended - state["closed"] > 5:
                raise Failure(f"exit {ended - state['closed']:.1f}s after the reader went away")
            c.check_outside()
        except Failure as failure:
            failures.append(f"[{label}] {failure}")  # every variant runs: each is its own bug
            continue
        c.note(f"{label}: exit {ended - state['closed']:.2f}s after the reader closed, run {r.seconds:.2f}s")
    if failures:
        raise Failure("\n".join(failures))


# ---------------------------------------------------------------- directories as input (issue 18)
# `-f layout`: the archive untarred into SANDBOX/layout, then altered. The
# layout is outside DIR, so the snapshot also proves it is left as it was.

def dir_layout(c, archive_bytes):
    """Untar archive_bytes into SANDBOX/layout; returns its path (arm() once altered)."""
    import tarfile
    layout = c.path("layout")
    os.mkdir(layout)
    with tarfile.open(fileobj=io.BytesIO(archive_bytes)) as tar:
        tar.extractall(layout)
    return layout


def dir_oci(c):
    """An OCI layout directory of one layer; returns (layout, layer hex, manifest hex)."""
    layer = Tar().file("etc/hostname", "dir\n").bytes()
    data, manifest_hex = oci_archive([layer])
    return dir_layout(c, data), sha256_hex(layer), manifest_hex


def dir_fresh(c):
    """A new SANDBOX/layout for the next variant of a case."""
    shutil.rmtree(c.path("layout"), ignore_errors=True)
    shutil.rmtree(c.out, ignore_errors=True)
    os.mkdir(c.out)


@case("dir_input_blob_dotdot", "`-f DIR`: index.json's digest and manifest.json's layer path climb out with `../`",
      "exit 3 naming the path; nothing outside DIR read or written", "issue 18 (directories as input)")
def _(c):
    dir_layout(c, oci_archive([Tar().file("a", "a").bytes()],
                              index_hook=lambda i: i["manifests"][0].update(digest="sha256:../../sentinel/file"))[0])
    c.arm()
    c.expect_error(c.extract(archive="layout"), 3, re.escape("index.json: invalid digest sha256:../../sentinel/file"))
    dir_fresh(c)

    def climb(manifest):
        manifest[0]["Layers"] = ["../sentinel/file"]
    dir_layout(c, docker_archive([Tar().file("a", "a").bytes()], manifest_hook=climb)[0])
    c.arm()
    c.expect_error(c.extract(archive="layout"), 3,
                   re.escape("manifest.json: layer path ../sentinel/file leaves the archive"))


@case("dir_input_blob_symlink_outside", "`-f DIR`: a layer blob that is a symlink to a file outside DIR (absolute, relative)",
      "exit 3 naming the blob and the link; the file outside is not read", "issue 18 (directories as input)")
def _(c):
    for target in (c.path("sentinel", "file"), "../../../sentinel/file"):
        layout, layer_hex, _ = dir_oci(c)
        blob = os.path.join(layout, "blobs", "sha256", layer_hex)
        os.unlink(blob)
        os.symlink(target, blob)
        c.arm()
        name = f"blobs/sha256/{layer_hex}"
        c.expect_error(c.extract(archive="layout"), 3, re.escape(
            f"layout: {name}: symlink {name} -> {target} leads out of the directory"))
        dir_fresh(c)


@case("dir_input_symlinked_dir_outside", "`-f DIR`: manifest.json's layer path goes through a symlinked directory "
      "that leaves DIR (`<id>` -> ../sentinel, -> /SANDBOX/sentinel)",
      "exit 3 naming the layer path and the link", "issue 18 (directories as input)")
def _(c):
    for target in ("../sentinel", c.path("sentinel")):
        layer = Tar().file("a", "a").bytes()
        layer_id = sha256_hex(layer)
        with open(c.path("sentinel", "file"), "rb") as f:
            precious = f.read()

        def through(manifest):
            manifest[0]["Layers"] = [layer_id + "/file"]
        layout = dir_layout(c, docker_archive([layer], manifest_hook=through)[0])
        shutil.rmtree(os.path.join(layout, layer_id))
        os.symlink(target, os.path.join(layout, layer_id))
        c.arm()
        c.expect_error(c.extract(archive="layout"), 3, re.escape(
            f"layout: {layer_id}/file: symlink {layer_id} -> {target} leads out of the directory"))
        with open(c.path("sentinel", "file"), "rb") as f:
            if f.read() != precious:
                raise Failure("sentinel/file changed")
        dir_fresh(c)


@case("dir_input_blob_not_regular", "`-f DIR`: a layer blob that is a FIFO, a manifest blob that is a directory",
      "exit 3 naming the blob and what it is; no hang on the FIFO", "issue 18 (directories as input)")
def _(c):
    layout, layer_hex, _ = dir_oci(c)
    blob = os.path.join(layout, "blobs", "sha256", layer_hex)
    os.unlink(blob)
    os.mkfifo(blob)
    c.arm()
    c.expect_error(c.extract(archive="layout", timeout=30), 3,
                   re.escape(f"layout: blobs/sha256/{layer_hex}: a FIFO, not a regular file"))
    dir_fresh(c)
    layout, _, manifest_hex = dir_oci(c)
    blob = os.path.join(layout, "blobs", "sha256", manifest_hex)
    os.unlink(blob)
    os.mkdir(blob)
    c.arm()
    c.expect_error(c.extract(archive="layout"), 3,
                   re.escape(f"layout: blobs/sha256/{manifest_hex}: a directory, not a regular file"))


# ---------------------------------------------------------------- --layer-store

def store_layer_hex(layer):
    """The ChainID hex of a one-layer image: its diffID's."""
    return sha256_hex(layer)


@case("layer_store_sha256_symlink", "`--layer-store STORE` where STORE/sha256 was planted as a symlink to the "
      "sentinel (absolute, relative)",
      "exit 1 naming STORE/sha256; nothing written through it", "issue 18 (--layer-store)")
def _(c):
    for target in (c.path("sentinel"), "../sentinel"):
        one_image(c, Tar().file("a", "a").bytes())
        shutil.rmtree(c.out, ignore_errors=True)
        os.makedirs(c.out)
        os.symlink(target, os.path.join(c.out, "sha256"))
        c.arm()
        c.expect_error(c.run(["-f", "archive.tar", "--layer-store", "out"]), 1, re.escape(
            "cannot use out/sha256 as an output directory: it is not a directory (a symlink or a file stands there; "
            "undocker does not follow it)"))


@case("layer_store_layer_symlink", "`--layer-store STORE` where the layer directory STORE/sha256/<chainID> was "
      "planted as a symlink to the sentinel, to a file, and as a file",
      "exit 1 naming the layer directory; the sentinel is neither read as a layer nor written",
      "issue 18 (--layer-store)")
def _(c):
    layer = Tar().file("a", "a").bytes()
    hexdigest = store_layer_hex(layer)
    for plant in ("dir-link", "file-link", "file"):
        one_image(c, layer)
        shutil.rmtree(c.out, ignore_errors=True)
        os.makedirs(os.path.join(c.out, "sha256"))
        planted = os.path.join(c.out, "sha256", hexdigest)
        if plant == "dir-link":
            os.symlink(c.path("sentinel"), planted)
        elif plant == "file-link":
            os.symlink("../../sentinel/file", planted)
        else:
            with open(planted, "w") as f:
                f.write("not a layer\n")
        c.arm()
        c.expect_error(c.run(["-f", "archive.tar", "--layer-store", "out"]), 1, re.escape(
            f"cannot use out/sha256/{hexdigest} in the layer store: it is not a directory (a symlink or a file "
            "stands there; undocker does not follow it)"))
        if os.listdir(os.path.join(c.out, "sha256")) != [hexdigest]:
            raise Failure(f"the store holds {os.listdir(os.path.join(c.out, 'sha256'))}")


@case("layer_store_diffid_not_hex", "`--layer-store`: a config whose diffID climbs (`sha256:../../sentinel`), is "
      "upper-case, too short, or another algorithm",
      "exit 3 naming the diffID, before anything is written", "issue 18 (--layer-store)")
def _(c):
    layer = Tar().file("a", "a").bytes()
    good = sha256_hex(layer)
    for diff_id in ("sha256:../../sentinel", "sha256:" + good.upper(), "sha256:" + good[:63],
                    "sha512:" + good + good):
        data, _ = docker_archive([layer], diff_ids=[diff_id])
        c.write_archive(data)
        shutil.rmtree(c.out, ignore_errors=True)
        r = c.run(["-f", "archive.tar", "--layer-store", "out"])
        c.expect_error(r, 3, re.escape(f"image hostile: diffID {diff_id} of layer 0 is not sha256: and 64 "
                                       "lowercase hex digits"))
        if os.listdir(os.path.join(c.out, "sha256")):
            raise Failure(f"written to the store: {os.listdir(os.path.join(c.out, 'sha256'))}")


# ---------------------------------------------------------------- resource exhaustion

def bomb_case(c, kind):
    size = int(os.environ.get("HOSTILE_BOMB_MIB", "2048")) * MIB
    blob_path = c.path("layer.blob")
    started = time.monotonic()
    if kind == "gzip":
        diff_hex = write_gzip_bomb(blob_path, "zeros", size)
    else:
        if shutil.which("zstd") is None:
            raise Skip("the zstd CLI is not installed (apt-get install -y zstd)")
        diff_hex = write_zstd_bomb(blob_path, "zeros", size)
    with open(blob_path, "rb") as f:
        blob = f.read()
    os.unlink(blob_path)
    data, _ = docker_archive([blob], diff_ids=["sha256:" + diff_hex])
    c.write_archive(data)
    generated = time.monotonic() - started
    r = c.extract(timeout=600)
    c.expect_ok(r)
    st = c.tree("zeros", "file", mode=0o644)
    if st.st_size != size:
        raise Failure(f"DIR/zeros has {st.st_size} bytes, expected {size}")
    zero = bytes(16 * MIB)
    buffer = bytearray(16 * MIB)
    with open(os.path.join(c.out, "zeros"), "rb", buffering=0) as f:
        while True:
            n = f.readinto(buffer)
            if not n:
                break
            if (buffer if n == len(buffer) else buffer[:n]) != (zero if n == len(zero) else zero[:n]):
                raise Failure("DIR/zeros holds non-zero bytes")
    c.note(f"{len(blob) / MIB:.1f} MiB {kind} -> {size // MIB} MiB file ({'sparse' if st.st_blocks * 512 < size // 2 else 'not sparse'}); "
           f"generated in {generated:.1f}s, extracted in {r.seconds:.1f}s, peak RSS {r.maxrss_kib // 1024} MiB "
           f"(anon {r.peak_anon_kib // 1024} MiB)")
    if not c.suite.asan and r.maxrss_kib > RSS_LIMIT_KIB:
        raise Failure(f"peak RSS {r.maxrss_kib // 1024} MiB exceeds {RSS_LIMIT_KIB // 1024} MiB")


class Skip(Exception):
    pass


@case("gzip_bomb", "a gzip layer of a few MB holding one 2 GiB file of zeros", "exit 0; the file is 2 GiB of zeros; peak RSS under 128 MiB",
      "decompression bombs (CWE-409); libarchive/zlib bomb reports")
def _(c):
    bomb_case(c, "gzip")


@case("zstd_bomb", "a zstd layer of a few KB holding one 2 GiB file of zeros", "exit 0; 2 GiB of zeros; peak RSS under 128 MiB",
      "decompression bombs (CWE-409)")
def _(c):
    bomb_case(c, "zstd")


@case("zstd_window_bomb", "a zstd frame asking for a 2 GiB window", "exit 3: the window is over the 128 MiB limit; RSS bounded",
      "zstd window-size memory exhaustion (CWE-789)")
def _(c):
    frame = zstd_frame_with_window(31, Tar().file("a", "a").bytes())
    data, names = docker_archive([frame], diff_ids=["sha256:" + "0" * 64])
    c.write_archive(data)
    r = c.extract()
    c.expect_error(r, 3, re.escape(names[0]) + r": zstd frame needs a window larger than the 128 MiB limit")
    if not c.suite.asan and r.maxrss_kib > RSS_LIMIT_KIB:
        raise Failure(f"peak RSS {r.maxrss_kib // 1024} MiB exceeds {RSS_LIMIT_KIB // 1024} MiB")


@case("deep_nesting", "10,000-level nesting `a/a/a/...`: one file 10,000 deep, and 10,000 nested directory entries",
      "a clean error (exit 1 or 3, one ERROR line naming the entry) or success; no crash; each run under 60 s",
      "libarchive #744 (long paths); CWE-400 (time) / CWE-674 (recursion)")
def _(c):
    layer = Tar().file("a/" * 10000 + "f", "deep").bytes()
    one_image(c, layer)
    r = c.extract(timeout=60)
    outcome = deep_outcome(c, r, layer)
    tar = Tar()
    for depth in range(1, 10001):
        tar.dir("a/" * depth)
    layer = tar.bytes()
    remove_tree(c.out)
    os.mkdir(c.out)
    one_image(c, layer)
    try:
        r2 = c.extract(timeout=60)
        outcome2 = deep_outcome(c, r2, layer)
    except Failure as failure:
        raise Failure(f"[10,000 nested directory entries] {failure}") from None
    c.note(f"one file: {outcome} in {r.seconds:.1f}s ({r.maxrss_kib // 1024} MiB); "
           f"10,000 dirs: {outcome2} in {r2.seconds:.1f}s ({r2.maxrss_kib // 1024} MiB)")


def deep_outcome(c, r, layer):
    if r.rc == 0:
        c.expect_ok(r)
        return "success"
    if r.rc not in (1, 3):
        raise Failure(f"exit {r.rc}, expected 0, 1 or 3\n{r.describe()}")
    line = c.expect_error(r, r.rc, L(layer) + r": (a/)*(a/?|f)(…\(\d+ bytes\))?: .+")
    return f"exit {r.rc} ({line[line.rfind(': ', 0, len(line) - 1) + 2:][-60:]})"


@case("deep_path_memory", "long names that make per-prefix bookkeeping explode: three 64 KiB names `a/a/.../f` "
      "(32,767 levels, a 200 KB layer), and 100 names 256 levels deep of 250-byte components (a 6.4 MB layer)",
      "a clean error or success; peak RSS under 128 MiB for each; under 60 s", "CWE-789 (memory); libarchive #744 (long paths)")
def _(c):
    # Under ASan fewer names: the memory asserted here is not checked there.
    deep = ["a", "b", "c"] if not c.suite.asan else ["a"]
    wide = 100 if not c.suite.asan else 10
    variants = [
        ("64 KiB names, 32,767 levels", [f"{n}/" * 32767 + "f" for n in deep]),
        (f"{wide} names, 256 levels of 250 bytes", [f"x{i:03}" + ("/" + "c" * 249) * 255 for i in range(wide)]),
    ]
    for label, names in variants:
        tar = Tar()
        for name in names:
            tar.file(name, "x")
        layer = tar.bytes()
        remove_tree(c.out)
        os.mkdir(c.out)
        one_image(c, layer)
        try:
            r = c.extract(timeout=60)
            if r.rc == 0:
                c.expect_ok(r)
            else:
                if r.rc not in (1, 3):
                    raise Failure(f"exit {r.rc}, expected 0, 1 or 3\n{r.describe()}")
                c.expect_error(r, r.rc, L(layer) + r": [^:]+: .+")
            c.note(f"{label}: exit {r.rc} in {r.seconds:.1f}s, peak RSS {r.maxrss_kib // 1024} MiB")
            if not c.suite.asan and r.maxrss_kib > RSS_LIMIT_KIB:
                raise Failure(f"peak RSS {r.maxrss_kib // 1024} MiB for a {len(layer) // 1024} KiB layer "
                              f"(limit {RSS_LIMIT_KIB // 1024} MiB)")
        except Failure as failure:
            raise Failure(f"[{label}] {failure}") from None


@case("many_entries", "a 200,000-entry layer of tiny files", "exit 0; every file present; time and memory reported (anon RSS under 256 MiB)",
      "inode/entry-count exhaustion; SPEC section 4")
def _(c):
    cache = c.suite.cache("many.tar")
    if not os.path.exists(cache):
        parts = []
        for d in range(1000):
            parts.append(tar_header(f"d{d:04}/", b"5", 0, mode=0o755))
            for f in range(200):
                parts.append(tar_header(f"d{d:04}/f{f:03}", b"0", 8))
                parts.append(b"%08d" % (d * 1000 + f) + b"\0" * 504)
        parts.append(b"\0" * 1024)
        data, _ = docker_archive([b"".join(parts)])
        with open(cache, "wb") as out:
            out.write(data)
    os.link(cache, c.archive)
    r = c.extract(timeout=500)
    c.expect_ok(r)
    count = sum(len(files) for _, _, files in os.walk(c.out))
    if count != 200_000:
        raise Failure(f"{count} files in DIR, expected 200000")
    c.tree("d0999/f199", "file", b"%08d" % 999199)
    c.note(f"{r.seconds:.1f}s, peak RSS {r.maxrss_kib // 1024} MiB (includes the mapped {os.path.getsize(c.archive) // MIB} MiB archive), "
           f"peak anon RSS {r.peak_anon_kib // 1024} MiB")
    if not c.suite.asan and r.peak_anon_kib > 256 * 1024:
        raise Failure(f"peak anonymous RSS {r.peak_anon_kib // 1024} MiB")


# ================================================================ the driver

class Suite:
    def __init__(self, binary):
        self.binary = os.path.abspath(binary)
        self.binary_real = os.path.realpath(binary)
        self.base = os.environ.get("HOSTILE_TMP") or tempfile.gettempdir()
        self.asan = is_asan_build(self.binary)
        # GNU time inside the jail reports the binary's peak RSS (%M, KiB).
        self.timer = (["/usr/bin/time", "-q", "-f", "HOSTILE_MAXRSS_KIB=%M"]
                      if os.access("/usr/bin/time", os.X_OK) else [])
        self._cache_dir = None

    def cache(self, name):
        if self._cache_dir is None:
            self._cache_dir = tempfile.mkdtemp(prefix="hostile-cache-", dir=self.base)
        return os.path.join(self._cache_dir, name)

    def close(self):
        if self._cache_dir:
            shutil.rmtree(self._cache_dir, ignore_errors=True)


def remove_tree(path):
    """rm -rf: shutil.rmtree recurses once per level and fails on the deep cases."""
    subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)


def markdown():
    lines = ["| case | attack class | asserted | source |", "|---|---|---|---|"]
    for name, attack, asserts, source, _ in CASES:
        cells = [cell.replace("|", "\\|") for cell in (attack, asserts, source)]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv):
    if len(argv) == 2 and argv[1] == "--markdown":
        print(markdown())
        return 0
    binary = argv[1] if len(argv) > 1 else os.environ.get("UNDOCKER")
    if not binary:
        print(__doc__)
        return 2
    if os.geteuid() != 0 or shutil.which("bwrap") is None:
        print("SKIP: the hostile suite needs root and bubblewrap (the binary only ever runs jailed)")
        print("0 passed, 0 failed: all skipped: needs root and bubblewrap")
        return 77
    suite = Suite(binary)
    only = os.environ.get("HOSTILE_ONLY")
    print(f"# {suite.binary}{' (ASan build: RSS limits not asserted)' if suite.asan else ''}")
    passed = failed = skipped = 0
    started = time.monotonic()
    try:
        for name, _attack, _asserts, _source, fn in CASES:
            if only and only not in name:
                continue
            c = Case(suite, name)
            t0 = time.monotonic()
            try:
                fn(c)
            except Skip as why:
                skipped += 1
                print(f"skip {name}: {why}")
                remove_tree(c.sandbox)
            except Failure as why:
                failed += 1
                print(f"FAIL {name} ({time.monotonic() - t0:.1f}s): scratch kept in {c.sandbox}")
                for line in str(why).splitlines():
                    print("     " + line)
            except Exception:
                failed += 1
                print(f"FAIL {name}: exception in the test, scratch kept in {c.sandbox}")
                for line in traceback.format_exc().splitlines():
                    print("     " + line)
            else:
                passed += 1
                print(f"ok   {name} ({time.monotonic() - t0:.1f}s)" + "".join(f"\n     {n}" for n in c.notes))
                if os.environ.get("HOSTILE_KEEP"):
                    print(f"     scratch kept in {c.sandbox}")
                else:
                    remove_tree(c.sandbox)
            sys.stdout.flush()
    finally:
        suite.close()
    print(f"# total {time.monotonic() - started:.1f}s")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "") +
          (": all skipped" if skipped and not passed and not failed else ""))
    if failed:
        return 1
    return 77 if skipped and not passed else 0  # meson: SKIP, never OK, when nothing ran


if __name__ == "__main__":
    sys.exit(main(sys.argv))
