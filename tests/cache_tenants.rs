//! The tool cache and the metrics against tenants and made-up names
//! (issue 53, findings 3 and 9), over `weft serve --http` with real
//! servers (mcp-server-git, server-filesystem, mcp-server-time) and the
//! `repo-digest` adapter in front of them:
//!
//! - a cached adapter result is served only to callers with the caller's
//!   whole authority (tenant, view, grants): a tenant whose view leaves
//!   out the adapter's nested servers never gets another tenant's digest;
//! - a plain server's cached result is shared, but only among callers the
//!   router admits: a narrower view or narrower grants are refused
//!   whatever the cache holds;
//! - a 2026-07-28 client is told `cacheScope: "private"` for what weft
//!   filters per tenant;
//! - calls of made-up tool names on servers that never listed become one
//!   fixed metric label, never the names.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::edge::{Raw, add_key, serve, write_config};
use crate::support::*;

/// The commit message only tenant `a` may read (through its git view).
const PRIVATE: &str = "a-only: the acquisition plan for globex";

/// A git repository in `dir` with two commits, the latest [`PRIVATE`].
fn private_repo(dir: &Path) {
    git_repo_with(dir, &["add notes", PRIVATE]);
}

/// The three real servers on `repo`, the git server's read-only results
/// cached when `git_ttl`, and the `repo-digest` adapter as `digest`
/// (granted all it needs, its results cached for a minute) and as
/// `nolog` (not granted `git.git_log`).
fn servers(repo: &Path, git_ttl: bool) -> String {
    let wasm = q(guest_wasm("weft-repo-digest").display().to_string());
    let repo = repo.display().to_string();
    let mut text = String::from("[settings]\nstartup_timeout = \"60s\"\n");
    text += &command_entry("git", &venv_bin("mcp-server-git"), &["--repository", &repo]);
    text += &sandbox_write(&[Path::new(&repo)]);
    if git_ttl {
        text += "[servers.git.cache]\ntool_ttl = \"60s\"\n";
    }
    text += &npm_entry("files", "server-filesystem", &[&repo]);
    text += &sandbox_read(&[Path::new(&repo)]);
    text += &command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    );
    text += &format!(
        "[servers.digest]\ncomponent = {wasm}\ngrants = [\"git.git_log\", \"git.git_status\", \"files.list_directory\", \"time.get_current_time\"]\n[servers.digest.config]\ncommits = 2\n[servers.digest.cache]\ntool_ttl = \"60s\"\n"
    );
    text += &format!(
        "[servers.nolog]\ncomponent = {wasm}\ngrants = [\"git.git_status\", \"files.list_directory\", \"time.get_current_time\"]\n[servers.nolog.config]\ncommits = 2\n[servers.nolog.cache]\ntool_ttl = \"60s\"\n"
    );
    text
}

/// A stateless (2026-07-28) client of `base` with `key`.
fn client(http: &reqwest::Client, base: &str, key: &str) -> Raw {
    Raw::keyed(http, base, "2026-07-28", key)
}

