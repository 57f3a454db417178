//! A stateless (2026-07-28) `tools/call` of a catalog tool over HTTP,
//! answered without rmcp's per-request service.
//!
//! rmcp serves each stateless request by building a service for it, with
//! a one-shot transport, a task and channels, and it turns the whole
//! message into a `serde_json::Value` once more to check the SEP-2243
//! headers. For the call agents make most, weft does that work once: the
//! body is parsed once, the name is resolved once, the call runs through
//! the same [`super::tool_call::catalog_work`] and [`super::call::drive`]
//! as on rmcp's path, and the answer is written as one JSON body.
//!
//! Only a request whose answer cannot differ from rmcp's takes this path
//! ([`plain_call`]): exactly one `Mcp-Protocol-Version: 2026-07-28`,
//! `Mcp-Method: tools/call` and a plain `Mcp-Name` equal to the tool's
//! name; no session; no `Mcp-Param-*` header and no `x-mcp-header` in the
//! tool's schema; complete per-request `_meta`; no log level (log
//! messages would go on the call's stream); not a retry with input responses; a catalog tool
//! (not a policy or a meta tool). Anything else goes on to rmcp, which
//! answers as it always has. An upstream's request for input during the
//! call parks it and answers `input_required`, exactly as on rmcp's path.
//! A call with a progress token gets the upstream's progress on its own
//! event stream, as from rmcp ([`super::own_stream`]).

use std::sync::Arc;

use tracing::Instrument;

use axum::body::Body;
use axum::response::Response;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ClientCapabilities, ErrorCode, ErrorData,
    ProgressToken, ProtocolVersion, RequestId, ResultType, ServerJsonRpcMessage, ServerResult,
};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::call::{self, Agent};
use super::own_stream::{self, Started};
use crate::serve::Gateway;
use crate::serve::view::listing::one;
use crate::serve::view::tools::{self, Target};
use crate::tenant::Caller;

/// A request this path answers: its id, the call, and the agent's
/// declared capabilities.
pub struct PlainCall {
    id: RequestId,
    params: CallToolRequestParams,
    /// The agent's progress token: progress then goes on the call's own
    /// stream ([`super::own_stream`]).
    progress: Option<ProgressToken>,
    capabilities: Option<ClientCapabilities>,
    /// The agent's trace context, for the request's span.
    trace: crate::telemetry::Sent,
    /// Whether the body was read strictly ([`super::call_body`]).
    strict: bool,
}

impl PlainCall {
    /// What the first look ([`crate::serve::intake::check`]) would find in the
    /// body, when the strict reading read it (it then takes the body as
    /// this `tools/call` with this id); `None` leaves the look to be done.
    pub fn first_look(&self) -> Option<crate::serve::intake::Intake> {
        self.strict.then(|| crate::serve::intake::Intake {
            method: Some("tools/call".to_string()),
            id: Some(match &self.id {
                RequestId::Number(n) => Value::from(*n),
                RequestId::String(s) => Value::from(&**s),
            }),
        })
    }
}

/// The request, if it is a stateless `tools/call` this path may answer
/// (see the module doc); `None` sends it on to rmcp.
pub fn plain_call(headers: &http::HeaderMap, body: &[u8]) -> Option<PlainCall> {
    let version = ProtocolVersion::V_2026_07_28;
    if headers.contains_key("mcp-session-id")
        || one(headers, "mcp-protocol-version").flatten() != Some(version.as_str())
        || one(headers, "mcp-method").flatten() != Some("tools/call")
        || !crate::serve::view::listing::accepts_both(headers)
        || !one(headers, http::header::CONTENT_TYPE.as_str())
            .flatten()
            .is_some_and(crate::serve::view::listing::is_json)
        || headers.keys().any(|k| k.as_str().starts_with("mcp-param-"))
    {
        return None;
    }
    let request = super::call_body::read(body)?;
    let meta = &request.meta;
    if meta.protocol_version() != Some(version.clone())
        || !meta.missing_required_keys(&version).is_empty()
    {
        return None;
    }
    #[allow(deprecated)]
    if meta.log_level().is_some() {
        return None;
    }
    let progress = meta.get_progress_token();
    let capabilities = meta.client_capabilities();
    let trace = crate::telemetry::sent(meta, Some(headers));
    let params = request.params;
    if one(headers, "mcp-name").flatten() != Some(&*params.name)
        || params.request_state.is_some()
        || params.input_responses.is_some()
    {
        return None;
    }
    Some(PlainCall {
        id: request.id,
        params,
        progress,
        capabilities,
        trace,
        strict: request.strict,
    })
}

/// Whether a schema annotates any property with `x-mcp-header` (rmcp then
/// checks the matching `Mcp-Param-*` headers, so such calls are its).
fn has_header_annotation(schema: &serde_json::Map<String, Value>) -> bool {
    fn walk(value: &Value, depth: usize) -> bool {
        match value {
            // As deep as any schema rmcp would read; deeper is rmcp's too.
            _ if depth > 64 => true,
            Value::Object(map) => {
                map.contains_key("x-mcp-header") || map.values().any(|v| walk(v, depth + 1))
            }
            Value::Array(items) => items.iter().any(|v| walk(v, depth + 1)),
            _ => false,
        }
    }
    schema.contains_key("x-mcp-header") || schema.values().any(|v| walk(v, 1))
}

