//! Adapters: Wasm components of the `adapter` world, hosted as servers
//! (`[servers.NAME] component = "PATH.wasm"`).
//!
//! A [`ComponentServer`] is the sandbox side of one such server. The
//! upstream layer sees it as a [`Component`]: it loads once (read,
//! compile or take from the cache, link, then ask a fresh instance for its
//! tools) and takes each call in process. Every call gets a fresh instance
//! from the pre-linked `InstancePre` under the server's `[limits]`, so a
//! call that spins, hoards memory or traps takes only itself down. The
//! router treats the server like any other: views, grants, rate limits,
//! the cache, the breaker, audit and metrics apply before a call gets
//! here.
//!
//! Nested calls (the adapter's `tools` import) go back through the router
//! as the same caller, tenant and all, limited to the adapter's grants and
//! carrying the chain of adapters the call came through: a cycle is
//! refused and the depth is capped (see [`ComponentServer::admit`]).

pub mod durable;
mod openapi_calls;
mod spec_url;
mod tools;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, JsonObject, Tool};

use crate::config::{AdapterConfig, Grants};
use crate::error::ErrorKind;
use crate::sandbox::egress::{Access, Egress, EgressSetupError};
use crate::sandbox::{LimitError, RunCtx, RunError, Sandbox, SetupError, Wasm};
use crate::tenant::Caller;
use crate::tenant::share::{FairShare, Refused};
use crate::upstream::builtin::{DirectError, InProcess};
use crate::upstream::component::{Component, LoadFailure};

/// The most adapters one call may pass through (A calls B calls C …).
pub const MAX_DEPTH: usize = 8;

