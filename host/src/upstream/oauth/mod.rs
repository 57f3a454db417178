//! OAuth 2.1 for HTTP upstreams, per the MCP authorization spec, on rmcp's
//! `AuthorizationManager` (discovery through protected-resource metadata
//! and authorization-server metadata, dynamic registration or a client
//! metadata document, PKCE, the `resource` parameter, `iss` checks,
//! refresh).
//!
//! Machine grants (client credentials with a secret or a private key, a
//! workload's JWT, enterprise-managed authorization) are in `machine`;
//! DPoP-bound tokens in [`dpop`]. The server's TLS settings (`ca_file`, a
//! client certificate) apply to its authorization server too.
//!
//! One [`OAuth`] per server instance (per tenant for a per-tenant server)
//! outlives its connections. A transport asks it for the token to send
//! ([`OAuth::token`]); on a 401 it asks for a fresh one
//! ([`OAuth::unauthorized`]: a refresh, a new client-credentials token, or
//! a login where someone can log in); on a 403 naming a scope it asks for
//! a token with that scope too ([`OAuth::forbidden`]). Each transport
//! retries a request once with what it gets, so nothing loops.
//!
//! Where nobody can log in (`weft serve`, `weft call`), a server that has
//! no token fails with an error that names `weft auth login`. An embedding
//! program may install an [`Authorizer`] that can.
//!
//! Tokens are weft's own, for that server alone: the agent's credentials
//! never reach an upstream, and the token goes nowhere but its server.

mod authed;
pub mod dpop;
mod login;
mod machine;
mod store;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use oauth2::TokenResponse;
use rmcp::transport::auth::{AuthError, AuthorizationManager, AuthorizationMetadata};

pub use authed::Authed;
pub use login::{Authorizer, BoxFuture, Loopback, login, logout, status};
pub use store::Record;

use crate::config::oauth::{Grant, OAuthConfig};
use crate::config::tls::TlsConfig;

/// Tokens are renewed this long before they expire, or when a quarter of
/// a shorter life is left.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// Why a server cannot be given a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// Nobody has logged in (or the login expired and cannot be renewed).
    #[error("{server} needs an OAuth login: run `weft auth login {server}{}`", tenant_flag(.tenant))]
    LoginNeeded {
        /// The server that needs the login.
        server: String,
        /// The tenant of a per-tenant instance, whose login it is; `None` for a shared server.
        tenant: Option<String>,
    },
    /// The server wants a scope the token lacks, and nobody can grant it.
    #[error(
        "{server} needs the OAuth scope {scope:?}: run `weft auth login {server}{} --scope {scope}`",
        tenant_flag(.tenant)
    )]
    ScopeNeeded {
        /// The server that wants the scope.
        server: String,
        /// The tenant of a per-tenant instance, whose login it is; `None` for a shared server.
        tenant: Option<String>,
        /// The scope the server asked for.
        scope: String,
    },
    /// Discovery, registration or a token request failed.
    #[error("OAuth for {server} failed: {detail}")]
    Failed {
        /// The server whose OAuth failed.
        server: String,
        /// What failed, as a message (at most 500 bytes).
        detail: String,
    },
}

/// At most `max` bytes of `text` (what a server sent is hostile).
fn clip(text: &str, max: usize) -> String {
    let mut text = text.to_string();
    crate::util::truncate(&mut text, max);
    text
}

fn tenant_flag(tenant: &Option<String>) -> String {
    tenant
        .as_ref()
        .map(|t| format!(" --tenant {t}"))
        .unwrap_or_default()
}

/// An authorizer for every server of this process (an embedding program's
/// way to log in when a server asks; see [`Authorizer`]).
static AUTHORIZER: OnceLock<Arc<dyn Authorizer>> = OnceLock::new();

/// Installs the authorizer weft uses when a server wants a login or a
/// wider scope mid-run. Only the first call takes effect.
pub fn set_authorizer(authorizer: Arc<dyn Authorizer>) {
    let _ = AUTHORIZER.set(authorizer);
}