/// Whether this path answers `request`: a catalog tool (not a policy or
/// a meta tool) whose schema asks for no param headers.
pub fn takes(gw: &Gateway, request: &PlainCall) -> bool {
    let name = &*request.params.name;
    if !catalog_tool(gw, name) {
        return false;
    }
    // The schema rmcp would check the headers against (the owner's
    // catalog, as `get_tool` reads it).
    !gw.hub
        .catalog()
        .tool_by_exposed(name)
        .is_some_and(|t| has_header_annotation(&t.tool.input_schema))
}

/// Whether `name` is a catalog tool's (not a policy's or a meta tool's).
pub(super) fn catalog_tool(gw: &Gateway, name: &str) -> bool {
    matches!(
        tools::target(name, &gw.hub.config().policies, gw.expose),
        Target::Catalog
    )
}

/// The answer to `request` (one [`takes`] took) for `caller`.
pub async fn answer(gw: &Arc<Gateway>, caller: &Caller, request: PlainCall) -> Response {
    let PlainCall {
        id,
        params,
        progress,
        capabilities,
        trace,
        ..
    } = request;
    let mut agent = Agent::stateless(capabilities);
    // A client that goes away drops this future (or the stream's body),
    // and with it the work, which cancels the upstream request: nothing
    // else cancels it.
    let never = CancellationToken::new();
    let (message, status) = match progress {
        None => {
            let outcome = run(gw, caller, &id, params, &trace, &agent, &never).await;
            settle(outcome, id, &agent, false)
        }
        Some(token) => {
            // As rmcp answers: one JSON message when the answer is the
            // first thing the call sends, else an event stream (status
            // 200, whatever the answer).
            let (sink, source) = own_stream::channel();
            agent.stream_to(token, sink);
            let (gw, caller) = (gw.clone(), caller.clone());
            let call = async move {
                let outcome = run(&gw, &caller, &id, params, &trace, &agent, &never).await;
                settle(outcome, id, &agent, false)
            };
            match own_stream::start(call, source, |(message, _)| Some(message), None).await {
                Started::Ended(answer) => answer,
                Started::Streaming(response) => return response,
            }
        }
    };
    match serde_json::to_vec(&message) {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(e) => crate::serve::refusal::response(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the answer: {e}"),
            None,
            None,
        ),
    }
}

/// Runs call `id` of a catalog tool for `caller` and `agent` to its end
/// (or until `cancelled`), in the span rmcp's path opens for a call
/// (`methods/handler.rs`), with the agent's trace context `trace`.
pub(super) async fn run(
    gw: &Arc<Gateway>,
    caller: &Caller,
    id: &RequestId,
    params: CallToolRequestParams,
    trace: &crate::telemetry::Sent,
    agent: &Agent,
    cancelled: &CancellationToken,
) -> Result<CallToolResponse, ErrorData> {
    let span = tracing::info_span!(
        "request",
        request_id = %crate::util::request_id(),
        rpc_id = %id,
        tool = %params.name
    );
    crate::telemetry::adopt(&span, trace.0.as_deref(), trace.1.as_deref());
    let work = async move {
        let name = params.name.to_string();
        let owner = call::Owner::of(caller);
        let (tx, rx) = mpsc::unbounded_channel();
        let caller = &caller.clone().asking(agent.asker(&tx));
        let args = params.arguments;
        match super::tool_call::catalog_work(
            gw.clone(),
            caller,
            &name,
            args,
            agent,
            (None, None),
            tx,
        ) {
            Ok(work) => call::drive(cancelled, agent, &owner, &gw.lot, work, rx).await,
            Err(e) => Err(e),
        }
    };
    work.instrument(span).await
}

/// The message answering call `id` with `outcome`, as rmcp's handler and
/// transport write it for `agent`, and its HTTP status: in the handshake
/// era (`legacy`), without `resultType: "complete"` and always 200.
pub(super) fn settle(
    outcome: Result<CallToolResponse, ErrorData>,
    id: RequestId,
    agent: &Agent,
    legacy: bool,
) -> (ServerJsonRpcMessage, http::StatusCode) {
    // As rmcp's handler does (SEP-2663): a task handle only for an agent
    // that declared the tasks extension.
    let tasks = agent
        .capabilities
        .as_ref()
        .is_some_and(|c| c.supports_tasks());
    let outcome = match outcome {
        Ok(CallToolResponse::Task(_)) if !tasks => {
            Err(ErrorData::missing_required_client_capability(
                ClientCapabilities::builder().enable_tasks().build(),
            ))
        }
        other => other,
    };
    match outcome {
        Ok(mut response) => {
            if let CallToolResponse::Complete(r) = &mut response {
                r.result_type.get_or_insert(ResultType::COMPLETE);
            }
            let mut result = ServerResult::from(response);
            if legacy {
                result.strip_result_type_for_legacy_peer();
            } else {
                result.fill_missing_cache_hints();
            }
            (
                ServerJsonRpcMessage::response(result, id),
                http::StatusCode::OK,
            )
        }
        Err(error) if legacy => (
            ServerJsonRpcMessage::error(error, Some(id)),
            http::StatusCode::OK,
        ),
        Err(error) => {
            let status = status_of(error.code);
            (ServerJsonRpcMessage::error(error, Some(id)), status)
        }
    }
}

