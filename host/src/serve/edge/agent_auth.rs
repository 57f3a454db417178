//! OAuth for agents on `serve --http` (`[oauth]`): weft as a protected
//! resource. It publishes its metadata (RFC 9728) and takes JWT access
//! tokens from the configured issuer: signed by a key of the issuer's
//! JWKS, for weft's resource URL as audience, unexpired and already valid
//! (`exp` and `nbf`, each with [`LEEWAY_SECS`] of clock skew), with the
//! required scopes, naming a configured tenant in the tenant claim. A
//! token's scopes may narrow the tools it reaches (`[oauth.grants]`).
//!
//! The JWKS is fetched when a token needs a key weft does not hold, and
//! again when the keys are [`KEYS_FOR`] old. The issuer is never asked
//! more than once per [`REFETCH_AFTER`], whatever the reason and whether
//! it answered or not, so tokens naming made-up key ids cannot make weft
//! hammer it. A fetch runs as a task of its own, never under a lock: every
//! token that needs it waits on that one fetch (single flight), and a
//! token whose key weft holds never waits, even while old keys are being
//! refreshed (they answer until the new ones arrive).
//!
//! Symmetric algorithms (`HS*`) are refused: a public key must never be
//! usable as a shared secret. `alg: none` is not an algorithm here at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};

use crate::config::agent_oauth::AgentOAuthConfig;

/// How long fetched keys are trusted before they are fetched again.
const KEYS_FOR: Duration = Duration::from_secs(600);
/// The shortest time between two requests for the JWKS (the window).
const REFETCH_AFTER: Duration = Duration::from_secs(10);
/// The largest JWKS or metadata document weft reads.
const MAX_DOCUMENT: usize = 256 * 1024;
/// The largest token weft looks at.
const MAX_TOKEN: usize = 16 * 1024;
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 5;

/// Why a token is refused; each becomes a 401 (a 403 for a scope).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the token is not a valid JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0:?} is not accepted (asymmetric signatures only)")]
    Algorithm(String),
    #[error("the token's signing key is not one of the issuer's")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (its nbf is in the future)")]
    NotYet,
    #[error("the token is for another audience than {0}")]
    Audience(String),
    #[error("the token was not issued by {0}")]
    Issuer(String),
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token lacks the scope {0:?}")]
    Scope(String),
    #[error("the token names no tenant of this weft in its {0:?} claim")]
    Tenant(String),
    #[error("the issuer's keys cannot be fetched: {0}")]
    Keys(String),
}

impl Refusal {
    /// The RFC 6750 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Scope(_) => "insufficient_scope",
            _ => "invalid_token",
        }
    }
}

/// A token that passed: its tenant, subject and scopes.
#[derive(Debug, Clone)]
pub struct Verified {
    pub tenant: String,
    pub subject: String,
    pub scopes: Vec<String>,
}

/// The checker, with its cached keys.
pub struct Verifier {
    config: AgentOAuthConfig,
    keys: Arc<KeyCache>,
}

/// The issuer's keys, shared with the task fetching them.
struct KeyCache {
    issuer: String,
    http: reqwest::Client,
    /// Held only to read or write, never across an await.
    state: parking_lot::Mutex<Keys>,
}

/// A fetch under way; done when the keys (or the failure) are stored.
type Flight = Shared<BoxFuture<'static, ()>>;

#[derive(Default)]
struct Keys {
    set: Option<Arc<JwkSet>>,
    /// When the keys in `set` were fetched.
    fetched: Option<Instant>,
    /// When the issuer was last asked (answered or not).
    asked: Option<Instant>,
    /// Why the last fetch failed, until one succeeds.
    failure: Option<String>,
    jwks_uri: Option<String>,
    flight: Option<Flight>,
}

impl Keys {
    /// Whether the window since the last request has passed.
    fn may_ask(&self) -> bool {
        self.asked.is_none_or(|t| t.elapsed() >= REFETCH_AFTER)
    }

    /// The refusal for a token whose key is not in hand.
    fn missing(&self) -> Refusal {
        match (&self.set, &self.failure) {
            (Some(_), _) => Refusal::UnknownKey,
            (None, Some(why)) => Refusal::Keys(format!(
                "{why} (weft asks again at most every {} s)",
                REFETCH_AFTER.as_secs()
            )),
            (None, None) => Refusal::Keys("no answer from the issuer yet".into()),
        }
    }
}

