//! TLS settings of an HTTP server entry: `ca_file` (PEM certificates
//! trusted for this server besides the platform's roots), `client_cert`
//! and `client_key` (a client certificate for mutual TLS), and
//! `insecure_skip_verify`. On a component server the same keys apply to
//! its `https://` egress. Plain data: the files are read, and the
//! certificates parsed, when weft connects or the adapter loads (see
//! `upstream::tls`).

use std::path::{Path, PathBuf};

use super::ConfigError;

/// The largest certificate or key file weft reads (a PEM bundle of a few
/// hundred certificates fits).
pub const MAX_PEM_BYTES: u64 = 1 << 20;

/// How weft checks, and presents itself to, one HTTPS server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Extra roots for this server (a private CA), absolute.
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, for servers that ask for one.
    pub client: Option<ClientIdentity>,
    /// Accept any certificate. weft warns each time it connects.
    pub insecure_skip_verify: bool,
}

/// A client certificate chain (PEM file) and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The PEM file of the certificate chain, absolute.
    pub cert_file: PathBuf,
    /// Where the certificate's private key comes from.
    pub key: KeySource,
}

/// Where a client key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A PEM file, absolute.
    File(PathBuf),
    /// The PEM text itself, from a `${secret:..}` or `${env:..}` reference.
    Pem(String),
}

impl std::fmt::Debug for ClientIdentity {
    // The key may be a secret's value: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = match &self.key {
            KeySource::File(p) => format!("file {}", p.display()),
            KeySource::Pem(_) => "PEM from a reference".into(),
        };
        f.debug_struct("ClientIdentity")
            .field("cert_file", &self.cert_file)
            .field("key", &key)
            .finish()
    }
}

impl TlsConfig {
    /// Whether any TLS key was written.
    pub fn is_set(&self) -> bool {
        *self != TlsConfig::default()
    }
}

/// The TLS keys of a server entry as written; `client_key` already
/// resolved when it was a reference (`key_was_reference`).
pub(crate) struct RawTls<'a> {
    pub ca_file: Option<&'a Path>,
    pub client_cert: Option<&'a Path>,
    pub client_key: Option<String>,
    pub key_was_reference: bool,
    pub insecure_skip_verify: bool,
}

impl RawTls<'_> {
    /// Whether any TLS key was written.
    pub fn any(&self) -> bool {
        self.ca_file.is_some()
            || self.client_cert.is_some()
            || self.client_key.is_some()
            || self.insecure_skip_verify
    }

    /// Checks the keys of entry `entry` of `file` (for an `https://` URL)
    /// and resolves relative paths against the file's directory.
    pub fn into_config(
        self,
        file: &Path,
        entry: &str,
        url: &str,
    ) -> Result<TlsConfig, ConfigError> {
        if self.any() && !url.starts_with("https://") {
            return Err(ConfigError::new(
                file,
                entry,
                "`ca_file`, `client_cert`, `client_key` and `insecure_skip_verify` apply only to https:// URLs",
            )
            .hint("use an https:// URL, or remove them"));
        }
        self.checked(file, entry)
    }

    /// The same keys on a component server, where they apply to its
    /// `https://` egress: checks them when `https_egress` (an `egress`
    /// entry is `https://`) and refuses them otherwise.
    pub fn into_egress_config(
        self,
        file: &Path,
        entry: &str,
        https_egress: bool,
    ) -> Result<TlsConfig, ConfigError> {
        if self.any() && !https_egress {
            return Err(ConfigError::new(
                file,
                entry,
                "`ca_file`, `client_cert`, `client_key` and `insecure_skip_verify` apply to a component server only when its `egress` list has an https:// entry",
            )
            .hint("add an https:// entry to `egress`, or remove them"));
        }
        self.checked(file, entry)
    }

    fn checked(self, file: &Path, entry: &str) -> Result<TlsConfig, ConfigError> {
        let key = |k: &str| format!("{entry}.{k}");
        if !self.any() {
            return Ok(TlsConfig::default());
        }
        if self.insecure_skip_verify && self.ca_file.is_some() {
            return Err(ConfigError::new(
                file,
                key("insecure_skip_verify"),
                "is set together with `ca_file`, which it would make pointless",
            )
            .hint("keep `ca_file` and remove `insecure_skip_verify`: the server's certificate is then checked against that CA"));
        }
        let dir = file.parent().unwrap_or(Path::new("."));
        let absolute = |p: &Path| {
            if p.is_relative() {
                dir.join(p)
            } else {
                p.to_path_buf()
            }
        };
        let existing = |field: &str, p: &Path| -> Result<PathBuf, ConfigError> {
            let path = absolute(p);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() <= MAX_PEM_BYTES => Ok(path),
                Ok(m) if m.is_file() => Err(ConfigError::new(
                    file,
                    key(field),
                    format!(
                        "{} is {} bytes; a PEM file here is at most {MAX_PEM_BYTES}",
                        path.display(),
                        m.len()
                    ),
                )),
                Ok(_) => Err(ConfigError::new(
                    file,
                    key(field),
                    format!("{} is not a file", path.display()),
                )),
                Err(e) => Err(ConfigError::new(
                    file,
                    key(field),
                    format!("cannot read {}: {e}", path.display()),
                )
                .hint("paths are relative to the config file's directory")),
            }
        };
        let ca_file = self.ca_file.map(|p| existing("ca_file", p)).transpose()?;
        let client = match (self.client_cert, self.client_key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    file,
                    key("client_cert"),
                    "is set without `client_key`",
                )
                .hint(
                    "add `client_key = \"key.pem\"` (or a `${secret:NAME}` holding the PEM text)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    file,
                    key("client_key"),
                    "is set without `client_cert`",
                )
                .hint("add `client_cert = \"cert.pem\"`, the certificate that goes with the key"));
            }
            (Some(cert), Some(k)) => {
                let key_source = if self.key_was_reference {
                    if !k.contains("-----BEGIN") {
                        return Err(ConfigError::new(
                            file,
                            key("client_key"),
                            "the reference's value is not a PEM private key",
                        )
                        .hint(
                            "store the key's PEM text, from -----BEGIN to -----END, in the secret",
                        ));
                    }
                    KeySource::Pem(k)
                } else {
                    KeySource::File(existing("client_key", Path::new(&k))?)
                };
                Some(ClientIdentity {
                    cert_file: existing("client_cert", cert)?,
                    key: key_source,
                })
            }
        };
        Ok(TlsConfig {
            ca_file,
            client,
            insecure_skip_verify: self.insecure_skip_verify,
        })
    }
}
