//! A tool call's arguments turned into an HTTP request: the path template
//! filled in (each value percent-encoded within its segment; `.` and
//! `..`, which no encoding keeps one segment, refused), the query and
//! headers written in each parameter's style (`style.rs`), and the body
//! in its media type's encoding: JSON, a form, multipart (`multipart.rs`)
//! or text.

use serde_json::{Map, Value};

use crate::spec::{Body, Encoding, Operation, Place};
use crate::{multipart, style};

/// One request, ready to send.
#[derive(Debug, PartialEq)]
pub struct Request {
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
    /// The path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// The URL, for messages.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path)
    }
}

/// A base URL split: scheme, authority, path prefix (no trailing `/`).
pub fn split_base(base: &str) -> Result<(String, String, String), String> {
    let (scheme, rest) = base
        .split_once("://")
        .filter(|(s, _)| *s == "http" || *s == "https")
        .ok_or_else(|| format!("the base URL {base:?} does not start with http:// or https://"))?;
    let (authority, prefix) = match rest.find(['/', '?', '#']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "the base URL {base:?} has no host (or has user info)"
        ));
    }
    if prefix.contains(['?', '#']) {
        return Err(format!(
            "the base URL {base:?} may not hold a query or a fragment"
        ));
    }
    Ok((
        scheme.to_string(),
        authority.to_string(),
        prefix.trim_end_matches('/').to_string(),
    ))
}

/// The request `op` makes with `args`, against `base`.
pub fn build(op: &Operation, base: &str, args: &Map<String, Value>) -> Result<Request, String> {
    let (scheme, authority, prefix) = split_base(base)?;
    let mut path = op.path.clone();
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut headers = Vec::new();
    let mut cookies = Vec::new();
    for p in &op.params {
        let Some(value) = args.get(&p.arg).filter(|v| !v.is_null()) else {
            if p.place == Place::Path {
                return Err(format!("the path parameter {:?} is missing", p.arg));
            }
            continue;
        };
        match p.place {
            Place::Path => {
                let text = style::path(p, value);
                // A URL parser resolves `.` and `..` (and `%2e%2e`) as a
                // step in the path: no encoding keeps them one segment.
                if text == "." || text == ".." {
                    return Err(format!(
                        "the path parameter {:?} cannot be {text:?}: it would step out of the operation's path",
                        p.arg
                    ));
                }
                path = path.replace(&format!("{{{}}}", p.name), &text);
            }
            Place::Query => {
                for (k, v) in style::query(p, value) {
                    query.append_pair(&k, &v);
                }
            }
            Place::Header => headers.push((p.name.clone(), style::header(p, value))),
            Place::Cookie => cookies.push(style::cookie(p, value)),
        }
    }
    if !cookies.is_empty() {
        headers.push(("cookie".into(), cookies.join("; ")));
    }
    let mut body = None;
    if let Some(b) = &op.body
        && let Some(value) = args.get(&b.arg)
    {
        let (content_type, bytes) = encode_body(b, value)?;
        headers.push(("content-type".into(), content_type));
        body = Some(bytes);
    }
    let query = query.finish();
    let mut full = format!("{prefix}{path}");
    if !query.is_empty() {
        full.push('?');
        full.push_str(&query);
    }
    Ok(Request {
        method: op.method.clone(),
        scheme,
        authority,
        path: full,
        headers,
        body,
    })
}

/// The body's content type and bytes, as its encoding writes `value`.
fn encode_body(b: &Body, value: &Value) -> Result<(String, Vec<u8>), String> {
    let fields = || {
        value.as_object().ok_or_else(|| {
            format!(
                "the argument {:?} must be an object of fields for a {} body",
                b.arg, b.content_type
            )
        })
    };
    Ok(match b.encoding {
        Encoding::Json => (b.content_type.clone(), value.to_string().into_bytes()),
        Encoding::Text => match value {
            Value::String(s) => (b.content_type.clone(), s.clone().into_bytes()),
            v => (b.content_type.clone(), v.to_string().into_bytes()),
        },
        Encoding::Form => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for (k, v) in fields()? {
                match v {
                    Value::Array(items) => {
                        for item in items {
                            form.append_pair(k, &style::text(item));
                        }
                    }
                    Value::Null => {}
                    v => {
                        form.append_pair(k, &style::text(v));
                    }
                }
            }
            (b.content_type.clone(), form.finish().into_bytes())
        }
        Encoding::Multipart => {
            let (boundary, bytes) = multipart::write(fields()?, &b.files)?;
            (format!("multipart/form-data; boundary={boundary}"), bytes)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::operations;
    use serde_json::json;

    fn path_of(params: Value, args: Value) -> Result<String, String> {
        let doc =
            json!({"openapi": "3.1.0", "paths": {"/i/{id}": {"get": {"parameters": params}}}});
        let ops = operations(&doc)?;
        let args = args.as_object().cloned().unwrap_or_default();
        build(&ops[0], "http://h:1/api/", &args).map(|r| format!("{} {}", r.authority, r.path))
    }

    #[test]
    fn query_styles_and_path_segments() {
        let params = json!([
            {"name": "id", "in": "path", "required": true},
            {"name": "t", "in": "query"},
            {"name": "u", "in": "query", "explode": false},
            {"name": "q", "in": "query"},
        ]);
        assert_eq!(
            path_of(
                params.clone(),
                json!({"id": "a/b c", "t": ["x", "y"], "u": ["x", "y"], "q": "1&2"})
            ),
            Ok("h:1 /api/i/a%2Fb%20c?t=x&t=y&u=x%2Cy&q=1%262".to_string())
        );
        assert_eq!(
            path_of(params.clone(), json!({"t": ["x"]})),
            Err("the path parameter \"id\" is missing".to_string())
        );
        // A value that is a dot segment is refused; one that holds dots
        // in a longer segment is not.
        for dots in [".", ".."] {
            assert_eq!(
                path_of(params.clone(), json!({ "id": dots })),
                Err(format!(
                    "the path parameter \"id\" cannot be {dots:?}: it would step out of the operation's path"
                ))
            );
        }
        assert_eq!(
            path_of(params, json!({"id": "..."})),
            Ok("h:1 /api/i/...".to_string())
        );
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            split_base("https://api.example.com/v1/"),
            Ok(("https".into(), "api.example.com".into(), "/v1".into()))
        );
        assert!(split_base("ftp://x").is_err());
        assert!(split_base("http://user@x/").is_err());
        assert!(split_base("http://x/?q=1").is_err());
    }
}
