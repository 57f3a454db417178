//! The redaction pass: no secret value leaves the host.
//!
//! Every value of the loaded secret store is installed here once, and every
//! way out of the process goes through it: log lines (the tracing writer),
//! what `weft serve` sends agents (the stdio writer and the HTTP response
//! bodies), the command line's output, `/status`, `/metrics` and the audit
//! log. A replacement never breaks JSON: it is plain text inside a string.
//!
//! A value is matched in its plain form and in the forms the ways out
//! produce from it: JSON-escaped (`\"`, `\\`, `\/`, `\n`, `\u00e9`, …),
//! percent-encoded (any mix of `%XX` in either case, `+` for a space, as
//! every URL and form encoder writes them) and OpenMetrics label escapes
//! (the JSON ones). Each character of the value may take any of its forms,
//! so every encoder's choice of what to leave alone is covered, not a list
//! of encoders. Matching starts from an anchor: the value's longest run of
//! ASCII letters and digits, which no encoding changes, found with
//! Aho-Corasick; the characters around it are then matched outwards. A
//! value without such a run of [`MIN_LEN`] is matched as plain, JSON and
//! fully percent-encoded text.

use parking_lot::RwLock;
use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::AhoCorasick;

/// What a secret is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Values shorter than this are not matched: they would blank out ordinary
/// words. `weft check` warns about them.
pub const MIN_LEN: usize = 4;

/// Values longer than this (in characters) are matched only in their plain
/// and JSON forms: the outward matching is linear in a value's length.
const MAX_FLEXIBLE: usize = 4096;

/// How many ways to have matched a prefix are kept at once; two or three
/// are the most any real text gives (`%` against `%25`, `\` against `\\`).
const MAX_WAYS: usize = 32;

static ACTIVE: RwLock<Option<Arc<Matcher>>> = RwLock::new(None);
static VALUES: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Installs the secret values to redact, adding to any installed before.
pub fn install(values: &[String]) {
    let mut all = VALUES.write();
    all.extend(values.iter().filter(|v| v.len() >= MIN_LEN).cloned());
    all.sort();
    all.dedup();
    if all.is_empty() {
        return;
    }
    let values = all.clone();
    drop(all);
    match Matcher::new(&values) {
        Ok(m) => *ACTIVE.write() = Some(Arc::new(m)),
        Err(e) => tracing::error!(error = %e, "cannot build the redaction matcher"),
    }
}

fn active() -> Option<Arc<Matcher>> {
    ACTIVE.read().clone()
}

/// Text with every secret masked.
pub fn text(s: &str) -> Cow<'_, str> {
    match bytes(s.as_bytes()) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        // Matches start and end on character boundaries (every form of a
        // character is whole characters), so this is valid UTF-8.
        Cow::Owned(b) => Cow::Owned(
            String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into()),
        ),
    }
}

