//! OAuth to an upstream, against a real MCP server that wants tokens: the
//! official Python SDK's server and authorization-server routes, with a
//! small provider of ours (`tests/fixtures/python/oauth_server.py`) that
//! approves every login at once, issues short-lived tokens and records
//! each bearer token it is shown.
//!
//! The login runs as a user runs it: `weft auth login` prints the URL and
//! listens on 127.0.0.1; the test plays the browser, following the
//! authorization server's redirect back to that listener.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::edge::add_key;
use crate::support::*;

/// The fixture, with tokens that live `expires` seconds: (process, port).
fn oauth_server(expires: u64) -> (Background, u16) {
    crate::http_upstreams::python_fixture("oauth_server.py", &["--expires", &expires.to_string()])
}

/// What the fixture saw: every bearer token, and the tokens it issued.
fn seen(port: u16) -> Value {
    get_json(&format!("127.0.0.1:{port}"), "/seen")
}

fn weft_in(dir: &Path) -> Command {
    let mut cmd = weft();
    cmd.current_dir(dir).env("WEFT_LOG", "warn");
    cmd
}

/// `weft auth login SERVER` driven to the end: the URL it prints is
/// opened as a browser would, and the redirect comes back to weft.
fn login(dir: &Path, server: &str, extra: &[&str]) -> String {
    login_trusting(dir, server, extra, None)
}

/// The same, with a browser that trusts the CA certificate `ca` too.
fn login_trusting(dir: &Path, server: &str, extra: &[&str], ca: Option<&Path>) -> String {
    let mut child = weft_in(dir)
        .args(["auth", "login", server, "--no-browser"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weft auth login");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let url = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("weft auth login printed no URL: {said:?}"));
        let url = line.trim();
        if url.starts_with("http://") || url.starts_with("https://") {
            break url.to_string();
        }
        said.push(line);
    };
    // The browser: the authorization server approves at once and
    // redirects to weft's listener, which answers the page.
    let page = browser_get(&url, ca);
    assert!(page.contains("weft has the login"), "{page}");
    let status = wait_child(&mut child, Duration::from_secs(60));
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        status.success(),
        "weft auth login failed: {said:?} {rest:?}"
    );
    rest.join("\n")
}

/// A GET that follows redirects, as a browser does (trusting `ca` too).
fn browser_get(url: &str, ca: Option<&Path>) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut browser = reqwest::Client::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).expect("read the CA");
        browser = browser.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a CA"));
    }
    let browser = browser.build().expect("a browser");
    runtime.block_on(async {
        browser
            .get(url)
            .send()
            .await
            .expect("the browser's GET")
            .text()
            .await
            .expect("the page")
    })
}

