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
//!
//! [servers.ledger.oauth]
//! grant = "client_credentials"      # private_key_jwt instead of a secret
//! client_id = "weft-prod"
//! private_key = "${secret:LEDGER_KEY}"
//!
//! [servers.ci.oauth]
//! grant = "jwt_bearer"              # workload identity federation
//! assertion_file = "/var/run/secrets/tokens/mcp"
//!
//! [servers.crm.oauth]
//! grant = "enterprise"              # an enterprise IdP's ID token
//! client_id = "crm-client"
//! client_secret = "${secret:CRM_SECRET}"
//! idp_issuer = "https://idp.example"
//! idp_token_endpoint = "https://idp.example/token"
//! idp_client_id = "weft"
//! id_token = "${secret:IDP_ID_TOKEN}"
//! ```
//!
//! Plain data: discovery, registration and tokens happen when weft
//! connects or `weft auth login` runs (see `upstream::oauth`).

use std::path::{Path, PathBuf};

use super::ConfigError;

/// How weft gets a token for one server.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// How weft gets tokens (default: `authorization_code`).
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
    /// `private_key_jwt`: the client's PEM key (PKCS#8, resolved) and the
    /// algorithm it signs with, instead of a client secret.
    pub private_key: Option<String>,
    /// The algorithm `private_key` signs with (default ES256).
    pub signing_algorithm: SigningAlgorithm,
    /// `jwt_bearer`: the workload's JWT, presented as the grant.
    pub assertion: Option<Assertion>,
    /// `enterprise`: the identity provider that turns the user's ID token
    /// into an identity assertion for this server's authorization server.
    pub idp: Option<Idp>,
    /// Bind tokens to a key weft holds (DPoP, RFC 9449) even before the
    /// server's challenge asks for it.
    pub dpop: bool,
}

/// Algorithms a `private_key` may sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    /// ECDSA on P-256 with SHA-256 (the default).
    #[default]
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// RSA PKCS#1 v1.5 with SHA-384.
    RS384,
    /// RSA PKCS#1 v1.5 with SHA-512.
    RS512,
}

impl SigningAlgorithm {
    const ALL: [(&'static str, SigningAlgorithm); 5] = [
        ("ES256", SigningAlgorithm::ES256),
        ("ES384", SigningAlgorithm::ES384),
        ("RS256", SigningAlgorithm::RS256),
        ("RS384", SigningAlgorithm::RS384),
        ("RS512", SigningAlgorithm::RS512),
    ];
}

/// A JWT weft presents: written in the config (a `${secret:..}` or
/// `${env:..}`, resolved), or a file read each time a token is needed, as
/// platforms rotate workload tokens in place.
#[derive(Clone, PartialEq, Eq)]
pub enum Assertion {
    /// The JWT itself, resolved from the config.
    Value(String),
    /// A file holding the JWT, read again each time a token is needed.
    File(PathBuf),
}

impl std::fmt::Debug for Assertion {
    // A token's value is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Assertion::Value(_) => f.write_str("Value(…)"),
            Assertion::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// An enterprise identity provider (`grant = "enterprise"`).
#[derive(Clone, PartialEq, Eq)]
pub struct Idp {
    /// The identity provider's issuer (`idp_issuer`).
    pub issuer: String,
    /// Where the ID token is exchanged for an identity assertion
    /// (`idp_token_endpoint`, an `http://` or `https://` URL).
    pub token_endpoint: String,
    /// weft's client id at the identity provider (`idp_client_id`).
    pub client_id: String,
    /// weft's client secret there, resolved, if it has one (never printed).
    pub client_secret: Option<String>,
    /// The user's ID token from that provider.
    pub id_token: Assertion,
}

impl std::fmt::Debug for Idp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idp")
            .field("issuer", &self.issuer)
            .field("token_endpoint", &self.token_endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("id_token", &self.id_token)
            .finish()
    }
}

/// The OAuth grant weft uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// A person logs in once with `weft auth login`; weft refreshes.
    AuthorizationCode,
    /// weft authenticates as itself with its client id and secret (or
    /// private key).
    ClientCredentials,
    /// weft presents a workload's JWT (RFC 7523; workload identity
    /// federation).
    JwtBearer,
    /// An enterprise IdP's ID token is exchanged for an identity assertion
    /// (RFC 8693), which the server's authorization server takes as a
    /// JWT-bearer grant (enterprise-managed authorization).
    Enterprise,
}

impl Grant {
    /// The name the config uses.
    pub fn name(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::JwtBearer => "jwt_bearer",
            Grant::Enterprise => "enterprise",
        }
    }

    /// Whether weft gets its tokens without a person (no login).
    pub fn is_machine(self) -> bool {
        self != Grant::AuthorizationCode
    }
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
            .field("private_key", &self.private_key.as_ref().map(|_| "…"))
            .field("signing_algorithm", &self.signing_algorithm)
            .field("assertion", &self.assertion)
            .field("idp", &self.idp)
            .field("dpop", &self.dpop)
            .finish()
    }
}

