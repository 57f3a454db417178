//! The approval stage, between the caller's checks and the cache: a call
//! a rule makes wait (see [`crate::approval`]) goes on only when the
//! person behind the agent approves it. Anything else (a decline, a
//! cancel, no answer within `settings.approval_timeout`, an agent that
//! cannot be asked) fails the call as `declined`, and the server never
//! sees it. Every outcome is audited under the route `approval`.

use std::time::Instant;

use crate::approval::{self, Answer};
use crate::catalog::ToolEntry;
use crate::error::{CallError, ErrorKind};
use crate::upstream::Upstream;

use super::{CallRequest, Route};

/// Asks for approval when a rule covers the call. `Ok(true)`: approved
/// (the result is then this call's alone: it is not cached, nor served
/// from the cache); `Ok(false)`: no rule covers it.
pub(super) async fn check(
    route: Route<'_>,
    req: &CallRequest,
    (server, up): (&str, &Upstream),
    entry: Option<&ToolEntry>,
) -> Result<bool, CallError> {
    let tool = req.tool.as_str();
    let tenant = req
        .caller
        .tenant
        .as_ref()
        .map(|t| (t.name.as_str(), &t.approval));
    let Some(rule) = approval::rule(
        route.approvals,
        tenant,
        up.config.approval,
        (server, tool),
        entry.map(ToolEntry::destructive),
    ) else {
        return Ok(false);
    };
    let source = rule.source(server);
    let timeout = route.approvals.timeout;
    let started = Instant::now();
    let outcome = match &req.caller.asker {
        None => Err((
            "unasked",
            format!(
                "this call needs a person's approval ({source}), and it came from {} with no agent to ask; call it through an agent that supports elicitation, or take it out of {source}",
                origin(req)
            ),
        )),
        Some(asker) if !asker.elicitation => Err((
            "unasked",
            format!(
                "this call needs a person's approval ({source}), and the agent connected to weft did not declare the elicitation capability, so weft cannot ask; use a client that supports elicitation, or take the tool out of {source}"
            ),
        )),
        Some(asker) => {
            if let Some(f) = &req.forward {
                // The answer is this agent's: the result is never cached.
                f.asked.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let who = match &req.caller.policy {
                Some(p) => format!("The run {} your agent started", crate::error::quote(p)),
                None => "Your agent".to_string(),
            };
            let note = req.caller.approval_note.as_ref();
            if let Some(note) = note
                && let Err(e) = note.tell(false).await
            {
                tracing::warn!(server, tool, "the journal could not record the wait: {e}");
            }
            match approval::question(server, tool, req.args.as_deref(), &who) {
                Err(e) => Err(("unasked", format!("weft could not write the question: {e}"))),
                Ok(question) => match tokio::time::timeout(timeout, asker.ask(question)).await {
                    Err(_) => Err(("timeout", unanswered(timeout))),
                    // A parked 2026-07-28 call answered after the time.
                    Ok(Ok(_)) if started.elapsed() > timeout => {
                        Err(("timeout", unanswered(timeout)))
                    }
                    Ok(Ok(answer)) => match approval::read(&answer) {
                        Answer::Approved => Ok(()),
                        Answer::Declined => {
                            Err(("declined", "the person declined the call".into()))
                        }
                        Answer::Cancelled => Err((
                            "cancelled",
                            "the person dismissed the question without approving the call".into(),
                        )),
                    },
                    Ok(Err(e)) => Err((
                        "unasked",
                        format!(
                            "this call needs a person's approval ({source}), and the agent could not be asked: {}",
                            crate::error::quote(&e.message)
                        ),
                    )),
                },
            }
        }
    };
    // A journaled run records the yes before the call goes out.
    let outcome = match (outcome, &req.caller.approval_note) {
        (Ok(()), Some(note)) => note.tell(true).await.map_err(|e| {
            (
                "unasked",
                format!(
                    "the run's journal could not record the approval, so the call was not sent: {e}"
                ),
            )
        }),
        (outcome, _) => outcome,
    };
    let answer = match &outcome {
        Ok(()) => Answer::Approved.as_str(),
        Err((answer, _)) => answer,
    };
    tracing::info!(server, tool, answer, rule = %source, "approval");
    if let Some(audit) = route.audit {
        let ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let args = audit.args_hash(req.args.as_deref());
        audit.approval(&req.caller, (server, tool), (answer, &source), ms, args);
    }
    route.metrics.approval(req.caller.tenant_name(), answer);
    match outcome {
        Ok(()) => Ok(true),
        Err((_, message)) => Err(CallError::new(ErrorKind::Declined, server, tool, message)),
    }
}

/// Where a call with no agent behind it came from, for the message.
fn origin(req: &CallRequest) -> String {
    match &req.caller.policy {
        Some(p) => format!(
            "the policy {} with no agent waiting on it",
            crate::error::quote(p)
        ),
        None if req.caller.key_id.as_deref() == Some("cli") => "the command line".into(),
        None => "a caller".into(),
    }
}

fn unanswered(timeout: std::time::Duration) -> String {
    format!(
        "nobody answered the approval within {} (settings.approval_timeout)",
        humantime::format_duration(timeout)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn pins_keep_every_name_a_call_may_use() {
        assert_eq!(crate::pins::MAX_PINNED_NAME, super::super::MAX_NAME_BYTES);
    }
}