/// A server that wants OAuth fails with the command that logs in; after
/// `weft auth login` (through the loopback redirect) calls work, the
/// tokens are in the secrets file at mode 0600, weft refreshes a token
/// that expired, and `weft auth logout` forgets it.
#[test]
fn a_login_through_the_loopback_redirect_gives_tokens_weft_refreshes() {
    let (_server, port) = oauth_server(2);
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("weft.toml"),
        format!(
            "[settings]\njournal = false\n\n[servers.notes]\nurl = \"http://127.0.0.1:{port}/mcp\"\noauth = true\n"
        ),
    )
    .expect("write the config");

    let before = weft_in(dir.path())
        .args(["call", "notes", "echo", r#"{"message":"hi"}"#])
        .output_timed()
        .expect("weft call");
    assert_eq!(before.status.code(), Some(1));
    let said = String::from_utf8_lossy(&before.stderr);
    assert!(
        said.contains("notes needs an OAuth login: run `weft auth login notes`"),
        "{said}"
    );

    let done = login(dir.path(), "notes", &[]);
    assert!(
        done.contains("logged in to notes (scopes: notes)"),
        "{done}"
    );
    let secrets = dir.path().join("weft.secrets.toml");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&secrets)
            .expect("the secrets file")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&secrets)
            .expect("read it")
            .contains("\"oauth:notes\""),
        "the tokens are stored under oauth:notes"
    );
    let status: Value = serde_json::from_str(&weft_ok(
        &dir.path().join("weft.toml"),
        &["auth", "status", "--json"],
    ))
    .expect("status JSON");
    assert_eq!(status[0]["server"], "notes");
    assert_eq!(status[0]["logged_in"], true);
    assert_eq!(status[0]["scopes"], json!(["notes"]));
    assert_eq!(status[0]["refreshable"], true);

    let call = |message: &str| {
        let out = weft_ok(
            &dir.path().join("weft.toml"),
            &[
                "call",
                "notes",
                "echo",
                &json!({ "message": message }).to_string(),
            ],
        );
        assert_eq!(out.trim(), format!("Echo: {message}"));
    };
    call("one");
    let first = seen(port);
    assert_eq!(first["issued"], json!({"code": 1, "refresh": 0}));
    let first_token = first["tokens"][0].clone();
    // Every request of that call carried the one token.
    assert!(
        first["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .all(|t| *t == first_token),
        "{first}"
    );
    // The token expires (2 s); the next call renews it before use.
    wait_until(Duration::from_secs(10), "the token to expire", || {
        let s: Value = serde_json::from_str(&weft_ok(
            &dir.path().join("weft.toml"),
            &["auth", "status", "--json"],
        ))
        .expect("status JSON");
        s[0]["expires_in"].as_i64().is_some_and(|left| left <= 0)
    });
    call("two");
    let second = seen(port);
    assert_eq!(
        second["issued"],
        json!({"code": 1, "refresh": 1}),
        "{second}"
    );
    let last = second["tokens"].as_array().expect("tokens").last().cloned();
    assert_ne!(
        last,
        Some(first_token),
        "the second call used the refreshed token"
    );

    let out = weft_in(dir.path())
        .args(["auth", "logout", "notes"])
        .output_timed()
        .expect("weft auth logout");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("logged out of notes"));
    let after = weft_in(dir.path())
        .args(["call", "notes", "echo", r#"{"message":"hi"}"#])
        .output_timed()
        .expect("weft call");
    assert_eq!(after.status.code(), Some(1), "logged out, no call works");
}

/// Through `weft serve --http`, an agent's own bearer token (its weft key)
/// never reaches the upstream: the server sees only weft's OAuth tokens.
#[test]
fn an_agents_token_never_reaches_the_upstream() {
    let (_server, port) = oauth_server(3600);
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("weft.toml"),
        format!(
            "[settings]\njournal = false\n\n[servers.notes]\nurl = \"http://127.0.0.1:{port}/mcp\"\noauth = true\n\n[tenants.acme]\ninclude = [\"notes.*\"]\n"
        ),
    )
    .expect("write the config");
    login(dir.path(), "notes", &[]);
    let key = add_key(&dir.path().join("weft.toml"), "acme");
    let (_weft, base) = serve_weft_http(weft_in(dir.path()).stderr(Stdio::null()));
    let out = crate::serve::agent(
        &format!("{base}/mcp"),
        "auto",
        "sequence",
        json!({"key": key, "calls": [{"tool": "notes__echo", "args": {"message": "via weft"}}]}),
    );
    assert_eq!(out["calls"][0]["text"], "Echo: via weft", "{out}");
    let tokens = seen(port)["tokens"].clone();
    let tokens = tokens.as_array().expect("tokens");
    assert!(!tokens.is_empty());
    for t in tokens {
        let t = t.as_str().expect("a token");
        assert!(t.starts_with("access-"), "only weft's own tokens: {t}");
        assert_ne!(t, key);
    }
}

