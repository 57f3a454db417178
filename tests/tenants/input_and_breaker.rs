//! What one tenant does to a shared server does not reach another: a
//! result made with one agent's answers (elicitation) is never cached for
//! the next caller, and one tenant's slow calls timing out do not open the
//! breaker that every tenant shares while the server still answers.

use super::*;

use rmcp::model::{
    ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
};
use rmcp::service::{RequestContext, RoleClient};

/// An agent that answers every elicitation with its own colour.
struct Answers(&'static str);

impl rmcp::ClientHandler for Answers {
    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        Ok(ElicitResult::new(ElicitationAction::Accept).with_content(json!({"colour": self.0})))
    }

    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.capabilities =
            serde_json::from_value::<ClientCapabilities>(json!({"elicitation": {"form": {}}}))
                .unwrap();
        info
    }
}

/// Calls `asker__favourite` as `client`: the text it answered.
async fn ask(client: &rmcp::service::RunningService<RoleClient, Answers>) -> String {
    let p = CallToolRequestParams::new("asker__favourite");
    let r = within("asker__favourite", client.call_tool(p))
        .await
        .expect("answered");
    assert_ne!(r.is_error, Some(true), "{r:?}");
    text_of(&r)
}

/// Starts weft in `dir` with `servers` shared by tenants `a` and `b`:
/// (process, base URL, a's key, b's key).
fn two_tenants(dir: &Path, servers: &str, include: &str) -> (Background, String, String, String) {
    let text = format!(
        "{servers}\n[tenants.a]\ninclude = [{include}]\n\n[tenants.b]\ninclude = [{include}]\n"
    );
    std::fs::write(dir.join("weft.toml"), text).unwrap();
    let (a, b) = (add_key(dir, "a"), add_key(dir, "b"));
    let (weft, base) = serve_in(dir, &dir.join("weft.stderr"));
    (weft, base, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_made_with_an_agents_answers_is_not_cached_for_another_tenant() {
    let dir = temp_dir();
    let d = dir.path();
    let script = repo_root().join("tests/fixtures/asker_server.py");
    let mut servers = command_entry(
        "asker",
        &venv_bin("python"),
        &[&script.display().to_string()],
    );
    servers += "[servers.asker.cache]\ntool_ttl = \"10m\"\n";
    let (_weft, base, a, b) = two_tenants(d, &servers, "\"asker.*\"");
    let agent = |key: String, colour: &'static str| {
        let base = base.clone();
        async move {
            let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
                .auth_header(key);
            within(
                "client connect",
                Answers(colour).serve(StreamableHttpClientTransport::from_config(config)),
            )
            .await
            .expect("the agent connects")
        }
    };
    let agent_a = agent(a, "teal").await;
    let agent_b = agent(b, "plum").await;
    assert_eq!(ask(&agent_a).await, "favourite: teal");
    assert_eq!(ask(&agent_b).await, "favourite: plum", "b got a's answer");
    assert_eq!(ask(&agent_a).await, "favourite: teal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_own_timeouts_leave_the_shared_breaker_closed() {
    let dir = temp_dir();
    let d = dir.path();
    let mut servers = npm_entry("everything", "server-everything", &["stdio"]);
    servers += "timeout = \"1s\"\n[servers.everything.breaker]\nfailures = 1\ncooldown = \"10m\"\n";
    servers += "[servers.everything.retry]\nmax_retries = 0\n";
    let (_weft, base, a, b) = two_tenants(d, &servers, "\"everything.*\"");
    let client = |key: String| {
        let base = base.clone();
        async move {
            let config = StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp"))
                .auth_header(key);
            within(
                "client connect",
                ().serve(StreamableHttpClientTransport::from_config(config)),
            )
            .await
            .expect("client connects")
        }
    };
    let (ca, cb) = (client(a).await, client(b).await);
    // A asks for an operation longer than the server's timeout.
    let r = call(
        &ca,
        "everything__trigger-long-running-operation",
        json!({"duration": 30, "steps": 1}),
    )
    .await;
    assert_eq!(error_kind(&r).as_deref(), Some("timeout"), "{r:?}");
    // The server still answers, so B's call goes through.
    let r = call(&cb, "everything__echo", json!({"message": "still here"})).await;
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert!(text_of(&r).contains("still here"), "{r:?}");
    // And again, well inside the breaker's cool-down.
    let r = call(&cb, "everything__echo", json!({"message": "again"})).await;
    assert_ne!(r.is_error, Some(true), "{r:?}");
}
