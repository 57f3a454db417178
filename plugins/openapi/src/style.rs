//! A parameter's value written in its OpenAPI style (OpenAPI 3.1, section
//! 4.8.12.4.1, "Style Values"), for an argument `id` of `[a, b]` or
//! `{x: 1, y: 2}`:
//!
//! | style | explode | array | object |
//! |---|---|---|---|
//! | simple (path, header) | no | `a,b` | `x,1,y,2` |
//! | simple | yes | `a,b` | `x=1,y=2` |
//! | label (path) | no | `.a,b` | `.x,1,y,2` |
//! | label | yes | `.a.b` | `.x=1.y=2` |
//! | matrix (path) | no | `;id=a,b` | `;id=x,1,y,2` |
//! | matrix | yes | `;id=a;id=b` | `;x=1;y=2` |
//! | form (query) | no | `id=a,b` | `id=x,1,y,2` |
//! | form | yes | `id=a&id=b` | `x=1&y=2` |
//! | spaceDelimited | no | `id=a b` | |
//! | pipeDelimited | no | `id=a\|b` | |
//! | deepObject | yes | | `id[x]=1&id[y]=2` |
//!
//! A path's pieces are percent-encoded within the segment (RFC 3986's
//! unreserved characters stay; the style's own `,`, `.`, `;` and `=`
//! are written as they are); a query's pairs are encoded by the caller.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::spec::{Param, Style};

/// What may stay as it is in a path segment: RFC 3986's unreserved
/// characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A scalar as text: a string as it is, anything else as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The pieces of a value: an array's items, an object's keys and values
/// (as `k=v` pairs when `pairs`), a scalar itself.
fn pieces(value: &Value, pairs: bool, enc: &dyn Fn(&str) -> String) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(|i| enc(&text(i))).collect(),
        Value::Object(map) if pairs => map
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(&text(v))))
            .collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| [enc(k), enc(&text(v))])
            .collect(),
        scalar => vec![enc(&text(scalar))],
    }
}

fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// A path parameter's text, encoded for its segment.
pub fn path(p: &Param, value: &Value) -> String {
    let explode = p.explode;
    match p.style {
        Style::Label => {
            let sep = if explode { "." } else { "," };
            format!(".{}", pieces(value, explode, &segment).join(sep))
        }
        Style::Matrix => {
            let name = segment(&p.name);
            match value {
                Value::Array(items) if explode => items
                    .iter()
                    .map(|i| format!(";{name}={}", segment(&text(i))))
                    .collect(),
                Value::Object(_) if explode => pieces(value, true, &segment)
                    .into_iter()
                    .map(|kv| format!(";{kv}"))
                    .collect(),
                _ => format!(";{name}={}", pieces(value, false, &segment).join(",")),
            }
        }
        _ => pieces(value, explode, &segment).join(","),
    }
}

/// A query parameter's pairs, not yet encoded.
pub fn query(p: &Param, value: &Value) -> Vec<(String, String)> {
    let plain = |v: &str| v.to_string();
    let one = |sep: &str| vec![(p.name.clone(), pieces(value, false, &plain).join(sep))];
    match (p.style, value) {
        (Style::DeepObject, Value::Object(map)) => {
            let mut out = Vec::new();
            deep(&p.name, map, &mut out);
            out
        }
        (Style::SpaceDelimited, Value::Array(_)) => one(" "),
        (Style::PipeDelimited, Value::Array(_)) => one("|"),
        (_, Value::Array(items)) if p.explode => {
            items.iter().map(|i| (p.name.clone(), text(i))).collect()
        }
        (_, Value::Object(map)) if p.explode => {
            map.iter().map(|(k, v)| (k.clone(), text(v))).collect()
        }
        _ => one(","),
    }
}

/// `name[key]=value` for each field, nested objects as `name[a][b]`.
fn deep(name: &str, map: &serde_json::Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (k, v) in map {
        let key = format!("{name}[{k}]");
        match v {
            Value::Object(inner) => deep(&key, inner, out),
            Value::Array(items) => {
                out.extend(items.iter().map(|i| (key.clone(), text(i))));
            }
            v => out.push((key, text(v))),
        }
    }
}

/// A cookie parameter as `name=value` (`form`: a list's items joined by
/// `,`), its value percent-encoded so that no `;` or line break can end
/// it early.
pub fn cookie(p: &Param, value: &Value) -> String {
    let enc = |v: &str| utf8_percent_encode(v, SEGMENT).to_string();
    format!("{}={}", enc(&p.name), pieces(value, false, &enc).join(","))
}

/// A header parameter's value (`simple`).
pub fn header(p: &Param, value: &Value) -> String {
    pieces(value, p.explode, &|v: &str| v.to_string()).join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Place;
    use serde_json::json;

    fn param(style: Style, explode: bool, place: Place) -> Param {
        Param {
            arg: "id".into(),
            name: "id".into(),
            place,
            style,
            explode,
        }
    }

    #[test]
    fn every_path_style_as_the_table_says() {
        let arr = json!(["a", "b"]);
        let obj = json!({"x": 1, "y": 2});
        let cases = [
            (Style::Simple, false, &arr, "a,b"),
            (Style::Simple, true, &obj, "x=1,y=2"),
            (Style::Simple, false, &obj, "x,1,y,2"),
            (Style::Label, false, &arr, ".a,b"),
            (Style::Label, true, &arr, ".a.b"),
            (Style::Label, true, &obj, ".x=1.y=2"),
            (Style::Matrix, false, &arr, ";id=a,b"),
            (Style::Matrix, true, &arr, ";id=a;id=b"),
            (Style::Matrix, true, &obj, ";x=1;y=2"),
            (Style::Matrix, false, &json!("a b/c"), ";id=a%20b%2Fc"),
        ];
        for (style, explode, value, expected) in cases {
            assert_eq!(
                path(&param(style, explode, Place::Path), value),
                expected,
                "{style:?} {explode}"
            );
        }
    }

    #[test]
    fn every_query_style_as_the_table_says() {
        let pairs = |style, explode, value: Value| -> Vec<String> {
            query(&param(style, explode, Place::Query), &value)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        };
        assert_eq!(
            pairs(Style::Form, true, json!(["a", "b"])),
            ["id=a", "id=b"]
        );
        assert_eq!(pairs(Style::Form, false, json!(["a", "b"])), ["id=a,b"]);
        assert_eq!(pairs(Style::Form, true, json!({"x": 1})), ["x=1"]);
        assert_eq!(
            pairs(Style::SpaceDelimited, false, json!(["a", "b"])),
            ["id=a b"]
        );
        assert_eq!(
            pairs(Style::PipeDelimited, false, json!(["a", "b"])),
            ["id=a|b"]
        );
        assert_eq!(
            pairs(
                Style::DeepObject,
                true,
                json!({"color": "red", "size": {"min": 1}})
            ),
            ["id[color]=red", "id[size][min]=1"]
        );
        assert_eq!(
            header(&param(Style::Simple, false, Place::Header), &json!([1, 2])),
            "1,2"
        );
        assert_eq!(
            cookie(
                &param(Style::Form, false, Place::Cookie),
                &json!(["a b", "c;d"])
            ),
            "id=a%20b,c%3Bd"
        );
    }
}
