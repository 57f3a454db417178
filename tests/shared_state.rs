//! Replicas that share a PostgreSQL database (`settings.state`) share
//! their tenants' rates and the audit log.
//!
//! - Rates: a tenant's burst is spent across both `weft serve --http`
//!   processes, not once per process, and another tenant's is its own.
//!   When the database drops their connections, each replica falls back
//!   to a bucket of its own rather than refusing every call.
//! - Audit: both replicas' records land in one table, hashed with one salt,
//!   and `weft audit tail` in a third process reads them all.
//!
//! The calls are stateless-era requests (2026-07-28): each takes exactly
//! one token at the door, with no `initialize` to count.

use serde_json::{Value, json};

use crate::support::edge::{Raw, add_key, only_text, serve, write_config};
use crate::support::*;

/// A stateless client of `base` holding `key`.
fn client(http: &reqwest::Client, base: &str, key: &str) -> Raw {
    Raw::keyed(http, base, "2026-07-28", key)
}

/// Echoes `n`: the HTTP status and, on 200, the echoed text, else the body.
async fn echo(raw: &mut Raw, n: u32) -> (u16, String) {
    let (id, answer) = raw
        .request(
            "tools/call",
            json!({"name": "everything__echo", "arguments": {"message": n.to_string()}}),
        )
        .await;
    if answer.status == 200 {
        (200, only_text(&answer.message(id)["result"]))
    } else {
        (answer.status, answer.body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_rate_holds_across_two_replicas_on_one_database() {
    let pg = Postgres::start();
    let url = pg.database("rates");
    let dir = temp_dir();
    // 1 a minute: what is spent is not back within the test.
    let limits = "calls_per_minute = 1\nburst = 3\n";
    let text = format!(
        "[settings]\nstate = {}\n\n{}\n[tenants.a]\ninclude = [\"everything.*\"]\n[tenants.a.limits]\n{limits}\n[tenants.b]\ninclude = [\"everything.*\"]\n[tenants.b.limits]\n{limits}",
        q(&url),
        npm_entry("everything", "server-everything", &["stdio"])
    );
    let config = write_config(dir.path(), &text);
    let (ka, kb) = (add_key(&config, "a"), add_key(&config, "b"));
    let one = serve(&config, &[]);
    let two = serve(&config, &[]);
    let http = reqwest::Client::new();
    let (mut a1, mut a2) = (client(&http, &one.base, &ka), client(&http, &two.base, &ka));

    // a's burst of three: two calls on replica one, one on replica two.
    assert_eq!(echo(&mut a1, 1).await, (200, "Echo: 1".into()));
    assert_eq!(echo(&mut a1, 2).await, (200, "Echo: 2".into()));
    assert_eq!(echo(&mut a2, 3).await, (200, "Echo: 3".into()));
    // Spent: replica two refuses a's next call though it took only one.
    for raw in [&mut a2, &mut a1] {
        let (status, body) = echo(raw, 4).await;
        assert_eq!(status, 429, "{body}");
        let error: Value = serde_json::from_str(&body).expect("a JSON body");
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(
                    "rate-limited: tenant \"a\" is over its rate of 1 calls a minute; retry after "
                )),
            "{error}"
        );
    }
    // b's burst is its own, and spent across both replicas too.
    let (mut b1, mut b2) = (client(&http, &one.base, &kb), client(&http, &two.base, &kb));
    assert_eq!(echo(&mut b2, 5).await, (200, "Echo: 5".into()));
    assert_eq!(echo(&mut b1, 6).await, (200, "Echo: 6".into()));
    assert_eq!(echo(&mut b2, 7).await, (200, "Echo: 7".into()));
    assert_eq!(echo(&mut b1, 8).await.0, 429);

    // The database ends every connection of the replicas: each then
    // applies a bucket of its own (full: it was never charged) instead of
    // refusing a's calls outright.
    pg.sql(
        "select pg_terminate_backend(pid) from pg_stat_activity where datname = 'rates' and pid <> pg_backend_pid()",
    );
    wait_until(
        std::time::Duration::from_secs(10),
        "the replicas' connections to end",
        || pg.scalar("select count(*) from pg_stat_activity where datname = 'rates'") == "0",
    );
    assert_eq!(echo(&mut a1, 9).await, (200, "Echo: 9".into()));
}

/// Two replicas with configs in folders of their own (so no file is
/// shared between them) and the same database: each records one call with
/// the same arguments; `weft audit tail` from the first folder shows both
/// records, with the same hash, and no audit file is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_keep_one_audit_log_in_the_database() {
    let pg = Postgres::start();
    let url = pg.database("audited");
    let (dir1, dir2) = (temp_dir(), temp_dir());
    let text = format!(
        "[settings]\nstate = {}\naudit = \"audit.jsonl\"\n\n{}",
        q(&url),
        npm_entry("everything", "server-everything", &["stdio"])
    );
    let config1 = write_config(dir1.path(), &text);
    let config2 = write_config(dir2.path(), &text);
    let one = serve(&config1, &[]);
    let two = serve(&config2, &[]);
    let http = reqwest::Client::new();
    for served in [&one, &two] {
        let mut raw = Raw::new(&http, &served.base, "2026-07-28");
        assert_eq!(echo(&mut raw, 7).await, (200, "Echo: 7".into()));
    }
    let tail = || {
        let out = weft()
            .arg("--config")
            .arg(&config1)
            .args(["audit", "tail", "-n", "0", "--json"])
            .output_timed()
            .expect("run weft audit tail");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("a JSON record"))
            .filter(|r| r["route"] == "tool-call")
            .collect::<Vec<_>>()
    };
    wait_until(
        std::time::Duration::from_secs(20),
        "both replicas' records",
        || tail().len() == 2,
    );
    let calls = tail();
    for r in &calls {
        assert_eq!(
            (&r["server"], &r["tool"], &r["outcome"]),
            (&json!("everything"), &json!("echo"), &json!("ok")),
            "{r}"
        );
    }
    let hmac = calls[0]["args_hmac"].as_str().expect("a hash");
    assert_eq!(hmac.len(), 64);
    assert_eq!(
        calls[1]["args_hmac"], hmac,
        "one salt for both replicas: {calls:?}"
    );
    for dir in [&dir1, &dir2] {
        assert!(
            !dir.path().join("audit.jsonl").exists(),
            "an audit file was written in {}",
            dir.path().display()
        );
    }
}
