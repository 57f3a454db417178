//! One run's journal: numbers its events, writes them in order, and on a
//! resume answers them from the journal until it runs out, then goes live.
//!
//! Every event takes the next sequence number and is queued for the
//! backend under one lock, so the backend stores them in the order the
//! guest made them. A call's intent is waited on (stored) before the call
//! goes out; its result, clock reads, listings and logs are queued without
//! waiting: they are stored with the next intent (or the run's end) at the
//! latest, and a crash that loses them loses nothing outside.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::model::{CallOutcome, CallRequest, Event, Kind, RunRecord, Status, now_us};
use super::store::{Backend, JournalError, Op};

/// What to do with a call.
pub enum Step {
    /// Answer it with its recorded outcome.
    Replay(Box<CallOutcome>),
    /// Send it: its intent (sequence `seq`) is queued; `intent`, for an
    /// urgent one, hears when it is stored. `n` counts the calls this
    /// process sent (from 1).
    Live {
        /// The sequence number of the call's event.
        seq: u64,
        /// Which call this process is sending, counting from 1.
        n: u32,
        /// Hears when the intent is stored, if the caller asked to wait.
        intent: Option<oneshot::Receiver<Result<(), JournalError>>>,
    },
    /// The replay has left the journal's path: stop the run.
    Diverged(String),
}

/// When a call's result is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// At once, and the caller waits until it is.
    Waited,
    /// Within microseconds (with the next write, if one comes that soon),
    /// nobody waiting.
    Soon,
    /// With the next write somebody waits on.
    WithNext,
}

type Acked = (
    Option<super::store::Ack>,
    Option<oneshot::Receiver<Result<(), JournalError>>>,
);

impl Store {
    /// The write's acknowledgement, and its receiver if somebody waits.
    fn ack(self) -> Acked {
        match self {
            Store::Waited => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            Store::Soon => {
                // An acknowledgement nobody hears: the queue's mark of an
                // urgent write whose waiter has gone on.
                let (tx, _) = oneshot::channel();
                (Some(tx), None)
            }
            Store::WithNext => (None, None),
        }
    }
}

struct State {
    next_seq: u64,
    /// Recorded events not yet replayed.
    replay: VecDeque<Event>,
    /// Why the replay differs from the journal, once it does.
    diverged: Option<String>,
}

/// The journal of one run.
pub struct Recorder {
    run: String,
    backend: Arc<dyn Backend>,
    state: Mutex<State>,
    /// Calls in doubt that may be sent again (safe to repeat, or settled
    /// as not done).
    resend: HashSet<u64>,
    sent: AtomicU32,
    pub(super) seed: [u8; 32],
    /// What the monotonic clock adds to the time since this process began
    /// the run, so that it never goes back behind a replayed reading.
    pub(super) mono_offset: u64,
    pub(super) mono_origin: std::time::Instant,
}

impl Recorder {
    /// A new run's journal; its row must be stored with [`Recorder::create`].
    pub fn new(backend: Arc<dyn Backend>, run: &RunRecord) -> Recorder {
        Recorder::resume(backend, run, Vec::new(), HashSet::new())
    }

    /// The journal of a run being resumed: `events` are replayed in order,
    /// and the calls in doubt in `resend` are sent again when reached.
    pub fn resume(
        backend: Arc<dyn Backend>,
        run: &RunRecord,
        events: Vec<Event>,
        resend: HashSet<u64>,
    ) -> Recorder {
        let mono_offset = events
            .iter()
            .filter(|e| e.kind == Kind::Monotonic)
            .filter_map(|e| e.result.as_deref()?.parse::<u64>().ok())
            .max()
            .map_or(0, |m| m.saturating_add(1));
        Recorder {
            run: run.id.clone(),
            backend,
            state: Mutex::new(State {
                next_seq: 0,
                replay: events.into(),
                diverged: None,
            }),
            resend,
            sent: AtomicU32::new(0),
            seed: super::model::seed_bytes(&run.seed),
            mono_offset,
            mono_origin: std::time::Instant::now(),
        }
    }

    /// The id of the run this journal records.
    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// Stores the run's row, before anything else.
    pub async fn create(&self, run: RunRecord) -> Result<(), JournalError> {
        let (tx, rx) = oneshot::channel();
        self.backend.submit(Op::CreateRun(Box::new(run)), Some(tx));
        wait(rx).await
    }

    /// Takes the next step of a call: replay it, or queue its intent, to
    /// be stored as `when` says (`intent` is the receiver of
    /// [`Store::Waited`]).
    pub fn begin_call(&self, request: &CallRequest, when: Store) -> Step {
        let mut state = self.state.lock();
        if let Some(why) = &state.diverged {
            return Step::Diverged(why.clone());
        }
        let text = request.to_json();
        let seq = match state.replay.pop_front() {
            Some(e) if e.kind == Kind::Call && e.request == text => {
                state.next_seq = e.seq + 1;
                match e.result.as_deref() {
                    Some(result) => match serde_json::from_str::<CallOutcome>(result) {
                        Ok(outcome) => return Step::Replay(Box::new(outcome)),
                        Err(err) => {
                            let why = format!(
                                "the journal's result of call #{} ({}) is unreadable: {err}",
                                e.seq,
                                request.describe()
                            );
                            state.diverged = Some(why.clone());
                            return Step::Diverged(why);
                        }
                    },
                    None if self.resend.contains(&e.seq) => e.seq,
                    None => {
                        let why = format!(
                            "call #{} ({}) is in doubt and was not settled",
                            e.seq,
                            request.describe()
                        );
                        state.diverged = Some(why.clone());
                        return Step::Diverged(why);
                    }
                }
            }
            Some(e) => {
                let why = difference(&e, Kind::Call, &text);
                state.diverged = Some(why.clone());
                return Step::Diverged(why);
            }
            None => {
                let seq = state.next_seq;
                state.next_seq += 1;
                seq
            }
        };
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        super::crash::point(super::crash::Point::BeforeIntent, n);
        let intent = self.call_intent(seq, text, None, when);
        Step::Live { seq, n, intent }
    }

