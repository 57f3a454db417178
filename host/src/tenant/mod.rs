//! Tenants: who is calling, what they may see and call, and how much.
//!
//! A [`Caller`] travels with every call through the router: the tenant
//! (none for the one trusted user of a weft without tenants), the key that
//! authenticated it, and the policy making the call, if any. The router
//! checks the tenant's [`View`] on every call, whatever route the call
//! took, and takes a token from the tenant's [`bucket::Bucket`].

pub mod bucket;
pub mod keys;
pub mod share;
mod shared;

pub use shared::SharedRates;

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use globset::{Glob, GlobMatcher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::config::view::View;
use crate::config::{Limits, TenantConfig, TenantLimits};

/// One tenant at run time.
#[derive(Debug)]
pub struct Tenant {
    pub name: String,
    pub view: View,
    policies: Vec<GlobMatcher>,
    pub admin: bool,
    /// Tools whose calls by this tenant wait for a person's approval.
    pub approval: crate::config::ToolPatterns,
    pub limits: TenantLimits,
    /// Its own code-mode settings, when it has a `[tenants.NAME.code]`.
    pub code: Option<crate::config::CodeConfig>,
    bucket: Option<Mutex<bucket::Bucket>>,
    /// The rate's bucket in the shared database, when there is one (see
    /// [`Tenants::share_rates`]); `bucket` is then the fallback.
    shared: std::sync::OnceLock<Arc<SharedRates>>,
    /// Its policy runs at once: `concurrent_runs`, or
    /// [`crate::config::tenant::DEFAULT_CONCURRENT_RUNS`] unless set.
    runs: Arc<Semaphore>,
    requests: Option<Arc<Semaphore>>,
    /// Whether it shares weft's caps with other tenants (two or more are
    /// configured): then it takes only its fair share of each (see
    /// [`share`]).
    shares: bool,
}

impl Tenant {
    /// Builds a tenant; a glob that does not compile (the config loader
    /// has already refused those) leaves the view empty: fail closed.
    pub fn new(config: &TenantConfig) -> Tenant {
        let view = View::new(&config.include, &config.exclude).unwrap_or_else(|e| {
            tracing::error!(tenant = %config.name, error = %e, "tenant view does not compile; it sees nothing");
            View::default()
        });
        let policies = config
            .policies
            .iter()
            .filter_map(|p| Glob::new(p).ok().map(|g| g.compile_matcher()))
            .collect();
        let l = &config.limits;
        let bucket = rate_of(l).map(|(rate, burst)| Mutex::new(bucket::Bucket::new(rate, burst)));
        Tenant {
            name: config.name.clone(),
            view,
            policies,
            admin: config.admin,
            approval: config.approval.clone(),
            limits: l.clone(),
            code: config.code.clone(),
            bucket,
            shared: std::sync::OnceLock::new(),
            runs: Arc::new(Semaphore::new(l.runs_at_once() as usize)),
            requests: l
                .concurrent_requests
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            shares: false,
        }
    }

    /// Whether it shares weft's caps with other tenants (see [`share`]).
    pub fn shares_caps(&self) -> bool {
        self.shares
    }

    /// Whether the tenant may list and run this policy.
    pub fn may_run(&self, policy: &str) -> bool {
        self.policies.iter().any(|g| g.is_match(policy))
    }

    /// Takes one call from the tenant's rate, or says when to retry.
    pub async fn take_call(&self) -> Result<(), Duration> {
        if let (Some(shared), Some((per_sec, burst))) = (self.shared.get(), self.rate()) {
            // Unreachable: this process's own bucket stands in.
            if let Ok(verdict) = shared.take(&self.name, per_sec, burst).await {
                return verdict;
            }
        }
        self.with_bucket(|b| b.take(Instant::now()))
    }

    /// Whether a call would be admitted now, without taking it.
    pub async fn peek_call(&self) -> Result<(), Duration> {
        if let (Some(shared), Some((per_sec, burst))) = (self.shared.get(), self.rate()) {
            // Unreachable: this process's own bucket stands in.
            if let Ok(verdict) = shared.peek(&self.name, per_sec, burst).await {
                return verdict;
            }
        }
        self.with_bucket(|b| b.peek(Instant::now()))
    }

    /// The rate as (tokens a second, burst), when the tenant has one.
    fn rate(&self) -> Option<(f64, f64)> {
        let (rate, burst) = rate_of(&self.limits)?;
        Some((f64::from(rate) / 60.0, f64::from(burst)))
    }

    fn with_bucket(
        &self,
        f: impl FnOnce(&mut bucket::Bucket) -> Result<(), Duration>,
    ) -> Result<(), Duration> {
        match &self.bucket {
            None => Ok(()),
            Some(b) => f(&mut b.lock()),
        }
    }

    /// A slot for one policy run, held until the run ends (a run taken as
    /// a task holds it after its request is answered), or `Err(max)` when
    /// all are taken.
    pub fn start_run(&self) -> Result<Option<OwnedSemaphorePermit>, u32> {
        slot(Some(&self.runs), Some(self.limits.runs_at_once()))
    }

    /// A slot for one HTTP request, or `Err(max)` when all are taken.
    pub fn start_request(&self) -> Result<Option<OwnedSemaphorePermit>, u32> {
        slot(self.requests.as_ref(), self.limits.concurrent_requests)
    }

    /// Lowers a run's limits to the tenant's caps.
    pub fn clamp(&self, limits: &mut Limits) {
        let l = &self.limits;
        if let Some(f) = l.fuel {
            limits.fuel = Some(limits.fuel.map_or(f, |own| own.min(f)));
        }
        if let Some(t) = l.timeout {
            limits.timeout = limits.timeout.min(t);
        }
        if let Some(m) = l.memory {
            limits.memory = limits.memory.min(m);
        }
    }
}

/// A tenant's rate as (calls a minute, burst), both at least 1, when it
/// has one: the burst defaults to a tenth of the rate.
fn rate_of(l: &TenantLimits) -> Option<(u32, u32)> {
    let rate = l.calls_per_minute?.max(1);
    Some((rate, l.burst.unwrap_or(rate / 10).max(1)))
}

/// A permit from a limit's semaphore (none when there is no limit), or
/// `Err(max)` when all are taken.
fn slot(
    limit: Option<&Arc<Semaphore>>,
    max: Option<u32>,
) -> Result<Option<OwnedSemaphorePermit>, u32> {
    match limit {
        None => Ok(None),
        Some(s) => s
            .clone()
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| max.unwrap_or(0)),
    }
}

