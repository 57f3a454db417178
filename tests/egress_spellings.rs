//! An adapter's requests against the class of URL spellings, over
//! `weft serve --http` with two tenant keys and a real local HTTP service
//! (`support::echo_http`, which counts every connection):
//! - every other way of writing a loopback or link-local address is
//!   refused under an entry for any host (`http://*:PORT`), and the
//!   service is never reached;
//! - every spelling of a `.` or `..` segment is refused under a prefix
//!   entry (`/v1/*`) that injects a secret, and the service never sees
//!   the secret outside the prefix;
//! - what is allowed arrives exactly as checked.
//!
//! The unit tests in `host/src/sandbox/egress/tests.rs` cover the same
//! classes as a property test, and DNS rebinding; `fuzz_smoke.rs` runs
//! the fuzz target's entry point in CI.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::echo_http::EchoHttp;
use crate::support::edge::{Raw, add_key, serve, write_config};
use crate::support::*;

/// The secret injected for 127.0.0.1 under `/v1/*`.
const CANARY: &str = "canary-0d7c3e91-path-token";

/// Tenant `a` sees `wild` (any host on the service's port); tenant `b`
/// sees `prefixed` (the service's `/v1/*`, with the secret injected).
fn config(dir: &Path, port: u16) -> std::path::PathBuf {
    std::fs::copy(guest_wasm("weft-egress-guest"), dir.join("egress.wasm"))
        .expect("copy the adapter");
    write_secrets(dir, "API_TOKEN", CANARY);
    write_config(
        dir,
        &format!(
            r#"[settings]
secrets = "secrets.toml"

[servers.wild]
component = "egress.wasm"
egress = ["http://*:{port}"]

[servers.prefixed]
component = "egress.wasm"
egress = ["http://127.0.0.1:{port}/v1/*"]
[servers.prefixed.egress_headers."127.0.0.1"]
Authorization = "Bearer ${{secret:API_TOKEN}}"

{}
[tenants.a]
include = ["wild.*", "time.*"]
[tenants.b]
include = ["prefixed.*", "time.*"]
"#,
            command_entry("time", &venv_bin("mcp-server-time"), &[]),
        ),
    )
}

/// `SERVER__fetch` of a GET of `url`: the adapter's report.
async fn get(client: &mut Raw, server: &str, url: &str) -> Value {
    let result = client
        .call(&format!("{server}__fetch"), json!({ "url": url }))
        .await;
    let text = result["content"][0]["text"].as_str().unwrap_or_default();
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{url}: {e}: {result}"))
}

fn refusal(reason: &str) -> Value {
    json!(format!("ErrorCode::InternalError(Some({reason:?}))"))
}

async fn client(base: &str, key: &str) -> Raw {
    let mut raw = Raw::keyed(&reqwest::Client::new(), base, "2025-11-25", key);
    raw.open().await;
    raw
}

/// The service, weft serving `config` for it, and the clients of tenants
/// `a` and `b`.
struct Setup {
    service: EchoHttp,
    p: u16,
    a: Raw,
    b: Raw,
    _weft: crate::support::edge::Served,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let service = EchoHttp::start().await;
    let p = service.port;
    let dir = temp_dir();
    let config = config(dir.path(), p);
    let (ka, kb) = (add_key(&config, "a"), add_key(&config, "b"));
    let weft = serve(&config, &[]);
    let a = client(&weft.base, &ka).await;
    let b = client(&weft.base, &kb).await;
    Setup {
        service,
        p,
        a,
        b,
        _weft: weft,
        _dir: dir,
    }
}

