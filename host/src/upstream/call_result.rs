//! Reading the `result` of a server's answer to `tools/call`.
//!
//! rmcp reads every result as its untagged `ServerResult`: the text is
//! buffered into serde's generic `Content` tree, then each of the union's
//! kinds is tried in turn, each failure building an error message, until
//! one fits. `CallToolResult` is the sixteenth kind, so an ordinary tool
//! result pays for fifteen failed readings (15 µs of a 4-µs parse, timed
//! inside weft on server-everything's `echo`).
//!
//! [`read`] reads such a result straight into `CallToolResult` when that
//! is the kind rmcp would pick too: when the object's keys are all among
//! `CallToolResult`'s own (`content`, `structuredContent`, `isError`,
//! `resultType`, `_meta`). The kinds before it in the union each need a
//! key of their own (`tools`, `task`, `action`, …); a unit test reads
//! every combination of those five keys both ways and gets the same kind,
//! value and error text. Any other result, or one `CallToolResult`
//! refuses, is read by rmcp's union, exactly as before.

use std::borrow::Cow;
use std::fmt;

use rmcp::model::{CallToolResult, ServerResult};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// The keys a `CallToolResult` is made of.
const OWN_KEYS: [&str; 5] = [
    "content",
    "structuredContent",
    "isError",
    "resultType",
    "_meta",
];

/// A tool call's `result` text, read as rmcp's `ServerResult` reads it
/// (see the module doc).
pub fn read(raw: &str) -> serde_json::Result<ServerResult> {
    if only_own_keys(raw)
        && let Ok(result) = serde_json::from_str::<CallToolResult>(raw)
    {
        return Ok(ServerResult::CallToolResult(result));
    }
    serde_json::from_str(raw)
}

/// Whether `raw` is a JSON object whose keys are all `CallToolResult`'s.
fn only_own_keys(raw: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(raw);
    de.deserialize_map(OwnKeys).unwrap_or(false)
}

/// Visits an object's keys, skipping their values.
struct OwnKeys;

impl<'de> Visitor<'de> for OwnKeys {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut own = true;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            own &= OWN_KEYS.contains(&&*key);
            map.next_value::<IgnoredAny>()?;
        }
        Ok(own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// What rmcp's own reading gives, as JSON, with the kind's name.
    fn by_rmcp(raw: &str) -> Result<(String, Value), String> {
        serde_json::from_str::<ServerResult>(raw)
            .map(|r| (kind(&r), serde_json::to_value(&r).unwrap_or_default()))
            .map_err(|e| e.to_string())
    }

    fn by_read(raw: &str) -> Result<(String, Value), String> {
        read(raw)
            .map(|r| (kind(&r), serde_json::to_value(&r).unwrap_or_default()))
            .map_err(|e| e.to_string())
    }

    fn kind(r: &ServerResult) -> String {
        let debug = format!("{r:?}");
        debug.split('(').next().unwrap_or_default().to_string()
    }

    #[test]
    fn every_combination_of_own_keys_reads_as_rmcp_reads_it() {
        let values: [(&str, Vec<Value>); 5] = [
            (
                "content",
                vec![
                    json!([{"type": "text", "text": "hi"}]),
                    json!([]),
                    json!("x"),
                ],
            ),
            (
                "structuredContent",
                vec![json!({"a": 1}), json!(null), json!([1])],
            ),
            ("isError", vec![json!(true), json!(false), json!("no")]),
            (
                "resultType",
                vec![json!("complete"), json!("input_required"), json!(7)],
            ),
            ("_meta", vec![json!({"k": "v"}), json!(null)]),
        ];
        let mut checked = 0;
        for mask in 0..(1u32 << values.len()) {
            // Each chosen key with each of its values in turn, the others
            // at their first value.
            for variant in 0..3 {
                let mut object = serde_json::Map::new();
                for (i, (key, vs)) in values.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        let v = vs.get(variant).unwrap_or(&vs[0]);
                        object.insert(key.to_string(), v.clone());
                    }
                }
                let raw = Value::Object(object).to_string();
                assert_eq!(by_read(&raw), by_rmcp(&raw), "{raw}");
                checked += 1;
            }
        }
        assert_eq!(checked, 96);
    }

    #[test]
    fn other_results_are_rmcps() {
        for raw in [
            r#"{"content":[],"tools":[]}"#,
            r#"{"task":{"taskId":"t1","status":"working","createdAt":"2026-01-01T00:00:00Z","lastUpdatedAt":"2026-01-01T00:00:00Z"}}"#,
            r#"{"resultType":"input_required","inputRequests":{}}"#,
            r#"{"action":"accept","content":{"a":1}}"#,
            r#"{"content":[{"type":"text","text":"a"}],"extra":1}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"content": [{"type":"text","text":"a"}], "content": []}"#,
            r#"not json"#,
        ] {
            assert_eq!(by_read(raw), by_rmcp(raw), "{raw}");
        }
    }

    #[test]
    fn a_plain_result_takes_the_short_way() {
        assert!(only_own_keys(
            r#"{"content":[{"type":"text","text":"Echo: hi"}],"isError":false}"#
        ));
        assert!(!only_own_keys(r#"{"content":[],"tools":[]}"#));
        assert!(!only_own_keys("[1]"));
        assert!(!only_own_keys("{"));
    }
}