/// Every configured tenant and the hashes of their keys.
#[derive(Debug, Default)]
pub struct Tenants {
    list: Vec<Arc<Tenant>>,
    /// Key hash → (tenant, key id); replaced whole when the key file
    /// changes ([`Tenants::replace_keys`]).
    keys: parking_lot::RwLock<HashMap<String, (Arc<Tenant>, String)>>,
}

impl Tenants {
    pub fn new(configs: &[TenantConfig]) -> Tenants {
        let mut tenants = Tenants::default();
        for c in configs {
            let mut t = Tenant::new(c);
            t.shares = configs.len() > 1;
            let t = Arc::new(t);
            for k in &c.keys {
                tenants
                    .keys
                    .get_mut()
                    .insert(k.hash.clone(), (t.clone(), k.id.clone()));
            }
            tenants.list.push(t);
        }
        tenants
    }

    /// From now on, every rate-limited tenant takes its tokens from
    /// `shared` (the database that replicas share), falling back to its
    /// own bucket while the database is out of reach.
    pub fn share_rates(&self, shared: &Arc<SharedRates>) {
        for t in &self.list {
            let _ = t.shared.set(shared.clone());
        }
    }

    /// Whether any tenant has a rate to share.
    pub fn any_rate(&self) -> bool {
        self.list
            .iter()
            .any(|t| t.limits.calls_per_minute.is_some())
    }

    /// No tenants configured: one trusted user, no keys.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Tenant>> {
        self.list.iter().find(|t| t.name == name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|t| t.name.as_str())
    }

    /// From now on, exactly `entries` are keys (each of the tenant it
    /// names; a key for a tenant not configured is left out).
    pub fn replace_keys<'a>(&self, entries: impl IntoIterator<Item = &'a crate::config::KeyEntry>) {
        let mut keys = HashMap::new();
        for k in entries {
            match self.get(&k.tenant) {
                Some(t) => {
                    keys.insert(k.hash.clone(), (t, k.id.clone()));
                }
                None => {
                    tracing::warn!(key = %k.id, tenant = %k.tenant, "a key for a tenant the config does not define is ignored")
                }
            }
        }
        *self.keys.write() = keys;
    }

    /// The caller a key belongs to, if it belongs to anyone.
    pub fn authenticate(&self, key: &str) -> Option<Caller> {
        self.authenticate_hash(&keys::hash(key))
    }

    /// The caller a key with this hash ([`keys::hash`]) belongs to.
    pub fn authenticate_hash(&self, hash: &str) -> Option<Caller> {
        let map = self.keys.read();
        let (tenant, id) = map.get(hash)?;
        Some(Caller {
            tenant: Some(tenant.clone()),
            key_id: Some(id.clone()),
            ..Caller::default()
        })
    }
}

