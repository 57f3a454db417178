//! `oci://REGISTRY/REPOSITORY:TAG` and `oci://REGISTRY/REPOSITORY@sha256:…`:
//! parsed once, checked, and then used as parsed. The registry must be
//! written out (no implied Docker Hub), a digest must be a SHA-256, and
//! the canonical spelling ([`OciRef::canonical`]) is the one the lock file
//! and every message use.

use oci_client::Reference;

use super::OciError;

/// What an OCI reference starts with in a config or on the command line.
pub const SCHEME: &str = "oci://";

/// The longest reference accepted, in bytes (a registry's own limit on a
/// repository name is 255).
const MAX_REFERENCE: usize = 1024;

/// A parsed `oci://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef {
    inner: Reference,
}

/// Whether `text` is meant as an OCI reference (whatever its validity).
pub fn is_oci(text: &str) -> bool {
    text.starts_with(SCHEME)
}

impl OciRef {
    /// Parses `oci://…`, or says what is wrong with it.
    pub fn parse(text: &str) -> Result<OciRef, OciError> {
        let bad = |why: &str| OciError::Reference {
            text: super::cut(text, 200),
            why: why.to_string(),
        };
        if text.len() > MAX_REFERENCE {
            return Err(bad("is longer than 1024 bytes"));
        }
        let Some(rest) = text.strip_prefix(SCHEME) else {
            return Err(bad("does not start with oci://"));
        };
        let Some((registry, _)) = rest.split_once('/') else {
            return Err(bad(
                "names no registry: write oci://REGISTRY/REPOSITORY:TAG (e.g. oci://localhost:5000/acme/greet:1.0)",
            ));
        };
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("holds a space or a control character"));
        }
        let inner = Reference::try_from(rest).map_err(|e| bad(&e.to_string()))?;
        // The parser fills in Docker Hub for a first segment that is not a
        // host; weft never guesses a registry.
        if inner.registry() != registry {
            return Err(bad(&format!(
                "{registry:?} is not a registry host (a registry has a dot or a port, or is localhost)"
            )));
        }
        if let Some(digest) = inner.digest() {
            check_digest(digest).map_err(|why| bad(&why))?;
        }
        Ok(OciRef { inner })
    }

    /// The reference as written canonically: `oci://` and the whole name.
    pub fn canonical(&self) -> String {
        format!("{SCHEME}{}", self.inner.whole())
    }

    /// The registry host (and port).
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The repository path.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest the reference pins, if any.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The reference as the registry client takes it.
    pub(super) fn client_ref(&self) -> &Reference {
        &self.inner
    }

    /// The same repository at `digest`.
    pub(super) fn at(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.inner.registry().to_string(),
            self.inner.repository().to_string(),
            digest.to_string(),
        )
    }

    /// The same repository at tag `tag`.
    pub(super) fn tagged(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.inner.registry().to_string(),
            self.inner.repository().to_string(),
            tag.to_string(),
        )
    }

    /// Whether the registry is this machine (`localhost`, `127.0.0.1`,
    /// `[::1]`, with any port): such a registry may be plain HTTP.
    pub fn is_loopback(&self) -> bool {
        let host = host_of(self.registry());
        matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
    }
}

/// The host of `host:port` (an IPv6 literal keeps its brackets).
pub(super) fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry
            .find(']')
            .map(|end| &registry[..=end])
            .unwrap_or(registry);
    }
    registry
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(registry)
}

/// `sha256:` and 64 lowercase hex digits, or why not.
pub fn check_digest(digest: &str) -> Result<(), String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!(
            "the digest {:?} is not a sha256: digest",
            super::cut(digest, 80)
        ));
    };
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "the digest {:?} is not sha256: and 64 lowercase hex digits",
            super::cut(digest, 80)
        ));
    }
    Ok(())
}
