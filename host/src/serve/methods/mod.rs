//! The MCP methods of a [`Session`](super::Session): the rmcp
//! `ServerHandler` in [`handler`], and beside it prompts and completions,
//! resources and their subscriptions (shared upstream across agents), the
//! tasks extension's bookkeeping, an agent's roots, and change
//! notifications.
//!
//! It may import [`calls`](super::calls) (a `tools/call` is handed there),
//! [`view`](super::view) and [`refusal`](super::refusal); the HTTP edge
//! is not its business.

pub(super) mod handler;
pub(super) mod notify;
pub(super) mod peers;
pub(super) mod prompts;
pub(super) mod resources;
pub(super) mod roots;
pub(super) mod subs;
pub(super) mod tasks;