/// A server run once per tenant has a login per tenant: tenant a's login
/// is stored in a's own table and serves a's calls only; tenant b, with
/// no login of its own, is told to log in as itself.
#[test]
fn a_per_tenant_server_has_a_login_per_tenant() {
    let (_server, port) = oauth_server(3600);
    let dir = temp_dir();
    std::fs::write(
        dir.path().join("weft.toml"),
        format!(
            "[settings]\njournal = false\n\n[servers.notes]\nurl = \"http://127.0.0.1:{port}/mcp\"\noauth = true\nper_tenant = true\n\n[tenants.a]\ninclude = [\"notes.*\"]\n\n[tenants.b]\ninclude = [\"notes.*\"]\n"
        ),
    )
    .expect("write the config");
    let shared = weft_in(dir.path())
        .args(["auth", "login", "notes", "--no-browser"])
        .output_timed()
        .expect("weft auth login");
    assert_eq!(shared.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&shared.stderr)
            .contains("notes runs once per tenant, each with its own login; add --tenant NAME"),
        "{}",
        String::from_utf8_lossy(&shared.stderr)
    );
    login(dir.path(), "notes", &["--tenant", "a"]);
    let secrets: toml::Table = toml::from_str(
        &std::fs::read_to_string(dir.path().join("weft.secrets.toml")).expect("the secrets file"),
    )
    .expect("TOML");
    assert!(
        secrets["tenants"]["a"].get("oauth:notes").is_some(),
        "{secrets:?}"
    );
    assert!(
        secrets.get("oauth:notes").is_none(),
        "no shared login: {secrets:?}"
    );
    assert!(secrets["tenants"].get("b").is_none(), "{secrets:?}");

    let call = |tenant: &str| {
        weft_in(dir.path())
            .args([
                "call",
                "--tenant",
                tenant,
                "notes",
                "echo",
                r#"{"message":"hi"}"#,
            ])
            .output_timed()
            .expect("weft call")
    };
    let a = call("a");
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(String::from_utf8_lossy(&a.stdout).trim(), "Echo: hi");
    let b = call("b");
    assert_eq!(b.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&b.stderr)
            .contains("notes needs an OAuth login: run `weft auth login notes --tenant b`"),
        "{}",
        String::from_utf8_lossy(&b.stderr)
    );
}

/// A server whose authorization server is reached over HTTPS with a
/// private CA: discovery, registration and the token requests of
/// `weft auth login` trust the server's `ca_file`, as its MCP requests
/// do; without it the login fails with the certificate error.
#[test]
fn the_login_reaches_an_https_authorization_server_through_ca_file() {
    let dir = temp_dir();
    let pki = crate::support::pki::Pki::new(dir.path());
    let (_server, port) = crate::http_upstreams::python_fixture(
        "oauth_server.py",
        &[
            "--tls",
            &pki.server_cert.display().to_string(),
            &pki.server_key.display().to_string(),
        ],
    );
    let write = |tls: &str| {
        std::fs::write(
            dir.path().join("weft.toml"),
            format!(
                "[settings]\njournal = false\n\n[servers.notes]\nurl = \"https://localhost:{port}/mcp\"\noauth = true\n{tls}"
            ),
        )
        .expect("write the config");
    };

    write("");
    let refused = weft_in(dir.path())
        .args(["auth", "login", "notes", "--no-browser"])
        .stdin(Stdio::null())
        .output_timed()
        .expect("weft auth login");
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("OAuth for notes failed") && said.contains("certificate"),
        "{said}"
    );

    write("ca_file = \"ca.pem\"\n");
    let done = login_trusting(dir.path(), "notes", &[], Some(&pki.ca));
    assert!(
        done.contains("logged in to notes (scopes: notes)"),
        "{done}"
    );
    let out = weft_ok(
        &dir.path().join("weft.toml"),
        &["call", "notes", "echo", r#"{"message":"over tls"}"#],
    );
    assert_eq!(out.trim(), "Echo: over tls");
    assert_eq!(
        seen_tls(port, &pki.ca)["issued"],
        json!({"code": 1, "refresh": 0})
    );
}

/// What the HTTPS fixture saw.
fn seen_tls(port: u16, ca: &Path) -> Value {
    let page = browser_get(&format!("https://localhost:{port}/seen"), Some(ca));
    serde_json::from_str(&page).expect("the fixture's record")
}
