//! `settings.state` and `settings.lease`: where the journal lives when
//! several weft processes share it (a PostgreSQL URL), and how long a
//! run's lease lasts there.
//!
//! The URL may hold `${env:NAME}` and `${secret:NAME}` references, as a
//! server's `env` does; its resolved value is a credential (masked in
//! every output, never logged, never shown by `Debug`).

use std::path::Path;
use std::time::Duration;

use super::duration::RawDuration;
use super::secrets::LazySecrets;
use super::{ConfigError, secrets};

/// The default lease of a run in a shared journal.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// A resolved `postgres://` URL. `Debug` shows no part of it.
#[derive(Clone, PartialEq)]
pub struct StateUrl(String);

impl StateUrl {
    /// The URL, password and all: for connecting, never for messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateUrl(<redacted>)")
    }
}

/// Reads `settings.state`: references resolved, the scheme checked. The
/// values to mask in output (the URL and its password) go to `masked`.
pub(super) fn parse_state(
    raw: &str,
    file: &Path,
    secrets_store: &mut LazySecrets,
    masked: &mut Vec<String>,
) -> Result<StateUrl, ConfigError> {
    let key = "settings.state";
    let store = if secrets::mentions_secret(raw) {
        Some(
            secrets_store
                .get()
                .map_err(|e| ConfigError::new(file, key, e.to_string()))?,
        )
    } else {
        None
    };
    let mut refs = Vec::new();
    let url = secrets::resolve_noting(raw, store.as_ref(), &mut refs)
        .map_err(|e| ConfigError::new(file, key, e.to_string()))?;
    let hint = "write state = \"postgres://USER@HOST/DATABASE\", with the password from a secret: \"postgres://USER:${secret:PG_PASSWORD}@HOST/DATABASE\" or \"${secret:PG_URL}\"";
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        // Say what was written only when it holds no reference.
        let message = if refs.is_empty() {
            let mut shown = raw.to_string();
            crate::util::truncate(&mut shown, 64);
            format!("{shown:?} is not a postgres:// URL")
        } else {
            "the value its references resolve to is not a postgres:// URL".to_string()
        };
        return Err(ConfigError::new(file, key, message).hint(hint));
    }
    masked.extend(refs.into_iter().map(|(_, v)| v).filter(|v| !v.is_empty()));
    if let Some(password) = password_of(&url) {
        masked.push(password);
    }
    Ok(StateUrl(url))
}

/// Reads `settings.lease`: at least 1 s, at most an hour.
pub(super) fn parse_lease(raw: &RawDuration, file: &Path) -> Result<Duration, ConfigError> {
    let key = "settings.lease";
    let lease = raw.resolve(file, key)?;
    if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&lease) {
        return Err(
            ConfigError::new(file, key, format!("{lease:?} is outside 1s..1h"))
                .hint("a run is taken over this long after its owner dies; the default is \"30s\""),
        );
    }
    Ok(lease)
}

/// The password in `scheme://user:password@host...`, if there is one.
fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split(['/', '?']).next()?.rsplit_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_string())
}

#[cfg(test)]
mod tests {
    use super::password_of;

    #[test]
    fn the_password_of_a_url_is_found_for_masking() {
        assert_eq!(
            password_of("postgres://u:s3cr%40t@db:5432/x?sslmode=disable").as_deref(),
            Some("s3cr%40t")
        );
        assert_eq!(password_of("postgres://u@db/x"), None);
        assert_eq!(password_of("postgres://db/x?user=u"), None);
    }
}