/// `GET /metrics` with an admin's `key` (none on a weft without tenants).
async fn metrics(http: &reqwest::Client, base: &str, key: Option<&str>) -> String {
    let mut req = http.get(format!("{base}/metrics"));
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let answer = crate::support::edge::send(req).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// The value of the counter line starting with `series` in `text` (0
/// when there is none).
fn counter(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// The cache's hits so far.
async fn hits(http: &reqwest::Client, base: &str, admin: &str) -> u64 {
    counter(
        &metrics(http, base, Some(admin)).await,
        r#"weft_cache_events_total{event="hit"} "#,
    )
}

/// Tenant `a` sees the adapter and the three servers it calls; tenant `b`
/// sees only the adapter, so each of `b`'s digests is refused at its
/// first nested call. After `a` has made (and cached) the digest, `b`
/// asks for the same one again: it gets its own refusal, word for word
/// as the first time, and never `a`'s digest with `a`'s commit message.
/// `a` still gets its cached digest, and a stateless-era client is told
/// `cacheScope: "private"` for what it sees filtered by its tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_adapter_result_never_reaches_a_tenant_who_could_not_have_made_it() {
    let dir = temp_dir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir repo");
    private_repo(&repo);
    let mut text = servers(&repo, false);
    text += "[tenants.a]\ninclude = [\"digest.*\", \"git.*\", \"files.*\", \"time.*\"]\n";
    text += "[tenants.b]\ninclude = [\"digest.*\"]\n";
    text += "[tenants.ops]\ninclude = []\nadmin = true\n";
    let config = write_config(dir.path(), &text);
    let (key_a, key_b, ops) = (
        add_key(&config, "a"),
        add_key(&config, "b"),
        add_key(&config, "ops"),
    );
    let served = serve(&config, &[]);
    let http = reqwest::Client::new();
    let (mut a, mut b) = (
        client(&http, &served.base, &key_a),
        client(&http, &served.base, &key_b),
    );
    let args = json!({"repo": repo.display().to_string()});

    // b first: refused, its nested calls being outside its view.
    let refused = b.call("digest__repo_digest", args.clone()).await;
    let expected = json!({
        "content": [{"type": "text", "text": "time.get_current_time: not-found: no server named \"time\"; configured servers: digest"}],
        "isError": true,
        "resultType": "complete"
    });
    assert_eq!(refused, expected, "b's first digest");

    // a: the digest, with a's commit message; made once, then cached.
    let before = hits(&http, &served.base, &ops).await;
    let made = a.call("digest__repo_digest", args.clone()).await;
    let digest: Value =
        serde_json::from_str(&crate::support::edge::only_text(&made)).expect("a JSON digest");
    assert_eq!(digest["commits"], json!([PRIVATE, "add notes"]), "{digest}");
    let again = a.call("digest__repo_digest", args.clone()).await;
    assert_eq!(again, made, "a's second digest is its cached first");
    assert_eq!(hits(&http, &served.base, &ops).await, before + 1);

    // b again, with the same arguments: its own refusal, not a's digest.
    let second = b.call("digest__repo_digest", args.clone()).await;
    assert!(
        !second.to_string().contains(PRIVATE),
        "b got a's digest: {second}"
    );
    assert_eq!(second, expected, "b's second digest");
    assert_eq!(
        hits(&http, &served.base, &ops).await,
        before + 1,
        "b's call was not answered from the cache"
    );

    // What b sees is filtered for b: the era's cache hint says so.
    let (id, answer) = b.request("tools/list", json!({})).await;
    let list = answer.message(id)["result"].clone();
    let names: Vec<&str> = list["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["digest__repo_digest", "weft_search_tools"],
        "{list}"
    );
    assert_eq!(list["cacheScope"], json!("private"), "{list}");
    assert_eq!(list["ttlMs"], json!(0), "{list}");
}

/// A plain server's process sees weft, never the caller, so its cached
/// result is shared; but only among callers the router admits. With
/// `git_log` cached by `a`: `b`, whose view holds only `git_status`, is
/// refused `git_log` as an unknown tool; an adapter call of `a`'s whose
/// grants leave out `git_log` is refused that nested call; and `b`'s
/// `git_status`, which its view holds, is the same answer `a` got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_servers_cached_result_is_refused_to_narrower_views_and_grants() {
    let dir = temp_dir();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir repo");
    private_repo(&repo);
    let mut text = servers(&repo, true);
    text += "[tenants.a]\ninclude = [\"nolog.*\", \"git.*\", \"files.*\", \"time.*\"]\n";
    text += "[tenants.b]\ninclude = [\"git.git_status\"]\n";
    let config = write_config(dir.path(), &text);
    let (key_a, key_b) = (add_key(&config, "a"), add_key(&config, "b"));
    let served = serve(&config, &[]);
    let http = reqwest::Client::new();
    let (mut a, mut b) = (
        client(&http, &served.base, &key_a),
        client(&http, &served.base, &key_b),
    );
    let repo_path = repo.display().to_string();
    // The arguments the adapter's own nested call uses.
    let log_args = json!({"repo_path": repo_path, "max_count": 2});
    let log = a.call("git__git_log", log_args.clone()).await;
    assert!(
        crate::support::edge::only_text(&log).contains(PRIVATE),
        "{log}"
    );

    let (id, answer) = b
        .request(
            "tools/call",
            json!({"name": "git__git_log", "arguments": log_args}),
        )
        .await;
    let refused = answer.message(id);
    assert!(!refused.to_string().contains(PRIVATE), "{refused}");
    assert_eq!(
        refused["error"]["message"],
        json!(r#"Unknown tool: "git__git_log"; did you mean "git__git_status"?"#),
        "{refused}"
    );

    let nested = a
        .call("nolog__repo_digest", json!({"repo": repo_path}))
        .await;
    assert_eq!(
        nested,
        json!({
            "content": [{"type": "text", "text": "git.git_log: denied: the adapter's grants do not allow git.git_log (an adapter's grants are servers.nolog.grants in the config)"}],
            "isError": true,
            "resultType": "complete"
        })
    );

    let status_args = json!({"repo_path": repo_path});
    let theirs = a.call("git__git_status", status_args.clone()).await;
    let ours = b.call("git__git_status", status_args).await;
    assert_eq!(ours, theirs);
    assert!(
        crate::support::edge::only_text(&ours).contains("nothing to commit, working tree clean"),
        "{ours}"
    );
}

/// Calls of made-up tool names on servers that never listed (a command
/// that does not exist, a disabled server), made through an adapter's
/// nested calls (the route that takes any name): each is refused as
/// unavailable, and the metrics count them under one fixed tool label,
/// `(unknown)`: none of the names becomes a label value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_tool_names_on_servers_that_never_listed_are_one_metric_label() {
    const NAMES: usize = 40;
    let dir = temp_dir();
    std::fs::copy(
        guest_wasm("weft-adapter-guest"),
        dir.path().join("adapter.wasm"),
    )
    .expect("copy the adapter");
    let text = "[servers.missing]\ncommand = \"/nonexistent/mcp-server-nothing\"\n\
         [servers.off]\ncommand = \"/nonexistent/mcp-server-off\"\nenabled = false\n\
         [servers.ad]\ncomponent = \"adapter.wasm\"\ngrants = [\"missing.*\", \"off.*\"]\n";
    let config = write_config(dir.path(), text);
    let served = serve(&config, &[]);
    let http = reqwest::Client::new();
    let mut agent = Raw::new(&http, &served.base, "2026-07-28");
    for server in ["missing", "off"] {
        for i in 0..NAMES {
            let tool = format!("made_up_{server}_{i}");
            let report = agent
                .call(
                    "ad__call",
                    json!({"server": server, "tool": tool, "args": {}}),
                )
                .await;
            let report: Value = serde_json::from_str(&crate::support::edge::only_text(&report))
                .expect("ad.call reports JSON");
            assert_eq!(
                (&report["ok"], &report["kind"]),
                (&json!(false), &json!("unavailable")),
                "{server}.{tool}: {report}"
            );
        }
    }
    let text = metrics(&http, &served.base, None).await;
    assert!(
        !text.contains("made_up_"),
        "a made-up name is a label:\n{text}"
    );
    let tools: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("weft_calls_total{"))
        .filter(|l| l.contains(r#"server="missing""#) || l.contains(r#"server="off""#))
        .filter_map(|l| l.split(r#"tool=""#).nth(1)?.split('"').next())
        .collect();
    assert_eq!(tools, BTreeSet::from(["(unknown)"]), "{text}");
    for server in ["missing", "off"] {
        assert_eq!(
            counter(
                &text,
                &format!(
                    r#"weft_calls_total{{tenant="",server="{server}",tool="(unknown)",outcome="unavailable"}} "#
                )
            ),
            NAMES as u64,
            "{text}"
        );
    }
}

/// A server of the Python SDK whose one resource, `plans://acme`, says
/// any cache may keep it for a minute and share it (`cacheScope:
/// "public"`).
const PUBLIC_PLANS: &str = r#"
from mcp.server import CacheHint, MCPServer

app = MCPServer(
    "plans",
    cache_hints={"resources/read": CacheHint(ttl_ms=60000, scope="public")},
)


@app.resource("plans://acme")
def acme() -> str:
    return "the acquisition plan"


app.run()
"#;

/// A stateless request of `method` with `params` and the `Mcp-Name`
/// header `name`: the JSON-RPC message that answers it.
async fn named_request(raw: &mut Raw, method: &str, mut params: Value, name: &str) -> Value {
    let id = raw.next_id;
    raw.next_id += 1;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "cache-tenants", "version": "1"},
    });
    let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    raw.post(&message, &[("mcp-name", name)]).await.message(id)
}

