//! `[settings.registries]` and `[settings.trust]`: how weft reaches OCI
//! registries for `oci://` components (extra CA files, registries allowed
//! plain HTTP, logins that may come from `${secret:..}`), and whose
//! signatures it trusts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;

use super::ConfigError;
use super::secrets::{self, LazySecrets};

/// How weft reaches registries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registries {
    /// Extra CA certificates (PEM files) to trust for registries' TLS.
    pub ca: Vec<PathBuf>,
    /// Registries (`host:port`, lowercase) reached over plain HTTP although
    /// they are not on this machine.
    pub plain_http: Vec<String>,
    /// Logins by registry (`host:port`, lowercase), ahead of the Docker
    /// config's. Host names match in any case: look up with
    /// [`Registries::login`].
    pub logins: BTreeMap<String, Login>,
}

impl Registries {
    /// Whether `registry` (`host:port`, in any case) may be plain HTTP.
    pub fn plain(&self, registry: &str) -> bool {
        self.plain_http.contains(&registry.to_ascii_lowercase())
    }

    /// The configured login for `registry` (`host:port`, in any case).
    pub fn login(&self, registry: &str) -> Option<&Login> {
        self.logins.get(&registry.to_ascii_lowercase())
    }
}

/// A user name and password for one registry (`Debug` shows the name
/// only).
#[derive(Clone, PartialEq)]
pub struct Login {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The keys whose signatures count (`[settings.trust]`).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The trusted public keys.
    pub keys: Vec<TrustedKey>,
    /// Refuse a component no trusted key signed.
    pub require_signatures: bool,
    /// Keyless (Fulcio and Rekor) signatures that count.
    pub keyless: Option<Keyless>,
}

impl Trust {
    /// No keys, no keyless trust and nothing required: signatures are
    /// not looked at.
    pub fn is_off(&self) -> bool {
        self.keys.is_empty() && self.keyless.is_none() && !self.require_signatures
    }
}

/// `[settings.trust.keyless]`: whose keyless signatures count.
#[derive(Debug, Clone)]
pub struct Keyless {
    /// Fulcio's root (and intermediate) certificates, DER.
    pub roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Rekor's public keys.
    pub rekor_keys: Vec<TrustedKey>,
    /// The signers trusted.
    pub identities: Vec<Identity>,
}

/// A signer: the OIDC issuer that vouched for it and the subject (e-mail
/// or URI) Fulcio certified.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The OIDC issuer, exactly, like
    /// "https://token.actions.githubusercontent.com".
    pub issuer: String,
    /// The certificate's subject, exactly: an e-mail address, or a URI
    /// such as a CI workflow's
    /// ("https://github.com/acme/greeter/.github/workflows/release.yml@refs/heads/main").
    pub subject: String,
}

/// One trusted public key.
#[derive(Clone)]
pub struct TrustedKey {
    /// Where it was read from (what messages name).
    pub file: PathBuf,
    /// The SHA-256 of its DER public key, hex: a Rekor log's ID.
    pub id: String,
    key: ParsedPublicKey,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey")
            .field("file", &self.file)
            .finish()
    }
}

