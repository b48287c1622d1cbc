#!/usr/bin/env python3
"""Replay a harness's seed corpus and regression inputs, jailed.

usage: replay.py REPLAY_BINARY DIR_OR_FILE...   (missing paths are skipped)

The binary runs in bubblewrap with the host read-only and a scratch TMPDIR
bound writable, as every run on untrusted bytes does; exit 77 (meson: SKIP)
without root or bwrap. Any crash or sanitizer report fails the test and the
last input named on stdout is the culprit.
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main(argv):
    binary, paths = os.path.abspath(argv[1]), [os.path.abspath(p) for p in argv[2:] if os.path.exists(p)]
    if os.geteuid() != 0 or shutil.which("bwrap") is None:
        print("SKIP: needs root and bubblewrap (inputs only ever run jailed)")
        return 77
    scratch = tempfile.mkdtemp(prefix="fuzz-replay-")
    try:
        command = ["bwrap", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                   "--bind", scratch, scratch, "--setenv", "TMPDIR", scratch, "--chdir", scratch, "--",
                   binary, *paths]
        env = dict(os.environ, UBSAN_OPTIONS=os.environ.get("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1"))
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=280)
        sys.stdout.write(result.stdout[-4000:])
        sys.stderr.write(result.stderr[-8000:])
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer"):
            if marker in result.stderr:
                print(f"FAIL: sanitizer report ({marker})")
                return 1
        if result.returncode != 0:
            print(f"FAIL: exit {result.returncode}")
            return 1
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
