//! Where an upstream's OAuth tokens live: the config's secrets file
//! (mode 0600), under `oauth:SERVER`, at the top level for a shared server
//! and in `[tenants.TENANT]` for a server run once per tenant. One entry
//! is a JSON record: the client weft is known as (its id, and the secret
//! dynamic registration gave it), the redirect it registered, and the
//! tokens (rmcp's `StoredCredentials`).
//!
//! Every write re-reads the file first and replaces it atomically, under
//! one lock per process, so a refresh does not undo a `weft secrets set`
//! made meanwhile. A config with no secrets file keeps tokens in memory.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use serde::{Deserialize, Serialize};

use crate::config::SecretStore;

/// The largest record weft reads back (tokens are a few KiB at most).
const MAX_RECORD: usize = 64 * 1024;

/// What weft keeps for one server (and tenant).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Record {
    pub client_id: Option<String>,
    /// From dynamic registration; a configured secret is never stored.
    pub client_secret: Option<String>,
    pub redirect_uri: Option<String>,
    pub credentials: Option<StoredCredentials>,
    /// The DPoP key the tokens are bound to (base64url PKCS#8), for a
    /// server that wants DPoP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<String>,
}

/// One server's slot in the secrets file.
#[derive(Clone)]
pub struct Slot {
    path: Option<PathBuf>,
    tenant: Option<String>,
    name: String,
    /// Used when there is no file.
    memory: Arc<parking_lot::Mutex<Option<Record>>>,
}

/// One writer of secrets files at a time in this process.
static WRITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Slot {
    pub fn new(path: Option<PathBuf>, tenant: Option<String>, server: &str) -> Slot {
        Slot {
            path,
            tenant,
            name: format!("oauth:{server}"),
            memory: Arc::default(),
        }
    }

    /// The record, if one was stored; an unreadable one counts as none.
    pub async fn load(&self) -> anyhow::Result<Option<Record>> {
        let Some(path) = self.path.clone() else {
            return Ok(self.memory.lock().clone());
        };
        let (tenant, name) = (self.tenant.clone(), self.name.clone());
        blocking(move || {
            if !path.exists() {
                return Ok(None);
            }
            let store = SecretStore::open(&path)?;
            Ok(store
                .get_exact(tenant.as_deref(), &name)
                .filter(|t| t.len() <= MAX_RECORD)
                .and_then(|t| serde_json::from_str(t).ok()))
        })
        .await
    }

    /// Changes the record (`None` when there is none yet) and stores it;
    /// `change` returning `None` removes it.
    pub async fn update(
        &self,
        change: impl FnOnce(Option<Record>) -> Option<Record> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Some(path) = self.path.clone() else {
            let mut slot = self.memory.lock();
            *slot = change(slot.take());
            return Ok(());
        };
        let _one = WRITING.lock().await;
        let (tenant, name) = (self.tenant.clone(), self.name.clone());
        blocking(move || {
            let mut store = SecretStore::open_or_new(&path)?;
            let old = store
                .get_exact(tenant.as_deref(), &name)
                .and_then(|t| serde_json::from_str(t).ok());
            match change(old) {
                Some(record) => {
                    let text = serde_json::to_string(&record)?;
                    store.set(tenant.as_deref(), &name, text);
                }
                None => {
                    store.remove(tenant.as_deref(), &name);
                }
            }
            Ok(store.save()?)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    use anyhow::Context;
    tokio::task::spawn_blocking(work)
        .await
        .context("the secrets file task failed")?
}

/// rmcp's view of the slot: the tokens part of the record.
#[derive(Clone)]
pub struct Tokens(pub Slot);

#[async_trait::async_trait]
impl CredentialStore for Tokens {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        self.0
            .load()
            .await
            .map(|r| r.and_then(|r| r.credentials))
            .map_err(|e| AuthError::CredentialStoreError(format!("{e:#}")))
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        self.0
            .update(move |old| {
                let mut record = old.unwrap_or_default();
                record.client_id = Some(credentials.client_id.clone());
                record.credentials = Some(credentials);
                Some(record)
            })
            .await
            .map_err(|e| AuthError::CredentialStoreError(format!("{e:#}")))
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.0
            .update(|old| {
                old.map(|mut r| {
                    r.credentials = None;
                    r
                })
            })
            .await
            .map_err(|e| AuthError::CredentialStoreError(format!("{e:#}")))
    }
}
