//! `[settings.registries]` and `[settings.trust]`: how weft reaches OCI
//! registries for `oci://` components (extra CA files, registries allowed
//! plain HTTP), and whose signatures it trusts.

use std::path::Path;

use std::path::PathBuf;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;

use super::ConfigError;

/// How weft reaches registries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registries {
    /// Extra CA certificates (PEM files) to trust for registries' TLS.
    pub ca: Vec<PathBuf>,
    /// Registries (`host:port`) reached over plain HTTP although they are
    /// not on this machine.
    pub plain_http: Vec<String>,
}

/// The keys whose signatures count (`[settings.trust]`).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The trusted public keys.
    pub keys: Vec<TrustedKey>,
    /// Refuse a component no trusted key signed.
    pub require_signatures: bool,
}

impl Trust {
    /// No keys and nothing required: signatures are not looked at.
    pub fn is_off(&self) -> bool {
        self.keys.is_empty() && !self.require_signatures
    }
}

/// One trusted public key.
#[derive(Clone)]
pub struct TrustedKey {
    /// Where it was read from (what messages name).
    pub file: PathBuf,
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
        Ok(TrustedKey {
            file: file.to_path_buf(),
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
}

impl RawRegistries {
    /// The settings, paths resolved against the config file's folder.
    pub(super) fn resolve(&self, file: &Path) -> Result<Registries, ConfigError> {
        let key = |k: &str| format!("settings.registries.{k}");
        let mut ca = Vec::new();
        for c in &self.ca {
            let p = Path::new(c);
            let p = match file.parent() {
                Some(dir) if p.is_relative() => dir.join(p),
                _ => p.to_path_buf(),
            };
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
        for r in &self.plain_http {
            let ok = !r.is_empty()
                && r.len() <= 255
                && r.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                });
            if !ok {
                let mut shown = r.clone();
                crate::util::truncate(&mut shown, 80);
                return Err(ConfigError::new(
                    file,
                    key("plain_http"),
                    format!("{shown:?} is not a registry's host:port"),
                )
                .hint("list registries as they appear in oci:// references, like \"registry.internal:5000\""));
            }
        }
        Ok(Registries {
            ca,
            plain_http: self.plain_http.clone(),
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
}

impl RawTrust {
    /// The trusted keys, read and checked.
    pub(super) fn resolve(&self, file: &Path) -> Result<Trust, ConfigError> {
        let mut keys = Vec::new();
        for k in &self.keys {
            let p = Path::new(k);
            let p = match file.parent() {
                Some(dir) if p.is_relative() => dir.join(p),
                _ => p.to_path_buf(),
            };
            keys.push(TrustedKey::read(&p).map_err(|why| {
                ConfigError::new(file, "settings.trust.keys", why)
                    .hint("name the PEM public key (cosign.pub) of each publisher you trust")
            })?);
        }
        Ok(Trust {
            keys,
            require_signatures: self.require_signatures,
        })
    }
}
