//! What one upstream server sends reaches only the tenant it belongs to.
//!
//! - A server's requests for the agent's input (sampling, elicitation) and
//!   its log lines reach only an agent of the tenant whose call they belong
//!   to. The server is a handshake-era Python SDK server
//!   (`tests/fixtures/python/asking_server.py`) shared by tenants `a` and
//!   `b`: over stdio its request names no call, so when calls of both
//!   tenants are in flight weft must refuse it rather than guess.
//! - A server run once per tenant lists, to each tenant, what that
//!   tenant's own instance lists.
//! - With `forward_roots`, each tenant's instance of server-filesystem
//!   takes the roots its own agents declare (Python SDK agents), and only
//!   theirs.
//!
//! The agents are rmcp clients that declare sampling and elicitation and
//! record everything the server's side sends them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;
#[allow(deprecated)]
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction, ErrorData,
    LoggingLevel, LoggingMessageNotificationParam, SamplingMessage, SetLevelRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::support::keys::add_key;
use crate::support::*;

/// What the server's tool returns when weft refuses its request: the
/// fixture catches the client error and returns it after this prefix.
const REFUSED: &str = "weft refused this request for the agent's input: calls of several \
tenants are in flight on this shared connection, so weft cannot tell whose agent should \
answer (run the server per_tenant)";

/// What an agent was asked and sent, shared between its handler and the
/// test.
#[derive(Clone, Default)]
struct Seen(Arc<std::sync::Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// An agent that answers sampling and elicitation, and records what it
/// was asked and the log lines it received.
#[derive(Clone)]
struct Agent {
    name: &'static str,
    seen: Seen,
}

impl rmcp::ClientHandler for Agent {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.capabilities = serde_json::from_value::<ClientCapabilities>(
            json!({"sampling": {}, "elicitation": {"form": {}}}),
        )
        .unwrap();
        info
    }

    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let asked = serde_json::to_string(&params.messages).unwrap();
        self.seen.push(format!("sampling {asked}"));
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text(format!("answer of {}", self.name)),
            "test-model".into(),
        ))
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        _ctx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.seen.push(format!(
            "elicitation {}",
            serde_json::to_string(&params).unwrap()
        ));
        let mut r = ElicitResult::new(ElicitationAction::Accept);
        r.content = Some(json!({"ok": true}));
        Ok(r)
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        self.seen.push(format!("log {}", params.data));
    }
}

type Client = RunningService<RoleClient, Agent>;

/// weft serving the asking server, shared by tenants `a` and `b`.
struct Rig {
    dir: tempfile::TempDir,
    _weft: Background,
    base: String,
    keys: [String; 2],
}

fn weft_in(dir: &Path) -> std::process::Command {
    let mut cmd = weft();
    cmd.current_dir(dir);
    cmd
}

/// `weft secrets set --tenant TENANT NAME`, the value on stdin.
fn set_secret_for(dir: &Path, tenant: &str, name: &str, value: &str) {
    use std::io::Write;
    let mut child = weft_in(dir)
        .args(["secrets", "set", name, "--tenant", tenant])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    assert!(wait_child(&mut child, COMMAND_DEADLINE).success());
}

impl Rig {
    fn start(per_tenant: bool) -> Rig {
        let dir = temp_dir();
        let d = dir.path();
        let script = repo_root().join("tests/fixtures/python/asking_server.py");
        let mut text = "[settings]\nstartup_timeout = \"60s\"\n".to_string();
        text += &command_entry(
            "asker",
            &venv_bin("python"),
            &[&script.display().to_string()],
        );
        // The calls' markers, in a folder of their own (the server's
        // sandbox opens it; `d` holds weft's keys and secrets).
        std::fs::create_dir_all(d.join("markers")).unwrap();
        text += &sandbox_write(&[&d.join("markers")]);
        if per_tenant {
            text += "per_tenant = true\nenv = { ASKER_LABEL = \"${secret:LABEL}\" }\n";
        }
        text += "\n[tenants.a]\ninclude = [\"asker.*\"]\n\n[tenants.b]\ninclude = [\"asker.*\"]\n";
        std::fs::write(d.join("weft.toml"), text).unwrap();
        if per_tenant {
            set_secret_for(d, "a", "LABEL", "label-of-a");
            set_secret_for(d, "b", "LABEL", "label-of-b");
        }
        let keys = [add_key(d, "a"), add_key(d, "b")];
        let (weft, base) = serve_weft_http(
            weft_in(d)
                .env("WEFT_LOG", "warn")
                .stderr(std::fs::File::create(d.join("weft.stderr")).unwrap()),
        );
        Rig {
            dir,
            _weft: weft,
            base,
            keys,
        }
    }

