//! Policies: loading a policy (by config name or `.wasm` path), running it
//! in the sandbox against the hub, and reporting what happened.

/// A policy's grants, kept with the config (see [`crate::config::grants`]).
pub mod grants {
    pub use crate::config::grants::Grants;
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::Instrument;

use serde::Serialize;

use crate::config::Grants;
use crate::config::{Limits, PolicyConfig};
use crate::journal::{Recorder, Status};
use crate::sandbox::{
    CallRecord, LimitError, LogLine, Origin, ProgressFn, RunCtx, RunError, Sandbox, Wasm,
};
use crate::{Caller, Hub};

/// Why a policy could not even start.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The name is neither a configured policy nor a `.wasm` file.
    #[error("no policy named {name:?} in the config{hint}")]
    Unknown {
        /// The name or path given.
        name: String,
        /// A suggestion to append to the message, starting with `; `.
        hint: String,
    },
    /// The policy's `oci://` component could not be pulled.
    #[error("{0}")]
    Pull(String),
    /// The policy's `.wasm` file cannot be read.
    #[error("cannot read {path}: {error}")]
    Unreadable {
        /// The component's path.
        path: PathBuf,
        /// The error reading it.
        error: std::io::Error,
    },
    /// A grant that is not a `SERVER.TOOL` pattern.
    #[error(transparent)]
    Invalid(#[from] crate::config::PatternError),
    /// The thread loading it stopped (weft is shutting down).
    #[error("loading the policy stopped: {0}")]
    Stopped(String),
}

pub use crate::status::RunStatus;

impl From<RunStatus> for Status {
    fn from(s: RunStatus) -> Status {
        match s {
            RunStatus::Ok => Status::Ok,
            RunStatus::Error => Status::Error,
            RunStatus::Limit => Status::Limit,
            RunStatus::Nondeterministic => Status::Nondeterministic,
        }
    }
}

/// The outcome of a run, for people (`weft run`) and for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The policy's name (from the config, or the file's stem).
    pub policy: String,
    /// The run's id in the journal, when it is durable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// How it ended (`ok`, `error`, `limit`, `nondeterministic`).
    pub status: RunStatus,
    /// The policy's output: JSON when it is JSON, else a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    /// Why the run failed, was refused or was stopped, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The limit that stopped the run, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitError>,
    /// The host calls the policy made, in order.
    pub calls: Vec<CallRecord>,
    /// The fuel the run burned, in fuel units.
    pub fuel_used: u64,
    /// How long the run took, in milliseconds.
    pub duration_ms: f64,
    /// How the component was obtained: from memory, from disk, or compiled.
    pub component: Origin,
    /// The lines the policy logged, in order.
    pub logs: Vec<LogLine>,
    /// What the guest wrote to stdout, at most its `max_log` bytes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// What the guest wrote to stderr, at most its `max_log` bytes.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

impl RunReport {
    /// What the console keeps of this run (numbered when kept).
    pub fn summary(&self) -> crate::recent::RunSummary {
        crate::recent::RunSummary {
            seq: 0,
            run_id: self.run_id.clone(),
            policy: self.policy.clone(),
            status: self.status.as_str().to_string(),
            error: self.error.clone(),
            duration_ms: self.duration_ms,
            fuel_used: self.fuel_used,
            call_count: self.calls.len(),
            calls: self
                .calls
                .iter()
                .take(crate::recent::MAX_RUN_CALLS)
                .map(|c| crate::recent::RunCall {
                    server: c.server.clone(),
                    tool: c.tool.clone(),
                    ms: c.ms,
                    outcome: match (&c.error, c.ok) {
                        (Some(kind), _) => kind.as_str().to_string(),
                        (None, true) => "ok".into(),
                        (None, false) => "tool-error".into(),
                    },
                })
                .collect(),
            ended_at_ms: crate::util::unix_ms(std::time::SystemTime::now()),
        }
    }
}

impl RunReport {
    /// Whether the run ended with the policy's output (status `ok`).
    pub fn ok(&self) -> bool {
        self.status == RunStatus::Ok
    }
}

/// A policy ready to run: its bytes, grants and limits.
#[derive(Clone)]
pub struct Loaded {
    /// The policy's name (from the config, or the file's stem).
    pub name: String,
    /// The component's bytes.
    pub wasm: Wasm,
    /// The tools its calls may reach.
    pub grants: Grants,
    /// Its limits on fuel, time, memory, calls, output and logs (defaults for a bare path).
    pub limits: Limits,
}

/// Finds a policy by config name, or reads a `.wasm` path. A bare path gets
/// the given grants, or every tool when there are none (it is the user's
/// own file, run by hand).
pub fn load(hub: &Hub, spec: &str, grant_override: &[String]) -> Result<Loaded, PolicyError> {
    let config = hub.config();
    let (name, path, grants, limits) = match config.policy(spec) {
        Some(p) => {
            let grants = if grant_override.is_empty() {
                p.grants.clone()
            } else {
                grant_override.to_vec()
            };
            if let Some(failure) = p.oci.as_ref().and_then(|o| o.failure.clone()) {
                return Err(PolicyError::Pull(failure));
            }
            (p.name.clone(), p.path.clone(), grants, p.limits.clone())
        }
        None if spec.ends_with(".wasm") || Path::new(spec).is_file() => {
            let grants = if grant_override.is_empty() {
                vec!["*.*".to_string()]
            } else {
                grant_override.to_vec()
            };
            let name = Path::new(spec)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, PathBuf::from(spec), grants, Limits::default())
        }
        None => {
            let names: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
            let hint = crate::util::closest(spec, names.iter().copied())
                .map(|c| format!("; did you mean {c:?}?"))
                .unwrap_or_else(|| {
                    if names.is_empty() {
                        "; no policies are configured (pass a path to a .wasm file instead)".into()
                    } else {
                        format!("; configured policies: {}", names.join(", "))
                    }
                });
            return Err(PolicyError::Unknown {
                name: spec.to_string(),
                hint,
            });
        }
    };
    let wasm = std::fs::read(&path).map_err(|error| PolicyError::Unreadable {
        path: path.clone(),
        error,
    })?;
    let grants = Grants::new(&grants)?;
    Ok(Loaded {
        name,
        wasm: Wasm::new(wasm),
        grants,
        limits,
    })
}

