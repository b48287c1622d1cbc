"""Sparse tar members as GNU tar writes them, for the end-to-end suites.

Python's tarfile reads sparse files but cannot write them, so GNU tar (always
present on Debian) writes each member from a real file with holes:

  kind 'gnu'  old GNU format: typeflag 'S', the map in the header and in
              extension blocks after the fifth segment (tar --format=gnu)
  kind '0.0'  PAX 0.0: repeated GNU.sparse.offset / GNU.sparse.numbytes records
  kind '0.1'  PAX 0.1: one GNU.sparse.map record "off,len,off,len,..."
  kind '1.0'  PAX 1.0: the map in decimal lines at the start of the data, the
              member named DIR/GNUSparseFile.0/NAME, the real name in
              GNU.sparse.name                  (tar --format=posix --sparse-version)

`--hole-detection=raw` finds holes as runs of zero blocks, so the member does
not depend on the filesystem of the temporary directory; data segments hold
no zero bytes. Every member is parsed back with tarfile and must be sparse,
with the map asked for (a GNU tar that silently wrote a plain file would make
a sparse test pass for the wrong reason).

sparse_member(...) returns the member's bytes with no end-of-archive blocks,
ready to be appended to a layer (append_member below).
"""
import io
import os
import subprocess
import tarfile
import tempfile

KINDS = ("gnu", "0.0", "0.1", "1.0")


def segment_bytes(index, length):
    """The data of segment index: no zero bytes, different per segment."""
    pattern = bytes((65 + (index * 7 + k) % 58) for k in range(61))  # 'A'..'z', never 0
    return (pattern * (length // len(pattern) + 1))[:length]


def expected_content(real_size, segments):
    """The whole file as bytes: the segments at their offsets, zeros elsewhere."""
    data = bytearray(real_size)
    for index, (offset, length) in enumerate(segments):
        data[offset:offset + length] = segment_bytes(index, length)
    return bytes(data)


def sparse_member(kind, name, real_size, segments, mtime, mode=0o644, uid=0, gid=0):
    """Bytes of one sparse member `name` written by GNU tar in format kind.

    segments: [(offset, length), ...] sorted, non-overlapping, inside real_size;
    offsets and lengths should be multiples of 512 so that raw hole detection
    sees exactly these segments."""
    if kind not in KINDS:
        raise ValueError(f"unknown sparse kind {kind!r}")
    with tempfile.TemporaryDirectory(prefix="sparse-member-") as work:
        path = os.path.join(work, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            for index, (offset, length) in enumerate(segments):
                os.pwrite(fd, segment_bytes(index, length), offset)
            os.ftruncate(fd, real_size)
        finally:
            os.close(fd)
        os.chmod(path, mode)
        command = ["tar", "-C", work, "--sparse", "--hole-detection=raw", "--no-recursion",
                   f"--owner={uid}", f"--group={gid}", "--numeric-owner", f"--mtime=@{mtime}"]
        if kind == "gnu":
            command += ["--format=gnu"]
        else:
            command += ["--format=posix", f"--sparse-version={kind}",
                        # no atime/ctime records and a fixed extended-header name: same bytes each run
                        "--pax-option=delete=atime,delete=ctime,exthdr.name=%d/PaxHeaders/%f"]
        command += ["-cf", "-", name]
        proc = subprocess.run(command, capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: exit {proc.returncode}: {proc.stderr.decode()[-500:]}")
    data = proc.stdout
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        members = tar.getmembers()
        end = tar.offset
    if len(members) != 1 or members[0].name != name or members[0].sparse is None:
        raise RuntimeError(f"GNU tar did not write {name!r} as one sparse member ({kind}): {members}")
    member = members[0]
    written = [(offset, length) for offset, length in member.sparse if length]
    if written != list(segments):
        raise RuntimeError(f"GNU tar wrote the sparse map {written} for {name!r}, expected {list(segments)}")
    if kind == "gnu" and member.type != tarfile.GNUTYPE_SPARSE:
        raise RuntimeError(f"expected an old GNU 'S' member, got typeflag {member.type!r}")
    if kind != "gnu":
        pax = member.pax_headers
        marker = {"0.0": "GNU.sparse.offset", "0.1": "GNU.sparse.map", "1.0": "GNU.sparse.major"}[kind]
        if marker not in pax:
            raise RuntimeError(f"PAX {kind} member {name!r} lacks {marker}: {pax}")
    return data[:end]


def append_member(tar, member_bytes):
    """Append whole member bytes (headers and padded data) to an open tarfile
    in write mode, as if addfile had written them."""
    if len(member_bytes) % tarfile.BLOCKSIZE:
        raise ValueError("a tar member is a whole number of 512-byte blocks")
    tar.fileobj.write(member_bytes)
    tar.offset += len(member_bytes)


def hole_problems(path, real_size, segments):
    """What is wrong with the extracted sparse file at path (empty: nothing):
    size, content, and holes, checked two ways: st_blocks (the blocks
    allocated must be about the data's, far below the real size) and
    SEEK_HOLE at the middle of every gap between, before and after the
    segments (the offset must be inside a hole)."""
    problems = []
    st = os.lstat(path)
    if st.st_size != real_size:
        problems.append(f"size {st.st_size}, expected {real_size}")
    with open(path, "rb") as f:
        if f.read() != expected_content(real_size, segments):
            problems.append("content differs from the segments at their offsets with zeros between")
    data_bytes = sum(length for _, length in segments)
    allocated = st.st_blocks * 512
    # Slack: each segment may round up to a filesystem block, plus metadata blocks.
    if allocated > data_bytes + 4096 * (len(segments) + 16):
        problems.append(f"{allocated} bytes allocated (st_blocks {st.st_blocks}) for {data_bytes} bytes of data "
                        f"in a {real_size}-byte file: the holes were written as zeros")
    gaps, position = [], 0
    for offset, length in list(segments) + [(real_size, 0)]:
        if offset - position >= 3 * 4096:
            gaps.append((position, offset))
        position = offset + length
    fd = os.open(path, os.O_RDONLY)
    try:
        for start, end in gaps:
            middle = (start + end) // 2 // 4096 * 4096
            hole = os.lseek(fd, middle, os.SEEK_HOLE)
            if hole != middle:
                problems.append(f"offset {middle} (in the gap {start}..{end}) is not in a hole: "
                                f"SEEK_HOLE gives {hole}")
        for offset, length in segments:
            data = os.lseek(fd, offset, os.SEEK_DATA)
            if data > offset:
                problems.append(f"segment at {offset} is in a hole: SEEK_DATA gives {data}")
    finally:
        os.close(fd)
    return problems
