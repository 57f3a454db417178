//! The credentials of `[servers.NAME.security.SCHEME]`, matched with the
//! document's `components.securitySchemes` and turned into what weft adds
//! to each request for the API's host: a header, a query parameter or a
//! cookie. The component never holds them.
//!
//! | scheme in the document | keys in the table | weft adds |
//! |---|---|---|
//! | `apiKey`, `in: header` | `value` | the header `name: value` |
//! | `apiKey`, `in: query` | `value` | the query parameter `name=value` |
//! | `apiKey`, `in: cookie` | `value` | the cookie `name=value` |
//! | `http`, `scheme: bearer` | `value` | `Authorization: Bearer value` |
//! | `http`, `scheme: basic` | `username`, `password` | `Authorization: Basic …` |
//! | `oauth2` with a `clientCredentials` flow | `client_id`, `client_secret`, optional `scopes` | `Authorization: Bearer` with a token weft gets from the flow's `tokenUrl`, and renews |
//!
//! Other schemes (OAuth 2's other flows, OpenID Connect, mutual TLS) are
//! refused with what to use instead.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

/// What weft adds to a request for the API's host.
#[derive(Clone, PartialEq, Eq)]
pub enum Injection {
    /// A header, its name in lower case.
    Header(String, String),
    /// A query parameter (replacing any of that name the request has).
    Query(String, String),
    /// A cookie.
    Cookie(String, String),
    /// A bearer token from OAuth 2's client-credentials grant.
    Token(ClientCredentials),
}

/// An OAuth 2 client-credentials grant: where to ask for a token, and as
/// whom. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The flow's `tokenUrl`, as the document has it (it may be relative
    /// to the API's base URL).
    pub token_url: String,
    /// The client's id.
    pub client_id: String,
    /// The client's secret.
    pub client_secret: String,
    /// The scopes asked for (none: the server's default).
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClientCredentials({}, {})",
            self.token_url, self.client_id
        )
    }
}

impl std::fmt::Debug for Injection {
    /// The name only: the value is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Injection::Header(n, _) => write!(f, "Header({n})"),
            Injection::Query(n, _) => write!(f, "Query({n})"),
            Injection::Cookie(n, _) => write!(f, "Cookie({n})"),
            Injection::Token(c) => write!(f, "Token({})", c.token_url),
        }
    }
}

