//! The OpenAPI adapter (`component = "builtin:openapi"`, built from
//! `plugins/openapi`) against a real REST service: the FastAPI fixture in
//! `tests/fixtures/rest_api.py`, whose own generated `openapi.json` is the
//! document the adapter serves. The agent is the Python `mcp` SDK through
//! `weft serve`; requests go out through weft's egress, which injects a
//! secret header the adapter never sees.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::rest_api::RestApi;
use crate::support::*;

/// The key weft injects into the adapter's requests.
const CANARY: &str = "canary-7d3a0c41-openapi-key";

/// A config in `dir` with the fixture's document in `openapi.json`:
/// - `items`: the adapter on the fixture, which gets `X-Api-Key: CANARY`;
/// - `offlist`: the same, but its `egress` names another port.
fn setup(dir: &Path, api: &RestApi) -> PathBuf {
    let text = api.items_config(dir, CANARY)
        + &format!(
            r#"
[servers.offlist]
component = "builtin:openapi"
egress = ["http://127.0.0.1:1/*"]
[servers.offlist.config]
spec_file = "openapi.json"
base_url = "{}"
"#,
            api.base()
        );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn call(tool: &str, args: Value) -> Value {
    json!({"tool": tool, "args": args})
}

/// The Python SDK lists one tool per operation (names, descriptions,
/// read-only hints and input schemas from the document, `$ref`s expanded)
/// and calls them: path, query and header parameters, a JSON body, a 204
/// and a 404, each answered exactly, in both protocol eras (a handshake
/// session, then stateless 2026-07-28 requests). Every request carried
/// the injected key, which appears in no result (the service's echo of it
/// is masked).
#[test]
fn an_agent_lists_and_calls_the_operations_of_a_real_api() {
    let api = RestApi::start();
    let dir = temp_dir();
    let config = setup(dir.path(), &api);
    for mode in ["legacy", "2026-07-28"] {
        // The service's item 2 is created and deleted in each session.
        let before = api.seen().len();
        lists_and_calls(&api, &config, mode, before);
    }
}

/// One agent session in `mode` (the SDK's connect mode) against the
/// service, whose record held `before` requests when it began.
fn lists_and_calls(api: &RestApi, config: &Path, mode: &str, before: usize) {
    let argv = json!([
        target_bin("weft").display().to_string(),
        "--config",
        config.display().to_string(),
        "serve"
    ]);
    let calls = json!({"calls": [
        call("items__read_item_items_item_id_get", json!({"item_id": 1})),
        call("items__list_items_items_get", json!({"tag": ["kitchen"], "limit": 5, "kind": "tool"})),
        call("items__file_name_files_name_get", json!({"name": "ä b?x"})),
        call("items__create_item_items_post", json!({"body": {"name": "lamp", "price": 12.5, "owner": {"name": "ada"}}})),
        call("items__read_item_items_item_id_get", json!({"item_id": 99})),
        call("items__delete_item_items_item_id_delete", json!({"item_id": 2})),
        call("items__whoami_whoami_get", json!({"x-client-tag": "t-7"})),
    ]});
    let out = crate::serve::agent(&argv.to_string(), mode, "sequence", calls);
    let whole = out.to_string();
    assert!(
        !whole.contains(CANARY),
        "the key leaked to the agent: {whole}"
    );

    // The tools: one per operation, named from the operationId.
    let tools = out["tools"].as_object().expect("tools");
    let mut ours: Vec<&str> = tools
        .keys()
        .filter_map(|k| k.strip_prefix("items__"))
        .collect();
    ours.sort();
    assert_eq!(
        ours,
        [
            "create_item_items_post",
            "delete_item_items_item_id_delete",
            "file_name_files_name_get",
            "list_items_items_get",
            "read_item_items_item_id_get",
            "whoami_whoami_get",
        ]
    );
    let list = &tools["items__list_items_items_get"];
    assert_eq!(
        list["description"],
        "List items\n\nItems matching every tag given."
    );
    assert_eq!(list["read_only"], true);
    assert_eq!(tools["items__create_item_items_post"]["read_only"], false);
    assert_eq!(
        tools["items__delete_item_items_item_id_delete"]["read_only"],
        false
    );
    // `kind` refers to the Kind enum; the reference is expanded in place.
    assert_eq!(
        list["input_schema"]["properties"]["kind"]["anyOf"],
        json!([{"enum": ["tool", "toy"], "title": "Kind", "type": "string"}, {"type": "null"}])
    );
    assert_eq!(
        tools["items__read_item_items_item_id_get"]["input_schema"],
        json!({
            "type": "object",
            "properties": {"item_id": {"type": "integer", "title": "Item Id"}},
            "required": ["item_id"],
            "additionalProperties": false,
        })
    );
    // The body refers to Item, which refers to Owner: both expanded.
    let create = &tools["items__create_item_items_post"]["input_schema"];
    assert_eq!(create["required"], json!(["body"]));
    let body = &create["properties"]["body"];
    assert_eq!(body["required"], json!(["name", "price"]), "{body}");
    assert_eq!(
        body["properties"]["owner"]["anyOf"][0]["properties"]["name"],
        json!({"type": "string", "title": "Name"})
    );
    assert!(
        !tools.values().any(|t| t.to_string().contains("$ref")),
        "a reference was left in a schema: {whole}"
    );

    let calls = out["calls"].as_array().expect("calls");
    let p = api.port;
    // A path parameter.
    assert_eq!(calls[0]["error"], false, "{}", calls[0]);
    assert_eq!(
        calls[0]["structured"],
        json!({"id": 1, "name": "kettle", "price": 20.5, "tags": ["kitchen"], "owner": null})
    );
    // Query parameters: a list as repeated keys, an integer, an enum.
    assert_eq!(
        calls[1]["structured"]["query"],
        "tag=kitchen&limit=5&kind=tool"
    );
    assert_eq!(calls[1]["structured"]["kind"], "tool");
    assert_eq!(calls[1]["structured"]["items"][0]["name"], "kettle");
    // A path segment is percent-encoded.
    assert_eq!(
        calls[2]["structured"],
        json!({"name": "ä b?x", "raw_path": "/files/%C3%A4%20b%3Fx"})
    );
    // A JSON body; the 201 answer is the result.
    assert_eq!(
        calls[3]["structured"],
        json!({"id": 2, "name": "lamp", "price": 12.5, "tags": [], "owner": {"name": "ada", "email": null}})
    );
    // A 404 is a tool error with the status and the body.
    assert_eq!(calls[4]["error"], true);
    assert_eq!(
        calls[4]["text"],
        format!("HTTP 404 from GET http://127.0.0.1:{p}/items/99: {{\"detail\":\"no item 99\"}}")
    );
    // A 204 has no body.
    assert_eq!(calls[5]["error"], false);
    assert_eq!(calls[5]["text"], "HTTP 204 (no content)");
    // A header parameter; the service's echo of the injected key is masked.
    assert_eq!(calls[6]["structured"]["x-client-tag"], "t-7");
    assert_eq!(calls[6]["structured"]["headers"]["x-api-key"], "[REDACTED]");

    // What the service received: the injected key on every request, the
    // body as JSON.
    let seen: Vec<Value> = api
        .seen()
        .into_iter()
        .skip(before)
        .filter(|r| r["path"] != "/openapi.json")
        .collect();
    let lines: Vec<String> = seen
        .iter()
        .map(|r| {
            let q = r["query"].as_str().unwrap_or("");
            let path = r["path"].as_str().unwrap_or("");
            let method = r["method"].as_str().unwrap_or("");
            if q.is_empty() {
                format!("{method} {path}")
            } else {
                format!("{method} {path}?{q}")
            }
        })
        .collect();
    assert_eq!(
        lines,
        [
            "GET /items/1",
            "GET /items?tag=kitchen&limit=5&kind=tool",
            "GET /files/%C3%A4%20b%3Fx",
            "POST /items",
            "GET /items/99",
            "DELETE /items/2",
            "GET /whoami",
        ]
    );
    for r in &seen {
        assert_eq!(r["headers"]["x-api-key"], CANARY, "{r}");
    }
    assert_eq!(seen[3]["headers"]["content-type"], "application/json");
    assert_eq!(seen[6]["headers"]["x-client-tag"], "t-7");
}

/// An adapter whose `egress` does not name the service is refused before
/// any connection: the call is a tool error with weft's reason, and the
/// service sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_off_the_egress_list_is_refused() {
    let api = RestApi::start();
    let dir = temp_dir();
    let config = setup(dir.path(), &api);
    let hub = start_hub_in(dir.path(), &config).await;
    let args = json!({"item_id": 1});
    let r = within(
        "a refused call",
        hub.call_tool(
            "offlist",
            "read_item_items_item_id_get",
            args.as_object().cloned(),
        ),
    )
    .await;
    let p = api.port;
    let url = format!("http://127.0.0.1:{p}/items/1");
    let e = r.expect_err("the call fails");
    assert_eq!(e.kind, weft::ErrorKind::ToolError, "{e}");
    assert_eq!(
        e.message,
        format!(
            "GET {url}: weft egress: refused {url}: not on the `egress` list of servers.offlist (http://127.0.0.1:1/*)"
        )
    );
    let seen: Vec<Value> = api
        .seen()
        .into_iter()
        .filter(|r| r["path"] != "/openapi.json")
        .collect();
    assert_eq!(seen, Vec::<Value>::new());
    hub.shutdown().await;
}

