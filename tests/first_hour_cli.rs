//! More of what new users tripped on in their first hour (issue 27), kept
//! fixed on the command line: a limit of zero is refused by name before
//! anything starts; `weft tools --tenant` shows exactly a tenant's
//! `tools/list`; `weft check` finds tenant patterns that match nothing;
//! and two configs in one folder keep their keys in files of their own.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::support::edge::{Raw, add_key, serve};
use crate::support::*;

/// stderr as text.
fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `weft -c CONFIG ARGS…`, its output.
fn weft_with(config: &Path, args: &[&str]) -> Output {
    weft()
        .arg("-c")
        .arg(config)
        .args(args)
        .output_timed()
        .expect("run weft")
}

/// A zero or negative `--timeout`, `--fuel` or `--memory` would stop the
/// policy before it did anything: each is refused with exit 2 and one
/// line naming the flag. `--fuel unlimited` still lifts the fuel limit.
#[test]
fn zero_limits_are_refused_by_name() {
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, "[servers.echo]\nbuiltin = \"echo\"\n").unwrap();
    for (flags, line) in [
        (
            &["--timeout", "0s"][..],
            "weft: --timeout must be more than zero (got 0s)\n",
        ),
        (
            &["--timeout", "0"][..],
            "weft: --timeout must be more than zero (got 0)\n",
        ),
        (
            &["--timeout", "-1s"][..],
            "weft: --timeout must be more than zero (got -1s)\n",
        ),
        (
            &["--fuel", "0"][..],
            "weft: --fuel must be more than zero (got 0)\n",
        ),
        (
            &["--fuel=-5"][..],
            "weft: --fuel must be more than zero (got -5)\n",
        ),
        (
            &["--memory", "0MiB"][..],
            "weft: --memory must be more than zero (got 0MiB)\n",
        ),
    ] {
        let mut args = vec!["run", "greet"];
        args.extend_from_slice(flags);
        let out = weft_with(&cfg, &args);
        assert_eq!((out.status.code(), err(&out).as_str()), (Some(2), line));
    }
    // Unlimited fuel passes the flags; the run then stops at the unknown
    // policy, as it would without them.
    let out = weft_with(
        &cfg,
        &["run", "greet", "--fuel", "unlimited", "--timeout", "2s"],
    );
    let plain = weft_with(&cfg, &["run", "greet"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err(&out), err(&plain));
    assert!(
        err(&out).starts_with("weft: no policy named \"greet\""),
        "{}",
        err(&out)
    );
}

/// server-everything, two policies, and tenants whose views differ.
const TENANTS: &str = r#"
[policies.greet]
path = "greet.wasm"
description = "Greets"

[policies.report]
path = "report.wasm"
description = "Reports"

[tenants.alpha]
include = ["everything.echo", "everything.get-sum"]
policies = ["greet"]

[tenants.beta]
include = ["everything.get-*"]
exclude = ["everything.get-env", "everything.get-tiny-image"]
policies = ["rep*"]
"#;

/// The `name`s of a JSON list of tools.
fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list of tools")
        .iter()
        .map(|t| t["name"].as_str().expect("a name").to_string())
        .collect()
}

