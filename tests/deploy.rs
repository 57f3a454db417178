//! The deployment examples in `deploy/` (issue 60): the Kubernetes
//! manifests pass Kubernetes' own schemas strictly (kubernetes-validate,
//! pinned by `.ci/setup-tools`), a misspelt field in them does not, and
//! the config they carry is one weft reads. HAProxy's and nginx's examples
//! are run in front of three replicas by `tests/replicas.rs`.

use std::path::Path;
use std::process::Output;

use crate::support::*;

/// `kubernetes-validate --strict FILE`.
fn validate(file: &Path) -> Output {
    let mut cmd = std::process::Command::new(venv_bin("kubernetes-validate"));
    cmd.arg("--strict").arg(file);
    isolate(&mut cmd);
    cmd.output_timed().expect("run kubernetes-validate")
}

fn manifests() -> std::path::PathBuf {
    repo_root().join("deploy/kubernetes/weft.yaml")
}

#[test]
fn the_kubernetes_manifests_pass_the_schemas_strictly() {
    let out = validate(&manifests());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    for resource in [
        "configmap/weft-config",
        "secret/weft-secrets",
        "deployment/weft",
        "service/weft",
    ] {
        assert!(
            said.contains(&format!("passed for resource {resource}")),
            "{resource}: {said}"
        );
    }

    // The same manifests with one field misspelt are refused.
    let dir = temp_dir();
    let text = std::fs::read_to_string(manifests()).expect("the manifests");
    assert!(text.contains("readinessProbe:"));
    let wrong = dir.path().join("weft.yaml");
    std::fs::write(
        &wrong,
        text.replacen("readinessProbe:", "readinesProbe:", 1),
    )
    .expect("write");
    assert!(!validate(&wrong).status.success());
}

/// The `weft.toml` of the manifests' ConfigMap, read by the venv's PyYAML.
fn config_of_the_manifests() -> String {
    let mut cmd = std::process::Command::new(venv_bin("python"));
    cmd.args([
        "-c",
        "import sys, yaml\nfor d in yaml.safe_load_all(open(sys.argv[1])):\n    if d['kind'] == 'ConfigMap':\n        print(d['data']['weft.toml'], end='')",
    ])
    .arg(manifests());
    isolate(&mut cmd);
    let out = cmd.output_timed().expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("text")
}

/// `weft check` reads the ConfigMap's config, its state from the
/// environment as the Deployment passes it: the config is sound, and only
/// the example's server (not on this machine) is out of reach.
#[test]
fn the_kubernetes_config_is_one_weft_reads() {
    let pg = Postgres::start();
    let dir = temp_dir();
    let config = dir.path().join("weft.toml");
    std::fs::write(&config, config_of_the_manifests()).expect("write the config");
    let out = weft()
        .arg("--config")
        .arg(&config)
        .args(["check", "--json"])
        .env("WEFT_STATE", pg.database("deploy"))
        .output_timed()
        .expect("weft check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let servers = report["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 1, "{report}");
    assert_eq!(servers[0]["name"], "docs", "{report}");
    assert_eq!(servers[0]["state"], "failed", "{report}");
    assert!(
        servers[0]["error"]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("cannot connect to http://docs-mcp:8080/mcp")),
        "{report}"
    );
    assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
    assert_eq!(report["tenants"][0]["name"], "acme", "{report}");
    assert_eq!(
        report["tenants"][0]["problems"],
        serde_json::json!([]),
        "{report}"
    );
}
