//! Reading the body of a stateless `tools/call` for [`super::direct`].
//!
//! rmcp reads a message as its untagged `JsonRpcMessage`: the whole body is
//! first buffered into serde's generic `Content` tree, then read again as
//! a request whose method and parameters are flattened, which buffers the
//! parameters a second time. For a 500-byte call that is most of the
//! parsing weft does per request.
//!
//! [`read`] first tries a strict typed reading that goes straight from the
//! bytes to the values: an object with exactly `jsonrpc` (`"2.0"`), `id`,
//! `method` (`"tools/call"`) and `params`, whose params have only `name`,
//! `arguments` and `_meta`, each key once, the id an integer or a string
//! and the arguments, when present, an object. A body it reads is one rmcp
//! reads as the same request, with the same id, name, arguments and
//! `_meta`, and one the first look ([`crate::serve::intake::check`]) takes as a
//! `tools/call` with that id, so the first look need not read it again
//! (unit tests hold the readings side by side). Any other body (another
//! key, a repeated key, another method, a retry's `requestState`, an id
//! written as `1.0`) is read by rmcp's own types, exactly as before.

use std::borrow::Cow;

use rmcp::model::{
    CallToolRequestMethod, CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, GetMeta,
    JsonObject, JsonRpcVersion2_0, RequestId, RequestMetaObject,
};
use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

/// A `tools/call` request as this path needs it.
#[derive(Debug, PartialEq)]
pub struct CallBody {
    pub id: RequestId,
    /// The request's `params._meta` (empty when it has none).
    pub meta: RequestMetaObject,
    pub params: CallToolRequestParams,
    /// Whether the strict reading read it (see the module doc).
    pub strict: bool,
}

