//! A run is for one caller, and sees and calls only what that caller may
//! (issue 53, findings 4 and 5).
//!
//! - **Its tenant's own instances.** A `per_tenant` server runs one
//!   process per tenant, and each may list different tools: here a Python
//!   SDK server (`tests/fixtures/python/tenant_tools_server.py`) lists a
//!   tool named after its tenant's secret, and annotates its writes
//!   idempotent for the tenants whose secret says so. A policy's
//!   `list-tools`, run as `b`, shows `b`'s tools and never `a`'s (the
//!   owner's catalog is made of `a`'s, the first instance); and a durable
//!   run of `b`, stopped after a write was sent, is resumed as `b`'s own
//!   instance says, not as `a`'s: in doubt when `b`'s does not call the
//!   write safe to repeat, sent again when it does.
//! - **The same caller after a resume.** An agent whose OAuth token's
//!   scope narrows its tenant's view starts a durable run; `weft serve` is
//!   stopped in the middle and started again, and the resumed run is
//!   refused the write outside the token's grants exactly as an
//!   uninterrupted run is. A durable adapter call made through another
//!   adapter is resumed with that chain, so a nested call that looped back
//!   is refused again rather than sent. A run stored without its caller
//!   (by an older weft) is not resumed for a tenant, and says why.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::durable::{Setup, WRITES, input, output_json, sqlite, stderr};
use crate::durable_serve::ended;
use crate::support::issuer::{ISSUER, Issuer, Mode, RESOURCE, Signer};
use crate::support::keys::add_key_at;
use crate::support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// `weft serve --http` on `config`, its log (at `warn`) in `log`; `crash`
/// arms the test hook that aborts weft at a point of a journaled call.
fn serve(config: &Path, crash: Option<&str>, log: &Path) -> (Background, String) {
    let mut cmd = weft();
    cmd.arg("--config")
        .arg(config)
        .env("WEFT_LOG", "warn")
        .stderr(std::fs::File::create(log).expect("the log file"));
    if let Some(at) = crash {
        cmd.env("WEFT_TEST_CRASH_AT", at);
    }
    serve_weft_http(&mut cmd)
}

/// An agent of `weft serve` at `base` authenticated by `bearer` (a tenant
/// key or an OAuth access token).
async fn connect(base: &str, bearer: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
        .auth_header(bearer.to_string());
    within(
        "the agent connects",
        ().serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .expect("the agent connects")
}

fn params(tool: &str, args: &Value) -> CallToolRequestParams {
    CallToolRequestParams::new(tool.to_string()).with_arguments(args.as_object().cloned().unwrap())
}

async fn call(client: &Client, tool: &str, args: &Value) -> CallToolResult {
    tokio::time::timeout(
        Duration::from_secs(120),
        client.call_tool(params(tool, args)),
    )
    .await
    .expect("the call answers within 2 minutes")
    .expect("the call is answered")
}

/// Calls `tool` with `args` as `bearer` on a serve armed to abort:
/// returns once the process died of SIGABRT in the middle of the call.
/// A call answered instead fails the test, showing the answer.
async fn call_until_it_dies(
    mut served: Background,
    base: &str,
    bearer: &str,
    tool: &str,
    args: &Value,
) {
    let client = connect(base, bearer).await;
    let p = params(tool, args);
    let mut pending = tokio::spawn(async move { client.call_tool(p).await });
    let mut stopped =
        tokio::task::spawn_blocking(move || wait_child(&mut served.0, Duration::from_secs(90)));
    let status = tokio::select! {
        status = &mut stopped => status.unwrap(),
        answer = &mut pending => {
            if let Ok(Ok(result)) = answer {
                panic!("weft answered {tool} instead of stopping at the crash point: {result:?}");
            }
            stopped.await.unwrap()
        }
    };
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}");
    pending.abort();
}

/// The durable guest's input for three writes to `tt`.
fn tt_writes() -> Value {
    json!({"server": "tt", "writes": 3})
}

