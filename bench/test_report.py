"""Tests of bench/report.py (run by `bash bench/check`, or
`python3 -m unittest bench/test_report.py`). Standard library only; each
test works in its own temporary directory."""

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COMMITTED = os.path.join(HERE, "results", "raw.jsonl")
README = "# x\n\nbefore\n\n" + report.BEGIN + "\nold\n" + report.END + "\n\nafter\n"
HEADLINE = "# y\n\n" + report.HEADLINE_BEGIN + "\nold\n" + report.HEADLINE_END + "\n"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def clean_provenance(describe="abc1234"):
    return {"provenance": {"describe": describe, "commit": "abc1234" + "0" * 33,
                           "date": "2026-01-01 00:00 UTC", "cores": 2, "cpu": "cpu",
                           "os": "linux", "rustc": "rustc 1.95.0"}}


class ReportTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="weft-report-")
        self.raw = os.path.join(self.dir, "results", "raw.jsonl")
        os.makedirs(os.path.dirname(self.raw))
        self.readme = os.path.join(self.dir, "README.md")
        with open(self.readme, "w", encoding="utf-8") as f:
            f.write(README)
        os.environ["WEFT_BENCH_README"] = self.readme
        self.headline = os.path.join(self.dir, "FRONT.md")
        with open(self.headline, "w", encoding="utf-8") as f:
            f.write(HEADLINE)
        os.environ["WEFT_BENCH_HEADLINE"] = self.headline

    def tearDown(self):
        shutil.rmtree(self.dir)
        os.environ.pop("WEFT_BENCH_README", None)
        os.environ.pop("WEFT_BENCH_HEADLINE", None)

    def write_raw(self, lines):
        with open(self.raw, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")

    def main(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = report.main(list(args))
        return code, out.getvalue(), err.getvalue()

    def figures(self):
        return [{"case": "4", "name": "weft added p50", "unit": "µs", "value": 300.0},
                {"case": "4", "name": "weft/mcp-proxy calls/s c=16", "unit": "x", "value": 7.0}]

    def test_dirty_tree_is_refused_in_one_line_and_nothing_is_written(self):
        self.write_raw([clean_provenance("abc1234-dirty")] + self.figures())
        code, _, err = self.main(self.raw)
        self.assertEqual(code, 1)
        self.assertEqual(err.count("\n"), 1)
        self.assertIn("dirty tree (abc1234-dirty)", err)
        self.assertIn("--allow-dirty", err)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "results", "results.json")))
        self.assertEqual(read(self.readme), README)

    def test_missing_provenance_is_refused(self):
        self.write_raw(self.figures())
        code, _, err = self.main(self.raw)
        self.assertEqual(code, 1)
        self.assertIn("no provenance", err)

    def test_allow_dirty_publishes_and_the_provenance_is_in_results_json(self):
        self.write_raw([clean_provenance("abc1234-dirty")] + self.figures())
        code, _, _ = self.main("--allow-dirty", self.raw)
        self.assertEqual(code, 0)
        data = json.loads(read(os.path.join(self.dir, "results", "results.json")))
        self.assertEqual(data["provenance"]["describe"], "abc1234-dirty")
        self.assertEqual(data["provenance"]["commit"], "abc1234" + "0" * 33)
        text = read(self.readme)
        self.assertTrue(text.startswith("# x\n\nbefore\n\n" + report.BEGIN + "\n"))
        self.assertTrue(text.endswith(report.END + "\n\nafter\n"))
        self.assertIn("tree `abc1234-dirty`", text)

    def test_clean_tree_publishes_without_the_flag(self):
        self.write_raw([clean_provenance()] + self.figures())
        self.assertEqual(self.main(self.raw)[0], 0)

    def test_a_peer_not_installed_shows_as_not_measured_in_every_output(self):
        self.write_raw([clean_provenance()] + self.figures() + [
            {"case": "4", "name": "mcp-hub → stdio", "unit": "", "value": None,
             "reason": "not installed: run `bash bench/setup-peers`"}])
        self.assertEqual(self.main(self.raw)[0], 0)
        readme = read(self.readme)
        row = [l for l in readme.splitlines()
               if l.startswith("| 4. throughput ahead of mcp-hub, c=16, rmcp client |")]
        self.assertEqual(row, ["| 4. throughput ahead of mcp-hub, c=16, rmcp client | > 1x | "
                               "not measured (not installed: run `bash bench/setup-peers`) | not measured |"])
        self.assertIn("mcp-hub not measured (not installed", readme)
        svg = read(os.path.join(self.dir, "results", "chart.svg"))
        self.assertIn("throughput ahead of mcp-hub, c=16, rmcp client", svg)
        # A peer with no line at all is not measured either, never blank.
        row = [l for l in readme.splitlines()
               if l.startswith("| 4. throughput ahead of fastmcp, c=64, rmcp client |")]
        self.assertEqual(row, ["| 4. throughput ahead of fastmcp, c=64, rmcp client | > 1x | "
                               "not measured (no figure in this run) | not measured |"])
        self.assertNotIn("| — |", readme)

    def test_check_passes_on_what_publish_wrote_and_fails_on_a_hand_edit(self):
        self.write_raw([clean_provenance()] + self.figures())
        self.assertEqual(self.main(self.raw)[0], 0)
        self.assertEqual(self.main("--check", self.raw)[0], 0)
        text = read(self.readme)
        with open(self.readme, "w", encoding="utf-8") as f:
            f.write(text.replace("300 µs", "150 µs"))
        code, _, err = self.main("--check", self.raw)
        self.assertEqual(code, 1)
        self.assertIn("README.md README region differs", err)

    def test_the_headline_has_its_rows_and_the_count_and_is_checked(self):
        self.write_raw([clean_provenance()] + self.figures())
        self.assertEqual(self.main(self.raw)[0], 0)
        text = read(self.headline)
        self.assertTrue(text.startswith("# y\n\n" + report.HEADLINE_BEGIN + "\n"), text)
        # Two targets have figures here: 300 µs (rmcp client) misses, 7x meets.
        self.assertIn(": 1 of 2 targets met; missed: 4. latency weft adds (rmcp client) "
                      "(300 µs (weft added p50), goal ≤ 150 µs p50).", text)
        self.assertIn("| 4. throughput ahead of mcp-proxy, c=16, rmcp client | > 1x | 7.00 x", text)
        self.assertIn("| 4. latency weft adds (plain HTTP client) | ≤ 150 µs p50 | not measured", text)
        self.assertNotIn("mcp-hub", text)
        with open(self.headline, "w", encoding="utf-8") as f:
            f.write(text.replace("1 of 2", "2 of 2"))
        code, _, err = self.main("--check", self.raw)
        self.assertEqual(code, 1)
        self.assertIn("FRONT.md headline region differs", err)

    def test_rendering_depends_on_the_raw_data_alone(self):
        lines = [clean_provenance()] + self.figures()
        self.write_raw(lines)
        first = report.render(report.load(self.raw))[1]
        self.write_raw(lines)
        self.assertEqual(report.render(report.load(self.raw))[1], first)

    def test_throughput_targets_are_set_from_the_baseline_run(self):
        base = os.path.join(self.dir, "baseline.jsonl")
        with open(base, "w", encoding="utf-8") as f:
            for line in [clean_provenance("base123"),
                         {"case": "4", "name": "weft → stdio, plain HTTP client calls/s c=16",
                          "unit": "calls/s", "value": 1000.0}]:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
        os.environ["WEFT_BENCH_BASELINE"] = base
        try:
            self.write_raw([clean_provenance()] + self.figures() + [
                {"case": "4", "name": "weft → stdio, plain HTTP client calls/s c=16",
                 "unit": "calls/s", "value": 1600.0},
                {"case": "4", "name": "weft → stdio, plain HTTP client calls/s c=64",
                 "unit": "calls/s", "value": 1600.0}])
            verdicts = {t["target"]: t for t in report.targets(report.load(self.raw))}
        finally:
            os.environ.pop("WEFT_BENCH_BASELINE")
        c16 = verdicts["4. gateway calls/s, c=16, plain HTTP client, 1.5x the baseline run"]
        self.assertEqual(c16["goal"], "≥ 1,500 calls/s (1.5 × 1,000 in run `base123`)")
        self.assertEqual(c16["verdict"], "met")
        # No baseline figure: not measured, never a made-up goal.
        c64 = verdicts["4. gateway calls/s, c=64, plain HTTP client, 1.5x the baseline run"]
        self.assertEqual(c64["verdict"], report.NOT_MEASURED)

    def test_code_mode_targets_and_the_description_size_are_reported(self):
        self.write_raw([clean_provenance()] + self.figures() + [
            {"case": "8", "name": "weft_run_code, Python, 10 calls p50", "unit": "ms", "value": 7.5},
            {"case": "8", "name": "weft_run_code, JavaScript, 10 calls p50", "unit": "ms", "value": 12.0},
            {"case": "8", "name": "API description, example config: size", "unit": "bytes", "value": 9876.0},
            {"case": "8", "name": "API description, example config: tools described", "unit": "tools",
             "value": 31.0}])
        verdicts = {t["target"]: t for t in report.targets(report.load(self.raw))}
        py = verdicts["8. weft_run_code of 10 echo calls in Python, end to end through weft serve"]
        self.assertEqual((py["goal"], py["verdict"]), ("≤ 10 ms p50", "met"))
        self.assertEqual(py["figure"], "7.50 ms (weft_run_code, Python, 10 calls p50)")
        js = verdicts["8. weft_run_code of 10 echo calls in JavaScript, end to end through weft serve"]
        self.assertEqual(js["verdict"], "missed")
        self.assertEqual(self.main(self.raw)[0], 0)
        readme = read(self.readme)
        self.assertIn("example config's five servers (not measured): 9,876 bytes, describing 31 tools", readme)
        # A figure the run lacks reads "not measured", never a blank.
        self.assertIn("10 agent calls through `weft serve`: not measured;", readme)
        self.assertIn("### 8. Code mode, end to end", read(os.path.join(self.dir, "results", "results.md")))

    def test_the_journal_figures_get_a_table_and_a_target_of_their_own(self):
        journal = [
            {"case": "9", "name": "journal per call NORMAL p50", "unit": "µs", "value": 41.0},
            {"case": "9", "name": "journal per call FULL p50", "unit": "µs", "value": 900.0},
            {"case": "9", "name": "10-call runs/s journal off", "unit": "runs/s", "value": 5000.0},
            {"case": "9", "name": "resume 1000 calls", "unit": "ms", "value": 13.0},
        ]
        self.write_raw([clean_provenance()] + journal)
        verdicts = {t["target"]: t for t in report.targets(report.load(self.raw))}
        cost = verdicts["9. the journal's cost per call-tool, SQLite (synchronous NORMAL)"]
        self.assertEqual((cost["goal"], cost["verdict"]), ("≤ 50 µs p50", "met"))
        md = report.markdown(report.load(self.raw), [])
        section = md.split("### 9. Durable runs: the journal\n", 1)[1]
        self.assertIn("| resume 1000 calls | 13.0 | ms |", section)
        # A run without the journal's figures has no such target.
        self.write_raw([clean_provenance()])
        names = [t["target"] for t in report.targets(report.load(self.raw))]
        self.assertFalse(any(n.startswith("9.") for n in names), names)

    def test_stamp_records_describe_and_commit(self):
        self.assertEqual(self.main("stamp", self.raw)[0], 0)
        p = report.load(self.raw).provenance
        self.assertEqual(p["describe"], report.git("describe", "--always", "--dirty"))
        self.assertEqual(p["commit"], report.git("rev-parse", "HEAD"))

    def test_the_committed_raw_data_renders_every_figure_of_the_readme(self):
        raw = report.load(COMMITTED)
        self.assertIsNotNone(raw.provenance)
        region = report.render(raw)[1]["README region"]
        # Spot checks: figures the README used to carry by hand now come
        # from the raw data.
        self.assertIn(report.shown(raw.get("4", "weft CPU per call (plain HTTP client)")), region)
        self.assertIn(report.shown(raw.get("4", "weft added p50 (plain HTTP client)")), region)

    def test_the_adapter_figures_get_a_table_of_their_own(self):
        self.write_raw([clean_provenance(),
                        {"case": "7", "name": "openapi adapter calls/s c=16", "unit": "calls/s", "value": 812.0},
                        {"case": "7", "name": "fixture called directly calls/s c=16", "unit": "calls/s",
                         "value": 1530.0},
                        {"case": "7", "name": "openapi adapter / direct calls/s c=16", "unit": "ratio",
                         "value": 0.53}])
        md = report.markdown(report.load(self.raw), [])
        section = md.split("### 7. Adapters\n", 1)[1]
        self.assertIn("| openapi adapter calls/s c=16 | 812 | calls/s |", section)
        self.assertIn("| fixture called directly calls/s c=16 | 1,530 | calls/s |", section)
        self.assertIn("| openapi adapter / direct calls/s c=16 | 0.53 | ratio |", section)

    def test_the_adapter_targets_show_once_a_run_measured_them(self):
        self.write_raw([clean_provenance()] + self.figures())
        names = [t["target"] for t in report.targets(report.load(self.raw))]
        self.assertFalse([n for n in names if n.startswith("7.")], names)
        self.write_raw([clean_provenance()] + self.figures() + [
            {"case": "7", "name": "trivial adapter call p50", "unit": "µs", "value": 31.0},
            {"case": "7", "name": "idle adapter / idle Node server memory", "unit": "ratio", "value": 0.25}])
        verdicts = {t["target"]: t for t in report.targets(report.load(self.raw))}
        call = verdicts["7. a trivial adapter tool call through the router"]
        self.assertEqual((call["goal"], call["verdict"]), ("≤ 50 µs p50", "met"))
        memory = verdicts["7. memory per idle adapter, against an idle Node MCP server"]
        self.assertEqual((memory["goal"], memory["verdict"]), ("≤ 1/10", "missed"))
        self.assertEqual(memory["figure"], "0.25 ratio (idle adapter / idle Node server memory)")


if __name__ == "__main__":
    unittest.main()