/// The error `weft::Config::load` gives for `builtin:openapi` with
/// `config` (TOML lines for `[servers.api.config]`), in `dir`.
fn config_error(dir: &Path, component: &str, config: &str) -> weft::ConfigError {
    let path = dir.join("weft.toml");
    let text = format!(
        "[servers.api]\ncomponent = {}\negress = [\"http://127.0.0.1:9/*\"]\n[servers.api.config]\nbase_url = \"http://127.0.0.1:9\"\n{config}",
        q(component)
    );
    std::fs::write(&path, text).expect("write config");
    match weft::Config::load(&path) {
        Ok(_) => panic!("the config loads: {config}"),
        Err(e) => e,
    }
}

/// What weft refuses before the adapter loads, each with the key and what
/// to do: a document too large, too deep, with too many operations, not
/// OpenAPI 3, missing, or given twice, and a built-in that does not exist.
#[test]
fn hostile_documents_are_refused_when_the_config_loads() {
    let dir = temp_dir();
    let d = dir.path();
    let write = |name: &str, text: String| std::fs::write(d.join(name), text).expect("write");
    let doc = |paths: Value| json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths});

    write(
        "huge.json",
        format!(
            "{{\"openapi\": \"3.1.0\", \"pad\": \"{}\", \"paths\": {{}}}}",
            "x".repeat(17 << 20)
        ),
    );
    let e = config_error(d, "builtin:openapi", "spec_file = \"huge.json\"");
    assert_eq!(e.key, "servers.api.config.spec_file");
    let size = std::fs::metadata(d.join("huge.json"))
        .expect("huge.json")
        .len();
    assert_eq!(
        e.message,
        format!(
            "{} is {size} bytes, over the cap of 16777216",
            d.join("huge.json").display()
        )
    );

    write(
        "deep.json",
        format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
    );
    let e = config_error(d, "builtin:openapi", "spec_file = \"deep.json\"");
    assert!(
        e.message.starts_with(&format!(
            "{} is not a JSON document: recursion limit exceeded",
            d.join("deep.json").display()
        )),
        "{e}"
    );

    let many: serde_json::Map<String, Value> = (0..1001)
        .map(|i| (format!("/r{i}"), json!({"get": {"responses": {}}})))
        .collect();
    write("many.json", doc(Value::Object(many)).to_string());
    let e = config_error(d, "builtin:openapi", "spec_file = \"many.json\"");
    assert_eq!(
        e.message,
        "has 1001 operations, over the cap of 1000: serve a part of it with `tags`, `operations` or `exclude` in [servers.NAME.config]"
    );

    write(
        "swagger.json",
        json!({"swagger": "2.0", "paths": {}}).to_string(),
    );
    let e = config_error(d, "builtin:openapi", "spec_file = \"swagger.json\"");
    assert_eq!(
        e.message,
        "is not an OpenAPI 3.0 or 3.1 document (its `openapi` field is missing); convert a Swagger 2.0 document to OpenAPI 3 first"
    );

    let e = config_error(d, "builtin:openapi", "spec_file = \"absent.json\"");
    assert!(
        e.message.starts_with(&format!(
            "cannot read {}: ",
            d.join("absent.json").display()
        )),
        "{e}"
    );

    let e = config_error(
        d,
        "builtin:openapi",
        "spec_file = \"many.json\"\nspec = \"{}\"",
    );
    assert_eq!(
        (e.key.as_str(), e.message.as_str()),
        (
            "servers.api.config.spec_file",
            "cannot be combined with `spec`"
        )
    );

    let e = config_error(d, "builtin:openapi", "");
    assert_eq!(
        (e.key.as_str(), e.message.as_str()),
        (
            "servers.api.config",
            "builtin:openapi needs an OpenAPI document"
        )
    );

    let e = config_error(d, "builtin:nope", "");
    assert_eq!(e.key, "servers.api.component");
    assert_eq!(e.message, "there is no built-in adapter \"nope\"");
    assert_eq!(
        e.hint.as_deref(),
        Some("built-in adapters: builtin:openapi")
    );
}

