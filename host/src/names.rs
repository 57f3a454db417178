//! Names from the catalog made into identifiers of each target language
//! (for `weft bindings` and code mode's API description),
//! and descriptions made safe to put in comments and docstrings.
//!
//! A server's or tool's name may be anything: a keyword, a leading digit,
//! dashes, dots, emoji, nothing at all. [`words`] splits it into ASCII
//! words (other characters become `uXXXX` words), the casings join them,
//! and a [`Scope`] hands out distinct names: a name that is already a valid
//! identifier keeps it, the rest take theirs in sorted order of the
//! original, with `_2`, `_3`, … on a clash. The same catalog always gives
//! the same names.

use std::collections::BTreeSet;

/// The longest identifier made, in bytes (before a clash suffix).
const MAX_IDENT: usize = 64;
/// The longest description kept, in characters.
pub const MAX_DOC: usize = 2_000;

/// How a language spells a kind of name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `get_customer`
    Snake,
    /// `getCustomer`
    Camel,
    /// `GetCustomer`
    Pascal,
}

/// The ASCII words of a name: split at anything that is not a letter or a
/// digit, and where a lower-case letter or digit meets an upper-case one.
pub fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            cur.push(c);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            if !c.is_ascii() && !c.is_whitespace() {
                out.push(format!("u{:04x}", u32::from(c)));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `name` in `case`, at most [`MAX_IDENT`] bytes; "" when it has no words.
pub fn cased(name: &str, case: Case) -> String {
    let mut out = String::new();
    for (i, w) in words(name).iter().enumerate() {
        let lower = w.to_ascii_lowercase();
        let piece = match case {
            Case::Snake if i > 0 => format!("_{lower}"),
            Case::Snake => lower,
            Case::Camel if i == 0 => lower,
            Case::Camel | Case::Pascal => capitalised(&lower),
        };
        if out.len() + piece.len() > MAX_IDENT {
            break;
        }
        out.push_str(&piece);
    }
    out
}

fn capitalised(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Distinct identifiers in one namespace (a module's top level, a
/// function's parameters).
pub struct Scope {
    taken: BTreeSet<String>,
    /// Words of the language that may not be names.
    keywords: &'static [&'static str],
    /// What a keyword becomes: `Some("r#")` prefixes it (Rust), `None`
    /// appends `_`.
    raw_prefix: Option<&'static str>,
    /// Keywords the raw prefix cannot save.
    not_raw: &'static [&'static str],
}

impl Scope {
    pub fn new(keywords: &'static [&'static str]) -> Scope {
        Scope {
            taken: BTreeSet::new(),
            keywords,
            raw_prefix: None,
            not_raw: &[],
        }
    }

    /// A scope whose keywords are written raw (`r#type`), except `not_raw`.
    pub fn raw(
        keywords: &'static [&'static str],
        prefix: &'static str,
        not_raw: &'static [&'static str],
    ) -> Scope {
        Scope {
            raw_prefix: Some(prefix),
            not_raw,
            ..Scope::new(keywords)
        }
    }

    /// Marks names the generated code uses itself.
    pub fn reserve(&mut self, names: &[&str]) {
        self.taken.extend(names.iter().map(|n| n.to_string()));
    }

    /// One identifier for each of `originals`, in `case`, in their order.
    /// `fallback` names a thing whose name has no usable word.
    pub fn assign(&mut self, originals: &[&str], case: Case, fallback: &str) -> Vec<String> {
        let bases: Vec<String> = originals
            .iter()
            .map(|o| self.base(o, case, fallback))
            .collect();
        let mut out = vec![String::new(); originals.len()];
        let mut order: Vec<usize> = (0..originals.len()).collect();
        // Names already spelt right go first, so they keep their spelling.
        order.sort_by(|&a, &b| {
            let changed = |i: usize| bases[i] != originals[i];
            (changed(a), originals[a], a).cmp(&(changed(b), originals[b], b))
        });
        for i in order {
            out[i] = self.claim(&bases[i]);
        }
        out
    }

    /// One more identifier, for `original` in `case`.
    pub fn one(&mut self, original: &str, case: Case, fallback: &str) -> String {
        let base = self.base(original, case, fallback);
        self.claim(&base)
    }

    fn base(&self, original: &str, case: Case, fallback: &str) -> String {
        let mut name = cased(original, case);
        if name.is_empty() {
            name = fallback.to_string();
        }
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            name.insert(0, '_');
        }
        if self.keywords.contains(&name.as_str()) {
            match self.raw_prefix {
                Some(p) if !self.not_raw.contains(&name.as_str()) => name.insert_str(0, p),
                _ => name.push('_'),
            }
        }
        name
    }

    fn claim(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// A description made safe for any comment or string: at most [`MAX_DOC`]
/// characters, line ends as `\n`, and no control characters, line or
/// paragraph separators or bidirectional overrides (which would end a
/// `//` comment in JavaScript or reorder what a reader sees).
pub fn clean_doc(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_DOC {
            out.push('…');
            break;
        }
        let bad = (c.is_control() && c != '\n')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
        out.push(if bad { ' ' } else { c });
    }
    out.trim().to_string()
}

/// The lines of a cleaned description, or none for an empty one.
pub fn doc_lines(text: Option<&str>) -> Vec<String> {
    let text = clean_doc(text.unwrap_or(""));
    if text.is_empty() {
        return Vec::new();
    }
    text.lines().map(|l| l.trim_end().to_string()).collect()
}

/// A JSON string literal, which is also a valid Python, JavaScript and
/// TypeScript string literal.
/// Line and paragraph separators are escaped too: JavaScript before
/// ES2019 ends a line at them.
pub fn string_literal(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".into())
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KW: &[&str] = &["class", "from"];

    #[test]
    fn casings() {
        assert_eq!(cased("getCustomer", Case::Snake), "get_customer");
        assert_eq!(cased("get-customer", Case::Camel), "getCustomer");
        assert_eq!(cased("git_log", Case::Pascal), "GitLog");
        assert_eq!(cased("HTTPServer", Case::Snake), "httpserver");
        assert_eq!(cased("café", Case::Snake), "caf_u00e9");
        assert_eq!(cased("--", Case::Snake), "");
    }

    #[test]
    fn keywords_digits_empty_and_clashes() {
        let mut s = Scope::new(KW);
        s.reserve(&["call"]);
        let got = s.assign(
            &["class", "2fa", "", "a-b", "a_b", "a_b_2", "call"],
            Case::Snake,
            "tool",
        );
        assert_eq!(
            got,
            ["class_", "_2fa", "tool", "a_b_3", "a_b", "a_b_2", "call_2"]
        );
        // Order of the input does not change who gets what.
        let mut s = Scope::new(KW);
        s.reserve(&["call"]);
        let again = s.assign(
            &["call", "a_b_2", "a_b", "a-b", "", "2fa", "class"],
            Case::Snake,
            "tool",
        );
        assert_eq!(
            again,
            ["call_2", "a_b_2", "a_b", "a_b_3", "tool", "_2fa", "class_"]
        );
    }

    #[test]
    fn raw_keywords() {
        let mut s = Scope::raw(&["type", "self"], "r#", &["self"]);
        assert_eq!(
            s.assign(&["type", "self"], Case::Snake, "x"),
            ["r#type", "self_"]
        );
    }

    #[test]
    fn docs_lose_control_characters_and_are_capped() {
        assert_eq!(clean_doc("a\r\nb\u{2028}c\u{202e}d\x1b"), "a\nb c d");
        assert_eq!(clean_doc(&"x".repeat(5000)).chars().count(), MAX_DOC + 1);
    }
}
