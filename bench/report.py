#!/usr/bin/env python3
"""Turns the figures the benches recorded (JSON lines) into the suite's report.

    python3 bench/report.py stamp RAW.jsonl        # start a run: record provenance
    python3 bench/report.py [--allow-dirty] RAW.jsonl   # publish
    python3 bench/report.py --check RAW.jsonl      # the pages and results.md up to date?

`stamp` (called by `bash bench/run` before any bench starts) writes the
run's first line: `git describe --always --dirty`, the commit, the date and
the machine. Everything the report prints comes from RAW.jsonl alone (and,
for the targets set against an earlier run, that run's raw data, committed
as bench/results/baseline.jsonl), so the same raw data always renders the
same text.

Publishing writes, next to the input:
  results.json  the provenance, every figure, and each target with its verdict
  results.md    the same as Markdown tables
  chart.svg     ratios (weft against each alternative) and gateway throughput
and replaces the text between the bench markers in the book's benchmarks
chapter (docs/benchmarks.md, or $WEFT_BENCH_README) with the summary, and
between the headline markers in README.md (or $WEFT_BENCH_HEADLINE) with a
few headline figures from the same data. It refuses, in one line and with
exit code 1, when the figures were measured on a dirty tree (or carry no
provenance), unless given --allow-dirty. `--check` writes nothing: it exits
1, showing the difference, when either region or results.* differ from what
this raw data renders. Only the standard library is used.
"""

import datetime
import difflib
import json
import os
import platform
import subprocess
import sys

from chart import chart
from figfmt import NOT_MEASURED, fmt, shown

CASES = {
    "1": "Host call overhead",
    "2": "Policy start",
    "3": "Code as policy, against round trips",
    "4": "Gateway",
    "5": "Scale",
    "6": "Policies in Python and JavaScript",
    "7": "Adapters",
    "8": "Code mode, end to end",
    "9": "Durable runs: the journal",
    "10": "Native servers in the OS sandbox",
    "11": "Many replicas behind one load balancer",
    "12": "Components from an OCI registry",
    "run": "The run itself",
}
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
HEADLINE_BEGIN, HEADLINE_END = "<!-- bench-headline:begin -->", "<!-- bench-headline:end -->"
# The targets the README's headline shows, by label, in this order.
HEADLINE = [
    "1. host overhead of a guest call-tool (bare import − native)",
    "2. warm policy start",
    "3. policy vs subprocess + bridge, N=10",
    "4. latency weft adds (plain HTTP client)",
    "4. throughput ahead of mcp-proxy, c=16, rmcp client",
    "8. weft_run_code of 10 echo calls in Python, end to end through weft serve",
    "9. the journal's cost per call-tool, SQLite (synchronous NORMAL)",
]
# The peer gateways case 4 compares weft with; each always gets a row.
PEERS = ["mcp-proxy", "mcp-hub", "fastmcp"]
# Load generators of case 4 that drive weft and the peers alike. The
# suffix is how the bench names that client's figures.
# (what the client is, suffix of its ratio figures, suffix of its rows'
# labels, concurrency levels compared)
CLIENTS = [
    ("rmcp client", "", "", [16, 64]),
    ("keep-alive SSE client", " (keep-alive SSE client)", ", keep-alive SSE client", [1, 16, 64]),
]
# Profiles a bench step records (`bench/profile.py`), and what they explain.
PROFILES = {
    "guest call-tool": "case 1, the timer guest's calls to the in-process echo",
    "gateway": "case 4, weft serving the plain HTTP client's load",
    "tools/list": "case 5, weft serving tools/list of 5,000 tools",
}
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# The run the throughput targets are measured against (issue 20: 1.5x the
# last run's calls/s): that run's raw data, committed as it was published.
# WEFT_BENCH_BASELINE names another file (the tests use their own).
BASELINE = os.path.join(HERE, "results", "baseline.jsonl")
# (figure of case 4, what it is, factor over the baseline's figure)
BASELINE_TARGETS = [
    ("weft → stdio, plain HTTP client calls/s c=16", "gateway calls/s, c=16, plain HTTP client", 1.5),
    ("weft → stdio, plain HTTP client calls/s c=64", "gateway calls/s, c=64, plain HTTP client", 1.5),
]