/// `body` read as a `tools/call` request, or `None` if it is not one (or
/// not JSON-RPC at all).
pub fn read(body: &[u8]) -> Option<CallBody> {
    strict(body).or_else(|| by_rmcp(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    // Read only to check them: "2.0" and "tools/call", as rmcp's types do.
    #[allow(dead_code)]
    jsonrpc: JsonRpcVersion2_0,
    id: WireId,
    #[allow(dead_code)]
    method: CallToolRequestMethod,
    params: WireParams,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireParams {
    #[serde(rename = "_meta")]
    meta: Option<JsonObject>,
    name: Cow<'static, str>,
    // `null` is not read here: the first look refuses it.
    #[serde(default, deserialize_with = "present_object")]
    arguments: Option<JsonObject>,
}

fn present_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<JsonObject>, D::Error> {
    JsonObject::deserialize(d).map(Some)
}

/// An id written as an integer that fits `i64`, or a string: what both
/// rmcp and the first look take, and read the same.
struct WireId(RequestId);

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Id;
        impl Visitor<'_> for Id {
            type Value = RequestId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RequestId, E> {
                Ok(RequestId::Number(n))
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RequestId, E> {
                i64::try_from(n)
                    .map(RequestId::Number)
                    .map_err(|_| E::custom("an id larger than i64"))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<RequestId, E> {
                Ok(RequestId::String(s.into()))
            }
        }
        d.deserialize_any(Id).map(WireId)
    }
}

/// The strict typed reading (see the module doc).
fn strict(body: &[u8]) -> Option<CallBody> {
    let wire: Wire = serde_json::from_slice(body).ok()?;
    let mut params = CallToolRequestParams::new(wire.params.name);
    // rmcp keeps `_meta` beside the params, never in `params.meta`.
    params.arguments = wire.params.arguments;
    Some(CallBody {
        id: wire.id.0,
        meta: wire.params.meta.map(Into::into).unwrap_or_default(),
        params,
        strict: true,
    })
}

/// rmcp's own reading.
fn by_rmcp(body: &[u8]) -> Option<CallBody> {
    let ClientJsonRpcMessage::Request(request) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let meta = request.request.get_meta().clone();
    let ClientRequest::CallToolRequest(call) = request.request else {
        return None;
    };
    Some(CallBody {
        id: request.id,
        meta,
        params: call.params,
        strict: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},
        "io.modelcontextprotocol/clientCapabilities":{"extensions":{"x":{}}},
        "progressToken":7,"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#;

    fn call(id: &str, params: &str) -> Vec<u8> {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{{params}}}}}"#)
            .into_bytes()
    }

    /// Bodies both readings take: they must agree on every value.
    #[test]
    fn the_strict_reading_agrees_with_rmcps() {
        let arguments = r#""arguments":{"n":18446744073709551615,"m":-9223372036854775808,
            "f":0.1,"g":1e308,"h":-0.0,"s":"\u00e9\ud83d\ude00\n","a":[null,true,[],{}],
            "o":{"deep":{"deeper":[1,2.5,"x"]}}}"#;
        let bodies = [
            call("1", &format!(r#""name":"echo",{arguments},{META}"#)),
            call(r#""abc""#, &format!(r#"{META},"name":"echo""#)),
            call("-5", r#""name":"e\u0063ho""#),
            call("0", r#""name":"echo","_meta":null,"arguments":{}"#),
            call("9007199254740993", r#""name":"","arguments":{"":""}"#),
            format!(
                r#" {{ "params" : {{ "name" : "x" , {META} }} , "method" : "tools/call" , "id" : 2 , "jsonrpc" : "2.0" }} "#
            )
            .into_bytes(),
        ];
        for body in &bodies {
            let text = String::from_utf8_lossy(body);
            let fast = strict(body).unwrap_or_else(|| panic!("strict reads {text}"));
            let rmcp = by_rmcp(body).unwrap_or_else(|| panic!("rmcp reads {text}"));
            assert!(fast.strict && !rmcp.strict);
            let rmcp = CallBody {
                strict: true,
                ..rmcp
            };
            assert_eq!(fast, rmcp, "{text}");
            assert_eq!(read(body), Some(rmcp));
            // The first look takes it, as a tools/call with the same id.
            let id = match &fast.id {
                RequestId::Number(n) => serde_json::Value::from(*n),
                RequestId::String(s) => serde_json::Value::from(&**s),
            };
            let first = crate::serve::intake::check(body).expect("the first look takes it");
            assert_eq!(first.method.as_deref(), Some("tools/call"), "{text}");
            assert_eq!(first.id, Some(id), "{text}");
        }
    }

    /// Bodies the strict reading leaves to rmcp, whatever rmcp makes of
    /// them.
    #[test]
    fn anything_else_is_left_to_rmcps_reading() {
        let bodies = [
            // Keys it does not know, at either level.
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e"},"x":1}"#
                .to_vec(),
            call("1", r#""name":"e","requestState":"s""#),
            call("1", r#""name":"e","inputResponses":{}"#),
            call("1", r#""name":"e","task":{"ttl":1}"#),
            // A key twice.
            call("1", &format!(r#""name":"e","_meta":null,{META}"#)),
            call("1", r#""name":"e","name":"f""#),
            // Another method or version, or no params.
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"e"}}"#.to_vec(),
            br#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"e"}}"#.to_vec(),
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#.to_vec(),
            // Not an id, not JSON, not an object.
            call("null", r#""name":"e""#),
            call("1.5", r#""name":"e""#),
            // What rmcp reads but the first look refuses.
            call("1.0", r#""name":"e""#),
            call("1e2", r#""name":"e""#),
            call("9223372036854775808", r#""name":"e""#),
            call("2", r#""name":"e","arguments":null"#),
            b"{".to_vec(),
            b"[]".to_vec(),
        ];
        for body in &bodies {
            let text = String::from_utf8_lossy(body);
            assert_eq!(strict(body), None, "{text}");
            assert_eq!(read(body), by_rmcp(body), "{text}");
        }
        // rmcp takes what the strict reading left, where it can.
        let retry = call("1", r#""name":"e","requestState":"s""#);
        let read = read(&retry).expect("rmcp reads a retry");
        assert_eq!(read.params.request_state.as_deref(), Some("s"));
    }
}
