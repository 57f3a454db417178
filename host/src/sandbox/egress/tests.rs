//! The egress check against classes of inputs: every spelling of an
//! address, every spelling of a dot segment, a property test over
//! generated URLs and allow-lists, and a name that changes its answer
//! between two connections (DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;

use super::resolve::{Lookup, PublicOnly};
use super::*;

fn allow(entries: &[&str]) -> EgressConfig {
    let list: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
    EgressConfig::from_entries(&list).expect("the entries parse")
}

/// Every way the WHATWG rules let a URL write 127.0.0.1 (and the IPv6
/// forms that carry it): each is refused under an entry for any host,
/// as the loopback address it is, before anything is sent.
#[test]
fn every_spelling_of_loopback_is_refused_under_a_wildcard() {
    let config = allow(&["http://*:8080"]);
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for host in [
        "127.0.0.1",
        "2130706433",
        "127.1",
        "127.0.1",
        "0x7f.0.0.1",
        "0x7f.1",
        "0x7f000001",
        "0177.0.0.1",
        "0177.1",
        "017700000001",
        "0x7F.0X0.00.0x01",
        "127.0.0.1.",
        "１２７.０.０.１",
        "%31%32%37.0.0.1",
    ] {
        let url = format!("http://{host}:8080/x");
        match check(&config, &url) {
            Err(Refused::NotPublic { ip, kind, .. }) => {
                assert_eq!((ip, kind), (loopback, "loopback"), "{url}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    for host in [
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "[::ffff:0:127.0.0.1]",
        "[2002:7f00:1::1]",
        "[2001:0:7f00:1::]",
        "[64:ff9b:1::7f00:1]",
    ] {
        let url = format!("http://{host}:8080/x");
        assert!(
            matches!(check(&config, &url), Err(Refused::NotPublic { .. })),
            "{url}: {:?}",
            check(&config, &url)
        );
    }
    // Cloud metadata (169.254.169.254), however written.
    for host in [
        "169.254.169.254",
        "169.254.43518",
        "2852039166",
        "0xa9fea9fe",
        "0251.0376.0251.0376",
    ] {
        let url = format!("http://{host}:8080/latest/meta-data");
        match check(&config, &url) {
            Err(Refused::NotPublic { ip, kind, .. }) => {
                assert_eq!(ip, IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)), "{url}");
                assert_eq!(kind, "link-local", "{url}");
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // A name passes the check and meets the resolver, which refuses it
    // if it resolves to loopback (tests/egress_spellings.rs).
    let t = check(&config, "http://LocalHost.:8080/x").expect("a name passes the check");
    assert_eq!((t.host.as_str(), t.ip), ("localhost.", None));
}

/// An entry that names the address reaches it in every spelling, and
/// what is sent is the canonical one.
#[test]
fn a_named_address_is_reached_in_canonical_form() {
    let config = allow(&["http://127.0.0.1:8080/v1/*"]);
    for host in [
        "127.0.0.1",
        "2130706433",
        "127.1",
        "0x7f.0.0.1",
        "0177.0.0.1",
    ] {
        let url = format!("http://{host}:8080/v1/items?q=1#frag");
        let t = check(&config, &url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(t.url.as_str(), "http://127.0.0.1:8080/v1/items?q=1");
        t.verify(&config).expect("it verifies");
    }
}

/// Names are checked in the form that is sent: IDNA (Unicode, full-width
/// letters, ideographic dots) becomes lowercase ASCII before it is
/// matched, a name that spells an address is that address, and a host no
/// resolver takes is refused.
#[test]
fn names_are_checked_in_their_idna_form() {
    let config = allow(&["https://*.example.com", "http://*:8080"]);
    for (url, sent) in [
        ("https://API.Example.COM/x", "https://api.example.com/x"),
        (
            "https://\u{ff21}\u{ff30}\u{ff29}.example.com/x",
            "https://api.example.com/x",
        ),
        (
            "https://b\u{fc}cher.example.com/",
            "https://xn--bcher-kva.example.com/",
        ),
        (
            "https://api\u{3002}example\u{3002}com/",
            "https://api.example.com/",
        ),
    ] {
        let t = check(&config, url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(t.url.as_str(), sent, "{url}");
        assert_eq!(t.ip, None, "{url}");
        t.verify(&config).expect("it verifies");
    }
    // Not a name below example.com, however it is spelled.
    for url in ["https://example.com.evil.test/", "https://evilexample.com/"] {
        assert_eq!(
            check(&config, url).map(|t| t.url),
            Err(Refused::NotListed),
            "{url}"
        );
    }
    // An ideographic dot between digits still makes an address.
    let t = check(&config, "http://127\u{3002}0\u{3002}0\u{3002}1:8080/");
    assert!(
        matches!(
            t,
            Err(Refused::NotPublic {
                kind: "loopback",
                ..
            })
        ),
        "{t:?}"
    );
    assert_eq!(
        check(&config, "http://a&b\"c:8080/").map(|t| t.url),
        Err(Refused::BadHost("a&b\"c".into()))
    );
}

/// Every spelling of a `.` or `..` segment is refused, under a prefix
/// entry and anywhere else in the path; a percent sign that is not a dot
/// passes.
#[test]
fn every_spelling_of_a_dot_segment_is_refused() {
    let config = allow(&["http://127.0.0.1:8080/v1/*"]);
    for path in [
        "/v1/../admin",
        "/v1/%2e%2e/admin",
        "/v1/%2E%2E/admin",
        "/v1/./../admin",
        "/v1/.%2e/admin",
        "/v1/%2e./admin",
        "/v1/..",
        "/v1/x/./y",
        "/v1/x/%2e/y",
        "/v1\\..\\admin",
        "/v1/..%2fadmin",
        "/v1/..%2Fadmin",
        "/v1/%2e%2e%2fadmin",
        "/v1/%2e%2e%5cadmin",
        "/v1/x/../../admin",
    ] {
        let url = format!("http://127.0.0.1:8080{path}");
        assert_eq!(
            check(&config, &url).map(|t| t.url),
            Err(Refused::DotSegment),
            "{url}"
        );
    }
    for path in [
        "/v1/a.b",
        "/v1/...",
        "/v1/%2e%2e%2e",
        "/v1/.hidden",
        "/v1/%252e%252e",
    ] {
        let url = format!("http://127.0.0.1:8080{path}");
        let t = check(&config, &url).unwrap_or_else(|e| panic!("{url}: {e}"));
        t.verify(&config).expect("it verifies");
    }
}

/// Credentials in a URL are refused, and never shown in a message.
#[test]
fn credentials_are_refused_and_never_shown() {
    let config = allow(&["http://*:*"]);
    for url in [
        "http://user:s3cret@example.com/",
        "http://user@example.com/",
        "http://127.0.0.1:80@example.com/",
    ] {
        assert_eq!(
            check(&config, url).map(|t| t.url),
            Err(Refused::Credentials),
            "{url}"
        );
        assert!(!target::shown_raw(url).contains("s3cret"), "{url}");
        assert!(!target::shown_raw(url).contains('@'), "{url}");
    }
    assert_eq!(
        target::shown_raw("http://u:s3cret@ex ample/x"),
        "http://ex ample/x"
    );
}

// ---- the property test ------------------------------------------------

/// An IPv4 address written one of the ways the WHATWG rules read.
fn spell_v4(ip: Ipv4Addr, form: u8) -> String {
    let n = u32::from(ip);
    let [a, b, c, d] = ip.octets();
    match form % 7 {
        0 => ip.to_string(),
        1 => n.to_string(),
        2 => format!("0x{n:x}"),
        3 => format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
        4 => format!("{a}.{}", n & 0x00ff_ffff),
        5 => format!("0x{a:x}.{b}.0x{c:X}.{d}"),
        _ => format!("{a}.{b}.{}", n & 0xffff),
    }
}

/// An IPv6 form that leads to `ip` (or is `ip` mapped).
fn spell_v6(ip: Ipv4Addr, form: u8) -> String {
    let [a, b, c, d] = ip.octets();
    let (hi, lo) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
    match form % 5 {
        0 => format!("[::ffff:{ip}]"),
        1 => format!("[::ffff:{hi:x}:{lo:x}]"),
        2 => format!("[2002:{hi:x}:{lo:x}::1]"),
        3 => format!("[64:ff9b::{hi:x}:{lo:x}]"),
        _ => format!("[2001:0:{hi:x}:{lo:x}::]"),
    }
}

/// A path segment, some of them dot segments in disguise.
fn segment() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        "[a-z0-9_-]{1,8}".prop_map(|s| (s, false)),
        Just(("..".to_string(), true)),
        Just((".".to_string(), true)),
        Just(("%2e%2e".to_string(), true)),
        Just(("%2E.".to_string(), true)),
        Just((".%2e".to_string(), true)),
        Just(("%2e".to_string(), true)),
        Just(("..%2f".to_string(), true)),
        Just(("a%2f..%2fb".to_string(), true)),
        Just(("a.b".to_string(), false)),
        Just(("%41%20b".to_string(), false)),
        Just(("...".to_string(), false)),
    ]
}

/// Addresses worth aiming at: loopback, private, link-local, public.
fn address() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        Just(Ipv4Addr::LOCALHOST),
        Just(Ipv4Addr::new(127, 3, 2, 1)),
        Just(Ipv4Addr::new(10, 0, 0, 7)),
        Just(Ipv4Addr::new(169, 254, 169, 254)),
        Just(Ipv4Addr::new(192, 168, 1, 1)),
        Just(Ipv4Addr::new(0, 0, 0, 0)),
        Just(Ipv4Addr::new(93, 184, 216, 34)),
        Just(Ipv4Addr::new(8, 8, 8, 8)),
        any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

/// An allow-list: some entries name an address, some any host, some a
/// path prefix.
fn entries() -> impl Strategy<Value = Vec<String>> {
    let entry = prop_oneof![
        Just("http://*:8080".to_string()),
        Just("http://*:*/v1/*".to_string()),
        Just("https://*".to_string()),
        Just("http://127.0.0.1:8080/v1/*".to_string()),
        Just("http://10.0.0.7:*".to_string()),
        Just("http://[::1]:8080".to_string()),
        Just("http://api.example.com:8080/v1/*".to_string()),
        Just("http://*.example.com:*".to_string()),
        address().prop_map(|ip| format!("http://{ip}:8080/*")),
    ];
    proptest::collection::vec(entry, 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    /// Whatever the spelling, a URL weft allows is one an entry lists, is
    /// public unless an entry names its address, has no dot segment, and
    /// sends exactly what was checked.
    #[test]
    fn an_allowed_url_is_listed_public_or_named_and_sent_as_checked(
        list in entries(),
        ip in address(),
        v6 in any::<bool>(),
        form in any::<u8>(),
        port in prop_oneof![Just(8080u16), Just(80), any::<u16>()],
        prefix in prop_oneof![Just("/v1"), Just(""), Just("/v2")],
        segments in proptest::collection::vec(segment(), 0..5),
        userinfo in prop_oneof![Just(""), Just("u:p@"), Just("u@")],
        scheme in prop_oneof![Just("http"), Just("https"), Just("HTTP"), Just("ftp")],
    ) {
        let config = EgressConfig::from_entries(&list).expect("entries parse");
        let host = if v6 { spell_v6(ip, form) } else { spell_v4(ip, form) };
        let path: Vec<&str> = segments.iter().map(|(s, _)| s.as_str()).collect();
        let dotted = segments.iter().any(|(_, d)| *d);
        let url = format!("{scheme}://{userinfo}{host}:{port}{prefix}/{}", path.join("/"));
        let Ok(t) = check(&config, &url) else { return Ok(()) };
        prop_assert!(t.verify(&config).is_ok(), "{url}: {:?}", t.verify(&config));
        prop_assert!(!dotted, "{url} has a dot segment and was allowed as {}", t.url);
        prop_assert!(userinfo.is_empty(), "{url} has credentials and was allowed");
        let sent = t.ip.expect("an address was written, an address is sent");
        // The address aimed at is the one sent (or its IPv6 form).
        let lead = match sent {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => v6_target(v6).unwrap_or(Ipv4Addr::UNSPECIFIED),
        };
        prop_assert_eq!(lead, ip, "{} sent for {}", t.url, url);
        if not_public(sent).is_some() {
            let named = list.iter().any(|e| e.contains(&format!("//{}:", address::bracketed(sent))));
            prop_assert!(named, "{url}: {sent} is not public and no entry names it: {list:?}");
        }
    }

    /// Any text at all: the check never panics, and what it allows
    /// verifies.
    #[test]
    fn any_text_is_checked_without_panic(raw in "\\PC{0,80}", list in entries()) {
        let config = EgressConfig::from_entries(&list).expect("entries parse");
        if let Ok(t) = check(&config, &raw) {
            prop_assert!(t.verify(&config).is_ok(), "{raw:?}: {:?}", t.verify(&config));
        }
        let _ = target::shown_raw(&raw);
    }
}

/// The IPv4 address an IPv6 form built by `spell_v6` leads to.
fn v6_target(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let at = |i: usize| {
        let [a, b] = s[i].to_be_bytes();
        let [c, d] = s[i + 1].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        Some(v4)
    } else if s[0] == 0x2002 {
        Some(at(1))
    } else if s[0] == 0x2001 && s[1] == 0 {
        Some(at(2))
    } else {
        Some(at(6))
    }
}

// ---- DNS rebinding --------------------------------------------------------

/// A name that resolves to an address that passed the check, and then to
/// loopback: the first connection goes to the checked address; the second
/// lookup is refused, and loopback sees no connection. An answer that
/// mixes the two is refused whole.
#[tokio::test]
async fn a_name_that_rebinds_to_loopback_never_reaches_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // 127.0.0.2 stands in for a public address (this machine has no
    // other); 127.0.0.1 on the same port is what the rebinding aims at.
    let (public, port) = loop {
        let l = tokio::net::TcpListener::bind("127.0.0.2:0")
            .await
            .expect("bind 127.0.0.2");
        let port = l.local_addr().expect("an address").port();
        if let Ok(lo) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            break ((l, lo), port);
        }
    };
    let (stand_in, target) = public;
    let reached = Arc::new(AtomicUsize::new(0));
    let r = reached.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = target.accept().await {
            r.fetch_add(1, Ordering::SeqCst);
        }
    });
    tokio::spawn(async move {
        while let Ok((mut s, _)) = stand_in.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
        }
    });
    let answers = Arc::new(parking_lot::Mutex::new(vec![
        vec![
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ],
        vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))],
    ]));
    let lookups = Arc::new(AtomicUsize::new(0));
    let (a, n) = (answers.clone(), lookups.clone());
    let lookup: Lookup = Arc::new(move |_host| {
        n.fetch_add(1, Ordering::SeqCst);
        let next = a.lock().pop().unwrap_or_default();
        Box::pin(async move { Ok(next) })
    });
    fn stand_in_is_public(ip: IpAddr) -> Option<&'static str> {
        (ip != IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))).then_some("loopback")
    }
    let entry = format!("http://rebind.test:{port}");
    let config = Arc::new(allow(&[entry.as_str()]));
    let egress = Egress::with_resolver(
        "rebinder",
        config.clone(),
        &Loaded::default(),
        PublicOnly::with(lookup, stand_in_is_public),
    )
    .expect("the egress sets up");
    let url = format!("http://rebind.test:{port}/");
    let get = || async {
        let t = check(&config, &url).expect("the name is on the list");
        egress
            .fetch(http::Method::GET, t, http::HeaderMap::new(), Bytes::new())
            .await
    };
    let first = get().await.expect("the checked address answers");
    assert_eq!(first.status(), 200);
    let second = get().await.expect_err("loopback is refused");
    let third = get().await.expect_err("a mixed answer is refused");
    for e in [second, third] {
        let text = format!("{e:?}");
        assert!(
            text.contains("rebind.test resolves to 127.0.0.1, a loopback address"),
            "{text}"
        );
    }
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        3,
        "one lookup per connection"
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0, "loopback was reached");
}
