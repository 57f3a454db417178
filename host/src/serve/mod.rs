//! `weft serve`: the MCP server face of the hub, over stdio or streamable
//! HTTP, for agents of both protocol eras.
//!
//! A [`Gateway`] holds what every agent shares (the hub, the policy runner,
//! parked input-required calls, the journal); each agent connection gets a
//! [`Session`] (its log level and resource subscriptions), which is the
//! rmcp `ServerHandler`.
//!
//! The rooms, each importing only those listed before it:
//! - [`intake`] and `refusal`: the first look at a request body, and the
//!   JSON-RPC errors every room refuses with;
//! - `view`: what an agent is offered (tools, pages, `tools/list`
//!   serialised once per catalog version and audience);
//! - `calls`: one `tools/call` driven to its end, durable runs
//!   ([`durable`]) and runs as tasks;
//! - `methods`: the rmcp handler and every other MCP method;
//! - `console`: the operator's pages;
//! - `edge`: `weft serve --http` (listener, guards, sessions, the legacy
//!   SSE transport).
//!
//! A test (`layers_test.rs`) fails on a circle of imports between rooms,
//! or between the files of one room.

mod calls;
mod console;
mod edge;
pub mod intake;
mod methods;
mod refusal;
pub(crate) mod task_homes;
mod view;

pub use calls::durable;
use calls::{call, run_tasks};
use edge::sessions;
use methods::{notify, peers, subs, tasks};
use view::listing;
pub(crate) use view::tools;

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8};

use anyhow::Context;
use rmcp::ServiceExt;

use crate::Hub;
use crate::config::Expose;
use crate::policy::{self, Loaded, Runner};
use crate::sandbox::Sandbox;
use crate::tenant::Caller;

pub use edge::{HttpOptions, serve_http};

/// What all sessions share.
pub struct Gateway {
    /// The running servers and their catalog that sessions call through.
    pub hub: Hub,
    runner: Option<Runner>,
    /// Why there is no runner, if there is none.
    sandbox_error: Option<crate::sandbox::SetupError>,
    loaded: Mutex<HashMap<String, Loaded>>,
    /// What agents see listed as tools: the given override, else `[settings] expose`.
    pub expose: Expose,
    /// How much one page of a list holds (`[settings] page_size` and
    /// `page_bytes`: 1000 items, 64 KiB by default).
    pub page: view::page::PageLimit,
    lot: call::ParkingLot,
    /// Which server instance made each task (tasks extension), by tenant
    /// and task id.
    tasks: tasks::TaskBook,
    /// Policy and code runs handed to agents as tasks.
    run_tasks: run_tasks::RunTasks,
    /// Upstream resource subscriptions, counted across sessions.
    subs: subs::Subscriptions,
    /// Each HTTP session's peer here, for updates other replicas relay.
    peers: peers::Peers,
    /// With tenants: the tenant that opened each HTTP session, so no other
    /// tenant can use it, and each tenant's session quota.
    sessions: sessions::Sessions,
    /// `tools/list` results, serialised once per catalog and audience.
    lists: listing::Lists,
    /// Sessions' calls answered outside rmcp's session worker.
    session_calls: calls::session_call::InFlight,
    /// What sessions' directly streamed calls sent, for resuming.
    replays: Arc<calls::replay::Replays>,
    /// Code mode's interpreters, once [`Gateway::enable_code`] is called,
    /// and whether code mode is on where `[code] enabled` is not written
    /// (on over stdio, off over HTTP).
    code: std::sync::OnceLock<(Arc<crate::code::Interpreters>, bool)>,
    /// The journal of policy runs, once [`Gateway::enable_journal`] is
    /// called (see [`durable`]).
    journal: std::sync::OnceLock<Arc<dyn crate::journal::Backend>>,
    /// The sessions every replica can serve, once
    /// [`Gateway::share_sessions`] is called.
    shared_sessions: std::sync::OnceLock<Arc<edge::shared_sessions::SharedSessions>>,
    /// Which replica holds each task, once [`Gateway::share_tasks`] is
    /// called.
    task_homes: std::sync::OnceLock<Arc<task_homes::TaskHomes>>,
}