/// Runs loaded policies against a hub.
pub struct Runner {
    hub: Hub,
    sandbox: Arc<Sandbox>,
}

impl Runner {
    /// A runner whose policies call tools through `hub`, run in `sandbox`.
    pub fn new(hub: Hub, sandbox: Arc<Sandbox>) -> Runner {
        Runner { hub, sandbox }
    }

    /// The hub its policies call tools through.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Runs a policy once, as the owner. Never panics on anything the
    /// guest does.
    pub async fn run(
        &self,
        policy: &Loaded,
        input: &str,
        progress: Option<ProgressFn>,
    ) -> RunReport {
        self.run_as(&Caller::owner(), policy, input, progress).await
    }

    /// Runs a policy for a caller: the tenant must be allowed the policy,
    /// its limits cap the run's, its concurrent-run limit applies, and the
    /// policy's calls are checked against grants and the tenant's view.
    pub async fn run_as(
        &self,
        caller: &Caller,
        policy: &Loaded,
        input: &str,
        progress: Option<ProgressFn>,
    ) -> RunReport {
        self.run_journaled(caller, policy, input, progress, None)
            .await
    }

    /// [`Runner::run_as`], its host calls journaled by `journal` (a new
    /// run, or a resumed one replaying), its end stored there.
    pub async fn run_journaled(
        &self,
        caller: &Caller,
        policy: &Loaded,
        input: &str,
        progress: Option<ProgressFn>,
        journal: Option<Arc<Recorder>>,
    ) -> RunReport {
        if !crate::authz::allowed(caller, &crate::authz::Resource::Policy(&policy.name)) {
            return self.refused(
                policy,
                format!(
                    "denied: tenant {:?} may not run the policy {:?}",
                    caller.tenant_name(),
                    policy.name
                ),
            );
        }
        self.run_allowed(caller, policy, input, progress, journal)
            .await
    }

    /// Runs code mode's interpreter on submitted code for a caller, as
    /// [`Runner::run_journaled`] runs a policy but for the permission to
    /// run it: that is the caller's `[code]` settings, which the edge
    /// checked before taking the code (`crate::code::settings_for`).
    pub async fn run_code_as(
        &self,
        caller: &Caller,
        interpreter: &Loaded,
        request: &str,
        progress: Option<ProgressFn>,
        journal: Option<Arc<Recorder>>,
    ) -> RunReport {
        self.run_allowed(caller, interpreter, request, progress, journal)
            .await
    }