/// A document within the caps whose references loop, or multiply past the
/// size budget, still loads: the loop and the excess become open schemas
/// that say why. Operations without an operationId are named by method
/// and path; without `base_url`, the document's `servers` URL is used. A
/// document the adapter cannot serve fails only its server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_loops_and_blowups_are_cut_and_a_bad_document_fails_only_its_server() {
    let dir = temp_dir();
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "Node".into(),
        json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}),
    );
    // L0 names L1 twice, L1 names L2 twice, ...: 2^20 leaves if expanded.
    for i in 0..20 {
        let next = json!({"$ref": format!("#/components/schemas/L{}", i + 1)});
        schemas.insert(
            format!("L{i}"),
            json!({"type": "object", "properties": {"a": next, "b": next}}),
        );
    }
    schemas.insert("L20".into(), json!({"type": "string"}));
    let body = |name: &str| json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}});
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "hostile", "version": "1"},
        "servers": [{"url": "http://127.0.0.1:9/v1"}],
        "paths": {
            "/tree": {"post": {"requestBody": body("Node"), "responses": {}}},
            "/bomb": {"post": {"operationId": "bomb", "requestBody": body("L0"), "responses": {}}},
            "/a/{b}": {"delete": {"parameters": [{"name": "b", "in": "path", "required": true, "schema": {"type": "string", "nullable": true}}], "responses": {}}},
        },
        "components": {"schemas": schemas},
    });
    std::fs::write(dir.path().join("hostile.json"), doc.to_string()).expect("write");
    // A document that cannot be had fails its server only.
    // One operation the adapter cannot read: skipped, the other served.
    let partial = json!({"openapi": "3.0.0", "paths": {
        "/x": {"get": {"parameters": [{"$ref": "#/components/parameters/nowhere"}]}},
        "/y": {"get": {"operationId": "fine"}},
    }});
    std::fs::write(dir.path().join("partial.json"), partial.to_string()).expect("write");
    let text = r#"[servers.hostile]
