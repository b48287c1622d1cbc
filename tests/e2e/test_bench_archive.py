#!/usr/bin/env python3
"""Smoke test of `bench/run --archive` (issue 17): one round on a small real
fixture, jailed, everything written inside the check's scratch directory.

It checks what the run claims to write, not the timings: the Markdown table
(a row per peer, cp at 1.00, undocker's tree equal to the reference; the
Floors table, each bound beside the run it bounds), the
--json file (its fields, one record per run), and the charts (PNG magic, an
SVG root element). A second run with bsdtar hidden from PATH must report it
as missing and still time the others. The full benchmark stays outside the
suite (bench/README.md).

usage: test_bench_archive.py UNDOCKER   (skips, exit 77, without the fixture)
"""
import hashlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import JAIL, ROOT, Failure, Skip, Suite, fixture  # noqa: E402

suite = Suite("bench_archive")
FIXTURE = "dive-test-oci-gzip-image.tar"
BENCH = os.path.join(ROOT, "bench", "run")
PEERS = ["undocker", "undocker-noverify", "undocker-pipe", "undocker-tar", "undocker-stream", "gnutar-c", "gnutar",
         "bsdtar", "umoci", "skopeo-umoci", "cp", "gnutar-flat", "undocker-flat", "sha256", "pipe-cat"]
# The Floors table: each bound beside the undocker run it bounds.
FLOORS = {
    "untar of the flattened tree (GNU tar, one layer)": "undocker-noverify",
    "undocker --no-verify, one layer of the flattened tree": "undocker-noverify",
    "the pipe's delivery (cat piped to cat) + the file's run": "undocker-pipe",
}
RUN_FIELDS = {"image", "fs", "peer", "round", "seconds", "cpu_user_s", "cpu_system_s", "max_rss_kib", "exit", "tree"}


def setup():
    return None if fixture(FIXTURE) else f"{FIXTURE} not found in {common.FIXTURES}"


def run_bench(t, *extra, path=None):
    """bench/run --archive FIXTURE, one round, in bwrap with only the scratch
    directory writable (the bench's filesystem, cache, JSON and charts are in it)."""
    fs = t.path("fs")
    os.makedirs(fs, exist_ok=True)
    env = dict(os.environ, TMPDIR=t.tmp, MPLCONFIGDIR=t.path("mpl"))
    if path:
        env["PATH"] = path
    command = JAIL + ["--bind", t.scratch, t.scratch, "--cap-add", "ALL", "--chdir", t.scratch, "--",
                      sys.executable, BENCH, "--archive", fixture(FIXTURE), "--rounds", "1", "--fs", fs,
                      "--data", t.path("data"), "--undocker", common.UNDOCKER, *extra]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        raise Failure(f"bench/run: exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n"
                      f"--- stderr\n{proc.stderr[-3000:]}")
    return proc.stdout


def table_rows(report):
    rows = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in PEERS:
            rows[cells[0]] = cells
    return rows


def floor_rows(report):
    """bound -> (its median, the undocker cell beside it), from the Floors table."""
    rows = {}
    in_floors = False
    for line in report.splitlines():
        if line.startswith("### "):
            in_floors = line.startswith("### Floors: dive-test-oci-gzip-image on ")
        elif in_floors and line.startswith("| ") and not line.startswith("| bound |"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = (float(cells[2].split()[0]), cells[3])
    return rows


@suite.check("bench/run --archive: table, --json and charts as claimed")
def table_json_charts(t):
    report = run_bench(t, "--json", t.path("r.json"), "--charts", t.path("charts"))
    if "### dive-test-oci-gzip-image on " not in report:
        raise Failure(f"no table for the fixture:\n{report[-3000:]}")
    rows = table_rows(report)
    t.eq(sorted(rows), sorted(PEERS), "peers in the table")
    t.true(rows["cp"][2].startswith("1.00"), f"cp's ratio to itself: {rows['cp']}")
    for peer in ("undocker", "undocker-noverify", "undocker-pipe", "undocker-flat"):
        t.true(rows[peer][3] == "= ref", f"{peer}'s tree verdict: {rows[peer]}")
    floors = floor_rows(report)
    for bound, peer in FLOORS.items():
        t.true(bound in floors, f"the Floors table has '{bound}': {sorted(floors)}")
        if bound in floors:
            value, beside = floors[bound]
            t.true(value > 0, f"'{bound}': a measured value ({floors[bound]})")
            t.true(beside.startswith(peer + ": "), f"'{bound}' stands beside {peer}: {beside}")

    with open(t.path("r.json")) as f:
        doc = json.load(f)
    t.eq(doc["schema"], "undocker-bench/1", "JSON schema")
    with open(fixture(FIXTURE), "rb") as f:
        t.eq(doc["images"][0]["sha256"], hashlib.sha256(f.read()).hexdigest(), "the archive's digest")
    ran = [p["peer"] for p in doc["peers"] if p["status"] != "missing"]
    t.eq(sorted(r["peer"] for r in doc["runs"]), sorted(ran), "one run record per peer that ran (1 round)")
    for r in doc["runs"]:
        t.eq(set(r) & RUN_FIELDS, RUN_FIELDS, f"fields of {r['peer']}'s run")
        t.true(r["seconds"] > 0 and r["exit"] == 0, f"{r['peer']}'s run: {r}")
    # undocker-stream writes a tar to /dev/null: no tree to compare.
    t.true(all(r["tree"] == "same" for r in doc["runs"] if r["peer"].startswith("undocker")
               and r["peer"] != "undocker-stream"), "undocker's trees equal the reference")

    if not doc["charts"]:
        raise Skip("no charts: no Python here can import matplotlib (python3-matplotlib)")
    t.eq(sorted(os.path.splitext(c)[1] for c in doc["charts"]), [".png", ".svg"], "chart files")
    for chart in doc["charts"]:
        t.true(chart.startswith(t.path("charts")) and os.path.isfile(chart), f"chart in --charts DIR: {chart}")
        if chart.endswith(".png"):
            with open(chart, "rb") as f:
                t.eq(f.read(8), b"\x89PNG\r\n\x1a\n", f"PNG magic of {chart}")
            t.true(f"]({chart})" in report, "the report links the PNG")
        else:
            t.eq(ET.parse(chart).getroot().tag, "{http://www.w3.org/2000/svg}svg", f"SVG root of {chart}")


@suite.check("bench/run --archive: a missing tool is reported, the other peers still run")
def missing_tool(t):
    # PATH: every program of /usr/bin and /bin but bsdtar.
    bin_dir = t.path("bin")
    os.makedirs(bin_dir)
    for d in ("/bin", "/usr/bin"):
        for name in os.listdir(d):
            if name != "bsdtar" and not os.path.lexists(os.path.join(bin_dir, name)):
                os.symlink(os.path.join(d, name), os.path.join(bin_dir, name))
    report = run_bench(t, "--peers", "undocker,bsdtar,gnutar", "--no-memory", path=bin_dir)
    rows = table_rows(report)
    t.true("missing: bsdtar" in rows.get("bsdtar", []), f"bsdtar reported missing: {rows.get('bsdtar')}")
    t.true(rows["undocker"][3] == "= ref" and rows["gnutar"][1] != "—", f"the others ran: {rows}")


if __name__ == "__main__":
    sys.exit(suite.main(setup))
