//! What the streamable HTTP transport reads off a JSON-RPC message: a
//! request's id, the request a cancellation names, and whether a refusal
//! names the 2026-07-28 era.

use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, JsonRpcMessage, RequestId, ServerJsonRpcMessage,
};

/// Whether a refused probe is an "unsupported protocol version" error
/// (-32022) whose `data.supported` names 2026-07-28.
pub(super) fn names_modern_version(message: &ServerJsonRpcMessage) -> bool {
    let JsonRpcMessage::Error(e) = message else {
        return false;
    };
    e.error.code.0 == -32022
        && e.error
            .data
            .as_ref()
            .and_then(|d| d.get("supported"))
            .and_then(|s| s.as_array())
            .is_some_and(|s| s.iter().any(|v| v == "2026-07-28"))
}

/// The id of a request.
pub(super) fn request_id(message: &ClientJsonRpcMessage) -> Option<RequestId> {
    match message {
        JsonRpcMessage::Request(r) => Some(r.id.clone()),
        _ => None,
    }
}

/// The request a `notifications/cancelled` cancels.
pub(super) fn cancelled_id(message: &ClientJsonRpcMessage) -> Option<RequestId> {
    match message {
        JsonRpcMessage::Notification(n) => match &n.notification {
            ClientNotification::CancelledNotification(c) => c.params.request_id.clone(),
            _ => None,
        },
        _ => None,
    }
}
