//! Reading the conformance suite's output (its summary lines and each
//! scenario's `checks.json`) and comparing a run through weft with the same
//! run directly, for `tests/conformance.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

/// Scenarios passed, scenarios run, checks passed, checks counted (passed
/// plus failed, as the suite's summary counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Counts(pub u64, pub u64, pub u64, pub u64);

/// A check that comes out differently through weft, and why.
pub(super) struct Difference {
    pub server: &'static str,
    pub suite: &'static str,
    pub scenario: &'static str,
    pub check: &'static str,
    pub reason: &'static str,
}

/// A run compared scenario by scenario instead of check by check: no
/// scenario that passes directly may fail through weft.
pub(super) struct ByScenario {
    pub server: &'static str,
    pub suite: &'static str,
    /// Why the checks of this run may differ (weft speaks the era itself).
    pub reason: &'static str,
}

/// One run's outcome.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub passed: BTreeSet<String>,
    pub failed: BTreeSet<String>,
    checks_passed: u64,
    checks_failed: u64,
    /// Every check's status, by (scenario, check id), from `checks.json`.
    pub checks: BTreeMap<(String, String), Vec<String>>,
}

impl Outcome {
    pub fn counts(&self) -> Counts {
        Counts(
            self.passed.len() as u64,
            (self.passed.len() + self.failed.len()) as u64,
            self.checks_passed,
            self.checks_passed + self.checks_failed,
        )
    }

    /// The error messages of a scenario's checks that did not pass, for
    /// failure messages.
    pub fn failures(&self, dir: &Path, scenario: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (_, checks) in read_checks(dir).filter(|(s, _)| s == scenario) {
            for check in checks {
                let status = check["status"].as_str().unwrap_or("?");
                if status == "FAILURE" || status == "WARNING" {
                    found.push(format!(
                        "{}: {status}: {}",
                        check["id"].as_str().unwrap_or("?"),
                        check["errorMessage"].as_str().unwrap_or("(no message)")
                    ));
                }
            }
        }
        found
    }
}

/// Reads the suite's summary lines: `✓ name: 2 passed, 0 failed`.
pub(super) fn parse_summary(stdout: &str, out: &mut Outcome) {
    for line in stdout.lines() {
        let line = line.trim();
        let (ok, rest) = if let Some(r) = line.strip_prefix("✓ ") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("✗ ") {
            (false, r)
        } else {
            continue;
        };
        let Some((name, counts)) = rest.split_once(": ") else {
            continue;
        };
        let nums: Vec<u64> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [p, f, ..] = nums[..] {
            out.checks_passed += p;
            out.checks_failed += f;
        }
        if ok {
            out.passed.insert(name.to_string());
        } else {
            out.failed.insert(name.to_string());
        }
    }
}

/// Every `server-<scenario>-<timestamp>/checks.json` under `dir`:
/// (scenario, its checks).
fn read_checks(dir: &Path) -> impl Iterator<Item = (String, Vec<Value>)> {
    // The timestamp: `-2026-11-23T10-53-45-500Z`.
    const STAMP: usize = 25;
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read the suite's output {}: {e}", dir.display()));
    entries.flatten().filter_map(|entry| {
        let name = entry.file_name().to_string_lossy().to_string();
        let scenario = name
            .strip_prefix("server-")
            .filter(|s| s.len() > STAMP)
            .map(|s| s[..s.len() - STAMP].to_string())?;
        let path = entry.path().join("checks.json");
        let text = std::fs::read_to_string(&path).ok()?;
        let checks: Vec<Value> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a JSON list: {e}", path.display()));
        Some((scenario, checks))
    })
}

/// Reads every scenario's `checks.json` under `dir` into `out`.
pub(super) fn parse_checks(dir: &Path, out: &mut Outcome) {
    for (scenario, checks) in read_checks(dir) {
        for check in checks {
            let id = check["id"].as_str().unwrap_or("?").to_string();
            let status = check["status"].as_str().unwrap_or("?").to_string();
            out.checks
                .entry((scenario.clone(), id))
                .or_default()
                .push(status);
        }
    }
    for statuses in out.checks.values_mut() {
        statuses.sort();
    }
}

/// The statuses of a check, for messages: `SUCCESS`, `SUCCESS x2`, `absent`.
fn statuses(s: Option<&Vec<String>>) -> String {
    match s {
        None => "absent".to_string(),
        Some(v) => {
            let mut counted: BTreeMap<&str, usize> = BTreeMap::new();
            for status in v {
                *counted.entry(status).or_default() += 1;
            }
            counted
                .iter()
                .map(|(s, n)| {
                    if *n == 1 {
                        s.to_string()
                    } else {
                        format!("{s} x{n}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" + ")
        }
    }
}

/// Compares one run (`server` under the suite `suite`), directly and
/// through weft, against the expected differences; returns what is wrong.
pub(super) fn compare(
    (server, suite): (&str, &str),
    (direct, through): (&Outcome, &Outcome),
    differences: &[Difference],
    by_scenario: &[ByScenario],
) -> Vec<String> {
    let mut problems = Vec::new();
    let here = |d: &&Difference| d.server == server && d.suite == suite;
    if by_scenario
        .iter()
        .any(|b| b.server == server && b.suite == suite)
    {
        let lost: Vec<&String> = direct.passed.difference(&through.passed).collect();
        if !lost.is_empty() {
            problems.push(format!(
                "{server} {suite}: pass directly but fail through weft: {lost:?}"
            ));
        }
        return problems;
    }
    let keys: BTreeSet<&(String, String)> =
        direct.checks.keys().chain(through.checks.keys()).collect();
    let mut seen = BTreeSet::new();
    for key in keys {
        let (a, b) = (direct.checks.get(key), through.checks.get(key));
        let traffic = |s: Option<&Vec<String>>| s.is_none_or(|v| v.iter().all(|s| s == "INFO"));
        if a == b || (traffic(a) && traffic(b)) {
            continue;
        }
        let (scenario, check) = key;
        let expected = differences
            .iter()
            .filter(here)
            .find(|d| d.scenario == scenario && d.check == check);
        match expected {
            Some(d) => {
                seen.insert((d.scenario, d.check));
            }
            None => problems.push(format!(
                "{server} {suite}: {scenario} / {check}: directly {}, through weft {} (not an expected difference)",
                statuses(a),
                statuses(b)
            )),
        }
    }
    for d in differences.iter().filter(here) {
        if !seen.contains(&(d.scenario, d.check)) {
            problems.push(format!(
                "{server} {suite}: the expected difference {} / {} did not occur; remove it from EXPECTED_DIFFERENCES",
                d.scenario, d.check
            ));
        }
    }
    problems
}
