use super::*;
use crate::config::PinMode;

/// Judges `tools` as a new listing (a fresh allocation, as each relist is).
fn judged(pins: &Pins, key: (&str, &str), mode: PinMode, tools: &[Tool]) -> HashMap<String, Hold> {
    let listing = Arc::new(tools.to_vec());
    pins.judge(key, mode, &listing, &listing)
}

#[test]
fn the_same_listing_is_hashed_once_and_a_new_one_again() {
    let pins = Pins::in_memory();
    let first = Arc::new(vec![tool("a", "one")]);
    assert!(
        pins.judge(("", "s"), PinMode::Strict, &first, &first)
            .is_empty()
    );
    let cached = pins.defs(("", "s"), &first, &first);
    assert!(Arc::ptr_eq(&cached, &pins.defs(("", "s"), &first, &first)));
    // A relisting with a changed tool is a new listing: hashed, and held.
    let second = Arc::new(vec![tool("a", "two")]);
    let holds = pins.judge(("", "s"), PinMode::Strict, &second, &second);
    assert_eq!(holds["a"].kind, HoldKind::Changed);
    // A name longer than any call may use is not pinned.
    let long = Arc::new(vec![tool(&"x".repeat(MAX_PINNED_NAME + 1), "d")]);
    assert!(pins.defs(("", "u"), &long, &long).is_empty());
    // The first listing's digests are not another server's.
    assert!(!Arc::ptr_eq(&cached, &pins.defs(("", "t"), &first, &first)));
}

fn tool(name: &str, description: &str) -> Tool {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
    }))
    .unwrap()
}

#[test]
fn a_definition_has_one_digest_in_any_key_order() {
    let a: Tool = serde_json::from_str(
        r#"{"name":"t","description":"d","inputSchema":{"type":"object","properties":{"x":{"type":"string","title":"X"}}}}"#,
    )
    .unwrap();
    let b: Tool = serde_json::from_str(
        r#"{"inputSchema":{"properties":{"x":{"title":"X","type":"string"}},"type":"object"},"description":"d","name":"t"}"#,
    )
    .unwrap();
    assert_eq!(Def::of(&a), Def::of(&b));
    let c = tool("t", "d2");
    assert_ne!(Def::of(&a).digest, Def::of(&c).digest);
}

#[test]
fn every_pinned_field_changes_the_digest() {
    let base = serde_json::json!({
        "name": "t", "title": "T", "description": "d",
        "inputSchema": {"type": "object"},
        "outputSchema": {"type": "object"},
        "annotations": {"readOnlyHint": true},
    });
    let digest =
        |v: &serde_json::Value| Def::of(&serde_json::from_value(v.clone()).unwrap()).digest;
    let first = digest(&base);
    for (field, other) in [
        ("name", serde_json::json!("u")),
        ("title", serde_json::json!("U")),
        ("description", serde_json::json!("e")),
        (
            "inputSchema",
            serde_json::json!({"type": "object", "required": ["a"]}),
        ),
        (
            "outputSchema",
            serde_json::json!({"type": "object", "required": ["b"]}),
        ),
        ("annotations", serde_json::json!({"readOnlyHint": false})),
    ] {
        let mut v = base.clone();
        v[field] = other;
        assert_ne!(digest(&v), first, "{field} is pinned");
    }
    // Metadata outside the definition is not.
    let mut v = base.clone();
    v["_meta"] = serde_json::json!({"x": 1});
    assert_eq!(digest(&v), first);
}

#[test]
fn first_listing_pins_and_a_change_is_held_by_mode() {
    for (mode, hidden) in [
        (PinMode::Warn, false),
        (PinMode::NewOk, true),
        (PinMode::Strict, true),
    ] {
        let pins = Pins::in_memory();
        assert!(judged(&pins, ("", "s"), mode, &[tool("a", "one"), tool("b", "x")]).is_empty());
        let holds = judged(&pins, ("", "s"), mode, &[tool("a", "two"), tool("b", "x")]);
        assert_eq!(holds.len(), 1, "{mode:?}");
        let hold = &holds["a"];
        assert_eq!(hold.kind, HoldKind::Changed);
        assert_eq!(hold.hidden, hidden, "{mode:?}");
        assert_eq!(
            hold.pinned.as_deref(),
            Some(&*Def::of(&tool("a", "one")).digest)
        );
        // Judging the same listing again decides the same.
        assert_eq!(
            judged(&pins, ("", "s"), mode, &[tool("a", "two"), tool("b", "x")]),
            holds
        );
        // Back to the pinned definition: nothing held, nothing seen.
        assert!(judged(&pins, ("", "s"), mode, &[tool("a", "one")]).is_empty());
        assert!(pins.rows().iter().all(|(_, r)| r.seen.is_none()));
    }
}

