//! The REST fixture of the OpenAPI adapter's tests and bench
//! (`tests/fixtures/rest_api.py`, FastAPI under uvicorn from the tools
//! venv): started on a port the system picks, which it prints once its
//! socket listens. It records every request it gets; [`RestApi::seen`]
//! reads that record. [`RestApi::start_tls`] serves it over HTTPS.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{Background, first_line, get_json, repo_root, venv_bin};

/// The secrets the fixture's /secure endpoints take, passed to it in its
/// environment: the query key, the cookie key, basic's user and
/// password, and the bearer token.
pub const QUERY_KEY: &str = "qk-7d1f0c2a-query";
/// The API key its /secure/cookie takes in the `session` cookie.
pub const COOKIE_KEY: &str = "ck-5b9e1a33-cookie";
/// Its HTTP basic user.
pub const BASIC_USER: &str = "weft-user";
/// Its HTTP basic password.
pub const BASIC_PASSWORD: &str = "pw-2c8d4e6f-basic";
/// Its bearer token.
pub const BEARER: &str = "bt-9a4f7e21-bearer";
/// The OAuth 2 client its /token knows.
pub const CLIENT_ID: &str = "weft-machine";
/// That client's secret.
pub const CLIENT_SECRET: &str = "cs-41d7a9e0-client";

/// The `[servers.NAME.config]` line that serves the fixture's items API
/// only: its /secure, /forms, /search and /prefs operations left out.
pub const ITEMS_ONLY: &str =
    r#"exclude = ["* /secure/*", "* /forms/*", "GET /search", "GET /prefs"]"#;

/// The running service; killed when dropped.
pub struct RestApi {
    pub port: u16,
    /// Over HTTPS: the CA that issued its certificate.
    ca: Option<PathBuf>,
    _process: Background,
}

impl RestApi {
    /// Starts it and waits until it listens.
    pub fn start() -> RestApi {
        RestApi::spawn(&[], None)
    }

    /// Starts it over HTTPS with the server certificate of `pki` (issued
    /// for 127.0.0.1 by `pki.ca`).
    pub fn start_tls(pki: &super::pki::Pki) -> RestApi {
        let tls = [
            "--tls".as_ref(),
            pki.server_cert.as_os_str(),
            pki.server_key.as_os_str(),
        ];
        RestApi::spawn(&tls, Some(pki.ca.clone()))
    }

    fn spawn(args: &[&std::ffi::OsStr], ca: Option<PathBuf>) -> RestApi {
        let python = venv_bin("python");
        let mut cmd = Command::new(&python);
        cmd.arg(repo_root().join("tests/fixtures/rest_api.py"))
            .args(args)
            .env("REST_QUERY_KEY", QUERY_KEY)
            .env("REST_COOKIE_KEY", COOKIE_KEY)
            .env("REST_BASIC_USER", BASIC_USER)
            .env("REST_BASIC_PASSWORD", BASIC_PASSWORD)
            .env("REST_BEARER", BEARER)
            .env("REST_CLIENT_ID", CLIENT_ID)
            .env("REST_CLIENT_SECRET", CLIENT_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut process = Background::spawn(&mut cmd);
        let stdout = process.0.stdout.take().expect("stdout is piped");
        let line = first_line(stdout, Duration::from_secs(60));
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the REST fixture printed {line:?}, not its port: is FastAPI installed? run `bash .ci/setup-tools`"
                )
            });
        RestApi {
            port,
            ca,
            _process: process,
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://` over TLS.
    pub fn base(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// `GET PATH` over HTTPS, trusting the CA it was started with, as
    /// JSON.
    pub async fn get_tls(&self, path: &str) -> Value {
        let ca = self.ca.as_ref().expect("started with start_tls");
        let pem = std::fs::read(ca).expect("read the CA");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM CA"))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTPS client");
        let url = format!("{}{path}", self.base());
        let answer = client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        answer
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    }

    /// [`RestApi::seen`] of a service started with `start_tls`.
    pub async fn seen_tls(&self) -> Vec<Value> {
        match self.get_tls("/_seen").await {
            Value::Array(items) => items,
            other => panic!("/_seen is not a list: {other}"),
        }
    }

    /// The requests it has received, oldest first (method, raw path,
    /// query, headers).
    pub fn seen(&self) -> Vec<Value> {
        match get_json(&format!("127.0.0.1:{}", self.port), "/_seen") {
            Value::Array(items) => items,
            other => panic!("/_seen is not a list: {other}"),
        }
    }

    /// A config for the OpenAPI adapter on this service, as server
    /// `items`: `[settings]` naming `dir/secrets.toml`, which holds `key`,
    /// injected as `X-Api-Key`; the document written to
    /// `dir/openapi.json`, served without its /secure, /forms and /search
    /// operations (`openapi_wire.rs` tests those). Tables of other servers
    /// may follow it.
    pub fn items_config(&self, dir: &Path, key: &str) -> String {
        std::fs::write(dir.join("openapi.json"), self.openapi().to_string())
            .expect("write the document");
        super::write_secrets(dir, "ITEMS_KEY", key);
        format!(
            r#"[settings]
secrets = "secrets.toml"

[servers.items]
component = "builtin:openapi"
egress = ["http://127.0.0.1:{}/*"]
[servers.items.egress_headers."127.0.0.1"]
X-Api-Key = "${{secret:ITEMS_KEY}}"
[servers.items.config]
spec_file = "openapi.json"
base_url = "{}"
{ITEMS_ONLY}
"#,
            self.port,
            self.base()
        )
    }

    /// Its own OpenAPI document.
    pub fn openapi(&self) -> Value {
        get_json(&format!("127.0.0.1:{}", self.port), "/openapi.json")
    }
}