impl Verifier {
    pub fn new(config: AgentOAuthConfig) -> Verifier {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Verifier {
            keys: Arc::new(KeyCache {
                issuer: config.issuer.clone(),
                http,
                state: parking_lot::Mutex::new(Keys {
                    jwks_uri: config.jwks_uri.clone(),
                    ..Keys::default()
                }),
            }),
            config,
        }
    }

    /// Whether `token` is shaped like a JWT (three base64url parts), so
    /// it is checked here rather than as an API key.
    pub fn looks_like_jwt(token: &str) -> bool {
        token.len() <= MAX_TOKEN
            && token.split('.').count() == 3
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }

    /// Checks `token`; `tenants` says which tenant names exist.
    pub async fn verify(
        &self,
        token: &str,
        tenants: impl Fn(&str) -> bool,
    ) -> Result<Verified, Refusal> {
        let header = decode_header(token).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if matches!(
            header.alg,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(Refusal::Algorithm(format!("{:?}", header.alg)));
        }
        let key = self.key_for(header.kid.as_deref(), header.alg).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.config.resource]);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::ExpiredSignature => Refusal::Expired,
                    K::ImmatureSignature => Refusal::NotYet,
                    K::InvalidAudience => Refusal::Audience(self.config.resource.clone()),
                    K::InvalidIssuer => Refusal::Issuer(self.config.issuer.clone()),
                    K::InvalidSignature => Refusal::Signature,
                    K::InvalidAlgorithm => Refusal::Algorithm(format!("{:?}", header.alg)),
                    _ => Refusal::Malformed(e.to_string()),
                }
            })?
            .claims;
        let scopes: Vec<String> = match claims.get("scope").or_else(|| claims.get("scp")) {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        if let Some(missing) = self.config.scopes.iter().find(|s| !scopes.contains(s)) {
            return Err(Refusal::Scope(missing.clone()));
        }
        let tenant = claims
            .get(&self.config.tenant_claim)
            .and_then(Value::as_str)
            .filter(|t| tenants(t))
            .ok_or_else(|| Refusal::Tenant(self.config.tenant_claim.clone()))?;
        let mut subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        crate::util::truncate(&mut subject, 64);
        Ok(Verified {
            tenant: tenant.to_string(),
            subject,
            scopes,
        })
    }

    /// The tool patterns `scopes` grant, when `[oauth.grants]` is set.
    pub fn grants_for(&self, scopes: &[String]) -> Option<Vec<String>> {
        if self.config.grants.is_empty() {
            return None;
        }
        Some(
            scopes
                .iter()
                .filter_map(|s| self.config.grants.get(s))
                .flatten()
                .cloned()
                .collect(),
        )
    }

    /// The key the token names (by `kid`, or the only key of a fitting
    /// type). Keys in hand answer at once (old ones start a refresh in
    /// the background); a key not in hand waits for the fetch under way,
    /// or starts one if the window allows, else is refused at once.
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, Refusal> {
        let flight = {
            let mut keys = self.keys.state.lock();
            if let Some(jwk) = keys.set.as_ref().and_then(|s| pick(s, kid, alg)) {
                let key = DecodingKey::from_jwk(jwk).map_err(|_| Refusal::UnknownKey);
                let old = keys.fetched.is_none_or(|t| t.elapsed() > KEYS_FOR);
                if old && keys.flight.is_none() && keys.may_ask() {
                    // Nobody waits on it: it stores what it gets.
                    self.keys.start(&mut keys);
                }
                return key;
            }
            match keys.flight.clone() {
                Some(flight) => flight,
                None if keys.may_ask() => self.keys.start(&mut keys).clone(),
                None => return Err(keys.missing()),
            }
        };
        flight.await;
        let keys = self.keys.state.lock();
        let jwk = keys
            .set
            .as_ref()
            .and_then(|s| pick(s, kid, alg))
            .ok_or_else(|| keys.missing())?;
        DecodingKey::from_jwk(jwk).map_err(|_| Refusal::UnknownKey)
    }

    /// weft's protected-resource metadata (RFC 9728).
    pub fn metadata(&self) -> Value {
        serde_json::json!({
            "resource": self.config.resource,
            "authorization_servers": [self.config.issuer],
            "scopes_supported": self.config.scopes,
            "bearer_methods_supported": ["header"],
        })
    }

    /// The metadata's URL, from the resource URL: its origin, then the
    /// well-known path with the resource's path after it.
    pub fn metadata_url(&self) -> String {
        let resource = &self.config.resource;
        let after_scheme = resource.find("://").map_or(0, |i| i + 3);
        let (origin, path) = match resource[after_scheme..].find('/') {
            Some(i) => resource.split_at(after_scheme + i),
            None => (resource.as_str(), ""),
        };
        format!(
            "{origin}/.well-known/oauth-protected-resource{}",
            path.trim_end_matches('/')
        )
    }

    /// The `WWW-Authenticate` challenge for a refusal (`None`: no token
    /// was sent).
    pub fn challenge(&self, refusal: Option<&Refusal>) -> String {
        let mut parts = vec![format!("resource_metadata=\"{}\"", self.metadata_url())];
        if !self.config.scopes.is_empty() {
            parts.push(format!("scope=\"{}\"", self.config.scopes.join(" ")));
        }
        if let Some(r) = refusal {
            parts.push(format!("error=\"{}\"", r.code()));
            let description = r.to_string().replace(['"', '\\'], "'");
            parts.push(format!("error_description=\"{description}\""));
        }
        format!("Bearer {}", parts.join(", "))
    }
}

