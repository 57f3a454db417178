//! Long policy and code runs as MCP tasks (the tasks extension): an agent
//! that declares the extension and calls a policy (or `weft_run_code`)
//! whose durable run is still going after [`TASK_AFTER`] gets a
//! `CreateTaskResult` instead of waiting, with the run id as the task id.
//! The run goes on in the background; `tasks/get` answers from the run
//! while this process has it, else from the journal, so a run that a
//! restarted `weft serve` resumed (`settings.resume = true`) is polled by
//! the same id. A task belongs to the tenant whose call started the run:
//! another tenant naming its id gets what an unknown id gets.
//!
//! A run taken as a task asks the agent for input (an approval, or an
//! upstream's elicitation) through the task: the question makes the run
//! a task at once if it is not one yet, `tasks/get` shows it in
//! `input_required` with the questions, and `tasks/update` carries the
//! answers back to the waiting run.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, CreateTaskResult, DetailedTask, ErrorData,
    GetTaskResult, InputRequest, InputRequests, InputResponses, JsonObject, Task, TaskPayload,
    TaskStatus,
};
use serde_json::Value;
use tokio::sync::mpsc;

use super::call::Work;
use crate::authz::{self, Resource};
use crate::journal::Status;
use crate::serve::Gateway;
use crate::tenant::Caller;
use crate::upstream::relay::RelayMsg;

/// How long a call waits for its run before handing the agent a task.
pub const TASK_AFTER: Duration = Duration::from_secs(1);
/// The polling interval suggested to the agent.
const POLL_MS: u64 = 500;
/// How many finished runs' results are kept in memory (the journal keeps
/// them all): past it, the oldest finished are forgotten.
const MAX_KEPT: usize = 1_000;

/// The runs of this process taken as tasks, by run id.
#[derive(Default)]
pub(in crate::serve) struct RunTasks {
    runs: Mutex<HashMap<String, Arc<RunTask>>>,
}

struct RunTask {
    /// The tenant whose call started the run.
    owner: Option<String>,
    created_at: String,
    /// The call's answer, once the run has ended, and when.
    done: OnceLock<(Result<CallToolResponse, ErrorData>, String)>,
    /// Ended by `tasks/cancel`.
    cancelled: std::sync::atomic::AtomicBool,
    abort: tokio::task::AbortHandle,
    /// Questions for the agent the run waits on, by key.
    waiting: Mutex<Vec<(String, InputRequest, Reply)>>,
    /// How many questions the run has asked, for their keys.
    asked: std::sync::atomic::AtomicUsize,
    /// The run's last progress, as `tasks/get` shows it.
    progress: Mutex<Option<String>>,
}

/// Where the progress of a run taken as a task goes: the call's progress
/// token stays the agent's for the task's life, and the notifications
/// reach its session's stream on whichever replica it is open.
pub(in crate::serve) struct ProgressTo {
    pub peer: rmcp::Peer<rmcp::RoleServer>,
    pub token: rmcp::model::ProgressToken,
    /// The HTTP session the call came in, if any.
    pub session: Option<String>,
}

/// The longest progress message `tasks/get` shows, in characters.
const MAX_SHOWN_PROGRESS: usize = 1024;

/// A run's progress as a task's status message.
fn progress_text(progress: f64, total: Option<f64>, message: Option<&str>) -> String {
    let count = match total {
        Some(total) => format!("progress {progress} of {total}"),
        None => format!("progress {progress}"),
    };
    match message {
        Some(m) => format!(
            "{count}: {}",
            m.chars().take(MAX_SHOWN_PROGRESS).collect::<String>()
        ),
        None => count,
    }
}

type Reply = tokio::sync::oneshot::Sender<Result<Value, ErrorData>>;

/// The most questions one run task holds unanswered; past it, the run's
/// next question is refused.
const MAX_WAITING: usize = 64;

