//! Refusals at the HTTP edge, as JSON-RPC error objects.
//!
//! An agent's SDK reads the body of a non-2xx answer to a request as the
//! JSON-RPC answer to it; a body it cannot read as one becomes "internal
//! error", and what weft said (and when to retry) is lost. So every
//! refusal the edge makes carries `{"jsonrpc": "2.0", "id", "error"}`:
//! the request's id when its body was read, else `null`. The code is
//! -32000 less the status's distance from 400 (401 is -32001, 404
//! -32004, 413 -32013, 429 -32029), -32000 for a 5xx; `error.data` has
//! the HTTP status and, for a refusal that says when to retry,
//! `retryAfterMs`, with the `Retry-After` header (whole seconds) beside it.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// Marks a response as a refusal of the edge's own, for the audit log and
/// the metrics (see `admit::guard`).
#[derive(Debug, Clone, Copy)]
pub struct Refused {
    /// The outcome as recorded: `unauthorized`, `rate-limited`, ….
    pub outcome: &'static str,
}

/// The outcome recorded for a refusal with `status`.
pub fn outcome(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too-large",
        StatusCode::TOO_MANY_REQUESTS => "rate-limited",
        s if s.is_client_error() => "invalid-request",
        _ => "unavailable",
    }
}

/// The JSON-RPC error code for a refusal with `status`.
pub fn code(status: StatusCode) -> i64 {
    match status.as_u16() {
        s @ 400..=499 => -32000 - i64::from(s - 400),
        _ => -32000,
    }
}

/// The body of a refusal.
pub fn body(
    status: StatusCode,
    message: &str,
    id: Option<&Value>,
    retry: Option<Duration>,
) -> String {
    let mut data = json!({"httpStatus": status.as_u16()});
    if let Some(wait) = retry {
        data["retryAfterMs"] = json!(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1));
    }
    json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": {"code": code(status), "message": message, "data": data},
    })
    .to_string()
}

/// What a tenant over its rate is told: its rate, and when to retry.
pub fn over_rate_message(tenant: &crate::tenant::Tenant, wait: Duration) -> String {
    format!(
        "rate-limited: tenant {:?} is over its rate of {} calls a minute; retry after {}",
        tenant.name,
        tenant.limits.calls_per_minute.unwrap_or(0),
        crate::util::fmt_duration(wait)
    )
}

/// Takes a prompt's, a read's or a completion's call from its tenant's
/// rate, as the router's admission does for a tool call: the token the
/// HTTP edge took for the request, else (over stdio) one from the bucket
/// now. Over the rate, the JSON-RPC error the edge would answer (code
/// -32029, `retryAfterMs` in its data).
pub async fn charge(caller: &crate::tenant::Caller) -> Result<(), rmcp::model::ErrorData> {
    let Some(tenant) = &caller.tenant else {
        return Ok(());
    };
    caller.take_call().await.map_err(|wait| {
        let status = StatusCode::TOO_MANY_REQUESTS;
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        rmcp::model::ErrorData::new(
            rmcp::model::ErrorCode(i32::try_from(code(status)).unwrap_or(-32000)),
            over_rate_message(tenant, wait),
            Some(json!({"httpStatus": status.as_u16(), "retryAfterMs": ms})),
        )
    })
}

/// `Retry-After` for `wait`: whole seconds, at least one.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

/// A refusal with `status`, for a request whose id is `id` (when read),
/// with `Retry-After` when `retry` is given.
pub fn response(
    status: StatusCode,
    message: &str,
    id: Option<&Value>,
    retry: Option<Duration>,
) -> Response {
    let mut r = (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body(status, message, id, retry),
    )
        .into_response();
    r.extensions_mut().insert(Refused {
        outcome: outcome(status),
    });
    if let Some(wait) = retry
        && let Ok(v) = http::HeaderValue::from_str(&retry_after_secs(wait).to_string())
    {
        r.headers_mut().insert(http::header::RETRY_AFTER, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_a_json_rpc_error_with_its_status_and_wait() {
        assert_eq!(code(StatusCode::UNAUTHORIZED), -32001);
        assert_eq!(code(StatusCode::TOO_MANY_REQUESTS), -32029);
        assert_eq!(code(StatusCode::SERVICE_UNAVAILABLE), -32000);
        let b: Value = serde_json::from_str(&body(
            StatusCode::TOO_MANY_REQUESTS,
            "slow down",
            Some(&json!(7)),
            Some(Duration::from_millis(1500)),
        ))
        .unwrap();
        assert_eq!(
            b,
            json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -32029, "message": "slow down",
                "data": {"httpStatus": 429, "retryAfterMs": 1500}}})
        );
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(3)), 1);
        let r = response(StatusCode::UNAUTHORIZED, "no key", None, None);
        assert!(r.headers().get(http::header::RETRY_AFTER).is_none());
        assert_eq!(
            r.extensions().get::<Refused>().map(|r| r.outcome),
            Some("unauthorized")
        );
    }
}