    async fn agent(&self, tenant: usize, name: &'static str) -> (Client, Seen) {
        let seen = Seen::default();
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.base))
            .auth_header(self.keys[tenant].clone());
        let client = within(
            "client connects",
            Agent {
                name,
                seen: seen.clone(),
            }
            .serve(StreamableHttpClientTransport::from_config(config)),
        )
        .await
        .expect("the agent connects");
        #[allow(deprecated)]
        within(
            "logging/setLevel",
            client.set_level(SetLevelRequestParams::new(LoggingLevel::Debug)),
        )
        .await
        .expect("setLevel is answered");
        (client, seen)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weft.stderr")).unwrap_or_default()
    }
}

async fn call(client: &Client, tool: &str, args: Value) -> String {
    let mut p = CallToolRequestParams::new(format!("asker__{tool}"));
    p.arguments = args.as_object().cloned();
    let r = within(tool, client.call_tool(p))
        .await
        .expect("the call is answered");
    assert_ne!(r.is_error, Some(true), "{tool}: {r:?}");
    text_of(&r)
}

/// Starts a call that reaches the server, writes `<step>.<who>` there and
/// waits for the file `<step>.<who>.go`; returns once the server has it.
async fn held_call(
    dir: &Path,
    client: &Arc<Client>,
    who: &str,
    step: &str,
    tool: &str,
    mut args: Value,
) -> tokio::task::JoinHandle<String> {
    let marker = dir.join("markers").join(format!("{step}.{who}"));
    args["marker"] = json!(marker.display().to_string());
    args["wait_for"] = json!(
        dir.join("markers")
            .join(format!("{step}.{who}.go"))
            .display()
            .to_string()
    );
    let (client, tool) = (client.clone(), tool.to_string());
    let call = tokio::spawn(async move { call(&client, &tool, args).await });
    eventually(
        Duration::from_secs(30),
        "the call reaches the server",
        || marker.exists(),
    )
    .await;
    call
}

fn release(dir: &Path, step: &str, who: &str) {
    std::fs::write(dir.join("markers").join(format!("{step}.{who}.go")), "go").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_servers_request_for_input_never_reaches_another_tenants_agent() {
    let rig = Rig::start(false);
    let dir = rig.dir.path();
    let (a, seen_a) = rig.agent(0, "a").await;
    let (b, seen_b) = rig.agent(1, "b").await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let secret = json!({"secret": "A-SECRET-123"});

    // A alone: A's agent gets its own prompt, and its answer is the result.
    assert_eq!(
        call(&a, "ask_later", secret.clone()).await,
        "sampled: answer of a"
    );
    let asked = seen_a.all();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].contains("summarise A-SECRET-123"), "{asked:?}");
    assert_eq!(
        call(&a, "elicit_later", secret.clone()).await,
        "elicited: accept {'ok': True}"
    );
    assert!(seen_a.all()[1].contains("confirm A-SECRET-123"));
    assert_eq!(
        call(&a, "log_later", json!({"secret": "A-LOG-1"})).await,
        "logged"
    );
    eventually(Duration::from_secs(10), "A's own log line", || {
        seen_a
            .all()
            .iter()
            .any(|s| s.starts_with("log") && s.contains("A-LOG-1"))
    })
    .await;
    let before = seen_a.all().len();

    // A's call is in flight, then B's; then the server asks. Nobody is
    // asked, and the server hears weft's refusal.
    for (tool, what) in [("ask_later", "sampling"), ("elicit_later", "elicitation")] {
        let asking = held_call(dir, &a, "a", tool, tool, secret.clone()).await;
        let slow = held_call(dir, &b, "b", tool, "slow", json!({})).await;
        release(dir, tool, "a");
        let crossed = within(tool, asking).await.unwrap();
        assert_eq!(crossed, format!("{what} refused: {REFUSED}"));
        // B's call stayed open throughout.
        assert!(!slow.is_finished());
        release(dir, tool, "b");
        assert_eq!(within("B's slow call", slow).await.unwrap(), "slow done");
    }
    // A log line while both tenants' calls are open goes to nobody.
    let logging = held_call(
        dir,
        &a,
        "a",
        "log",
        "log_later",
        json!({"secret": "A-LOG-2"}),
    )
    .await;
    let slow = held_call(dir, &b, "b", "log", "slow", json!({})).await;
    release(dir, "log", "a");
    assert_eq!(within("log_later", logging).await.unwrap(), "logged");
    assert!(!slow.is_finished());
    release(dir, "log", "b");
    assert_eq!(within("B's slow call", slow).await.unwrap(), "slow done");

    assert_eq!(
        seen_b.all(),
        Vec::<String>::new(),
        "B's agent saw A's traffic"
    );
    assert_eq!(seen_a.all().len(), before, "{:?}", seen_a.all());
    let log = rig.log();
    assert!(
        log.contains("refused a server's request for input"),
        "no warning in weft's log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_tenant_lists_its_own_instance_of_a_per_tenant_server() {
    let rig = Rig::start(true);
    // The fixture names its resource and prompt after its secret reversed
    // (weft masks the secret itself in every answer).
    for (tenant, label) in [(0, "a-fo-lebal"), (1, "b-fo-lebal")] {
        let (client, _) = rig.agent(tenant, "agent").await;
        let resources = within("resources/list", client.list_all_resources())
            .await
            .unwrap();
        let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, [format!("note of {label}")], "tenant {tenant}");
        let prompts = within("prompts/list", client.list_all_prompts())
            .await
            .unwrap();
        let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, [format!("asker__prompt_{label}")], "tenant {tenant}");
        // Its own resource reads from its own instance.
        let read = within(
            "resources/read",
            client.read_resource(rmcp::model::ReadResourceRequestParams::new(
                resources[0].uri.clone(),
            )),
        )
        .await
        .unwrap();
        let text = serde_json::to_value(&read.contents[0]).unwrap()["text"].clone();
        assert_eq!(text, json!(format!("the note of {label}")));
    }
}

