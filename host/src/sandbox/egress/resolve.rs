//! weft's resolver for adapters' requests: a name is looked up once per
//! connection, refused when any of its addresses is not public, and the
//! client is handed exactly the addresses that were checked. A name
//! cannot change its answer between the check and the connection (DNS
//! rebinding): there is no second lookup to change.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;

use super::address::{bracketed, not_public};

/// Looks a name up: its addresses.
pub(super) type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> + Send + Sync>;

/// Why the resolver refused a name; found again in the client's error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Refusal(pub String);

/// Resolves names, refusing any with an address that is not public.
#[derive(Clone)]
pub(super) struct PublicOnly {
    lookup: Lookup,
    /// What kind of non-public address an address is (`not_public`;
    /// tests name a loopback address public, to dial it).
    classify: fn(IpAddr) -> Option<&'static str>,
}

impl PublicOnly {
    /// The system's resolver, and the real classification.
    pub(super) fn system() -> PublicOnly {
        PublicOnly {
            lookup: Arc::new(|host: String| {
                Box::pin(async move {
                    let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
                    Ok(found.map(|a| a.ip()).collect())
                })
            }),
            classify: not_public,
        }
    }

    #[cfg(test)]
    pub(super) fn with(lookup: Lookup, classify: fn(IpAddr) -> Option<&'static str>) -> PublicOnly {
        PublicOnly { lookup, classify }
    }

    /// The checked addresses of `host`, or why not.
    async fn checked(&self, host: String) -> Result<Vec<IpAddr>, Refusal> {
        let found = (self.lookup)(host.clone())
            .await
            .map_err(|e| Refusal(format!("cannot resolve {host}: {e}")))?;
        if let Some((addr, kind)) = found
            .iter()
            .find_map(|a| (self.classify)(*a).map(|k| (*a, k)))
        {
            return Err(Refusal(format!(
                "{host} resolves to {addr}, a {kind} address; a name may only resolve to public addresses (an `egress` entry that names the address itself, such as \"http://{}\", reaches it)",
                bracketed(addr)
            )));
        }
        if found.is_empty() {
            return Err(Refusal(format!("{host} resolves to no address")));
        }
        Ok(found)
    }
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            match this.checked(host).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)))
                    as reqwest::dns::Addrs),
                Err(r) => Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}
