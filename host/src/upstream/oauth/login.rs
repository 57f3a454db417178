//! Logging in to an upstream: the authorization-code flow with PKCE, the
//! browser sent back to a loopback listener ([`Loopback`]) or to whatever
//! an embedding program's [`Authorizer`] does; and the stored login read
//! back ([`restore`]), shown ([`status`]) and forgotten ([`logout`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::TokenResponse;
use rmcp::transport::auth::{AuthorizationCallback, AuthorizationManager, OAuthClientConfig};

use super::{OAuth, OAuthError, Record};

/// A boxed future, for [`Authorizer`]'s object-safe method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long a login waits for the browser to come back.
const LOGIN_WITHIN: Duration = Duration::from_secs(300);
/// The name weft registers itself under.
const CLIENT_NAME: &str = "weft";

/// Whoever can approve an authorization request: a person at a browser,
/// or (in tests and conformance runs) a program.
pub trait Authorizer: Send + Sync {
    /// Where the authorization server sends the browser back.
    fn redirect_uri(&self) -> String;
    /// Has `url` approved, and returns the URL the browser was sent back
    /// to (with `code`, `state` and perhaps `iss`). An error says why not;
    /// weft reports it as the login's failure.
    fn authorize<'a>(&'a self, url: &'a str) -> BoxFuture<'a, anyhow::Result<String>>;
}

/// A listener on 127.0.0.1 that the browser is sent back to.
pub struct Loopback {
    listener: parking_lot::Mutex<Option<tokio::net::TcpListener>>,
    port: u16,
    open_browser: bool,
}

impl Loopback {
    /// Listens on `port` (0: one the system picks).
    pub async fn bind(port: u16, open_browser: bool) -> std::io::Result<Loopback> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        Ok(Loopback {
            listener: parking_lot::Mutex::new(Some(listener)),
            port,
            open_browser,
        })
    }
}

impl Authorizer for Loopback {
    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    fn authorize<'a>(&'a self, url: &'a str) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(async move {
            let listener = self
                .listener
                .lock()
                .take()
                .ok_or_else(|| anyhow::anyhow!("this login listener was used already"))?;
            eprintln!("Open this URL in a browser to log in:\n\n  {url}\n");
            if self.open_browser {
                open_browser(url);
            }
            let (tx, rx) = tokio::sync::oneshot::channel::<String>();
            let tx = std::sync::Arc::new(parking_lot::Mutex::new(Some(tx)));
            let redirect = self.redirect_uri();
            let app = axum::Router::new().route(
                "/callback",
                axum::routing::get(move |uri: axum::http::Uri| {
                    let tx = tx.clone();
                    let redirect = redirect.clone();
                    async move {
                        let query = uri.query().unwrap_or_default();
                        if let Some(tx) = tx.lock().take() {
                            let _ = tx.send(format!("{redirect}?{query}"));
                        }
                        axum::response::Html(
                            "<!doctype html><title>weft</title><p>weft has the login; you can close this tab.</p>",
                        )
                    }
                }),
            );
            let server = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            let answer = tokio::time::timeout(LOGIN_WITHIN, rx).await;
            server.abort();
            match answer {
                Ok(Ok(callback)) => Ok(callback),
                _ => Err(anyhow::anyhow!(
                    "no browser came back within {}",
                    humantime::format_duration(LOGIN_WITHIN)
                )),
            }
        })
    }
}

/// Tries the platform's opener; the URL is printed either way.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// The full login: discovery, the client (configured, a metadata
/// document, or registered now), the approval, the token. The record
/// (client and tokens) is stored.
pub(super) async fn authorize(
    oauth: &OAuth,
    authorizer: &dyn Authorizer,
    challenge: Option<&str>,
    wanted: &[String],
) -> Result<AuthorizationManager, OAuthError> {
    let (mut manager, metadata) = oauth.discover(challenge).await?;
    let redirect = authorizer.redirect_uri();
    let scopes: Vec<String> = if wanted.is_empty() {
        manager.select_initial_scopes(&[]).await
    } else {
        manager.select_scopes(Some(&wanted.join(" ")), &[])
    };
    let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let config = &oauth.config;
    let takes_documents = metadata
        .additional_fields
        .get("client_id_metadata_document_supported")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let (client, registered) = if let Some(id) = &config.client_id {
        let mut c = OAuthClientConfig::new(id.clone(), redirect.clone());
        c.client_secret = config.client_secret.clone();
        (c, false)
    } else if let Some(url) = config
        .client_metadata_url
        .as_ref()
        .filter(|_| takes_documents)
    {
        (OAuthClientConfig::new(url.clone(), redirect.clone()), false)
    } else {
        let c = manager
            .register_client(CLIENT_NAME, &redirect, &refs)
            .await
            .map_err(|e| oauth.failed(format!("registration: {e}")))?;
        (c, true)
    };
    manager
        .configure_client(client.clone())
        .map_err(|e| oauth.failed(e))?;
    let url = manager
        .get_authorization_url(&refs)
        .await
        .map_err(|e| oauth.failed(e))?;
    finish(oauth, &manager, authorizer, &url).await?;
    let secret = client.client_secret.filter(|_| registered);
    oauth
        .slot
        .update(move |old| {
            let mut record = old.unwrap_or_default();
            record.client_id = Some(client.client_id);
            record.client_secret = secret;
            record.redirect_uri = Some(client.redirect_uri);
            Some(record)
        })
        .await
        .map_err(|e| oauth.failed(e))?;
    Ok(manager)
}