/// Bytes with every secret masked.
pub fn bytes(b: &[u8]) -> Cow<'_, [u8]> {
    let Some(m) = active() else {
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

/// Whether anything is installed (so callers can skip copying).
pub fn enabled() -> bool {
    active().is_some()
}

/// One installed value: each character's forms, and where its anchor is.
struct Secret {
    /// For each character, every byte string it may appear as.
    forms: Vec<Vec<Vec<u8>>>,
    /// The anchor's character range.
    anchor: (usize, usize),
}

/// What an Aho-Corasick pattern stands for.
enum Pattern {
    /// The anchor of `secrets[i]`: matched outwards from there.
    Anchor(usize),
    /// A whole form of a value with no anchor: the hit is the match.
    Whole,
}

struct Matcher {
    ac: AhoCorasick,
    patterns: Vec<Pattern>,
    secrets: Vec<Secret>,
}

impl Matcher {
    fn new(values: &[String]) -> Result<Matcher, aho_corasick::BuildError> {
        let mut texts: Vec<Vec<u8>> = Vec::new();
        let mut patterns = Vec::new();
        let mut secrets = Vec::new();
        for v in values {
            let chars: Vec<char> = v.chars().collect();
            match anchor(&chars).filter(|_| chars.len() <= MAX_FLEXIBLE) {
                Some((from, to)) => {
                    texts.push(chars[from..to].iter().collect::<String>().into_bytes());
                    patterns.push(Pattern::Anchor(secrets.len()));
                    secrets.push(Secret {
                        forms: chars.iter().map(|&c| forms(c)).collect(),
                        anchor: (from, to),
                    });
                }
                None => {
                    for whole in whole_forms(v) {
                        texts.push(whole);
                        patterns.push(Pattern::Whole);
                    }
                }
            }
        }
        let ac = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(&texts)?;
        Ok(Matcher {
            ac,
            patterns,
            secrets,
        })
    }

    /// Every secret in `text`, as sorted byte ranges that do not overlap.
    fn find(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let mut found: Vec<(usize, usize)> = Vec::new();
        for hit in self.ac.find_overlapping_iter(text) {
            match self.patterns.get(hit.pattern().as_usize()) {
                Some(Pattern::Whole) => found.push((hit.start(), hit.end())),
                Some(Pattern::Anchor(i)) => {
                    if let Some(range) = self.secrets[*i].around(text, hit.start(), hit.end()) {
                        found.push(range);
                    }
                }
                None => {}
            }
        }
        found.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(found.len());
        for (s, e) in found {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

impl Secret {
    /// The whole value around an anchor found at `text[start..end]`, if
    /// the characters before and after it are there in any of their forms.
    fn around(&self, text: &[u8], start: usize, end: usize) -> Option<(usize, usize)> {
        let (from, to) = self.anchor;
        // Backwards through the characters before the anchor.
        let mut ways = vec![start];
        for forms in self.forms[..from].iter().rev() {
            ways = step(&ways, forms, |at, f| {
                let from = at.checked_sub(f.len())?;
                (text.get(from..at) == Some(f)).then_some(from)
            });
            if ways.is_empty() {
                return None;
            }
        }
        let first = ways.iter().copied().min()?;
        // Forwards through the characters after it.
        let mut ways = vec![end];
        for forms in &self.forms[to..] {
            ways = step(&ways, forms, |at, f| {
                let to = at.checked_add(f.len())?;
                (text.get(at..to) == Some(f)).then_some(to)
            });
            if ways.is_empty() {
                return None;
            }
        }
        let last = ways.iter().copied().max()?;
        Some((first, last))
    }
}

/// Every position one more character can reach from `ways`.
fn step(
    ways: &[usize],
    forms: &[Vec<u8>],
    next: impl Fn(usize, &[u8]) -> Option<usize>,
) -> Vec<usize> {
    let mut out = Vec::new();
    for &at in ways {
        for f in forms {
            if let Some(n) = next(at, f)
                && !out.contains(&n)
                && out.len() < MAX_WAYS
            {
                out.push(n);
            }
        }
    }
    out
}

/// The longest run of ASCII letters and digits, if it is long enough to
/// find without false hits.
fn anchor(chars: &[char]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if best.is_none_or(|(s, e)| i - start > e - s) {
            best = Some((start, i));
        }
    }
    best.filter(|(s, e)| e - s >= MIN_LEN)
}

/// Every form one character may take in what leaves the process.
fn forms(c: char) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut add = |f: Vec<u8>| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    let mut utf8 = [0u8; 4];
    let plain = c.encode_utf8(&mut utf8).as_bytes().to_vec();
    add(plain.clone());
    if c.is_ascii_alphanumeric() {
        return out;
    }
    // JSON (and OpenMetrics label) escapes.
    let short = match c {
        '"' => Some("\\\""),
        '\\' => Some("\\\\"),
        '/' => Some("\\/"),
        '\n' => Some("\\n"),
        '\r' => Some("\\r"),
        '\t' => Some("\\t"),
        '\u{8}' => Some("\\b"),
        '\u{c}' => Some("\\f"),
        _ => None,
    };
    if let Some(s) = short {
        add(s.as_bytes().to_vec());
    }
    let mut units = [0u16; 2];
    let units = c.encode_utf16(&mut units);
    for upper in [false, true] {
        let escaped: String = units
            .iter()
            .map(|u| {
                if upper {
                    format!("\\u{u:04X}")
                } else {
                    format!("\\u{u:04x}")
                }
            })
            .collect();
        add(escaped.into_bytes());
        // Percent-encoding, every byte.
        let pct: String = plain
            .iter()
            .map(|b| {
                if upper {
                    format!("%{b:02X}")
                } else {
                    format!("%{b:02x}")
                }
            })
            .collect();
        add(pct.into_bytes());
    }
    if c == ' ' {
        add(b"+".to_vec());
    }
    // JSON inside JSON (a tool's JSON text in a JSON-RPC answer, logged as
    // JSON): every form escaped again, twice over.
    let mut frontier = out.clone();
    for _ in 0..NESTING {
        frontier = frontier.iter().map(|f| json_escape(f)).collect();
        for f in &frontier {
            if !out.contains(f) {
                out.push(f.clone());
            }
        }
    }
    out
}

/// How many times a form may be JSON-escaped again.
const NESTING: usize = 2;

/// The bytes as they appear inside a JSON string.
fn json_escape(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 2);
    for &c in b {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out
}

/// The forms of a value with no anchor: plain, JSON-escaped and fully
/// percent-encoded.
fn whole_forms(v: &str) -> Vec<Vec<u8>> {
    let mut out = vec![v.as_bytes().to_vec()];
    let mut json = v.as_bytes().to_vec();
    for _ in 0..=NESTING {
        json = json_escape(&json);
        if !out.contains(&json) {
            out.push(json.clone());
        }
    }
    for upper in [false, true] {
        let pct: String = v
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ if upper => format!("%{b:02X}"),
                _ => format!("%{b:02x}"),
            })
            .collect();
        if !out.contains(&pct.clone().into_bytes()) {
            out.push(pct.into_bytes());
        }
    }
    out
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

/// A writer that masks secrets in what passes through it, a line at a
/// time (log lines and newline-delimited JSON-RPC are both line-shaped).
pub struct Writer<W: std::io::Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(inner: W) -> Self {
        Writer {
            inner,
            line: Vec::new(),
        }
    }
}