/// `weft tools --tenant NAME` lists exactly that tenant's `tools/list`:
/// its view of the catalog, its policies and the meta tools, as table and
/// as JSON, the same names a key of that tenant gets over HTTP. An
/// unknown tenant is refused with the closest name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_for_a_tenant_are_its_tools_list() {
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    let text = npm_entry("everything", "server-everything", &["stdio"]) + TENANTS;
    std::fs::write(&cfg, text).unwrap();
    let expected = [
        (
            "alpha",
            vec![
                "everything__echo",
                "everything__get-sum",
                "greet",
                "weft_search_tools",
                "weft_run_policy",
            ],
        ),
        (
            "beta",
            vec![
                "everything__get-annotated-message",
                "everything__get-resource-links",
                "everything__get-resource-reference",
                "everything__get-structured-content",
                "everything__get-sum",
                "report",
                "weft_search_tools",
                "weft_run_policy",
            ],
        ),
    ];
    // Keys first: a running weft reloads the key file only every second.
    let keys: Vec<String> = expected.iter().map(|(t, _)| add_key(&cfg, t)).collect();
    let served = serve(&cfg, &[]);
    let http = reqwest::Client::new();
    for ((tenant, want), key) in expected.iter().zip(keys) {
        let out = weft_with(&cfg, &["tools", "--tenant", tenant, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", err(&out));
        let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert_eq!(&names(&listed), want, "weft tools --tenant {tenant} --json");
        let greet = listed
            .as_array()
            .and_then(|l| l.iter().find(|t| t["kind"] == "policy"));
        assert_eq!(greet.map(|t| &t["server"]), Some(&Value::Null));

        let out = weft_with(&cfg, &["tools", "--tenant", tenant]);
        assert_eq!(out.status.code(), Some(0), "{}", err(&out));
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        let first: Vec<&str> = table
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(&first, want, "weft tools --tenant {tenant}:\n{table}");

        // The tenant's own tools/list over HTTP, with its key.
        let mut raw = Raw::new(&http, &served.base, "2026-07-28");
        raw.key = Some(key);
        let (id, answer) = raw.request("tools/list", json!({})).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let message = answer.message(id);
        assert_eq!(
            &names(&message["result"]["tools"]),
            want,
            "tools/list of {tenant}"
        );
    }

    let out = weft_with(&cfg, &["tools", "--tenant", "alpah"]);
    assert_eq!(
        (out.status.code(), err(&out).as_str()),
        (
            Some(2),
            "weft: no tenant named \"alpah\" in the config; did you mean \"alpha\"? (tenants: alpha, beta)\n"
        )
    );
}

/// `weft check` of `config`: its exit code and the lines about tenants.
fn tenant_lines(config: &Path) -> (Option<i32>, Vec<String>) {
    let out = weft_with(config, &["check"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("weft check:\n{stdout}{}", err(&out));
    let lines = stdout
        .lines()
        .filter(|l| {
            l.starts_with("tenant ") || l.starts_with("✗ tenant ") || l.starts_with("- tenant ")
        })
        .map(str::to_string)
        .collect();
    (out.status.code(), lines)
}

/// `weft check` prints each tenant's tool count, and a tenant pattern that
/// matches no tool or policy is an error (exit 2) that names the tenant,
/// the key and the pattern, and suggests the closest name there is; a
/// catch-all (`*.*`, `*`) that matches nothing yet is only a note.
#[test]
fn check_finds_tenant_patterns_that_match_nothing() {
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    let everything = npm_entry("everything", "server-everything", &["stdio"]);
    std::fs::write(&cfg, format!("{everything}{TENANTS}")).unwrap();
    // `check` readies every policy too: they must be real components.
    for name in ["greet", "report"] {
        std::fs::copy(
            guest_wasm("weft-policy-template"),
            dir.path().join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    let (code, lines) = tenant_lines(&cfg);
    assert_eq!(code, Some(0));
    assert_eq!(lines, ["tenant alpha: 5 tools", "tenant beta: 8 tools"]);

    let bad = r#"
[policies.greet]
path = "greet.wasm"

[tenants.alpha]
include = ["everything.echo"]

[tenants.beta]
include = ["everything.ech", "everythin.*"]
exclude = ["everything.get-summ"]
policies = ["gret"]
"#;
    std::fs::write(&cfg, format!("{everything}{bad}")).unwrap();
    let (code, lines) = tenant_lines(&cfg);
    assert_eq!(code, Some(2));
    assert_eq!(
        lines,
        [
            // No policy it may run: no weft_run_policy either.
            "tenant alpha: 2 tools",
            "tenant beta: 1 tool",
            "✗ tenant beta: tenants.beta.include: \"everything.ech\" matches no tool; did you mean \"everything.echo\"?",
            "✗ tenant beta: tenants.beta.include: \"everythin.*\" matches no tool; did you mean \"everything.*\"?",
            "✗ tenant beta: tenants.beta.exclude: \"everything.get-summ\" matches no tool; did you mean \"everything.get-sum\"?",
            "✗ tenant beta: tenants.beta.policies: \"gret\" matches no policy; did you mean \"greet\"?",
        ]
    );

    // "Everything" before there is anything: a note, not an error.
    let early = r#"
[tenants.all]
include = ["*.*"]
policies = ["*"]

[tenants.none]
include = ["nothing.*"]
"#;
    let alone = dir.path().join("alone.toml");
    std::fs::write(&alone, early).unwrap();
    let (code, lines) = tenant_lines(&alone);
    assert_eq!(
        lines,
        [
            "tenant all: 1 tool",
            "- tenant all: tenants.all.include: \"*.*\" matches no tool yet; it will match every tool of a server that starts",
            "- tenant all: tenants.all.policies: \"*\" matches no policy yet; it will match every policy you add",
            "tenant none: 1 tool",
            "✗ tenant none: tenants.none.include: \"nothing.*\" matches no tool; `weft tools` lists the SERVER.TOOL names there are",
        ]
    );
    assert_eq!(code, Some(2), "only the misspelt pattern is an error");
}

/// The keys of `config` as `weft keys list --json` gives them, with the
/// warnings on (a key file with another config's tenants would warn).
fn listed_keys(config: &Path) -> (Vec<String>, String) {
    let out = weft()
        .arg("-c")
        .arg(config)
        .args(["keys", "list", "--json"])
        .env("WEFT_LOG", "warn")
        .output_timed()
        .expect("run weft keys list");
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let tenants = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|k| k["tenant"].as_str().expect("a tenant").to_string())
        .collect();
    (tenants, err(&out))
}

/// Two configs side by side keep their keys apart: `weft keys add` writes
/// `NAME.keys.toml` beside `NAME.toml`, and neither config warns about the
/// other's tenants. A config whose keys are still in the old shared
/// `weft.keys.toml` reads them from there, with one line saying how to
/// move the file.
#[test]
fn each_config_has_its_own_key_file() {
    let dir = temp_dir();
    let (main, staging) = (
        dir.path().join("weft.toml"),
        dir.path().join("staging.toml"),
    );
    let echo = "[servers.echo]\nbuiltin = \"echo\"\n";
    std::fs::write(
        &main,
        format!("{echo}[tenants.alpha]\ninclude = [\"echo.*\"]\n"),
    )
    .unwrap();
    std::fs::write(
        &staging,
        format!("{echo}[tenants.beta]\ninclude = [\"echo.*\"]\n"),
    )
    .unwrap();
    add_key(&main, "alpha");
    let out = weft()
        .arg("-c")
        .arg(&staging)
        .args(["keys", "add", "beta"])
        .env("WEFT_LOG", "warn")
        .output_timed()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let own = dir.path().join("staging.keys.toml");
    assert!(
        err(&out).contains(&format!("recorded in {} (as a hash)", own.display())),
        "{}",
        err(&out)
    );
    assert_eq!(err(&out).lines().count(), 1, "{}", err(&out));
    assert_eq!(
        listed_keys(&main),
        (vec!["alpha".to_string()], String::new())
    );
    assert_eq!(
        listed_keys(&staging),
        (vec!["beta".to_string()], String::new())
    );

    // The old layout: staging's keys in the shared weft.keys.toml.
    let old = temp_dir();
    let staging = old.path().join("staging.toml");
    let with_old_keys = format!(
        "[settings]\nkeys = \"weft.keys.toml\"\n{echo}[tenants.beta]\ninclude = [\"echo.*\"]\n"
    );
    std::fs::write(&staging, &with_old_keys).unwrap();
    add_key(&staging, "beta");
    std::fs::write(
        &staging,
        with_old_keys.replace("[settings]\nkeys = \"weft.keys.toml\"\n", ""),
    )
    .unwrap();
    let (tenants, notice) = listed_keys(&staging);
    assert_eq!(tenants, ["beta"]);
    assert_eq!(
        notice,
        "weft: reading the keys of staging.toml from weft.keys.toml, the key file configs used to share; its own is staging.keys.toml: mv weft.keys.toml staging.keys.toml\n"
    );
    std::fs::rename(
        old.path().join("weft.keys.toml"),
        old.path().join("staging.keys.toml"),
    )
    .unwrap();
    assert_eq!(
        listed_keys(&staging),
        (vec!["beta".to_string()], String::new())
    );
}

/// The runs' rows of `weft -c CONFIG runs list`: (policy, tenant) each.
fn listed_runs(config: &Path) -> Vec<(String, String)> {
    let out = weft_with(config, &["runs", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        head,
        ["RUN", "STATUS", "POLICY", "TENANT", "STARTED"],
        "{text}"
    );
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (cells[2].to_string(), cells[3].to_string())
        })
        .collect()
}

/// Two configs side by side keep their runs apart, as they keep their
/// keys: each journals into one of its own under the data folder (not
/// beside it: a server granted the config's folder would then be refused),
/// and `weft runs list` shows each run's tenant.
#[test]
fn each_config_lists_only_its_own_runs_with_their_tenants() {
    let dir = temp_dir();
    std::fs::copy(
        guest_wasm("weft-policy-template"),
        dir.path().join("greet.wasm"),
    )
    .unwrap();
    let base = "[servers.everything]\nbuiltin = \"echo\"\n\
                [policies.greet]\npath = \"greet.wasm\"\ngrants = [\"everything.*\"]\n";
    let (main, staging) = (
        dir.path().join("weft.toml"),
        dir.path().join("staging.toml"),
    );
    std::fs::write(
        &main,
        format!("{base}[tenants.acme]\ninclude = [\"everything.*\"]\npolicies = [\"greet\"]\n"),
    )
    .unwrap();
    std::fs::write(&staging, base).unwrap();
    let input = r#"{"message": "hi"}"#;
    weft_with(
        &main,
        &["run", "greet", "--tenant", "acme", "--input", input],
    );
    weft_with(&staging, &["run", "greet", "--input", input]);
    weft_with(&staging, &["run", "greet", "--input", input]);
    let files: Vec<String> = std::fs::read_dir(test_home().join(".local/share/weft/journals"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Each config's tool pins sit beside its journal, as NAME.pins.db.
    let pins = files.iter().filter(|f| f.ends_with(".pins.db")).count();
    assert_eq!(pins, 2, "{files:?}");
    let journals: Vec<&String> = files
        .iter()
        .filter(|f| f.ends_with(".db") && !f.ends_with(".pins.db"))
        .collect();
    assert_eq!(journals.len(), 2, "{files:?}");
    assert!(
        journals
            .iter()
            .any(|j| j.starts_with("weft-") && j.ends_with(".db"))
    );
    assert!(
        journals
            .iter()
            .any(|j| j.starts_with("staging-") && j.ends_with(".db"))
    );
    assert!(!dir.path().join("weft.journal.db").exists());
    assert_eq!(
        listed_runs(&main),
        [("greet".to_string(), "acme".to_string())]
    );
    assert_eq!(
        listed_runs(&staging),
        [
            ("greet".to_string(), "-".to_string()),
            ("greet".to_string(), "-".to_string())
        ]
    );

    // Runs an older weft kept in the shared journal: `weft runs` of a
    // config with no journal of its own yet says where they are.
    let shared = test_home().join(".local/share/weft/journal.db");
    std::fs::create_dir_all(shared.parent().unwrap()).unwrap();
    std::fs::write(&shared, "").unwrap();
    let newer = dir.path().join("newer.toml");
    std::fs::write(&newer, base).unwrap();
    let out = weft_with(&newer, &["runs", "list"]);
    let first = err(&out).lines().next().unwrap_or_default().to_string();
    let own = test_home().join(".local/share/weft/journals/newer-");
    assert!(
        first.starts_with(&format!(
            "weft: this config's runs are journaled in {}",
            own.display()
        )) && first.ends_with(&format!(
            ".db, its own; runs from before are in the shared {} (journal = {:?} under [settings] lists and resumes them)",
            shared.display(),
            shared.display().to_string()
        )),
        "{}",
        err(&out)
    );
    // Once the config has runs of its own, nothing more is said.
    assert_eq!(err(&weft_with(&main, &["runs", "list"])), "");
}
