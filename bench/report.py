#!/usr/bin/env python3
"""Turns the figures the benches recorded (JSON lines) into the suite's report.

    python3 bench/report.py bench/results/raw.jsonl

Writes, next to the input:
  results.json  every figure, the machine, and each target with its verdict
  results.md    the same as Markdown tables
  chart.svg     ratios (weft against each alternative) and gateway throughput
and replaces the text between the bench markers in README.md with the
summary. Only the standard library is used.
"""

import datetime
import html
import json
import os
import platform
import subprocess
import sys

CASES = {
    "1": "Host call overhead",
    "2": "Policy start",
    "3": "Code as policy, against round trips",
    "4": "Gateway",
    "5": "Scale",
}
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def load(path):
    figures = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                figures.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"report: {path}:{n} is not JSON ({e})")
    return figures


def find(figures, case, *words):
    """The first figure of `case` whose name contains every word."""
    for f in figures:
        name = f["name"].lower()
        if f["case"] == case and all(w.lower() in name for w in words):
            return f
    return None


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass

    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "os": platform.platform(),
        "rustc": run("rustc", "--version"),
        "commit": run("git", "rev-parse", "--short", "HEAD"),
    }


def target(label, figure, check, goal):
    """One target's verdict: met, missed, or not measured."""
    if figure is None:
        return {"target": label, "goal": goal, "figure": None, "verdict": "not measured"}
    return {
        "target": label,
        "goal": goal,
        "figure": f"{fmt(figure['value'])} {figure['unit']} ({figure['name']})",
        "verdict": "met" if check(figure["value"]) else "missed",
    }


def targets(figures):
    out = [
        target("1. guest call-tool overhead", find(figures, "1", "overhead", "p50"),
               lambda v: v <= 2.0, "≤ 2 µs p50"),
        target("2. warm policy start", find(figures, "2", "warm", "p50"),
               lambda v: v <= 50.0, "≤ 50 µs p50"),
        target("3. policy vs direct Python client, N=10", find(figures, "3", "python client /", "n=10"),
               lambda v: v >= 1.0, "≥ 1x (no slower)"),
        target("3. policy vs subprocess + bridge, N=10", find(figures, "3", "subprocess", "/", "n=10"),
               lambda v: v >= 10.0, "≥ 10x"),
        target("4. latency weft adds (rmcp client)", find(figures, "4", "weft added p50"),
               lambda v: v <= 150.0, "≤ 150 µs p50"),
        target("4. latency weft adds (plain HTTP client)", find(figures, "4", "weft added", "plain"),
               lambda v: v <= 150.0, "≤ 150 µs p50"),
    ]
    for f in figures:
        n = f["name"].lower()
        if f["case"] == "4" and f["unit"] == "x" and n.startswith("weft/"):
            out.append(target(f"4. throughput ahead of {f['name'].split('/')[1].split()[0]}",
                              f, lambda v: v > 1.0, "> 1x"))
    out.append(target("5. tools/list of 5,000 tools (as served)", find(figures, "5", "tools/list", "body received", "p50"),
                      lambda v: v <= 5000.0, "≤ 5 ms p50"))
    out.append(target("5. tools/list of 5,000 tools (parsed by an rmcp client)", find(figures, "5", "tools/list", "parsed", "p50"),
                      lambda v: v <= 5000.0, "≤ 5 ms p50"))
    return out


def fmt(v):
    if v != v:  # NaN
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def markdown(figures, verdicts, env):
    lines = [
        f"Machine: {env['cores']} cores, {env['cpu'] or 'unknown CPU'}; {env['rustc']}; "
        f"commit {env['commit']}; {env['date']}.",
        "",
        "| target | goal | measured | verdict |",
        "|---|---|---|---|",
    ]
    for t in verdicts:
        lines.append(f"| {t['target']} | {t['goal']} | {t['figure'] or '—'} | {t['verdict']} |")
    for case, title in CASES.items():
        rows = [f for f in figures if f["case"] == case]
        if not rows:
            continue
        lines += ["", f"### {case}. {title}", "", "| figure | value | unit |", "|---|---|---|"]
        lines += [f"| {f['name']} | {fmt(f['value'])} | {f['unit']} |" for f in rows]
    return "\n".join(lines) + "\n"