impl TrustedKey {
    /// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`, as `cosign
    /// generate-key-pair` and `openssl ec -pubout` write it): ECDSA P-256.
    pub fn read(file: &Path) -> Result<TrustedKey, String> {
        let pem =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let der = SubjectPublicKeyInfoDer::from_pem_slice(&pem)
            .map_err(|e| format!("{} holds no PEM public key: {e}", file.display()))?;
        let key = ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, der.as_ref())
            .map_err(|e| format!("{} is not an ECDSA P-256 public key: {e}", file.display()))?;
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der.as_ref());
        let id = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Ok(TrustedKey {
            file: file.to_path_buf(),
            id,
            key,
        })
    }

    /// The key file's name, as messages show it.
    pub fn name(&self) -> String {
        self.file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Whether this key made `signature` (ASN.1 ECDSA) over `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

/// `[settings.registries]` as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistries {
    /// PEM files of CA certificates trusted for registries' TLS, beside
    /// the system's roots (relative to the config file).
    #[serde(default)]
    ca: Vec<String>,
    /// Registries (`"host:port"`) reached over plain HTTP although they are
    /// not on this machine. A registry on `localhost`, `127.0.0.1` or
    /// `[::1]` always may be; any other needs TLS unless listed here.
    #[serde(default)]
    plain_http: Vec<String>,
    /// Logins by registry (`"host:port"`), used instead of the Docker
    /// config's (`docker login`) for that registry: `username` and
    /// `password`, each may be a `${secret:NAME}` or `${env:NAME}`.
    #[serde(default)]
    auth: BTreeMap<String, RawLogin>,
}

/// One registry's login as written (`Debug` shows the user name only).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    /// The user name.
    username: String,
    /// The password or token; usually a `${secret:NAME}`.
    password: String,
}

impl std::fmt::Debug for RawLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLogin")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Whether `text` is a registry's `host:port` as references write it.
fn registry_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

impl RawRegistries {
    /// The settings, paths resolved against the config file's folder and
    /// logins' references from `store`; the values of those references go
    /// to `masked`.
    pub(super) fn resolve(
        &self,
        file: &Path,
        store: &mut LazySecrets,
        masked: &mut Vec<String>,
    ) -> Result<Registries, ConfigError> {
        let key = |k: &str| format!("settings.registries.{k}");
        let mut ca = Vec::new();
        for c in &self.ca {
            let p = beside(file, c);
            if !p.is_file() {
                return Err(ConfigError::new(
                    file,
                    key("ca"),
                    format!("{} is not a file", p.display()),
                )
                .hint("name a PEM file of the CA that signed the registry's certificate"));
            }
            ca.push(p);
        }
        for r in self.plain_http.iter().chain(self.auth.keys()) {
            if !registry_name(r) {
                let mut shown = r.clone();
                crate::util::truncate(&mut shown, 80);
                return Err(ConfigError::new(
                    file,
                    if self.plain_http.contains(r) { key("plain_http") } else { key("auth") },
                    format!("{shown:?} is not a registry's host:port"),
                )
                .hint("list registries as they appear in oci:// references, like \"registry.internal:5000\""));
            }
        }
        let mut logins = BTreeMap::new();
        for (registry, login) in &self.auth {
            let mut value = |field: &str, text: &str| {
                let k = key(&format!("auth.{registry:?}.{field}"));
                let opened = if secrets::mentions_secret(text) {
                    Some(
                        store
                            .get()
                            .map_err(|e| ConfigError::new(file, k.clone(), e.to_string()))?,
                    )
                } else {
                    None
                };
                let mut refs = Vec::new();
                let v = secrets::resolve_noting(text, opened.as_ref(), &mut refs)
                    .map_err(|e| ConfigError::new(file, k, e.to_string()))?;
                masked.extend(refs.into_iter().map(|(_, v)| v).filter(|v| !v.is_empty()));
                Ok::<_, ConfigError>(v)
            };
            let username = value("username", &login.username)?;
            let password = value("password", &login.password)?;
            if !password.is_empty() {
                masked.push(password.clone());
            }
            logins.insert(registry.to_ascii_lowercase(), Login { username, password });
        }
        Ok(Registries {
            ca,
            plain_http: self
                .plain_http
                .iter()
                .map(|r| r.to_ascii_lowercase())
                .collect(),
            logins,
        })
    }
}

/// `[settings.trust]` as written.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrust {
    /// PEM public keys (ECDSA P-256, as `cosign generate-key-pair` or
    /// `openssl ec -pubout` writes them) whose cosign signatures count,
    /// relative to the config file.
    #[serde(default)]
    keys: Vec<String>,
    /// Refuse an `oci://` component that no trusted key signed. Off: such
    /// a component runs, with a warning.
    #[serde(default)]
    #[schemars(extend("default" = false))]
    require_signatures: bool,
    /// Keyless signatures (cosign with Fulcio and Rekor) that count,
    /// verified offline from the Rekor bundle cosign attaches.
    keyless: Option<RawKeyless>,
}