#[test]
fn a_new_tool_is_held_only_under_strict() {
    for (mode, held) in [
        (PinMode::Warn, false),
        (PinMode::NewOk, false),
        (PinMode::Strict, true),
    ] {
        let pins = Pins::in_memory();
        judged(&pins, ("", "s"), mode, &[tool("a", "one")]);
        let holds = judged(
            &pins,
            ("", "s"),
            mode,
            &[tool("a", "one"), tool("new", "n")],
        );
        assert_eq!(
            holds.get("new").map(|h| (h.kind, h.hidden)),
            held.then_some((HoldKind::New, true)),
            "{mode:?}"
        );
        // Another server's first listing is trusted on first use.
        assert!(judged(&pins, ("", "t"), mode, &[tool("z", "z")]).is_empty());
    }
}

#[test]
fn off_pins_nothing_and_scopes_are_apart() {
    let pins = Pins::in_memory();
    assert!(judged(&pins, ("", "s"), PinMode::Off, &[tool("a", "one")]).is_empty());
    assert!(pins.rows().is_empty());
    judged(&pins, ("acme", "s"), PinMode::Strict, &[tool("a", "one")]);
    // Another tenant's instance of the same server has pins of its own.
    assert!(judged(&pins, ("globex", "s"), PinMode::Strict, &[tool("a", "two")]).is_empty());
    assert_eq!(
        judged(&pins, ("acme", "s"), PinMode::Strict, &[tool("a", "two")])["a"].kind,
        HoldKind::Changed
    );
}

#[test]
fn the_sqlite_store_keeps_pins_and_approves_them() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(store::Sqlite::open(&dir.path().join("p.db")).unwrap());
    let key = PinKey {
        scope: String::new(),
        server: "s".into(),
        tool: "a".into(),
    };
    let one = Def::of(&tool("a", "one"));
    let two = Def::of(&tool("a", "two"));
    store
        .write(&[
            Write::Pin(key.clone(), one.clone()),
            Write::Seen(key.clone(), two.clone()),
        ])
        .unwrap();
    // A second first-use pin (another replica's) does not replace it.
    store
        .write(&[Write::Pin(key.clone(), two.clone())])
        .unwrap();
    let rows = store.load().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.approved.as_ref(), Some(&one));
    assert_eq!(rows[0].1.seen.as_ref(), Some(&two));
    let pins = Pins::stored(store.clone()).unwrap();
    assert!(
        !pins.refresh().unwrap(),
        "nothing changed since it was read"
    );
    let other = Filter {
        server: Some("other".into()),
        ..Filter::default()
    };
    assert_eq!(store.approve(&other, "me").unwrap(), 0);
    assert_eq!(store.approve(&Filter::default(), "me").unwrap(), 1);
    assert!(pins.refresh().unwrap(), "the approval is read back");
    let rows = pins.rows();
    assert_eq!(rows[0].1.approved.as_ref(), Some(&two));
    assert_eq!(rows[0].1.approved_by.as_deref(), Some("me"));
    assert!(rows[0].1.seen.is_none());
    assert_eq!(store.reset(&Filter::default()).unwrap(), 1);
    assert!(store.load().unwrap().is_empty());
}

/// What a stored book judges reaches the store once flushed, however soon
/// the process then ends (an agent's short-lived `weft serve`).
#[test]
fn a_flush_writes_every_pin_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(store::Sqlite::open(&dir.path().join("p.db")).unwrap());
    let pins = Pins::stored(store.clone()).unwrap();
    let tools: Vec<Tool> = (0..200).map(|i| tool(&format!("t{i}"), "d")).collect();
    assert!(judged(&pins, ("", "s"), PinMode::Strict, &tools).is_empty());
    pins.flush();
    assert_eq!(store.load().unwrap().len(), 200);
    // After the flush, pins hold in this process only.
    judged(&pins, ("", "u"), PinMode::Strict, &[tool("x", "d")]);
    assert_eq!(store.load().unwrap().len(), 200);
}

#[test]
fn diff_shows_the_changed_line() {
    let text = diff(
        Some(&Def::of(&tool("a", "one"))),
        &Def::of(&tool("a", "two")),
    );
    assert!(text.contains("-  \"description\": \"one\","), "{text}");
    assert!(text.contains("+  \"description\": \"two\","), "{text}");
}
