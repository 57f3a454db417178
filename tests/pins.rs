//! Tool pins (issue 59, rug pulls): weft pins each tool's definition the
//! first time it lists it, and holds a tool whose definition later
//! differs, or a new tool under `pin = "strict"`, until `weft pins
//! approve`. The server is a Python SDK server whose tools come from a
//! file the test rewrites between starts
//! (`tests/fixtures/python/shifting_server.py`); the agents are the Python
//! SDK's, over stdio and streamable HTTP.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

use crate::support::recorded::{recorded, shifting_entry};
use crate::support::*;

const FIRST: &str = "Looks up a word in the dictionary.";
const CHANGED: &str = "Looks up a word, and keeps a copy of it.";

/// A config in `dir` with the shifting server `shift`, its tools file and
/// record; `settings` goes under [settings].
struct Rig {
    config: PathBuf,
    tools: PathBuf,
    record: PathBuf,
}

impl Rig {
    fn new(dir: &Path, settings: &str, tools: &Path, record: &Path) -> Rig {
        let text = format!(
            "[settings]\n{settings}\n{}",
            shifting_entry("shift", tools, record)
        );
        std::fs::create_dir_all(dir).expect("mkdir");
        let config = dir.join("weft.toml");
        std::fs::write(&config, text).expect("write config");
        Rig {
            config,
            tools: tools.to_path_buf(),
            record: record.to_path_buf(),
        }
    }

    /// One rig in its own folder of `dir`.
    fn alone(dir: &Path, settings: &str) -> Rig {
        let rig = Rig::new(
            &dir.join("a"),
            settings,
            &dir.join("tools.json"),
            &dir.join("calls.log"),
        );
        rig.offer(&[("lookup", FIRST)]);
        rig
    }

    /// What the server offers from its next start.
    fn offer(&self, tools: &[(&str, &str)]) {
        let map: serde_json::Map<String, Value> = tools
            .iter()
            .map(|(n, d)| (n.to_string(), json!(d)))
            .collect();
        std::fs::write(&self.tools, Value::Object(map).to_string()).expect("write tools");
    }

    fn calls(&self) -> usize {
        recorded(&self.record).len()
    }

    /// The Python SDK agent through `weft serve` on stdio, calling
    /// `shift__lookup`.
    fn agent(&self, word: &str) -> Value {
        let argv = json!([
            target_bin("weft").display().to_string(),
            "--config",
            self.config.display().to_string(),
            "serve"
        ])
        .to_string();
        crate::serve::agent(
            &argv,
            "legacy",
            "sequence",
            json!({"calls": [{"tool": "shift__lookup", "args": {"word": word}}]}),
        )
    }

    fn pins(&self, args: &[&str]) -> Output {
        weft()
            .arg("--config")
            .arg(&self.config)
            .arg("pins")
            .args(args)
            .output_timed()
            .expect("run weft pins")
    }

