//! OAuth settings of an HTTP server entry: `oauth = true`, or an
//! `[servers.NAME.oauth]` table naming how weft gets its tokens.
//!
//! ```toml
//! [servers.notes]
//! url = "https://notes.example/mcp"
//! oauth = true                      # discover, register, log in once
//!
//! [servers.billing]
//! url = "https://billing.example/mcp"
//! [servers.billing.oauth]
//! grant = "client_credentials"      # a machine: no login
//! client_id = "weft-prod"
//! client_secret = "${secret:BILLING_SECRET}"
//! scopes = ["invoices:read"]
//! ```
//!
//! Plain data: discovery, registration and tokens happen when weft
//! connects or `weft auth login` runs (see `upstream::oauth`).

use std::path::{Path, PathBuf};

use super::ConfigError;

/// How weft gets a token for one server.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    pub grant: Grant,
    /// A client registered beforehand; without one weft uses a client
    /// metadata document (when `client_metadata_url` is set and the
    /// server takes one) or registers itself dynamically.
    pub client_id: Option<String>,
    /// The pre-registered client's secret, resolved (may be a secret's
    /// value: never printed).
    pub client_secret: Option<String>,
    /// An HTTPS URL where weft's client metadata document is published.
    pub client_metadata_url: Option<String>,
    /// Scopes to ask for; empty lets the server's challenge or its
    /// `scopes_supported` choose.
    pub scopes: Vec<String>,
    /// The secrets file the tokens are kept in (the config's own).
    pub store: Option<PathBuf>,
}

/// The OAuth grant weft uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// A person logs in once with `weft auth login`; weft refreshes.
    AuthorizationCode,
    /// weft authenticates as itself with its client id and secret.
    ClientCredentials,
}

impl std::fmt::Debug for OAuthConfig {
    // The client secret may be a secret's value: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("grant", &self.grant)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("client_metadata_url", &self.client_metadata_url)
            .field("scopes", &self.scopes)
            .field("store", &self.store)
            .finish()
    }
}

/// `oauth` as written: `true`, `false`, or a table.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum RawOAuth {
    On(bool),
    Table(RawOAuthTable),
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOAuthTable {
    grant: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_metadata_url: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl RawOAuth {
    /// The client secret as written (a reference, perhaps).
    pub(crate) fn client_secret(&self) -> Option<&String> {
        match self {
            RawOAuth::Table(t) => t.client_secret.as_ref(),
            RawOAuth::On(_) => None,
        }
    }

    /// Checks the entry; `resolve` substitutes a `${secret:..}` or
    /// `${env:..}` reference in the client secret.
    pub(crate) fn into_config(
        self,
        file: &Path,
        entry: &str,
        store: Option<PathBuf>,
        resolve: &mut dyn FnMut(&str) -> Result<String, ConfigError>,
    ) -> Result<Option<OAuthConfig>, ConfigError> {
        let key = |k: &str| format!("{entry}.oauth.{k}");
        let table = match self {
            RawOAuth::On(false) => return Ok(None),
            RawOAuth::On(true) => RawOAuthTable::default(),
            RawOAuth::Table(t) => t,
        };
        let grant = match table.grant.as_deref() {
            None | Some("authorization_code") => Grant::AuthorizationCode,
            Some("client_credentials") => Grant::ClientCredentials,
            Some(other) => {
                return Err(ConfigError::new(
                    file,
                    key("grant"),
                    format!("{other:?} is not a grant weft uses"),
                )
                .hint("use \"authorization_code\" (log in with `weft auth login`) or \"client_credentials\""));
            }
        };
        let client_secret = table.client_secret.as_deref().map(resolve).transpose()?;
        if grant == Grant::ClientCredentials
            && (table.client_id.is_none() || client_secret.is_none())
        {
            return Err(ConfigError::new(
                file,
                format!("{entry}.oauth"),
                "the client_credentials grant needs `client_id` and `client_secret`",
            )
            .hint(
                "add client_secret = \"${secret:NAME}\" and set it with `weft secrets set NAME`",
            ));
        }
        if client_secret.is_some() && table.client_id.is_none() {
            return Err(ConfigError::new(
                file,
                key("client_secret"),
                "a client secret needs the `client_id` it belongs to",
            ));
        }
        if let Some(url) = &table.client_metadata_url
            && !(url.starts_with("https://") && url.len() > "https://x/".len())
        {
            return Err(ConfigError::new(
                file,
                key("client_metadata_url"),
                "must be an https:// URL with a path",
            ));
        }
        for s in &table.scopes {
            if s.is_empty()
                || s.chars()
                    .any(|c| c.is_whitespace() || c == '"' || c == '\\')
            {
                return Err(ConfigError::new(
                    file,
                    key("scopes"),
                    format!("{s:?} is not a scope (no spaces, quotes or backslashes)"),
                ));
            }
        }
        Ok(Some(OAuthConfig {
            grant,
            client_id: table.client_id,
            client_secret,
            client_metadata_url: table.client_metadata_url,
            scopes: table.scopes,
            store,
        }))
    }
}