/// Why a `security` table cannot be used with the document.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The document has no scheme of that name.
    #[error("the document has no security scheme {name:?} (it has: {known})")]
    Unknown {
        /// The table's name.
        name: String,
        /// The document's scheme names.
        known: String,
    },
    /// A scheme weft cannot inject.
    #[error("the scheme {name:?} is {kind}, which weft cannot add to requests; {instead}")]
    Unsupported {
        /// The scheme's name.
        name: String,
        /// What it is.
        kind: String,
        /// What to do.
        instead: &'static str,
    },
    /// A key the scheme needs is missing, or one it does not take is set.
    #[error("the scheme {name:?} ({kind}) takes {wants}; the table has {has}")]
    Keys {
        /// The scheme's name.
        name: String,
        /// What it is.
        kind: String,
        /// The keys it takes.
        wants: &'static str,
        /// The keys written.
        has: String,
    },
    /// The scheme in the document is malformed.
    #[error("the scheme {name:?} in the document is malformed: {why}")]
    Malformed {
        /// The scheme's name.
        name: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// What to add to requests for the credentials in `tables` (scheme name →
/// its keys, references already resolved), by `doc`'s security schemes.
pub fn injections(
    doc: &Value,
    tables: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<Injection>, AuthError> {
    let schemes = doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object);
    let mut out = Vec::new();
    for (name, keys) in tables {
        let Some(scheme) = schemes.and_then(|s| s.get(name)) else {
            let known: Vec<String> = schemes
                .map(|s| s.keys().take(20).map(|k| format!("{k:?}")).collect())
                .unwrap_or_default();
            return Err(AuthError::Unknown {
                name: name.clone(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        };
        // A scheme may itself be a reference into the document.
        let scheme = match scheme.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .strip_prefix('#')
                .and_then(|p| doc.pointer(p))
                .unwrap_or(scheme),
            None => scheme,
        };
        out.push(one(name, scheme, keys)?);
    }
    Ok(out)
}

fn one(
    name: &str,
    scheme: &Value,
    keys: &BTreeMap<String, String>,
) -> Result<Injection, AuthError> {
    let field = |k: &str| scheme.get(k).and_then(Value::as_str).unwrap_or("");
    let kind = field("type");
    let only = |wants: &'static [&'static str], kind: String| {
        let has: Vec<&str> = keys.keys().map(String::as_str).collect();
        let optional = |k: &&str| *k == "scopes" && wants.contains(&"client_id");
        let needed: Vec<&&str> = has.iter().filter(|k| !optional(k)).collect();
        if needed.len() == wants.len() && wants.iter().all(|w| has.contains(w)) {
            Ok(())
        } else {
            Err(AuthError::Keys {
                name: name.to_string(),
                kind,
                wants: match wants {
                    ["value"] => "`value`",
                    ["username", "password"] => "`username` and `password`",
                    _ => "`client_id`, `client_secret` and, if it needs them, `scopes`",
                },
                has: if has.is_empty() {
                    "none".into()
                } else {
                    has.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
        }
    };
    let value = || keys.get("value").cloned().unwrap_or_default();
    match kind {
        "apiKey" => {
            let (place, param) = (field("in"), field("name"));
            if param.is_empty() {
                return Err(AuthError::Malformed {
                    name: name.into(),
                    why: "an apiKey scheme without a `name`",
                });
            }
            only(&["value"], format!("an API key in the {place}"))?;
            match place {
                "header" => Ok(Injection::Header(param.to_ascii_lowercase(), value())),
                "query" => Ok(Injection::Query(param.to_string(), value())),
                "cookie" => Ok(Injection::Cookie(param.to_string(), value())),
                _ => Err(AuthError::Malformed {
                    name: name.into(),
                    why: "an apiKey scheme's `in` must be header, query or cookie",
                }),
            }
        }
        "http" => match field("scheme").to_ascii_lowercase().as_str() {
            "bearer" => {
                only(&["value"], "HTTP bearer".into())?;
                Ok(Injection::Header(
                    "authorization".into(),
                    format!("Bearer {}", value()),
                ))
            }
            "basic" => {
                only(&["username", "password"], "HTTP basic".into())?;
                let pair = format!(
                    "{}:{}",
                    keys.get("username").map_or("", String::as_str),
                    keys.get("password").map_or("", String::as_str)
                );
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Ok(Injection::Header(
                    "authorization".into(),
                    format!("Basic {encoded}"),
                ))
            }
            other => Err(AuthError::Unsupported {
                name: name.into(),
                kind: format!("HTTP {:?}", short(other)),
                instead: "set the header it needs in [servers.NAME.egress_headers.\"HOST\"]",
            }),
        },
        "oauth2" => {
            let Some(token_url) = scheme
                .pointer("/flows/clientCredentials/tokenUrl")
                .and_then(Value::as_str)
            else {
                return Err(AuthError::Unsupported {
                    name: name.into(),
                    kind: "OAuth 2 without a clientCredentials flow".into(),
                    instead: "weft runs only the client-credentials grant for an API; get a token and set it in [servers.NAME.egress_headers.\"HOST\"] as `authorization = \"Bearer ${secret:TOKEN}\"`",
                });
            };
            only(
                &["client_id", "client_secret"],
                "OAuth 2 client credentials".into(),
            )?;
            let key = |k: &str| keys.get(k).cloned().unwrap_or_default();
            Ok(Injection::Token(ClientCredentials {
                token_url: token_url.to_string(),
                client_id: key("client_id"),
                client_secret: key("client_secret"),
                scopes: key("scopes")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
            }))
        }
        "openIdConnect" => Err(AuthError::Unsupported {
            name: name.into(),
            kind: kind.to_string(),
            instead: "get a token and set it in [servers.NAME.egress_headers.\"HOST\"] as `authorization = \"Bearer ${secret:TOKEN}\"`",
        }),
        other => Err(AuthError::Unsupported {
            name: name.into(),
            kind: format!("{:?}", short(other)),
            instead: "set what it needs in [servers.NAME.egress_headers.\"HOST\"]",
        }),
    }
}

/// A document's text, cut for a message.
fn short(text: &str) -> String {
    let mut t = text.to_string();
    crate::util::truncate(&mut t, 20);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"components": {"securitySchemes": {
            "q": {"type": "apiKey", "in": "query", "name": "api_key"},
            "h": {"type": "apiKey", "in": "header", "name": "X-Key"},
            "c": {"type": "apiKey", "in": "cookie", "name": "session"},
            "b": {"type": "http", "scheme": "Bearer"},
            "u": {"type": "http", "scheme": "basic"},
            "o": {"type": "oauth2", "flows": {}},
            "r": {"$ref": "#/components/securitySchemes/q"},
        }}})
    }

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_scheme_becomes_its_injection() {
        let tables = BTreeMap::from([
            ("q".to_string(), table(&[("value", "k1")])),
            ("h".to_string(), table(&[("value", "k2")])),
            ("c".to_string(), table(&[("value", "k3")])),
            ("b".to_string(), table(&[("value", "t")])),
            (
                "u".to_string(),
                table(&[("username", "me"), ("password", "pw")]),
            ),
            ("r".to_string(), table(&[("value", "k4")])),
        ]);
        let got = injections(&doc(), &tables).expect("all supported");
        assert_eq!(
            got,
            [
                Injection::Header("authorization".into(), "Bearer t".into()),
                Injection::Cookie("session".into(), "k3".into()),
                Injection::Header("x-key".into(), "k2".into()),
                Injection::Query("api_key".into(), "k1".into()),
                Injection::Query("api_key".into(), "k4".into()),
                Injection::Header("authorization".into(), "Basic bWU6cHc=".into()),
            ]
        );
        assert_eq!(format!("{:?}", got[0]), "Header(authorization)");
    }

    #[test]
    fn client_credentials_take_an_id_a_secret_and_maybe_scopes() {
        let doc = json!({"components": {"securitySchemes": {"m": {"type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/token", "scopes": {}}}}}}});
        let grant = |keys: &[(&str, &str)]| {
            injections(&doc, &BTreeMap::from([("m".to_string(), table(keys))]))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            grant(&[
                ("client_id", "c"),
                ("client_secret", "s"),
                ("scopes", "a b")
            ]),
            Ok(vec![Injection::Token(ClientCredentials {
                token_url: "/token".into(),
                client_id: "c".into(),
                client_secret: "s".into(),
                scopes: vec!["a".into(), "b".into()],
            })])
        );
        assert!(grant(&[("client_id", "c"), ("client_secret", "s")]).is_ok());
        assert_eq!(
            grant(&[("client_id", "c")]),
            Err("the scheme \"m\" (OAuth 2 client credentials) takes `client_id`, `client_secret` and, if it needs them, `scopes`; the table has `client_id`".into())
        );
    }

    #[test]
    fn a_wrong_table_says_what_it_needs() {
        let err = |name: &str, keys: &[(&str, &str)]| {
            let tables = BTreeMap::from([(name.to_string(), table(keys))]);
            injections(&doc(), &tables)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            err("u", &[("value", "x")]),
            "the scheme \"u\" (HTTP basic) takes `username` and `password`; the table has `value`"
        );
        assert!(err("nope", &[("value", "x")]).starts_with(
            "the document has no security scheme \"nope\" (it has: \"b\", \"c\", \"h\""
        ));
        assert!(
            err("o", &[("value", "x")])
                .starts_with("the scheme \"o\" is OAuth 2 without a clientCredentials flow")
        );
    }
}