/// OAuth for an HTTP server: `true` (a login with `weft auth login`,
/// everything else discovered), `false` (none), or a table.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawOAuth {
    On(bool),
    Table(Box<RawOAuthTable>),
}

/// How weft gets OAuth tokens for an HTTP server: the grant, the client,
/// and each grant's own keys. Credentials may be `${secret:..}` or
/// `${env:..}` references.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOAuthTable {
    /// How weft gets tokens: "authorization_code" (a person logs in once
    /// with `weft auth login`), "client_credentials", "jwt_bearer" or
    /// "enterprise".
    #[schemars(extend("default" = "authorization_code"))]
    grant: Option<String>,
    /// A client registered beforehand with the authorization server;
    /// without one weft uses `client_metadata_url` or registers itself.
    /// Required by client_credentials and enterprise.
    client_id: Option<String>,
    /// The registered client's secret, usually a `${secret:..}`.
    client_secret: Option<String>,
    /// An `https://` URL with a path where weft's client metadata document
    /// is published: used without a `client_id`, when the server takes such
    /// documents.
    client_metadata_url: Option<String>,
    /// Scopes to ask for; empty lets the server's challenge or its
    /// `scopes_supported` choose.
    #[serde(default)]
    scopes: Vec<String>,
    /// client_credentials: the client's PKCS#8 PEM key (usually a
    /// `${secret:..}`), to authenticate with a signed JWT (private_key_jwt)
    /// instead of `client_secret`.
    private_key: Option<String>,
    /// The algorithm `private_key` signs with: ES256, ES384, RS256, RS384
    /// or RS512.
    #[schemars(extend("default" = "ES256"))]
    signing_algorithm: Option<String>,
    /// jwt_bearer: the workload's JWT presented as the grant, usually a
    /// `${env:..}` or `${secret:..}`; or `assertion_file`.
    assertion: Option<String>,
    /// jwt_bearer: a file holding the workload's JWT, read again for every
    /// token; relative to the config file's folder.
    assertion_file: Option<PathBuf>,
    /// enterprise: the identity provider's issuer.
    idp_issuer: Option<String>,
    /// enterprise: the identity provider's token endpoint (`http://` or
    /// `https://`), where the ID token is exchanged for an identity
    /// assertion.
    idp_token_endpoint: Option<String>,
    /// enterprise: weft's client id at the identity provider.
    idp_client_id: Option<String>,
    /// enterprise: weft's client secret at the identity provider, if it has
    /// one; usually a `${secret:..}`.
    idp_client_secret: Option<String>,
    /// enterprise: the user's ID token from the identity provider, usually
    /// a `${secret:..}`; or `id_token_file`.
    id_token: Option<String>,
    /// enterprise: a file holding the user's ID token, read each time a
    /// token is needed; relative to the config file's folder.
    id_token_file: Option<PathBuf>,
    /// Bind tokens to a key weft holds (DPoP, RFC 9449) even before the
    /// server's challenge asks for it.
    #[serde(default)]
    dpop: bool,
}

impl RawOAuth {
    /// The values that may be `${secret:..}` references, as written.
    pub(crate) fn secret_values(&self) -> Vec<&String> {
        match self {
            RawOAuth::Table(t) => [
                &t.client_secret,
                &t.private_key,
                &t.assertion,
                &t.idp_client_secret,
                &t.id_token,
            ]
            .into_iter()
            .flatten()
            .collect(),
            RawOAuth::On(_) => Vec::new(),
        }
    }