impl KeyCache {
    /// Starts a fetch as a task of its own and notes it in `keys` (whose
    /// lock the caller holds): the flight to wait on.
    fn start<'k>(self: &Arc<Self>, keys: &'k mut Keys) -> &'k Flight {
        keys.asked = Some(Instant::now());
        let cache = self.clone();
        let task = tokio::spawn(async move {
            // Ends the flight however the task ends.
            let _landed = Landed(cache.clone());
            let fetched = cache.fetch().await;
            let mut keys = cache.state.lock();
            match fetched {
                Ok(set) => {
                    keys.set = Some(Arc::new(set));
                    keys.fetched = Some(Instant::now());
                    keys.failure = None;
                }
                Err(e) => {
                    if keys.set.is_some() {
                        tracing::warn!("cannot refresh the OAuth issuer's keys: {e}");
                    }
                    keys.failure = Some(format!("{e:#}"));
                }
            }
        });
        let flight = async move {
            let _ = task.await;
        }
        .boxed()
        .shared();
        keys.flight.insert(flight)
    }

    /// The issuer's JWKS (finding its URL in the issuer's metadata first,
    /// when the config names none).
    async fn fetch(&self) -> anyhow::Result<JwkSet> {
        let known = self.state.lock().jwks_uri.clone();
        let uri = match known {
            Some(u) => u,
            None => {
                let uri = self.discover().await?;
                self.state.lock().jwks_uri = Some(uri.clone());
                uri
            }
        };
        let doc = self.get_json(&uri).await?;
        serde_json::from_value(doc).map_err(|e| anyhow::anyhow!("{uri} is not a JWKS: {e}"))
    }

    /// `jwks_uri` from the issuer's authorization-server (or OpenID)
    /// metadata.
    async fn discover(&self) -> anyhow::Result<String> {
        let base = self.issuer.trim_end_matches('/');
        let mut tried = Vec::new();
        for path in [
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ] {
            let url = format!("{base}{path}");
            match self.get_json(&url).await {
                Ok(doc) => {
                    if let Some(uri) = doc.get("jwks_uri").and_then(Value::as_str) {
                        return Ok(uri.to_string());
                    }
                    tried.push(format!("{url}: no jwks_uri"));
                }
                Err(e) => tried.push(format!("{e:#}")),
            }
        }
        Err(anyhow::anyhow!(
            "no jwks_uri in the issuer's metadata ({}); set `jwks_uri` under [oauth]",
            tried.join("; ")
        ))
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(anyhow::anyhow!("{url} answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err(anyhow::anyhow!("{url} is over {MAX_DOCUMENT} bytes"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        if body.len() > MAX_DOCUMENT {
            return Err(anyhow::anyhow!("{url} is over {MAX_DOCUMENT} bytes"));
        }
        serde_json::from_slice(&body).map_err(|e| anyhow::anyhow!("{url} is not JSON: {e}"))
    }
}

