//! Driving one agent's `tools/call` to its end: a catalog tool through the
//! router, a policy run, code mode's submitted source, or a meta tool;
//! with progress, logs, the upstream's requests for input and
//! cancellation relayed; as a durable run in the journal when runs are
//! journaled, and as an MCP task when it outlives its request.
//! [`direct`] answers a stateless call without rmcp's per-request service,
//! and [`session_call`] a session's plain call without its session worker.
//!
//! It owns the call's life. It may import [`view`](super::view) (what the
//! caller may call) and the shared [`intake`](super::intake) and
//! [`refusal`](super::refusal); it knows nothing of HTTP connections or of
//! the rmcp handler.

pub(crate) mod call;
pub(super) mod call_body;
pub(super) mod code_call;
pub(super) mod direct;
pub mod durable;
pub(super) mod interpreter;
pub(super) mod own_stream;
pub(super) mod replay;
pub(super) mod run_call;
pub(super) mod run_tasks;
pub(super) mod session_call;
pub(super) mod tool_call;

/// `RunOptions::origin` of a run started by `weft serve` (a durable run
/// `durable` starts and resumes, and `run_tasks` answers for).
pub(in crate::serve) const RUN_ORIGIN: &str = "serve";
