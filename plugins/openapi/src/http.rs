//! Sends a [`Request`] through the host's `wasi:http/outgoing-handler`:
//! weft checks it against the server's `egress` list, adds the headers its
//! config injects, and bounds its time and response size.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

use crate::request::Request;

/// The most bytes of a response body read (weft's own cap,
/// `limits.max_response`, is usually lower).
const MAX_BODY: usize = 16 << 20;

/// A response: status, content type, body.
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// Sends `req` and reads the whole answer.
pub fn send(req: &Request) -> Result<Response, String> {
    let fail = |what: &str, e: String| format!("{} {}: {what}: {e}", req.method, req.url());
    let refused = |e: &ErrorCode| format!("{} {}: {}", req.method, req.url(), reason(e));
    let headers = Fields::new();
    for (name, value) in &req.headers {
        headers.append(name, value.as_bytes()).map_err(|e| {
            fail(
                &format!("the header {name:?} cannot be set"),
                format!("{e:?}"),
            )
        })?;
    }
    let outgoing = OutgoingRequest::new(headers);
    let method = match req.method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        other => Method::Other(other.to_string()),
    };
    let scheme = if req.scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let bad = |what: &str| fail(what, "refused by wasi:http".into());
    outgoing
        .set_method(&method)
        .map_err(|()| bad("the method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("the scheme"))?;
    outgoing
        .set_authority(Some(&req.authority))
        .map_err(|()| bad("the host"))?;
    outgoing
        .set_path_with_query(Some(&req.path))
        .map_err(|()| bad("the path"))?;
    let body = outgoing.body().map_err(|()| bad("the request body"))?;
    let future = outgoing_handler::handle(outgoing, None).map_err(|e| refused(&e))?;
    {
        let stream = body.write().map_err(|()| bad("the request body stream"))?;
        if let Some(bytes) = &req.body {
            // blocking_write_and_flush takes at most 4096 bytes at a time.
            for chunk in bytes.chunks(4096) {
                stream
                    .blocking_write_and_flush(chunk)
                    .map_err(|e| fail("sending the body", format!("{e:?}")))?;
            }
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| fail("sending the body", reason(&e)))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(r))) => r,
        Some(Ok(Err(e))) => return Err(refused(&e)),
        other => return Err(fail("failed", format!("{other:?}"))),
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let incoming = response.consume().map_err(|()| bad("the response body"))?;
    let mut read = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| bad("the response body stream"))?;
        while let Ok(chunk) = stream.blocking_read(64 << 10) {
            read.extend_from_slice(&chunk);
            if read.len() > MAX_BODY {
                return Err(fail("the response", format!("it is over {MAX_BODY} bytes")));
            }
        }
    }
    Ok(Response {
        status,
        content_type,
        body: read,
    })
}

/// The host's reason, as plain text when it gave one.
fn reason(e: &ErrorCode) -> String {
    match e {
        ErrorCode::InternalError(Some(m)) => m.clone(),
        other => format!("{other:?}"),
    }
}
