//! Every configured credential is masked, whatever its source: a server's
//! inline `env` value under a credential-like name, and the value of a
//! `${env:NAME}` reference, echoed back by a real server
//! (server-everything's `get-env` prints its whole environment), reach
//! neither the agent nor the command line nor weft's log; a setting whose
//! name says nothing of credentials stays readable.

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;

use crate::support::*;

const INLINE: &str = "inline-secret-7c41d9e2";
const FROM_ENV: &str = "env-canary-90ab12cd";
const PLAIN: &str = "visible-value-5173";

fn setup() -> tempfile::TempDir {
    let dir = temp_dir();
    let mut text = "[settings]\nstartup_timeout = \"60s\"\n".to_string();
    text += &npm_entry("everything", "server-everything", &["stdio"]);
    text += &format!(
        "env = {{ API_TOKEN = {}, REGION_NAME = {}, UPSTREAM_OPTION = \"${{env:WEFT_H4_CANARY}}\" }}\n",
        q(INLINE),
        q(PLAIN)
    );
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    dir
}

fn assert_masked(what: &str, text: &str) {
    assert!(
        !text.contains(INLINE),
        "{what} shows the inline token:\n{text}"
    );
    assert!(
        !text.contains(FROM_ENV),
        "{what} shows the ${{env:}} value:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_a_server_echoes_are_masked_for_agents_the_cli_and_the_log() {
    let dir = setup();
    let log = dir.path().join("weft.log");
    let mut cmd = weft();
    cmd.current_dir(dir.path())
        .env("WEFT_H4_CANARY", FROM_ENV)
        .env("WEFT_LOG", "debug")
        .stderr(std::fs::File::create(&log).unwrap());
    let (served, base) = serve_weft_http(&mut cmd);

    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
    let client = within("the client connects", ().serve(transport))
        .await
        .expect("client connects");
    let result = within(
        "get-env",
        client.call_tool(CallToolRequestParams::new("everything__get-env")),
    )
    .await
    .unwrap();
    let answer = text_of(&result);
    let env: serde_json::Value = serde_json::from_str(&answer).expect("get-env answers JSON");
    assert_eq!(env["API_TOKEN"], "[REDACTED]");
    assert_eq!(env["UPSTREAM_OPTION"], "[REDACTED]");
    assert_eq!(env["REGION_NAME"], PLAIN);
    assert_masked("the agent's answer", &answer);
    drop(client);
    drop(served);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("DEBUG"), "weft logged at debug:\n{logged}");
    assert_masked("weft's log", &logged);

    // The command line, with its log at debug on stderr.
    let out = weft()
        .current_dir(dir.path())
        .env("WEFT_H4_CANARY", FROM_ENV)
        .args(["--log-level", "debug", "call", "everything", "get-env"])
        .output_timed()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\"API_TOKEN\": \"[REDACTED]\""), "{stdout}");
    assert!(stdout.contains(PLAIN), "{stdout}");
    assert_masked("weft call's output", &stdout);
    assert_masked("weft call's log", &String::from_utf8_lossy(&out.stderr));
}
