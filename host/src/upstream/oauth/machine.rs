//! Tokens weft gets for itself, with no person: the client-credentials
//! grant (with a client secret, or a `private_key_jwt` assertion signed
//! with the configured key, RFC 7523 §2.2), the JWT-bearer grant with a
//! workload's token (RFC 7523 §2.1; workload identity federation), and
//! enterprise-managed authorization (an IdP's ID token exchanged for an
//! identity assertion, RFC 8693, then presented as a JWT-bearer grant).
//!
//! Each runs discovery first, as a login does, and stores the token in
//! the server's slot, where [`super::OAuth::token`] finds it and renews it
//! by running the grant again. A refused grant is reported, never retried
//! here: the transport retries a request once, so nothing loops.

use std::sync::Arc;

use rmcp::transport::auth::enterprise::{
    EmaAuthorizationServer, EmaClientAuthentication, EmaExchangeRequest,
};
use rmcp::transport::auth::{
    AuthorizationManager, AuthorizationMetadata, ClientCredentialsConfig, OAuthTokenResponse,
    StoredCredentials,
};

use super::{OAuth, OAuthError};
use crate::config::oauth::{Assertion, Grant, SigningAlgorithm};

/// RFC 7523's grant type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// RFC 7523's client assertion type (`private_key_jwt`).
const CLIENT_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion weft signs is valid.
const ASSERTION_LIFE: u64 = 300;

/// The largest token response or JWT file weft reads.
const MAX_BODY: usize = 256 * 1024;

impl OAuth {
    /// A new token by the configured machine grant, asking for the
    /// configured scopes and `extra`.
    pub(super) async fn machine(
        &self,
        challenge: Option<&str>,
        extra: &[String],
    ) -> Result<Arc<AuthorizationManager>, OAuthError> {
        let (mut manager, metadata) = self.discover(challenge).await?;
        let mut scopes = self.config.scopes.clone();
        for s in extra {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        match (self.config.grant, &self.config.private_key) {
            (Grant::JwtBearer, _) => self.jwt_bearer(&metadata, &scopes).await?,
            (Grant::Enterprise, _) => self.enterprise(&metadata, &scopes).await?,
            (_, Some(key)) => self.private_key_jwt(&metadata, key, &scopes).await?,
            _ => self.client_credentials(&mut manager, scopes).await?,
        }
        Ok(Arc::new(manager))
    }

    /// The client-credentials grant with a client secret, through rmcp's
    /// manager (which stores the token).
    async fn client_credentials(
        &self,
        manager: &mut AuthorizationManager,
        scopes: Vec<String>,
    ) -> Result<(), OAuthError> {
        let grant = ClientCredentialsConfig::ClientSecret {
            client_id: self.config.client_id.clone().unwrap_or_default(),
            client_secret: self.config.client_secret.clone().unwrap_or_default(),
            scopes,
            resource: Some(self.url.clone()),
        };
        manager
            .configure_client_credentials(&grant)
            .map_err(|e| self.failed(e))?;
        manager
            .exchange_client_credentials(&grant)
            .await
            .map_err(|e| self.failed(format!("client credentials: {e}")))?;
        Ok(())
    }

    /// The JWT-bearer grant with the workload's token, read now (a file
    /// may have been rotated since the last time).
    async fn jwt_bearer(
        &self,
        metadata: &AuthorizationMetadata,
        scopes: &[String],
    ) -> Result<(), OAuthError> {
        let source = self.config.assertion.as_ref().ok_or_else(|| {
            self.failed("the jwt_bearer grant has no `assertion` or `assertion_file`")
        })?;
        let assertion = self.jwt(source, "assertion").await?;
        let scope = scopes.join(" ");
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", JWT_BEARER),
            ("assertion", &assertion),
            ("resource", &self.url),
        ];
        if let Some(id) = &self.config.client_id {
            form.push(("client_id", id));
        }
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let token = self
            .token_request(metadata, &form, "the workload token")
            .await?;
        let client_id = self.config.client_id.clone().unwrap_or_default();
        self.keep(client_id, token, scopes, metadata.issuer.clone())
            .await
    }

