//! The OpenAPI adapter's document: taken from the service it describes
//! (`spec_url`), fetched by weft through the server's egress, so the URL
//! must be on the server's `egress` list, and the header weft injects for
//! that host goes with the fetch as with every call; and served without
//! the operations the adapter cannot read, each named in a warning.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::rest_api::{ITEMS_ONLY, RestApi};
use crate::support::*;

/// The key weft injects into the adapter's requests.
const CANARY: &str = "canary-5e81b2d9-spec-url";

/// `items` from the fixture's file, `fetched` from its `/openapi.json`,
/// and `offlist`, whose `spec_url` is on no `egress` entry.
fn config(dir: &Path, api: &RestApi) -> std::path::PathBuf {
    let (port, base) = (api.port, api.base());
    let text = api.items_config(dir, CANARY)
        + &format!(
            r#"
[servers.fetched]
component = "builtin:openapi"
egress = ["http://127.0.0.1:{port}/*"]
[servers.fetched.egress_headers."127.0.0.1"]
X-Api-Key = "${{secret:ITEMS_KEY}}"
[servers.fetched.config]
spec_url = "{base}/openapi.json"
base_url = "{base}"
{ITEMS_ONLY}

[servers.offlist]
component = "builtin:openapi"
egress = ["http://127.0.0.1:{port}/items/*"]
[servers.offlist.config]
spec_url = "{base}/openapi.json"
base_url = "{base}"
"#
        );
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_fetched_through_egress_with_the_injected_key() {
    let api = RestApi::start();
    let dir = temp_dir();
    let path = config(dir.path(), &api);
    let hub = start_hub_in(dir.path(), &path).await;
    let names = |server: &str| server_tool_names(&hub, server);
    let from_file = names("items");
    assert!(from_file.len() >= 3, "{from_file:?}");
    assert_eq!(names("fetched"), from_file);
    // The fetch went out as the adapter's calls do: with the injected key
    // (the test's own fetch, for `items`' file, asks for no JSON). The one
    // from `offlist` never left.
    let fetches: Vec<Value> = api
        .seen()
        .into_iter()
        .filter(|r| {
            r["path"] == "/openapi.json"
                && r["headers"]["accept"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("application/json, application/yaml"))
        })
        .collect();
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    assert_eq!(fetches[0]["method"], "GET");
    assert_eq!(fetches[0]["headers"]["x-api-key"], CANARY);
    let args = json!({"item_id": 1});
    let r = within(
        "a call",
        hub.call_tool(
            "fetched",
            "read_item_items_item_id_get",
            args.as_object().cloned(),
        ),
    )
    .await
    .expect("the call succeeds");
    let item: Value = serde_json::from_str(&text_of(&r)).expect("JSON");
    assert_eq!(item["name"], "kettle", "{item}");
    // A document URL off the egress list is refused by the same check.
    let status = hub.upstream("offlist").expect("offlist").state();
    let weft::State::Failed { error } = status else {
        panic!("offlist is not failed: {status:?}");
    };
    let url = format!("{}/openapi.json", api.base());
    assert!(
        error.reason.ends_with(&format!(
            "spec_url: weft egress: refused {url}: \
             not on the `egress` list of servers.offlist (http://127.0.0.1:{}/items/*)",
            api.port
        )),
        "{}",
        error.reason
    );
    hub.shutdown().await;
}

/// `spec_url` is checked when the config loads: a URL, over HTTP(S), and
/// not beside another source of the document.
#[test]
fn a_bad_spec_url_is_refused_when_the_config_loads() {
    let cases = [
        (
            "spec_url = \"ftp://example.com/openapi.json\"",
            "must be an http:// or https:// URL, as a string",
        ),
        (
            "spec_url = \"openapi.json\"",
            "must be an http:// or https:// URL, as a string",
        ),
        (
            "spec_url = 7",
            "must be an http:// or https:// URL, as a string",
        ),
        (
            "spec_url = \"https://example.com/openapi.json\"\nspec_file = \"openapi.json\"",
            "cannot be combined with `spec_file` or `spec`",
        ),
    ];
    for (table, want) in cases {
        let dir = temp_dir();
        let path = dir.path().join("weft.toml");
        let text = format!(
            "[servers.api]\ncomponent = \"builtin:openapi\"\negress = [\"https://example.com/*\"]\n[servers.api.config]\n{table}\n"
        );
        std::fs::write(&path, text).unwrap();
        let e = weft::Config::load(&path).expect_err(table);
        assert_eq!(e.key, "servers.api.config.spec_url", "{table}: {e}");
        assert_eq!(e.message, want, "{table}: {e}");
    }
}

/// A document with an operation the adapter cannot read (a parameter with
/// no name, as Notion's has) serves the rest; weft warns of the skipped
/// one by name and reason, and `weft check` reports it.
#[test]
fn an_operation_the_adapter_cannot_read_is_skipped_with_a_warning() {
    let dir = temp_dir();
    let doc = json!({"openapi": "3.1.0", "servers": [{"url": "https://api.example.com"}], "paths": {
        "/pages/{id}": {"get": {"operationId": "get_page", "parameters": [
            {"in": "path", "required": true, "schema": {"type": "string"}}]}},
        "/search": {"post": {"operationId": "search"}},
    }});
    std::fs::write(dir.path().join("notion.json"), doc.to_string()).unwrap();
    std::fs::write(
        dir.path().join("weft.toml"),
        "[servers.notion]\ncomponent = \"builtin:openapi\"\negress = [\"https://api.example.com/*\"]\n[servers.notion.config]\nspec_file = \"notion.json\"\n",
    )
    .unwrap();
    let out = weft()
        .current_dir(dir.path())
        .env("WEFT_LOG", "warn")
        .args(["tools", "--json"])
        .output_timed()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let tools: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = tools
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["notion__search"], "{tools}");
    assert!(
        stderr.contains("openapi adapter: skipped GET /pages/{id}: a parameter has no name"),
        "{stderr}"
    );
    // `weft check` reports the server's operations, tools and skipped
    // ones, each with its reason.
    let out = weft()
        .current_dir(dir.path())
        .args(["check"])
        .output_timed()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("✓ notion"))
        .unwrap_or_else(|| panic!("no notion line: {stdout}"));
    assert_eq!(
        lines[at + 1..at + 3],
        [
            "openapi: 2 operations, 1 tools, 1 skipped; auth: none; document: config",
            "! openapi adapter: skipped GET /pages/{id}: a parameter has no name",
        ]
    );
}

