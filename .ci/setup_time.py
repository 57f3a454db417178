#!/usr/bin/env python3
"""The README's set-up times, from a timestamped log of `bash .ci/demo` and
then `bash .ci/test` in a fresh clone with empty download caches (written by
`.ci/measure-setup`).

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
# `cargo install --locked --path host`, timed by .ci/measure-install.
INSTALL = REPO / "docs/measured/install-time.json"
INSTALL_BEGIN = "<!-- install-time:begin -->"
INSTALL_END = "<!-- install-time:end -->"


def parse(log_text):
    """The seconds each command and each of its phases took, from the log."""
    stamp = re.compile(r"^\s*(\d+)s (.*)$")
    rows = log_text.splitlines()

    def ended(what):
        for i, row in enumerate(rows):
            m = re.match(rf"^{what} exit (\d+) after (\d+)s$", row)
            if m:
                return i, int(m.group(1))
        raise SystemExit(f"the log has no closing '{what} exit N after Ns' line")

    demo_end, demo_exit = ended("demo")
    tests_end, tests_exit = ended("tests")
    demo = [(int(m.group(1)), m.group(2)) for m in map(stamp.match, rows[:demo_end]) if m]
    tests = [(int(m.group(1)), m.group(2)) for m in map(stamp.match, rows[demo_end:tests_end]) if m]
    if not demo or not tests:
        raise SystemExit("the log has no stamped line of the demo or of the tests")

    def at(lines, pattern):
        for t, text in lines:
            if re.search(pattern, text):
                return t
        raise SystemExit(f"the log has no line matching {pattern!r}")

    def took(pattern):
        return int(re.search(r"took (\d+) s", next(
            text for _, text in tests if re.search(pattern, text))).group(1))

    demo_last = demo[-1][0]
    tests_start = demo_last
    summary = next(text for _, text in tests if re.search(r"Summary \[.*\] \d+ tests run", text))
    nextest_s = float(re.search(r"Summary \[\s*([\d.]+)s\]", summary).group(1))
    return {
        "empty_caches": True,
        "demo_exit": demo_exit,
        "demo_total_s": demo_last,
        "demo_binary_built_s": at(demo, r"^\[demo\] weft is built"),
        "demo_started_s": at(demo, r"^\[demo\] the tools are installed"),
        "tests_exit": tests_exit,
        "tests_total_s": tests[-1][0] - tests_start,
        "tests_build_s": took(r"^\[test\] the workspace build took"),
        # The installs and the guests run in the background during the
        # build; this is how much longer they took.
        "tests_installs_and_guests_s": took(r"^\[test\] the rest of the installs and the Wasm guests took"),
        "tests_checks_s": took(r"^\[test\] the bench report's checks"),
        "tests_run_s": round(nextest_s),
        "tests_run": int(re.search(r"(\d+) tests run", summary).group(1)),
        "tests_passed": int(re.search(r"(\d+) passed", summary).group(1)),
    }


def minutes(s):
    m, s = divmod(int(s), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def render(d):
    return (
        f"{BEGIN}\n"
        f"Measured by `bash .ci/measure-setup` (a fresh clone of {d['commit']} on "
        f"{d['cores']} cores, with empty cargo, npm and pip download caches): "
        f"`bash .ci/demo` took {minutes(d['demo_total_s'])} to its last line "
        f"(weft's binary was built after {minutes(d['demo_binary_built_s'])}, "
        f"the demo itself ran for {minutes(d['demo_total_s'] - d['demo_started_s'])}), "
        f"and `bash .ci/test` right after it took {minutes(d['tests_total_s'])}: "
        f"{minutes(d['tests_build_s'])} of build (the test binary, the unit tests, "
        f"the test servers, the benches and the examples) with the installs and "
        f"the Wasm guests beside it, {minutes(d['tests_installs_and_guests_s'])} "
        f"more until those were done, {minutes(d['tests_checks_s'])} of checks "
        f"and doctests, and {minutes(d['tests_run_s'])} for the {d['tests_run']} "
        f"tests ({d['tests_passed']} passed).\n"
        f"{END}"
    )


def render_install(d):
    return (
        f"{INSTALL_BEGIN}\n"
        f"`cargo install --locked --path host` puts `weft` on your `PATH` (in "
        f"`~/.cargo/bin`): it took {minutes(d['install_s'])} on {d['cores']} cores "
        f"from empty download caches (a fresh clone of {d['commit']}, measured by "
        f"`bash .ci/measure-install`), a release build of the same crates.\n"
        f"{INSTALL_END}"
    )


def section(text, begin=BEGIN, end=END):
    a, b = text.find(begin), text.find(end)
    if a < 0 or b < a:
        raise SystemExit(f"README.md has no {begin} … {end} section")
    return a, b + len(end)


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
        if any(d.get(k) != v for k, v in again.items()):
            print("docs/measured/setup-time.json differs from what setup-run.log gives; "
                  "run `python3 .ci/setup_time.py --log docs/measured/setup-run.log "
                  "--commit REV --cores N`")
            sys.exit(1)
    text = README.read_text()
    sections = [(BEGIN, END, render(d), DATA)]
    if INSTALL.exists():
        sections.append((INSTALL_BEGIN, INSTALL_END, render_install(json.loads(INSTALL.read_text())), INSTALL))
    for begin, end, want, data in sections:
        a, b = section(text, begin, end)
        if args.check and text[a:b] != want:
            print(f"README.md's paragraph between {begin} and {end} differs from "
                  f"{data.relative_to(REPO)}; run `python3 .ci/setup_time.py` (or "
                  "`bash .ci/measure-setup` / `bash .ci/measure-install` to measure again)")
            sys.exit(1)
        text = text[:a] + want + text[b:]
    if args.check:
        return
    README.write_text(text)
    print(f"wrote {DATA.relative_to(REPO)} and the README's set-up paragraphs")


if __name__ == "__main__":
    main()