impl<W: std::io::Write> std::io::Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        if let Some(end) = self.line.iter().rposition(|&b| b == b'\n') {
            let rest = self.line.split_off(end + 1);
            let done = std::mem::replace(&mut self.line, rest);
            self.inner.write_all(&bytes(&done))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.line.is_empty() {
            let done = std::mem::take(&mut self.line);
            self.inner.write_all(&bytes(&done))?;
        }
        self.inner.flush()
    }
}

impl<W: std::io::Write> Drop for Writer<W> {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// The async form of [`Writer`], for `weft serve --stdio`'s stdout: bytes
/// are held until a newline or a flush, then masked and written.
pub struct AsyncWriter<W> {
    inner: W,
    pending: Vec<u8>,
    /// Masked bytes not yet accepted by `inner`.
    out: Vec<u8>,
}

impl<W> AsyncWriter<W> {
    pub fn new(inner: W) -> Self {
        AsyncWriter {
            inner,
            pending: Vec::new(),
            out: Vec::new(),
        }
    }
}

impl<W: tokio::io::AsyncWrite + Unpin> AsyncWriter<W> {
    fn drain(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while !self.out.is_empty() {
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => {
                    self.out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Masks and writes everything held, a partial line included.
    fn write_out(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.stage(true);
        self.drain(cx)
    }

    fn stage(&mut self, all: bool) {
        let end = if all {
            Some(self.pending.len())
        } else {
            self.pending
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|i| i + 1)
        };
        if let Some(end) = end.filter(|&e| e > 0) {
            let rest = self.pending.split_off(end);
            let done = std::mem::replace(&mut self.pending, rest);
            self.out.extend_from_slice(&bytes(&done));
        }
    }
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for AsyncWriter<W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        // Back-pressure: do not take more while earlier output waits.
        if this.drain(cx)?.is_pending() {
            return std::task::Poll::Pending;
        }
        this.pending.extend_from_slice(buf);
        this.stage(false);
        let _ = this.drain(cx)?;
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.write_out(cx))?;
        std::pin::Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.write_out(cx))?;
        std::pin::Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// One installed matcher per test: `install` adds to a global.
    fn masked(values: &[&str], text: &str) -> String {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let m = Matcher::new(&values).unwrap();
        let mut out = String::new();
        let mut at = 0;
        for (s, e) in m.find(text.as_bytes()) {
            out.push_str(&text[at..s]);
            out.push_str(MASK);
            at = e;
        }
        out.push_str(&text[at..]);
        out
    }

