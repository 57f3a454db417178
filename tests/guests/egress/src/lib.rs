//! A test adapter that makes HTTP requests through `wasi:http`.
//!
//! `fetch` sends one request and reports the answer (status, headers,
//! body) or the error the host gave, and the headers of its own request as
//! it could read them just before sending. `probe` reports everything else
//! a component could read a secret from: its config and its environment.

use std::collections::BTreeMap;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use weft_guest::adapter::*;
use weft_guest::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Fetch {
    /// `http://host:port/path?query`.
    url: String,
    /// GET unless given.
    #[serde(default)]
    method: Option<String>,
    /// Headers to set on the request.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A body to send.
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
struct Nothing {}

/// Splits `scheme://authority/path` into its parts.
fn split(url: &str) -> Result<(Scheme, String, String), String> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else {
        return Err(format!("not an http(s) URL: {url}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    Ok((scheme, authority.to_string(), path.to_string()))
}

fn entries(fields: &Fields) -> Vec<(String, String)> {
    fields
        .entries()
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect()
}

fn fetch(a: Fetch) -> Result<Value, Error> {
    let (scheme, authority, path) = split(&a.url).map_err(Error::msg)?;
    let headers = Fields::new();
    let mut refused = Vec::new();
    for (name, value) in &a.headers {
        if let Err(e) = headers.append(name, value.as_bytes()) {
            refused.push(json!({"header": name, "error": format!("{e:?}")}));
        }
    }
    let request = OutgoingRequest::new(headers);
    let method = match a.method.as_deref().unwrap_or("GET") {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        other => Method::Other(other.to_string()),
    };
    let _ = request.set_method(&method);
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(&authority));
    let _ = request.set_path_with_query(Some(&path));
    let sent_headers = entries(&request.headers());
    let body = request.body().map_err(|_| Error::msg("no request body"))?;
    let future = match outgoing_handler::handle(request, None) {
        Ok(f) => f,
        Err(e) => {
            return Ok(
                json!({"ok": false, "error": format!("{e:?}"), "sent_headers": sent_headers, "refused_headers": refused}),
            );
        }
    };
    {
        let out = body.write().map_err(|_| Error::msg("no body stream"))?;
        if let Some(text) = &a.body {
            out.blocking_write_and_flush(text.as_bytes())
                .map_err(|e| Error::msg(format!("{e:?}")))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|e| Error::msg(format!("{e:?}")))?;
    future.subscribe().block();
    let answer = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => {
            return Ok(
                json!({"ok": false, "error": format!("{e:?}"), "sent_headers": sent_headers, "refused_headers": refused}),
            );
        }
        other => return Err(Error::msg(format!("the response future failed: {other:?}"))),
    };
    let status = answer.status();
    let got_headers = entries(&answer.headers());
    let incoming = answer
        .consume()
        .map_err(|_| Error::msg("no response body"))?;
    let mut read = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|_| Error::msg("no body stream"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => read.extend_from_slice(&chunk),
                Err(_) => break,
            }
        }
    }
    Ok(json!({
        "ok": true,
        "status": status,
        "headers": got_headers,
        "body": String::from_utf8_lossy(&read),
        "sent_headers": sent_headers,
        "refused_headers": refused,
    }))
}

fn probe(_: Nothing) -> Result<Value, Error> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    Ok(json!({"config": config(), "env": env, "args": std::env::args().collect::<Vec<_>>()}))
}

fn tools() -> Tools {
    Tools::new()
        .tool(
            "fetch",
            "Sends one HTTP request and reports the answer",
            fetch,
        )
        .tool(
            "probe",
            "Reports the config and environment it can read",
            probe,
        )
        .read_only()
}

weft_guest::adapter!(tools);
