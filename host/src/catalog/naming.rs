//! Names an agent sees: `server__tool`, valid per `^[a-zA-Z0-9_-]{1,64}$`,
//! shortened with a stable hash suffix when too long; and resource URIs
//! namespaced reversibly as `server+uri`.

use sha2::{Digest, Sha256};

/// The longest tool name MCP clients accept.
pub const MAX_NAME: usize = 64;

/// Replaces every character clients refuse in a tool name with `_`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Makes a valid exposed name out of `raw`: characters clients refuse are
/// replaced, and a name that had to change in a lossy way (too long, or with
/// replaced characters) gets a short hash of the original, so two different
/// originals never end up with the same name by accident.
pub fn exposed(raw: &str) -> String {
    let clean = sanitize(raw);
    if clean == raw && !raw.is_empty() && raw.len() <= MAX_NAME {
        return clean;
    }
    let hash = Sha256::digest(raw.as_bytes());
    let suffix = hex::encode(&hash[..4]);
    // 8 hex characters and one '-' joiner.
    let keep = MAX_NAME - suffix.len() - 1;
    let head: String = clean.chars().take(keep).collect();
    format!("{head}-{suffix}")
}

/// The exposed name of `tool` on `server` in prefix mode.
pub fn prefixed(server: &str, separator: &str, tool: &str) -> String {
    exposed(&format!("{server}{separator}{tool}"))
}

/// The namespaced form of an upstream resource URI (or URI template).
pub fn namespace_uri(server: &str, uri: &str) -> String {
    format!("{server}+{uri}")
}

/// Splits a namespaced URI back into (server, upstream URI).
pub fn split_uri(uri: &str) -> Option<(&str, &str)> {
    let (server, rest) = uri.split_once('+')?;
    let valid = !server.is_empty()
        && server
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    valid.then_some((server, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(n: &str) -> bool {
        !n.is_empty()
            && n.len() <= MAX_NAME
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn short_names_pass_through() {
        assert_eq!(prefixed("git", "__", "git_status"), "git__git_status");
    }

    #[test]
    fn long_names_are_shortened_stably() {
        let long = "x".repeat(80);
        let a = prefixed("srv", "__", &long);
        assert!(valid(&a), "{a}");
        assert_eq!(a.len(), MAX_NAME);
        assert_eq!(a, prefixed("srv", "__", &long), "stable across calls");
        let mut other = long.clone();
        other.push('y');
        assert_ne!(
            a,
            prefixed("srv", "__", &other),
            "distinct originals stay distinct"
        );
    }

    #[test]
    fn invalid_characters_are_replaced_and_hashed() {
        let a = exposed("get.weather");
        let b = exposed("get weather");
        assert!(valid(&a) && valid(&b));
        assert!(a.starts_with("get_weather-"));
        assert_ne!(a, b);
    }

    #[test]
    fn uris_round_trip() {
        let n = namespace_uri("fs", "file:///tmp/a+b.txt");
        assert_eq!(split_uri(&n), Some(("fs", "file:///tmp/a+b.txt")));
        assert_eq!(split_uri("file:///x"), None);
    }
}