/// Issue 53, finding 1: every other spelling of a loopback or link-local
/// address, under an entry for any host, is refused as that address, and
/// the service is never reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_private_address_reaches_it() {
    let mut s = setup().await;
    let (service, p, a) = (&s.service, s.p, &mut s.a);

    // Loopback, however it is written, under `http://*:PORT`.
    for host in [
        "2130706433",
        "127.1",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "0x7f000001",
        "127.0.0.1.",
        "127.0.0.1",
    ] {
        let report = get(a, "wild", &format!("http://{host}:{p}/probe")).await;
        assert_eq!(
            report["error"],
            refusal(&format!(
                "weft egress: refused http://127.0.0.1:{p}/probe: 127.0.0.1 is a loopback address, reached only when an `egress` entry names it (such as \"http://127.0.0.1:{p}\")"
            )),
            "{host}: {report}"
        );
    }
    // IPv6 forms of loopback: (as written, as the URL is sent, the
    // address, the kind).
    let mapped = ("::ffff:7f00:1", "::ffff:127.0.0.1", "loopback");
    for (host, (url, sent, kind)) in [
        ("[::1]", ("::1", "::1", "loopback")),
        ("[0:0::1]", ("::1", "::1", "loopback")),
        ("[::ffff:127.0.0.1]", mapped),
        ("[::ffff:7f00:1]", mapped),
        (
            "[2002:7f00:1::1]",
            (
                "2002:7f00:1::1",
                "2002:7f00:1::1",
                "6to4 form of a non-public IPv4",
            ),
        ),
    ] {
        let report = get(a, "wild", &format!("http://{host}:{p}/probe")).await;
        assert_eq!(
            report["error"],
            refusal(&format!(
                "weft egress: refused http://[{url}]:{p}/probe: {sent} is a {kind} address, reached only when an `egress` entry names it (such as \"http://[{sent}]:{p}\")"
            )),
            "{host}: {report}"
        );
    }
    // Link-local (cloud metadata), however it is written.
    for host in ["169.254.43518", "2852039166", "0xa9.0xfe.0xa9.0xfe"] {
        let report = get(a, "wild", &format!("http://{host}:{p}/latest")).await;
        assert_eq!(
            report["error"],
            refusal(&format!(
                "weft egress: refused http://169.254.169.254:{p}/latest: 169.254.169.254 is a link-local address, reached only when an `egress` entry names it (such as \"http://169.254.169.254:{p}\")"
            )),
            "{host}: {report}"
        );
    }
    // A name that resolves to loopback is refused by weft's resolver,
    // which names the first address the system's lookup gives.
    let first = tokio::net::lookup_host(("localhost", 0))
        .await
        .expect("localhost resolves")
        .next()
        .expect("an address")
        .ip();
    let shown = match first {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    };
    let report = get(a, "wild", &format!("http://LOCALHOST:{p}/probe")).await;
    assert_eq!(
        report["error"],
        refusal(&format!(
            "weft egress: refused http://localhost:{p}/probe: localhost resolves to {first}, a loopback address; a name may only resolve to public addresses (an `egress` entry that names the address itself, such as \"http://{shown}\", reaches it)"
        )),
        "{report}"
    );
    assert_eq!(service.connections(), 0, "{:?}", service.seen());
}

/// Issue 53, finding 2: every spelling of a `.` or `..` segment is
/// refused under a prefix entry that injects a secret, the service never
/// sees the secret outside the prefix, and what is allowed arrives as it
/// was checked. Tenant `b`, which sees only `prefixed`, cannot reach the
/// wildcard adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_dot_segment_leaves_the_prefix() {
    let mut s = setup().await;
    let (service, p, b) = (&s.service, s.p, &mut s.b);
    // Dot segments, however written, under `/v1/*` with the secret.
    for path in [
        "/v1/../admin",
        "/v1/%2e%2e/admin",
        "/v1/%2E%2E/admin",
        "/v1/./../admin",
        "/v1/.%2e/admin",
        "/v1/..%2fadmin",
        "/v1/x/../../admin",
    ] {
        let report = get(b, "prefixed", &format!("http://127.0.0.1:{p}{path}")).await;
        let error = report["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(
                "the path has a `.` or `..` segment (in some spelling: `%2e`, `%2f`, `\\\\`); request the path you mean"
            ),
            "{path}: {report}"
        );
    }
    assert_eq!(service.connections(), 0, "{:?}", service.seen());

    // What is allowed arrives as checked, with the secret, in the prefix.
    let report = get(
        b,
        "prefixed",
        &format!("http://2130706433:{p}/v1/items?x=1"),
    )
    .await;
    assert_eq!(report["status"], json!(200), "{report}");
    let seen = service.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["path"], json!("/v1/items?x=1"), "{seen:?}");
    assert_eq!(
        seen[0]["headers"]["authorization"],
        json!(format!("Bearer {CANARY}")),
        "{seen:?}"
    );
    // Tenant b cannot reach `wild`, which only a sees.
    let (id, answer) = b
        .request(
            "tools/call",
            json!({"name": "wild__fetch", "arguments": {"url": "http://x/"}}),
        )
        .await;
    let message = answer.message(id);
    assert_eq!(
        message["error"],
        json!({"code": -32602, "message": "Unknown tool: \"wild__fetch\"; did you mean \"prefixed__fetch\"?"}),
        "{message}"
    );
}
