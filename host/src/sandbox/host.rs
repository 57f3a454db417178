//! What a guest can reach: the `tools` and `host-log` imports, backed by the
//! hub's router and checked against the run's grants and call cap.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use futures::future::join_all;
use serde::Serialize;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtxView, WasiHttpView};

use super::limits::{LimitError, MemoryLimiter};
use crate::config::Grants;
use crate::{CallError, Caller, ErrorKind};

/// What a run needs of the hub that hosts it: the catalog and config it
/// sees, the router for its calls, the audit log for its refusals. `Hub`
/// implements it (`hub.rs`), so the sandbox does not import the hub.
pub trait ToolHost: Send + Sync {
    /// The current catalog as `caller` sees it: its tenant's own instances
    /// of per-tenant servers, never another tenant's (nor the owner's,
    /// which is made of each such server's first instance).
    fn catalog_for(&self, caller: &Caller) -> Arc<crate::catalog::Catalog>;
    /// The config the hub runs.
    fn config(&self) -> &crate::config::Config;
    /// Audits a call the run's grants refused.
    fn audit_denied(&self, caller: &Caller, server: &str, tool: &str);
    /// Calls `server`.`tool` for `caller` through the router.
    fn call_tool_as<'a>(
        &'a self,
        caller: &'a Caller,
        server: &'a str,
        tool: &'a str,
        args: Option<rmcp::model::JsonObject>,
    ) -> futures::future::BoxFuture<'a, Result<rmcp::model::CallToolResult, CallError>>;
}

/// Most log lines kept per run, and the longest line.
const MAX_LOG_LINES: usize = 1000;
const MAX_LOG_LINE: usize = 4096;
/// The longest log level a guest may name (`debug`, `warning`, …).
const MAX_LEVEL: usize = 16;
/// The longest server or tool name a guest may send, and how much of a
/// longer one an error shows.
const MAX_NAME: usize = 256;
const SHOWN_NAME: usize = 64;

/// One tool call a run made, for its report.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// The server called.
    pub server: String,
    /// The tool called on that server.
    pub tool: String,
    /// How long the call took, in milliseconds (0 when the grants refused it).
    pub ms: f64,
    /// Whether the call succeeded.
    pub ok: bool,
    /// Why the call failed; `None` when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::ErrorKind>,
}

/// One line the guest logged.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    /// The level the guest named (`debug`, `info`, `warning`...), at most 16 bytes.
    pub level: String,
    /// The text logged, at most 4096 bytes.
    pub message: String,
}

/// Receives progress reports (forwarded to an agent by `weft serve`).
pub type ProgressFn = Arc<dyn Fn(f64, Option<f64>, Option<String>) + Send + Sync>;

/// What a run's host calls share.
pub struct RunCtx {
    /// The hub that hosts the run: its catalog, config, router and audit log.
    pub hub: Arc<dyn ToolHost>,
    /// The tools the run itself is granted, before the caller narrows them.
    pub grants: Grants,
    /// Whom the run is for and the policy's name, for the router and the
    /// audit log: its tenant's view, and its grants held within whatever
    /// already narrowed the caller (an agent's token's scopes).
    pub caller: Caller,
    /// The most tool calls the run may make; one more fails it with a call limit.
    pub max_calls: u32,
    calls_made: AtomicU32,
    /// Every tool call the run made, in order, for its report.
    pub records: Mutex<Vec<CallRecord>>,
    /// The lines the guest logged, at most 1000.
    pub logs: Mutex<Vec<LogLine>>,
    /// Where the guest's progress reports go; `None` drops them.
    pub progress: Option<ProgressFn>,
    /// What `config()` returns: an adapter's `[servers.NAME.config]` as
    /// JSON text (written once, not per call: an OpenAPI document in it
    /// may be megabytes), `{}` for a policy.
    pub config: Arc<str>,
    /// `policy`, `code` or `adapter`, for messages.
    role: &'static str,
    /// What the run may do over HTTP (`wasi:http`): nothing unless an
    /// adapter's server entry has `egress`.
    pub egress: super::egress::Access,
    /// The run's journal, when it is durable (see [`crate::journal`]).
    pub journal: Option<Arc<crate::journal::Recorder>>,
}

