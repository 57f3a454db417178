//! The official conformance suite's client scenarios against weft's
//! upstream layer: the suite (0.2.0-alpha.12) starts each scenario's
//! server and runs `examples/conformance_client.rs` on its URL, which
//! connects weft to it as its only upstream, lists its tools and calls
//! each once. Each scenario's checks are counted exactly: a scenario that
//! passes here and stops passing fails this test.
//!
//! The core scenarios of both eras, and every `auth/*` scenario: the
//! suite hosts each one's authorization server, and weft's OAuth client
//! (discovery, registration, PKCE, `resource`, `iss`, step-up, client
//! credentials with a secret or a private key, the JWT-bearer grant of
//! workload identity, enterprise-managed authorization, DPoP with nonces)
//! logs in through the example's authorizer, which approves as a browser
//! would. The example answers a server's requests for input (elicitation
//! with each field's default, SEP-1034) as an agent would, through the
//! library's `Forward`.
//!
//! The counts go to `target/conformance/client.json`, and the README's
//! client table must be what `.ci/conformance_readme.py --section client`
//! makes of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::*;

/// Each scenario and its checks: (succeeded, failed).
const EXPECTED: &[(&str, usize, usize)] = &[
    ("initialize", 1, 0),
    ("tools_call", 2, 0),
    ("sse-retry", 3, 0),
    ("http-standard-headers", 7, 0),
    ("http-invalid-tool-headers", 12, 0),
    ("json-schema-ref-no-deref", 1, 0),
    ("http-custom-headers", 6, 0),
    ("json-schema-2020-12-preservation", 9, 0),
    ("request-metadata", 7, 0),
    ("sep-2322-client-request-state", 5, 0),
    ("elicitation-sep1034-client-defaults", 5, 0),
    ("auth/metadata-default", 19, 0),
    ("auth/metadata-var1", 19, 0),
    ("auth/metadata-var2", 19, 0),
    ("auth/metadata-var3", 19, 0),
    ("auth/basic-cimd", 14, 0),
    ("auth/scope-from-www-authenticate", 15, 0),
    ("auth/scope-from-scopes-supported", 15, 0),
    ("auth/scope-omitted-when-undefined", 15, 0),
    ("auth/scope-step-up", 21, 0),
    ("auth/scope-retry-limit", 10, 0),
    ("auth/token-endpoint-auth-basic", 20, 0),
    ("auth/token-endpoint-auth-post", 20, 0),
    ("auth/token-endpoint-auth-none", 20, 0),
    ("auth/pre-registration", 14, 0),
    ("auth/2025-03-26-oauth-metadata-backcompat", 13, 0),
    ("auth/2025-03-26-oauth-endpoint-fallback", 8, 0),
    ("auth/resource-mismatch", 2, 0),
    ("auth/offline-access-scope", 14, 0),
    ("auth/offline-access-not-supported", 16, 0),
    ("auth/authorization-server-migration", 29, 0),
    ("auth/iss-supported", 16, 0),
    ("auth/iss-not-advertised", 16, 0),
    ("auth/iss-supported-missing", 8, 0),
    ("auth/iss-wrong-issuer", 8, 0),
    ("auth/iss-unexpected", 8, 0),
    ("auth/iss-normalized", 8, 0),
    ("auth/metadata-issuer-mismatch", 3, 0),
    ("auth/client-credentials-basic", 9, 0),
    // The extensions: private-key JWT client credentials, enterprise
    // managed authorization, DPoP (with and without nonces), workload
    // identity federation.
    ("auth/client-credentials-jwt", 9, 0),
    ("auth/enterprise-managed-authorization", 10, 0),
    ("auth/dpop", 12, 0),
    ("auth/dpop-nonce", 14, 0),
    ("auth/wif-jwt-bearer", 9, 0),
];

fn client_bin() -> PathBuf {
    let weft = target_bin("weft");
    let bin = weft
        .parent()
        .expect("the target folder")
        .join("examples/conformance_client");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p weft-examples --examples`",
        bin.display()
    );
    bin
}

/// Runs one client scenario; returns its checks' statuses, but not the
/// informational ones (a warning with its message).
fn run(scenario: &str, out: &Path) -> Vec<(String, String)> {
    let entry = crate::conformance::suite_entry("conformance-alpha");
    let mut cmd = Command::new(node22());
    cmd.arg(&entry)
        .args(["client", "--scenario", scenario, "--command"])
        .arg(client_bin())
        .arg("-o")
        .arg(out)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    isolate(&mut cmd);
    let ran = cmd.output_timed().expect("run the conformance suite");
    // The suite saves `auth/NAME` under `auth/NAME-TIME`.
    let (folder, name) = scenario.rsplit_once('/').unwrap_or(("", scenario));
    let dir = std::fs::read_dir(out.join(folder))
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}-")))
        })
        .unwrap_or_else(|| {
            panic!(
                "{scenario}: the suite saved no results:\n{}\n{}",
                String::from_utf8_lossy(&ran.stdout),
                String::from_utf8_lossy(&ran.stderr)
            )
        });
    let text = std::fs::read_to_string(dir.join("checks.json")).expect("checks.json");
    let checks: Vec<Value> = serde_json::from_str(&text).expect("checks.json is JSON");
    // Passed and failed checks are counted; a warning is kept too (with
    // the suite's message), so that a count that differs says why.
    checks
        .iter()
        .map(|c| {
            let status = c["status"].as_str().unwrap_or_default();
            let status = match c["errorMessage"].as_str() {
                Some(why) if status == "WARNING" => format!("WARNING: {why}"),
                _ => status.to_string(),
            };
            (c["id"].as_str().unwrap_or_default().to_string(), status)
        })
        .filter(|(_, status)| status != "INFO")
        .collect()
}

#[test]
fn the_suites_client_scenarios_pass_against_weft_as_a_client() {
    let dir = temp_dir();
    let mut report = Vec::new();
    let mut measured = Vec::new();
    for (scenario, passed, failed) in EXPECTED {
        let checks = run(scenario, &dir.path().join(scenario.replace('/', "-")));
        let ok = checks.iter().filter(|(_, s)| s == "SUCCESS").count();
        let bad = checks.iter().filter(|(_, s)| s == "FAILURE").count();
        measured.push(json!({"scenario": scenario, "passed": ok, "checks": ok + bad}));
        if (ok, bad) != (*passed, *failed) {
            report.push(format!(
                "{scenario}: {ok} passed, {bad} failed; expected {passed} and {failed}: {checks:?}"
            ));
        }
    }
    let results = repo_root().join("target/conformance/client.json");
    std::fs::create_dir_all(results.parent().expect("a folder"))
        .expect("create target/conformance");
    let text = serde_json::to_string_pretty(&json!({
        "suite": "0.2.0-alpha.12",
        "scenarios": measured,
    }))
    .expect("encode results");
    std::fs::write(&results, text + "\n").expect("write client.json");
    assert!(report.is_empty(), "{}", report.join("\n"));
    crate::conformance::readme_matches("client", &results);
}