impl RunTask {
    /// Holds a question for `tasks/get` to show and `tasks/update` to
    /// answer.
    fn hold(&self, request: InputRequest, reply: Reply) {
        let mut waiting = self.waiting.lock();
        if waiting.len() >= MAX_WAITING {
            let _ = reply.send(Err(ErrorData::invalid_request(
                "the run has too many questions waiting for the agent",
                None,
            )));
            return;
        }
        let n = self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        waiting.push((format!("weft-{n}"), request, reply));
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether `caller` may see a task owned by `owner`.
fn owns(caller: &Caller, owner: Option<&str>) -> bool {
    caller.tenant.as_ref().map(|t| t.name.as_str()) == owner
        && authz::allowed(caller, &Resource::Task { owner })
}

impl RunTask {
    /// The questions the run waits on, as `tasks/get` shows them.
    fn questions(&self) -> Option<TaskPayload> {
        let mut waiting = self.waiting.lock();
        // A question whose run stopped waiting is no longer asked.
        waiting.retain(|(_, _, reply)| !reply.is_closed());
        if waiting.is_empty() {
            return None;
        }
        let mut input_requests = InputRequests::new();
        for (key, request, _) in waiting.iter() {
            input_requests.insert(key.clone(), request.clone());
        }
        Some(TaskPayload::InputRequired { input_requests })
    }
}

impl RunTasks {
    /// Whether this process holds `caller`'s run task `id`.
    pub(in crate::serve) fn holds(&self, caller: &Caller, id: &str) -> bool {
        self.runs
            .lock()
            .get(id)
            .is_some_and(|t| owns(caller, t.owner.as_deref()))
    }

    fn forget_old(&self) {
        let mut runs = self.runs.lock();
        if runs.len() <= MAX_KEPT {
            return;
        }
        let mut finished: Vec<(String, String)> = runs
            .iter()
            .filter_map(|(id, t)| t.done.get().map(|(_, at)| (at.clone(), id.clone())))
            .collect();
        finished.sort();
        let excess = runs.len() - MAX_KEPT;
        for (_, id) in finished.into_iter().take(excess) {
            runs.remove(&id);
        }
    }
}

/// Runs `work` (a policy or code run, which announces its run id on
/// `rx`) for `caller`: its answer if it ends within [`TASK_AFTER`] (or
/// it has no run id: no journal), else a task named by its run id, the
/// run going on in the background. Progress and logs reach the agent
/// while it waits, as `relay` passes them on; the agent's cancel of the
/// request while it waits stops the run.
pub(in crate::serve) async fn offer<F, Fut>(
    gw: &Arc<Gateway>,
    caller: &Caller,
    cancelled: &tokio_util::sync::CancellationToken,
    work: Work,
    mut rx: mpsc::UnboundedReceiver<RelayMsg>,
    relay: F,
    progress_to: Option<ProgressTo>,
) -> Result<CallToolResponse, ErrorData>
where
    F: Fn(RelayMsg) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let slot: Arc<OnceLock<Arc<RunTask>>> = Arc::new(OnceLock::new());
    let mut handle = tokio::spawn({
        let slot = slot.clone();
        async move {
            let out = work.await;
            // Taken as a task: keep the answer for `tasks/get`.
            if let Some(task) = slot.get() {
                let _ = task.done.set((out.clone(), now()));
            }
            out
        }
    });
    let deadline = tokio::time::sleep(TASK_AFTER);
    tokio::pin!(deadline);
    let mut run_id: Option<String> = None;
    // A question asked before the run is a task makes it one at once.
    let mut early = None;
    let id = loop {
        tokio::select! {
            biased;
            _ = cancelled.cancelled() => {
                // As on the plain path: the agent's cancel stops the run.
                handle.abort();
                return Err(ErrorData::internal_error("cancelled by the client", None));
            }
            joined = &mut handle => {
                return joined.unwrap_or_else(|e| {
                    Err(ErrorData::internal_error(format!("the run failed: {e}"), None))
                });
            }
            Some(msg) = rx.recv() => match msg {
                RelayMsg::Run(id) => run_id = Some(id),
                RelayMsg::Ask { request, reply } if run_id.is_some() => {
                    early = Some((*request, reply));
                    if let Some(id) = run_id.take() {
                        break id;
                    }
                }
                other => relay(other).await,
            },
            _ = &mut deadline, if run_id.is_some() => {
                if let Some(id) = run_id.take() {
                    break id;
                }
            }
        }
    };
    let created_at = now();
    let task = Arc::new(RunTask {
        owner: caller.tenant.as_ref().map(|t| t.name.clone()),
        created_at: created_at.clone(),
        done: OnceLock::new(),
        cancelled: Default::default(),
        abort: handle.abort_handle(),
        waiting: Mutex::default(),
        asked: Default::default(),
        progress: Mutex::default(),
    });
    if let Some((request, reply)) = early {
        task.hold(request, reply);
    }
    let _ = slot.set(task.clone());
    // The run may have ended between the deadline and now.
    if handle.is_finished() {
        return handle.await.unwrap_or_else(|e| {
            Err(ErrorData::internal_error(
                format!("the run failed: {e}"),
                None,
            ))
        });
    }
    gw.run_tasks.runs.lock().insert(id.clone(), task.clone());
    gw.run_tasks.forget_old();
    gw.home_task(task.owner.as_deref(), &id).await;
    // Later questions wait on the task; progress shows in `tasks/get` and
    // goes to the agent's stream under the call's token; logs have nobody
    // to go to.
    let asking = task.clone();
    let gw = gw.clone();
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            match msg {
                RelayMsg::Ask { request, reply } => asking.hold(*request, reply),
                RelayMsg::Progress {
                    progress,
                    total,
                    message,
                } => {
                    *asking.progress.lock() =
                        Some(progress_text(progress, total, message.as_deref()));
                    if let Some(to) = &progress_to {
                        let mut p =
                            rmcp::model::ProgressNotificationParam::new(to.token.clone(), progress);
                        p.total = total;
                        p.message = message;
                        gw.peers.progress(to.session.as_deref(), &to.peer, p).await;
                    }
                }
                _ => {}
            }
        }
    });
    tracing::info!(run = %id, "the run goes on as a task");
    let seed = Task::new(id, TaskStatus::Working, created_at.clone(), created_at)
        .with_poll_interval_ms(POLL_MS)
        .with_status_message("the run is working; poll tasks/get with this id");
    Ok(CallToolResponse::Task(CreateTaskResult::new(seed)))
}

