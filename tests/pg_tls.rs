//! `settings.state` over TLS (issue 19): the journal in a PostgreSQL that
//! takes connections on TCP with TLS only (`hostssl`, and `hostnossl`
//! rejected), its certificate issued by a test CA. With
//! `sslmode=verify-full` and that CA as `sslrootcert`, a durable run is
//! journaled there and `weft runs list` reads it back; without TLS the
//! server refuses weft; with another CA, weft refuses the server.

use serde_json::Value;

use crate::durable::{Setup, input};
use crate::support::pki::Pki;
use crate::support::*;

/// `weft runs list --json` of `setup`: (exit code, stdout, stderr).
fn runs_list(setup: &Setup) -> (i32, String, String) {
    let out = setup.weft(&["runs", "list", "--json"]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_journal_reaches_postgres_over_verified_tls_only() {
    let certs = temp_dir();
    let pki = Pki::new(certs.path());
    let pg = Postgres::start_tls(&pki);
    pg.sql("create database journal");
    let url = |query: &str| format!("postgresql://postgres@127.0.0.1:{}/journal{query}", pg.port);
    let setup = |query: &str| Setup::with_settings(&format!("state = {}\n", q(url(query))), "");

    // Verified TLS: a run is journaled, and another process reads it.
    let tls = setup(&format!(
        "?sslmode=verify-full&sslrootcert={}",
        pki.ca.display()
    ));
    let out = tls.run(&input(), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, stdout, stderr) = runs_list(&tls);
    assert_eq!(code, 0, "{stderr}");
    let runs: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{stdout}");
    assert_eq!(runs[0]["status"], "ok", "{stdout}");

    // No TLS: the server's pg_hba refuses the connection.
    let (code, _, stderr) = runs_list(&setup(""));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no encryption"), "{stderr}");

    // Another CA: weft refuses the server's certificate.
    let other = temp_dir();
    let stranger = Pki::new(other.path());
    let (code, _, stderr) = runs_list(&setup(&format!(
        "?sslmode=verify-full&sslrootcert={}",
        stranger.ca.display()
    )));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the TLS handshake with the server failed (error performing TLS handshake: invalid peer certificate: "),
        "{stderr}"
    );

    // A mode weft does not know is a config error naming the modes.
    let (code, _, stderr) = runs_list(&setup("?sslmode=sometimes"));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "sslmode=\"sometimes\" is not one of disable, prefer, require, verify-ca, verify-full"
        ),
        "{stderr}"
    );
}

/// `weft serve` with `settings.state` over verified TLS: the tenants' rate
/// buckets (the async client) and the audit log (the blocking one) are
/// in the database, which takes no connection without TLS, so their rows
/// there show both clients connected over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_and_audit_reach_postgres_over_tls() {
    use crate::support::edge::{Raw, add_key, only_text, serve, write_config};
    use serde_json::json;

    let certs = temp_dir();
    let pki = Pki::new(certs.path());
    let pg = Postgres::start_tls(&pki);
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.port,
        pki.ca.display()
    );
    let dir = temp_dir();
    let text = format!(
        "[settings]\nstate = {}\naudit = \"audit.jsonl\"\n\n{}\n[tenants.a]\ninclude = [\"everything.*\"]\n[tenants.a.limits]\ncalls_per_minute = 1\nburst = 5\n",
        q(&url),
        npm_entry("everything", "server-everything", &["stdio"])
    );
    let config = write_config(dir.path(), &text);
    let key = add_key(&config, "a");
    let served = serve(&config, &[]);
    let mut raw = Raw::new(&reqwest::Client::new(), &served.base, "2026-07-28");
    raw.key = Some(key);
    let (id, answer) = raw
        .request(
            "tools/call",
            json!({"name": "everything__echo", "arguments": {"message": "over tls"}}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(only_text(&answer.message(id)["result"]), "Echo: over tls");
    assert_eq!(
        pg.scalar("select count(*) from weft_rate_buckets where tenant = 'a'"),
        "1"
    );
    wait_until(
        std::time::Duration::from_secs(20),
        "the call's audit record in the database",
        || {
            pg.scalar("select count(*) from weft_audit where record::json->>'route' = 'tool-call'")
                == "1"
        },
    );
    assert!(!dir.path().join("audit.jsonl").exists());
}