class Raw:
    """One run's raw data: its provenance line and its figures."""

    def __init__(self, provenance, figures):
        self.provenance = provenance
        self.figures = figures

    def get(self, case, name):
        """The figure of `case` named exactly `name`, or None."""
        for f in self.figures:
            if f["case"] == case and f["name"] == name:
                return f
        return None

    def value(self, case, name):
        f = self.get(case, name)
        return None if f is None or f.get("value") is None else f["value"]

    def profile(self, which):
        """The buckets of one recorded profile, largest first."""
        prefix = f"profile {which}: "
        rows = [(f["name"][len(prefix):], f["value"]) for f in self.figures
                if f["name"].startswith(prefix) and f.get("value") is not None]
        return sorted(rows, key=lambda r: -r[1])


def baseline():
    """The baseline run's raw data, or None when there is none."""
    path = os.environ.get("WEFT_BENCH_BASELINE", BASELINE)
    return load(path) if os.path.exists(path) else None


def against_baseline(raw, base, name, what, factor):
    """A target of `factor` times the baseline run's figure `name`."""
    before = base.get("4", name) if base else None
    label = f"4. {what}, {factor:g}x the baseline run"
    if before is None or before.get("value") is None:
        return {"target": label, "goal": f"≥ {factor:g}x the baseline run",
                "figure": shown(raw.get("4", name)), "verdict": NOT_MEASURED}
    want = factor * before["value"]
    run = (base.provenance or {}).get("describe", "unknown")
    goal = f"≥ {fmt(want)} {before['unit']} ({factor:g} × {fmt(before['value'])} in run `{run}`)"
    return target(label, raw.get("4", name), lambda v: v >= want, goal)


def load(path):
    provenance, figures = None, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"report: {path}:{n} is not JSON ({e})")
            if not isinstance(item, dict):
                sys.exit(f"report: {path}:{n} is not a JSON object")
            if "provenance" in item:
                provenance = item["provenance"]
            elif {"case", "name", "unit"} <= item.keys():
                figures.append(item)
            else:
                sys.exit(f"report: {path}:{n} is neither a figure nor provenance")
    return Raw(provenance, figures)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def git(*args):
    try:
        r = subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def stamp(path):
    """Starts a raw file with this tree's provenance and this machine."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    provenance = {
        "describe": git("describe", "--always", "--dirty") or "unknown",
        "commit": git("rev-parse", "HEAD") or "unknown",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "os": platform.platform(),
        "rustc": run("rustc", "--version"),
    }
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"provenance": provenance}, ensure_ascii=False) + "\n")
    return provenance


def dirty(provenance):
    """Why these figures cannot be traced to a commit, or None."""
    if not provenance:
        return "the raw data has no provenance line (run `bash bench/run`)"
    d = provenance.get("describe", "unknown")
    if d == "unknown" or d.endswith("-dirty"):
        return f"the figures were measured on a dirty tree ({d})"
    return None


def target(label, figure, check, goal):
    """One target's verdict: met, missed, or not measured."""
    if figure is None or figure.get("value") is None or figure["value"] != figure["value"]:
        return {"target": label, "goal": goal, "figure": shown(figure), "verdict": NOT_MEASURED}
    return {
        "target": label,
        "goal": goal,
        "figure": f"{shown(figure)} ({figure['name']})",
        "verdict": "met" if check(figure["value"]) else "missed",
    }


def peer_marker(raw, peer, row_suffix=""):
    """The bench's 'not measured' line for a peer's row with one client
    (or for the peer as a whole, when it is not installed), if any."""
    for name in (f"{peer} → stdio{row_suffix}", f"{peer} → stdio"):
        f = raw.get("4", name)
        if f is not None and f.get("value") is None:
            return f
    return None