/// The one interrupted run of a journal's config.
fn interrupted(config: &Path) -> String {
    let out = weft()
        .arg("--config")
        .arg(config)
        .args(["runs", "list", "--json", "--status", "interrupted"])
        .output()
        .unwrap();
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0]["id"].as_str().unwrap().to_string()
}

/// Tenants `a` and `b` (in this order: the owner's catalog is made of
/// `a`'s instance, the first), each with its own instance of `tt` (the
/// Python SDK server whose tools depend on its tenant's secret),
/// server-everything (for the template policy's echo), the template
/// policy `lister` and the durable guest `writes_tt`, journaled, resumed
/// on start.
struct TenantTools {
    s: Setup,
    keys: [String; 2],
}

/// Each tenant's `tt` secret: `a`'s instance calls its writes idempotent
/// (its secret starts with `steady`), `b`'s does not.
const STEADY_A: [(&str, &str); 2] = [("a", "steadyalpha"), ("b", "plainbravo")];
/// The other way round: `b`'s instance calls its writes idempotent.
const STEADY_B: [(&str, &str); 2] = [("a", "plainalpha"), ("b", "steadybravo")];

/// The label a `tt` instance goes by: its secret reversed (weft masks the
/// secret's value in answers).
fn label(secret: &str) -> String {
    secret.chars().rev().collect()
}

impl TenantTools {
    fn new(tenants: [(&str, &str); 2]) -> TenantTools {
        let s = Setup::with_settings(
            "startup_timeout = \"60s\"\njournal = \"journal.db\"\nresume = true\n",
            "",
        );
        let script = repo_root().join("tests/fixtures/python/tenant_tools_server.py");
        let record = s.dir.path().join("tt-record.txt");
        let mut text = command_entry("tt", &venv_bin("python"), &[&script.display().to_string()]);
        text += &format!(
            "per_tenant = true\nenv = {{ TOOLS_LABEL = \"${{secret:LABEL}}\", TOOLS_RECORD = {} }}\n",
            q(record.display().to_string())
        );
        // The one file its sandbox lets it write.
        std::fs::write(&record, "").unwrap();
        text += &sandbox_write(&[&record]);
        text += "\n";
        text += &npm_entry("everything", "server-everything", &[]);
        text += &format!(
            "\n[policies.lister]\npath = {}\ngrants = [\"everything.echo\", \"tt.*\"]\n",
            q(guest_wasm("weft-policy-template").display().to_string())
        );
        text += "\n[policies.writes_tt]\npath = \"durable.wasm\"\ngrants = [\"tt.*\"]\n";
        let mut secrets = String::new();
        for (tenant, secret) in tenants {
            text += &format!(
                "\n[tenants.{tenant}]\ninclude = [\"tt.*\", \"everything.*\"]\npolicies = [\"lister\", \"writes_tt\"]\n"
            );
            secrets += &format!("[tenants.{tenant}]\nLABEL = {}\n", q(secret));
        }
        let mut config = std::fs::read_to_string(&s.config).unwrap();
        config += &format!("\n{text}");
        std::fs::write(&s.config, config).unwrap();
        let secrets_file = s.dir.path().join("weft.secrets.toml");
        std::fs::write(&secrets_file, secrets).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secrets_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let keys = [
            add_key_at(&s.config, tenants[0].0),
            add_key_at(&s.config, tenants[1].0),
        ];
        TenantTools { s, keys }
    }

    fn log(&self) -> PathBuf {
        self.s.dir.path().join("weft.stderr")
    }

    /// The writes `tt`'s instances received, as `LABEL tool text` lines.
    fn record(&self) -> Vec<String> {
        std::fs::read_to_string(self.s.dir.path().join("tt-record.txt"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (head, args) = l.split_at(l.find('{').expect("a record line has its args"));
                let args: Value = serde_json::from_str(args).unwrap();
                format!("{head}{}", args["text"].as_str().unwrap())
            })
            .collect()
    }