/// `builtin:openapi` takes answers (its document at `spec_url` among them)
/// as large as a document may be, unless `limits.max_response` says
/// otherwise; other adapters keep egress's 4 MiB.
#[test]
fn an_openapi_server_takes_a_document_sized_answer_by_default() {
    let dir = temp_dir();
    let path = dir.path().join("weft.toml");
    let text = "[servers.api]\ncomponent = \"builtin:openapi\"\negress = [\"https://example.com/*\"]\n[servers.api.config]\nspec_url = \"https://example.com/openapi.yaml\"\n\n[servers.small]\ncomponent = \"builtin:openapi\"\negress = [\"https://example.com/*\"]\nlimits.max_response = \"1MiB\"\n[servers.small.config]\nspec_url = \"https://example.com/openapi.yaml\"\n";
    std::fs::write(&path, text).expect("write config");
    let config = weft::Config::load(&path).expect("the config loads");
    let max_response = |name: &str| match &config
        .servers
        .iter()
        .find(|s| s.name == name)
        .expect("the server")
        .transport
    {
        weft::config::Transport::Component(a) => a.egress.as_ref().map(|e| e.max_response),
        _ => None,
    };
    assert_eq!(max_response("api"), Some(16 << 20));
    assert_eq!(max_response("small"), Some(1 << 20));
}
