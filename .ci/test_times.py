#!/usr/bin/env python3
"""Where the tests' time goes: summarises nextest's JUnit report (each test's
seconds) as JSON: the count, the summed seconds, and the slowest tests and
modules.

Usage: .ci/test_times.py JUNIT.xml [--label TEXT] [--top N] > summary.json

Standard library only.
"""

import argparse
import json
import sys
import xml.etree.ElementTree as ET


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit")
    parser.add_argument("--label", default="")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    tests = []
    for case in ET.parse(args.junit).getroot().iter("testcase"):
        name = case.get("name", "")
        tests.append((name, float(case.get("time", "0") or 0)))
    if not tests:
        sys.exit(f"{args.junit} lists no test")
    modules = {}
    for name, secs in tests:
        module = name.split("::")[0] if "::" in name else name
        modules[module] = modules.get(module, 0.0) + secs
    summed = sum(secs for _, secs in tests)
    ranked = sorted(tests, key=lambda t: -t[1])
    summary = {
        "label": args.label,
        "tests": len(tests),
        "summed_s": round(summed, 1),
        "slowest": [{"test": n, "seconds": round(s, 1)} for n, s in ranked[: args.top]],
        "modules": [
            {"module": m, "seconds": round(s, 1), "share": round(s / summed, 4) if summed else 0}
            for m, s in sorted(modules.items(), key=lambda kv: -kv[1])[: args.top]
        ],
    }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
