//! Unit tests of the audit log: records, the writer's queue, the salt.

use super::*;
use crate::Caller;

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "weft-audit-{}",
        crate::util::random_hex(6).unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn record(i: usize) -> Record {
    Record {
        ts: now(),
        tenant: "acme".into(),
        key: Some("k1".into()),
        policy: None,
        route: AuditRoute::ToolCall,
        server: "git".into(),
        tool: format!("t{i}"),
        target: String::new(),
        outcome: "ok".into(),
        ms: 1.5,
        args_hmac: String::new(),
        code_hmac: String::new(),
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn records_round_trip_and_tail_after_a_flush() {
    let dir = temp_dir();
    let path = dir.join("audit.jsonl");
    let audit = Audit::open(&path).unwrap();
    for i in 0..500 {
        audit.write(&record(i));
    }
    audit.flush().await;
    let all = tail(&path, 0).unwrap();
    assert_eq!(all.len(), 500);
    let last = tail(&path, 2).unwrap();
    assert_eq!(last.len(), 2);
    assert_eq!(last[1].as_ref().unwrap().tool, "t499");
    assert_eq!(audit.dropped(), 0);
    #[cfg(unix)]
    {
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.join(SALT_FILE)), 0o600);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_full_queue_drops_and_counts_without_waiting() {
    let dir = temp_dir();
    // No writer reads this queue, as if the disk had stalled.
    let (audit, _jobs) = Audit::unstarted(&dir.join("audit.jsonl"), [7; 32], 3);
    for i in 0..10 {
        audit.write(&record(i));
    }
    assert_eq!(audit.dropped(), 7);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn every_route_is_recorded_with_its_name_and_a_capped_target() {
    let dir = temp_dir();
    let path = dir.join("audit.jsonl");
    let audit = Audit::open(&path).unwrap();
    let caller = Caller {
        policy: Some("digest".into()),
        ..Caller::owner()
    };
    let routes = [
        AuditRoute::ToolCall,
        AuditRoute::ResourceRead,
        AuditRoute::PromptGet,
        AuditRoute::Completion,
        AuditRoute::Task,
        AuditRoute::Search,
        AuditRoute::PolicyRun,
        AuditRoute::Subscribe,
    ];
    let args: rmcp::model::JsonObject = serde_json::from_str(r#"{"q":"weather"}"#).unwrap();
    for route in routes {
        audit.event(&caller, route, route.as_str(), "ok", 0.5, Some(&args));
    }
    audit.event(
        &caller,
        AuditRoute::Search,
        &"x".repeat(1 << 20),
        "ok",
        0.5,
        None,
    );
    audit.flush().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), routes.len() + 1);
    for (line, route) in lines.iter().zip(routes) {
        assert_eq!(line["route"], route.as_str());
        assert_eq!(line["target"], route.as_str());
        assert_eq!(line["policy"], "digest");
        assert_eq!(line["args_hmac"], audit.args_hash(Some(&args)));
    }
    let long = lines[routes.len()]["target"].as_str().unwrap();
    assert_eq!(long, format!("{}…", "x".repeat(MAX_TARGET)));
    assert!(lines[routes.len()].get("args_hmac").unwrap().as_str() == Some(""));
    // `weft audit tail` reads every route back.
    let back = tail(&path, 0).unwrap();
    assert_eq!(back[2].as_ref().unwrap().route, AuditRoute::PromptGet);
    assert_eq!(back[2].as_ref().unwrap().subject(), "prompt-get");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn old_records_still_read() {
    let old = r#"{"ts":"2026-01-01T00:00:00.000Z","tenant":"acme","server":"git","tool":"log","outcome":"ok","ms":1.0,"args_sha256":"ab"}"#;
    let r: Record = serde_json::from_str(old).unwrap();
    assert_eq!(r.route, AuditRoute::ToolCall);
    assert_eq!(r.args_hmac, "ab");
    assert_eq!(r.subject(), "git.log");
}

#[test]
fn two_installs_hash_the_same_arguments_differently() {
    let (one, two) = (temp_dir(), temp_dir());
    let args: rmcp::model::JsonObject = serde_json::from_str(r#"{"path":"/etc/passwd"}"#).unwrap();
    let a = Audit::open(&one.join("audit.jsonl")).unwrap();
    let b = Audit::open(&two.join("audit.jsonl")).unwrap();
    let (ha, hb) = (a.args_hash(Some(&args)), b.args_hash(Some(&args)));
    assert_eq!(ha.len(), 64);
    assert_ne!(ha, hb);
    // Not the unsalted digest either.
    use sha2::Digest;
    let plain = hex::encode(Sha256::digest(serde_json::to_string(&args).unwrap()));
    assert_ne!(ha, plain);
    // The same install keeps its salt across restarts.
    drop(a);
    let again = Audit::open(&one.join("other.jsonl")).unwrap();
    assert_eq!(again.args_hash(Some(&args)), ha);
    let _ = std::fs::remove_dir_all(one);
    let _ = std::fs::remove_dir_all(two);
}

#[cfg(unix)]
#[test]
fn a_salt_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    drop(Audit::open(&dir.join("audit.jsonl")).unwrap());
    let salt = dir.join(SALT_FILE);
    std::fs::set_permissions(&salt, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Audit::open(&dir.join("audit.jsonl")).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