/// `forward_roots`: server-filesystem, run once per tenant, starts with a
/// directory of the config's; an agent of tenant `a` declaring its root
/// makes `a`'s instance allow that root instead, and `b`'s agent makes
/// `b`'s allow its own. Neither instance ever allows the other's.
#[test]
fn each_tenants_instance_takes_its_own_agents_roots() {
    let dir = temp_dir();
    let d = dir.path();
    let root = |name: &str| {
        let p = d.join(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::canonicalize(&p).unwrap().display().to_string()
    };
    let (start, of_a, of_b) = (root("start"), root("root-of-a"), root("root-of-b"));
    let mut text = npm_entry("files", "server-filesystem", &[&start]);
    text += "per_tenant = true\nforward_roots = true\n";
    // The roots the agents declare (`d` itself holds weft's keys).
    let folders: Vec<PathBuf> = ["start", "root-of-a", "root-of-b"]
        .iter()
        .map(|n| d.join(n))
        .collect();
    let folders: Vec<&Path> = folders.iter().map(PathBuf::as_path).collect();
    text += &sandbox_read(&folders);
    text += "\n[tenants.a]\ninclude = [\"files.*\"]\n\n[tenants.b]\ninclude = [\"files.*\"]\n";
    std::fs::write(d.join("weft.toml"), text).unwrap();
    let keys = [add_key(d, "a"), add_key(d, "b")];
    let (_weft, base) = serve_weft_http(
        weft_in(d)
            .env("WEFT_LOG", "warn")
            .stderr(std::fs::File::create(d.join("weft.stderr")).unwrap()),
    );
    let url = format!("{base}/mcp");
    let allowed = |key: &str, root: &str| {
        crate::serve::agent(
            &url,
            "legacy",
            "until",
            json!({"key": key, "roots": [format!("file://{root}")],
                   "tool": "files__list_allowed_directories", "expect": root}),
        )["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let a = allowed(&keys[0], &of_a);
    assert!(a.contains(&of_a), "a's instance allows a's root: {a}");
    assert!(
        !a.contains(&start),
        "the root replaced the config's directory: {a}"
    );
    let b = allowed(&keys[1], &of_b);
    assert!(b.contains(&of_b), "b's instance allows b's root: {b}");
    assert!(
        !b.contains(&of_a),
        "b's instance never hears a's roots: {b}"
    );
    // a's instance kept a's roots, whatever b declared.
    let again = allowed(&keys[0], &of_a);
    assert!(again.contains(&of_a) && !again.contains(&of_b), "{again}");
}