/// Takes a run this process resumed from the journal as a task of its
/// owner's: `tasks/get` shows its questions (a resumed run asks again;
/// it never assumes an earlier answer) and `tasks/update` answers them,
/// as for a run taken as a task here. `start` gets the caller that asks
/// through the task; once the run ends, the journal answers for it.
pub(in crate::serve) fn adopt<F, Fut>(gw: &Arc<Gateway>, caller: &Caller, id: &str, start: F)
where
    F: FnOnce(Caller) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slot: Arc<OnceLock<Arc<RunTask>>> = Arc::new(OnceLock::new());
    let asks = slot.clone();
    let asker = crate::approval::Asker::new(
        // Whoever polls the task answers; unanswered, the approval times out.
        true,
        Arc::new(move |request| {
            let asks = asks.clone();
            Box::pin(async move {
                let task = asks.get().cloned().ok_or_else(|| {
                    ErrorData::internal_error("the resumed run is not a task yet", None)
                })?;
                let (reply, answer) = tokio::sync::oneshot::channel();
                task.hold(request, reply);
                answer.await.map_err(|_| {
                    ErrorData::internal_error("the question was dropped unanswered", None)
                })?
            })
        }),
    );
    let work = start(caller.clone().asking(asker));
    // The run starts once its task is in place to take its questions.
    let (go, ready) = tokio::sync::oneshot::channel::<()>();
    let (runs, key) = (gw.clone(), id.to_string());
    let handle = tokio::spawn(async move {
        if ready.await.is_ok() {
            work.await;
        }
        runs.run_tasks.runs.lock().remove(&key);
    });
    let task = Arc::new(RunTask {
        owner: caller.tenant.as_ref().map(|t| t.name.clone()),
        created_at: now(),
        done: OnceLock::new(),
        cancelled: Default::default(),
        abort: handle.abort_handle(),
        waiting: Mutex::default(),
        asked: Default::default(),
        progress: Mutex::default(),
    });
    let _ = slot.set(task.clone());
    let (homes, tenant, key) = (gw.clone(), task.owner.clone(), id.to_string());
    gw.run_tasks.runs.lock().insert(id.to_string(), task);
    // Requests about it that reach another replica come here.
    tokio::spawn(async move { homes.home_task(tenant.as_deref(), &key).await });
    let _ = go.send(());
}

