//! The PostgreSQL connection of `settings.state`, shared by the journal,
//! the audit log and the tenants' rate buckets: the URL, and TLS.
//!
//! The URL is libpq's. weft reads its `sslmode` and `sslrootcert` itself
//! (the Rust client knows only `disable`, `prefer` and `require`, and no
//! root file):
//!
//! - `disable`, `prefer` (libpq's default) or none: no TLS. (libpq's
//!   `prefer` would take an unverified TLS session when the server offers
//!   one; weft does not pretend that protects anything.)
//! - `require`, `verify-ca`, `verify-full`: TLS, and the server's
//!   certificate is always verified, for the host name too: against the
//!   platform's roots plus the PEM certificates of `sslrootcert`, if given.
//!   A server that offers no TLS is refused.
//!
//! A unix-socket host never uses TLS (PostgreSQL offers none there).

use std::sync::Arc;

pub mod live;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// How a connection is secured.
#[derive(Clone)]
pub enum Tls {
    Off(postgres::NoTls),
    On(tokio_postgres_rustls::MakeRustlsConnect),
}

/// A parsed `settings.state`: the client's config and its TLS.
pub struct Target {
    pub config: tokio_postgres::Config,
    pub tls: Tls,
}

/// Why `settings.state` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "settings.state is not a PostgreSQL URL ({0}); write postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or keep the password in a secret: \"${{secret:NAME}}\""
    )]
    Url(String),
    #[error(
        "settings.state: sslmode={0:?} is not one of disable, prefer, require, verify-ca, verify-full"
    )]
    SslMode(String),
    #[error("settings.state: sslrootcert {path}: {reason}")]
    RootCert { path: String, reason: String },
    #[error("settings.state: cannot set up TLS: {0}")]
    Tls(String),
}

/// The most bytes of an `sslrootcert` file weft reads.
const MAX_ROOT_FILE: u64 = 1 << 20;

/// Parses `url`, taking `sslmode` and `sslrootcert` out of its query.
pub fn parse(url: &str) -> Result<Target, TargetError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(decode(value)),
            "sslrootcert" => root = Some(decode(value)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e: tokio_postgres::Error| TargetError::Url(e.to_string()))?;
    let secure = match mode.as_deref() {
        None | Some("disable") | Some("prefer") => false,
        Some("require") | Some("verify-ca") | Some("verify-full") => true,
        Some(other) => return Err(TargetError::SslMode(cut(other))),
    };
    if !secure {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        return Ok(Target {
            config,
            tls: Tls::Off(postgres::NoTls),
        });
    }
    config.ssl_mode(tokio_postgres::config::SslMode::Require);
    let tls = connector(root.as_deref())?;
    Ok(Target {
        config,
        tls: Tls::On(tls),
    })
}

/// A query value with `%XX` escapes decoded (a path may hold them).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

/// rustls verifying against the platform's roots and `root`'s.
fn connector(root: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, TargetError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = root {
        let fail = |reason: String| TargetError::RootCert {
            path: cut(path),
            reason,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| fail(e.to_string()))?
            .len();
        if size > MAX_ROOT_FILE {
            return Err(fail(format!(
                "{size} bytes, over the {MAX_ROOT_FILE} weft reads"
            )));
        }
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| fail(format!("not PEM certificates ({e})")))?;
            roots
                .add(cert)
                .map_err(|e| fail(format!("a certificate rustls refuses ({e})")))?;
            added += 1;
        }
        if added == 0 {
            return Err(fail("holds no PEM certificate".into()));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TargetError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl Target {
    /// The blocking client's copy of the config.
    pub fn blocking_config(&self) -> postgres::Config {
        postgres::Config::from(self.config.clone())
    }
}

/// Connects the blocking client with `config` over `tls`.
pub fn connect_blocking(
    config: &postgres::Config,
    tls: &Tls,
) -> Result<postgres::Client, postgres::Error> {
    match tls {
        Tls::Off(t) => config.connect(*t),
        Tls::On(t) => config.connect(t.clone()),
    }
}

/// Connects the async client with `config` over `tls`, running the
/// connection on the current runtime (its end is logged at debug level).
pub async fn connect(
    config: &tokio_postgres::Config,
    tls: &Tls,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    fn drive<F>(connection: F)
    where
        F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
    {
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a PostgreSQL connection ended");
            }
        });
    }
    match tls {
        Tls::Off(t) => {
            let (client, connection) = config.connect(*t).await?;
            drive(connection);
            Ok(client)
        }
        Tls::On(t) => {
            let (client, connection) = config.connect(t.clone()).await?;
            drive(connection);
            Ok(client)
        }
    }
}

/// The URL without its password: `postgres://USER@HOST:PORT/DATABASE`.
pub fn shown(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(dir) => dir.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_settings_are_taken_out_of_the_url() {
        let t = parse("postgres://u@h:5/db?sslmode=disable&application_name=w").unwrap();
        assert!(matches!(t.tls, Tls::Off(_)));
        assert_eq!(t.config.get_application_name(), Some("w"));
        let t = parse("postgres://u@h/db").unwrap();
        assert!(matches!(t.tls, Tls::Off(_)));
        let t = parse("postgres://u@h/db?sslmode=verify-full").unwrap();
        assert!(matches!(t.tls, Tls::On(_)));
        assert_eq!(
            t.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let e = parse("postgres://u@h/db?sslmode=maybe").err().unwrap();
        assert!(e.to_string().contains("sslmode=\"maybe\""), "{e}");
        let e = parse("postgres://u@h/db?sslmode=require&sslrootcert=/no/such%20file")
            .err()
            .unwrap();
        assert!(e.to_string().contains("sslrootcert /no/such file: "), "{e}");
        assert!(parse("nonsense://").is_err());
    }
}