/// Where the grants of a run of `role` are written, for a denial's message.
fn grant_hint(role: &str, caller: &Caller) -> String {
    match role {
        "code" => {
            "code's grants are `grants` in [code] of the config, or --grant on weft exec".into()
        }
        "adapter" => match caller.via.last() {
            Some(server) => {
                format!("an adapter's grants are servers.{server}.grants in the config")
            }
            None => "an adapter's grants are `grants` in its server's entry".into(),
        },
        _ => "a policy's grants are `grants` in its [policies.NAME] entry, or --grant on weft run"
            .into(),
    }
}

impl RunCtx {
    /// The context of a run for `caller`: the run's `grants` are held
    /// within the grants the caller already carries (an agent's token's
    /// scopes), so a run does no more than its caller may.
    pub fn new(
        hub: Arc<dyn ToolHost>,
        grants: Grants,
        caller: Caller,
        max_calls: u32,
        progress: Option<ProgressFn>,
    ) -> RunCtx {
        let held = match &caller.grants {
            Some(outer) => grants.within(outer),
            None => grants.clone(),
        };
        RunCtx::as_caller(hub, grants, caller.with_grants(&held), max_calls, progress)
    }

    /// A context whose `caller` already carries what the run is held to.
    fn as_caller(
        hub: Arc<dyn ToolHost>,
        grants: Grants,
        caller: Caller,
        max_calls: u32,
        progress: Option<ProgressFn>,
    ) -> RunCtx {
        RunCtx {
            hub,
            caller,
            grants,
            max_calls,
            calls_made: AtomicU32::new(0),
            records: Mutex::default(),
            logs: Mutex::default(),
            progress,
            config: Arc::from("{}"),
            role: "policy",
            egress: Default::default(),
            journal: None,
        }
    }

    /// The context of one call of an adapter: its grants, its caller (see
    /// [`Caller::through_adapter`]: the adapter's grants in place of its
    /// caller's), its cap on nested calls and its config.
    pub fn for_adapter(
        hub: Arc<dyn ToolHost>,
        grants: Grants,
        caller: Caller,
        max_calls: u32,
        config: Arc<str>,
    ) -> RunCtx {
        RunCtx {
            config,
            role: "adapter",
            ..RunCtx::as_caller(hub, grants, caller, max_calls, None)
        }
    }

    /// The same context, its messages naming the run as `role`: `policy`
    /// or `code` (code mode's submitted programs).
    pub fn with_role(mut self, role: &'static str) -> RunCtx {
        self.role = role;
        self
    }

    /// The same context, its host calls journaled by `journal`.
    pub fn with_journal(mut self, journal: Option<Arc<crate::journal::Recorder>>) -> RunCtx {
        self.journal = journal;
        self
    }

    /// Takes one call from the budget, or fails the run.
    fn count_call(&self) -> Result<(), LimitError> {
        let made = self.calls_made.fetch_add(1, Ordering::Relaxed);
        if made >= self.max_calls {
            Err(LimitError::Calls {
                max: self.max_calls,
            })
        } else {
            Ok(())
        }
    }

    /// One call, through grants and the router.
    pub(crate) async fn call(
        &self,
        server: String,
        tool: String,
        args: String,
    ) -> Result<String, CallError> {
        self.call_noted(server, tool, args, None).await
    }

