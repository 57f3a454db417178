//! OAuth for agents on `weft serve --http` (`[oauth]`): a test issuer made
//! at run time (an ECDSA P-256 key, its JWKS served by Python's own HTTP
//! server), tokens signed with it, and weft checking them. A good token
//! is served as the tenant its `org` claim names; an expired token, one
//! for another audience, one signed by a key the issuer never published,
//! one whose signature was altered and one with `alg: none` are each
//! refused with 401 and a challenge that points at weft's metadata.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Value, json};

use crate::support::edge::{Served, serve, write_config};
use crate::support::issuer::{ISSUER, RESOURCE, Signer, initialize};
use crate::support::*;

/// Python's HTTP server publishing `jwks` from `dir`: (process, its URL).
pub(crate) fn publish(dir: &Path, jwks: &JwkSet) -> (Background, String) {
    std::fs::write(
        dir.join("jwks.json"),
        serde_json::to_string(jwks).expect("JWKS JSON"),
    )
    .expect("write the JWKS");
    let mut cmd = Command::new(venv_bin("python"));
    cmd.args([
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        "0",
        "--directory",
    ])
    .arg(dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let bg = Background::spawn(&mut cmd);
    let pid = bg.0.id();
    let mut ports = vec![];
    wait_until(Duration::from_secs(30), "the JWKS server to listen", || {
        ports = listening_ports(pid);
        !ports.is_empty()
    });
    let url = format!("http://127.0.0.1:{}/jwks.json", ports[0]);
    (bg, url)
}

fn challenge(answer: &crate::support::edge::Answer) -> String {
    answer
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// A weft serving `servers` (TOML) with agents' tokens checked against
/// `signer`'s published key: the `[oauth]` table, then `more`. Returns
/// weft and the JWKS server (kept alive with it).
fn serve_with_issuer(
    dir: &Path,
    signer: &Signer,
    servers: &str,
    more: &str,
) -> (Served, Background) {
    let (jwks, jwks_uri) = publish(
        dir,
        &JwkSet {
            keys: vec![signer.jwk.clone()],
        },
    );
    let config = write_config(
        dir,
        &format!(
            "{servers}\n[oauth]\nissuer = {}\nresource = {}\njwks_uri = {}\ntenant_claim = \"org\"\nscopes = [\"mcp\"]\n{more}",
            q(ISSUER),
            q(RESOURCE),
            q(&jwks_uri)
        ),
    );
    (serve(&config, &[]), jwks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_tokens_are_checked_and_name_their_tenant() {
    let dir = temp_dir();
    let good = Signer::new("k1");
    let stranger = Signer::new("k2");
    let (weft, _jwks) = serve_with_issuer(
        dir.path(),
        &good,
        "[servers.echo]\nbuiltin = \"echo\"\n\n\
         [tenants.acme]\ninclude = [\"echo.*\"]\n\n[tenants.globex]\ninclude = []\n",
        "",
    );
    let base = weft.base.clone();
    let metadata_url = "http://weft.test/.well-known/oauth-protected-resource/mcp";

    // weft's metadata names its resource, issuer and scopes.
    let meta = get_json(
        &format!("127.0.0.1:{}", weft.port),
        "/.well-known/oauth-protected-resource/mcp",
    );
    assert_eq!(
        meta,
        json!({"resource": RESOURCE, "authorization_servers": [ISSUER],
               "scopes_supported": ["mcp"], "bearer_methods_supported": ["header"]})
    );

    // No token: 401 pointing at the metadata, with no error code.
    let none = initialize(&base, None).await;
    assert_eq!(none.status, 401);
    assert_eq!(
        challenge(&none),
        format!("Bearer resource_metadata=\"{metadata_url}\", scope=\"mcp\"")
    );

    // A good token: the tenant is the one its `org` claim names. acme sees
    // the echo tool and calls it; globex's view has nothing.
    let out = crate::serve::agent(
        &format!("{base}/mcp"),
        "auto",
        "sequence",
        json!({"key": good.token(json!({"org": "acme"})),
               "calls": [{"tool": "echo__echo", "args": {"message": "as acme"}}]}),
    );
    assert_eq!(out["calls"][0]["error"], false, "{out}");
    assert!(
        out["calls"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("as acme")),
        "{out}"
    );
    let globex = crate::serve::agent(
        &format!("{base}/mcp"),
        "auto",
        "sequence",
        json!({"key": good.token(json!({"org": "globex"})), "calls": []}),
    );
    let sees_echo = |listing: &Value| {
        listing["tools"]
            .as_object()
            .expect("tools by name")
            .contains_key("echo__echo")
    };
    assert!(sees_echo(&out), "{out}");
    assert!(!sees_echo(&globex), "{globex}");

    // Each bad token: 401, invalid_token, and why.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock")
        .as_secs();
    let valid = good.token(json!({"org": "acme"}));
    let mut parts = valid.split('.');
    let (header, payload) = (
        parts.next().expect("a header"),
        parts.next().expect("a payload"),
    );
    let mut signature = B64
        .decode(parts.next().expect("a signature"))
        .expect("base64");
    signature[10] ^= 0x01;
    let altered = format!("{header}.{payload}.{}", B64.encode(&signature));
    let unsigned = format!("{}.{payload}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#));
    let cases = [
        (
            "expired",
            good.token(json!({"org": "acme", "exp": now - 3600})),
            "the token has expired",
        ),
        (
            "another audience",
            good.token(json!({"org": "acme", "aud": "https://other.test/mcp"})),
            "the token is for another audience",
        ),
        (
            "an unknown key",
            stranger.token(json!({"org": "acme"})),
            "the token's signing key is not one of the issuer's",
        ),
        (
            "an altered signature",
            altered,
            "the token's signature does not verify",
        ),
        ("alg none", unsigned, "the token is not a valid JWT"),
        (
            "no tenant",
            good.token(json!({"org": "initech"})),
            "the token names no tenant of this weft",
        ),
    ];
    for (what, token, why) in cases {
        let answer = initialize(&base, Some(&token)).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        let c = challenge(&answer);
        assert!(
            c.starts_with(&format!(
                "Bearer resource_metadata=\"{metadata_url}\", scope=\"mcp\", error=\"invalid_token\", error_description=\""
            )),
            "{what}: {c}"
        );
        assert!(c.contains(why), "{what}: {c}");
        assert!(answer.body.contains(why), "{what}: {}", answer.body);
    }

    // A token without the required scope: 403 insufficient_scope.
    let narrow = initialize(
        &base,
        Some(&good.token(json!({"org": "acme", "scope": "other"}))),
    )
    .await;
    assert_eq!(narrow.status, 403, "{}", narrow.body);
    assert!(
        challenge(&narrow).contains("error=\"insufficient_scope\""),
        "{}",
        challenge(&narrow)
    );
}

/// `[oauth.grants]`: a token's scopes decide which tools its agent sees
/// in `tools/list` and may call; a tool no scope grants is neither listed
/// nor callable, and a token without a granting scope sees none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_narrow_the_tools_an_agent_sees_and_calls() {
    let dir = temp_dir();
    let good = Signer::new("k1");
    let (weft, _jwks) = serve_with_issuer(
        dir.path(),
        &good,
        "[servers.notes]\nbuiltin = \"echo\"\n\n[servers.admin]\nbuiltin = \"echo\"\n\n\
         [tenants.acme]\ninclude = [\"notes.*\", \"admin.*\"]\n",
        "\n[oauth.grants]\n\"notes:read\" = [\"notes.*\"]\n\"admin\" = [\"admin.*\", \"notes.*\"]\n",
    );
    let url = format!("{}/mcp", weft.base);
    let as_scopes = |scope: &str, calls: Value| {
        crate::serve::agent(
            &url,
            "auto",
            "sequence",
            json!({"key": good.token(json!({"org": "acme", "scope": scope})), "calls": calls}),
        )
    };
    let names = |out: &Value| -> Vec<String> {
        let mut n: Vec<String> = out["tools"]
            .as_object()
            .expect("tools by name")
            .keys()
            .filter(|k| k.ends_with("__echo"))
            .cloned()
            .collect();
        n.sort();
        n
    };

    let reader = as_scopes(
        "mcp notes:read",
        json!([{"tool": "notes__echo", "args": {"message": "ok"}},
               {"tool": "admin__echo", "args": {"message": "no"}},
               {"tool": "weft_search_tools", "args": {"query": "echo"}}]),
    );
    assert_eq!(names(&reader), ["notes__echo"], "{reader}");
    assert_eq!(reader["calls"][0]["error"], false, "{reader}");
    // As for a tool outside a tenant's view: unknown, not "forbidden".
    assert_eq!(
        reader["calls"][1]["rpc_error"],
        json!({"code": -32602, "data": null, "message": "Unknown tool: \"admin__echo\""}),
        "{reader}"
    );
    // Search finds only what the scopes grant.
    let found = reader["calls"][2]["text"].as_str().unwrap_or_default();
    assert!(
        found.contains("notes__echo") && !found.contains("admin__echo"),
        "{reader}"
    );

    let admin = as_scopes(
        "mcp admin",
        json!([{"tool": "admin__echo", "args": {"message": "yes"}}]),
    );
    assert_eq!(names(&admin), ["admin__echo", "notes__echo"], "{admin}");
    assert_eq!(admin["calls"][0]["error"], false, "{admin}");

    let bare = as_scopes("mcp", json!([]));
    assert!(names(&bare).is_empty(), "no scope grants a tool: {bare}");
}