component = "builtin:openapi"
[servers.hostile.config]
spec_file = "hostile.json"

[servers.broken]
component = "builtin:openapi"
egress = ["http://127.0.0.1:9/*"]
[servers.broken.config]
spec_url = "http://127.0.0.1:9/openapi.json"

[servers.partial]
component = "builtin:openapi"
[servers.partial.config]
spec_file = "partial.json"
base_url = "http://127.0.0.1:9"
"#;
    let path = dir.path().join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.path().join("cache"))).expect("sandbox");
    let hub = within(
        "the hub starts",
        weft::Hub::start(weft::Config::load(&path).expect("the config loads")),
    )
    .await;
    let catalog = hub.catalog();
    let schema = |name: &str| -> Value {
        let t = catalog
            .tools()
            .iter()
            .find(|t| &*t.server == "hostile" && t.name() == name)
            .unwrap_or_else(|| panic!("no hostile.{name}"));
        Value::Object((*t.tool.input_schema).clone())
    };
    let mut names: Vec<&str> = catalog
        .tools()
        .iter()
        .filter(|t| &*t.server == "hostile")
        .map(|t| t.name())
        .collect();
    names.sort();
    assert_eq!(names, ["bomb", "delete_a_b", "post_tree"]);
    let tree = schema("post_tree");
    assert_eq!(
        tree["properties"]["body"]["properties"]["children"]["items"],
        json!({"description": "(recursive: #/components/schemas/Node, not expanded again)"})
    );
    let bomb = schema("bomb").to_string();
    assert!(bomb.contains("(not expanded: the schema is larger than 20000 values)"));
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    // OpenAPI 3.0's `nullable`, as JSON Schema has it.
    assert_eq!(
        schema("delete_a_b")["properties"]["b"],
        json!({"type": ["string", "null"]})
    );
    let status = hub
        .upstream("broken")
        .expect("broken is configured")
        .state();
    let weft::State::Failed { error } = status else {
        panic!("broken is not failed: {status:?}");
    };
    assert!(
        error.reason.contains(
            "spec_url: weft egress: http://127.0.0.1:9/openapi.json failed: error sending request"
        ),
        "{}",
        error.reason
    );
    let partial: Vec<&str> = catalog
        .tools()
        .iter()
        .filter(|t| &*t.server == "partial")
        .map(|t| t.name())
        .collect();
    assert_eq!(partial, ["fine"]);
    assert_eq!(
        hub.upstream("hostile").expect("hostile").state().name(),
        "up"
    );
    hub.shutdown().await;
}