impl Gateway {
    /// `tasks/get` for a run taken as a task: from this process's own
    /// record while it has one, else from the journal. `None`: no run of
    /// `caller`'s by that id (ask the upstreams' tasks).
    pub(in crate::serve) async fn get_run_task(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Option<GetTaskResult> {
        let mine = self.run_tasks.runs.lock().get(id).cloned();
        if let Some(task) = mine {
            if !owns(caller, task.owner.as_deref()) {
                return None;
            }
            let cancelled = task.cancelled.load(std::sync::atomic::Ordering::SeqCst);
            let mut note = None;
            let (payload, updated) = match task.done.get() {
                None => {
                    note = task.progress.lock().clone();
                    (task.questions().unwrap_or(TaskPayload::Working), now())
                }
                Some((_, at)) if cancelled => (TaskPayload::Cancelled, at.clone()),
                Some((Ok(CallToolResponse::Complete(r)), at)) => (completed(r), at.clone()),
                Some((Ok(_), at)) => (
                    failed(ErrorData::internal_error("the run gave no result", None)),
                    at.clone(),
                ),
                Some((Err(e), at)) => (failed(e.clone()), at.clone()),
            };
            let mut base = Task::new(id, TaskStatus::Working, task.created_at.clone(), updated)
                .with_poll_interval_ms(POLL_MS);
            base.status_message = note;
            return Some(GetTaskResult::new(DetailedTask::new(base, payload)));
        }
        self.journal_task(caller, id).await
    }

    /// `tasks/update` for a run taken as a task: each answer goes to the
    /// question of its key. `None`: not a run task of `caller`'s here.
    pub(in crate::serve) fn update_run_task(
        &self,
        caller: &Caller,
        id: &str,
        mut answers: InputResponses,
    ) -> Option<Result<(), ErrorData>> {
        let task = self.run_tasks.runs.lock().get(id).cloned()?;
        if !owns(caller, task.owner.as_deref()) {
            return None;
        }
        let mut waiting = task.waiting.lock();
        if let Some(key) = answers
            .keys()
            .find(|k| !waiting.iter().any(|(w, _, _)| w == *k))
        {
            let shown: String = key.chars().take(64).collect();
            return Some(Err(ErrorData::invalid_params(
                format!("the task has no question waiting under {shown:?}"),
                None,
            )));
        }
        let mut kept = Vec::new();
        for (key, request, reply) in waiting.drain(..) {
            match answers.remove(&key) {
                Some(answer) => {
                    let _ = reply.send(Ok(answer));
                }
                None => kept.push((key, request, reply)),
            }
        }
        *waiting = kept;
        Some(Ok(()))
    }

    /// A run of the journal as a task: running is working, a finished run
    /// is completed with its output (or its error as a tool error).
    async fn journal_task(&self, caller: &Caller, id: &str) -> Option<GetTaskResult> {
        let backend = self.journal()?.clone();
        let wanted = id.to_string();
        let run = tokio::task::spawn_blocking(move || backend.run(&wanted))
            .await
            .ok()?
            .ok()?;
        if run.options.origin.as_deref() != Some(super::RUN_ORIGIN)
            || !owns(caller, run.options.tenant.as_deref())
        {
            return None;
        }
        let mut note = None;
        let payload = match run.status {
            Status::Running => {
                if !crate::journal::resumable::held(&run) {
                    note = Some(format!(
                        "interrupted: no weft holds the run now; `weft runs resume {id}` continues it"
                    ));
                }
                TaskPayload::Working
            }
            Status::Ok => {
                let output = run
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str::<Value>(o).ok())
                    .unwrap_or(Value::Null);
                completed(&output_result(output))
            }
            other => {
                let why = run.error.clone().unwrap_or_default();
                completed(&CallToolResult::error(vec![ContentBlock::text(format!(
                    "{} {}: {why}",
                    run.policy,
                    other.as_str()
                ))]))
            }
        };
        let at = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let mut base = Task::new(
            id,
            TaskStatus::Working,
            at(run.started_at),
            at(run.updated_at),
        )
        .with_poll_interval_ms(POLL_MS);
        base.status_message = note;
        Some(GetTaskResult::new(DetailedTask::new(base, payload)))
    }

    /// `tasks/cancel` for a run of this process taken as a task: the run
    /// stops where it is, and its journal marks it ended so that no
    /// resume takes it up. `None`: not a run task of `caller`'s here.
    pub(in crate::serve) async fn cancel_run_task(&self, caller: &Caller, id: &str) -> Option<()> {
        let task = self.run_tasks.runs.lock().get(id).cloned()?;
        if !owns(caller, task.owner.as_deref()) {
            return None;
        }
        if task.done.get().is_none() {
            task.cancelled
                .store(true, std::sync::atomic::Ordering::SeqCst);
            task.abort.abort();
            let cancelled = Err(ErrorData::internal_error("cancelled by the agent", None));
            let _ = task.done.set((cancelled, now()));
            if let Some(backend) = self.journal().cloned() {
                let id = id.to_string();
                let _ = tokio::task::spawn_blocking(move || {
                    backend.set_status(&id, Status::Error, Some("cancelled by the agent"))
                })
                .await;
            }
        }
        Some(())
    }
}

/// A policy's output as the tool result `run_loaded` makes of it.
pub(in crate::serve) fn output_result(output: Value) -> CallToolResult {
    match output {
        Value::Object(_) => CallToolResult::structured(output),
        Value::String(s) => CallToolResult::success(vec![ContentBlock::text(s)]),
        other => CallToolResult::success(vec![ContentBlock::text(other.to_string())]),
    }
}

fn completed(result: &CallToolResult) -> TaskPayload {
    let result: JsonObject = match serde_json::to_value(result) {
        Ok(Value::Object(o)) => o,
        _ => JsonObject::new(),
    };
    TaskPayload::Completed { result }
}

fn failed(e: ErrorData) -> TaskPayload {
    let error: JsonObject = match serde_json::to_value(&e) {
        Ok(Value::Object(o)) => o,
        _ => JsonObject::new(),
    };
    TaskPayload::Failed { error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_as_a_status_message() {
        assert_eq!(
            progress_text(2.0, Some(3.0), Some("step 2")),
            "progress 2 of 3: step 2"
        );
        assert_eq!(progress_text(0.5, None, None), "progress 0.5");
        let long = progress_text(1.0, None, Some(&"x".repeat(5000)));
        assert_eq!(
            long.chars().count(),
            "progress 1: ".len() + MAX_SHOWN_PROGRESS
        );
    }
}
