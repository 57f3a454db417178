//! Running a loaded policy, or code mode's interpreter on submitted code,
//! for an agent's `tools/call`: journaled when runs are, its progress
//! relayed, its report in the result's `_meta`. Shared by the policy tools
//! (`tool_call.rs`) and `weft_run_code` (`code_call.rs`).

use std::sync::Arc;

use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::serve::Gateway;
use crate::tenant::Caller;

/// Reads a tool's arguments as a JSON object.
pub(in crate::serve) fn object_arg(
    args: &Option<rmcp::model::JsonObject>,
    key: &str,
) -> Option<Value> {
    args.as_ref().and_then(|a| a.get(key)).cloned()
}

/// What runs in [`run_loaded`]: a policy (the caller must be allowed it)
/// or code mode's interpreter (the caller's `[code]` settings were checked
/// when the code was taken).
pub(in crate::serve) enum RunKind {
    Policy,
    /// Code mode, in this language.
    Code(crate::code::Language),
}

/// Runs `loaded` on `input` for `caller`, its progress to the agent: the
/// output as the result (structured when it is an object), the report in
/// `_meta["weft/run"]`, a durable run's id in `_meta["weft/run-id"]`.
pub(in crate::serve) async fn run_loaded(
    gw: &Gateway,
    caller: &Caller,
    (kind, loaded): (RunKind, &crate::policy::Loaded),
    input: &str,
    tx: mpsc::UnboundedSender<crate::upstream::relay::RelayMsg>,
    mut audit: crate::audit::Pending<'_>,
) -> CallToolResponse {
    let Some(runner) = gw.runner.as_ref() else {
        let why = gw
            .sandbox_error
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        return tool_failure(format!("the sandbox is not available: {why}"));
    };
    let announce = tx.clone();
    let progress: crate::sandbox::ProgressFn = Arc::new(move |progress, total, message| {
        let _ = tx.send(crate::upstream::relay::RelayMsg::Progress {
            progress,
            total,
            message,
        });
    });
    let begun = match kind {
        RunKind::Policy => super::durable::begin(gw, caller, loaded, input).await,
        RunKind::Code(lang) => super::durable::begin_code(gw, caller, loaded, lang, input).await,
    };
    let journal = match begun {
        Ok(j) => j,
        Err(why) => {
            audit.outcome("error");
            return tool_failure(format!("{why:#}"));
        }
    };
    announce_run(&announce, journal.as_ref());
    let mut report = match kind {
        RunKind::Policy => {
            runner
                .run_journaled(caller, loaded, input, Some(progress), journal)
                .await
        }
        RunKind::Code(_) => {
            runner
                .run_code_as(caller, loaded, input, Some(progress), journal)
                .await
        }
    };
    if matches!(kind, RunKind::Code(_)) {
        crate::code::for_submitter(&mut report);
    } else {
        crate::code::tidy(&mut report);
    }
    // The agent cannot pass --fuel or edit the config: say who can.
    if let Some(limit) = &report.limit {
        let (subject, mut table) = match kind {
            RunKind::Policy => ("the policy", format!("[policies.{}]", report.policy)),
            RunKind::Code(_) => ("the code", "[code.limits]".to_string()),
        };
        if let Some(tenant) = &caller.tenant {
            table = format!("{table} or the tenant's [tenants.{}]", tenant.name);
        }
        report.error = Some(limit.for_agent(subject, &table));
    }
    audit.outcome(report.status.as_str());
    let summary = json!({
        "policy": report.policy,
        "status": report.status,
        "error": report.error,
        "limit": report.limit,
        "calls": report.calls,
        "fuel_used": report.fuel_used,
        "duration_ms": report.duration_ms,
        "logs": report.logs,
        "stdout": report.stdout,
    });
    let mut result = if report.ok() {
        super::run_tasks::output_result(report.output.clone().unwrap_or(Value::Null))
    } else {
        let what = if report.status == crate::policy::RunStatus::Limit {
            "hit a limit"
        } else {
            "failed"
        };
        CallToolResult::error(vec![ContentBlock::text(format!(
            "{} {what}: {}",
            report.policy,
            report.error.clone().unwrap_or_default()
        ))])
    };
    let mut meta = rmcp::model::MetaObject::new();
    meta.insert("weft/run".into(), summary);
    if let Some(id) = &report.run_id {
        meta.insert(
            super::durable::RUN_ID_META.into(),
            Value::String(id.clone()),
        );
    }
    result.meta = Some(meta);
    result.into()
}

/// Tells whoever drives the call the durable run's id, so that a long
/// run can become a task (see `run_tasks`).
fn announce_run(
    tx: &mpsc::UnboundedSender<crate::upstream::relay::RelayMsg>,
    journal: Option<&Arc<crate::journal::Recorder>>,
) {
    if let Some(recorder) = journal {
        let _ = tx.send(crate::upstream::relay::RelayMsg::Run(
            recorder.run_id().to_string(),
        ));
    }
}

pub(in crate::serve) fn tool_failure(message: String) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(message)]).into()
}
