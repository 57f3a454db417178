//! A registry connection for one reference: TLS with the system's roots
//! and the config's extra CA files; plain HTTP only for a registry the
//! config lists, or one on this machine that does not answer TLS; and the
//! login `[settings.registries.auth]` gives the registry, or else the
//! credentials the Docker config (and its credential helpers) holds for
//! it, as every OCI tool finds them.

use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::OciError;
use crate::config::oci::OciRef;
use crate::config::registries::Registries;

/// A registry client and the credentials it authenticated with.
pub(super) type Connected = (Client, RegistryAuth);

/// How long to wait for a registry to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a read may stall.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A client for `reference`'s registry, authenticated for `op`, and the
/// credentials it used. A registry on this machine is tried over TLS
/// first and then over plain HTTP, as Docker does for such registries.
pub(super) async fn connect(
    registries: &Registries,
    reference: &OciRef,
    op: RegistryOperation,
) -> Result<Connected, OciError> {
    let registry = reference.registry().to_string();
    let listed = registries.plain(&registry);
    // The config's login first; else the Docker config's. A credential
    // helper is a process: run it off the async workers.
    let auth = match registries.login(&registry) {
        Some(login) => RegistryAuth::Basic(login.username.clone(), login.password.clone()),
        None => {
            let registry = registry.clone();
            tokio::task::spawn_blocking(move || credentials(&registry))
                .await
                .unwrap_or(RegistryAuth::Anonymous)
        }
    };
    let protocols: &[ClientProtocol] = match (listed, reference.is_loopback()) {
        (true, _) => &[ClientProtocol::Http],
        (false, true) => &[ClientProtocol::Https, ClientProtocol::Http],
        (false, false) => &[ClientProtocol::Https],
    };
    let mut last = None;
    for protocol in protocols {
        let client = Client::new(client_config(registries, protocol.clone())?);
        match client.auth(reference.client_ref(), &auth, op).await {
            Ok(_) => return Ok((client, auth)),
            // Not answering TLS: the next protocol, if there is one.
            Err(e @ oci_client::errors::OciDistributionError::RequestError(_)) => last = Some(e),
            Err(e) => return Err(OciError::registry(reference, "authenticate with", e)),
        }
    }
    Err(match last {
        Some(e) => OciError::registry(reference, "reach", e),
        None => OciError::Setup {
            why: "no protocol to try".into(),
        },
    })
}

/// The client's settings for `protocol`.
fn client_config(
    registries: &Registries,
    protocol: ClientProtocol,
) -> Result<ClientConfig, OciError> {
    let mut roots = Vec::new();
    for path in &registries.ca {
        let data = std::fs::read(path).map_err(|e| OciError::Setup {
            why: format!("cannot read the CA file {}: {e}", path.display()),
        })?;
        roots.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data,
        });
    }
    Ok(ClientConfig {
        protocol,
        extra_root_certificates: roots,
        platform_resolver: None,
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        user_agent: concat!("weft/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    })
}

/// The Docker config's credentials for `registry`, or none.
fn credentials(registry: &str) -> RegistryAuth {
    match docker_credential::get_credential(registry) {
        Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Ok(docker_credential::DockerCredential::IdentityToken(token)) => {
            RegistryAuth::Bearer(token)
        }
        Err(e) => {
            tracing::debug!(
                registry,
                "no registry credentials in the Docker config: {e}"
            );
            RegistryAuth::Anonymous
        }
    }
}
