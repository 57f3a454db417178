//! `weft serve --http`: the listener and its defences against slow and
//! greedy clients, the guard every request passes (tenant keys, agents'
//! OAuth tokens, admin routes, quotas), Host and Origin checks, whose each
//! HTTP session is, key-file reload, the legacy HTTP+SSE transport, and
//! how an answer leaves (one write when it is ready at once).
//!
//! It may import every other room: stateless calls go straight to
//! [`calls`](super::calls), `tools/list` to [`view`](super::view), the
//! operator's pages to [`console`](super::console). Nothing outside it
//! imports it but `serve`'s own entry point, [`serve_http`].

pub(super) mod admit;
pub(super) mod agent_auth;
pub(super) mod coalesce;
pub(super) mod forward;
pub(super) mod head_timer;
pub(super) mod held;
pub(super) mod http;
pub(super) mod keywatch;
pub(super) mod legacy_sse;
pub(super) mod listener;
pub(super) mod origin;
pub(super) mod relay;
pub(super) mod self_wake;
pub(super) mod sessions;
pub(super) mod shared_sessions;
pub(super) mod shortcut;
pub(super) mod status_pins;

pub use http::{HttpOptions, serve_http};