    /// `b`'s durable run of three writes to `tt`, its serve aborted after
    /// the 2nd write was sent (its result not stored), then started again:
    /// the writes sent by then, and the run's id.
    async fn b_interrupted_after_its_2nd_write(&self) -> (Background, Vec<String>, String) {
        let (served, base) = serve(&self.s.config, Some("after-send:2"), &self.log());
        call_until_it_dies(served, &base, &self.keys[1], "writes_tt", &tt_writes()).await;
        let sent = self.record();
        let id = interrupted(&self.s.config);
        let (again, _) = serve(&self.s.config, None, &self.log());
        (again, sent, id)
    }
}

/// `list-tools` in a policy run as tenant `b` lists `b`'s own instance's
/// tools (and `a`'s run, `a`'s): never the other tenant's, never the
/// first instance's (which the owner's catalog is made of).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_list_tools_shows_only_its_own_tenants_instance() {
    let rig = TenantTools::new(STEADY_A);
    let (_served, base) = serve(&rig.s.config, None, &rig.log());
    for (i, (tenant, secret)) in STEADY_A.into_iter().enumerate() {
        let client = connect(&base, &rig.keys[i]).await;
        let result = call(&client, "lister", &json!({"message": tenant})).await;
        assert_ne!(result.is_error, Some(true), "{tenant}: {result:?}");
        let out = result
            .structured_content
            .clone()
            .expect("structured output");
        let mut listed: Vec<String> = out["granted"]
            .as_array()
            .unwrap_or_else(|| panic!("{tenant}: no list in {out}"))
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        listed.sort();
        let mut expected = vec![
            "everything.echo".to_string(),
            "tt.common".into(),
            format!("tt.only_{}", label(secret)),
            "tt.tool_0".into(),
            "tt.tool_1".into(),
            "tt.tool_2".into(),
        ];
        expected.sort();
        assert_eq!(listed, expected, "tenant {tenant}'s run listed");
        client.cancel().await.ok();
    }
}

/// A durable run of `b` stopped after its 2nd write was sent (its result
/// not stored): `b`'s instance does not say the write is safe to repeat
/// (`a`'s, the owner's, does), so the restarted serve stops the run in
/// doubt and sends nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_reads_whether_a_call_may_be_repeated_from_its_tenants_own_instance() {
    let rig = TenantTools::new(STEADY_A);
    let (_again, sent, id) = rig.b_interrupted_after_its_2nd_write().await;
    assert_eq!(
        sent,
        ["ovarbnialp tool_0 write 0", "ovarbnialp tool_1 write 1"]
    );
    let run = ended(&rig.s, &id, Duration::from_secs(90));
    assert_eq!(
        rig.record(),
        sent,
        "a write that b's instance does not call safe to repeat was sent again"
    );
    assert_eq!(run["status"], "in-doubt", "{run}");
    let error = run["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(r#"(tt.tool_1 {"text":"write 1"})"#),
        "{error}"
    );
}

/// The same stop, where `b`'s own instance calls its writes idempotent
/// and the owner's (`a`'s) does not: the restarted serve sends the 2nd
/// write again, as `b`'s instance allows, and the run ends `ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_repeats_a_call_its_tenants_own_instance_calls_idempotent() {
    let rig = TenantTools::new(STEADY_B);
    let (_again, sent, id) = rig.b_interrupted_after_its_2nd_write().await;
    assert_eq!(
        sent,
        ["ovarbydaets tool_0 write 0", "ovarbydaets tool_1 write 1"]
    );
    let run = ended(&rig.s, &id, Duration::from_secs(90));
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(
        rig.record(),
        [
            "ovarbydaets tool_0 write 0",
            "ovarbydaets tool_1 write 1",
            "ovarbydaets tool_1 write 1",
            "ovarbydaets tool_2 write 2",
        ]
    );
}

