#!/usr/bin/env python3
"""Summarises a `perf record` of weft into figures for the bench report.

    python3 bench/profile.py --case 4 --which gateway perf.data

Reads `perf report` (self time per symbol), puts each symbol in one
component (kernel; libc allocation and copying; hyper and axum; rmcp; JSON;
tokio; wasmtime; weft's router, upstream client, serve, sandbox; Rust's
standard library; other) and records each component's share of the samples
as `profile WHICH: COMPONENT` (unit %), plus `profile WHICH samples`,
appended to $WEFT_BENCH_OUT (printed only when it is unset). The buckets
are coarse on purpose: they say where the time goes, not which line.
"""

import argparse
import json
import os
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d.]+)%\s+(\d+)\s+(\S+)\s+\[(.)\]\s+(.*)$")
CRATES = [
    (("hyper", "hyper_util", "axum", "axum_core", "tower", "tower_http", "http", "http_body",
      "http_body_util", "h2", "httparse", "matchit", "reqwest"), "hyper and axum"),
    (("rmcp",), "rmcp"),
    (("serde_json", "serde", "serde_core", "ryu", "itoa"), "JSON (serde)"),
    (("tokio", "mio", "futures_util", "futures_core", "futures_channel", "parking_lot",
      "parking_lot_core", "crossbeam_channel", "crossbeam_utils", "tokio_util"), "tokio and futures"),
    (("wasmtime", "cranelift_codegen", "wasmparser", "wasmtime_environ", "wasmtime_wasi",
      "wasmtime_runtime", "wasmtime_internal_fiber", "wiggle"), "wasmtime"),
    (("alloc", "core", "std", "hashbrown", "bytes", "smallvec", "indexmap"), "Rust core and alloc (drops, generic code)"),
    (("tracing", "tracing_core", "tracing_subscriber"), "tracing"),
]
WEFT = [
    ("weft::router", "weft router"),
    ("weft::upstream", "weft upstream client"),
    ("weft::serve", "weft serve"),
    ("weft::policy", "weft sandbox"),
    ("weft::sandbox", "weft sandbox"),
    ("weft::", "weft (other)"),
]


def crate_of(symbol):
    """The first path segment of a demangled Rust symbol, or ''."""
    s = symbol.strip()
    while True:
        for prefix in ("<", "&", "mut ", "dyn ", "*const ", "*mut ", "(", "["):
            if s.startswith(prefix):
                s = s[len(prefix):]
                break
        else:
            break
    return s.split("::", 1)[0] if "::" in s else "", s


def component(dso, kind, symbol):
    if kind == "k" or dso.startswith("[kernel"):
        return "kernel"
    base = os.path.basename(dso)
    if base.startswith(("libc.", "libc-", "ld-linux", "libm.", "libpthread", "libgcc")):
        return "libc (allocation, copying)"
    crate, path = crate_of(symbol)
    if crate == "weft":
        for prefix, name in WEFT:
            if path.startswith(prefix):
                return name
    for names, name in CRATES:
        if crate in names:
            return name
    return "other"


def summarise(perf_data):
    out = subprocess.run(
        ["perf", "report", "-i", perf_data, "--stdio", "--no-children", "--sort", "dso,sym",
         "--show-nr-samples", "--percent-limit", "0", "-q"],
        capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"profile: perf report failed: {out.stderr.strip()[:300]}")
    shares, samples = {}, 0
    for line in out.stdout.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        pct, n, dso, kind, sym = float(m[1]), int(m[2]), m[3], m[4], m[5]
        c = component(dso, kind, sym)
        shares[c] = shares.get(c, 0.0) + pct
        samples += n
    return shares, samples


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", required=True)
    p.add_argument("--which", required=True)
    p.add_argument("perf_data")
    a = p.parse_args()
    shares, samples = summarise(a.perf_data)
    if samples == 0:
        sys.exit("profile: no samples in the recording")
    lines = [{"case": a.case, "name": f"profile {a.which} samples", "unit": "samples",
              "value": float(samples)}]
    for name, pct in sorted(shares.items(), key=lambda kv: -kv[1]):
        lines.append({"case": a.case, "name": f"profile {a.which}: {name}", "unit": "%",
                      "value": round(pct, 2)})
    print(f"profile {a.which}: " + ", ".join(f"{l['value']:.0f}% {l['name'].split(': ', 1)[1]}"
                                            for l in lines[1:]) + f" ({samples} samples)")
    path = os.environ.get("WEFT_BENCH_OUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            for l in lines:
                f.write(json.dumps(l, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