    /// The client-credentials grant, the client authenticated by a JWT
    /// signed with its private key (`private_key_jwt`), for the
    /// authorization server (its issuer, or else its token endpoint).
    async fn private_key_jwt(
        &self,
        metadata: &AuthorizationMetadata,
        key: &str,
        scopes: &[String],
    ) -> Result<(), OAuthError> {
        let client_id = self.config.client_id.clone().unwrap_or_default();
        let audience = metadata
            .issuer
            .clone()
            .unwrap_or_else(|| metadata.token_endpoint.clone());
        let assertion = self.sign_assertion(key, &client_id, &audience)?;
        let scope = scopes.join(" ");
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_assertion_type", CLIENT_ASSERTION),
            ("client_assertion", &assertion),
            ("resource", &self.url),
        ];
        if !scope.is_empty() {
            form.push(("scope", &scope));
        }
        let token = self
            .token_request(metadata, &form, "the client's signed assertion")
            .await?;
        self.keep(client_id, token, scopes, metadata.issuer.clone())
            .await
    }

    /// A client assertion (RFC 7523 §3): issued by the client, about
    /// itself, for `audience`, valid for five minutes, used once.
    fn sign_assertion(
        &self,
        key: &str,
        client_id: &str,
        audience: &str,
    ) -> Result<String, OAuthError> {
        use jsonwebtoken::{Algorithm, EncodingKey, Header};
        let (algorithm, key) = match self.config.signing_algorithm {
            SigningAlgorithm::ES256 => (Algorithm::ES256, EncodingKey::from_ec_pem(key.as_bytes())),
            SigningAlgorithm::ES384 => (Algorithm::ES384, EncodingKey::from_ec_pem(key.as_bytes())),
            SigningAlgorithm::RS256 => {
                (Algorithm::RS256, EncodingKey::from_rsa_pem(key.as_bytes()))
            }
            SigningAlgorithm::RS384 => {
                (Algorithm::RS384, EncodingKey::from_rsa_pem(key.as_bytes()))
            }
            SigningAlgorithm::RS512 => {
                (Algorithm::RS512, EncodingKey::from_rsa_pem(key.as_bytes()))
            }
        };
        // The key may be a secret's value: the error never shows it.
        let key = key.map_err(|e| {
            self.failed(format!(
                "the private_key is not a {:?} key in PEM (PKCS#8): {e}",
                self.config.signing_algorithm
            ))
        })?;
        let now = crate::util::unix_ms(std::time::SystemTime::now()) / 1000;
        let jti = crate::util::random_hex(16).map_err(|e| self.failed(e))?;
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + ASSERTION_LIFE,
            "jti": jti,
        });
        jsonwebtoken::encode(&Header::new(algorithm), &claims, &key)
            .map_err(|e| self.failed(format!("signing the client assertion: {e}")))
    }

    /// One token request to the authorization server: the form posted,
    /// the answer read (capped) and parsed. `presented` names what a
    /// refusal refused.
    async fn token_request(
        &self,
        metadata: &AuthorizationMetadata,
        form: &[(&str, &str)],
        presented: &str,
    ) -> Result<OAuthTokenResponse, OAuthError> {
        let client = self.http_client().await?;
        let key = self.dpop.lock().clone();
        let send = || async {
            let mut request = client
                .post(&metadata.token_endpoint)
                .header(reqwest::header::ACCEPT, "application/json")
                .form(form);
            if let Some(key) = &key {
                let proof = key
                    .proof("POST", &metadata.token_endpoint, None, false)
                    .map_err(|e| self.failed(e))?;
                request = request.header(super::dpop::DPOP, proof);
            }
            request
                .send()
                .await
                .map_err(|e| self.failed(format!("token request: {e}")))
        };
        let mut answer = send().await?;
        // A DPoP server that wants a nonce names it; once more with it.
        if let Some(key) = &key
            && key.note_nonce(answer.headers(), false)
            && answer.status() == reqwest::StatusCode::BAD_REQUEST
        {
            answer = send().await?;
        }
        let status = answer.status();
        let body = crate::util::capped_body(answer, MAX_BODY).await;
        if !status.is_success() {
            return Err(self.failed(format!(
                "the authorization server refused {presented} ({status}): {}",
                refusal(&body)
            )));
        }
        serde_json::from_slice(&body)
            .map_err(|e| self.failed(format!("the authorization server's token answer: {e}")))
    }

    /// Enterprise-managed authorization, through rmcp's exchange: the ID
    /// token for an identity assertion at the IdP, that for a token at the
    /// server's authorization server.
    async fn enterprise(
        &self,
        metadata: &AuthorizationMetadata,
        scopes: &[String],
    ) -> Result<(), OAuthError> {
        let idp = self
            .config
            .idp
            .as_ref()
            .ok_or_else(|| self.failed("the enterprise grant has no identity provider"))?;
        let id_token = self.jwt(&idp.id_token, "id_token").await?;
        let secret = |s: &Option<String>| match s {
            Some(s) => {
                EmaClientAuthentication::ClientSecretBasic(oauth2::ClientSecret::new(s.clone()))
            }
            None => EmaClientAuthentication::None,
        };
        let idp_server = EmaAuthorizationServer::new(
            idp.issuer.clone(),
            idp.token_endpoint.clone(),
            idp.client_id.clone(),
        )
        .with_client_authentication(secret(&idp.client_secret));
        let issuer = metadata.issuer.clone().ok_or_else(|| {
            self.failed("the authorization server's metadata names no issuer, which the identity assertion must be for")
        })?;
        let client_id = self.config.client_id.clone().unwrap_or_default();
        let resource_server = EmaAuthorizationServer::new(
            issuer.clone(),
            metadata.token_endpoint.clone(),
            client_id.clone(),
        )
        .with_client_authentication(secret(&self.config.client_secret));
        let http = super::dpop::Http {
            client: self.http_client().await?,
            key: self.dpop.lock().clone(),
        };
        let token = EmaExchangeRequest::new_with_id_token(
            idp_server,
            resource_server,
            &self.url,
            &id_token,
        )
        .with_scopes(scopes.iter().cloned())
        .exchange(&http, &http)
        .await
        .map_err(|e| self.failed(format!("enterprise-managed authorization: {e}")))?;
        let mut response = OAuthTokenResponse::new(
            token.access_token,
            oauth2::basic::BasicTokenType::Bearer,
            Default::default(),
        );
        response.set_expires_in(token.expires_in.as_ref());
        let granted: Vec<String> = match token.scopes.is_empty() {
            true => scopes.to_vec(),
            false => token.scopes.into_iter().collect(),
        };
        self.keep(client_id, response, &granted, Some(issuer)).await
    }

    /// Stores a token a grant gave, as rmcp's manager stores its own.
    async fn keep(
        &self,
        client_id: String,
        token: OAuthTokenResponse,
        scopes: &[String],
        issuer: Option<String>,
    ) -> Result<(), OAuthError> {
        use oauth2::TokenResponse;
        let granted = token
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_else(|| scopes.to_vec());
        let now = crate::util::unix_ms(std::time::SystemTime::now()) / 1000;
        let credentials =
            StoredCredentials::new(client_id.clone(), Some(token), granted, Some(now))
                .with_issuer(issuer);
        self.slot
            .update(move |old| {
                let mut record = old.unwrap_or_default();
                record.client_id = Some(client_id);
                record.credentials = Some(credentials);
                Some(record)
            })
            .await
            .map_err(|e| self.failed(e))
    }

    /// A JWT from the config or its file, trimmed; `what` names it.
    async fn jwt(&self, source: &Assertion, what: &str) -> Result<String, OAuthError> {
        let text = match source {
            Assertion::Value(v) => v.clone(),
            Assertion::File(path) => {
                let p = path.clone();
                let read = tokio::task::spawn_blocking(move || read_small(&p))
                    .await
                    .map_err(|e| self.failed(e))?;
                read.map_err(|e| {
                    self.failed(format!(
                        "cannot read the {what} file {}: {e}",
                        path.display()
                    ))
                })?
            }
        };
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(self.failed(format!("the {what} is empty")));
        }
        Ok(text)
    }
}

/// An OAuth error answer as `error: description`, clipped (what a server
/// sent is hostile).
fn refusal(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = match (v["error"].as_str(), v["error_description"].as_str()) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.to_string(),
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    super::clip(&text, 300)
}

/// A file of at most [`MAX_BODY`] bytes, as text.
fn read_small(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_BODY as u64 + 1).read_to_string(&mut text)?;
    if text.len() > MAX_BODY {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("over {MAX_BODY} bytes"),
        ));
    }
    Ok(text)
}
