//! The error every tool call can end in, with a kind that agents and guests
//! branch on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a call failed. The same kinds cross the WIT boundary to guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// No such server, tool, resource or prompt (or hidden by a filter).
    NotFound,
    /// A grant does not allow the call.
    Denied,
    /// The upstream refused the arguments (JSON-RPC -32602).
    InvalidArgs,
    /// The call took longer than the server's timeout.
    Timeout,
    /// The upstream asked to slow down.
    RateLimited,
    /// The server is not running, crashed, or its transport failed.
    Unavailable,
    /// The tool ran and reported an error (`isError: true`).
    ToolError,
    /// A weft limit (fuel, time, memory, calls, output) was hit.
    LimitExceeded,
    /// The call needed a person's approval and did not get it: declined,
    /// cancelled, not answered in time, or nobody could be asked. The
    /// server never saw the call.
    Declined,
    /// Anything else: a protocol error or a bug.
    Internal,
}

impl ErrorKind {
    /// The kebab-case name used in JSON and in the WIT enum.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::Denied => "denied",
            ErrorKind::InvalidArgs => "invalid-args",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::ToolError => "tool-error",
            ErrorKind::LimitExceeded => "limit-exceeded",
            ErrorKind::Declined => "declined",
            ErrorKind::Internal => "internal",
        }
    }
}

impl ErrorKind {
    /// Reads the kebab-case name back.
    pub fn parse(s: &str) -> Option<ErrorKind> {
        [
            ErrorKind::NotFound,
            ErrorKind::Denied,
            ErrorKind::InvalidArgs,
            ErrorKind::Timeout,
            ErrorKind::RateLimited,
            ErrorKind::Unavailable,
            ErrorKind::ToolError,
            ErrorKind::LimitExceeded,
            ErrorKind::Declined,
            ErrorKind::Internal,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call, naming what was called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{server}/{tool}: {kind}: {message}")]
pub struct CallError {
    /// What kind of failure it was; agents and guests branch on it.
    pub kind: ErrorKind,
    /// A human-readable account of what went wrong.
    pub message: String,
    /// The configured name of the server called; empty when none was found.
    pub server: String,
    /// The tool's name on that server (the exposed name when it was not found).
    pub tool: String,
    /// The full MCP result for `tool-error`, so nothing the tool said is lost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<rmcp::model::CallToolResult>>,
    /// The JSON-RPC error the server answered with, if it answered with
    /// one, so a gateway can pass it on unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc: Option<Box<rmcp::model::ErrorData>>,
    /// For `rate-limited`: how long to wait before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The call was outside the caller's view or grants and is answered
    /// as an unknown name would be (`kind` is then `not-found`); the audit
    /// log still records it as `denied`. Never sent to anyone.
    #[serde(skip)]
    pub hidden: bool,
}

impl CallError {
    /// An error of `kind` for `server`'s `tool`, with nothing else attached.
    pub fn new(kind: ErrorKind, server: &str, tool: &str, message: impl Into<String>) -> Self {
        CallError {
            kind,
            message: message.into(),
            server: server.to_string(),
            tool: tool.to_string(),
            result: None,
            rpc: None,
            retry_after_ms: None,
            hidden: false,
        }
    }

    /// The outcome the audit log records: `denied` for a hidden refusal.
    pub fn audit_outcome(&self) -> &'static str {
        if self.hidden {
            ErrorKind::Denied.as_str()
        } else {
            self.kind.as_str()
        }
    }
}

/// How many characters of an agent's or guest's name weft quotes back.
pub const SHOWN_CHARS: usize = 64;

/// `text` quoted as a Rust string literal, cut to [`SHOWN_CHARS`]
/// characters with `…` after the cut: what weft echoes of any name it was
/// given, so an answer never carries unbounded input back.
pub fn quote(text: &str) -> String {
    let mut chars = text.char_indices();
    match chars.nth(SHOWN_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_cuts_long_names_on_a_character_boundary() {
        assert_eq!(quote("echo"), "\"echo\"");
        let long = "é".repeat(10_000);
        let shown = quote(&long);
        assert_eq!(shown, format!("{:?}…", "é".repeat(SHOWN_CHARS)));
        assert_eq!(
            quote(&"a".repeat(SHOWN_CHARS)),
            format!("{:?}", "a".repeat(SHOWN_CHARS))
        );
    }

    #[test]
    fn a_hidden_refusal_is_audited_as_denied() {
        let mut e = CallError::new(ErrorKind::NotFound, "s", "t", "m");
        assert_eq!(e.audit_outcome(), "not-found");
        e.hidden = true;
        assert_eq!(e.audit_outcome(), "denied");
    }
}
