//! The redaction pass: no credential leaves the host.
//!
//! What is masked ([`install`], from the loaded config's
//! `secret_values`): every value of the secret store, and every credential
//! of a server as [`crate::config::credentials`] finds them (values of
//! `${env:}` and `${secret:}` references, inline `env` and `headers` values
//! under credential-like names, an `Authorization` token without its
//! scheme). Every way out of the process goes through it: log
//! lines (the tracing writer), what `weft serve` sends agents (the stdio
//! writer and the HTTP response bodies), the command line's output,
//! `/status`, `/metrics`, the audit log and panic messages
//! ([`install_panic_hook`]). A replacement never breaks JSON: it is plain
//! text inside a string.
//!
//! Per tenant: a value only one tenant's instances use (a per-tenant
//! server's credentials, a `[tenants.NAME]` secret) is installed as that
//! tenant's ([`install_owned`]); [`for_tenant`] gives the [`Redactor`] for
//! one tenant's output, which masks every value except that tenant's own.
//! Everything else (logs, the operator's output) masks every value.
//!
//! A value is matched in its plain form and in the forms the ways out
//! produce from it: JSON-escaped (`\"`, `\\`, `\/`, `\n`, `\u00e9`, …),
//! percent-encoded (any mix of `%XX` in either case, `+` for a space, as
//! every URL and form encoder writes them) and OpenMetrics label escapes
//! (the JSON ones); see [`matcher`]. Values shorter than [`MIN_LEN`] are
//! not matched.

mod matcher;
mod panic;
mod writer;

use parking_lot::RwLock;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use matcher::Matcher;
pub use panic::install_panic_hook;
pub use writer::{AsyncWriter, Writer};

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Values shorter than this are not matched: they would blank out ordinary
/// words. `weft check` warns about them.
pub const MIN_LEN: usize = 4;

/// What is installed, and the matchers built from it.
#[derive(Default)]
struct State {
    /// Values masked in every output.
    shared: Vec<String>,
    /// Values of one tenant: `(tenant, value)`.
    owned: Vec<(String, String)>,
    /// The matcher of every value.
    all: Option<Arc<Matcher>>,
    /// Per tenant, the matcher of every value but the tenant's own; built
    /// on first use, forgotten when values are installed.
    tenants: HashMap<String, Option<Arc<Matcher>>>,
}

static STATE: RwLock<Option<State>> = RwLock::new(None);

/// Installs values to mask in every output, adding to any installed before.
pub fn install(values: &[String]) {
    change(|s| {
        s.shared
            .extend(values.iter().filter(|v| v.len() >= MIN_LEN).cloned())
    });
}

/// Installs values that belong to one tenant, `(tenant, value)`: masked in
/// every output but that tenant's own (see [`for_tenant`]).
pub fn install_owned(values: &[(String, String)]) {
    change(|s| {
        s.owned
            .extend(values.iter().filter(|(_, v)| v.len() >= MIN_LEN).cloned());
    });
}

fn change(f: impl FnOnce(&mut State)) {
    let mut guard = STATE.write();
    let state = guard.get_or_insert_with(State::default);
    f(state);
    state.shared.sort();
    state.shared.dedup();
    state.owned.sort();
    state.owned.dedup();
    state.tenants.clear();
    let mut every: Vec<String> = state.shared.clone();
    every.extend(state.owned.iter().map(|(_, v)| v.clone()));
    state.all = build(every);
}

fn build(mut values: Vec<String>) -> Option<Arc<Matcher>> {
    values.sort();
    values.dedup();
    if values.is_empty() {
        return None;
    }
    match Matcher::new(&values) {
        Ok(m) => Some(Arc::new(m)),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the redaction matcher");
            None
        }
    }
}

fn active() -> Option<Arc<Matcher>> {
    STATE.read().as_ref().and_then(|s| s.all.clone())
}

/// Text with every secret masked.
pub fn text(s: &str) -> Cow<'_, str> {
    Redactor { matcher: active() }.text_owned(s)
}

/// Bytes with every secret masked.
pub fn bytes(b: &[u8]) -> Cow<'_, [u8]> {
    mask(active().as_deref(), b)
}

/// The redaction for output that goes to `tenant` (`None`: the owner, or
/// a weft without tenants: every value).
pub fn for_tenant(tenant: Option<&str>) -> Redactor {
    let Some(tenant) = tenant else {
        return Redactor { matcher: active() };
    };
    if let Some(found) = STATE
        .read()
        .as_ref()
        .and_then(|s| s.tenants.get(tenant).cloned())
    {
        return Redactor { matcher: found };
    }
    let mut guard = STATE.write();
    let Some(state) = guard.as_mut() else {
        return Redactor { matcher: None };
    };
    let matcher = if state.owned.iter().any(|(t, _)| t == tenant) {
        let mut values = state.shared.clone();
        // A value this tenant shares with another stays masked.
        values.extend(
            state
                .owned
                .iter()
                .filter(|(t, _)| t != tenant)
                .map(|(_, v)| v.clone()),
        );
        build(values)
    } else {
        state.all.clone()
    };
    state.tenants.insert(tenant.to_string(), matcher.clone());
    Redactor { matcher }
}

/// The redaction pass for one audience (see [`for_tenant`]).
#[derive(Clone, Default)]
pub struct Redactor {
    matcher: Option<Arc<Matcher>>,
}

