#!/usr/bin/python3
"""bench/chart.py — draw bench/run's per-image charts (issue 17).

usage: bench/chart.py SUMMARY.json OUTDIR

SUMMARY.json is written by bench/run: {"title_note": str, "charts": [{"name":
FILE-STEM, "title": str, "rounds": N, "peers": [{"peer", "median", "min",
"max", "verdict": "same"|"differs"|"failed"|"missing"|"reference", "label"}]}]}.
For each chart it writes OUTDIR/FILE-STEM.svg and .png and prints their paths.

A separate program, run by bench/run with the first Python that has
matplotlib: Debian's python3-matplotlib lives in /usr/bin/python3's
dist-packages, and the benchmark itself may run under another Python (a
pyenv shim, meson's python) that cannot import it.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402

# SVG text as text, not glyph outlines: a quarter of the size, and searchable.
plt.rcParams["svg.fonttype"] = "none"

# undocker's runs in one colour, what a user would run instead in another,
# so the eye finds "ours against theirs" before reading labels.
COLOUR_UNDOCKER = "#1f77b4"
COLOUR_PEER = "#ff7f0e"
COLOUR_FLOOR = "#2ca02c"
COLOUR_BAD = "#b0b0b0"


def draw(chart, outdir, note):
    peers = chart["peers"]
    height = 1.6 + 0.42 * len(peers)
    fig, ax = plt.subplots(figsize=(8.5, height))
    ys = list(range(len(peers)))[::-1]  # first peer on top
    # Ratios span 0.5x to 20x: a log axis keeps the fast peers readable.
    ax.set_xscale("log")
    drawn = [p for p in peers if p["median"] is not None]
    lo = min([0.5] + [p["min"] for p in drawn]) / 1.3
    # Room on the right for the value and, where there is one, the reason it is grey.
    hi = max([2.0] + [p["max"] for p in drawn]) * (3.0 if any(p["label"] for p in drawn) else 1.6)
    ax.set_xlim(lo, hi)
    for y, p in zip(ys, peers):
        draw_peer(ax, y, p, lo, hi)
    ax.axvline(1.0, color=COLOUR_FLOOR, linestyle="--", linewidth=1.2)
    ax.text(1.0, len(peers) - 0.4, " cp -a = 1.0 (the floor)", color=COLOUR_FLOOR, fontsize=8, va="bottom")
    ax.set_yticks(ys)
    ax.set_yticklabels([p["peer"] for p in peers])
    ax.set_ylim(-0.7, len(peers) - 0.1)
    ax.set_xlabel(f"time ÷ cp -a of the final tree, same round (median, whiskers min–max of {chart['rounds']} "
                  f"round{'s' if chart['rounds'] != 1 else ''}; lower is faster)")
    ticks = [t for t in (0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200) if lo <= t <= hi]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.set_title(chart["title"], fontsize=10, loc="left")
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="#555555", ha="left", va="bottom")
    ax.grid(axis="x", which="both", color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    paths = []
    for ext in ("svg", "png"):
        path = os.path.join(outdir, f"{chart['name']}.{ext}")
        # No dates or random ids in the files: the same numbers give the same bytes.
        meta = {"Date": None} if ext == "svg" else {"Software": None}
        plt.rcParams["svg.hashsalt"] = chart["name"]
        fig.savefig(path, format=ext, dpi=110, metadata=meta)
        paths.append(path)
    plt.close(fig)
    return paths


def draw_peer(ax, y, p, lo, hi):
    """One bar from the axis to the median, whiskers min–max, the value or
    the reason there is none written beside it."""
    if p["median"] is None:  # missing tool, or no successful run
        ax.text(lo * 1.05, y, p["label"], va="center", fontsize=8, color="#808080", style="italic")
        return
    bad = p["verdict"] in ("differs", "failed")
    colour = COLOUR_BAD if bad else (COLOUR_UNDOCKER if p["peer"].startswith("undocker") else COLOUR_PEER)
    if p["peer"] == "cp":
        colour = COLOUR_FLOOR
    ax.barh(y, p["median"] - lo, left=lo, height=0.6, color=colour, edgecolor="#404040" if bad else colour,
            hatch="///" if bad else None, linewidth=0.6)
    ax.errorbar(p["median"], y, xerr=[[p["median"] - p["min"]], [p["max"] - p["median"]]], fmt="none",
                ecolor="#202020", elinewidth=1, capsize=3)
    text = f"{p['median']:.2f}×"
    if p["label"]:
        text += f"  {p['label']}"
    ax.text(min(p["max"] * 1.08, hi), y, text, va="center", fontsize=8,
            color="#a00000" if bad else "#202020")


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        summary = json.load(f)
    os.makedirs(argv[2], exist_ok=True)
    for chart in summary["charts"]:
        for path in draw(chart, argv[2], summary.get("title_note", "")):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
