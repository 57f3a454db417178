//! The journaled host calls of a run: each wraps the sandbox's own call
//! (`RunCtx::call`, `tools`, `log`, `progress`) with its journal step. A
//! run without a journal goes straight through.

use std::future::Future;

use super::RunCtx;
use super::host::GrantedTool;
use crate::CallError;
use crate::journal::crash::{self, Point};
use crate::journal::model::{CallOutcome, CallRequest, Kind};
use crate::journal::{Step, Store, wait};

impl RunCtx {
    /// One tool call under the journal. The step (replay, or intent queued)
    /// is taken before the future is first polled, so the calls of one
    /// `call-tools` take their places in the order the guest listed them.
    pub(crate) fn journaled_call(
        &self,
        server: String,
        tool: String,
        args: String,
    ) -> impl Future<Output = wasmtime::Result<Result<String, CallError>>> + '_ {
        // A call that is safe to repeat goes out without waiting for its
        // intent: were it lost in a crash, the resume would send the call
        // again, which is harmless. Rows are stored in order, so a later
        // side effect never goes out before them. Whether it is safe to
        // repeat is what the caller's own instance says.
        let repeatable = self.journal.is_some() && {
            let hub = &self.hub;
            let catalog = hub.catalog_for(&self.caller);
            crate::journal::resumable::repeatable(&catalog, hub.config(), &server, &tool)
        };
        let intent_stored = match repeatable {
            true => Store::Soon,
            false => Store::Waited,
        };
        let step = self.journal.as_ref().map(|j| {
            let request = CallRequest {
                server: server.clone(),
                tool: tool.clone(),
                args: args.clone(),
            };
            j.begin_call(&request, intent_stored)
        });
        async move {
            let Some(journal) = self.journal.as_ref() else {
                return Ok(self.call(server, tool, args).await);
            };
            match step {
                None => Ok(self.call(server, tool, args).await),
                Some(Step::Diverged(why)) => Err(wasmtime::Error::msg(why)),
                Some(Step::Replay(outcome)) => Ok(match *outcome {
                    CallOutcome::Ok(text) => {
                        self.record(&server, &tool, 0.0, None);
                        Ok(text)
                    }
                    CallOutcome::Err(e) => {
                        self.record(&server, &tool, 0.0, Some(e.kind));
                        Err(e)
                    }
                }),
                Some(Step::Live { seq, n, intent }) => {
                    if let Some(intent) = intent {
                        wait(intent).await.map_err(|e| {
                            wasmtime::Error::msg(format!(
                                "the journal could not store the intent of {server}.{tool}, so it was not sent: {e}"
                            ))
                        })?;
                    }
                    crash::point(Point::AfterIntent, n);
                    let note = approval_note(journal, seq, (&server, &tool, &args));
                    let outcome = self
                        .call_noted(server.clone(), tool.clone(), args, Some(note))
                        .await;
                    crash::point(Point::AfterSend, n);
                    let stored = match &outcome {
                        Ok(text) => CallOutcome::Ok(text.clone()),
                        Err(e) => CallOutcome::Err(e.clone()),
                    };
                    // The result of a call that is not safe to repeat is
                    // stored at once, but the guest does not wait for it:
                    // it is in the journal before the next intent (the
                    // writer keeps order), so nothing the guest does with
                    // it reaches outside first. A crash in the moment
                    // before it is stored leaves the call in doubt, never
                    // sent twice. A call safe to repeat is stored with the
                    // next waited write. Under the crash hook, kill points
                    // are exact: the call waits.
                    let when = match (repeatable, crash::armed()) {
                        (false, true) => Store::Waited,
                        _ => Store::Soon,
                    };
                    if let Some(result) = journal.end_call(seq, &stored, when) {
                        wait(result).await.map_err(|e| {
                            wasmtime::Error::msg(format!(
                                "{server}.{tool} was sent, but the journal could not store its result: {e}"
                            ))
                        })?;
                    }
                    crash::point(Point::AfterResult, n);
                    Ok(outcome)
                }
            }
        }
    }

    /// `list-tools` under the journal: a replay gets the recorded list.
    pub(crate) fn journaled_tools(&self, server: Option<&str>) -> Vec<GrantedTool> {
        let Some(journal) = &self.journal else {
            return self.tools(server);
        };
        let request = serde_json::to_string(&server).unwrap_or_default();
        let mut live = None;
        let text = journal.observe(Kind::ListTools, &request, || {
            let tools = self.tools(server);
            let text = serde_json::to_string(&tools).unwrap_or_default();
            live = Some(tools);
            text
        });
        match live {
            Some(tools) => tools,
            None => serde_json::from_str(&text).unwrap_or_default(),
        }
    }

    /// A log line under the journal (kept in the report either way).
    pub(crate) fn journaled_log(&self, mut level: String, mut message: String) {
        // Cut and counted as `log` keeps them, so a replay journals the same.
        crate::util::truncate(&mut level, 16);
        crate::util::truncate(&mut message, 4096);
        if let Some(journal) = self
            .journal
            .as_ref()
            .filter(|_| self.logs.lock().len() < 1000)
        {
            let request = serde_json::json!([level, message]).to_string();
            journal.observe(Kind::Log, &request, String::new);
        }
        self.log(level, message);
    }

    /// A progress report under the journal (passed on either way).
    pub(crate) fn journaled_progress(
        &self,
        done: f64,
        total: Option<f64>,
        message: Option<String>,
    ) {
        if let Some(journal) = &self.journal {
            let mut shown = message.clone().unwrap_or_default();
            crate::util::truncate(&mut shown, 4096);
            let request = serde_json::json!([done, total, shown]).to_string();
            journal.observe(Kind::Progress, &request, String::new);
        }
        self.progress(done, total, message);
    }
}

/// What the router tells the journal of call `seq` when it waits for a
/// person's approval (recorded as not sent, so a resume asks again) and
/// when it is approved (recorded, and waited for, before it is sent).
fn approval_note(
    journal: &std::sync::Arc<crate::journal::Recorder>,
    seq: u64,
    (server, tool, args): (&str, &str, &str),
) -> crate::approval::Note {
    let journal = journal.clone();
    let request = CallRequest {
        server: server.to_string(),
        tool: tool.to_string(),
        args: args.to_string(),
    };
    crate::approval::Note(std::sync::Arc::new(move |approved| {
        let stored = journal.approval(seq, &request, approved);
        Box::pin(async move {
            match stored {
                Some(rx) => wait(rx).await.map_err(|e| e.to_string()),
                None => Ok(()),
            }
        })
    }))
}