/// What weft answers a tenant is filtered by that tenant's view, so a
/// 2026-07-28 client is told it is private, whatever the server said:
/// the Python SDK server marks its resource `public`, tenant `a` (whose
/// view reaches it) reads it as `private`, for the same minute, and
/// tenant `b` (whose view does not) is refused it. The lists weft builds
/// per tenant say `private` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_weft_filters_per_tenant_is_private_to_a_2026_07_28_client() {
    let dir = temp_dir();
    let script = dir.path().join("plans.py");
    std::fs::write(&script, PUBLIC_PLANS).expect("write the server");
    let mut text = command_entry(
        "plans",
        &venv_bin("python"),
        &[&script.display().to_string()],
    );
    text += "[tenants.a]\ninclude = [\"plans.*\"]\n[tenants.b]\ninclude = []\n";
    let config = write_config(dir.path(), &text);
    let (key_a, key_b) = (add_key(&config, "a"), add_key(&config, "b"));
    let served = serve(&config, &[]);
    let http = reqwest::Client::new();
    let (mut a, mut b) = (
        client(&http, &served.base, &key_a),
        client(&http, &served.base, &key_b),
    );

    let (id, answer) = a.request("resources/list", json!({})).await;
    let list = answer.message(id)["result"].clone();
    assert_eq!(
        (&list["cacheScope"], &list["ttlMs"]),
        (&json!("private"), &json!(0)),
        "{list}"
    );
    let uri = list["resources"][0]["uri"]
        .as_str()
        .unwrap_or_else(|| panic!("a lists no resource: {list}"))
        .to_string();
    let read = named_request(&mut a, "resources/read", json!({"uri": uri}), &uri).await;
    let result = &read["result"];
    assert_eq!(
        result["contents"][0]["text"],
        json!("the acquisition plan"),
        "{read}"
    );
    assert_eq!(
        (&result["cacheScope"], &result["ttlMs"]),
        (&json!("private"), &json!(60000)),
        "{read}"
    );

    let refused = named_request(&mut b, "resources/read", json!({"uri": uri}), &uri).await;
    assert!(refused.get("result").is_none(), "{refused}");
    assert!(
        !refused.to_string().contains("acquisition plan"),
        "{refused}"
    );
}
