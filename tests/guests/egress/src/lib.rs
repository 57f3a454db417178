//! A test adapter that makes HTTP requests through `wasi:http`.
//!
//! `fetch` sends one request and reports the answer (status, headers,
//! body) or the error the host gave, and the headers of its own request as
//! it could read them just before sending. `probe` reports everything else
//! a component could read a secret from: its config and its environment.
//! `memory` makes requests as `fetch` does, then searches its own linear
//! memory, every page of it, for strings given XOR-ed with 0x5A (so the
//! arguments themselves do not hold them), and says which it found.

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

#[derive(Deserialize, JsonSchema)]
struct Memory {
    /// Requests to make first, as `fetch` makes them.
    #[serde(default)]
    fetch: Vec<Fetch>,
    /// The strings to look for, each byte XOR 0x5A, as hex.
    masked: Vec<String>,
}

fn unmask_hex(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn memory(a: Memory) -> Result<Value, Error> {
    let mut answers = Vec::new();
    for f in a.fetch {
        answers.push(fetch(f)?);
    }
    // Every byte of linear memory, from the first page to the last (the
    // first byte skipped: address 0 may not be read through a pointer).
    let size = core::arch::wasm32::memory_size(0) * 65536;
    let mut found = Vec::new();
    for (n, hex) in a.masked.iter().enumerate() {
        let masked = unmask_hex(hex);
        if masked.is_empty() {
            continue;
        }
        let hit = (1..size.saturating_sub(masked.len())).any(|at| {
            masked.iter().enumerate().all(|(j, m)| {
                // SAFETY: `at + j` is inside linear memory, which is all
                // readable, and not address 0.
                let byte = unsafe { core::ptr::read_volatile((at + j) as *const u8) };
                byte ^ 0x5A == *m
            })
        });
        if hit {
            found.push(n);
        }
    }
    let statuses: Vec<Value> = answers.iter().map(|a| a["status"].clone()).collect();
    Ok(json!({"found": found, "scanned": size, "statuses": statuses}))
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
        .tool(
            "memory",
            "Makes requests, then searches its own memory for strings",
            memory,
        )
}

weft_guest::adapter!(tools);
