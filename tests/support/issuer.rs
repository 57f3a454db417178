//! A test OAuth issuer for agents' tokens (`[oauth]` on `weft serve
//! --http`): [`Signer`], an ECDSA P-256 key made at run time that signs
//! JWTs for weft's resource, and [`Issuer`], an HTTP server on 127.0.0.1
//! publishing their JWKS. The issuer counts every JWKS request, and can be
//! told to fail them (503) or to stall them (hold the request unanswered
//! until it is told to serve again): faults a real issuer shows under
//! load, which the tests need on demand. [`initialize`] sends an MCP
//! `initialize` with a token as its bearer.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::edge::{Answer, Raw};

/// The issuer every test token names.
pub const ISSUER: &str = "https://issuer.test";
/// The resource (audience) every test token is for.
pub const RESOURCE: &str = "http://weft.test/mcp";

/// A signing key of the test issuer, with its key id.
pub struct Signer {
    pub kid: String,
    key: EncodingKey,
    pub jwk: Jwk,
}

impl Signer {
    pub fn new(kid: &str) -> Signer {
        let pair = rcgen::KeyPair::generate().expect("an ECDSA key");
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("the key");
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).expect("its JWK");
        jwk.common.key_id = Some(kid.to_string());
        Signer {
            kid: kid.to_string(),
            key,
            jwk,
        }
    }

    /// A token with these claims over the defaults (issuer, audience,
    /// an hour's life, scope `mcp`).
    pub fn token(&self, claims: Value) -> String {
        self.token_as(&self.kid, claims)
    }

    /// [`Signer::token`] with `kid` in its header instead of this key's id.
    pub fn token_as(&self, kid: &str, claims: Value) -> String {
        let now = now();
        let mut all = json!({
            "iss": ISSUER, "aud": RESOURCE, "sub": "alice",
            "iat": now, "exp": now + 3600, "scope": "mcp",
        });
        for (k, v) in claims.as_object().expect("claims").clone() {
            all[k] = v;
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        encode(&header, &all, &self.key).expect("sign")
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock")
        .as_secs()
}

/// How the issuer answers a JWKS request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 with the keys.
    Serve,
    /// 503.
    Fail,
    /// No answer until the mode changes.
    Stall,
}

struct State {
    keys: JwkSet,
    mode: Mutex<Mode>,
    /// Told when the mode changes, so stalled requests look again.
    changed: tokio::sync::Notify,
    fetches: AtomicUsize,
}

/// The issuer's JWKS endpoint; it stops when dropped.
pub struct Issuer {
    /// The JWKS URL (`http://127.0.0.1:PORT/jwks.json`).
    pub jwks_uri: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Issuer {
    /// Starts it publishing `signers`' keys, answering as `mode` (call
    /// inside a tokio runtime).
    pub async fn start(signers: &[&Signer], mode: Mode) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let port = listener.local_addr().expect("its address").port();
        let state = Arc::new(State {
            keys: JwkSet {
                keys: signers.iter().map(|s| s.jwk.clone()).collect(),
            },
            mode: Mutex::new(mode),
            changed: tokio::sync::Notify::new(),
            fetches: AtomicUsize::new(0),
        });
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(req, s.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Issuer {
            jwks_uri: format!("http://127.0.0.1:{port}/jwks.json"),
            state,
            task,
        }
    }

    /// Answers from now on as `mode` (stalled requests are answered so).
    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock() = mode;
        self.state.changed.notify_waiters();
    }

    /// The JWKS requests received so far (answered or not).
    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
        self.set(Mode::Fail);
    }
}

async fn answer(
    req: Request<Incoming>,
    s: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/jwks.json" {
        return Ok(status(404));
    }
    s.fetches.fetch_add(1, Ordering::SeqCst);
    loop {
        let changed = s.changed.notified();
        let mode = *s.mode.lock();
        match mode {
            Mode::Serve => break,
            Mode::Fail => return Ok(status(503)),
            Mode::Stall => changed.await,
        }
    }
    let body = serde_json::to_string(&s.keys).expect("JWKS JSON");
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a response"))
}

fn status(code: u16) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .body(Full::new(Bytes::new()))
        .expect("a response")
}

/// An `initialize` with `token` as the bearer: the answer.
pub(crate) async fn initialize(base: &str, token: Option<&str>) -> Answer {
    let http = reqwest::Client::new();
    let mut raw = Raw::new(&http, base, "2025-11-25");
    raw.key = token.map(str::to_owned);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "weft-agent-oauth", "version": "1"}}});
    raw.post(&init, &[]).await
}
