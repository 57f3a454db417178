use super::*;

fn patterns(list: &[&str]) -> ToolPatterns {
    let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    ToolPatterns::new(&list, "approval pattern").expect("valid patterns")
}

fn settings(list: &[&str]) -> Approvals {
    Approvals {
        tools: patterns(list),
        ..Approvals::default()
    }
}

#[test]
fn the_first_rule_that_matches_is_named() {
    let none = settings(&[]);
    let tenant = patterns(&["payments.*", "*.delete_*"]);
    let t = Some(("acme", &tenant));
    let off = ServerApproval::Off;
    assert_eq!(
        rule(&none, t, off, ("payments", "refund"), None),
        Some(Rule::Tenant("acme".into()))
    );
    assert_eq!(
        rule(&none, t, off, ("files", "delete_file"), None),
        Some(Rule::Tenant("acme".into()))
    );
    assert_eq!(rule(&none, t, off, ("files", "read_file"), None), None);
    // Another tenant's patterns are not this caller's.
    assert_eq!(rule(&none, None, off, ("payments", "refund"), None), None);
    let git = settings(&["git.git_commit"]);
    assert_eq!(
        rule(&git, None, off, ("git", "git_commit"), None),
        Some(Rule::Settings)
    );
    assert_eq!(rule(&git, None, off, ("git", "git_status"), None), None);
    assert_eq!(
        rule(
            &none,
            None,
            ServerApproval::All,
            ("git", "git_status"),
            Some(false)
        ),
        Some(Rule::Server)
    );
}

#[test]
fn destructive_covers_what_is_annotated_so_or_not_known() {
    let none = settings(&[]);
    let d = ServerApproval::Destructive;
    assert_eq!(
        rule(&none, None, d, ("m", "delete_entities"), Some(true)),
        Some(Rule::Destructive)
    );
    assert_eq!(rule(&none, None, d, ("m", "read_graph"), Some(false)), None);
    assert_eq!(
        rule(&none, None, d, ("m", "made_up"), None),
        Some(Rule::Destructive)
    );
}

fn message(q: &InputRequest) -> String {
    let v = serde_json::to_value(q).expect("serializable");
    assert_eq!(v["method"], "elicitation/create");
    v["params"]["message"]
        .as_str()
        .expect("a message")
        .to_string()
}

#[test]
fn the_question_names_the_tool_and_masks_credentials() {
    let args: JsonObject = serde_json::from_value(json!({
        "amount": 12,
        "api_key": "sk-live-123456",
        "nested": {"password": "hunter22", "note": "ok"},
    }))
    .unwrap();
    let q = question("payments", "refund", Some(&args), "An agent").unwrap();
    let text = message(&q);
    assert!(
        text.contains("\"refund\" on the server \"payments\""),
        "{text}"
    );
    assert!(text.contains("\"amount\": 12"), "{text}");
    assert!(text.contains("\"note\": \"ok\""), "{text}");
    assert!(!text.contains("sk-live-123456"), "{text}");
    assert!(!text.contains("hunter22"), "{text}");
    assert_eq!(text.matches(crate::redact::MASK).count(), 2, "{text}");
    let v = serde_json::to_value(&q).unwrap();
    assert_eq!(
        v["params"]["requestedSchema"]["properties"]["approve"]["type"],
        "boolean"
    );
    assert!(message(&question("s", "t", None, "A policy").unwrap()).contains("(none)"));
}

#[test]
fn long_arguments_are_cut_on_a_character_boundary() {
    let args: JsonObject = serde_json::from_value(json!({"text": "é".repeat(5000)})).unwrap();
    let text = message(&question("s", "t", Some(&args), "An agent").unwrap());
    assert!(text.len() < SHOWN_ARGS + 400, "{}", text.len());
    assert!(text.contains("bytes in all)"), "{text}");
}

#[test]
fn only_an_accept_that_says_approve_approves() {
    let cases = [
        (
            json!({"action": "accept", "content": {"approve": true}}),
            Answer::Approved,
        ),
        (
            json!({"action": "accept", "content": {"approve": false}}),
            Answer::Declined,
        ),
        (
            json!({"action": "accept", "content": {"approve": "true"}}),
            Answer::Declined,
        ),
        (json!({"action": "accept"}), Answer::Declined),
        (json!({"action": "decline"}), Answer::Declined),
        (json!({"action": "cancel"}), Answer::Cancelled),
        (
            json!({"action": "ACCEPT", "content": {"approve": true}}),
            Answer::Declined,
        ),
        (json!("accept"), Answer::Declined),
        (json!(null), Answer::Declined),
    ];
    for (answer, want) in cases {
        assert_eq!(read(&answer), want, "{answer}");
    }
}
