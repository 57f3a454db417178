//! `oci://REGISTRY/REPOSITORY:TAG` and `oci://REGISTRY/REPOSITORY@sha256:…`:
//! parsed once, checked, and then used as parsed. The registry must be
//! written out (no implied Docker Hub), a digest must be a SHA-256, and
//! the canonical spelling ([`OciRef::canonical`]) is the one the lock file
//! and every message use. Beside it, what became of each such component
//! when weft pulled it ([`OciComponent`]).

use oci_client::Reference;

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
    pub fn parse(text: &str) -> Result<OciRef, String> {
        let bad = |why: &str| format!("{}: not an OCI reference: it {why}", cut(text, 200));
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
    pub(crate) fn client_ref(&self) -> &Reference {
        &self.inner
    }

    /// The same repository at `digest`.
    pub(crate) fn at(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.inner.registry().to_string(),
            self.inner.repository().to_string(),
            digest.to_string(),
        )
    }

    /// The same repository at tag `tag`.
    pub(crate) fn tagged(&self, tag: &str) -> Reference {
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
fn host_of(registry: &str) -> &str {
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
            cut(digest, 80)
        ));
    };
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(format!(
            "the digest {:?} is not sha256: and 64 lowercase hex digits",
            cut(digest, 80)
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` bytes, marked if cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    let mut text = text.to_string();
    crate::util::truncate(&mut text, max);
    text
}

/// Where a pulled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Read from the registry just now.
    Registry,
    /// Found in the cache by its digest; the registry was not asked.
    Cache,
    /// The registry could not be reached; the cached digest runs.
    CacheOffline,
}

/// What the signatures on a component showed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "detail")]
pub enum Signed {
    /// No trust policy: signatures were not looked at.
    NotChecked,
    /// A trusted key (named by its file) signed this digest.
    Verified(String),
    /// No signature at all.
    Unsigned,
    /// Signatures, but none by a trusted key over this digest: why.
    Untrusted(String),
}

/// An `oci://` component of the config, and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct OciComponent {
    /// The reference as parsed.
    pub reference: OciRef,
    /// The manifest digest it runs, once pulled.
    pub digest: Option<String>,
    /// Where it came from, once pulled.
    pub source: Option<Source>,
    /// What its signatures showed, once pulled.
    pub signed: Option<Signed>,
    /// Why it could not be had.
    pub failure: Option<String>,
}

impl OciComponent {
    /// A reference not yet pulled.
    pub fn new(reference: OciRef) -> OciComponent {
        OciComponent {
            reference,
            digest: None,
            source: None,
            signed: None,
            failure: None,
        }
    }

    /// What `weft check` says of it: the reference at its digest, where
    /// it came from, and its signature.
    pub fn describe(&self) -> String {
        let at = match &self.digest {
            Some(d) => format!("{}@{d}", self.reference.canonical()),
            None => self.reference.canonical(),
        };
        if let Some(why) = &self.failure {
            return format!("{at}: {why}");
        }
        let from = match self.source {
            Some(Source::Registry) => "pulled from the registry",
            Some(Source::Cache) => "from the cache",
            Some(Source::CacheOffline) => "from the cache (the registry is down)",
            None => "not pulled",
        };
        format!("{at} ({from}); {}", self.signature())
    }

    /// Its signature's state, in words.
    pub fn signature(&self) -> String {
        match &self.signed {
            Some(Signed::Verified(key)) => format!("signed by {key}, verified"),
            Some(Signed::Unsigned) => "unsigned".into(),
            Some(Signed::Untrusted(why)) => format!("not verified: {why}"),
            Some(Signed::NotChecked) | None => {
                "signature not checked (no [settings.trust] keys)".into()
            }
        }
    }

    /// Whether `weft check` should warn of it: not verified by a trusted
    /// key.
    pub fn unverified(&self) -> bool {
        self.failure.is_none() && !matches!(self.signed, Some(Signed::Verified(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_their_registry_and_pin_sha256_only() {
        let hex = "a".repeat(64);
        for (text, canonical) in [
            (
                "oci://localhost:5000/acme/greet:1.0",
                "oci://localhost:5000/acme/greet:1.0",
            ),
            (
                "oci://registry.example.com/greet:v2",
                "oci://registry.example.com/greet:v2",
            ),
            (
                "oci://127.0.0.1:5000/a/b/c",
                "oci://127.0.0.1:5000/a/b/c:latest",
            ),
            // Docker Hub's one-segment names are its library's.
            ("oci://docker.io/greet:1", "oci://docker.io/library/greet:1"),
            (
                &format!("oci://localhost:5000/greet@sha256:{hex}"),
                &format!("oci://localhost:5000/greet@sha256:{hex}"),
            ),
        ] {
            let r = OciRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.canonical(), canonical);
            // The canonical spelling parses to the same reference.
            assert_eq!(OciRef::parse(&r.canonical()).unwrap(), r);
        }
        for (text, why) in [
            ("localhost:5000/greet:1", "does not start with oci://"),
            ("oci://greet:1", "names no registry"),
            ("oci://acme/greet:1", "\"acme\" is not a registry host"),
            (
                "oci://localhost:5000/gre et:1",
                "a space or a control character",
            ),
            (
                "oci://localhost:5000/greet:1\n",
                "a space or a control character",
            ),
            (
                "oci://localhost:5000/greet@md5:abc",
                "invalid reference format",
            ),
            (
                &format!("oci://localhost:5000/greet@sha256:{}", "A".repeat(64)),
                "64 lowercase hex digits",
            ),
            (
                &format!("oci://localhost:5000/greet@sha256:{}", "a".repeat(63)),
                "invalid checksum digest length",
            ),
            (
                &format!("oci://localhost:5000/{}", "a".repeat(1100)),
                "longer than 1024",
            ),
        ] {
            let e = OciRef::parse(text).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.len() < 400, "{e}");
        }
    }

    #[test]
    fn only_this_machine_is_loopback() {
        for (text, loopback) in [
            ("oci://localhost:5000/a:1", true),
            ("oci://127.0.0.1:5000/a:1", true),
            ("oci://localhost.example.com:5000/a:1", false),
            ("oci://127.0.0.2:5000/a:1", false),
            ("oci://registry.internal:5000/a:1", false),
        ] {
            let r = OciRef::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.is_loopback(), loopback, "{text}");
        }
    }
}
