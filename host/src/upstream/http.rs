//! Streamable HTTP upstreams, through rmcp's reqwest transport.
//!
//! Headers from the config (already resolved, secrets included) go on every
//! request to this server and nowhere else. A session the server expired is
//! re-established by the transport.

use std::collections::{BTreeMap, HashMap};

use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

/// Builds the transport; fails only on headers that are not valid HTTP.
pub fn transport(
    url: &str,
    headers: &BTreeMap<String, String>,
) -> Result<StreamableHttpClientTransport<reqwest::Client>, String> {
    let mut custom = HashMap::new();
    let mut auth = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("authorization") {
            // rmcp adds the Authorization header itself, as a bearer token.
            auth = Some(value.strip_prefix("Bearer ").unwrap_or(value).to_string());
            continue;
        }
        let n = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header name {name:?} is not valid HTTP"))?;
        // The value may hold a secret: say which header, never the value.
        let v = http::HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header {name} is not valid HTTP"))?;
        custom.insert(n, v);
    }
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .custom_headers(custom)
        .reinit_on_expired_session(true);
    if let Some(token) = auth {
        config = config.auth_header(token);
    }
    Ok(StreamableHttpClientTransport::from_config(config))
}
