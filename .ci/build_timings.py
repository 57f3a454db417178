#!/usr/bin/env python3
"""Summarises a `cargo build --timings` report: each crate's compile time,
its share of the summed time, and the wall time, as JSON.

Usage: .ci/build_timings.py REPORT.html [--label TEXT] [--top N] > summary.json

REPORT is the HTML cargo writes to <target>/cargo-timings/. Its unit data is
the `UNIT_DATA` array in the page's script; a crate compiled in several units
(a build script, its run, the library) is summed under its name.
"""

import argparse
import json
import re
import sys


def unit_data(html):
    match = re.search(r"const UNIT_DATA = (\[.*?\]);\s*\n", html, re.S)
    if not match:
        sys.exit("no UNIT_DATA in the report: is it cargo's --timings HTML?")
    return json.loads(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--label", default="")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with open(args.report, encoding="utf-8") as f:
        units = unit_data(f.read())
    per_crate = {}
    wall = 0.0
    for unit in units:
        name = f"{unit['name']} {unit['version']}"
        per_crate[name] = per_crate.get(name, 0.0) + float(unit["duration"])
        wall = max(wall, float(unit["start"]) + float(unit["duration"]))
    total = sum(per_crate.values())
    ranked = sorted(per_crate.items(), key=lambda kv: -kv[1])
    summary = {
        "label": args.label,
        "units": len(units),
        "crates": len(per_crate),
        "wall_s": round(wall, 1),
        "summed_s": round(total, 1),
        "top": [
            {"crate": name, "seconds": round(secs, 1), "share": round(secs / total, 4) if total else 0}
            for name, secs in ranked[: args.top]
        ],
    }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
