//! Durable adapters (`[servers.NAME] durable = true`): every call of the
//! component server is a run in the journal, as a policy run is. Its input
//! records the tool and the arguments, its host calls (nested tool calls,
//! clocks, random) are journaled, and its end stores the tool's result. A
//! call killed halfway is resumed by `weft runs resume ID`, or by a
//! `weft serve` with `settings.resume = true`: the same component
//! (checked by digest) is called again with the same tool and arguments,
//! its nested calls answered from the journal, so none that completed is
//! sent twice.
//!
//! A run's spec is `adapter:SERVER`; the call's caller (its tenant, the
//! chain of adapters it came through, its grants) is recorded in the run's
//! options, so a resume calls as exactly that caller.

use std::sync::Arc;

use rmcp::model::{CallToolResult, MetaObject};
use serde::{Deserialize, Serialize};

use super::{ComponentServer, kinded};
use crate::config::Transport;
use crate::error::ErrorKind;
use crate::journal::{self, Backend, Event, Recorder, RunOptions, RunRecord, Status};
use crate::tenant::Caller;
use crate::upstream::builtin::DirectError;

/// The prefix of an adapter run's spec: `adapter:SERVER`.
const SPEC_PREFIX: &str = "adapter:";

/// `RunOptions::origin` of an adapter's durable call.
pub const ORIGIN: &str = "adapter";

/// The key of the run's id in a durable call's result `_meta`.
pub const RUN_ID_META: &str = "weft/run-id";

/// The spec of a run of `server`'s calls.
pub fn spec(server: &str) -> String {
    format!("{SPEC_PREFIX}{server}")
}

/// The server of an adapter run's spec; `None` for any other run.
pub fn spec_server(spec: &str) -> Option<&str> {
    spec.strip_prefix(SPEC_PREFIX)
}

/// What an adapter run records as its input.
#[derive(Debug, Serialize, Deserialize)]
struct Input {
    tool: String,
    /// The arguments as JSON text (empty: none).
    arguments: String,
}

impl ComponentServer {
    /// Starts the journal of a call, when the server is durable and the
    /// hub has a journal; its row is stored before the component runs.
    pub(super) async fn begin_run(
        &self,
        caller: &Caller,
        tool: &str,
        args: &str,
    ) -> Result<Option<Arc<Recorder>>, DirectError> {
        if !self.config.durable {
            return Ok(None);
        }
        let Some(hub) = (self.hub)() else {
            return Ok(None);
        };
        let Some(backend) = hub.journal() else {
            return Ok(None);
        };
        let unavailable = |why: String| kinded(ErrorKind::Unavailable, why);
        let wasm = self
            .wasm
            .get()
            .ok_or_else(|| unavailable("the component is not loaded".into()))?;
        let input = serde_json::to_string(&Input {
            tool: tool.to_string(),
            arguments: args.to_string(),
        })
        .unwrap_or_default();
        let options = RunOptions {
            origin: Some(ORIGIN.into()),
            tenant: caller.tenant.as_ref().map(|t| t.name.clone()),
            caller: Some(crate::journal::RunCaller::of(caller)),
            ..RunOptions::default()
        };
        let record = RunRecord::start(
            &self.name,
            &spec(&self.name),
            wasm.digest(),
            &input,
            options,
        )
        .map_err(|e| unavailable(format!("cannot start the call's journal: {e}")))?;
        let recorder = Arc::new(Recorder::new(backend, &record));
        recorder.create(record).await.map_err(|e| {
            unavailable(format!(
                "cannot start the call's journal, so the call did not start: {e}"
            ))
        })?;
        tracing::info!(run = recorder.run_id(), server = %self.name, tool, "durable adapter call");
        Ok(Some(recorder))
    }
}

