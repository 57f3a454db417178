//! rmcp's failures as kinded [`CallError`]s. Where rmcp or the upstream
//! says what happened only in words, the words are read by
//! [`crate::phrases`], nowhere else.

use rmcp::model::CallToolResult;
use rmcp::service::ServiceError;

use crate::error::{CallError, ErrorKind};
use crate::phrases::{Phrase, says};

/// JSON-RPC error codes weft branches on.
const INVALID_PARAMS: i32 = -32602;
const METHOD_NOT_FOUND: i32 = -32601;
const RESOURCE_NOT_FOUND: i32 = -32002;

/// Turns an rmcp failure into a kinded error.
pub fn classify(error: ServiceError, server: &str, tool: &str) -> CallError {
    let mut rpc = None;
    let (kind, message) = match error {
        ServiceError::McpError(data) => {
            let code = data.code.0;
            let kind = if says(&data.message, Phrase::RateLimit) {
                ErrorKind::RateLimited
            } else if code == INVALID_PARAMS && says(&data.message, Phrase::UnknownTool) {
                ErrorKind::NotFound
            } else if code == INVALID_PARAMS {
                ErrorKind::InvalidArgs
            } else if code == METHOD_NOT_FOUND || code == RESOURCE_NOT_FOUND {
                ErrorKind::NotFound
            } else {
                ErrorKind::Internal
            };
            let message = format!("{} (JSON-RPC {code})", data.message);
            rpc = Some(Box::new(data));
            (kind, message)
        }
        ServiceError::TransportClosed => (
            ErrorKind::Unavailable,
            "the connection to the server closed".into(),
        ),
        // An HTTP server's 429 is a request to slow down, not an outage.
        ServiceError::TransportSend(e) if says(&e.to_string(), Phrase::Http429) => (
            ErrorKind::RateLimited,
            format!("the server answered 429 Too Many Requests: {e}"),
        ),
        // An answer that could not be read fails this call only: the
        // server answered, so it is up and is not restarted.
        ServiceError::TransportSend(e) if crate::upstream::http::is_bad_answer(&e) => (
            ErrorKind::Internal,
            format!("the server's answer could not be read: {e}"),
        ),
        ServiceError::TransportSend(e) => (
            ErrorKind::Unavailable,
            format!("cannot send to the server: {e}"),
        ),
        ServiceError::Timeout { timeout } => (
            ErrorKind::Timeout,
            format!("no answer within {}", crate::util::fmt_duration(timeout)),
        ),
        ServiceError::Cancelled { reason } => (
            ErrorKind::Internal,
            format!(
                "cancelled: {}",
                reason.unwrap_or_else(|| "no reason given".into())
            ),
        ),
        other => (ErrorKind::Internal, other.to_string()),
    };
    let mut e = CallError::new(kind, server, tool, message);
    e.rpc = rpc;
    e
}

/// The text a failed tool gave, for the error message.
pub(crate) fn error_text(result: &CallToolResult) -> String {
    let text: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    if text.is_empty() {
        "the tool reported an error".into()
    } else {
        text.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ErrorCode, ErrorData};

    fn rpc(code: i32, message: &'static str) -> ServiceError {
        ServiceError::McpError(ErrorData::new(ErrorCode(code), message, None))
    }

    #[test]
    fn json_rpc_errors_get_their_kinds_and_travel_whole() {
        let cases = [
            (rpc(-32602, "Unknown tool: x"), ErrorKind::NotFound),
            (rpc(-32602, "bad input"), ErrorKind::InvalidArgs),
            (rpc(-32601, "no such method"), ErrorKind::NotFound),
            (rpc(-32002, "no such resource"), ErrorKind::NotFound),
            (rpc(-32000, "Rate limit exceeded"), ErrorKind::RateLimited),
            (rpc(-32603, "boom"), ErrorKind::Internal),
        ];
        for (error, kind) in cases {
            let e = classify(error, "s", "t");
            assert_eq!(e.kind, kind, "{}", e.message);
            assert!(e.rpc.is_some(), "the upstream's own error is kept");
        }
        let closed = classify(ServiceError::TransportClosed, "s", "t");
        assert_eq!(closed.kind, ErrorKind::Unavailable);
        assert!(closed.rpc.is_none());
    }
}