/// An OAuth issuer publishing `signer`'s key, and the `[oauth]` tables
/// that trust it: scope `w:first` grants only the first two writes.
async fn oauth_tables(signer: &Signer) -> (Issuer, String) {
    let issuer = Issuer::start(&[signer], Mode::Serve).await;
    let text = format!(
        "\n[oauth]\nissuer = {}\nresource = {}\njwks_uri = {}\ntenant_claim = \"org\"\nscopes = [\"mcp\"]\n\n[oauth.grants]\n\"w:first\" = [\"w.tool_0\", \"w.tool_1\"]\n",
        q(ISSUER),
        q(RESOURCE),
        q(&issuer.jwks_uri)
    );
    (issuer, text)
}

/// The policy and tenant of the OAuth tests: `acme` sees every write, the
/// policy is granted every write.
const ACME: &str = "\n[policies.writes]\npath = \"durable.wasm\"\ngrants = [\"w.*\"]\n\n[tenants.acme]\ninclude = [\"w.*\"]\npolicies = [\"writes\"]\n";

/// An agent whose token's scope grants `w.tool_0` and `w.tool_1` of its
/// tenant's `w.*` runs the durable policy that makes three writes. Stopped
/// before the 2nd write and resumed by a restarted serve, the run makes
/// the 2nd write and is refused the 3rd, as the same agent's uninterrupted
/// run is, with the same error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_is_held_to_its_callers_oauth_scope() {
    let signer = Signer::new("k1");
    let (_issuer, oauth) = oauth_tables(&signer).await;
    let s = Setup::with_settings(
        "journal = \"journal.db\"\nresume = true\n",
        &format!("{ACME}{oauth}"),
    );
    let token = signer.token(json!({"org": "acme", "scope": "mcp w:first"}));
    let log = s.dir.path().join("weft.stderr");

    let (served, base) = serve(&s.config, Some("before-intent:2"), &log);
    call_until_it_dies(served, &base, &token, "writes", &input()).await;
    assert_eq!(s.record(), WRITES[..1]);
    let id = interrupted(&s.config);
    let (again, base) = serve(&s.config, None, &log);
    let resumed = ended(&s, &id, Duration::from_secs(90));
    assert_eq!(
        s.record(),
        WRITES[..2],
        "the resumed run wrote outside its caller's scope"
    );
    assert_eq!(resumed["status"], "error", "{resumed}");

    // The same agent's run, uninterrupted: the same refusal.
    let client = connect(&base, &token).await;
    let live = call(&client, "writes", &input()).await;
    assert_eq!(live.is_error, Some(true), "{live:?}");
    assert_eq!(s.record(), [&WRITES[..2], &WRITES[..2]].concat());
    let live_id = live
        .meta
        .as_ref()
        .and_then(|m| m.get("weft/run-id"))
        .and_then(Value::as_str)
        .expect("the run id")
        .to_string();
    let live_run = output_json(&s.weft(&["runs", "show", &live_id, "--json"]));
    assert_eq!(live_run["status"], "error", "{live_run}");
    assert_eq!(live_run["error"], resumed["error"], "the refusals differ");
    client.cancel().await.ok();
    drop(again);
}

/// Adapters `outer` and `d`, both the test adapter (whose `call` makes
/// one nested call), `d` durable; each may call the other and `w`, and
/// tenant `acme` sees all three.
const CHAIN: &str = "\n[servers.outer]\ncomponent = \"adapter.wasm\"\ngrants = [\"d.*\", \"w.*\"]\n\n[servers.d]\ncomponent = \"adapter.wasm\"\ngrants = [\"outer.*\", \"w.*\"]\ndurable = true\n\n[tenants.acme]\ninclude = [\"outer.*\", \"d.*\", \"w.*\"]\n";

/// The agent's call of `outer`: it calls `d`, whose call goes back into
/// `outer` to write to `w`.
fn looping_args() -> Value {
    json!({"server": "d", "tool": "call", "args": {
        "server": "outer", "tool": "call", "args": {
            "server": "w", "tool": "tool_0", "args": {"text": "write 0"}}}})
}

/// The text of a tool result's first content block.
fn first_text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {result}"))
        .to_string()
}