    /// [`RunCtx::call`], its approval (if a rule asks for one) told to
    /// `note`: the journal's record of the call.
    pub(crate) async fn call_noted(
        &self,
        mut server: String,
        mut tool: String,
        args: String,
        note: Option<crate::approval::Note>,
    ) -> Result<String, CallError> {
        // Names are capped before anything stores, logs or audits them.
        if server.len() > MAX_NAME || tool.len() > MAX_NAME {
            crate::util::truncate(&mut server, SHOWN_NAME);
            crate::util::truncate(&mut tool, SHOWN_NAME);
            return Err(CallError::new(
                ErrorKind::InvalidArgs,
                &server,
                &tool,
                format!("a server or tool name is over {MAX_NAME} bytes"),
            ));
        }
        let denied = |kind, message: String| CallError::new(kind, &server, &tool, message);
        if !self.grants.allows(&server, &tool) {
            self.record(&server, &tool, 0.0, Some(ErrorKind::Denied));
            self.hub.audit_denied(&self.caller, &server, &tool);
            return Err(denied(
                ErrorKind::Denied,
                format!(
                    "the {}'s grants do not allow {server}.{tool} ({})",
                    self.role,
                    grant_hint(self.role, &self.caller)
                ),
            ));
        }
        // A policy's effective grants are its own intersected with the
        // calling tenant's view: the router checks the view (and records
        // a denial in the audit log under the policy's name).
        let args = match args.trim() {
            "" | "null" => None,
            text => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Object(map)) => Some(map),
                Ok(_) => {
                    return Err(denied(
                        ErrorKind::InvalidArgs,
                        "args must be a JSON object".into(),
                    ));
                }
                Err(e) => {
                    return Err(denied(
                        ErrorKind::InvalidArgs,
                        format!("args are not valid JSON: {e}"),
                    ));
                }
            },
        };
        let started = Instant::now();
        let noted;
        let caller = match note {
            Some(note) => {
                noted = Caller {
                    approval_note: Some(note),
                    ..self.caller.clone()
                };
                &noted
            }
            None => &self.caller,
        };
        let outcome = self.hub.call_tool_as(caller, &server, &tool, args).await;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match outcome {
            Ok(result) => {
                self.record(&server, &tool, ms, None);
                serde_json::to_string(&result)
                    .map_err(|e| denied(ErrorKind::Internal, e.to_string()))
            }
            Err(e) => {
                self.record(&server, &tool, ms, Some(e.kind));
                Err(e)
            }
        }
    }

    pub(crate) fn record(
        &self,
        server: &str,
        tool: &str,
        ms: f64,
        error: Option<crate::ErrorKind>,
    ) {
        let rec = CallRecord {
            server: server.into(),
            tool: tool.into(),
            ms,
            ok: error.is_none(),
            error,
        };
        self.records.lock().push(rec);
    }

    /// The tools this run may call: granted, and in the caller's view, as
    /// the caller's own catalog lists them.
    pub(crate) fn tools(&self, server: Option<&str>) -> Vec<GrantedTool> {
        let catalog = self.hub.catalog_for(&self.caller);
        let json = |v: &serde_json::Map<String, serde_json::Value>| {
            serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
        };
        catalog
            .tools()
            .iter()
            .filter(|t| server.is_none_or(|s| s == &*t.server))
            .filter(|t| self.grants.allows(&t.server, t.name()))
            .filter(|t| self.caller.allows(&t.server, t.name()))
            .map(|t| GrantedTool {
                server: t.server.to_string(),
                name: t.name().to_string(),
                title: t.tool.title.clone(),
                description: t.tool.description.as_deref().unwrap_or("").to_string(),
                input_schema: json(&t.tool.input_schema),
                output_schema: t.tool.output_schema.as_deref().map(json),
                read_only: t.read_only,
            })
            .collect()
    }

    pub(crate) fn progress(&self, done: f64, total: Option<f64>, message: Option<String>) {
        if let Some(p) = &self.progress {
            let message = message.map(|mut m| {
                crate::util::truncate(&mut m, MAX_LOG_LINE);
                m
            });
            p(done, total, message);
        }
    }

    pub(crate) fn log(&self, mut level: String, mut message: String) {
        let mut logs = self.logs.lock();
        if logs.len() >= MAX_LOG_LINES {
            return;
        }
        crate::util::truncate(&mut level, MAX_LEVEL);
        crate::util::truncate(&mut message, MAX_LOG_LINE);
        tracing::debug!(target: "weft::policy", level = %level, "{message}");
        logs.push(LogLine { level, message });
    }
}

