//! A tool call's arguments turned into an HTTP request: the path template
//! filled in (each value percent-encoded as one segment; `.` and `..`,
//! which no encoding keeps one segment, refused), the query
//! encoded (arrays as repeated keys unless `explode: false`), headers,
//! and the body as JSON.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::spec::{Operation, Place};

/// What may stay as it is in a path segment: RFC 3986's unreserved
/// characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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

/// A `GET` of `url` (`http(s)://HOST[:PORT]/PATH[?QUERY]`) asking for
/// JSON.
pub fn get(url: &str) -> Result<Request, String> {
    if url.contains('#') {
        return Err(format!("the URL {url:?} may not hold a fragment"));
    }
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, authority, path) = split_base(base)?;
    let mut path = if path.is_empty() { "/".to_string() } else { path };
    if let Some(query) = query {
        path = format!("{path}?{query}");
    }
    Ok(Request {
        method: "GET".into(),
        scheme,
        authority,
        path,
        headers: vec![("accept".into(), "application/json".into())],
        body: None,
    })
}

/// The request `op` makes with `args`, against `base`.
pub fn build(op: &Operation, base: &str, args: &Map<String, Value>) -> Result<Request, String> {
    let (scheme, authority, prefix) = split_base(base)?;
    let mut path = op.path.clone();
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut headers = Vec::new();
    for p in &op.params {
        let Some(value) = args.get(&p.arg).filter(|v| !v.is_null()) else {
            if p.place == Place::Path {
                return Err(format!("the path parameter {:?} is missing", p.arg));
            }
            continue;
        };
        match p.place {
            Place::Path => {
                let text = scalar(value, ",");
                // A URL parser resolves `.` and `..` (and `%2e%2e`) as a
                // step in the path: no encoding keeps them one segment.
                if text == "." || text == ".." {
                    return Err(format!(
                        "the path parameter {:?} cannot be {text:?}: it would step out of the operation's path",
                        p.arg
                    ));
                }
                let encoded = utf8_percent_encode(&text, SEGMENT).to_string();
                path = path.replace(&format!("{{{}}}", p.name), &encoded);
            }
            Place::Query => match value {
                Value::Array(items) if p.explode => {
                    for item in items {
                        query.append_pair(&p.name, &scalar(item, ","));
                    }
                }
                Value::Object(map) if p.explode => {
                    for (k, v) in map {
                        query.append_pair(k, &scalar(v, ","));
                    }
                }
                other => {
                    query.append_pair(&p.name, &scalar(other, ","));
                }
            },
            Place::Header => headers.push((p.name.clone(), scalar(value, ","))),
        }
    }
    let mut body = None;
    if let Some(b) = &op.body
        && let Some(value) = args.get(&b.arg)
    {
        let bytes = match (b.json, value) {
            (true, v) => v.to_string().into_bytes(),
            (false, Value::String(s)) => s.clone().into_bytes(),
            (false, v) => v.to_string().into_bytes(),
        };
        headers.push(("content-type".into(), b.content_type.clone()));
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

/// A value as parameter text: a string as it is, an array or object as
/// its items joined by `sep` (OpenAPI's `simple` and non-exploded `form`
/// styles), anything else as JSON.
fn scalar(value: &Value, sep: &str) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| scalar(i, sep))
            .collect::<Vec<_>>()
            .join(sep),
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| [k.clone(), scalar(v, sep)])
            .collect::<Vec<_>>()
            .join(sep),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::operations;
    use serde_json::json;

    #[test]
    fn a_spec_url_is_one_get_with_its_query() {
        let r = get("https://api.example.com/v1/openapi.json?format=json").unwrap();
        assert_eq!(
            (r.method.as_str(), r.scheme.as_str(), r.authority.as_str(), r.path.as_str()),
            ("GET", "https", "api.example.com", "/v1/openapi.json?format=json")
        );
        assert_eq!(get("http://127.0.0.1:8080").unwrap().path, "/");
        for bad in [
            "ftp://example.com/spec.json",
            "https://user@example.com/spec.json",
            "https://example.com/spec.json#top",
            "example.com/spec.json",
            "",
        ] {
            assert!(get(bad).is_err(), "{bad}");
        }
    }

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