/// The agent calls `outer`, which calls the durable `d`, whose nested call
/// back into `outer` is refused: the chain `outer → d → outer` loops.
/// Stopped before that nested call and resumed by a restarted serve, `d`'s
/// call goes on with the chain it was called through, so the nested call
/// is refused the same way, and nothing reaches `w`; a resume that
/// forgot the chain would let `outer` write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_adapter_call_keeps_the_chain_it_was_called_through() {
    let s = Setup::with_settings("journal = \"journal.db\"\nresume = true\n", CHAIN);
    std::fs::copy(
        guest_wasm("weft-adapter-guest"),
        s.dir.path().join("adapter.wasm"),
    )
    .unwrap();
    let key = add_key_at(&s.config, "acme");
    let log = s.dir.path().join("weft.stderr");
    let (served, base) = serve(&s.config, Some("before-intent:1"), &log);
    call_until_it_dies(served, &base, &key, "outer__call", &looping_args()).await;
    let id = interrupted(&s.config);
    let (_again, base) = serve(&s.config, None, &log);
    let resumed = ended(&s, &id, Duration::from_secs(90));
    assert_eq!(
        s.record(),
        Vec::<String>::new(),
        "the resumed call reached w through a chain it was not called through"
    );
    assert_eq!(resumed["status"], "ok", "{resumed}");
    let output: Value = serde_json::from_str(resumed["output"].as_str().unwrap()).unwrap();
    let refused: Value = serde_json::from_str(&first_text(&output)).unwrap();
    assert_eq!(
        refused,
        json!({"ok": false, "kind": "denied", "message": "refused: the call loops back into adapter \"outer\" (outer → d → outer); an adapter cannot call itself, directly or through others"}),
    );

    // The same call, uninterrupted: `d` answers the same.
    let client = connect(&base, &key).await;
    let live = call(&client, "outer__call", &looping_args()).await;
    assert_ne!(live.is_error, Some(true), "{live:?}");
    let outer: Value =
        serde_json::from_str(&first_text(&serde_json::to_value(&live).unwrap())).unwrap();
    assert_eq!(outer["ok"], true, "{outer}");
    assert_eq!(outer["text"].as_str(), Some(first_text(&output).as_str()));
    assert_eq!(s.record(), Vec::<String>::new());
    client.cancel().await.ok();
}

/// A run whose record has no caller (as an older weft stored it) is not
/// resumed for a tenant: who started it, and how narrowed, is unknown.
/// The restarted serve says so and sends nothing; `weft runs resume`
/// refuses it with the same reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_run_stored_without_its_caller_is_not_resumed() {
    let signer = Signer::new("k1");
    let (_issuer, oauth) = oauth_tables(&signer).await;
    let s = Setup::with_settings(
        "journal = \"journal.db\"\nresume = true\n",
        &format!("{ACME}{oauth}"),
    );
    let token = signer.token(json!({"org": "acme", "scope": "mcp w:first"}));
    let log = s.dir.path().join("weft.stderr");
    let (served, base) = serve(&s.config, Some("before-intent:2"), &log);
    call_until_it_dies(served, &base, &token, "writes", &input()).await;
    let id = interrupted(&s.config);
    sqlite(
        &s.dir.path().join("journal.db"),
        "UPDATE runs SET options = json_remove(options, '$.caller')",
    );
    let shown = output_json(&s.weft(&["runs", "show", &id, "--json"]));
    assert_eq!(shown["options"].get("caller"), None, "{shown}");

    let (_again, _) = serve(&s.config, None, &log);
    let why = format!(
        "run {id} was stored without its caller (by a weft older than this one), so weft cannot tell how far its caller was narrowed within tenant \"acme\"'s view; it is not resumed: start it again"
    );
    let mut text = String::new();
    eventually(Duration::from_secs(60), "serve declines the run", || {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains(&why)
    })
    .await;
    assert_eq!(s.record(), WRITES[..1], "{text}");
    let out = s.weft(&["runs", "resume", &id]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&why), "{}", stderr(&out));
    assert_eq!(s.record(), WRITES[..1]);
}