def targets(raw):
    g = raw.get
    out = [
        target("1. host overhead of a guest call-tool (bare import − native)", g("1", "overhead p50"),
               lambda v: v <= 2.0, "≤ 2 µs p50"),
        target("1. argument check against inputSchema (server-everything)", g("1", "argument check p50"),
               lambda v: v <= 5.0, "≤ 5 µs p50"),
        target("2. warm policy start", g("2", "warm run p50"), lambda v: v <= 20.0, "≤ 20 µs p50"),
        target("3. policy vs direct Python client, N=10", g("3", "python client / policy N=10"),
               lambda v: v >= 1.0, "≥ 1x (no slower)"),
        target("3. policy vs subprocess + bridge, N=10", g("3", "subprocess+bridge / policy N=10"),
               lambda v: v >= 10.0, "≥ 10x"),
        target("4. latency weft adds (rmcp client)", g("4", "weft added p50"),
               lambda v: v <= 150.0, "≤ 150 µs p50"),
        target("4. latency weft adds (plain HTTP client)", g("4", "weft added p50 (plain HTTP client)"),
               lambda v: v <= 150.0, "≤ 150 µs p50"),
        target("4. weft in front of a streamable-HTTP upstream, c=16",
               g("4", "weft → HTTP / direct HTTP calls/s c=16"),
               lambda v: v >= 0.95, "≥ 0.95x the server called directly"),
    ]
    base = baseline()
    out += [against_baseline(raw, base, name, what, factor) for name, what, factor in BASELINE_TARGETS]
    for client, suffix, row_suffix, levels in CLIENTS:
        for peer in PEERS:
            for c in levels:
                name = f"weft/{peer} calls/s c={c}{suffix}"
                f = g("4", name)
                if f is None:
                    marker = peer_marker(raw, peer, row_suffix)
                    f = {"case": "4", "name": name, "unit": "x", "value": None,
                         "reason": marker.get("reason") if marker else "no figure in this run"}
                out.append(target(f"4. throughput ahead of {peer}, c={c}, {client}", f,
                                  lambda v: v > 1.0, "> 1x"))
    out.append(target("5. tools/list of 5,000 tools (as served)",
                      g("5", "tools/list 5000 tools (HTTP, body received) p50"),
                      lambda v: v <= 5000.0, "≤ 5 ms p50"))
    out.append(target("5. tools/list of 5,000 tools (parsed by an rmcp client)",
                      g("5", "tools/list 5000 tools (rmcp client, parsed) p50"),
                      lambda v: v <= 5000.0, "≤ 5 ms p50"))
    out.append(target("5. tools/list of 5,000 tools, first page (≤ 64 KiB) parsed by an rmcp client",
                      g("5", "tools/list 5000 tools, first page (rmcp client, parsed) p50"),
                      lambda v: v <= 2000.0, "≤ 2 ms p50"))
    out.append(target("5. a quiet tenant's echo p99 while another, at its rate, sends 4 MiB names and 10,000-word searches",
                      g("5", "quiet tenant echo p99, hostile / alone"),
                      lambda v: v <= 2.0, "≤ 2x its p99 alone"))
    for lang, label in [("python", "Python"), ("js", "JavaScript")]:
        out.append(target(f"6. warm start of a trivial {label} policy", g("6", f"{lang} warm run p50"),
                          lambda v: v <= 2000.0, "≤ 2 ms p50"))
    out.append(target("6. memory added per concurrent Python run, 100 in flight (PSS)",
                      g("6", "python memory per run, 100 in flight (PSS)"),
                      lambda v: v <= 5.0, "≤ 5 MiB"))
    # The adapter bench's targets (issue 18), listed once a run has
    # measured them, so that a run from before that bench renders as it did.
    call = g("7", "trivial adapter call p50")
    memory = g("7", "idle adapter / idle Node server memory")
    if call is not None or memory is not None:
        out.append(target("7. a trivial adapter tool call through the router", call,
                          lambda v: v <= 50.0, "≤ 50 µs p50"))
        out.append(target("7. memory per idle adapter, against an idle Node MCP server", memory,
                          lambda v: v <= 0.1, "≤ 1/10"))
    for label in ["Python", "JavaScript"]:
        out.append(target(f"8. weft_run_code of 10 echo calls in {label}, end to end through weft serve",
                          g("8", f"weft_run_code, {label}, 10 calls p50"),
                          lambda v: v <= 10.0, "≤ 10 ms p50"))
    # Case 9 joined the suite after runs whose raw data has none of its
    # figures; its target shows only in a run that measured it.
    if any(f["case"] == "9" for f in raw.figures):
        out.append(target("9. the journal's cost per call-tool, SQLite (synchronous NORMAL)",
                          g("9", "journal per call NORMAL p50"),
                          lambda v: v <= 50.0, "≤ 50 µs p50"))
    # Case 10 likewise (issue 56).
    if any(f["case"] == "10" for f in raw.figures):
        out.append(target("10. the start-up a stdio server's OS sandbox adds",
                          g("10", "start-up added by the sandbox"),
                          lambda v: v <= 10.0, "≤ 10 ms"))
    # Case 11 likewise (issue 60).
    if any(f["case"] == "11" for f in raw.figures):
        out.append(target("11. the per-call cost of sessions any replica serves",
                          g("11", "per-call cost of shared sessions (p50 difference)"),
                          lambda v: v <= 10.0, "≤ 10 µs p50"))
    # Case 12 likewise (issue 61).
    if any(f["case"] == "12" for f in raw.figures):
        out.append(target("12. the start-up an OCI component adds, cached and signed",
                          g("12", "start-up added per OCI component (warm)"),
                          lambda v: v <= 5.0, "≤ 5 ms per component"))
    return out