impl Gateway {
    /// A gateway over a started hub. `expose` overrides the config's.
    pub fn new(hub: Hub, expose: Option<Expose>) -> Arc<Gateway> {
        let settings = &hub.config().settings;
        let expose = expose.unwrap_or(settings.expose);
        let page = view::page::PageLimit {
            items: settings.page_size,
            bytes: settings.page_bytes,
        };
        let (runner, sandbox_error) = match Sandbox::shared() {
            Ok(s) => (Some(Runner::new(hub.clone(), s)), None),
            Err(e) => (None, Some(e)),
        };
        Arc::new(Gateway {
            hub,
            runner,
            sandbox_error,
            loaded: Mutex::default(),
            expose,
            page,
            lot: call::ParkingLot::default(),
            subs: subs::Subscriptions::default(),
            peers: peers::Peers::default(),
            tasks: tasks::TaskBook::default(),
            run_tasks: run_tasks::RunTasks::default(),
            sessions: sessions::Sessions::default(),
            lists: listing::Lists::default(),
            session_calls: calls::session_call::InFlight::default(),
            replays: Arc::default(),
            code: std::sync::OnceLock::new(),
            journal: std::sync::OnceLock::new(),
            shared_sessions: std::sync::OnceLock::new(),
            task_homes: std::sync::OnceLock::new(),
        })
    }

    /// Keeps handshake-era HTTP sessions in the shared database at `url`
    /// (`settings.state`), so that any replica serves any session. Call it
    /// before serving; a second call changes nothing.
    pub async fn share_sessions(&self, url: &str) -> anyhow::Result<()> {
        let shared = edge::shared_sessions::SharedSessions::connect(url).await?;
        let _ = self.shared_sessions.set(shared);
        Ok(())
    }

    /// Records each task this replica hands an agent in the PostgreSQL
    /// database at `url` (`settings.state`), with `advertise`, the address
    /// the other replicas reach this one at (a plain `http` or `https` URL;
    /// `None`: `http://` and the address `weft serve --http` binds, unless
    /// that is 0.0.0.0 or [::]): a task request that reaches another
    /// replica is passed on to this one. Call it before serving; a second
    /// call changes nothing.
    pub async fn share_tasks(&self, url: &str, advertise: Option<&str>) -> anyhow::Result<()> {
        let me = advertise
            .map(task_homes::advertised)
            .transpose()
            .context("--advertise")?;
        let homes = task_homes::TaskHomes::connect(url, me).await?;
        let _ = self.task_homes.set(homes);
        Ok(())
    }

    /// Records that this replica holds `tenant`'s task `id`, when tasks
    /// are shared ([`Gateway::share_tasks`]); before the agent learns the
    /// id, so its next request finds it whichever replica it reaches.
    pub(crate) async fn home_task(&self, tenant: Option<&str>, id: &str) {
        if let Some(homes) = self.task_homes.get() {
            let _ = homes.record(tenant, id).await;
        }
    }

    /// Offers code mode (`weft_run_code`) with these interpreters to the
    /// callers whose `[code]` settings turn it on; `by_default` is whether
    /// it is on where `enabled` is not written. Call it before the first
    /// session; a second call changes nothing.
    pub fn enable_code(&self, interpreters: crate::code::Interpreters, by_default: bool) {
        let _ = self.code.set((Arc::new(interpreters), by_default));
    }

