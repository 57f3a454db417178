//! The OpenAPI adapter on the wire, against the FastAPI fixture: the
//! document fetched by weft as YAML from `spec_url` and kept by its ETag,
//! cut to a part of the API (`operations`, `exclude`), its server URL's
//! variables filled in, each security scheme's secret added by weft (an
//! API key in the query and in a cookie, HTTP basic, a bearer token, a
//! token from OAuth 2's client-credentials flow), and
//! bodies and parameters written in the encodings the document names (a
//! form, a multipart upload, a `deepObject` filter).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::rest_api::{self, RestApi};
use crate::support::*;

/// `api` (query key, cookie key and basic) and `bearer` (its token), both
/// on the fixture's YAML document.
fn config(dir: &Path, api: &RestApi) -> std::path::PathBuf {
    let secrets = dir.join("secrets.toml");
    std::fs::write(
        &secrets,
        format!(
            "QK = {:?}\nCK = {:?}\nPW = {:?}\nBT = {:?}\nCS = {:?}\n",
            rest_api::QUERY_KEY,
            rest_api::COOKIE_KEY,
            rest_api::BASIC_PASSWORD,
            rest_api::BEARER,
            rest_api::CLIENT_SECRET,
        ),
    )
    .expect("write secrets");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let port = api.port;
    let text = format!(
        r#"[settings]
secrets = "secrets.toml"

[servers.api]
component = "builtin:openapi"
egress = ["http://127.0.0.1:{port}/*"]
[servers.api.config]
spec_url = "http://127.0.0.1:{port}/openapi.yaml"
server_variables = {{ host = "127.0.0.1" }}
operations = ["GET /secure/*", "post /forms/*", "search_*", "whoami*"]
exclude = ["GET /secure/bearer", "secure_oauth*"]
[servers.api.security.APIKeyQuery]
value = "${{secret:QK}}"
[servers.api.security.APIKeyCookie]
value = "${{secret:CK}}"
[servers.api.security.HTTPBasic]
username = "{user}"
password = "${{secret:PW}}"

[servers.bearer]
component = "builtin:openapi"
egress = ["http://127.0.0.1:{port}/*"]
[servers.bearer.config]
spec_url = "http://127.0.0.1:{port}/openapi.yaml"
server_variables = {{ host = "127.0.0.1" }}
tags = []
operations = ["GET /secure/bearer", "GET /prefs"]
[servers.bearer.security.HTTPBearer]
value = "${{secret:BT}}"

[servers.machine]
component = "builtin:openapi"
egress = ["http://127.0.0.1:{port}/*"]
[servers.machine.config]
spec_url = "http://127.0.0.1:{port}/openapi.yaml"
server_variables = {{ host = "127.0.0.1" }}
operations = ["GET /secure/oauth"]
[servers.machine.security.OAuth2]
client_id = "{client}"
client_secret = "${{secret:CS}}"
scopes = "read"
"#,
        user = rest_api::BASIC_USER,
        client = rest_api::CLIENT_ID,
    );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

async fn call(hub: &weft::Hub, server: &str, tool: &str, args: Value) -> Value {
    let r = within(
        &format!("{server}.{tool}"),
        hub.call_tool(server, tool, args.as_object().cloned()),
    )
    .await
    .unwrap_or_else(|e| panic!("{server}.{tool}: {e}"));
    let text = text_of(&r);
    assert_ne!(r.is_error, Some(true), "{server}.{tool}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{tool}: not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemes_encodings_and_variables_reach_the_api_as_the_document_says() {
    let api = RestApi::start();
    let dir = temp_dir();
    let path = config(dir.path(), &api);
    let hub = start_hub_in(dir.path(), &path).await;

    // Only the operations chosen, less the one excluded.
    assert_eq!(
        server_tool_names(&hub, "api"),
        [
            "form_login_forms_login_post",
            "search_search_get",
            "secure_basic_secure_basic_get",
            "secure_cookie_secure_cookie_get",
            "secure_query_secure_query_get",
            "upload_forms_upload_post",
            "whoami_whoami_get",
        ]
    );
    assert_eq!(
        server_tool_names(&hub, "bearer"),
        ["prefs_prefs_get", "secure_bearer_secure_bearer_get"]
    );
    // The mark that tells weft which operation a tool is (its calls get
    // the document cut to that operation) never reaches an agent.
    let catalog = hub.catalog();
    let marked: Vec<&str> = catalog
        .tools()
        .iter()
        .filter(|t| t.tool.input_schema.contains_key("x-weft-operation"))
        .map(|t| t.name())
        .collect();
    assert_eq!(marked, Vec::<&str>::new());

    // Each scheme's secret, added by weft: the fixture answers 401 without it.
    for (server, tool, ok) in [
        ("api", "secure_query_secure_query_get", "query"),
        ("api", "secure_cookie_secure_cookie_get", "cookie"),
        ("api", "secure_basic_secure_basic_get", "basic"),
        ("bearer", "secure_bearer_secure_bearer_get", "bearer"),
    ] {
        assert_eq!(call(&hub, server, tool, json!({})).await["ok"], ok);
    }
    let seen = api.seen();
    let request = |path: &str| -> Value {
        seen.iter()
            .rev()
            .find(|r| r["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("no request for {path}"))
    };
    assert_eq!(
        request("/secure/query")["query"],
        format!("api_key={}", rest_api::QUERY_KEY)
    );
    assert_eq!(
        request("/secure/cookie")["headers"]["cookie"],
        format!("session={}", rest_api::COOKIE_KEY)
    );
    assert_eq!(
        request("/secure/bearer")["headers"]["authorization"],
        format!("Bearer {}", rest_api::BEARER)
    );
    // A cookie parameter, where no security scheme adds a cookie.
    let prefs = call(&hub, "bearer", "prefs_prefs_get", json!({"theme": "dark"})).await;
    assert_eq!(prefs, json!({"theme": "dark"}));
    // The client-credentials flow: one token asked for, as the client,
    // and used for both calls; echoed back, it reaches the agent masked.
    for _ in 0..2 {
        let answer = call(&hub, "machine", "secure_oauth_secure_oauth_get", json!({})).await;
        assert_eq!(answer, json!({"ok": "oauth", "token": "[REDACTED]"}));
    }
    let seen = api.seen();
    let asked: Vec<&Value> = seen.iter().filter(|r| r["path"] == "/token").collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        rest_api::CLIENT_ID,
        rest_api::CLIENT_SECRET
    ));
    assert_eq!(asked[0]["method"], "POST");
    assert_eq!(
        asked[0]["headers"]["authorization"],
        format!("Basic {basic}")
    );
    let used: Vec<&Value> = seen
        .iter()
        .filter(|r| r["path"] == "/secure/oauth")
        .map(|r| &r["headers"]["authorization"])
        .collect();
    assert_eq!(used.len(), 2);
    assert!(
        used[0]
            .as_str()
            .is_some_and(|a| a.starts_with("Bearer tok-1-")),
        "{used:?}"
    );
    assert_eq!(used[0], used[1]);
    // The bearer server's requests carry none of the other's secrets.
    assert_eq!(request("/secure/bearer")["query"], "");
    assert_eq!(request("/secure/bearer")["headers"]["cookie"], Value::Null);

    // An API that echoes what it got hands the component no secret back.
    let echoed = call(
        &hub,
        "api",
        "whoami_whoami_get",
        json!({"x-client-tag": "t"}),
    )
    .await;
    let text = echoed.to_string();
    for secret in [
        rest_api::QUERY_KEY,
        rest_api::COOKIE_KEY,
        rest_api::BASIC_PASSWORD,
    ] {
        assert!(
            !text.contains(secret),
            "{secret} reached the adapter: {text}"
        );
    }
    assert_eq!(echoed["headers"]["cookie"], "session=[REDACTED]", "{text}");

    // Bodies and parameters in the document's encodings.
    let form = call(
        &hub,
        "api",
        "form_login_forms_login_post",
        json!({"body": {"username": "ann", "tags": ["a", "b"]}}),
    )
    .await;
    assert_eq!(
        form,
        json!({"username": "ann", "tags": ["a", "b"], "content_type": "application/x-www-form-urlencoded"})
    );
    let upload = call(
        &hub,
        "api",
        "upload_forms_upload_post",
        json!({"body": {"note": "hi", "file": {"content": "hello, file", "filename": "h.txt", "content_type": "text/plain"}}}),
    )
    .await;
    assert_eq!(
        upload,
        json!({"note": "hi", "filename": "h.txt", "content_type": "text/plain", "size": 11, "text": "hello, file"})
    );
    let found = call(
        &hub,
        "api",
        "search_search_get",
        json!({"filter": {"color": "red", "size": "L"}}),
    )
    .await;
    assert_eq!(found["filter"], json!({"color": "red", "size": "L"}));
    // The query weft sent ends with the key it added, which the echo
    // hands back masked.
    assert_eq!(
        found["query"],
        "filter%5Bcolor%5D=red&filter%5Bsize%5D=L&api_key=[REDACTED]"
    );
    hub.shutdown().await;

    // A second start asks whether the document changed, by its ETag (each
    // of the three servers, each keeping its own copy), and serves the
    // kept copy on a 304.
    let before = api.seen().len();
    let config = weft::Config::load(&path).expect("the config loads");
    let hub = within("the hub starts again", weft::Hub::start(config)).await;
    assert_eq!(
        server_tool_names(&hub, "bearer"),
        ["prefs_prefs_get", "secure_bearer_secure_bearer_get"]
    );
    let fetches: Vec<Value> = api.seen()[before..]
        .iter()
        .filter(|r| r["path"] == "/openapi.yaml")
        .cloned()
        .collect();
    assert_eq!(fetches.len(), 3, "{fetches:?}");
    for f in &fetches {
        let tag = f["headers"]["if-none-match"].as_str().unwrap_or_default();
        assert!(tag.starts_with('"') && tag.len() == 18, "{f}");
    }
    hub.shutdown().await;
}

/// What weft checks when the config loads: the selection keys, the
/// server variables and the security tables, each naming its key.
#[test]
fn a_wrong_openapi_config_names_its_key() {
    let doc = json!({"openapi": "3.1.0",
        "servers": [{"url": "https://{region}.api.test", "variables": {"region": {"default": "eu", "enum": ["eu", "us"]}}}],
        "components": {"securitySchemes": {
            "key": {"type": "apiKey", "in": "query", "name": "k"},
            "other": {"type": "apiKey", "in": "query", "name": "k"},
            "flow": {"type": "oauth2", "flows": {}}}},
        "paths": {"/a": {"get": {"operationId": "a", "tags": ["x"]}}, "/b": {"post": {"operationId": "b"}}}});
    let cases = [
        (
            "operations = \"a\"",
            "",
            "servers.api.config.operations",
            "`operations` must be a list of strings",
        ),
        (
            "server_variables = { region = \"mars\" }",
            "",
            "servers.api.config.server_variables",
            "region = \"mars\" is not one of the document's values ([\"eu\",\"us\"])",
        ),
        (
            "",
            "[servers.api.security.nope]\nvalue = \"v\"\n",
            "servers.api.security",
            "the document has no security scheme \"nope\" (it has: \"flow\", \"key\", \"other\")",
        ),
        (
            "",
            "[servers.api.security.key]\nvalue = \"v\"\n[servers.api.security.other]\nvalue = \"w\"\n",
            "servers.api.security",
            "two of its schemes set the query parameter k; weft adds every scheme to every request, so serve the API as two servers, one scheme each",
        ),
        (
            "",
            "[servers.api.security.key]\nusername = \"v\"\n",
            "servers.api.security",
            "the scheme \"key\" (an API key in the query) takes `value`; the table has `username`",
        ),
    ];
    for (config_keys, tables, key, message) in cases {
        let dir = temp_dir();
        std::fs::write(dir.path().join("api.yaml"), doc.to_string()).expect("write doc");
        let text = format!(
            "[servers.api]\ncomponent = \"builtin:openapi\"\negress = [\"https://*.api.test/*\"]\n[servers.api.config]\nspec_file = \"api.yaml\"\n{config_keys}\n{tables}"
        );
        let path = dir.path().join("weft.toml");
        std::fs::write(&path, text).expect("write config");
        let e = weft::Config::load(&path).expect_err(message);
        assert_eq!((e.key.as_str(), e.message.as_str()), (key, message), "{e}");
    }
}

/// The component never holds a secret: a probe standing in for
/// `builtin:openapi` (the egress test guest, found as `weft_openapi.wasm`
/// through `WEFT_BUILTIN_DIR`, so it gets the same config and egress)
/// calls the secured endpoints and one that echoes every header, then
/// searches every page of its own memory for each secret. The calls
/// succeed (weft added the secrets), and the only string it finds is the
/// control, the mask an echoed secret becomes.
#[test]
fn the_component_never_holds_a_secret() {
    let api = RestApi::start();
    let dir = temp_dir();
    let builtin = dir.path().join("builtin");
    std::fs::create_dir_all(&builtin).expect("mkdir");
    let probe = repo_root().join("target/wasm/wasm32-wasip2/release/weft_egress_guest.wasm");
    assert!(
        probe.is_file(),
        "no {}: run `bash .ci/build-guests`",
        probe.display()
    );
    std::fs::copy(&probe, builtin.join("weft_openapi.wasm")).expect("copy the probe");
    config(dir.path(), &api);
    let base = api.base();
    let fetch =
        |path: &str| json!({"url": format!("{base}{path}"), "headers": {"x-client-tag": "t"}});
    let masked =
        |text: &str| -> String { text.bytes().map(|b| format!("{:02x}", b ^ 0x5A)).collect() };
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        rest_api::BASIC_USER,
        rest_api::BASIC_PASSWORD
    ));
    let args = json!({
        "fetch": [fetch("/whoami"), fetch("/secure/query"), fetch("/secure/cookie"), fetch("/secure/basic")],
        "masked": [
            masked(rest_api::QUERY_KEY),
            masked(rest_api::COOKIE_KEY),
            masked(rest_api::BASIC_PASSWORD),
            masked(&basic),
            masked("[REDACTED]"),
        ],
    });
    let out = weft()
        .current_dir(dir.path())
        .env("WEFT_BUILTIN_DIR", &builtin)
        .args(["call", "api", "memory", &args.to_string()])
        .output_timed()
        .expect("run weft call");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("the probe's JSON");
    assert_eq!(report["statuses"], json!([200, 200, 200, 200]), "{report}");
    assert_eq!(report["found"], json!([4]), "{report}");
    assert!(
        report["scanned"].as_u64().is_some_and(|n| n >= 1 << 20),
        "{report}"
    );
}