def provenance_line(p):
    if not p:
        return "Provenance: none recorded."
    line = (f"Measured {p.get('date', '?')} on {p.get('cores', '?')} cores, "
            f"{p.get('cpu') or 'unknown CPU'}; {p.get('rustc') or 'unknown rustc'}; "
            f"tree `{p.get('describe', 'unknown')}`")
    commit = p.get("commit", "unknown")
    line += f" (commit {commit[:12]})." if commit != "unknown" else "."
    if p.get("note"):
        line += f" {p['note']}"
    return line


def verdict_table(verdicts):
    rows = ["| target | goal | measured | verdict |", "|---|---|---|---|"]
    rows += [f"| {t['target']} | {t['goal']} | {t['figure']} | {t['verdict']} |" for t in verdicts]
    return rows


def markdown(raw, verdicts):
    lines = [provenance_line(raw.provenance), ""] + verdict_table(verdicts)
    for case, title in CASES.items():
        rows = [f for f in raw.figures if f["case"] == case]
        if not rows:
            continue
        lines += ["", f"### {case}. {title}", "", "| figure | value | unit |", "|---|---|---|"]
        lines += [f"| {f['name']} | {fmt(f.get('value'))}"
                  + (f" ({f['reason']})" if f.get("value") is None and f.get("reason") else "")
                  + f" | {f['unit']} |" for f in rows]
    return "\n".join(lines) + "\n"


def profile_text(raw, which, top=6):
    """'21% kernel, 26% libc, …' from a recorded profile, or why there is none."""
    rows = raw.profile(which)
    if not rows:
        return f"none recorded in this run ({PROFILES[which]})"
    samples = next((f["value"] for f in raw.figures if f["name"] == f"profile {which} samples"), None)
    named = [(name, v) for name, v in rows if name != "other"]
    text = ", ".join(f"{v:.0f}% {name}" for name, v in named[:top])
    rest = sum(v for _, v in named[top:]) + sum(v for name, v in rows if name == "other")
    if rest >= 0.5:
        text += f", {rest:.0f}% elsewhere"
    return text + (f" ({fmt(samples)} samples)" if samples else "")


def v(raw, case, name):
    """A named figure as text, or "not measured"."""
    return shown(raw.get(case, name))


