//! OAuth 2 client-credentials tokens for an adapter's requests (an
//! OpenAPI server's `oauth2` scheme): weft asks the flow's token URL for a
//! token as the client, keeps it until shortly before it expires, and
//! adds it to each request for the API's host as `Authorization: Bearer`.
//! The token URL must be on the `egress` list and is checked as every
//! request is; the request carries none of the injected headers, only
//! the client's own credentials (HTTP basic, RFC 6749 section 2.3.1).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::openapi::ClientCredentials;

use super::{Egress, check};

/// The most bytes of a token answer read.
const MAX_ANSWER: usize = 64 << 10;
/// A token is renewed this long before it expires.
const EARLY: Duration = Duration::from_secs(30);
/// How long a token without `expires_in` is kept.
const DEFAULT_LIFE: Duration = Duration::from_secs(300);

/// The tokens held, by token URL and client.
#[derive(Default)]
pub(super) struct Held {
    tokens: tokio::sync::Mutex<HashMap<(String, String), (String, Instant)>>,
    /// Every token handed out, for masking answers (a copy the masking
    /// pass reads without waiting).
    pub(super) seen: parking_lot::Mutex<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct Answer {
    access_token: String,
    expires_in: Option<u64>,
}

/// RFC 6749's encoding of a client id or secret for HTTP basic.
fn form_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl Egress {
    /// A token for `grant`: the one held, or a new one.
    pub(super) async fn bearer(&self, grant: &ClientCredentials) -> Result<String, String> {
        let key = (grant.token_url.clone(), grant.client_id.clone());
        let mut tokens = self.tokens.tokens.lock().await;
        if let Some((token, until)) = tokens.get(&key)
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (token, life) = self.fetch_token(grant).await?;
        let until = Instant::now() + life.saturating_sub(EARLY);
        tokens.insert(key, (token.clone(), until));
        let mut seen = self.tokens.seen.lock();
        if seen.len() >= 64 {
            seen.remove(0);
        }
        seen.push(token.clone());
        Ok(token)
    }

    async fn fetch_token(&self, grant: &ClientCredentials) -> Result<(String, Duration), String> {
        let url = &grant.token_url;
        let target =
            check(&self.config, url).map_err(|why| format!("the token URL {url}: {why}"))?;
        target
            .verify(&self.config)
            .map_err(|why| format!("the token URL {url} did not verify: {why}"))?;
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if !grant.scopes.is_empty() {
            form.push(("scope", grant.scopes.join(" ")));
        }
        let send = self
            .client
            .post(target.url)
            .basic_auth(
                form_encoded(&grant.client_id),
                Some(form_encoded(&grant.client_secret)),
            )
            .header(http::header::ACCEPT, "application/json")
            .form(&form)
            .send();
        let answer = tokio::time::timeout(self.config.request_timeout, async {
            let response = send.await.map_err(|e| format!("{e}"))?;
            let status = response.status();
            let body = crate::util::capped_body(response, MAX_ANSWER).await;
            Ok::<_, String>((status, body))
        })
        .await
        .map_err(|_| format!("the token URL {url} gave no answer in time"))??;
        let (status, body) = answer;
        if !status.is_success() {
            let mut said = String::from_utf8_lossy(&self.mask(&body))
                .trim()
                .to_string();
            crate::util::truncate(&mut said, 200);
            return Err(format!(
                "the token URL {url} refused the client ({status}): {said}"
            ));
        }
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| format!("the token URL {url} answered no token: {e}"))?;
        if answer.access_token.is_empty() || answer.access_token.contains(['\r', '\n']) {
            return Err(format!("the token URL {url} answered an unusable token"));
        }
        let life = answer
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFE);
        Ok((answer.access_token, life))
    }
}
