//! `[oauth]`: OAuth for agents on `weft serve --http`, beside tenants' API
//! keys. weft is then an OAuth protected resource: it publishes its
//! metadata, and takes JWT access tokens from `issuer`, signed with a key
//! of the issuer's JWKS, for weft's own `resource` URL, naming a tenant in
//! `tenant_claim`.
//!
//! ```toml
//! [oauth]
//! issuer = "https://auth.example.com"
//! resource = "https://weft.example.com/mcp"   # the tokens' audience
//! jwks_uri = "https://auth.example.com/jwks"  # default: the issuer's metadata
//! tenant_claim = "org"                        # default "tenant"
//! scopes = ["mcp"]                            # every token must carry these
//!
//! [oauth.grants]                              # optional: a scope's tools
//! "notes:read" = ["notes.echo", "notes.list_*"]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use super::ConfigError;

/// How agents' tokens are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOAuthConfig {
    /// The authorization server, exactly as tokens name it in `iss`.
    pub issuer: String,
    /// weft's resource URL: the audience tokens must be for.
    pub resource: String,
    /// Where the signing keys are; `None`: from the issuer's metadata.
    pub jwks_uri: Option<String>,
    /// The claim whose value is the tenant's name.
    pub tenant_claim: String,
    /// Scopes every token must carry.
    pub scopes: Vec<String>,
    /// Tool patterns (`server.tool` globs) each scope grants; with any,
    /// a token reaches only the tools its scopes grant.
    pub grants: BTreeMap<String, Vec<String>>,
}

/// OAuth for agents on `weft serve --http`, beside tenants' API keys: JWT
/// access tokens from one issuer, each for weft's `resource` and naming a
/// tenant. Needs `[tenants.NAME]`.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgentOAuth {
    /// The authorization server, exactly as its tokens name it in `iss`: an
    /// `http://` or `https://` URL. Required.
    issuer: String,
    /// weft's resource URL (like "https://weft.example.com/mcp"): the
    /// audience tokens must be for. Required.
    resource: String,
    /// Where the issuer's signing keys (JWKS) are: an `http://` or
    /// `https://` URL. By default the one in the issuer's metadata.
    jwks_uri: Option<String>,
    /// The token claim whose value names the tenant; it must be a
    /// configured tenant.
    #[schemars(extend("default" = "tenant"))]
    tenant_claim: Option<String>,
    /// Scopes every token must carry (403 without them).
    #[serde(default)]
    scopes: Vec<String>,
    /// By scope, the tools it reaches (`server.tool` globs). With any, a
    /// token reaches only the tools its scopes grant.
    #[serde(default)]
    grants: BTreeMap<String, Vec<String>>,
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

impl RawAgentOAuth {
    pub(crate) fn into_config(
        self,
        file: &Path,
        tenants: usize,
    ) -> Result<AgentOAuthConfig, ConfigError> {
        if tenants == 0 {
            return Err(ConfigError::new(
                file,
                "oauth",
                "OAuth for agents maps each token to a tenant, and there are no [tenants.NAME]",
            )
            .hint("add the tenants your tokens name (in `tenant_claim`)"));
        }
        for (key, value) in [("issuer", &self.issuer), ("resource", &self.resource)]
            .into_iter()
            .chain(self.jwks_uri.as_ref().map(|u| ("jwks_uri", u)))
        {
            if !is_http_url(value) {
                return Err(ConfigError::new(
                    file,
                    format!("oauth.{key}"),
                    format!("{value:?} is not an http:// or https:// URL"),
                ));
            }
        }
        for (scope, patterns) in &self.grants {
            super::Grants::new(patterns).map_err(|e| {
                ConfigError::new(file, format!("oauth.grants.{scope}"), e.to_string())
            })?;
        }
        Ok(AgentOAuthConfig {
            issuer: self.issuer,
            resource: self.resource,
            jwks_uri: self.jwks_uri,
            tenant_claim: self.tenant_claim.unwrap_or_else(|| "tenant".into()),
            scopes: self.scopes,
            grants: self.grants,
        })
    }
}
