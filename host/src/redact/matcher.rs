//! Finding installed values in text, in every form the ways out may give
//! them: plain, JSON-escaped (nested up to [`NESTING`] times), percent-
//! encoded and OpenMetrics-escaped, from an Aho-Corasick anchor matched
//! outwards.

use aho_corasick::AhoCorasick;

use super::MIN_LEN;

/// Values longer than this (in characters) are matched only in their plain
/// and JSON forms: the outward matching is linear in a value's length.
const MAX_FLEXIBLE: usize = 4096;

/// How many ways to have matched a prefix are kept at once; two or three
/// are the most any real text gives (`%` against `%25`, `\` against `\\`).
const MAX_WAYS: usize = 32;

/// One installed value: each character's forms, and where its anchor is.
struct Secret {
    /// For each character, every byte string it may appear as.
    forms: Vec<Vec<Vec<u8>>>,
    /// The anchor's character range.
    anchor: (usize, usize),
    /// Its index among the matcher's values.
    value: usize,
}

/// What an Aho-Corasick pattern stands for.
enum Pattern {
    /// The anchor of `secrets[i]`: matched outwards from there.
    Anchor(usize),
    /// A whole form of value `i`, which has no anchor: the hit is the
    /// match.
    Whole(usize),
}

pub(super) struct Matcher {
    ac: AhoCorasick,
    patterns: Vec<Pattern>,
    secrets: Vec<Secret>,
    /// The values, in the order given.
    values: Vec<String>,
}

impl Matcher {
    pub(super) fn new(values: &[String]) -> Result<Matcher, aho_corasick::BuildError> {
        let mut texts: Vec<Vec<u8>> = Vec::new();
        let mut patterns = Vec::new();
        let mut secrets = Vec::new();
        for (value, v) in values.iter().enumerate() {
            let chars: Vec<char> = v.chars().collect();
            match anchor(&chars).filter(|_| chars.len() <= MAX_FLEXIBLE) {
                Some((from, to)) => {
                    texts.push(chars[from..to].iter().collect::<String>().into_bytes());
                    patterns.push(Pattern::Anchor(secrets.len()));
                    secrets.push(Secret {
                        forms: chars.iter().map(|&c| forms(c)).collect(),
                        anchor: (from, to),
                        value,
                    });
                }
                None => {
                    for whole in whole_forms(v) {
                        texts.push(whole);
                        patterns.push(Pattern::Whole(value));
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
            values: values.to_vec(),
        })
    }

    /// Every value found in `text`, in any form: `(value index, range)`.
    fn hits<'a>(&'a self, text: &'a [u8]) -> impl Iterator<Item = (usize, (usize, usize))> + 'a {
        self.ac.find_overlapping_iter(text).filter_map(|hit| {
            match self.patterns.get(hit.pattern().as_usize())? {
                Pattern::Whole(v) => Some((*v, (hit.start(), hit.end()))),
                Pattern::Anchor(i) => {
                    let secret = self.secrets.get(*i)?;
                    let range = secret.around(text, hit.start(), hit.end())?;
                    Some((secret.value, range))
                }
            }
        })
    }

    /// The values `text` holds in any form.
    pub(super) fn values_in(&self, text: &[u8]) -> Vec<&str> {
        let mut seen = vec![false; self.values.len()];
        for (v, _) in self.hits(text) {
            if let Some(s) = seen.get_mut(v) {
                *s = true;
            }
        }
        self.values
            .iter()
            .zip(seen)
            .filter_map(|(v, s)| s.then_some(v.as_str()))
            .collect()
    }

    /// Every value the matcher has.
    pub(super) fn values(&self) -> &[String] {
        &self.values
    }

    /// Every secret in `text`, as sorted byte ranges that do not overlap.
    pub(super) fn find(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let mut found: Vec<(usize, usize)> = self.hits(text).map(|(_, r)| r).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::MASK;

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
}