def prose(raw):
    """The explanations under the summary, every number from the raw data."""
    cpu = raw.get("4", "weft CPU per call (plain HTTP client)")
    peers = []
    for peer in PEERS:
        f = raw.get("4", f"{peer} added p50") or peer_marker(raw, peer)
        peers.append(f"{peer} {shown(f)}")
    keepalive = []
    for who in ["weft"] + PEERS:
        f = raw.get("4", f"{who} → stdio, keep-alive SSE client calls/s c=1")
        if f is None and who != "weft":
            f = peer_marker(raw, who, ", keep-alive SSE client")
        keepalive.append(f"{who} {shown(f)}")
    wall = raw.get("run", "bench/run wall time")
    lines = [
        "Where weft misses a target, and why (profiles: `perf` on the running",
        "process, summarised by `bench/profile.py` into the raw data):",
        f"- **`tools/list` of 5,000 tools** (body: {v(raw, '5', 'tools/list 5000 tools body size')})"
        " is dominated by serialising the tools' schemas and by the client's parsing"
        f" (as served: {v(raw, '5', 'tools/list 5000 tools (HTTP, body received) p50')} p50;"
        f" parsed by rmcp: {v(raw, '5', 'tools/list 5000 tools (rmcp client, parsed) p50')})."
        f" Profile: {profile_text(raw, 'tools/list')}.",
        "- **A guest `call-tool`** costs a native call through the router"
        f" ({v(raw, '1', 'native call p50')} p50) plus what the host adds for a guest"
        f" ({v(raw, '1', 'overhead p50')}: the bare import at {v(raw, '1', 'guest import p50')},"
        " the crossing, the JSON text of arguments and result on the host side, the grants)"
        f" plus the guest SDK's own JSON work ({v(raw, '1', 'guest SDK JSON p50')}, in Wasm:"
        f" a call through the SDK is {v(raw, '1', 'guest call-tool p50')})."
        f" Profile: {profile_text(raw, 'guest call-tool')}.",
        "- **The gateway's added latency** depends on the client: with rmcp's client"
        f" {v(raw, '4', 'weft added p50')} p50, with plain keep-alive HTTP (the gateway alone)"
        f" {v(raw, '4', 'weft added p50 (plain HTTP client)')} (each from alternating blocks of"
        " sequential calls through weft and to the server directly). A large part of the rmcp figure is"
        " rmcp's own HTTP client: through the same weft, a session call took"
        f" {v(raw, '4', 'weft → stdio p50')} p50 with rmcp's client and"
        f" {v(raw, '4', 'weft → stdio, keep-alive SSE client p50')} with reqwest, and a stateless"
        f" call {v(raw, '4', 'weft → stdio, 2026-07-28 client p50')} with rmcp's client and"
        f" {v(raw, '4', 'weft → stdio, plain HTTP client p50')} with reqwest. Part of it is the extra"
        " HTTP hop itself: on this machine a bare HTTP round trip (the same client's `GET /health`"
        f" on the same weft) takes {v(raw, '4', 'HTTP round trip (GET /health) p50')} p50."
        " The clients' own costs fall on both sides: the plain client is reqwest, which hands"
        " each call to a connection task, and the direct calls go through rmcp's service task."
        " With the leanest client on each side instead (one keep-alive connection written and"
        " read in the timing task, beside JSON-RPC lines written to the server's stdin), the"
        f" latency weft adds is {v(raw, '4', 'weft added p50 (lean clients)')} p50, and a bare"
        f" round trip with that client {v(raw, '4', 'HTTP round trip (GET /health, lean client) p50')}"
        " (figures only, not a target)."
        " Where the kernel puts the processes moves these figures more than weft's own work:"
        " with every process pinned to one core, the lean figures are"
        f" {v(raw, '4', 'weft added p50 (lean clients, one core)')} added and"
        f" {v(raw, '4', 'HTTP round trip (GET /health, lean client, one core) p50')} for the bare"
        " round trip; with the load generator on the other core from weft and its server,"
        f" {v(raw, '4', 'weft added p50 (lean clients, weft beside its server)')} and"
        f" {v(raw, '4', 'HTTP round trip (GET /health, lean client, weft beside its server) p50')};"
        " with weft alone on its core, so that every hop crosses cores,"
        f" {v(raw, '4', 'weft added p50 (lean clients, every hop across cores)')} and"
        f" {v(raw, '4', 'HTTP round trip (GET /health, lean client, every hop across cores) p50')}."
        " weft's CPU per lean call in those three placements:"
        f" {v(raw, '4', 'weft CPU per call (lean client, one core)')},"
        f" {v(raw, '4', 'weft CPU per call (lean client, weft beside its server)')} and"
        f" {v(raw, '4', 'weft CPU per call (lean client, every hop across cores)')}"
        " (a wake-up that crosses cores is an interrupt the VM pays for), and its context switches"
        " per lean call, one at a time:"
        f" {v(raw, '4', 'weft context switches per call (lean client, one core)')},"
        f" {v(raw, '4', 'weft context switches per call (lean client, weft beside its server)')} and"
        f" {v(raw, '4', 'weft context switches per call (lean client, every hop across cores)')}."
        " A new connection for every request, as rmcp's default HTTP client opens, takes the"
        " bare round trip to"
        f" {v(raw, '4', 'HTTP round trip on a new connection (GET /health, lean client, one core) p50')}"
        " on one core, and costs weft"
        f" {v(raw, '4', 'weft CPU per new connection (GET /health, one core)')} of CPU there"
        f" ({v(raw, '4', 'weft CPU per new connection (GET /health, weft beside its server)')} and"
        f" {v(raw, '4', 'weft CPU per new connection (GET /health, every hop across cores)')} in"
        " the other placements)."
        " The floor under these figures is a proxy that only moves the bytes (the bench binary"
        " itself: one thread, no JSON, no checks, the same hop to a server-everything of its own):"
        f" it adds {v(raw, '4', 'floor proxy added p50 (lean clients)')} unpinned, and"
        f" {v(raw, '4', 'floor proxy added p50 (lean clients, one core)')},"
        f" {v(raw, '4', 'floor proxy added p50 (lean clients, weft beside its server)')} and"
        f" {v(raw, '4', 'floor proxy added p50 (lean clients, every hop across cores)')} in the"
        " three placements, at"
        f" {v(raw, '4', 'floor proxy CPU per call (lean client, one core)')},"
        f" {v(raw, '4', 'floor proxy CPU per call (lean client, weft beside its server)')} and"
        f" {v(raw, '4', 'floor proxy CPU per call (lean client, every hop across cores)')} of CPU"
        " per call: what the hop itself costs on this machine, which no gateway avoids. What"
        " weft adds beyond the floor in the same placement is its own work."
        " weft's own CPU per proxied call"
        f" (user + system, from `/proc`): {shown(cpu)};"
        " its context switches per call (every thread, voluntary and not, over the loads at"
        " c = 1, 16 and 64, where one wake-up can serve several calls):"
        f" {v(raw, '4', 'weft context switches per call (plain HTTP client)')}."
        f" Profile: {profile_text(raw, 'gateway')}.",
        "- **In front of a streamable-HTTP upstream** (server-everything, rmcp client, c = 16),"
        f" weft's calls/s over the server's own: {v(raw, '4', 'weft → HTTP / direct HTTP calls/s c=16')}"
        " (the median of six blocks through weft, each against the direct block right after it;"
        f" medians {v(raw, '4', 'weft → HTTP calls/s c=16')} through weft,"
        f" {v(raw, '4', 'direct HTTP calls/s c=16')} direct). On two cores the Node server, the"
        " client and weft share the CPU, so weft's own CPU per call is what the server loses.",
        f"- **The peers' added latency** (rmcp client, p50): {'; '.join(peers)}.",
        f"- **A keep-alive client at c = 1** (reqwest, protocol 2025-06-18, answers as SSE),"
        f" calls/s: {'; '.join(keepalive)}.",
        f"- **Idle shutdown** of `weft serve --http` with five stdio servers (SIGTERM to exit,"
        f" 20 runs): p50 {v(raw, '4', 'idle shutdown, 5 stdio servers p50')},"
        f" max {v(raw, '4', 'idle shutdown, 5 stdio servers max')}.",
        "- **Python and JavaScript policies** (case 6): a first run compiles the component"
        f" (Python {v(raw, '6', 'python first run (compile)')}, JavaScript {v(raw, '6', 'js first run (compile)')});"
        " a second component in the same language, with the interpreter's compiled functions"
        f" already cached, compiles in {v(raw, '6', 'python first run of another component (functions cached)')}"
        f" (Python) and {v(raw, '6', 'js first run of another component (functions cached)')} (JavaScript);"
        f" from the disk cache it takes {v(raw, '6', 'python cached first run')} and"
        f" {v(raw, '6', 'js cached first run')}. Memory per concurrent Python run is judged"
        f" by PSS ({v(raw, '6', 'python memory per run, 100 in flight (PSS)')}): VmRSS"
        f" ({v(raw, '6', 'python memory per run, 100 in flight (VmRSS)')}) counts a page of the"
        " shared copy-on-write snapshot once for every instance that maps it, though the"
        " page exists once. `fanout` against the same servers, warm p50:"
        f" Rust {v(raw, '6', 'fanout (Rust) p50')}, Python {v(raw, '6', 'fanout (Python) p50')},"
        f" JavaScript {v(raw, '6', 'fanout (JavaScript) p50')} (the servers' answers dominate).",
        "- **Code mode** (case 8): an agent's `weft_run_code` of 10 echo calls, through `weft serve`"
        f" over stdio, answers in {v(raw, '8', 'weft_run_code, Python, 10 calls p50')} p50 in Python and"
        f" {v(raw, '8', 'weft_run_code, JavaScript, 10 calls p50')} in JavaScript, interpreter start"
        " included (the sandbox run itself, from the run report:"
        f" {v(raw, '8', 'weft_run_code, Python: sandbox run (report) p50')} and"
        f" {v(raw, '8', 'weft_run_code, JavaScript: sandbox run (report) p50')}). The same calls as"
        f" 10 agent calls through `weft serve`: {v(raw, '8', '10 agent calls through weft serve p50')};"
        f" the Python `mcp` client calling the server directly: {v(raw, '8', 'python client, 10 calls p50')};"
        " a fresh Python process per workflow through an HTTP bridge:"
        f" {v(raw, '8', 'subprocess+bridge, 10 calls p50')}. `weft_run_code`'s description for the"
        f" example config's five servers ({v(raw, '8', 'example config: tools in the catalog')}):"
        f" {v(raw, '8', 'API description, example config: size')}, describing"
        f" {v(raw, '8', 'API description, example config: tools described')}"
        f" ({v(raw, '8', 'API description, example config: tools left out by the size cap')} left out"
        " by its size cap).",
        f"- **The run** took {shown(wall)} on this machine, builds included.",
    ]
    # Since the adapter bench timed its calls in blocks, it also records
    # the call made right after a stdio call; older runs have neither line.
    if raw.get("7", "trivial adapter call after a stdio call p50") is not None:
        lines.insert(len(lines) - 1,
                     "- **Adapters** (case 7): a trivial adapter's tool call through the router,"
                     f" {v(raw, '7', 'trivial adapter call p50')} p50 in blocks of 100 calls"
                     f" ({v(raw, '7', 'trivial adapter call p99')} p99);"
                     f" each right after a call to the stdio server, {v(raw, '7', 'trivial adapter call after a stdio call p50')}"
                     " p50 (the worker thread slept through the server's answer, and the call starts on"
                     " cold caches). The same tool on server-everything over stdio:"
                     f" {v(raw, '7', 'stdio server call (server-everything echo) p50')} p50.")
    return "\n".join(lines) + "\n"


