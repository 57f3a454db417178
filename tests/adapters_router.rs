//! Adapters behind the router: how deep they may nest, the router's
//! stages (a tenant's rate, the result cache, audit and metrics) on their
//! calls, and code reaching them. The config is `adapters.rs`'s.

use serde_json::{Value, json};

use crate::adapters::setup_with;
use crate::support::*;
use weft::Hub;

/// How deep adapters may nest: a chain of eight adapters (c2 → … → c9)
/// answers, and the ninth (c1 → … → c9) is refused with the chain named,
/// by the adapter that would have been the ninth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_past_eight_adapters_is_refused_naming_the_chain() {
    let dir = temp_dir();
    let mut extra = String::new();
    for i in 1..=9 {
        extra += &format!(
            "[servers.c{i}]\ncomponent = \"adapter.wasm\"\ngrants = [\"c{}.*\"]\n",
            i + 1
        );
    }
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.path().join("cache"))).expect("sandbox");
    let config = weft::Config::load(&setup_with(dir.path(), "", &extra)).expect("the config loads");
    let hub = within("the hub starts", Hub::start(config)).await;
    // c_from.call(c_from+1.call(… c8.call(c9.echo))).
    let chain = |from: usize| {
        let mut args = json!({"message": "deep"});
        let mut tool = "echo";
        for i in (from + 1..=9).rev() {
            args = json!({"server": format!("c{i}"), "tool": tool, "args": args});
            tool = "call";
        }
        args
    };
    // Each adapter reports its nested call as JSON text inside the next.
    let innermost = |mut report: Value| {
        while let Some(text) = report["text"].as_str() {
            match serde_json::from_str::<Value>(text) {
                Ok(inner) if inner.is_object() => report = inner,
                _ => break,
            }
        }
        report
    };
    for (from, want) in [(2, None), (1, Some(9))] {
        let r = within(
            "a chain of nested calls",
            hub.call_tool(
                &format!("c{from}"),
                "call",
                chain(from).as_object().cloned(),
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("c{from}.call fails: {e:?}"));
        let report = innermost(serde_json::from_str(&text_of(&r)).expect("a JSON report"));
        match want {
            None => assert_eq!(report, json!({"ok": true, "text": "deep"}), "from c{from}"),
            Some(depth) => {
                assert_eq!(report["ok"], false, "{report}");
                assert_eq!(report["kind"], "limit-exceeded", "{report}");
                assert_eq!(
                    report["message"],
                    format!(
                        "refused: the call is nested {depth} adapters deep (c1 → c2 → c3 → c4 → c5 → c6 → c7 → c8 → c9), over the cap of 8"
                    )
                );
            }
        }
    }
    hub.shutdown().await;
}

/// The router's stages apply to an adapter's calls as to any server's:
/// a tenant's rate refuses the call over its burst, a read-only tool's
/// result is cached (`[servers.ad.cache] tool_ttl`), and every call is in
/// the audit log and the metrics under the adapter's server name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_cache_audit_and_metrics_apply_to_adapter_calls() {
    let dir = temp_dir();
    let extra = "[servers.ad.cache]\ntool_ttl = \"60s\"\n\
                 [tenants.slow]\ninclude = [\"ad.*\"]\n[tenants.slow.limits]\ncalls_per_minute = 1\nburst = 1\n";
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.path().join("cache"))).expect("sandbox");
    let config = weft::Config::load(&setup_with(dir.path(), "audit = \"audit.jsonl\"\n", extra))
        .expect("the config loads");
    let hub = within("the hub starts", Hub::start(config)).await;
    let slow = weft::Caller::tenant(hub.tenants().get("slow").unwrap(), "test");
    let echo = |m: &str| json!({"message": m}).as_object().cloned();

    let first = within("a call", hub.call_tool_as(&slow, "ad", "echo", echo("one")))
        .await
        .expect("the first call is within the burst");
    let second = within("a call", hub.call_tool_as(&slow, "ad", "echo", echo("two"))).await;
    let refused = second.expect_err("the second call is over the burst");
    assert_eq!(refused.kind, weft::ErrorKind::RateLimited, "{refused:?}");

    // The owner's calls: the second of the same call comes from the cache.
    let before = hub.report().cache;
    let a = within("a call", hub.call_tool("ad", "echo", echo("cached")))
        .await
        .unwrap();
    let b = within("a call", hub.call_tool("ad", "echo", echo("cached")))
        .await
        .unwrap();
    assert_eq!(text_of(&a), text_of(&b));
    assert_eq!(text_of(&a), text_of(&first).replace("one", "cached"));
    let after = hub.report().cache;
    assert_eq!(
        (after.misses - before.misses, after.hits - before.hits),
        (1, 1)
    );

    let metrics = hub.metrics_text();
    for line in [
        r#"weft_calls_total{tenant="slow",server="ad",tool="echo",outcome="ok"} 1"#,
        r#"weft_calls_total{tenant="slow",server="ad",tool="echo",outcome="rate-limited"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    hub.shutdown().await;
    let records: Vec<Value> = std::fs::read_to_string(dir.path().join("audit.jsonl"))
        .expect("the audit log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of_slow: Vec<&Value> = records.iter().filter(|r| r["tenant"] == "slow").collect();
    assert_eq!(of_slow.len(), 2, "{records:#?}");
    assert_eq!(of_slow[0]["outcome"], "ok", "{records:#?}");
    assert_eq!(of_slow[1]["outcome"], "rate-limited", "{records:#?}");
    assert!(of_slow.iter().all(|r| r["server"] == "ad"), "{records:#?}");
}

/// Code reaches adapters through the same router: `weft exec` of Python
/// calls the adapter's tool by its typed namespace (`tools.ad.echo`),
/// and one the grants leave out is denied.
#[test]
fn code_calls_an_adapters_tools() {
    let interp = crate::support::code::interpreters("python");
    let dir = temp_dir();
    let config = setup_with(dir.path(), "", "");
    let code = dir.path().join("ad.py");
    std::fs::write(
        &code,
        "out = {'echo': tools.ad.echo(message='from code')}\n\
         try:\n    tools.ad.config()\nexcept CallError as e:\n    out['config'] = e.kind\n\
         return out\n",
    )
    .unwrap();
    let mut cmd = crate::support::code::weft_code(&interp);
    crate::support::isolate(&mut cmd);
    let out = cmd
        .arg("--config")
        .arg(&config)
        .arg("exec")
        .arg(&code)
        .args(["--grant", "ad.echo", "--no-journal"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(output, json!({"echo": "from code", "config": "denied"}));
}
