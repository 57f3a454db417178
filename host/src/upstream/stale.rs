//! A request that a kept-alive connection was closed under: when it may
//! be sent again (see `docs/decisions.md`). Both HTTP transports ask
//! here: weft's own (`streamable.rs`) and the one under rmcp's
//! (`oauth/authed.rs`).

/// Whether a send failed because a kept-alive connection was closed under
/// it: the server closed it with no answer begun (hyper's "incomplete
/// message"), or reset it. A server that closes an idle connection as
/// weft reuses it has not read the request, so a message that does no
/// harm twice may be sent again, once, on a new connection. A refused
/// connection or a timeout is not this.
pub fn went_stale(error: &reqwest::Error) -> bool {
    if error.is_connect() || error.is_timeout() || !error.is_request() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && h.is_incomplete_message()
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            )
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// Whether `message` may be sent again after [`went_stale`]: anything but
/// a `tools/call`, whose tool might act twice.
pub fn repeatable(message: &rmcp::model::ClientJsonRpcMessage) -> bool {
    !matches!(
        message,
        rmcp::model::JsonRpcMessage::Request(r)
            if matches!(r.request, rmcp::model::ClientRequest::CallToolRequest(_))
    )
}