def summary(raw, verdicts):
    """The benchmarks chapter's region (docs/benchmarks.md, hence `../`)."""
    return (provenance_line(raw.provenance)
            + " All figures: [bench/results/results.md](../bench/results/results.md).\n\n"
            + "\n".join(verdict_table(verdicts))
            + "\n\n![benchmark chart](../bench/results/chart.svg)\n\n"
            + prose(raw))


def headline(raw, verdicts):
    """The README's few figures: the HEADLINE targets' rows, and the count."""
    p = raw.provenance or {}
    judged = [t for t in verdicts if t["verdict"] in ("met", "missed")]
    met = sum(1 for t in judged if t["verdict"] == "met")
    rows = [t for label in HEADLINE for t in verdicts if t["target"] == label]
    return ("\n" + f"From `bash bench/run` on {p.get('cores', '?')} cores (tree `{p.get('describe', 'unknown')}`, "
            f"{p.get('date', '?')}), weft and its peers in the same run: {met} of {len(judged)} targets met"
            + "".join(f"; missed: {t['target']} ({t['figure']}, goal {t['goal']})"
                      for t in judged if t["verdict"] == "missed")
            + ". Every target, the misses and why: [benchmarks](docs/benchmarks.md).\n\n"
            + "\n".join(verdict_table(rows)) + "\n")


