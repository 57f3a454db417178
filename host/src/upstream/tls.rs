//! TLS for HTTPS upstreams (streamable HTTP and legacy SSE alike): rustls
//! with the platform's root store, plus a server's own `ca_file`, its
//! client certificate for mutual TLS, or, when a config insists,
//! `insecure_skip_verify` (with a warning on every connection).
//!
//! The files are read here, when weft connects, each capped at
//! [`MAX_PEM_BYTES`]; a file that cannot be read or parsed fails the
//! connection with an error naming the file, never its content.

use std::path::Path;

use crate::config::tls::{ClientIdentity, KeySource, MAX_PEM_BYTES, TlsConfig};

/// Why a server's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {why}")]
    Read { path: String, why: String },
    #[error("{path} holds no PEM certificate ({why})")]
    Certificates { path: String, why: String },
    /// The key may be a secret's value: the error names where it came from.
    #[error("the client certificate {cert} and its key do not make an identity: {why}")]
    Identity { cert: String, why: String },
}

/// A server's TLS settings with their files read and parsed.
#[derive(Clone, Default)]
pub struct Loaded {
    roots: Vec<reqwest::Certificate>,
    identity: Option<reqwest::Identity>,
    insecure: bool,
}

/// Reads and parses the files `tls` names (off the runtime's workers).
pub async fn load(tls: &TlsConfig) -> Result<Loaded, TlsError> {
    if !tls.is_set() {
        return Ok(Loaded::default());
    }
    let tls = tls.clone();
    tokio::task::spawn_blocking(move || load_now(&tls))
        .await
        .unwrap_or_else(|e| {
            Err(TlsError::Read {
                path: "TLS files".into(),
                why: e.to_string(),
            })
        })
}

fn load_now(tls: &TlsConfig) -> Result<Loaded, TlsError> {
    let mut roots = Vec::new();
    if let Some(path) = &tls.ca_file {
        let pem = read_capped(path)?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TlsError::Certificates {
                path: path.display().to_string(),
                why: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TlsError::Certificates {
                path: path.display().to_string(),
                why: "no BEGIN CERTIFICATE block".into(),
            });
        }
        roots = certs;
    }
    let identity = tls.client.as_ref().map(identity).transpose()?;
    Ok(Loaded {
        roots,
        identity,
        insecure: tls.insecure_skip_verify,
    })
}

impl Loaded {
    /// `builder` set up with these settings; `server_url` names the
    /// server in the warning `insecure_skip_verify` gives.
    pub fn apply(
        &self,
        builder: reqwest::ClientBuilder,
        server_url: &str,
    ) -> reqwest::ClientBuilder {
        let mut builder = builder;
        for cert in &self.roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        if let Some(identity) = &self.identity {
            builder = builder.identity(identity.clone());
        }
        if self.insecure {
            tracing::warn!(
                url = server_url,
                "insecure_skip_verify is set: weft accepts ANY certificate from this server, so anyone on the network path can impersonate it and read what weft sends it (headers and secrets included); set `ca_file` instead"
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder
    }
}

fn identity(client: &ClientIdentity) -> Result<reqwest::Identity, TlsError> {
    let cert = client.cert_file.display().to_string();
    let mut pem = read_capped(&client.cert_file)?;
    pem.push(b'\n');
    match &client.key {
        KeySource::File(path) => pem.extend(read_capped(path)?),
        KeySource::Pem(text) => pem.extend_from_slice(text.as_bytes()),
    }
    reqwest::Identity::from_pem(&pem).map_err(|e| TlsError::Identity {
        cert,
        why: e.to_string(),
    })
}

fn read_capped(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let fail = |why: String| TlsError::Read {
        path: path.display().to_string(),
        why,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(fail(format!("over {MAX_PEM_BYTES} bytes")));
    }
    Ok(bytes)
}