    /// `weft pins ARGS`, which must succeed: its stdout.
    fn pins_ok(&self, args: &[&str]) -> String {
        let out = self.pins(args);
        assert!(
            out.status.success(),
            "weft pins {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The held pins: (tool, state), sorted.
    fn held(&self) -> Vec<(String, String)> {
        let list: Value =
            serde_json::from_str(&self.pins_ok(&["list", "--held", "--json"])).expect("JSON");
        let mut held: Vec<(String, String)> = list
            .as_array()
            .expect("a list")
            .iter()
            .map(|p| {
                (
                    p["tool"].as_str().unwrap_or_default().to_string(),
                    p["state"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        held.sort();
        held
    }

    /// `weft check --json`'s tools held by their pins: (tool, kind,
    /// quarantined).
    fn checked(&self) -> Vec<(String, String, bool)> {
        let out = weft()
            .args(["check", "--json", "--config"])
            .arg(&self.config)
            .output_timed()
            .expect("run weft check");
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        report["flagged"]
            .as_array()
            .expect("a flagged list")
            .iter()
            .filter(|f| !f["pin"].is_null())
            .map(|f| {
                (
                    f["tool"].as_str().unwrap_or_default().to_string(),
                    f["pin"]["kind"].as_str().unwrap_or_default().to_string(),
                    f["quarantined"] == true,
                )
            })
            .collect()
    }
}

fn tool_names(seen: &Value) -> Vec<String> {
    let mut names: Vec<String> = seen["tools"]
        .as_object()
        .expect("tools")
        .keys()
        .filter(|k| k.starts_with("shift__"))
        .cloned()
        .collect();
    names.sort();
    names
}

/// The whole review: trusted on first use, held when changed (hidden from
/// the agent, a call refused before it reaches the server), shown by
/// `weft pins diff`, audited with both digests, served again once
/// approved; a new tool held under `strict` until its server is approved.
#[test]
fn a_changed_tool_is_held_until_approved() {
    let dir = temp_dir();
    let audit = dir.path().join("audit.jsonl");
    let rig = Rig::alone(
        dir.path(),
        &format!(
            "pin = \"strict\"\naudit = {}",
            q(audit.display().to_string())
        ),
    );
    let first = rig.agent("a");
    assert_eq!(tool_names(&first), ["shift__lookup"]);
    assert_eq!(first["calls"][0]["text"], "found a", "{first}");
    assert_eq!(rig.calls(), 1);
    assert_eq!(rig.held(), []);

    // The server changes the tool it was trusted with, and adds one.
    rig.offer(&[("lookup", CHANGED), ("define", "Defines a word.")]);
    let held = rig.agent("b");
    assert_eq!(tool_names(&held), Vec::<String>::new(), "{held}");
    let refused = &held["calls"][0];
    assert_eq!(refused["error"], true, "{held}");
    let text = refused["text"].as_str().unwrap_or_default();
    assert!(
        text.contains(
            "tool \"lookup\" is quarantined: its definition changed since weft pinned it"
        ) && text.contains("`weft pins diff shift.lookup`"),
        "{text}"
    );
    assert_eq!(rig.calls(), 1, "the refused call never reached the server");
    assert_eq!(
        rig.held(),
        [
            ("define".to_string(), "new".to_string()),
            ("lookup".to_string(), "changed".to_string())
        ]
    );

    let diff = rig.pins_ok(&["diff", "shift.lookup"]);
    assert!(
        diff.contains(&format!("-  \"description\": \"{FIRST}\","))
            && diff.contains(&format!("+  \"description\": \"{CHANGED}\",")),
        "{diff}"
    );

    // The audit log has the change, with both digests.
    let list: Value = serde_json::from_str(&rig.pins_ok(&["list", "--json"])).expect("JSON");
    let lookup = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|p| p["tool"] == "lookup")
        .expect("lookup's pin");
    let (pinned, listed) = (
        lookup["pinned"].as_str().expect("pinned"),
        lookup["listed"].as_str().expect("listed"),
    );
    let log = std::fs::read_to_string(&audit).expect("the audit log");
    let record = log
        .lines()
        .find(|l| l.contains("tool-changed") && l.contains("shift.lookup"))
        .unwrap_or_else(|| panic!("no tool-changed record:\n{log}"));
    assert!(
        record.contains(pinned) && record.contains(listed) && record.contains("quarantined"),
        "{record}"
    );

    assert!(
        rig.pins_ok(&["approve", "shift.lookup"])
            .contains("approved 1 tool definition")
    );
    let approved = rig.agent("c");
    assert_eq!(
        tool_names(&approved),
        ["shift__lookup"],
        "the new tool still waits"
    );
    assert_eq!(approved["calls"][0]["text"], "found c", "{approved}");
    assert_eq!(rig.calls(), 2);

    // Nothing left to approve for that tool; the server's new tool is.
    let again = rig.pins(&["approve", "shift.lookup"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing held for shift.lookup"));
    rig.pins_ok(&["approve", "--server", "shift"]);
    assert_eq!(
        tool_names(&rig.agent("d")),
        ["shift__define", "shift__lookup"]
    );
    assert_eq!(rig.held(), []);
}

/// Each mode's answer to a changed tool and a new one, as `weft check`
/// reports it.
#[test]
fn each_pin_mode_holds_what_it_says() {
    for (mode, expected) in [
        ("warn", vec![("lookup", "changed", false)]),
        ("new-ok", vec![("lookup", "changed", true)]),
        (
            "strict",
            vec![("define", "new", true), ("lookup", "changed", true)],
        ),
        ("off", vec![]),
    ] {
        let dir = temp_dir();
        let rig = Rig::alone(dir.path(), &format!("pin = \"{mode}\""));
        assert_eq!(rig.checked(), [], "{mode}: first use");
        rig.offer(&[("define", "Defines a word."), ("lookup", CHANGED)]);
        let mut got = rig.checked();
        got.sort();
        let expected: Vec<(String, String, bool)> = expected
            .iter()
            .map(|(t, k, q)| (t.to_string(), k.to_string(), *q))
            .collect();
        assert_eq!(got, expected, "{mode}");
    }
}

/// Two replicas on one PostgreSQL share their pins: what one pinned, the
/// other holds when it lists a changed definition, and an approval made
/// through either lets both serve it.
#[test]
fn replicas_on_postgres_share_pins() {
    let dir = temp_dir();
    let pg = Postgres::start();
    let settings = format!("pin = \"new-ok\"\nstate = {}", q(pg.url()));
    let (tools, record) = (dir.path().join("tools.json"), dir.path().join("calls.log"));
    let one = Rig::new(&dir.path().join("one"), &settings, &tools, &record);
    let two = Rig::new(&dir.path().join("two"), &settings, &tools, &record);
    one.offer(&[("lookup", FIRST)]);
    assert_eq!(one.checked(), []);
    assert_eq!(pg.scalar("SELECT count(*) FROM weft_pins"), "1");

    one.offer(&[("lookup", CHANGED)]);
    assert_eq!(
        two.checked(),
        [("lookup".to_string(), "changed".to_string(), true)]
    );
    two.pins_ok(&["approve", "shift.lookup"]);
    assert_eq!(one.checked(), []);
    assert_eq!(two.checked(), []);
}

/// A running `weft serve --http` reads the pins again when another
/// process approves one: the Python SDK agent (2026-07-28, a new
/// connection per call) is refused, then served, without a restart.
#[test]
fn a_running_weft_serves_what_is_approved_elsewhere() {
    let dir = temp_dir();
    let rig = Rig::alone(dir.path(), "pin = \"new-ok\"");
    assert_eq!(rig.checked(), []);
    rig.offer(&[("lookup", CHANGED)]);
    let mut cmd = weft();
    cmd.arg("--config").arg(&rig.config);
    let (_serve, base) = serve_weft_http(&mut cmd);
    let url = format!("{base}/mcp");
    let call = json!({"calls": [{"tool": "shift__lookup", "args": {"word": "e"}}]});
    let refused = crate::serve::agent(&url, "2026-07-28", "sequence", call);
    assert_eq!(refused["calls"][0]["error"], true, "{refused}");
    assert_eq!(rig.calls(), 0);

    rig.pins_ok(&["approve", "shift.lookup"]);
    let served = crate::serve::agent(
        &url,
        "2026-07-28",
        "until",
        json!({"tool": "shift__lookup", "args": {"word": "f"}, "expect": "found f"}),
    );
    assert_eq!(served["text"], "found f", "{served}");
}

/// `weft pins` names what is wrong with what it is asked.
#[test]
fn weft_pins_says_what_is_wrong() {
    let dir = temp_dir();
    let rig = Rig::alone(dir.path(), "");
    for (args, code, message) in [
        (&["diff", "lookup"][..], 2, "\"lookup\" is not SERVER.TOOL"),
        (
            &["diff", "shfit.lookup"][..],
            2,
            "no server named \"shfit\" in the config (did you mean \"shift\"?)",
        ),
        (&["diff", "shift.lookup"][..], 1, "no pin for shift.lookup"),
        (
            &["approve", "shift.lookup", "--tenant", "acme"][..],
            2,
            "no tenant named \"acme\"",
        ),
    ] {
        let out = rig.pins(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert!(rig.pins_ok(&["list"]).starts_with("no pins in "));
}

/// An admin tenant reviews and approves over HTTP: `GET /status/pins`
/// lists the held definition with its diff, the console's tools view
/// shows it, and `POST /status/pins/approve` serves it at once. A tenant
/// that is not an admin reaches none of it.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_reviews_and_approves_over_status_and_the_console() {
    let dir = temp_dir();
    let rig = Rig::alone(dir.path(), "pin = \"strict\"");
    assert_eq!(rig.checked(), []);
    rig.offer(&[("lookup", CHANGED)]);
    let text = std::fs::read_to_string(&rig.config).expect("config");
    std::fs::write(
        &rig.config,
        format!("{text}[tenants.ops]\nadmin = true\ninclude = [\"shift.*\"]\n[tenants.dev]\ninclude = [\"shift.*\"]\n"),
    )
    .expect("write config");
    let (ops, dev) = (
        crate::support::keys::add_key_at(&rig.config, "ops"),
        crate::support::keys::add_key_at(&rig.config, "dev"),
    );
    let mut cmd = weft();
    cmd.arg("--config").arg(&rig.config);
    let (_serve, base) = serve_weft_http(&mut cmd);
    let http = reqwest::Client::new();
    let get = |path: &str, key: &str| {
        http.get(format!("{base}{path}"))
            .bearer_auth(key.to_string())
            .send()
    };

    let refused = get("/status/pins", &dev).await.expect("GET");
    assert_eq!(refused.status(), 403);
    let listed = get("/status/pins", &ops).await.expect("GET");
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.expect("JSON");
    let held = listed["held"].as_array().expect("held");
    assert_eq!(held.len(), 1, "{listed}");
    assert_eq!(
        (&held[0]["server"], &held[0]["tool"], &held[0]["state"]),
        (&json!("shift"), &json!("lookup"), &json!("changed"))
    );
    let diff = held[0]["diff"].as_str().unwrap_or_default();
    assert!(
        diff.contains(&format!("+  \"description\": \"{CHANGED}\",")),
        "{diff}"
    );

    let page = get("/ui/tools", &ops)
        .await
        .expect("GET")
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("Held for review") && page.contains("data-held=\"shift.lookup\""),
        "{page}"
    );
    assert!(page.contains(CHANGED), "the diff is on the page");

    let approve = |key: &str, body: Value| {
        http.post(format!("{base}/status/pins/approve"))
            .bearer_auth(key.to_string())
            .json(&body)
            .send()
    };
    let one = json!({"server": "shift", "tool": "lookup"});
    assert_eq!(
        approve(&dev, one.clone()).await.expect("POST").status(),
        403
    );
    let unknown = approve(&ops, json!({"server": "shfit"}))
        .await
        .expect("POST");
    assert_eq!(unknown.status(), 400);
    let done = approve(&ops, one.clone()).await.expect("POST");
    assert_eq!(done.status(), 200);
    assert_eq!(
        done.json::<Value>().await.expect("JSON"),
        json!({"approved": 1})
    );
    let again = approve(&ops, one).await.expect("POST");
    assert_eq!(again.status(), 404, "nothing is held any more");
    assert!(
        rig.pins_ok(&["list"]).contains("status:ops"),
        "the store says who approved"
    );

    // Served at once, to the tenant's agent.
    let seen = crate::serve::agent(
        &format!("{base}/mcp"),
        "2026-07-28",
        "sequence",
        json!({"key": dev, "calls": [{"tool": "shift__lookup", "args": {"word": "g"}}]}),
    );
    assert_eq!(seen["calls"][0]["text"], "found g", "{seen}");
    assert_eq!(rig.calls(), 1);
}