/// Stores how a durable call ended, and names its run in the result's
/// `_meta` ([`RUN_ID_META`]).
pub(super) async fn end_run(
    journal: &Recorder,
    answer: Result<CallToolResult, DirectError>,
) -> Result<CallToolResult, DirectError> {
    let (status, output, error) = match &answer {
        Ok(result) => (Status::Ok, serde_json::to_string(result).ok(), None),
        Err(e) => {
            let (kind, message) = match e {
                DirectError::Kinded { kind, message } => (*kind, message.clone()),
                DirectError::Rpc(data) => (ErrorKind::Internal, data.message.to_string()),
            };
            let status = match kind {
                ErrorKind::LimitExceeded | ErrorKind::Timeout => Status::Limit,
                _ => Status::Error,
            };
            (status, None, Some(message))
        }
    };
    let (status, output, error) = match journal.divergence() {
        Some(why) => (Status::Nondeterministic, None, Some(why)),
        None => (status, output, error),
    };
    if let Err(e) = journal.finish(status, output, error.clone()).await {
        tracing::error!(run = journal.run_id(), "cannot store the call's end: {e}");
        return Err(kinded(
            ErrorKind::Unavailable,
            format!("the journal could not store the call's end: {e}"),
        ));
    }
    if status == Status::Nondeterministic {
        return Err(kinded(
            ErrorKind::Internal,
            format!(
                "run {} is nondeterministic: {}",
                journal.run_id(),
                error.unwrap_or_default()
            ),
        ));
    }
    answer.map(|mut result| {
        let meta = result.meta.get_or_insert_with(MetaObject::new);
        meta.insert(RUN_ID_META.into(), journal.run_id().into());
        result
    })
}

/// A durable adapter call to resume: the run, its events, and the calls
/// in doubt that may be sent again.
pub struct Resumable {
    pub run: RunRecord,
    pub events: Vec<Event>,
    pub resend: std::collections::HashSet<u64>,
}

/// Resumes a durable adapter call of the hub's `config` (`hub` reaches the
/// hub, as the hub's own component servers do): loads the server's
/// component, checks that it is the one the run started with, and calls
/// the recorded tool again as `caller`, replaying the journal. The
/// caller has checked the run (not finished, not held, nothing in doubt)
/// and claimed it.
pub async fn resume(
    config: &crate::config::Config,
    hub: super::HubLink,
    backend: Arc<dyn Backend>,
    caller: &Caller,
    resumable: Resumable,
) -> anyhow::Result<CallToolResult> {
    let run = &resumable.run;
    let name = spec_server(&run.spec)
        .ok_or_else(|| anyhow::anyhow!("run {} is not an adapter's call", run.id))?;
    let adapter = match config.server(name).map(|s| &s.transport) {
        Some(Transport::Component(a)) => a.as_ref().clone(),
        Some(_) => {
            return Err(anyhow::anyhow!(
                "server {name:?} is no longer a component server"
            ));
        }
        None => return Err(anyhow::anyhow!("server {name:?} is no longer configured")),
    };
    let input: Input = serde_json::from_str(&run.input)
        .map_err(|e| anyhow::anyhow!("run {}'s input is unreadable: {e}", run.id))?;
    let server = ComponentServer::new(name, &adapter, crate::sandbox::Sandbox::shared(), hub);
    server
        .load_tools()
        .await
        .map_err(|e| anyhow::anyhow!("its component cannot be loaded: {e}"))?;
    let digest = server
        .wasm
        .get()
        .map(|w| journal::digest_hex(w.digest()))
        .unwrap_or_default();
    if digest != run.digest {
        return Err(anyhow::anyhow!(
            "its component has changed since the run started (digest {} then, {} now); a journal replays only against the same component: restore that build",
            journal::resumable::short(&run.digest),
            journal::resumable::short(&digest)
        ));
    }
    let recorder = Arc::new(Recorder::resume(
        backend,
        run,
        resumable.events,
        resumable.resend,
    ));
    let answer = server
        .run_call(
            &input.tool,
            &input.arguments,
            caller,
            Some(recorder.clone()),
        )
        .await;
    end_run(&recorder, answer).await.map_err(|e| match e {
        DirectError::Kinded { message, .. } => anyhow::anyhow!(message),
        DirectError::Rpc(data) => anyhow::anyhow!(data.message.to_string()),
    })
}