impl Redactor {
    /// Text with this audience's secrets masked.
    #[cfg(test)]
    pub fn text<'a>(&self, s: &'a str) -> Cow<'a, str> {
        self.text_owned(s)
    }

    fn text_owned<'a>(&self, s: &'a str) -> Cow<'a, str> {
        match mask(self.matcher.as_deref(), s.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(s),
            // Matches start and end on character boundaries (every form of a
            // character is whole characters), so this is valid UTF-8.
            Cow::Owned(b) => Cow::Owned(
                String::from_utf8(b)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()),
            ),
        }
    }

    /// Bytes with this audience's secrets masked.
    pub fn bytes<'a>(&self, b: &'a [u8]) -> Cow<'a, [u8]> {
        mask(self.matcher.as_deref(), b)
    }

    /// Whether anything is masked for this audience.
    pub fn enabled(&self) -> bool {
        self.matcher.is_some()
    }

    /// This redaction for the answer to one request whose body is
    /// `request`: a value the agent sent in it (in any form) is not masked
    /// in the answer, since the agent knows it. So an answer that quotes
    /// the agent's input reads the same whether that input was a secret or
    /// not, and masking cannot tell a tenant that its guess was right (the
    /// redaction oracle).
    pub fn sparing(&self, request: &[u8]) -> Redactor {
        let Some(m) = &self.matcher else {
            return self.clone();
        };
        let sent = m.values_in(request);
        if sent.is_empty() {
            return self.clone();
        }
        let kept: Vec<String> = m
            .values()
            .iter()
            .filter(|v| !sent.contains(&v.as_str()))
            .cloned()
            .collect();
        Redactor {
            matcher: build(kept),
        }
    }
}

fn mask<'a>(matcher: Option<&Matcher>, b: &'a [u8]) -> Cow<'a, [u8]> {
    let Some(m) = matcher else {
        return Cow::Borrowed(b);
    };
    let found = m.find(b);
    if found.is_empty() {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut at = 0;
    for (start, end) in found {
        out.extend_from_slice(&b[at..start]);
        out.extend_from_slice(MASK.as_bytes());
        at = end;
    }
    out.extend_from_slice(&b[at..]);
    Cow::Owned(out)
}

/// Prints a line on stdout with secrets masked.
#[macro_export]
macro_rules! outln {
    () => { println!() };
    ($($arg:tt)*) => { println!("{}", $crate::redact::text(&format!($($arg)*))) };
}

/// Prints a line on stderr with secrets masked.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { eprintln!("{}", $crate::redact::text(&format!($($arg)*))) };
}

/// Prints on stdout (no newline) with secrets masked.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { print!("{}", $crate::redact::text(&format!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn installed_values_reach_every_writer() {
        install(&[
            "canary-XYZ-123".into(),
            "quo\"te-secret".into(),
            "abc".into(),
        ]);
        assert_eq!(text("a canary-XYZ-123 b"), "a [REDACTED] b");
        let json = serde_json::to_string(&serde_json::json!({"v": "x quo\"te-secret y"})).unwrap();
        assert_eq!(text(&json), r#"{"v":"x [REDACTED] y"}"#);
        assert_eq!(text("quo%22te-secret"), "[REDACTED]");
        // Too short to mask safely.
        assert_eq!(text("abc"), "abc");
        let mut out = Vec::new();
        {
            let mut w = Writer::new(&mut out);
            w.write_all(b"first canary-X").unwrap();
            w.write_all(b"YZ-123 line\nsecond").unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "first [REDACTED] line\nsecond"
        );
    }

    #[test]
    fn each_tenant_sees_its_own_values_and_no_one_elses() {
        install(&["shared-credential-0001".into()]);
        install_owned(&[
            ("acme".into(), "acme-token-0002".into()),
            ("globex".into(), "globex-token-0003".into()),
        ]);
        let text = "shared-credential-0001 acme-token-0002 globex-token-0003";
        assert_eq!(
            for_tenant(Some("acme")).text(text),
            "[REDACTED] acme-token-0002 [REDACTED]"
        );
        assert_eq!(
            for_tenant(Some("globex")).text(text),
            "[REDACTED] [REDACTED] globex-token-0003"
        );
        // A tenant with no values of its own, the owner and the logs: all.
        for r in [for_tenant(Some("initech")), for_tenant(None)] {
            assert_eq!(r.text(text), "[REDACTED] [REDACTED] [REDACTED]");
        }
        assert_eq!(super::text(text), "[REDACTED] [REDACTED] [REDACTED]");
    }

    #[test]
    fn a_value_the_agent_sent_is_not_masked_in_the_answer_to_it() {
        install(&["operator-credential-0004".into()]);
        install_owned(&[("acme".into(), "acme-token-0005".into())]);
        let globex = for_tenant(Some("globex"));
        let answer = r#"Unknown tool: "acme-token-0005"; operator-credential-0004"#;
        // A right guess reads as a wrong one would: quoted back unmasked;
        // what the agent did not send stays masked.
        let request = br#"{"params":{"name":"acme-token-0005"}}"#;
        assert_eq!(
            globex.sparing(request).text(answer),
            r#"Unknown tool: "acme-token-0005"; [REDACTED]"#
        );
        assert_eq!(
            globex.sparing(b"{}").text(answer),
            r#"Unknown tool: "[REDACTED]"; [REDACTED]"#
        );
        // Sent in another form (percent-encoded in a URI) counts too.
        assert_eq!(
            globex
                .sparing(br#"{"uri":"x://acme-token%2D0005"}"#)
                .text("acme-token-0005"),
            "acme-token-0005"
        );
    }
}
