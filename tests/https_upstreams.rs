//! HTTPS upstreams: the Python SDK's server under uvicorn with TLS
//! (`tests/fixtures/python/http_server.py --tls`), its certificate issued
//! at run time by a test CA made with rcgen. A server's `ca_file` makes
//! its certificate trusted, and without it the connection fails with a
//! certificate error; mutual TLS works with `client_cert`/`client_key`
//! and is refused without them; `insecure_skip_verify` connects, with a
//! warning.

use std::path::Path;

use crate::support::pki::Pki;
use crate::support::*;
use serde_json::json;
use weft::{Hub, State};

/// The Python SDK fixture over HTTPS on a port of its choosing; with
/// `client_ca`, it requires a client certificate issued by that CA.
fn python_https(pki: &Pki, client_ca: bool) -> (Background, u16) {
    let mut args = vec![
        "--tls".into(),
        pki.server_cert.clone().into_os_string(),
        pki.server_key.clone().into_os_string(),
    ];
    if client_ca {
        args.push("--client-ca".into());
        args.push(pki.ca.clone().into_os_string());
    }
    crate::http_upstreams::python_http_with(&args)
}

/// A hub with one server `secure` at `https://localhost:PORT/mcp` and the
/// TLS keys in `tls` (TOML lines).
async fn hub_with(dir: &Path, port: u16, tls: &str) -> Hub {
    let text = format!("[servers.secure]\nurl = \"https://localhost:{port}/mcp\"\n{tls}");
    within("the hub starts", Hub::start(config(dir, &text))).await
}

/// Waits until `secure` is up and answers an echo over TLS.
async fn echoes(hub: &Hub) {
    let up = hub.upstream("secure").unwrap();
    assert_eq!(up.status().state, State::Up, "{:?}", up.status().state);
    assert_eq!(up.status().server_name.as_deref(), Some("http-fixture"));
    let r = within(
        "an echo over TLS",
        hub.call_tool(
            "secure",
            "echo",
            json!({"message": "over tls"}).as_object().cloned(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(text_of(&r), "Echo: over tls");
}

/// Why `secure` did not come up.
fn failure(hub: &Hub) -> String {
    match hub.upstream("secure").unwrap().status().state {
        State::BackingOff { reason, .. } => reason,
        State::Failed { error } => error.to_string(),
        other => panic!("the server should not be up: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_through_ca_file_and_only_then() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (_server, port) = python_https(&pki, false);

    let hub = hub_with(dir.path(), port, "ca_file = \"ca.pem\"\n").await;
    echoes(&hub).await;
    within("hub shutdown", hub.shutdown()).await;

    // The same server without `ca_file`: its issuer is unknown.
    let hub = hub_with(dir.path(), port, "").await;
    let why = failure(&hub);
    assert!(
        why.contains("invalid peer certificate") && why.contains("UnknownIssuer"),
        "a certificate error that says so: {why}"
    );
    within("hub shutdown", hub.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_works_with_a_client_certificate_and_is_refused_without() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (_server, port) = python_https(&pki, true);

    let hub = hub_with(
        dir.path(),
        port,
        &format!(
            "ca_file = \"ca.pem\"\nclient_cert = \"client.pem\"\nclient_key = {}\n",
            q(pki.client_key.display().to_string())
        ),
    )
    .await;
    echoes(&hub).await;
    within("hub shutdown", hub.shutdown()).await;

    // Without a client certificate the server ends the connection (under
    // TLS 1.3 it checks the client's certificate after the handshake, so
    // weft sees the connection reset rather than a TLS alert).
    let hub = hub_with(dir.path(), port, "ca_file = \"ca.pem\"\n").await;
    let why = failure(&hub);
    assert!(
        why.starts_with(&format!("cannot connect to https://localhost:{port}/mcp"))
            && why.contains("cannot reach the server"),
        "the connection is refused: {why}"
    );
    within("hub shutdown", hub.shutdown()).await;
}

#[test]
fn insecure_skip_verify_connects_and_warns_each_time() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (_server, port) = python_https(&pki, false);
    let config = dir.path().join("weft.toml");
    std::fs::write(
        &config,
        format!(
            "[servers.secure]\nurl = \"https://localhost:{port}/mcp\"\ninsecure_skip_verify = true\n"
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let out = weft()
            .env("WEFT_LOG", "warn")
            .arg("-c")
            .arg(&config)
            .args(["call", "secure", "echo", r#"{"message":"unchecked"}"#])
            .output_timed()
            .expect("weft call runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        assert!(stdout.contains("Echo: unchecked"), "{stdout}");
        assert!(
            stderr.contains("insecure_skip_verify is set")
                && stderr.contains("accepts ANY certificate"),
            "a loud warning on every start: {stderr}"
        );
    }
}

#[test]
fn tls_keys_are_checked_when_the_config_loads() {
    let dir = temp_dir();
    let cases = [
        (
            "[servers.s]\ncommand = \"x\"\nca_file = \"ca.pem\"\n",
            "apply only to https:// servers",
        ),
        (
            "[servers.s]\nurl = \"http://127.0.0.1:1/mcp\"\ninsecure_skip_verify = true\n",
            "apply only to https:// URLs",
        ),
        (
            "[servers.s]\nurl = \"https://h/mcp\"\nca_file = \"missing.pem\"\n",
            "servers.s.ca_file: cannot read",
        ),
        (
            "[servers.s]\nurl = \"https://h/mcp\"\nclient_cert = \"c.pem\"\n",
            "servers.s.client_cert: is set without `client_key`",
        ),
    ];
    for (text, want) in cases {
        let config = dir.path().join("weft.toml");
        std::fs::write(&config, text).unwrap();
        let out = weft()
            .arg("-c")
            .arg(&config)
            .arg("check")
            .output_timed()
            .expect("weft check runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(want), "{text}: {stderr}");
    }
}