/// Ends a fetch's flight when its task ends (answered, failed, or
/// cancelled with the runtime).
struct Landed(Arc<KeyCache>);

impl Drop for Landed {
    fn drop(&mut self) {
        self.0.state.lock().flight = None;
    }
}

/// The caller an agent's OAuth token makes: its tenant, known by the
/// token's subject, narrowed to what its scopes grant.
pub(in crate::serve) async fn caller(
    verifier: &Verifier,
    token: &str,
    tenants: &crate::tenant::Tenants,
) -> Result<crate::tenant::Caller, Refusal> {
    let ok = verifier
        .verify(token, |name| tenants.get(name).is_some())
        .await?;
    let tenant = tenants
        .get(&ok.tenant)
        .ok_or_else(|| Refusal::Tenant(ok.tenant.clone()))?;
    let caller = crate::tenant::Caller::tenant(tenant, &format!("oauth:{}", ok.subject));
    Ok(match verifier.grants_for(&ok.scopes) {
        Some(patterns) => match crate::config::Grants::new(&patterns) {
            Ok(grants) => caller.with_grants(&grants),
            Err(_) => caller.with_grants(&crate::config::Grants::default()),
        },
        None => caller,
    })
}

/// 401 (403 for a missing scope) with the challenge that points an
/// OAuth client at weft's metadata.
pub(in crate::serve) fn refusal(
    verifier: &Verifier,
    refusal: Option<&Refusal>,
) -> axum::response::Response {
    let (status, message) = match refusal {
        Some(r @ Refusal::Scope(_)) => (http::StatusCode::FORBIDDEN, r.to_string()),
        Some(r) => (http::StatusCode::UNAUTHORIZED, r.to_string()),
        None => (
            http::StatusCode::UNAUTHORIZED,
            "send an OAuth access token, or a tenant's key, as `Authorization: Bearer TOKEN`"
                .into(),
        ),
    };
    let mut r = crate::serve::refusal::response(status, &message, None, None);
    if let Ok(v) = http::HeaderValue::from_str(&verifier.challenge(refusal)) {
        r.headers_mut().insert(http::header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The key for `kid`; without one, the only key of the algorithm's family.
fn pick<'a>(
    set: &'a JwkSet,
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<&'a jsonwebtoken::jwk::Jwk> {
    match kid {
        Some(kid) => set.find(kid),
        None => {
            let mut fitting = set
                .keys
                .iter()
                .filter(|k| DecodingKey::from_jwk(k).is_ok_and(|d| d.family() == alg.family()));
            let one = fitting.next();
            one.filter(|_| fitting.next().is_none())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(resource: &str) -> Verifier {
        Verifier::new(AgentOAuthConfig {
            issuer: "https://auth.example".into(),
            resource: resource.into(),
            jwks_uri: None,
            tenant_claim: "org".into(),
            scopes: vec!["mcp".into()],
            grants: Default::default(),
        })
    }

    #[test]
    fn the_metadata_url_keeps_the_resource_path() {
        assert_eq!(
            verifier("https://weft.example/mcp").metadata_url(),
            "https://weft.example/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            verifier("https://weft.example").metadata_url(),
            "https://weft.example/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn only_jwt_shaped_tokens_are_taken_for_jwts() {
        assert!(Verifier::looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(!Verifier::looks_like_jwt("weft_abc123"));
        assert!(!Verifier::looks_like_jwt("a.b.c d"));
    }

    #[test]
    fn a_challenge_quotes_nothing_the_token_said() {
        let v = verifier("https://weft.example/mcp");
        let c = v.challenge(Some(&Refusal::Malformed("bad \"quote\"".into())));
        assert!(c.starts_with("Bearer resource_metadata=\"https://weft.example/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\", error=\"invalid_token\""), "{c}");
        assert!(!c.contains("\\\""));
    }
}
