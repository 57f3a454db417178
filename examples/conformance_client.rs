//! A client the official MCP conformance suite can drive, built on weft
//! as a library: the suite starts a scenario's server, then runs
//! `conformance_client URL` with the scenario's name in
//! `MCP_CONFORMANCE_SCENARIO`. This program configures that URL as weft's
//! only upstream (`[servers.s] url = URL`), so the suite talks to weft's
//! own upstream layer: its handshake or its stateless requests, its
//! streamable HTTP client, and its calls.
//!
//! What it does, whatever the scenario: start the hub (connect, in the era
//! the server speaks), list the server's tools, and call each one once,
//! with arguments made from its input schema (a number is 1, a string
//! "x ü" (so a header value needs encoding), a boolean true; optional
//! properties are left out; a `schema` object is another tool's input
//! schema as weft holds it). It exits 0 when
//! the server connected, 1 when it did not; the suite judges the rest.
//!
//! Run with `cargo run -p weft-examples --example conformance_client -- URL`.

use serde_json::{Map, Value};

/// A value of the type a property's schema names.
fn sample(schema: &Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("number") | Some("integer") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(arguments(schema)),
        _ => match schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            Some(first) => first.clone(),
            None => Value::String("x ü".into()),
        },
    }
}

/// Arguments for a tool: each required property of its input schema.
fn arguments(schema: &Value) -> Map<String, Value> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut args = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            if required.contains(&name.as_str()) {
                args.insert(name.clone(), sample(prop));
            }
        }
    }
    args
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: conformance_client URL"))?;
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let dir = tempfile_dir()?;
    let mut text = format!(
        "[settings]\njournal = false\n\n[servers.s]\nurl = {}\n",
        toml_string(&url)
    );
    if scenario.starts_with("auth/") {
        text.push_str(&oauth_table(&scenario));
        weft::oauth::set_authorizer(std::sync::Arc::new(Approver));
    }
    let path = dir.join("weft.toml");
    std::fs::write(&path, &text)?;
    let config = weft::Config::from_str(&text, &path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hub = weft::Hub::start_unsupervised(config).await;
    let status = hub.status();
    let connected = status.iter().any(|s| s.protocol.is_some());
    eprintln!(
        "conformance_client: scenario {scenario:?}, connected: {connected}, protocol {:?}",
        status.first().and_then(|s| s.protocol.clone())
    );
    let catalog = hub.catalog();
    let tools: Vec<(String, Value)> = catalog
        .tools()
        .iter()
        .map(|t| {
            let schema = Value::Object(t.tool.input_schema.as_ref().clone());
            (t.name().to_string(), schema)
        })
        .collect();
    if !connected {
        let why = status
            .first()
            .and_then(|s| s.last_error.as_ref())
            .map(|e| format!("{e:?}"))
            .unwrap_or_default();
        anyhow::bail!("the server did not connect: {why}");
    }
    for (name, schema) in &tools {
        let mut args = arguments(schema);
        // A tool that takes a `schema` object is given another tool's
        // input schema exactly as weft's catalog holds it: the suite's
        // echo scenario checks that nothing of it was lost.
        if schema["properties"]["schema"]["type"] == "object"
            && let Some((_, other)) = tools.iter().find(|(n, _)| n != name)
        {
            args.insert("schema".into(), other.clone());
        }
        let (name, args) = (name.clone(), args);
        // The call as an agent's: the server's requests for input come
        // back here, and are answered as a plain agent would.
        let (relay, mut asked) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(message) = asked.recv().await {
                if let weft::relay::Message::Ask { request, reply } = message {
                    let _ = reply.send(Ok(answer(&request)));
                }
            }
        });
        let request =
            weft::CallRequest::new(weft::Caller::owner(), hub.catalog(), "s", &name, Some(args))
                .forwarded(weft::Forward::new(relay));
        let outcome = match hub.call(&request).await {
            Ok(weft::Forwarded::Complete(result)) => Ok(result),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(result) => eprintln!(
                "conformance_client: {name}: {}",
                serde_json::to_string(&result).unwrap_or_default()
            ),
            Err(e) => eprintln!("conformance_client: {name} failed: {e}"),
        }
    }
    hub.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The `[servers.s.oauth]` table for an `auth/*` scenario: the client