    /// A run the caller is allowed: the tenant's limits and its
    /// concurrent-run cap apply, and every call is checked against the
    /// grants and the tenant's view.
    async fn run_allowed(
        &self,
        caller: &Caller,
        policy: &Loaded,
        input: &str,
        progress: Option<ProgressFn>,
        journal: Option<Arc<Recorder>>,
    ) -> RunReport {
        let _slot = match caller.tenant.as_ref().map(|t| t.start_run()) {
            Some(Err(max)) => {
                let tenant = caller.tenant_name();
                let key = format!("tenants.{tenant}.limits.concurrent_runs");
                let default = crate::config::tenant::DEFAULT_CONCURRENT_RUNS;
                let mut report = self.refused(
                    policy,
                    format!(
                        "rate-limited: tenant {tenant:?} already has {max} policy runs in progress, \
                         its limit ({key}, {default} unless set; a run taken as a task holds its \
                         place until it ends); retry when one ends, or raise {key}"
                    ),
                );
                // A journaled run that never started ends there too.
                if let Some(journal) = &journal {
                    report.run_id = Some(journal.run_id().to_string());
                    if let Err(e) = journal
                        .finish(Status::Error, None, report.error.clone())
                        .await
                    {
                        tracing::error!(run = journal.run_id(), "cannot store the run's end: {e}");
                    }
                }
                return report;
            }
            Some(Ok(slot)) => slot,
            None => None,
        };
        let mut limits = policy.limits.clone();
        if let Some(t) = &caller.tenant {
            t.clamp(&mut limits);
        }
        let ctx = Arc::new(
            RunCtx::new(
                Arc::new(self.hub.clone()),
                policy.grants.clone(),
                caller.for_policy(&policy.name),
                limits.max_calls,
                progress,
            )
            .with_role(
                if crate::config::code::Language::is_run_name(&policy.name) {
                    "code"
                } else {
                    "policy"
                },
            )
            .with_journal(journal.clone()),
        );
        let _busy = self.hub.busy();
        let span = tracing::info_span!("policy", policy = %policy.name);
        let outcome = self
            .sandbox
            .run(&policy.wasm, input, &limits, ctx.clone())
            .instrument(span)
            .await;
        let calls = std::mem::take(&mut *ctx.records.lock());
        let logs = std::mem::take(&mut *ctx.logs.lock());
        let (mut status, mut output, mut error, limit) = match outcome.result {
            Ok(out) => {
                let value = serde_json::from_str(&out).unwrap_or(serde_json::Value::String(out));
                (RunStatus::Ok, Some(value), None, None)
            }
            Err(RunError::Limit(l)) => (RunStatus::Limit, None, Some(l.to_string()), Some(l)),
            Err(e) => (RunStatus::Error, None, Some(e.to_string()), None),
        };
        if let Some(journal) = &journal {
            if let Some(why) = journal.divergence() {
                (status, output, error) = (RunStatus::Nondeterministic, None, Some(why));
            }
            let stored = Status::from(status);
            let text = output.as_ref().map(|v| v.to_string());
            if let Err(e) = journal.finish(stored, text, error.clone()).await {
                tracing::error!(run = journal.run_id(), "cannot store the run's end: {e}");
                error = Some(format!(
                    "{}the journal could not store the run's end: {e}",
                    error.map(|e| format!("{e}; ")).unwrap_or_default()
                ));
                status = RunStatus::Error;
            }
        }
        let report = RunReport {
            policy: policy.name.clone(),
            run_id: journal.as_ref().map(|j| j.run_id().to_string()),
            status,
            output,
            error,
            limit,
            calls,
            fuel_used: outcome.fuel_used,
            duration_ms: outcome.duration.as_secs_f64() * 1e3,
            component: outcome.origin,
            logs,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
        };
        let limit = report.limit.as_ref().map(|l| l.limit_name());
        self.hub.record_run(report.status, report.summary(), limit);
        tracing::info!(policy = %report.policy, status = %report.status, ms = report.duration_ms as u64, calls = report.calls.len(), "policy run");
        report
    }
}

impl Runner {
    /// The report of a run refused before it started.
    fn refused(&self, policy: &Loaded, error: String) -> RunReport {
        tracing::warn!(policy = %policy.name, error = %error, "policy run refused");
        RunReport {
            policy: policy.name.clone(),
            run_id: None,
            status: RunStatus::Error,
            output: None,
            error: Some(error),
            limit: None,
            calls: Vec::new(),
            fuel_used: 0,
            duration_ms: 0.0,
            component: Origin::NotRun,
            logs: Vec::new(),
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}

/// Applies command-line overrides to a policy's limits.
pub fn override_limits(
    limits: &mut Limits,
    fuel: Option<Option<u64>>,
    timeout: Option<std::time::Duration>,
    memory: Option<u64>,
) {
    if let Some(f) = fuel {
        limits.fuel = f;
    }
    if let Some(t) = timeout {
        limits.timeout = t;
    }
    if let Some(m) = memory {
        limits.memory = m;
    }
}

/// The configured policies, for listing.
pub fn configured(hub: &Hub) -> &[PolicyConfig] {
    &hub.config().policies
}