/// The HTTP status of a JSON-RPC error answer in the 2026-07-28 era, as
/// rmcp gives it (the request's `_meta` is complete here, so invalid
/// params stay 200).
fn status_of(code: ErrorCode) -> http::StatusCode {
    match code {
        ErrorCode::UNSUPPORTED_PROTOCOL_VERSION
        | ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY
        | ErrorCode::HEADER_MISMATCH => http::StatusCode::BAD_REQUEST,
        ErrorCode::METHOD_NOT_FOUND => http::StatusCode::NOT_FOUND,
        _ => http::StatusCode::OK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{
        "name":"echo","arguments":{"message":"hi"},"_meta":{
        "io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},
        "io.modelcontextprotocol/clientCapabilities":{}}}}"#;

    fn headers() -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        for (n, v) in [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
        ] {
            headers.insert(n, http::HeaderValue::from_static(v));
        }
        headers
    }

    fn with(
        mut headers: http::HeaderMap,
        name: &'static str,
        value: &'static str,
    ) -> http::HeaderMap {
        headers.append(name, http::HeaderValue::from_static(value));
        headers
    }

    fn body_with(meta_extra: &str, params_extra: &str) -> Vec<u8> {
        format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"echo"{params_extra},"_meta":{{
            "io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientInfo":{{"name":"t","version":"1"}},
            "io.modelcontextprotocol/clientCapabilities":{{}}{meta_extra}}}}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_plain_stateless_call_is_taken() {
        let call = plain_call(&headers(), BODY).expect("taken");
        assert_eq!(call.id, RequestId::Number(3));
        let first = call.first_look().expect("read strictly");
        assert_eq!(Ok(first), crate::serve::intake::check(BODY));
        assert_eq!(&*call.params.name, "echo");
        assert!(call.capabilities.is_some());
    }

    #[test]
    fn anything_rmcp_answers_differently_is_left_to_it() {
        let h = headers();
        // A session, another era, a duplicated or contradicting header.
        assert!(plain_call(&with(h.clone(), "mcp-session-id", "s"), BODY).is_none());
        let mut old = h.clone();
        old.insert(
            "mcp-protocol-version",
            http::HeaderValue::from_static("2025-11-25"),
        );
        assert!(plain_call(&old, BODY).is_none());
        assert!(plain_call(&with(h.clone(), "mcp-method", "tools/call"), BODY).is_none());
        let mut other = h.clone();
        other.insert("mcp-name", http::HeaderValue::from_static("other"));
        assert!(plain_call(&other, BODY).is_none());
        let mut encoded = h.clone();
        encoded.insert(
            "mcp-name",
            http::HeaderValue::from_static("=?base64?ZWNobw==?="),
        );
        assert!(plain_call(&encoded, BODY).is_none());
        assert!(plain_call(&with(h.clone(), "mcp-param-x", "1"), BODY).is_none());
        let mut no_sse = h.clone();
        no_sse.insert("accept", http::HeaderValue::from_static("application/json"));
        assert!(plain_call(&no_sse, BODY).is_none());
        // Something is to be streamed, a retry, missing metadata.
        let progress = body_with("", r#","_meta":null"#);
        assert!(plain_call(&h, &progress).is_none());
        // A progress token is taken: progress goes on the call's stream.
        let token = body_with(r#","progressToken":"p1""#, "");
        let taken = plain_call(&h, &token).expect("a call with a progress token is taken");
        assert_eq!(
            taken.progress,
            Some(ProgressToken(rmcp::model::NumberOrString::String(
                "p1".into()
            )))
        );
        let level = body_with(r#","io.modelcontextprotocol/logLevel":"info""#, "");
        assert!(plain_call(&h, &level).is_none());
        let retry = body_with("", r#","requestState":"weft-input:00""#);
        assert!(plain_call(&h, &retry).is_none());
        let bare = br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo"}}"#;
        assert!(plain_call(&h, bare).is_none());
        // The body says another method than the header.
        let list = br#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{
            "io.modelcontextprotocol/protocolVersion":"2026-07-28",
            "io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},
            "io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        assert!(plain_call(&h, list).is_none());
    }

    #[test]
    fn header_annotations_are_found_at_any_depth() {
        let plain = serde_json::json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let nested = serde_json::json!({"type": "object", "properties": {"a": {
            "type": "object", "properties": {"b": {"type": "string", "x-mcp-header": "B"}}}}});
        let map = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(!has_header_annotation(&map(plain)));
        assert!(has_header_annotation(&map(nested)));
    }
}