/// `[settings.trust.keyless]` as written.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawKeyless {
    /// PEM files of Fulcio's root certificates (and intermediates), as
    /// Sigstore's trust root publishes them, relative to the config file.
    roots: Vec<String>,
    /// PEM public keys of the Rekor logs whose signed entry timestamps
    /// count, relative to the config file.
    rekor_keys: Vec<String>,
    /// The signers trusted: each an OIDC `issuer` and a `subject`, both
    /// matched exactly.
    identities: Vec<Identity>,
}

/// `path` relative to the config file's folder.
fn beside(file: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    match file.parent() {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

impl RawKeyless {
    fn resolve(&self, file: &Path) -> Result<Keyless, ConfigError> {
        use rustls::pki_types::CertificateDer;
        let key = |k: &str| format!("settings.trust.keyless.{k}");
        if let Some(i) = self
            .identities
            .iter()
            .find(|i| i.issuer.trim().is_empty() || i.subject.trim().is_empty())
        {
            return Err(ConfigError::new(
                file,
                key("identities"),
                format!("{i:?} has an empty issuer or subject"),
            )
            .hint(
                "give each identity the OIDC issuer and the certificate's subject, both exactly",
            ));
        }
        let mut roots = Vec::new();
        for r in &self.roots {
            let p = beside(file, r);
            let bad = |why: String| {
                ConfigError::new(file, key("roots"), format!("{}: {why}", p.display())).hint(
                    "name Fulcio's root certificate (fulcio.crt.pem from Sigstore's trusted root)",
                )
            };
            let pem = std::fs::read(&p).map_err(|e| bad(e.to_string()))?;
            let found = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<CertificateDer<'static>>, _>>()
                .map_err(|e| bad(format!("not PEM certificates: {e}")))?;
            if found.is_empty() {
                return Err(bad("holds no PEM certificate".into()));
            }
            for c in &found {
                webpki::anchor_from_trusted_cert(c)
                    .map_err(|e| bad(format!("holds a certificate that cannot be a root: {e}")))?;
            }
            roots.extend(found);
        }
        let mut rekor_keys = Vec::new();
        for k in &self.rekor_keys {
            rekor_keys.push(TrustedKey::read(&beside(file, k)).map_err(|why| {
                ConfigError::new(file, key("rekor_keys"), why)
                    .hint("name Rekor's public key (rekor.pub from Sigstore's trusted root)")
            })?);
        }
        let empty = if roots.is_empty() {
            Some("roots")
        } else if rekor_keys.is_empty() {
            Some("rekor_keys")
        } else if self.identities.is_empty() {
            Some("identities")
        } else {
            None
        };
        if let Some(k) = empty {
            return Err(ConfigError::new(file, key(k), "is empty: no keyless signature could count")
                .hint("keyless trust needs Fulcio's roots, Rekor's keys and at least one identity (issuer and subject)"));
        }
        Ok(Keyless {
            roots,
            rekor_keys,
            identities: self.identities.clone(),
        })
    }
}

impl RawTrust {
    /// The trusted keys, read and checked.
    pub(super) fn resolve(&self, file: &Path) -> Result<Trust, ConfigError> {
        let mut keys = Vec::new();
        for k in &self.keys {
            let p = beside(file, k);
            keys.push(TrustedKey::read(&p).map_err(|why| {
                ConfigError::new(file, "settings.trust.keys", why)
                    .hint("name the PEM public key (cosign.pub) of each publisher you trust")
            })?);
        }
        Ok(Trust {
            keys,
            require_signatures: self.require_signatures,
            keyless: self.keyless.as_ref().map(|k| k.resolve(file)).transpose()?,
        })
    }
}