/// Has `url` approved and trades the code for tokens (stored by the
/// manager's store).
pub(super) async fn finish(
    oauth: &OAuth,
    manager: &AuthorizationManager,
    authorizer: &dyn Authorizer,
    url: &str,
) -> Result<(), OAuthError> {
    let back = authorizer
        .authorize(url)
        .await
        .map_err(|e| oauth.failed(format!("login: {e:#}")))?;
    let callback = AuthorizationCallback::from_redirect_url(&back)
        .map_err(|e| oauth.failed(format!("the authorization server's answer: {e}")))?;
    manager
        .exchange_code_for_token_with_issuer(
            &callback.code,
            &callback.csrf_token,
            callback.issuer.as_deref(),
        )
        .await
        .map_err(|e| oauth.failed(format!("token: {e}")))?;
    Ok(())
}

/// A manager for a login stored earlier, when its authorization server
/// is still the one that issued it.
pub(super) async fn restore(
    oauth: &OAuth,
    record: Record,
) -> Result<AuthorizationManager, OAuthError> {
    let (mut manager, metadata) = oauth.discover(None).await?;
    let stored_issuer = record.credentials.as_ref().and_then(|c| c.issuer.clone());
    if let (Some(then), Some(now)) = (stored_issuer, metadata.issuer.as_ref())
        && &then != now
    {
        tracing::warn!(server = %oauth.server, "the server's authorization server changed since the login; log in again");
        return Err(oauth.login_needed());
    }
    let client_id = oauth
        .config
        .client_id
        .clone()
        .or(record.client_id)
        .ok_or_else(|| oauth.login_needed())?;
    let redirect = record
        .redirect_uri
        .unwrap_or_else(|| "http://127.0.0.1/callback".into());
    let mut client = OAuthClientConfig::new(client_id, redirect);
    client.client_secret = oauth.config.client_secret.clone().or(record.client_secret);
    manager
        .configure_client(client)
        .map_err(|e| oauth.failed(e))?;
    Ok(manager)
}

/// `weft auth login`: asks the server for its challenge, then logs in
/// through `authorizer`. Returns the scopes granted.
pub async fn login(
    oauth: &OAuth,
    authorizer: &dyn Authorizer,
    scopes: &[String],
) -> Result<Vec<String>, OAuthError> {
    let challenge = probe(oauth).await;
    let mut wanted = oauth.config.scopes.clone();
    wanted.extend(scopes.iter().cloned());
    let manager = authorize(oauth, authorizer, challenge.as_deref(), &wanted).await?;
    *oauth.manager.lock().await = Some(std::sync::Arc::new(manager));
    Ok(status(oauth).await.scopes)
}

/// The `WWW-Authenticate` challenge the server gives a request without
/// a token, if it gives one.
async fn probe(oauth: &OAuth) -> Option<String> {
    let url = oauth.url.as_str();
    let client = oauth.http_client().await.ok()?;
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "weft", "version": env!("CARGO_PKG_VERSION")}}
    });
    let answer = client
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .ok()?;
    let challenge = answer
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)?
        .to_str()
        .ok()?;
    Some(super::clip(challenge, 2048))
}

/// What `weft auth status` shows for one server.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Status {
    pub logged_in: bool,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    /// Seconds until the access token expires, when the server said.
    pub expires_in: Option<i64>,
    pub refreshable: bool,
}

/// The stored login of a server, without touching the network.
pub async fn status(oauth: &OAuth) -> Status {
    let Ok(Some(record)) = oauth.slot.load().await else {
        return Status::default();
    };
    let Some(creds) = record.credentials else {
        return Status {
            client_id: record.client_id,
            ..Status::default()
        };
    };
    let token = creds.token_response.as_ref();
    let now = (crate::util::unix_ms(std::time::SystemTime::now()) / 1000) as i64;
    let expires_in = token
        .and_then(|t| t.expires_in())
        .zip(creds.token_received_at)
        .map(|(life, at)| at as i64 + life.as_secs() as i64 - now);
    Status {
        logged_in: token.is_some(),
        client_id: Some(creds.client_id.clone()),
        scopes: creds.granted_scopes.clone(),
        expires_in,
        refreshable: token.is_some_and(|t| t.refresh_token().is_some()),
    }
}

/// Forgets the server's login; false when there was none.
pub async fn logout(oauth: &OAuth) -> Result<bool, OAuthError> {
    let had = oauth
        .slot
        .load()
        .await
        .map_err(|e| oauth.failed(e))?
        .is_some();
    oauth
        .slot
        .update(|_| None)
        .await
        .map_err(|e| oauth.failed(e))?;
    *oauth.manager.lock().await = None;
    oauth.cached.lock().take();
    Ok(had)
}
