//! Per-tenant redaction of what `weft serve --http` answers, and the
//! redaction oracle.
//!
//! A tenant's own credentials (a per-tenant server's `${secret:}` value,
//! set with `weft secrets set --tenant`) reach that tenant's agents as
//! they are; every other tenant's, and the operator's, reach them masked,
//! whatever path they take. A tenant that sends a guess of another
//! tenant's secret (as a tool name, a search query, a resource URI, a
//! prompt name) gets exactly the answer a wrong guess gets, so it cannot
//! learn the secret by seeing what comes back masked; and what it sent is
//! quoted back cut to 64 characters.

use super::*;

const ACME_TOKEN: &str = "acme-token-5c1d0e";
const GLOBEX_TOKEN: &str = "globex-token-77ab3f";
const OPS_KEY: &str = "operator-key-93be17";

/// weft with a per-tenant `vault` (each tenant's own `TOKEN`) and a
/// shared `shared` server whose environment holds the operator's key and,
/// under a name that is no credential's, acme's token (a value of acme's
/// that a shared server can hand anyone): (dir, weft, base, acme, globex).
fn start() -> (tempfile::TempDir, Background, String, String, String) {
    let dir = temp_dir();
    let d = dir.path();
    let mut text = fixture(d, "vault", &[]);
    text += "per_tenant = true\nenv = { TOKEN = \"${secret:TOKEN}\" }\n";
    text += &fixture(d, "shared", &[]);
    text += &format!("env = {{ OPS_KEY = \"${{secret:OPS_KEY}}\", NOTE = \"{ACME_TOKEN}\" }}\n");
    for t in ["acme", "globex"] {
        text += &format!("\n[tenants.{t}]\ninclude = [\"vault.*\", \"shared.*\"]\n");
    }
    std::fs::write(d.join("weft.toml"), text).unwrap();
    set_secret_for(d, Some("acme"), "TOKEN", ACME_TOKEN);
    set_secret_for(d, Some("globex"), "TOKEN", GLOBEX_TOKEN);
    set_secret(d, "OPS_KEY", OPS_KEY);
    let (acme, globex) = (add_key(d, "acme"), add_key(d, "globex"));
    let (weft, base) = serve_in(d, &d.join("weft.stderr"));
    (dir, weft, base, acme, globex)
}

/// The text a call of the fixture's `env` tool answers for `name`.
async fn env_of(client: &Client, server: &str, name: &str) -> String {
    let r = call(client, &format!("{server}__env"), json!({"name": name})).await;
    assert_eq!(r.is_error, Some(false), "{r:?}");
    text_of(&r)
}

fn text_of(r: &rmcp::model::CallToolResult) -> String {
    r.content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_its_own_credentials_and_no_one_elses() {
    let (_dir, _weft, base, acme_key, globex_key) = start();
    let acme = connect(&base, &acme_key).await;
    let globex = connect(&base, &globex_key).await;

    // Each tenant's own instance hands it its own token, unmasked.
    assert_eq!(env_of(&acme, "vault", "TOKEN").await, ACME_TOKEN);
    assert_eq!(env_of(&globex, "vault", "TOKEN").await, GLOBEX_TOKEN);
    // The same bytes from a shared server: acme's own value reaches acme,
    // and reaches globex masked.
    assert_eq!(env_of(&acme, "shared", "NOTE").await, ACME_TOKEN);
    assert_eq!(env_of(&globex, "shared", "NOTE").await, "[REDACTED]");
    // The operator's key is masked for every tenant.
    for client in [&acme, &globex] {
        assert_eq!(env_of(client, "shared", "OPS_KEY").await, "[REDACTED]");
    }
    // A plain JSON answer (a 2026-07-28 request) is redacted per tenant
    // too: acme's value in globex's answer is masked.
    let read = |key: String| {
        let base = base.clone();
        async move {
            let params = json!({"name": "shared__env", "arguments": {"name": "NOTE"}});
            let resp = send_modern(&base, &key, "tools/call", params, json!({})).await;
            within("the body", resp.text()).await.unwrap()
        }
    };
    let mine = message_of(&read(acme_key.clone()).await);
    let theirs = message_of(&read(globex_key.clone()).await);
    assert_eq!(mine["result"]["content"][0]["text"], ACME_TOKEN, "{mine}");
    assert_eq!(
        theirs["result"]["content"][0]["text"], "[REDACTED]",
        "{theirs}"
    );
}

/// The params of a request, made from a guess.
type Params = fn(&str) -> Value;

/// One request as `key` in `session`, with id 5: the JSON-RPC answer as
/// text (at most 2 KiB, whatever the request's size).
async fn answer_to(base: &str, key: &str, session: &str, method: &str, params: Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 5, "method": method, "params": params});
    let (status, _, text) = within(
        method,
        raw(
            &format!("{base}/mcp"),
            Some(key),
            Some(session),
            body.to_string().into_bytes(),
        ),
    )
    .await;
    assert_eq!(status, 200, "{method}: {text}");
    assert!(text.len() < 2048, "{method}: a {} byte answer", text.len());
    message_of(&text).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_another_tenants_secret_gets_the_answer_a_wrong_guess_gets() {
    let (dir, _weft, base, _acme_key, globex_key) = start();
    let session = open_session(&base, &globex_key).await;
    // A right guess of acme's token, a wrong one of the same length, and
    // each inside a long input (the token first, then 200 more bytes).
    let right = ACME_TOKEN.to_string();
    let wrong = format!("{}x", &ACME_TOKEN[..ACME_TOKEN.len() - 1]);
    assert_ne!(right, wrong);
    let routes: [(&str, Params); 4] = [
        ("tools/call", |g| json!({"name": g})),
        (
            "tools/call",
            |g| json!({"name": "weft_search_tools", "arguments": {"query": g}}),
        ),
        ("resources/read", |g| json!({"uri": g})),
        ("prompts/get", |g| json!({"name": g})),
    ];
    for long in [false, true] {
        let guess = |g: &str| {
            if long {
                format!("{g}{}", "y".repeat(200))
            } else {
                g.to_string()
            }
        };
        let (right, wrong) = (guess(&right), guess(&wrong));
        for (method, params) in &routes {
            let what = format!("{method} {} (long: {long})", params("G"));
            let to_right = answer_to(&base, &globex_key, &session, method, params(&right)).await;
            let to_wrong = answer_to(&base, &globex_key, &session, method, params(&wrong)).await;
            assert!(!to_right.contains("[REDACTED]"), "{what}: {to_right}");
            // Quoted back, at most its first 64 characters.
            let shown = |g: &str| g.chars().take(64).collect::<String>();
            assert!(to_wrong.contains(&shown(&wrong)), "{what}: {to_wrong}");
            if long {
                assert!(
                    !to_wrong.contains(&wrong.chars().take(65).collect::<String>()),
                    "{what}: more than 64 characters of the input: {to_wrong}"
                );
            }
            // Byte for byte the same answer once the guess itself is set
            // aside: nothing tells the right guess from the wrong one.
            assert_eq!(
                to_right.replace(&shown(&right), "GUESS"),
                to_wrong.replace(&shown(&wrong), "GUESS"),
                "{what}"
            );
        }
    }
    // None of it reached a server.
    for server in ["vault", "shared"] {
        let calls = std::fs::read_to_string(record_of(dir.path(), server)).unwrap_or_default();
        assert!(!calls.contains("acme-token"), "{server}: {calls}");
    }
}
