//! The first look at an agent's HTTP request body, before rmcp parses it:
//! it must be UTF-8, JSON, and shaped like one JSON-RPC message, and the
//! params of the MCP requests it knows must have the right types (rmcp
//! would take a request whose params do not fit for an unknown method).
//! Anything else gets a JSON-RPC error that says what is wrong, with
//! status 400 (and the request's id, when it has a good one).
//!
//! This is the JSON-RPC entry point the fuzz target drives: it never panics
//! and never allocates more than the body it is given.

use serde_json::Value;

/// JSON-RPC's parse error code: the body is not UTF-8, or not JSON.
pub const PARSE_ERROR: i32 = -32700;
/// JSON-RPC's invalid-request code: the JSON is not one JSON-RPC message.
pub const INVALID_REQUEST: i32 = -32600;
/// JSON-RPC's invalid-params code: a known method's params have the wrong types.
pub const INVALID_PARAMS: i32 = -32602;

/// Params of MCP requests that must be strings, and those that must be
/// objects when present. Without this check a request whose params do not
/// fit its method reaches rmcp as an unknown method (-32601).
const STRING_PARAMS: &[(&str, &str)] = &[
    ("tools/call", "name"),
    ("prompts/get", "name"),
    ("resources/read", "uri"),
    // Not `resources/subscribe` or `unsubscribe`: 2026-07-28 removed them,
    // and there they must be answered as unknown methods (-32601), which
    // this check cannot tell apart without the protocol version.
];
const OBJECT_PARAMS: &[(&str, &str)] = &[
    ("tools/call", "arguments"),
    ("prompts/get", "arguments"),
    ("completion/complete", "ref"),
    ("completion/complete", "argument"),
];

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IntakeError {
    /// The JSON-RPC error code: [`PARSE_ERROR`], [`INVALID_REQUEST`] or [`INVALID_PARAMS`].
    pub code: i32,
    /// What is wrong with the body, for the agent.
    pub message: String,
    /// The request's id, when the error is about a well-formed request.
    pub id: Option<serde_json::Value>,
}

impl IntakeError {
    fn parse(message: impl Into<String>) -> Self {
        IntakeError {
            code: PARSE_ERROR,
            message: message.into(),
            id: None,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        IntakeError {
            code: INVALID_REQUEST,
            message: message.into(),
            id: None,
        }
    }

    /// The JSON-RPC error response body.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message},
        })
        .to_string()
    }
}

/// What the first look found in a good body.
#[derive(Debug, Clone, PartialEq)]
pub struct Intake {
    /// The method; none for a response.
    pub method: Option<String>,
    /// The id; none for a notification.
    pub id: Option<Value>,
}

/// Checks one POSTed body; returns its method and id.
pub fn check(body: &[u8]) -> Result<Intake, IntakeError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        IntakeError::parse(format!(
            "Parse error: the body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        IntakeError::parse(format!(
            "Parse error: not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let Value::Object(msg) = value else {
        return Err(IntakeError::invalid(match value {
            Value::Array(_) => {
                "Invalid Request: JSON-RPC batches are not supported; send one message per request"
            }
            _ => "Invalid Request: a JSON-RPC message is a JSON object",
        }));
    };
    match msg.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        Some(_) => {
            return Err(IntakeError::invalid(
                "Invalid Request: \"jsonrpc\" must be \"2.0\"",
            ));
        }
        None => {
            return Err(IntakeError::invalid(
                "Invalid Request: \"jsonrpc\": \"2.0\" is missing",
            ));
        }
    }
    match msg.get("id") {
        None | Some(Value::String(_)) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(_) => {
            return Err(IntakeError::invalid(
                "Invalid Request: \"id\" must be a string or an integer",
            ));
        }
    }
    match msg.get("method") {
        Some(Value::String(m)) if !m.is_empty() => {}
        Some(_) => {
            return Err(IntakeError::invalid(
                "Invalid Request: \"method\" must be a non-empty string",
            ));
        }
        // A response (to a request weft sent the agent) has no method.
        None if msg.contains_key("result") || msg.contains_key("error") => {
            if !msg.contains_key("id") {
                return Err(IntakeError::invalid(
                    "Invalid Request: a response needs an \"id\"",
                ));
            }
        }
        None => {
            return Err(IntakeError::invalid(
                "Invalid Request: \"method\" is missing",
            ));
        }
    }
    match msg.get("params") {
        None | Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(IntakeError::invalid(
                "Invalid Request: \"params\" must be an object",
            ));
        }
    }
    let method = msg.get("method").and_then(Value::as_str);
    if let (Some(m), Some(id)) = (method, msg.get("id")) {
        let params = msg.get("params");
        let field = |f: &str| params.and_then(|p| p.get(f));
        let wrong = STRING_PARAMS
            .iter()
            .filter(|(name, _)| *name == m)
            .find(|(_, f)| !field(f).is_some_and(Value::is_string))
            .map(|(_, f)| format!("\"{f}\" must be a string"))
            .or_else(|| {
                OBJECT_PARAMS
                    .iter()
                    .filter(|(name, _)| *name == m)
                    .find(|(_, f)| field(f).is_some_and(|v| !v.is_object()))
                    .map(|(_, f)| format!("\"{f}\" must be an object"))
            });
        if let Some(why) = wrong {
            return Err(IntakeError {
                code: INVALID_PARAMS,
                message: format!("Invalid params: {m}: {why}"),
                id: Some(id.clone()),
            });
        }
    }
    Ok(Intake {
        method: method.map(str::to_owned),
        id: msg.get("id").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_one_message() {
        let code = |b: &[u8]| check(b).map(drop).map_err(|e| e.code);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), Ok(()));
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(())
        );
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#), Ok(()));
        assert_eq!(code(b"\xff\xfe{}"), Err(PARSE_ERROR));
        assert_eq!(code(b"{\"jsonrpc\":"), Err(PARSE_ERROR));
        assert_eq!(code(b"[]"), Err(INVALID_REQUEST));
        assert_eq!(code(b"42"), Err(INVALID_REQUEST));
        assert_eq!(
            code(br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":7}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#),
            Err(INVALID_REQUEST)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","result":{}}"#),
            Err(INVALID_REQUEST)
        );
        // Params that do not fit the method: -32602, with the request's id.
        let e = check(br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":7}}"#)
            .unwrap_err();
        assert_eq!((e.code, e.id), (INVALID_PARAMS, Some(serde_json::json!(4))));
        assert_eq!(
            e.message,
            "Invalid params: tools/call: \"name\" must be a string"
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"p","arguments":[]}}"#),
            Err(INVALID_PARAMS)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"t","arguments":{}}}"#),
            Ok(())
        );
    }
}