    /// Checks the entry; `resolve(field, value)` substitutes a
    /// `${secret:..}` or `${env:..}` reference in a credential.
    pub(crate) fn into_config(
        self,
        file: &Path,
        entry: &str,
        store: Option<PathBuf>,
        resolve: &mut dyn FnMut(&str, &str) -> Result<String, ConfigError>,
    ) -> Result<Option<OAuthConfig>, ConfigError> {
        let key = |k: &str| format!("{entry}.oauth.{k}");
        let table = match self {
            RawOAuth::On(false) => return Ok(None),
            RawOAuth::On(true) => RawOAuthTable::default(),
            RawOAuth::Table(t) => *t,
        };
        let grant = match table.grant.as_deref() {
            None | Some("authorization_code") => Grant::AuthorizationCode,
            Some("client_credentials") => Grant::ClientCredentials,
            Some("jwt_bearer") => Grant::JwtBearer,
            Some("enterprise") => Grant::Enterprise,
            Some(other) => {
                return Err(ConfigError::new(
                    file,
                    key("grant"),
                    format!("{other:?} is not a grant weft uses"),
                )
                .hint("use \"authorization_code\" (log in with `weft auth login`), \"client_credentials\", \"jwt_bearer\" or \"enterprise\""));
            }
        };
        let mut secret = |field: &str, value: &Option<String>| {
            value.as_deref().map(|v| resolve(field, v)).transpose()
        };
        let client_secret = secret("client_secret", &table.client_secret)?;
        let private_key = secret("private_key", &table.private_key)?;
        let idp_client_secret = secret("idp_client_secret", &table.idp_client_secret)?;
        let assertion = jwt_source(
            file,
            &key("assertion"),
            secret("assertion", &table.assertion)?,
            table.assertion_file,
        )?;
        let id_token = jwt_source(
            file,
            &key("id_token"),
            secret("id_token", &table.id_token)?,
            table.id_token_file,
        )?;
        let only_for = |field: &str, set: bool, grants: &[Grant]| {
            if set && !grants.contains(&grant) {
                let names: Vec<&str> = grants.iter().map(|g| g.name()).collect();
                return Err(ConfigError::new(
                    file,
                    key(field),
                    format!("applies only to grant = {}", names.join(" or ")),
                ));
            }
            Ok(())
        };
        only_for(
            "private_key",
            private_key.is_some(),
            &[Grant::ClientCredentials],
        )?;
        only_for(
            "signing_algorithm",
            table.signing_algorithm.is_some(),
            &[Grant::ClientCredentials],
        )?;
        only_for("assertion", assertion.is_some(), &[Grant::JwtBearer])?;
        let idp_set = table.idp_issuer.is_some()
            || table.idp_token_endpoint.is_some()
            || table.idp_client_id.is_some()
            || idp_client_secret.is_some()
            || id_token.is_some();
        only_for("idp_issuer", idp_set, &[Grant::Enterprise])?;
        if grant == Grant::ClientCredentials {
            let authenticated = client_secret.is_some() || private_key.is_some();
            if table.client_id.is_none() || !authenticated {
                return Err(ConfigError::new(
                    file,
                    format!("{entry}.oauth"),
                    "the client_credentials grant needs `client_id` and `client_secret` (or `private_key`)",
                )
                .hint(
                    "add client_secret = \"${secret:NAME}\" and set it with `weft secrets set NAME`",
                ));
            }
            if client_secret.is_some() && private_key.is_some() {
                return Err(ConfigError::new(
                    file,
                    key("private_key"),
                    "give `client_secret` or `private_key`, not both",
                ));
            }
        }
        if private_key.is_some() && table.client_id.is_none() {
            return Err(ConfigError::new(
                file,
                key("private_key"),
                "a private key needs the `client_id` it belongs to",
            ));
        }
        let signing_algorithm = match table.signing_algorithm.as_deref() {
            None => SigningAlgorithm::default(),
            Some(name) => SigningAlgorithm::ALL
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| *a)
                .ok_or_else(|| {
                    ConfigError::new(
                        file,
                        key("signing_algorithm"),
                        format!("{name:?} is not an algorithm weft signs with"),
                    )
                    .hint("use ES256, ES384, RS256, RS384 or RS512")
                })?,
        };
        if grant == Grant::JwtBearer && assertion.is_none() {
            return Err(ConfigError::new(
                file,
                format!("{entry}.oauth"),
                "the jwt_bearer grant needs the workload's token: `assertion_file` or `assertion`",
            )
            .hint("point assertion_file at the token your platform mounts, or set assertion = \"${env:NAME}\""));
        }
        let idp = match grant {
            Grant::Enterprise => {
                let need = |field: &str, v: Option<String>| {
                    v.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                        ConfigError::new(
                            file,
                            format!("{entry}.oauth"),
                            format!("the enterprise grant needs `{field}`"),
                        )
                        .hint("set idp_issuer, idp_token_endpoint, idp_client_id, id_token (or id_token_file), client_id and client_secret")
                    })
                };
                let token_endpoint = need("idp_token_endpoint", table.idp_token_endpoint)?;
                for (field, url) in [("idp_token_endpoint", &token_endpoint)] {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        return Err(ConfigError::new(
                            file,
                            key(field),
                            format!("{url:?} is not an http:// or https:// URL"),
                        ));
                    }
                }
                need("client_id", table.client_id.clone())?;
                Some(Idp {
                    issuer: need("idp_issuer", table.idp_issuer)?,
                    token_endpoint,
                    client_id: need("idp_client_id", table.idp_client_id)?,
                    client_secret: idp_client_secret,
                    id_token: id_token.ok_or_else(|| {
                        ConfigError::new(
                            file,
                            format!("{entry}.oauth"),
                            "the enterprise grant needs the user's `id_token` (or `id_token_file`)",
                        )
                    })?,
                })
            }
            _ => None,
        };
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
            private_key,
            signing_algorithm,
            assertion,
            idp,
            dpop: table.dpop,
        }))
    }
}

/// A JWT given inline or as a file, not both.
fn jwt_source(
    file: &Path,
    key: &str,
    value: Option<String>,
    path: Option<PathBuf>,
) -> Result<Option<Assertion>, ConfigError> {
    match (value, path) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            file,
            key,
            "give the token or its file (`_file`), not both",
        )),
        (Some(v), None) => Ok(Some(Assertion::Value(v))),
        (None, Some(p)) => {
            // Relative to the config's folder, like every path in it.
            let p = match p.is_absolute() {
                true => p,
                false => file.parent().map(|d| d.join(&p)).unwrap_or(p),
            };
            Ok(Some(Assertion::File(p)))
        }
        (None, None) => Ok(None),
    }
}
