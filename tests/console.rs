//! The console (`/ui` on `weft serve --http`), in a real browser: Debian's
//! Chromium, headless, driven by playwright-core
//! (`tests/fixtures/console/browse.cjs`), against a weft with real servers
//! (server-everything twice, server-memory, mcp-server-time), one of which
//! is killed during the test (its restart is 10 minutes away).
//!
//! Checked from the DOM: every server is listed, the killed one as
//! backing off with its reason and stderr, a policy run started while the
//! Runs view is open arrives through the live stream and opens onto its
//! timeline, the tools search and the audit filter work, and with
//! JavaScript off the page is the server's snapshot. Checked at the HTTP
//! level: 401 without a key, 403 for a tenant that is not an admin, the
//! CSP, and a canary secret (printed by the killed server to its stderr)
//! in no page and no event. Screenshots at 1280×800 are kept under
//! `target/console/`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::support::keys::add_key;
use crate::support::*;

const CANARY: &str = "canary-7f3a9c1e5b2d4a86";

fn chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var_os("WEFT_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into()),
    );
    assert!(
        path.exists(),
        "Chromium is missing at {}: run `bash .ci/setup-tools` (it installs Debian's chromium package)",
        path.display()
    );
    path
}

fn playwright_core() -> PathBuf {
    let dir = tools().join("npm/node_modules/playwright-core");
    assert!(
        dir.join("package.json").exists(),
        "playwright-core is missing in {}: run `bash .ci/setup-tools`",
        dir.display()
    );
    dir
}

/// server-everything behind a script that first prints a line with the
/// canary (its token, from the secrets file) to stderr.
fn flaky_server(dir: &Path) -> PathBuf {
    let script = dir.join("flaky.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"connecting with token $FLAKY_TOKEN\" >&2\nexec {node} {entry} stdio\n",
            node = q(node22().display().to_string()),
            entry = q(npm_server("server-everything").display().to_string()),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

struct Rig {
    _dir: tempfile::TempDir,
    _weft: Background,
    base: String,
    admin: String,
    other: String,
}

fn start() -> Rig {
    let dir = temp_dir();
    let d = dir.path();
    write_secrets(d, "FLAKY_TOKEN", CANARY);
    std::fs::copy(guest_wasm("weft-timer-guest"), d.join("timer.wasm")).unwrap();
    let mut text = String::from(
        "[settings]\naudit = \"audit.jsonl\"\nsecrets = \"secrets.toml\"\n\
         [tenants.ops]\ninclude = [\"*.*\"]\npolicies = [\"*\"]\nadmin = true\n[tenants.acme]\ninclude = [\"time.*\"]\n\
         [policies.timer]\npath = \"timer.wasm\"\ngrants = [\"everything.echo\"]\n",
    );
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &npm_entry("memory", "server-memory", &[]);
    text += &format!(
        "[servers.time]\ncommand = {}\nargs = [\"--local-timezone\", \"UTC\"]\n",
        q(venv_bin("mcp-server-time").display().to_string())
    );
    text += &format!(
        "[servers.flaky]\ncommand = {}\n[servers.flaky.env]\nFLAKY_TOKEN = \"${{secret:FLAKY_TOKEN}}\"\n\
         [servers.flaky.restart]\ninitial = \"10m\"\nmax = \"10m\"\n",
        q(flaky_server(d).display().to_string())
    );
    std::fs::write(d.join("weft.toml"), text).unwrap();
    let admin = add_key(d, "ops");
    let other = add_key(d, "acme");
    let mut cmd = weft();
    cmd.current_dir(d);
    let (weft, base) = serve_weft_http(&mut cmd);
    Rig {
        _dir: dir,
        _weft: weft,
        base,
        admin,
        other,
    }
}

async fn get(base: &str, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    within(&format!("GET {path}"), r.send()).await.unwrap()
}

async fn status(rig: &Rig) -> Value {
    get(&rig.base, "/status", Some(&rig.admin))
        .await
        .json()
        .await
        .unwrap()
}

fn server<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no server {name} in {status}"))
}

/// Waits until `/status` shows `name` in `state`.
async fn wait_state(rig: &Rig, name: &str, state: &str) -> Value {
    wait_for(rig, name, state, |_| true).await
}

/// Waits until `/status` shows `name` in `state` and `more` holds of it.
async fn wait_for(rig: &Rig, name: &str, state: &str, more: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let s = status(rig).await;
        if server(&s, name)["state"] == state && more(server(&s, name)) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} never became {state}: {}", status(rig).await)
}

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn agent(rig: &Rig) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", rig.base))
        .auth_header(rig.admin.clone());
    within(
        "the agent connects",
        ().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("the agent connects")
}