/// A tool a run may call, before it is put in one WIT version's record
/// (and as a journal keeps a listing).
#[derive(Serialize, serde::Deserialize)]
pub(crate) struct GrantedTool {
    server: String,
    name: String,
    title: Option<String>,
    description: String,
    input_schema: String,
    output_schema: Option<String>,
    read_only: bool,
}

/// The data of one run's `Store`.
pub struct RunState {
    /// The WASI context: captured stdout and stderr; no files, environment or sockets.
    pub wasi: WasiCtx,
    /// The guest's resource handles (streams, pollables), at most 1024.
    pub table: ResourceTable,
    /// Caps all of the guest's linear memories together at the run's memory limit.
    pub limiter: MemoryLimiter,
    /// What the run's host calls share: grants, call cap, records and logs.
    pub ctx: Arc<RunCtx>,
    /// `wasi:http`'s state and weft's hooks (see `sandbox/egress.rs`).
    pub http: wasmtime_wasi_http::WasiHttpCtx,
    /// Decides, and sends, the guest's outgoing HTTP requests.
    pub hooks: super::egress::EgressHooks,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Implements one WIT version's imports on [`RunState`], over the
/// version-neutral [`RunCtx`]. `$m` is that version's `weft::mcp` module.
macro_rules! imports {
    ($m:path) => {
        const _: () = {
            use m::types::{CallError as WitError, ToolCall, ToolInfo};
            use $m as m;

            impl m::types::Host for RunState {}

            impl m::tools::Host for RunState {
                async fn call_tool(
                    &mut self,
                    server: String,
                    tool: String,
                    args: String,
                ) -> wasmtime::Result<Result<String, WitError>> {
                    self.ctx.count_call()?;
                    Ok(self
                        .ctx
                        .journaled_call(server, tool, args)
                        .await?
                        .map_err(Into::into))
                }

                async fn call_tools(
                    &mut self,
                    calls: Vec<ToolCall>,
                ) -> wasmtime::Result<Vec<Result<String, WitError>>> {
                    for _ in &calls {
                        self.ctx.count_call()?;
                    }
                    let ctx = self.ctx.clone();
                    let done = join_all(
                        calls
                            .into_iter()
                            .map(|c| ctx.journaled_call(c.server, c.tool, c.args)),
                    )
                    .await;
                    done.into_iter()
                        .map(|r| r.map(|r| r.map_err(Into::into)))
                        .collect()
                }

                async fn list_tools(
                    &mut self,
                    server: Option<String>,
                ) -> wasmtime::Result<Vec<ToolInfo>> {
                    Ok(self
                        .ctx
                        .journaled_tools(server.as_deref())
                        .into_iter()
                        .map(|t| ToolInfo {
                            server: t.server,
                            name: t.name,
                            title: t.title,
                            description: t.description,
                            input_schema: t.input_schema,
                            output_schema: t.output_schema,
                            read_only: t.read_only,
                        })
                        .collect())
                }
            }

            impl m::host_log::Host for RunState {
                async fn log(&mut self, level: String, message: String) -> wasmtime::Result<()> {
                    self.ctx.journaled_log(level, message);
                    Ok(())
                }

                async fn progress(
                    &mut self,
                    done: f64,
                    total: Option<f64>,
                    message: Option<String>,
                ) -> wasmtime::Result<()> {
                    self.ctx.journaled_progress(done, total, message);
                    Ok(())
                }
            }
        };
    };
}

imports!(super::bindings::weft::mcp);
imports!(super::bindings::v2::weft::mcp);

impl super::bindings::v2::weft::mcp::config::Host for RunState {
    async fn config(&mut self) -> wasmtime::Result<String> {
        Ok(self.ctx.config.as_ref().to_owned())
    }
}

/// A run's outbound HTTP (`wasi:http`), through its egress hooks.
impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