def split_readme(text, begin=BEGIN, end=END):
    """(head, region, tail) around one pair of markers, or None."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        return None
    head, rest = text.split(begin, 1)
    region, tail = rest.split(end, 1)
    return head, region, tail


def pages(readme=None):
    """(path, begin, end, key of render()'s output) of each page region."""
    return [
        (readme or os.environ.get("WEFT_BENCH_README", os.path.join(REPO, "docs", "benchmarks.md")),
         BEGIN, END, "README region"),
        (os.environ.get("WEFT_BENCH_HEADLINE", os.path.join(REPO, "README.md")),
         HEADLINE_BEGIN, HEADLINE_END, "headline region"),
    ]


def render(raw):
    """Everything the report writes, as {file name: text}, from raw data alone."""
    verdicts = targets(raw)
    md = markdown(raw, verdicts)
    return verdicts, {
        "results.md": "# Benchmark results\n\nWritten by `bash bench/run` (`bench/report.py`).\n\n" + md,
        "chart.svg": chart(raw, verdicts),
        "results.json": json.dumps({"provenance": raw.provenance, "targets": verdicts,
                                    "figures": raw.figures}, indent=2, ensure_ascii=False) + "\n",
        "README region": "\n" + summary(raw, verdicts),
        "headline region": headline(raw, verdicts),
    }


def check(raw_path, readme):
    raw = load(raw_path)
    _, files = render(raw)
    out = os.path.dirname(os.path.abspath(raw_path))
    failures = []
    pairs = []
    for page, begin, end, key in pages(readme):
        try:
            parts = split_readme(read(page), begin, end)
        except OSError as e:
            failures.append(f"cannot read {page}: {e}")
            continue
        if parts is None:
            failures.append(f"{page} lacks exactly one {begin} … {end} pair")
            continue
        pairs.append((f"{os.path.basename(page)} {key.split()[0]} region", parts[1], files[key]))
    for name in ("results.md", "results.json", "chart.svg"):
        try:
            have = read(os.path.join(out, name))
        except OSError:
            have = ""
        pairs.append((name, have, files[name]))
    for label, have, want in pairs:
        if have != want:
            diff = difflib.unified_diff(have.splitlines(), want.splitlines(),
                                        "committed", "rendered from raw", lineterm="", n=1)
            failures.append(f"{label} differs from what {raw_path} renders:\n" + "\n".join(list(diff)[:40]))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        print("report: out of date; re-render with `python3 bench/report.py [--allow-dirty] "
              f"{raw_path}`", file=sys.stderr)
        return 1
    print(f"report: the bench regions and {out}/results.* match {raw_path}")
    return 0


def publish(raw_path, readme, allow_dirty):
    raw = load(raw_path)
    if not raw.figures:
        sys.exit(f"report: {raw_path} holds no figures; did the benches run?")
    why = dirty(raw.provenance)
    if why and not allow_dirty:
        print(f"report: not publishing: {why}; commit and re-run, or pass --allow-dirty", file=sys.stderr)
        return 1
    verdicts, files = render(raw)
    out = os.path.dirname(os.path.abspath(raw_path))
    for name in ("results.json", "results.md", "chart.svg"):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write(files[name])
    updated = []
    for page, begin, end, key in pages(readme):
        try:
            parts = split_readme(read(page), begin, end)
        except OSError:
            parts = None
        if parts is not None:
            with open(page, "w", encoding="utf-8") as f:
                f.write(parts[0] + begin + files[key] + end + parts[2])
            updated.append(os.path.basename(page))
    print(files["results.md"])
    print(f"report: wrote {out}/results.json, results.md, chart.svg"
          + (f"; updated {', '.join(updated)}" if updated else "; no page has bench markers")
          + (f" (published despite: {why})" if why else ""))
    return 0


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    flags = {a for a in argv if a.startswith("--")}
    readme = None
    unknown = flags - {"--allow-dirty", "--check"}
    if unknown or not args:
        sys.exit("usage: report.py stamp RAW.jsonl | report.py [--allow-dirty] RAW.jsonl | "
                 "report.py --check RAW.jsonl")
    if args[0] == "stamp" and len(args) == 2:
        p = stamp(args[1])
        why = dirty(p)
        print(f"report: provenance {p['describe']} recorded in {args[1]}"
              + (f"; note: {why}" if why else ""))
        return 0
    if len(args) != 1:
        sys.exit("usage: report.py [--allow-dirty | --check] RAW.jsonl")
    if "--check" in flags:
        return check(args[0], readme)
    return publish(args[0], readme, "--allow-dirty" in flags)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