/// A weft whose build has no `weft_openapi.wasm` near it (here: a link to
/// the binary, three folders below `target/`) refuses `builtin:openapi`
/// in the config, saying where it looked and how to build it.
#[test]
fn a_missing_builtin_says_how_to_build_it() {
    let base = repo_root().join("target/builtin-missing/a/b");
    std::fs::create_dir_all(&base).expect("mkdir");
    let dir = tempfile::tempdir_in(&base).expect("temp dir");
    let exe = dir.path().join("weft");
    if std::fs::hard_link(target_bin("weft"), &exe).is_err() {
        std::fs::copy(target_bin("weft"), &exe).expect("copy weft");
    }
    let cfg = dir.path().join("weft.toml");
    std::fs::write(
        &cfg,
        "[servers.api]\ncomponent = \"builtin:openapi\"\n[servers.api.config]\nspec = '{\"openapi\": \"3.1.0\", \"paths\": {}}'\n",
    )
    .expect("write config");
    let mut cmd = std::process::Command::new(&exe);
    cmd.env_remove("WEFT_CONFIG")
        .env_remove("WEFT_BUILTIN_DIR")
        .env("WEFT_LOG", "error")
        .env("NO_COLOR", "1")
        .arg("-c")
        .arg(&cfg)
        .arg("check");
    isolate(&mut cmd);
    let out = cmd.output_timed().expect("weft check runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let d = dir.path().display();
    assert!(
        stderr.contains(&format!(
            "servers.api.component: builtin:openapi is not built: no weft_openapi.wasm in {d}, "
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: in weft's repository run `bash .ci/build-guests`"),
        "{stderr}"
    );
}

/// The document given inline (`spec`, as JSON text) serves the same tools
/// and the same answers as the same document read from `spec_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_document_serves_as_the_file_does() {
    let api = RestApi::start();
    let dir = temp_dir();
    let mut text = api.items_config(dir.path(), CANARY);
    let doc = api.openapi().to_string();
    assert!(
        !doc.contains("'''"),
        "the document cannot be a TOML literal"
    );
    text += &format!(
        "\n[servers.inline]\ncomponent = \"builtin:openapi\"\negress = [\"http://127.0.0.1:{}/*\"]\n[servers.inline.config]\nspec = '''{doc}'''\nbase_url = \"{}\"\n{}\n",
        api.port,
        api.base(),
        crate::support::rest_api::ITEMS_ONLY,
    );
    let path = dir.path().join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    let hub = start_hub_in(dir.path(), &path).await;
    let names = |server: &str| server_tool_names(&hub, server);
    let from_file = names("items");
    assert!(
        from_file.contains(&"read_item_items_item_id_get".to_string()),
        "{from_file:?}"
    );
    assert_eq!(names("inline"), from_file);
    let args = json!({"item_id": 1});
    let mut answers = Vec::new();
    for server in ["items", "inline"] {
        let r = within(
            "a call",
            hub.call_tool(
                server,
                "read_item_items_item_id_get",
                args.as_object().cloned(),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{server}: {e}"));
        answers.push(text_of(&r));
    }
    assert!(answers[0].contains("\"id\""), "{answers:?}");
    assert_eq!(answers[0], answers[1]);
    hub.shutdown().await;
}