/// The OAuth state of one server instance.
pub struct OAuth {
    pub server: String,
    pub tenant: Option<String>,
    url: String,
    config: OAuthConfig,
    /// The server's TLS settings: its authorization server is reached
    /// with the same private CA and client certificate.
    tls: TlsConfig,
    slot: store::Slot,
    /// Set up on first use; replaced by a login or a new client token.
    manager: tokio::sync::Mutex<Option<Arc<AuthorizationManager>>>,
    /// The token last handed out, and until when it may be reused.
    cached: parking_lot::Mutex<Option<(String, Option<Instant>)>>,
    /// The DPoP key, once the server is known to want one.
    dpop: parking_lot::Mutex<Option<Arc<dpop::Key>>>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("server", &self.server)
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl OAuth {
    pub fn new(server: &str, tenant: Option<String>, url: &str, config: OAuthConfig) -> OAuth {
        OAuth {
            slot: store::Slot::new(config.store.clone(), tenant.clone(), server),
            server: server.to_string(),
            tenant,
            url: url.to_string(),
            config,
            tls: TlsConfig::default(),
            manager: Default::default(),
            cached: Default::default(),
            dpop: Default::default(),
        }
    }

    /// The same, reaching the server's authorization server with the
    /// server's TLS settings (`ca_file`, a client certificate).
    pub fn with_tls(mut self, tls: TlsConfig) -> OAuth {
        self.tls = tls;
        self
    }

    /// An HTTP client for OAuth requests: no redirects, a time limit, and
    /// the server's TLS settings.
    async fn http_client(&self) -> Result<reqwest::Client, OAuthError> {
        let loaded = crate::upstream::tls::load(&self.tls)
            .await
            .map_err(|e| self.failed(e))?;
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30));
        loaded
            .apply(builder, &self.url)
            .build()
            .map_err(|e| self.failed(e))
    }

    /// The DPoP key, when the server wants DPoP: `dpop = true`, a
    /// challenge of the DPoP scheme, or a key stored with earlier tokens.
    /// A new key is stored at once, before any token is bound to it.
    async fn dpop_key(
        &self,
        challenge: Option<&str>,
    ) -> Result<Option<Arc<dpop::Key>>, OAuthError> {
        if let Some(key) = self.dpop.lock().clone() {
            return Ok(Some(key));
        }
        let stored = self
            .slot
            .load()
            .await
            .map_err(|e| self.failed(e))?
            .and_then(|r| r.dpop_key);
        let key = match stored {
            Some(text) => dpop::Key::restore(&text).map_err(|e| self.failed(e))?,
            None if self.config.dpop || dpop::is_dpop_challenge(challenge) => {
                let key = dpop::Key::generate().map_err(|e| self.failed(e))?;
                let text = key.stored();
                self.slot
                    .update(move |old| {
                        let mut record = old.unwrap_or_default();
                        record.dpop_key = Some(text);
                        Some(record)
                    })
                    .await
                    .map_err(|e| self.failed(e))?;
                key
            }
            None => return Ok(None),
        };
        let key = Arc::new(key);
        *self.dpop.lock() = Some(key.clone());
        Ok(Some(key))
    }

    /// The headers that present `token` on a `method` request to `url`:
    /// `Authorization: Bearer`, or for a DPoP server `Authorization: DPoP`
    /// and a fresh proof.
    pub fn present(
        &self,
        method: &str,
        url: &str,
        token: &str,
    ) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, OAuthError> {
        let key = self.dpop.lock().clone();
        let Some(key) = key else {
            let mut value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| self.failed("the token is not a valid header value"))?;
            value.set_sensitive(true);
            return Ok(vec![(http::header::AUTHORIZATION, value)]);
        };
        let proof = key
            .proof(method, url, Some(token), true)
            .map_err(|e| self.failed(e))?;
        let value = dpop::authorization(token)
            .ok_or_else(|| self.failed("the token is not a valid header value"))?;
        Ok(vec![
            (http::header::AUTHORIZATION, value),
            (dpop::DPOP, proof),
        ])
    }

    /// Keeps the DPoP nonce the server sent with an answer; true when the
    /// answer is a 401 asking for one, so the request should be sent once
    /// more, with the same token and a proof carrying the nonce.
    pub fn nonce_asked(&self, status: http::StatusCode, headers: &http::HeaderMap) -> bool {
        let key = self.dpop.lock().clone();
        let Some(key) = key else { return false };
        let sent = key.note_nonce(headers, true);
        let challenge = headers
            .get(http::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok());
        sent && status == http::StatusCode::UNAUTHORIZED && dpop::wants_nonce(challenge)
    }

    /// Whether requests to the server carry DPoP proofs.
    pub fn uses_dpop(&self) -> bool {
        self.dpop.lock().is_some()
    }

    fn failed(&self, detail: impl std::fmt::Display) -> OAuthError {
        OAuthError::Failed {
            server: self.server.clone(),
            detail: clip(&detail.to_string(), 500),
        }
    }

    fn login_needed(&self) -> OAuthError {
        OAuthError::LoginNeeded {
            server: self.server.clone(),
            tenant: self.tenant.clone(),
        }
    }

    /// The token to send, or `None` when weft has none yet (the request
    /// goes without, and the server's 401 says how to authorize).
    pub async fn token(&self) -> Result<Option<String>, OAuthError> {
        if let Some((token, until)) = self.cached.lock().clone()
            && until.is_none_or(|u| Instant::now() < u)
        {
            return Ok(Some(token));
        }
        let mut slot = self.manager.lock().await;
        if slot.is_none() {
            *slot = self.restore().await?;
        }
        let Some(manager) = slot.clone() else {
            return Ok(None);
        };
        if let Some((token, until)) = self.stored().await?
            && until.is_none_or(|u| Instant::now() < u)
        {
            *self.cached.lock() = Some((token.clone(), until));
            return Ok(Some(token));
        }
        // Renewed before it expires: a refresh, or a new client token.
        match self.config.grant {
            g if g.is_machine() => {
                *slot = Some(self.machine(None, &[]).await?);
            }
            _ => {
                manager.refresh_token().await.map_err(|e| match e {
                    AuthError::AuthorizationRequired | AuthError::TokenRefreshRejected(_) => {
                        self.login_needed()
                    }
                    e => self.failed(format!("refresh: {e}")),
                })?;
            }
        }
        self.fresh().await.map(Some)
    }

    /// After a 401 to a request that carried `sent`: a token to try once
    /// more with, or why there is none.
    pub async fn unauthorized(
        &self,
        sent: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<String, OAuthError> {
        self.cached.lock().take();
        let mut slot = self.manager.lock().await;
        if let (Some(sent), Some(manager)) = (sent, slot.clone()) {
            // Another request may have renewed it meanwhile.
            if let Ok(token) = manager.get_access_token().await
                && token != sent
            {
                return Ok(token);
            }
            if let Ok(fresh) = manager.refresh_token().await {
                let token = fresh.access_token().secret().to_string();
                if token != sent {
                    return Ok(token);
                }
            }
        }
        let manager = match self.config.grant {
            g if g.is_machine() => self.machine(challenge, &[]).await?,
            _ => match AUTHORIZER.get() {
                Some(authorizer) => Arc::new(
                    login::authorize(self, authorizer.as_ref(), challenge, &self.config.scopes)
                        .await?,
                ),
                None => return Err(self.login_needed()),
            },
        };
        *slot = Some(manager.clone());
        self.fresh().await
    }

    /// After a 403 whose challenge names a scope the token lacks: a token
    /// with that scope too, or why there is none.
    pub async fn forbidden(&self, challenge: &str) -> Result<String, OAuthError> {
        let base = reqwest::Url::parse(&self.url).map_err(|e| self.failed(e))?;
        let params = rmcp::transport::WWWAuthenticateParams::parse(challenge, &base);
        let scope = params.scope.clone().unwrap_or_default();
        if !params.is_insufficient_scope() || scope.is_empty() {
            return Err(self.failed(format!(
                "the server refused the token (403): {}",
                clip(challenge, 200)
            )));
        }
        let needed = || OAuthError::ScopeNeeded {
            server: self.server.clone(),
            tenant: self.tenant.clone(),
            scope: scope.clone(),
        };
        self.cached.lock().take();
        let mut slot = self.manager.lock().await;
        let current = slot.clone();
        let manager = match (self.config.grant, AUTHORIZER.get(), current) {
            (g, _, _) if g.is_machine() => {
                let wanted: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
                self.machine(Some(challenge), &wanted).await?
            }
            (Grant::AuthorizationCode, Some(authorizer), Some(manager)) => {
                if !manager.can_attempt_scope_upgrade().await {
                    return Err(needed());
                }
                let url = manager
                    .request_scope_upgrade(&scope)
                    .await
                    .map_err(|_| needed())?;
                login::finish(self, &manager, authorizer.as_ref(), &url).await?;
                manager
            }
            _ => return Err(needed()),
        };
        *slot = Some(manager.clone());
        self.fresh().await
    }

    /// The manager for the tokens stored earlier, or `None` when there are
    /// none (and none can be had without a person).
    async fn restore(&self) -> Result<Option<Arc<AuthorizationManager>>, OAuthError> {
        if self.config.grant.is_machine() {
            return self.machine(None, &[]).await.map(Some);
        }
        let record = self.slot.load().await.map_err(|e| self.failed(e))?;
        let Some(record) = record.filter(|r| r.credentials.is_some()) else {
            return Ok(None);
        };
        login::restore(self, record)
            .await
            .map(|m| Some(Arc::new(m)))
    }

    /// A manager that found the server's authorization server.
    async fn discover(
        &self,
        challenge: Option<&str>,
    ) -> Result<(AuthorizationManager, AuthorizationMetadata), OAuthError> {
        let key = self.dpop_key(challenge).await?;
        let mut manager = match key {
            // Token requests carry proofs: rmcp's OAuth code runs on an
            // HTTP client that adds them.
            Some(key) => {
                let http = dpop::Http {
                    client: self.http_client().await?,
                    key: Some(key),
                };
                AuthorizationManager::new_with_oauth_http_client(self.url.as_str(), Arc::new(http))
                    .await
            }
            None => AuthorizationManager::new(self.url.as_str()).await,
        }
        .map_err(|e| self.failed(e))?;
        manager.set_credential_store(store::Tokens(self.slot.clone()));
        if self.tls.is_set() && self.dpop.lock().is_none() {
            let client = self.http_client().await?;
            manager.with_client(client).map_err(|e| self.failed(e))?;
        }
        let found = manager
            .resolve_metadata_from_challenge(challenge)
            .await
            .map_err(|e| self.failed(format!("discovery: {e}")))?;
        manager.set_metadata(found.metadata.clone());
        Ok((manager, found.metadata))
    }

    /// The token just stored, remembered.
    async fn fresh(&self) -> Result<String, OAuthError> {
        let (token, until) = self.stored().await?.ok_or_else(|| self.login_needed())?;
        *self.cached.lock() = Some((token.clone(), until));
        Ok(token)
    }

    /// The stored access token, and until when to use it: while a quarter
    /// of its life (at most 30 s) is left.
    async fn stored(&self) -> Result<Option<(String, Option<Instant>)>, OAuthError> {
        let record = self.slot.load().await.map_err(|e| self.failed(e))?;
        let Some(creds) = record.and_then(|r| r.credentials) else {
            return Ok(None);
        };
        let Some(response) = creds.token_response.as_ref() else {
            return Ok(None);
        };
        let token = response.access_token().secret().to_string();
        let until = response
            .expires_in()
            .zip(creds.token_received_at)
            .map(|(life, at)| {
                let now = crate::util::unix_ms(std::time::SystemTime::now()) / 1000;
                let left = Duration::from_secs((at + life.as_secs()).saturating_sub(now));
                let margin = (life / 4).min(RENEW_BEFORE);
                Instant::now() + left.saturating_sub(margin)
            });
        Ok(Some((token, until)))
    }
}