/// Why an adapter cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the sandbox cannot be set up: {0}")]
    Sandbox(SetupError),
    #[error("cannot read the component {path}: {error}")]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("compiling the component failed: {0}")]
    Stopped(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Load(#[from] RunError),
    #[error("weft is shutting down")]
    ShuttingDown,
    /// `list-tools` failed; `said` is the last error the adapter logged.
    #[error("list-tools failed: {why}{said}")]
    List { why: String, said: String },
    #[error(transparent)]
    Tools(#[from] tools::ListError),
    /// The TLS files of its `https://` egress cannot be used.
    #[error("its https:// egress cannot be set up: {0}")]
    EgressTls(#[from] crate::upstream::tls::TlsError),
    #[error("its egress cannot be set up: {0}")]
    Egress(#[from] EgressSetupError),
    /// `builtin:openapi`'s document at `spec_url` cannot be fetched or
    /// served.
    #[error("{0}")]
    Document(String),
    /// Its `oci://` component could not be pulled.
    #[error("{0}")]
    Pull(String),
}

/// What an adapter needs of the hub that hosts it, beyond a run's
/// [`crate::sandbox::ToolHost`]: the journal, for durable calls. `Hub`
/// implements it (`hub.rs`), so adapters do not import the hub.
pub(crate) trait AdapterHost: crate::sandbox::ToolHost {
    /// The hub's journal, when it has one.
    fn journal(&self) -> Option<Arc<dyn crate::journal::Backend>>;
}

/// The hub, reached without keeping it alive (it owns its component
/// servers): `None` once it is gone.
pub(crate) type HubLink = Arc<dyn Fn() -> Option<Arc<dyn AdapterHost>> + Send + Sync>;

/// One component server.
pub struct ComponentServer {
    name: String,
    config: AdapterConfig,
    grants: Grants,
    sandbox: Result<Arc<Sandbox>, SetupError>,
    hub: HubLink,
    /// The component's bytes, once loaded.
    wasm: OnceLock<Wasm>,
    /// Calls running now, at most `limits.concurrency`, each tenant
    /// taking its fair share when tenants share the adapter.
    slots: Arc<FairShare>,
    /// What its calls may do over HTTP (`egress`), set up when it loads
    /// (its TLS files are read then).
    egress: OnceLock<Access>,
    /// `[servers.NAME.config]` as the component gets it, as JSON text
    /// written once; for `builtin:openapi` with `spec_url`, with the
    /// fetched document in it, once it loads.
    settings: OnceLock<Arc<str>>,
    /// `builtin:openapi`'s readied config, when weft readied it at start
    /// (`spec_url`); else it is `config.config`.
    readied: OnceLock<Arc<serde_json::Value>>,
    /// `builtin:openapi`: each tool's call config, cut from the document.
    calls: OnceLock<openapi_calls::CallConfigs>,
    /// What it warned of at its last load, capped ([`MAX_WARNINGS`]).
    warnings: parking_lot::Mutex<Vec<String>>,
}

/// How `builtin:openapi` begins a warning of an operation it skipped.
const SKIPPED: &str = "openapi adapter: skipped ";
/// The most load warnings a component server keeps for status.
const MAX_WARNINGS: usize = 200;
/// The longest load warning kept.
const MAX_WARNING: usize = 300;

impl ComponentServer {
    /// The server `name`, served by the component `config` names. Grants
    /// were validated with the config; an invalid one grants nothing.
    pub(crate) fn new(
        name: &str,
        config: &AdapterConfig,
        sandbox: Result<Arc<Sandbox>, SetupError>,
        hub: HubLink,
    ) -> ComponentServer {
        let grants = Grants::new(&config.grants).unwrap_or_else(|e| {
            tracing::error!(server = name, error = %e, "invalid grants; the adapter may call nothing");
            Grants::default()
        });
        ComponentServer {
            name: name.to_string(),
            egress: OnceLock::new(),
            settings: OnceLock::new(),
            readied: OnceLock::new(),
            calls: OnceLock::new(),
            warnings: parking_lot::Mutex::default(),
            grants,
            sandbox,
            hub,
            wasm: OnceLock::new(),
            slots: FairShare::new(config.concurrency as usize),
            config: config.clone(),
        }
    }

    fn path(&self) -> &PathBuf {
        &self.config.path
    }

    /// The context of one instance's host calls, for `caller`, journaled
    /// by `journal` when the call is durable; for a call of `tool`, with
    /// that tool's config when it has one of its own.
    fn context(
        &self,
        caller: &Caller,
        journal: Option<Arc<crate::journal::Recorder>>,
        tool: Option<&str>,
    ) -> Result<Arc<RunCtx>, LoadError> {
        let hub = (self.hub)().ok_or(LoadError::ShuttingDown)?;
        let settings = tool
            .and_then(|t| self.calls.get().and_then(|c| c.for_tool(t)))
            .unwrap_or_else(|| {
                self.settings
                    .get_or_init(|| Arc::from(self.config.config.to_string()))
                    .clone()
            });
        let mut ctx = RunCtx::for_adapter(
            hub,
            self.grants.clone(),
            caller.through_adapter(&self.name, &self.grants),
            self.config.limits.max_calls,
            settings,
        )
        .with_journal(journal);
        ctx.egress = self.egress.get().cloned().unwrap_or_else(|| self.closed());
        Ok(Arc::new(ctx))
    }

    /// The access of an adapter that may make no HTTP request.
    fn closed(&self) -> Access {
        Access::Closed {
            server: self.name.clone(),
        }
    }

    /// Its egress: the client, its TLS files read (off the async
    /// workers), once. For `builtin:openapi` with `spec_url`, the document
    /// is fetched through it first and readied, which may add the
    /// credentials of its security schemes.
    async fn set_up_egress(&self) -> Result<(), LoadError> {
        if self.egress.get().is_some() {
            return Ok(());
        }
        let access = match &self.config.egress {
            None => self.closed(),
            Some(e) => {
                let tls = crate::upstream::tls::load(&e.tls).await?;
                let mut egress = Egress::new(&self.name, e.clone(), &tls)?;
                if let Some(url) = &self.config.spec_url {
                    let cache = self.sandbox.as_ref().ok().and_then(|s| s.cache_dir());
                    let doc = spec_url::fetch(cache, &self.name, url, &egress, e)
                        .await
                        .map_err(LoadError::Document)?;
                    let (table, config) = self.ready(doc, url, e).await?;
                    let _ = self.settings.set(Arc::from(table.to_string()));
                    let _ = self.readied.set(Arc::new(table));
                    egress = Egress::new(&self.name, Arc::new(config), &tls)?;
                }
                Access::Open(Arc::new(egress))
            }
        };
        let _ = self.egress.set(access);
        Ok(())
    }

    /// The config with the document at `url` readied in it (off the async
    /// workers: a document may be megabytes), and the egress with its
    /// security schemes' credentials.
    async fn ready(
        &self,
        doc: serde_json::Value,
        url: &str,
        egress: &Arc<crate::config::EgressConfig>,
    ) -> Result<(serde_json::Value, crate::config::EgressConfig), LoadError> {
        let mut table = self.config.config.as_object().cloned().unwrap_or_default();
        let mut config = (**egress).clone();
        let (url, security, name) = (
            url.to_string(),
            self.config.security.clone(),
            self.name.clone(),
        );
        tokio::task::spawn_blocking(move || {
            crate::config::openapi::ready(
                &mut table,
                doc,
                Some(&url),
                &security,
                Some(&mut config),
            )
            .map_err(|n| {
                let key = match n.key.starts_with("security") {
                    true => n.key,
                    false => format!("config.{}", n.key),
                };
                LoadError::Document(format!("servers.{name}.{key}: {}", n.message))
            })?;
            Ok((serde_json::Value::Object(table), config))
        })
        .await?
    }

    /// Refuses a call that would loop back into this adapter or nest too
    /// deep.
    fn admit(&self, caller: &Caller) -> Result<(), DirectError> {
        if caller.via.iter().any(|a| a == &self.name) {
            let mut chain = caller.via.clone();
            chain.push(self.name.clone());
            return Err(kinded(
                ErrorKind::Denied,
                format!(
                    "refused: the call loops back into adapter {:?} ({}); an adapter cannot call itself, directly or through others",
                    self.name,
                    chain.join(" → ")
                ),
            ));
        }
        if caller.via.len() >= MAX_DEPTH {
            return Err(kinded(
                ErrorKind::LimitExceeded,
                format!(
                    "refused: the call is nested {} adapters deep ({} → {}), over the cap of {MAX_DEPTH}",
                    caller.via.len() + 1,
                    caller.via.join(" → "),
                    self.name
                ),
            ));
        }
        Ok(())
    }

    async fn load_tools(&self) -> Result<Vec<Tool>, LoadError> {
        let sandbox = self.sandbox.clone().map_err(LoadError::Sandbox)?;
        if let Some(failure) = self.config.oci.as_ref().and_then(|o| o.failure.clone()) {
            return Err(LoadError::Pull(failure));
        }
        let path = self.path().clone();
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|error| LoadError::Unreadable { path, error })?;
        let wasm = Wasm::new(bytes);
        // Compiling takes a while the first time: off the async workers.
        let (s, w) = (sandbox.clone(), wasm.clone());
        tokio::task::spawn_blocking(move || s.prepare_adapter(&w)).await??;
        self.set_up_egress().await?;
        let ctx = self.context(&Caller::owner(), None, None)?;
        let listed = sandbox
            .adapter_tools(&wasm, &self.config.limits, ctx.clone())
            .await
            .map_err(|e| {
                // What the adapter said before it failed is often the
                // reason (a bad document, a missing setting).
                let said = ctx
                    .logs
                    .lock()
                    .iter()
                    .rev()
                    .find(|l| l.level == "error")
                    .map(|l| format!(" (it logged: {})", l.message))
                    .unwrap_or_default();
                LoadError::List {
                    why: self.describe(&e),
                    said,
                }
            })?;
        // What the adapter warned of while listing (an operation it
        // skipped, say) is the operator's to see.
        let mut kept = Vec::new();
        for line in ctx.logs.lock().iter() {
            if matches!(line.level.as_str(), "warn" | "warning" | "error") {
                tracing::warn!(target: "weft::adapter", server = %self.name, "{}", line.message);
                if kept.len() < MAX_WARNINGS {
                    let mut m = line.message.clone();
                    crate::util::truncate(&mut m, MAX_WARNING);
                    kept.push(m);
                }
            }
        }
        *self.warnings.lock() = kept;
        let mut tools = tools::convert(listed)?;
        if self.config.builtin.as_deref() == Some("openapi") {
            let config = self
                .readied
                .get()
                .cloned()
                .unwrap_or_else(|| self.config.config.clone());
            let calls = openapi_calls::CallConfigs::from_listing(&mut tools, config);
            let _ = self.calls.set(calls);
        }
        let _ = self.wasm.set(wasm);
        Ok(tools)
    }

    async fn call_tool(
        &self,
        tool: &str,
        args: Option<&JsonObject>,
        caller: &Caller,
    ) -> Result<CallToolResult, DirectError> {
        self.admit(caller)?;
        let _slot = self
            .slots
            .take(crate::tenant::share::sharer(caller))
            .map_err(|refused| kinded(ErrorKind::RateLimited, self.busy(&refused)))?;
        let args = match args {
            Some(map) => serde_json::to_string(map)
                .map_err(|e| kinded(ErrorKind::InvalidArgs, e.to_string()))?,
            None => String::new(),
        };
        match self.begin_run(caller, tool, &args).await? {
            None => self.run_call(tool, &args, caller, None).await,
            Some(journal) => {
                let answer = self
                    .run_call(tool, &args, caller, Some(journal.clone()))
                    .await;
                durable::end_run(&journal, answer).await
            }
        }
    }

    /// One call of the component, its host calls journaled by `journal`.
    async fn run_call(
        &self,
        tool: &str,
        args: &str,
        caller: &Caller,
        journal: Option<Arc<crate::journal::Recorder>>,
    ) -> Result<CallToolResult, DirectError> {
        let unavailable = |why: String| kinded(ErrorKind::Unavailable, why);
        let sandbox = self
            .sandbox
            .clone()
            .map_err(|e| unavailable(e.to_string()))?;
        let wasm = self
            .wasm
            .get()
            .ok_or_else(|| unavailable("the component is not loaded".into()))?;
        let ctx = self
            .context(caller, journal, Some(tool))
            .map_err(|e| unavailable(e.to_string()))?;
        let answer = sandbox
            .adapter_call(wasm, tool, args, &self.config.limits, ctx)
            .await;
        match answer {
            Ok(Ok(text)) => serde_json::from_str::<CallToolResult>(&text).map_err(|e| {
                kinded(
                    ErrorKind::Internal,
                    format!("the adapter's answer is not an MCP CallToolResult: {e}"),
                )
            }),
            Ok(Err(e)) => Err(kinded(e.kind.into(), e.message)),
            Err(e) => {
                let kind = match &e {
                    RunError::Limit(LimitError::Time { .. }) => ErrorKind::Timeout,
                    RunError::Limit(_) => ErrorKind::LimitExceeded,
                    RunError::Load(_) => ErrorKind::Unavailable,
                    RunError::Trap(_) | RunError::Policy(_) => ErrorKind::Internal,
                };
                Err(kinded(kind, self.describe(&e)))
            }
        }
    }

    /// Why a call found no slot, naming the key that raises the cap.
    fn busy(&self, refused: &Refused) -> String {
        let (name, cap) = (&self.name, self.config.concurrency);
        match refused {
            Refused::Full { .. } => format!(
                "adapter {name:?} is already running {cap} calls (servers.{name}.limits.concurrency); retry shortly"
            ),
            Refused::Share { tenant, held, .. } => format!(
                "tenant {tenant:?} holds {held} of adapter {name:?}'s {cap} call slots \
                 (servers.{name}.limits.concurrency), as many as are left for other tenants: \
                 a tenant holds no more slots than it leaves free; retry when one of its calls \
                 ends, or raise servers.{name}.limits.concurrency"
            ),
        }
    }

    /// A run's failure in an adapter's words, naming the key to raise.
    fn describe(&self, e: &RunError) -> String {
        let key = |k: &str| format!("servers.{}.limits.{k}", self.name);
        match e {
            RunError::Limit(l) => {
                let (what, raise) = match l {
                    LimitError::Fuel { fuel } => {
                        (format!("used all {fuel} units of fuel"), key("fuel"))
                    }
                    LimitError::Time { ms } => (format!("ran longer than {ms} ms"), key("timeout")),
                    LimitError::Memory { desired, cap } => (
                        format!("tried to use {desired} bytes of memory, over the cap of {cap}"),
                        key("memory"),
                    ),
                    LimitError::Calls { max } => (
                        format!("made more than {max} nested tool calls in one call"),
                        key("max_calls"),
                    ),
                    LimitError::Output { size, cap } => (
                        format!("returned {size} bytes, over the cap of {cap}"),
                        key("max_output"),
                    ),
                    LimitError::Log { cap } => (
                        format!("wrote more than {cap} bytes to stdout or stderr"),
                        "nothing: write less".into(),
                    ),
                };
                format!(
                    "{} limit: adapter {:?} {what} (raise {raise})",
                    l.limit_name(),
                    self.name
                )
            }
            RunError::Trap(t) => format!("adapter {:?} crashed: {t}", self.name),
            RunError::Load(m) => format!("adapter {:?} cannot be loaded: {m}", self.name),
            RunError::Policy(m) => m.clone(),
        }
    }
}

fn kinded(kind: ErrorKind, message: String) -> DirectError {
    DirectError::Kinded { kind, message }
}

impl InProcess for ComponentServer {
    fn call<'a>(
        &'a self,
        tool: &'a str,
        args: Option<&'a JsonObject>,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<CallToolResult, DirectError>> {
        Box::pin(self.call_tool(tool, args, caller))
    }
}

impl Component for ComponentServer {
    fn load(&self) -> BoxFuture<'_, Result<Vec<Tool>, LoadFailure>> {
        Box::pin(async move { self.load_tools().await.map_err(LoadFailure::from) })
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.lock().clone()
    }

    fn detail(&self) -> Option<serde_json::Value> {
        if self.config.builtin.as_deref() != Some("openapi") {
            return None;
        }
        let skipped = self
            .warnings
            .lock()
            .iter()
            .filter(|w| w.starts_with(SKIPPED))
            .count();
        let schemes: Vec<&String> = self.config.security.0.keys().collect();
        Some(serde_json::json!({
            "skipped": skipped,
            "schemes": schemes,
            "document": self.config.spec_url.as_deref().unwrap_or("config"),
        }))
    }

    fn label(&self) -> String {
        let file = self
            .path()
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("component:{file}")
    }
}
