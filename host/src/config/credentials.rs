//! Which configured values are credentials, for the redaction pass: every
//! value a `${env:NAME}` or `${secret:NAME}` reference resolved to in a
//! server's `env`, `headers` or `url` (and in `command`, `args` or `cwd`
//! when NAME looks like a credential), and the inline `env` and `headers`
//! values whose names look like credentials.

/// The credentials of one server: `shared` are masked in every output,
/// `owned` (`(tenant, value)`, a per-tenant server's) in every output but
/// that tenant's own. `Debug` shows only how many.
#[derive(Clone, Default, PartialEq)]
pub struct Credentials {
    /// Values masked in every output.
    pub shared: Vec<String>,
    /// `(tenant, value)` pairs of a per-tenant server, masked in every
    /// output except that tenant's own.
    pub owned: Vec<(String, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials({} shared, {} per tenant)",
            self.shared.len(),
            self.owned.len()
        )
    }
}

impl Credentials {
    /// Notes values for `tenant` (a per-tenant instance) or for everyone.
    pub(crate) fn note(&mut self, tenant: Option<&str>, values: impl IntoIterator<Item = String>) {
        for v in values {
            match tenant {
                Some(t) => self.owned.push((t.to_string(), v)),
                None => self.shared.push(v),
            }
        }
    }
}

/// Whether an `env` or `headers` name (or a `${env:NAME}`'s NAME) looks
/// like it holds a credential: `Authorization`, `Proxy-Authorization`,
/// `Cookie`, or a name containing `TOKEN`, `KEY`, `SECRET`, `PASSWORD`,
/// `PASSWD`, `CREDENTIAL` or `AUTH`, in any case.
pub fn looks_like_credential(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "AUTHORIZATION" | "PROXY-AUTHORIZATION" | "COOKIE"
    ) || [
        "TOKEN",
        "KEY",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "AUTH",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// What to mask for a credential value: the value, and for a value of the
/// form `SCHEME TOKEN` (`Bearer …`, `Basic …`), the token alone, which a
/// server may echo without its scheme.
pub fn credential_values(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string()];
    if let Some((scheme, token)) = value.trim().split_once(' ')
        && !scheme.is_empty()
        && scheme.chars().all(|c| c.is_ascii_alphabetic())
        && !token.trim().is_empty()
    {
        out.push(token.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_names_and_values() {
        for name in [
            "Authorization",
            "GITHUB_TOKEN",
            "x-api-key",
            "DB_PASSWORD",
            "client_secret",
            "Cookie",
        ] {
            assert!(looks_like_credential(name), "{name}");
        }
        for name in ["PATH", "LOG_LEVEL", "Accept", "TZ", "REGION"] {
            assert!(!looks_like_credential(name), "{name}");
        }
        assert_eq!(
            credential_values("Bearer abc123xyz"),
            ["Bearer abc123xyz", "abc123xyz"]
        );
        assert_eq!(credential_values("abc123xyz"), ["abc123xyz"]);
    }
}