/// The first `n` events of the live stream of `view`.
async fn events(rig: &Rig, query: &str, n: usize) -> Vec<String> {
    let mut response = get(&rig.base, &format!("/ui/events?{query}"), Some(&rig.admin)).await;
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let mut found = Vec::new();
    while found.len() < n {
        let chunk = within("a console event", response.chunk())
            .await
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            if event.contains("event: view") {
                found.push(event);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_chromium_shows_servers_runs_tools_and_audit_live() {
    let chromium = chromium();
    let playwright = playwright_core();
    let rig = start();
    for name in ["everything", "memory", "time", "flaky"] {
        wait_state(&rig, name, "up").await;
    }

    // Who may look.
    let none = get(&rig.base, "/ui", None).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"weft\"");
    // The sign-in page: the form a script posts to (field `key`), and
    // its words as plain text, no Markdown backticks.
    let page = none.text().await.unwrap();
    assert!(
        page.contains(r#"<form method="post" action="/ui/login">"#)
            && page.contains(r#"name="key""#),
        "{page}"
    );
    assert!(
        page.contains("or send it in an Authorization header (Bearer KEY)."),
        "{page}"
    );
    assert!(!page.contains('`'), "{page}");
    let other = get(&rig.base, "/ui", Some(&rig.other)).await;
    assert_eq!(other.status(), 403);
    assert!(other.text().await.unwrap().contains("not an admin tenant"));
    let events_other = get(&rig.base, "/ui/events?view=servers", Some(&rig.other)).await;
    assert_eq!(events_other.status(), 403);
    let ok = get(&rig.base, "/ui", Some(&rig.admin)).await;
    assert_eq!(ok.status(), 200);
    let csp = ok.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    // Calls and a run for the views to show.
    let client = agent(&rig).await;
    let params = CallToolRequestParams::new("time__get_current_time")
        .with_arguments(json!({"timezone": "UTC"}).as_object().cloned().unwrap());
    let time = within("a time call", client.call_tool(params))
        .await
        .unwrap();
    assert_ne!(time.is_error, Some(true), "{time:?}");
    crate::support::timer::run_timer(&client, "everything", "echo", 2).await;

    // The flaky server is killed and cannot start again.
    let pid = server(&status(&rig).await, "flaky")["pid"]
        .as_u64()
        .expect("flaky's pid") as i32;
    // SAFETY: a plain signal to the child weft started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Its restart is 10 minutes away: it stays backing off for the rest of
    // the test, with what it printed.
    let after = wait_state(&rig, "flaky", "backing-off").await;
    assert_eq!(server(&after, "flaky")["attempt"], 1, "{after}");
    let tail = server(&after, "flaky")["stderr_tail"].to_string();
    assert!(tail.contains("connecting with token"), "{tail}");
    assert!(!tail.contains(CANARY), "{tail}");

    // The browser.
    let shots = repo_root().join("target/console");
    std::fs::create_dir_all(&shots).unwrap();
    let mut browse = Command::new(node22())
        .arg(repo_root().join("tests/fixtures/console/browse.cjs"))
        .args([&rig.base, &rig.admin, &rig.other])
        .arg(&shots)
        .env("PLAYWRIGHT_CORE", &playwright)
        .env("CHROMIUM", &chromium)
        .env("HOME", test_home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs browse.cjs");
    let mut stdin = browse.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = browse.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let step = |rx: &std::sync::mpsc::Receiver<String>| -> Value {
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .expect("browse.cjs reports its next step (its stderr says why not)");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    assert_eq!(step(&rx)["step"], "runs-open");
    crate::support::timer::run_timer(&client, "everything", "echo", 2).await;
    writeln!(stdin, "go").unwrap();
    let done = step(&rx);
    assert_eq!(done["step"], "done");
    let status = browse.wait().unwrap();
    assert!(status.success(), "browse.cjs failed");
    let out = &done["out"];

    // Servers: every one, in the state /status gives; the killed one
    // backing off, with its reason and stderr (the canary masked).
    assert_eq!(out["serversStatus"], 200);
    let shown: Vec<(String, String)> = out["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["server"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("everything".to_string(), "up".to_string()),
            ("flaky".into(), "backing-off".into()),
            ("memory".into(), "up".into()),
            ("time".into(), "up".into()),
        ]
    );
    let why = out["why"].as_array().unwrap();
    assert_eq!(why.len(), 1, "{why:?}");
    assert_eq!(why[0]["why"], "flaky");
    let why_text = why[0]["text"].as_str().unwrap();
    assert!(why_text.contains("connecting with token"), "{why_text}");
    assert!(!why_text.contains(CANARY), "{why_text}");

    // Tools: the server-side search, then typing in the page.
    let queried: Vec<&str> = out["toolsQueried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tool"].as_str().unwrap())
        .collect();
    assert!(queried.contains(&"everything__echo"), "{queried:?}");
    assert!(!queried.contains(&"time__get_current_time"), "{queried:?}");
    assert_eq!(
        out["toolsTyped"],
        json!([]),
        "typing filters the rows the search left"
    );

    // Runs: the run made before the page opened, then the one started
    // while it was open, through the live stream; its timeline.
    let before = out["runsBefore"].as_array().unwrap();
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(
        (before[0]["policy"].as_str(), before[0]["status"].as_str()),
        (Some("timer"), Some("ok"))
    );
    let after = out["runsAfter"].as_array().unwrap();
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(out["timeline"].as_array().unwrap().len(), 4, "2 × 2 calls");
    assert!(
        out["timeline"][0]["text"]
            .as_str()
            .unwrap()
            .contains("everything.echo"),
        "{}",
        out["timeline"]
    );

    // Audit, filtered to ok: the time call is among them.
    let audit = out["audit"].as_array().unwrap();
    assert!(audit.iter().all(|r| r["outcome"] == "ok"), "{audit:?}");
    assert!(
        audit.iter().any(|r| r["text"]
            .as_str()
            .unwrap()
            .contains("time.get_current_time")),
        "{audit:?}"
    );

    // JavaScript off: the snapshot, complete.
    assert_eq!(out["noJs"]["live"], "snapshot");
    assert_eq!(out["noJs"]["servers"].as_array().unwrap().len(), 4);

    // A browser with no key signs in: 401, 403 for the other tenant's key,
    // then the console; the cookie is HttpOnly and strict; signing out
    // ends it.
    assert_eq!(out["anonStatus"], 401);
    assert_eq!(out["otherStatus"], 403);
    assert_eq!(out["signedStatus"], 200);
    assert_eq!(out["signedUrl"], format!("{}/ui", rig.base));
    assert_eq!(
        out["signedServers"],
        json!(["everything", "flaky", "memory", "time"])
    );
    assert_eq!(
        out["cookies"],
        json!([{"name": "weft_console", "httpOnly": true, "sameSite": "Strict"}])
    );
    assert_eq!(out["signedOutStatus"], 401);

    // No CSP violation, no script error.
    assert_eq!(out["console"], json!([]), "the browser console");

    // The canary in no page and no event.
    let pages = out["html"].as_array().unwrap();
    assert_eq!(pages.len(), 7);
    for page in pages {
        assert!(!page.as_str().unwrap().contains(CANARY));
    }
    for query in ["view=servers", "view=tools", "view=runs", "view=audit"] {
        for event in events(&rig, query, 1).await {
            assert!(!event.contains(CANARY), "{event}");
            assert!(event.contains("\"html\""), "{event}");
        }
    }
    let screenshot = std::fs::read(shots.join("servers.png")).unwrap();
    assert_eq!(&screenshot[1..4], b"PNG");
    // 1280 × 800, from the PNG header.
    assert_eq!(
        u32::from_be_bytes(screenshot[16..20].try_into().unwrap()),
        1280
    );
    assert_eq!(
        u32::from_be_bytes(screenshot[20..24].try_into().unwrap()),
        800
    );
}

/// Without tenants the console is open on loopback (and weft listens only
/// on loopback unless told otherwise); a live stream left open does not
/// keep weft from stopping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tenants_the_console_is_open_on_loopback() {
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("weft.toml"),
        "[servers.echo]\nbuiltin = \"echo\"\n",
    )
    .unwrap();
    let mut cmd = weft();
    cmd.current_dir(dir.path());
    let (mut weft, base) = serve_weft_http(&mut cmd);
    let page = get(&base, "/ui/servers", None).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-server=\"echo\""), "{html}");
    assert!(!html.contains("<script>"), "no inline script");
    assert_eq!(get(&base, "/ui/nope", None).await.status(), 404);
    // A page of the console refuses a foreign Host (DNS rebinding).
    let rebound = reqwest::Client::new()
        .get(format!("{base}/ui"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403);
    let mut stream = get(&base, "/ui/events?view=servers", None).await;
    let first = within("the first event", stream.chunk())
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: view"));
    // SAFETY: a plain signal to the weft this test started.
    unsafe { libc::kill(weft.0.id() as i32, libc::SIGTERM) };
    let status = wait_child(&mut weft.0, Duration::from_secs(20));
    assert_eq!(
        status.code(),
        Some(143),
        "weft stopped on SIGTERM: {status:?}"
    );
    assert_eq!(
        within("the stream's end", stream.chunk())
            .await
            .ok()
            .flatten(),
        None,
        "the stream ended with weft"
    );
}