/// the suite pre-registered (its context), the machine grants with what
/// the suite hands them (a secret or a private key for client
/// credentials, a workload token, an enterprise IdP's ID token), and a
/// client metadata document URL the suite's authorization servers accept.
fn oauth_table(scenario: &str) -> String {
    let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or_default();
    let mut table = String::from("\n[servers.s.oauth]\n");
    table.push_str(
        "client_metadata_url = \"https://conformance-test.local/client-metadata.json\"\n",
    );
    // The scenario's context key for each config key.
    let keys: &[(&str, &str)] = match scenario {
        "auth/client-credentials-jwt" => {
            table.push_str("grant = \"client_credentials\"\n");
            &[
                ("client_id", "client_id"),
                ("private_key", "private_key_pem"),
                ("signing_algorithm", "signing_algorithm"),
            ]
        }
        s if s.starts_with("auth/client-credentials") => {
            table.push_str("grant = \"client_credentials\"\n");
            &[
                ("client_id", "client_id"),
                ("client_secret", "client_secret"),
            ]
        }
        "auth/wif-jwt-bearer" => {
            table.push_str("grant = \"jwt_bearer\"\n");
            &[("client_id", "client_id"), ("assertion", "valid_jwt")]
        }
        "auth/enterprise-managed-authorization" => {
            table.push_str("grant = \"enterprise\"\n");
            &[
                ("client_id", "client_id"),
                ("client_secret", "client_secret"),
                ("idp_issuer", "idp_issuer"),
                ("idp_token_endpoint", "idp_token_endpoint"),
                ("idp_client_id", "idp_client_id"),
                ("id_token", "idp_id_token"),
            ]
        }
        _ => &[
            ("client_id", "client_id"),
            ("client_secret", "client_secret"),
        ],
    };
    for (key, from) in keys {
        if let Some(v) = context.get(from).and_then(Value::as_str) {
            table.push_str(&format!("{key} = {}\n", toml_string(v)));
        }
    }
    table
}

/// Approves every authorization request as a person at a browser would:
/// the suite's authorization servers answer `/authorize` with a redirect
/// carrying the code, which is all a browser would follow.
struct Approver;

impl weft::oauth::Authorizer for Approver {
    fn redirect_uri(&self) -> String {
        "http://localhost:3000/callback".into()
    }

    fn authorize<'a>(&'a self, url: &'a str) -> weft::oauth::BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(async move {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let answer = client.get(url).send().await?;
            answer
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the authorization server answered {} with no redirect",
                        answer.status()
                    )
                })
        })
    }
}

/// What an agent answers a server's request for input: an elicitation
/// accepted with each field's default (SEP-1034), a sampling request with
/// a short text, no roots.
fn answer(request: &impl serde::Serialize) -> Value {
    let request = serde_json::to_value(request).unwrap_or_default();
    match request["method"].as_str() {
        Some("elicitation/create") => {
            let mut content = Map::new();
            if let Some(props) = request["params"]["requestedSchema"]["properties"].as_object() {
                for (name, prop) in props {
                    if let Some(default) = prop.get("default") {
                        content.insert(name.clone(), default.clone());
                    }
                }
            }
            serde_json::json!({"action": "accept", "content": content})
        }
        Some("sampling/createMessage") => serde_json::json!({
            "role": "assistant", "model": "conformance-client",
            "content": {"type": "text", "text": "ok"}
        }),
        _ => serde_json::json!({"roots": []}),
    }
}

/// A folder of its own for the config (the hub reads its path).
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("weft-conformance-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