def bar_panel(title, bars, x0, y0, width, unit, reference=None):
    """A horizontal bar chart as SVG elements; returns (elements, height)."""
    els = [f'<text x="{x0}" y="{y0 + 14}" font-weight="bold">{html.escape(title)}</text>']
    if not bars:
        return els, 30
    label_w, row_h = 250, 22
    top = y0 + 26
    finite = [v for _, v in bars if v == v]
    vmax = max(finite + [reference or 0]) or 1.0
    scale = (width - label_w - 90) / vmax
    for i, (label, v) in enumerate(bars):
        y = top + i * row_h
        w = 0 if v != v else max(1.0, v * scale)
        els.append(f'<text x="{x0 + label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(label)}</text>')
        els.append(f'<rect x="{x0 + label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="#3b6ea5"/>')
        els.append(f'<text x="{x0 + label_w + w + 4:.1f}" y="{y + 15}">{fmt(v)}{html.escape(unit)}</text>')
    height = 26 + len(bars) * row_h + 10
    if reference is not None:
        x = x0 + label_w + reference * scale
        els.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + len(bars) * row_h}" '
                   'stroke="#c0392b" stroke-dasharray="4 3"/>')
    return els, height


def chart(figures):
    width = 760
    ratios = [(f"{f['name']}", f["value"]) for f in figures if f["unit"] == "x"]
    gateway = [(f["name"].replace(" calls/s", ""), f["value"])
               for f in figures if f["case"] == "4" and f["unit"] == "calls/s" and "c=16" in f["name"]]
    els, y = [], 10
    e, h = bar_panel("Ratios: how many times better weft is (dashed line: 1x = even)",
                     ratios, 10, y, width, "x", reference=1.0)
    els += e
    y += h + 20
    e, h = bar_panel("Gateway throughput at concurrency 16 (calls/s, higher is better)",
                     gateway, 10, y, width, "")
    els += e
    y += h + 10
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
            f'font-family="sans-serif" font-size="12">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(els) + "\n</svg>\n")


def update_readme(readme, summary):
    try:
        text = open(readme, encoding="utf-8").read()
    except OSError:
        return False
    if BEGIN not in text or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme, "w", encoding="utf-8") as f:
        f.write(head + BEGIN + "\n" + summary + END + tail)
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RAW.jsonl")
    raw = sys.argv[1]
    figures = load(raw)
    if not figures:
        sys.exit(f"report: {raw} holds no figures; did the benches run?")
    out = os.path.dirname(os.path.abspath(raw))
    env = machine()
    verdicts = targets(figures)
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump({"machine": env, "targets": verdicts, "figures": figures}, f, indent=2, ensure_ascii=False)
        f.write("\n")
    md = markdown(figures, verdicts, env)
    with open(os.path.join(out, "results.md"), "w", encoding="utf-8") as f:
        f.write("# Benchmark results\n\nWritten by `bash bench/run`.\n\n" + md)
    with open(os.path.join(out, "chart.svg"), "w", encoding="utf-8") as f:
        f.write(chart(figures))
    summary_rows = ["| target | goal | measured | verdict |", "|---|---|---|---|"]
    summary_rows += [f"| {t['target']} | {t['goal']} | {t['figure'] or '—'} | {t['verdict']} |" for t in verdicts]
    summary = (f"Last run: {env['date']}, {env['cores']} cores, commit {env['commit']} "
               "(all figures: [bench/results/results.md](bench/results/results.md)).\n\n"
               + "\n".join(summary_rows) + "\n\n![benchmark chart](bench/results/chart.svg)\n")
    readme = os.path.join(out, "..", "..", "README.md")
    updated = update_readme(readme, summary)
    print(md)
    print(f"report: wrote {out}/results.json, results.md, chart.svg"
          + ("; README summary updated" if updated else "; README has no bench markers"))


if __name__ == "__main__":
    main()