/// Who a call is made for.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// `None` on a weft without tenants (or the owner at the command line).
    pub tenant: Option<Arc<Tenant>>,
    /// The id of the key that authenticated the caller (`oauth:SUBJECT` for
    /// an agent's token, `cli` at the command line), for the audit log.
    pub key_id: Option<String>,
    /// The policy making the call, if a policy is.
    pub policy: Option<String>,
    /// The running policy's grants, checked by the router against the
    /// concrete server it picks (a domain call's members included).
    pub grants: Option<Arc<crate::config::Grants>>,
    /// A rate token the HTTP edge already took for this request (see
    /// [`Caller::prepay`]).
    pub prepaid: Prepaid,
    /// The adapters (component servers) this call came through, outermost
    /// first: a nested call made by an adapter carries its caller's tenant
    /// and this chain, so cycles are refused and depth is capped.
    pub via: Vec<String>,
    /// Who can answer for this call when it needs a person's approval:
    /// the agent whose request it serves, directly or through a policy,
    /// code or an adapter. `None` at the command line and in a resumed
    /// run with no agent waiting.
    pub asker: Option<crate::approval::Asker>,
    /// Told when this one call waits for approval and when it is
    /// approved (a journaled run's call: see [`crate::approval::Note`]).
    pub approval_note: Option<crate::approval::Note>,
}

/// A rate token taken at the HTTP edge for one request, shared by the
/// clones of its caller, and used once: by the router's admission of the
/// request's call, so a call is charged once, at the door.
#[derive(Debug, Clone, Default)]
pub struct Prepaid(Option<Arc<std::sync::atomic::AtomicBool>>);

impl Prepaid {
    /// Whether a token was there to use (and now is not).
    fn take(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|t| t.swap(false, std::sync::atomic::Ordering::AcqRel))
    }
}

impl Caller {
    /// The owner: no tenant, no restrictions.
    pub fn owner() -> Caller {
        Caller::default()
    }

    /// Nobody: an empty view, for a request no tenant could be found for.
    pub fn nobody() -> Caller {
        let config = TenantConfig::named("(unauthenticated)");
        Caller {
            tenant: Some(Arc::new(Tenant::new(&config))),
            ..Caller::default()
        }
    }

    /// A tenant without a key (`serve --stdio --tenant NAME`).
    pub fn tenant(tenant: Arc<Tenant>, key_id: &str) -> Caller {
        Caller {
            tenant: Some(tenant),
            key_id: Some(key_id.to_string()),
            ..Caller::default()
        }
    }

    /// The same caller, its approvals asked through `asker`.
    pub fn asking(mut self, asker: crate::approval::Asker) -> Caller {
        self.asker = Some(asker);
        self
    }

    /// The same caller, on behalf of a policy.
    pub fn for_policy(&self, policy: &str) -> Caller {
        // A policy's calls are its own: each takes a token.
        Caller {
            policy: Some(policy.to_string()),
            prepaid: Prepaid::default(),
            ..self.clone()
        }
    }

    /// The caller of the nested calls an adapter makes: the same tenant
    /// (its view still applies), the adapter's grants in place of any
    /// policy's, `adapter` as the component named in the audit log, and
    /// `adapter` added to the chain.
    pub fn through_adapter(&self, adapter: &str, grants: &crate::config::Grants) -> Caller {
        let mut via = self.via.clone();
        via.push(adapter.to_string());
        Caller {
            policy: Some(adapter.to_string()),
            grants: Some(Arc::new(grants.clone())),
            prepaid: Prepaid::default(),
            via,
            ..self.clone()
        }
    }

    /// The same caller, limited to a run's grants.
    pub fn with_grants(&self, grants: &crate::config::Grants) -> Caller {
        Caller {
            grants: Some(Arc::new(grants.clone())),
            ..self.clone()
        }
    }

    /// The tenant's name; empty when there is no tenant.
    pub fn tenant_name(&self) -> &str {
        self.tenant.as_ref().map_or("", |t| t.name.as_str())
    }

    /// Whether the caller may see and call `tool` on `server`: the
    /// tenant's view, and the running policy's grants if any.
    pub fn allows(&self, server: &str, tool: &str) -> bool {
        self.tenant
            .as_ref()
            .is_none_or(|t| t.view.allows(server, tool))
            && self.grants.as_ref().is_none_or(|g| g.allows(server, tool))
    }

    /// Whether the caller may see `server`'s resources and prompts.
    pub fn reaches(&self, server: &str) -> bool {
        self.tenant.as_ref().is_none_or(|t| t.view.reaches(server))
    }

    /// Whether the caller may list and run `policy`.
    pub fn may_run(&self, policy: &str) -> bool {
        self.tenant.as_ref().is_none_or(|t| t.may_run(policy))
    }

    /// Takes a call from the tenant's rate (or uses the token the edge
    /// took for this request).
    pub async fn take_call(&self) -> Result<(), Duration> {
        if self.prepaid.take() {
            return Ok(());
        }
        match &self.tenant {
            None => Ok(()),
            Some(t) => t.take_call().await,
        }
    }

    /// Records that the HTTP edge took a rate token for this request.
    pub fn prepay(&mut self) {
        self.prepaid = Prepaid(Some(Arc::new(std::sync::atomic::AtomicBool::new(true))));
    }
}
