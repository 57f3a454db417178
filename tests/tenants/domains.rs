//! `@domain` calls from a tenant's policy: the policy's grants and the
//! tenant's view are both checked against the server the router picks, so
//! a member outside either is skipped, and never hears of the call.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_call_from_a_policy_skips_members_outside_its_grants_or_the_view() {
    let dir = temp_dir();
    let d = dir.path();
    // alpha, beta and gamma serve the domain `echoes`; gamma has the
    // highest priority and is outside acme's view, beta is next and
    // outside the policy's grants, alpha is last.
    let mut text = format!(
        "[policies.script]\npath = {}\ngrants = [\"@echoes.whoami\", \"alpha.whoami\", \"gamma.whoami\"]\n\n",
        q(guest_wasm("weft-hostile-guest").display().to_string())
    );
    for (name, priority) in [("alpha", 1), ("beta", 10), ("gamma", 20)] {
        text += &fixture(d, name, &[]);
        text += &format!("domains = [\"echoes\"]\npriority = {priority}\n");
    }
    text += "\n[tenants.acme]\ninclude = [\"alpha.*\", \"beta.*\"]\npolicies = [\"script\"]\n";
    std::fs::write(d.join("weft.toml"), text).unwrap();
    let key = add_key(d, "acme");
    let (_weft, base) = serve_in(d, &d.join("weft.stderr"));
    let acme = connect(&base, &key).await;

    let r = call(
        &acme,
        "script",
        json!({"attack": "script", "calls": [
            {"server": "@echoes", "tool": "whoami"},
            {"server": "beta", "tool": "whoami"}
        ]}),
    )
    .await;
    let out = r.structured_content.clone().unwrap_or_else(|| {
        let text = r
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone())
            .unwrap_or_default();
        serde_json::from_str(&text).expect("the policy's output is JSON")
    });
    let steps = out.as_array().cloned().unwrap_or_default();
    assert_eq!(steps.len(), 2, "{r:?}");
    // The domain call reaches alpha, the one member both allow.
    assert_eq!(
        (&steps[0]["ok"], &steps[0]["text"]),
        (&json!(true), &json!("alpha")),
        "{steps:?}"
    );
    // beta by name: outside the grants.
    assert_eq!(steps[1]["kind"], "denied", "{steps:?}");
    // Neither beta nor gamma heard of any of it.
    assert_eq!(recorded(d, "alpha", "whoami"), 1);
    for skipped in ["beta", "gamma"] {
        assert_eq!(recorded(d, skipped, "whoami"), 0, "{skipped}");
    }
}