    /// The interpreters and `caller`'s code-mode settings, when code mode
    /// is offered to `caller`.
    pub fn code_for<'a>(
        &'a self,
        caller: &'a Caller,
    ) -> Option<(
        &'a Arc<crate::code::Interpreters>,
        &'a crate::config::CodeConfig,
    )> {
        let (interpreters, by_default) = self.code.get()?;
        let settings = crate::code::settings_for(self.hub.config(), caller);
        let code = crate::authz::Resource::Code {
            settings,
            by_default: *by_default,
        };
        crate::authz::allowed(caller, &code).then_some((interpreters, settings))
    }

    /// Whether an agent can start a run that may become a task: runs are
    /// journaled, and there is a policy or code mode to run.
    pub(crate) fn runs_may_become_tasks(&self) -> bool {
        self.journal().is_some() && (!self.hub.config().policies.is_empty() || self.code_offered())
    }

    /// Whether code mode is offered to anyone.
    pub(crate) fn code_offered(&self) -> bool {
        let Some((_, by_default)) = self.code.get() else {
            return false;
        };
        let config = self.hub.config();
        config.code.is_enabled(*by_default)
            || config
                .tenants
                .iter()
                .filter_map(|t| t.code.as_ref())
                .any(|c| c.is_enabled(*by_default))
    }

    /// A new session (one per agent connection); each request's caller
    /// comes from the HTTP layer.
    pub fn session(self: &Arc<Self>) -> Session {
        self.session_for(None)
    }

    /// A session whose requests are all made for `caller` (stdio).
    pub fn session_for(self: &Arc<Self>, caller: Option<Caller>) -> Session {
        Session {
            gw: self.clone(),
            caller,
            subscriptions: Arc::default(),
            min_log: Arc::new(AtomicU8::new(u8::MAX)),
            watching: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A configured policy, loaded once: its file read and hashed on a
    /// blocking thread (a Python policy is tens of MiB).
    async fn policy(&self, name: &str) -> Result<Loaded, policy::PolicyError> {
        if let Some(l) = self.loaded.lock().get(name) {
            return Ok(l.clone());
        }
        let (hub, spec) = (self.hub.clone(), name.to_string());
        let loaded = tokio::task::spawn_blocking(move || policy::load(&hub, &spec, &[]))
            .await
            .map_err(|e| policy::PolicyError::Stopped(e.to_string()))??;
        self.loaded.lock().insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// The policies `caller` may list and run.
    fn policies_for(&self, caller: &Caller) -> Vec<crate::config::PolicyConfig> {
        tools::policies_for(&self.hub, caller)
    }

    /// How many calls wait for a 2026-07-28 agent's input.
    pub fn parked_calls(&self) -> usize {
        self.lot.len()
    }
}

/// One agent connection: the rmcp `ServerHandler`.
#[derive(Clone)]
pub struct Session {
    gw: Arc<Gateway>,
    /// The caller of every request on this session, when the transport
    /// does not say (stdio).
    caller: Option<Caller>,
    subscriptions: notify::Subscriptions,
    /// The agent's `logging/setLevel`, as a rank; `u8::MAX` when unset.
    min_log: Arc<AtomicU8>,
    watching: Arc<AtomicBool>,
}

/// Serves one agent over stdin and stdout until it disconnects; every
/// request is made for `caller` (a tenant, or the owner). What goes out on
/// stdout passes the redaction pass.
pub async fn serve_stdio(gw: Arc<Gateway>, caller: Caller) -> anyhow::Result<()> {
    let transport = (
        tokio::io::stdin(),
        crate::redact::AsyncWriter::new(tokio::io::stdout()),
    );
    let service = gw
        .session_for(Some(caller))
        .serve(transport)
        .await
        .context("the agent on stdin did not complete the MCP handshake")?;
    service
        .waiting()
        .await
        .context("the stdio session ended abnormally")?;
    Ok(())
}

/// The HTTP session a request or notification came in (its
/// `Mcp-Session-Id`), from the request parts rmcp passes along.
fn session_of(extensions: &rmcp::model::Extensions) -> Option<String> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.headers.get("mcp-session-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