    const CANARY: &str = "canary 7f3e9b21 \"q\\/&=+%é\"";

    #[test]
    fn plain_and_json_forms() {
        assert_eq!(
            masked(&[CANARY], &format!("a {CANARY} b")),
            "a [REDACTED] b"
        );
        let json =
            serde_json::to_string(&serde_json::json!({"v": format!("x {CANARY} y")})).unwrap();
        assert_eq!(masked(&[CANARY], &json), r#"{"v":"x [REDACTED] y"}"#);
        // Every other character as \uXXXX, and the Debug form of a Rust string.
        let all_u: String = CANARY
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    format!("\\u{:04X}", c as u32)
                }
            })
            .collect();
        assert_eq!(masked(&[CANARY], &format!("<{all_u}>")), "<[REDACTED]>");
        assert_eq!(masked(&[CANARY], &format!("{CANARY:?}")), "\"[REDACTED]\"");
    }

    #[test]
    fn json_inside_json() {
        let once = serde_json::to_string(CANARY).unwrap();
        let twice = serde_json::to_string(&once).unwrap();
        let thrice = serde_json::to_string(&twice).unwrap();
        for form in [&once, &twice, &thrice] {
            let out = masked(&[CANARY], form);
            assert!(
                out.contains(MASK) && !out.contains("7f3e9b21"),
                "{form}: {out}"
            );
            assert!(!out.contains('q'), "{form}: {out}");
        }
        let short = "a\"b/c!d";
        let twice = serde_json::to_string(&serde_json::to_string(short).unwrap()).unwrap();
        assert_eq!(masked(&[short], &twice), "\"\\\"[REDACTED]\\\"\"");
    }

    #[test]
    fn percent_encoded_forms() {
        let full: String = CANARY
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(
            masked(&[CANARY], &format!("?k={full}&x")),
            "?k=[REDACTED]&x"
        );
        assert_eq!(
            masked(&[CANARY], &format!("?k={}&x", full.to_lowercase())),
            "?k=[REDACTED]&x"
        );
        // A form encoder's `+`, and a URL parser that leaves `/`, `&`, `=`
        // and `\` alone in a query but encodes the rest.
        let form = full.replace("%20", "+");
        assert_eq!(masked(&[CANARY], &form), MASK);
        let query = "canary%207f3e9b21%20%22q\\/&=+%%C3%A9%22";
        assert_eq!(masked(&[CANARY], query), MASK);
    }

    #[test]
    fn near_misses_and_values_without_an_anchor() {
        // The anchor alone, or the value with one character changed, is no match.
        assert_eq!(masked(&[CANARY], "7f3e9b21"), "7f3e9b21");
        let changed = CANARY.replace('q', "Q");
        assert_eq!(masked(&[CANARY], &changed), changed);
        // No run of four letters or digits: whole forms only.
        assert_eq!(
            masked(&["a\"b/c!d"], "x a\"b/c!d a\\\"b/c!d a%22b%2Fc%21d"),
            "x [REDACTED] [REDACTED] [REDACTED]"
        );
        // A value that contains another is masked whole; overlaps merge.
        assert_eq!(
            masked(&["secret-one", "secret-one-two"], "secret-one-two!"),
            "[REDACTED]!"
        );
        // Hostile text: long runs of the anchor and of escapes, no panic.
        let hostile = format!("{}{}", "%%%%\\\\\\\\".repeat(1000), "7f3e9b21".repeat(1000));
        assert_eq!(masked(&[CANARY], &hostile), hostile);
    }

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
}
