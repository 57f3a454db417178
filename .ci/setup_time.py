#!/usr/bin/env python3
"""The README's set-up times, from a timestamped log of `.ci/run` in a fresh
clone (written by `.ci/measure-setup`).

    python3 .ci/setup_time.py --log RUN.LOG --commit REV --cores N
        keeps the log as docs/measured/setup-run.log, parses it into
        docs/measured/setup-time.json and rewrites the README paragraph
        between the setup-time markers;
    python3 .ci/setup_time.py --check
        exits 1 if the JSON is not what the kept log gives, or the README
        paragraph is not what the JSON renders.

Standard library only.
"""

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "docs/measured/setup-time.json"
RAW = REPO / "docs/measured/setup-run.log"
README = REPO / "README.md"
BEGIN = "<!-- setup-time:begin -->"
END = "<!-- setup-time:end -->"


def parse(log_text):
    """Seconds at which each phase of `.ci/run` ended, from its log."""
    stamp = re.compile(r"^\s*(\d+)s (.*)$")
    lines = [(int(m.group(1)), m.group(2)) for m in map(stamp.match, log_text.splitlines()) if m]
    exit_line = re.search(r"^exit (\d+) after (\d+)s$", log_text, re.M)
    if not exit_line:
        raise SystemExit("the log has no closing 'exit N after Ns' line")

    def first(pattern):
        for t, text in lines:
            if re.search(pattern, text):
                return t
        raise SystemExit(f"the log has no line matching {pattern!r}")

    installs = first(r"\[setup-tools\] done in")
    nextest_start = first(r"Starting \d+ tests")
    summary = next(
        (t, text) for t, text in lines if re.search(r"Summary \[.*\] \d+ tests run", text)
    )
    tests_ran = int(re.search(r"(\d+) tests run", summary[1]).group(1))
    passed = int(re.search(r"(\d+) passed", summary[1]).group(1))
    demo_start = first(r"^\$ weft check")
    return {
        "exit": int(exit_line.group(1)),
        "total_s": int(exit_line.group(2)),
        "installs_s": installs,
        "build_s": nextest_start - installs,
        "tests_s": summary[0] - nextest_start,
        "demo_s": int(exit_line.group(2)) - demo_start,
        "tests_run": tests_ran,
        "tests_passed": passed,
    }


def minutes(s):
    m, s = divmod(int(s), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def render(d):
    return (
        f"{BEGIN}\n"
        f"Measured by `bash .ci/measure-setup` (a fresh clone of {d['commit']}, "
        f"{d['cores']} cores; crates, npm and PyPI packages already in the "
        f"machine's download caches): the whole CI run (`.ci/run`: installs, "
        f"tests, then the demo) took {minutes(d['total_s'])}: "
        f"{minutes(d['installs_s'])} of installs, {minutes(d['build_s'])} of "
        f"build (guests, workspace, test binary and benches), "
        f"{minutes(d['tests_s'])} for the {d['tests_run']} tests "
        f"({d['tests_passed']} passed), and {minutes(d['demo_s'])} for the demo, "
        f"which builds nothing the tests did not.\n"
        f"{END}"
    )


def section(text):
    a, b = text.find(BEGIN), text.find(END)
    if a < 0 or b < a:
        raise SystemExit(f"README.md has no {BEGIN} … {END} section")
    return a, b + len(END)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log")
    ap.add_argument("--commit")
    ap.add_argument("--cores", type=int)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.log:
        raw = Path(args.log).read_text(encoding="utf-8", errors="replace")
        DATA.parent.mkdir(parents=True, exist_ok=True)
        RAW.write_text(raw)
        d = parse(raw)
        d["commit"] = args.commit or "unknown"
        d["cores"] = args.cores or 0
        DATA.parent.mkdir(parents=True, exist_ok=True)
        DATA.write_text(json.dumps(d, indent=2) + "\n")
    d = json.loads(DATA.read_text())
    if args.check:
        # The figures must be what the committed raw log gives.
        again = parse(RAW.read_text(encoding="utf-8", errors="replace"))
        if any(d[k] != v for k, v in again.items()):
            print("docs/measured/setup-time.json differs from what setup-run.log gives; "
                  "run `python3 .ci/setup_time.py --log docs/measured/setup-run.log "
                  "--commit REV --cores N`")
            sys.exit(1)
    text = README.read_text()
    a, b = section(text)
    want = render(d)
    if args.check:
        if text[a:b] != want:
            print("README.md's set-up times differ from docs/measured/setup-time.json; "
                  "run `python3 .ci/setup_time.py` (or `bash .ci/measure-setup` to measure again)")
            sys.exit(1)
        return
    README.write_text(text[:a] + want + text[b:])
    print(f"wrote {DATA.relative_to(REPO)} and the README's set-up paragraph")


if __name__ == "__main__":
    main()