    /// Queues call `seq`'s intent (its row without a result), marked
    /// `resolution`, to be stored as `when` says.
    fn call_intent(
        &self,
        seq: u64,
        request: String,
        resolution: Option<super::model::Resolution>,
        when: Store,
    ) -> Option<oneshot::Receiver<Result<(), JournalError>>> {
        let (tx, rx) = when.ack();
        let event = Event {
            seq,
            kind: Kind::Call,
            request,
            result: None,
            resolution,
            started_at: now_us(),
            finished_at: None,
        };
        self.backend.submit(
            Op::Event {
                run: self.run.clone(),
                event,
            },
            tx,
        );
        rx
    }

    /// Marks call `seq` (its intent already queued) as waiting for a
    /// person's approval, not sent (a resume sends it again, and so asks
    /// again), or, `approved`, as about to be sent (in doubt again should
    /// the run stop now). Each mark is stored before the question is asked
    /// or the call goes out: the receiver hears when.
    pub fn approval(
        &self,
        seq: u64,
        request: &CallRequest,
        approved: bool,
    ) -> Option<oneshot::Receiver<Result<(), JournalError>>> {
        // Both are waited for: the mark before the person is asked (a
        // crash once the question is out must find the call not sent),
        // the yes before the call goes out.
        let mark = (!approved).then_some(super::model::Resolution::NotDone);
        self.call_intent(seq, request.to_json(), mark, Store::Waited)
    }

    /// Queues a call's result, to be stored as `when` says; the receiver
    /// (for [`Store::Waited`]) hears when it is.
    pub fn end_call(
        &self,
        seq: u64,
        outcome: &CallOutcome,
        when: Store,
    ) -> Option<oneshot::Receiver<Result<(), JournalError>>> {
        let (tx, rx) = when.ack();
        let result = serde_json::to_string(outcome).unwrap_or_default();
        self.backend.submit(
            Op::Result {
                run: self.run.clone(),
                seq,
                result,
                finished_at: now_us(),
            },
            tx,
        );
        rx
    }

    /// An event without side effects (a clock read, a listing, a log
    /// line): replayed from the journal, or `live()` recorded. A replay
    /// that differs marks the run as diverged and answers live.
    pub fn observe(&self, kind: Kind, request: &str, live: impl FnOnce() -> String) -> String {
        let mut state = self.state.lock();
        if state.diverged.is_some() {
            return live();
        }
        match state.replay.pop_front() {
            Some(e) if e.kind == kind && e.request == request => {
                state.next_seq = e.seq + 1;
                if let Some(result) = e.result {
                    return result;
                }
                let why = format!("the journal's {} #{} has no result", kind.as_str(), e.seq);
                state.diverged = Some(why);
                live()
            }
            Some(e) => {
                state.diverged = Some(difference(&e, kind, request));
                live()
            }
            None => {
                let seq = state.next_seq;
                state.next_seq += 1;
                let result = live();
                let at = now_us();
                self.backend.submit(
                    Op::Event {
                        run: self.run.clone(),
                        event: Event {
                            seq,
                            kind,
                            request: request.to_string(),
                            result: Some(result.clone()),
                            resolution: None,
                            started_at: at,
                            finished_at: Some(at),
                        },
                    },
                    None,
                );
                result
            }
        }
    }

    /// Why the replay left the journal's path, if it did; also when the
    /// run ended with recorded events left over.
    pub fn divergence(&self) -> Option<String> {
        let state = self.state.lock();
        if let Some(why) = &state.diverged {
            return Some(why.clone());
        }
        state.replay.front().map(|e| {
            format!(
                "the run ended, but the journal holds {} more event(s), from {} #{} ({})",
                state.replay.len(),
                e.kind.as_str(),
                e.seq,
                shown(&e.request)
            )
        })
    }

    /// Stores the run's end, and waits until it is stored.
    pub async fn finish(
        &self,
        status: Status,
        output: Option<String>,
        error: Option<String>,
    ) -> Result<(), JournalError> {
        let (tx, rx) = oneshot::channel();
        self.backend.submit(
            Op::Finish {
                run: self.run.clone(),
                status,
                output,
                error,
            },
            Some(tx),
        );
        wait(rx).await
    }
}

/// Waits for a queued write to be stored.
pub async fn wait(rx: oneshot::Receiver<Result<(), JournalError>>) -> Result<(), JournalError> {
    rx.await
        .unwrap_or_else(|_| Err(JournalError::Stopped("its writer ended".into())))
}

/// How a replayed event differs from the journal's.
fn difference(recorded: &Event, kind: Kind, request: &str) -> String {
    format!(
        "nondeterministic: at event #{} the journal has {} {} but the run now makes {} {}",
        recorded.seq,
        recorded.kind.as_str(),
        shown(&recorded.request),
        kind.as_str(),
        shown(request)
    )
}

fn shown(text: &str) -> String {
    let mut text = text.to_string();
    crate::util::truncate(&mut text, 300);
    if text.is_empty() { "()".into() } else { text }
}
