//! Where a key path (`servers.git.env.TOKEN`, `tenants.a.keys[1]`) is
//! written in a config file, as a byte offset: for error positions.
//!
//! Used only after an error, so the file is parsed again here, TOML with
//! spans (`toml::de::DeTable`) and JSON with a small scanner that follows
//! the path and skips everything else. When the whole path is not written
//! (a required key that is missing), the deepest part that is gives the
//! place: the table the key belongs in.

use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[2].c` into its steps.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Step::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or("");
        }
    }
    out
}

/// The offset of the deepest part of `path` written in the TOML `text`.
pub(crate) fn in_toml(text: &str, path: &str) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut found = None;
    let mut table = Some(root.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue<'_>>]> = None;
    for step in steps(path) {
        let value = match (step, table, array) {
            (Step::Key(k), Some(t), _) => {
                let Some((key, value)) = t.iter().find(|(key, _)| key.get_ref() == k) else {
                    break;
                };
                found = Some(key.span().start);
                value
            }
            (Step::Index(i), _, Some(a)) => {
                let Some(value) = a.get(i) else {
                    break;
                };
                found = Some(value.span().start);
                value
            }
            _ => break,
        };
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(&a[..])),
            _ => (None, None),
        };
    }
    found
}

/// The offset of the deepest part of `path` written in the JSON `text`.
pub(crate) fn in_json(text: &str, path: &str) -> Option<usize> {
    let mut scan = Json {
        b: text.as_bytes(),
        i: 0,
    };
    let mut found = None;
    scan.find(&steps(path), &mut found);
    found
}

/// A JSON scanner over text that is known to parse.
struct Json<'a> {
    b: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn space(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// Reads a string at the cursor; returns its text, unescaped.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => break,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        let raw = std::str::from_utf8(self.b.get(start..self.i)?).ok()?;
        serde_json::from_str(raw).ok()
    }

    /// Skips the value at the cursor.
    fn skip(&mut self) -> Option<()> {
        self.space();
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.checked_sub(1)?;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
            }
        }
        Some(())
    }

    /// Follows `path` from the value at the cursor, noting in `found`
    /// where each step that is written starts.
    fn find(&mut self, path: &[Step<'_>], found: &mut Option<usize>) -> Option<()> {
        let (first, rest) = path.split_first()?;
        self.space();
        let (open, close) = match first {
            Step::Key(_) => (b'{', b'}'),
            Step::Index(_) => (b'[', b']'),
        };
        if self.peek()? != open {
            return None;
        }
        self.i += 1;
        let mut index = 0;
        loop {
            self.space();
            if self.peek()? == close {
                return None;
            }
            let start = self.i;
            let here = match first {
                Step::Key(k) => {
                    let key = self.string()?;
                    self.space();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    key == *k
                }
                Step::Index(i) => *i == index,
            };
            if here {
                self.space();
                *found = Some(if matches!(first, Step::Key(_)) {
                    start
                } else {
                    self.i
                });
                return self.find(rest, found);
            }
            self.skip()?;
            self.space();
            if self.peek()? == b',' {
                self.i += 1;
            }
            index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_keys_and_indexes() {
        assert_eq!(
            steps("tenants.a.keys[1]"),
            [
                Step::Key("tenants"),
                Step::Key("a"),
                Step::Key("keys"),
                Step::Index(1)
            ]
        );
    }

    #[test]
    fn toml_keys_are_found_in_headers_inline_tables_and_arrays() {
        let text = "[servers.git]\ncommand = \"x\"\nenv = { A = \"1\", B = \"2\" }\nargs = [\"a\", \"b\"]\n";
        let at = |p: &str| in_toml(text, p).map(|o| &text[o..o + 1]);
        assert_eq!(in_toml(text, "servers.git"), Some(9));
        assert_eq!(at("servers.git.command"), Some("c"));
        assert_eq!(at("servers.git.env.B"), Some("B"));
        assert_eq!(at("servers.git.args[1]"), Some("\""));
        // A missing key: the table it belongs in.
        assert_eq!(in_toml(text, "servers.git.url"), Some(9));
        assert_eq!(in_toml(text, "nothing"), None);
    }

    #[test]
    fn json_keys_are_found_past_other_values() {
        let text =
            r#"{"x": [1, {"a": "}"}], "mcpServers": {"s": {"args": ["a", "b"], "comand": "y"}}}"#;
        let at = |p: &str| in_json(text, p).map(|o| &text[o..]);
        assert!(at("mcpServers.s.comand").is_some_and(|r| r.starts_with("\"comand\"")));
        assert!(at("mcpServers.s.args[1]").is_some_and(|r| r.starts_with("\"b\"")));
        assert!(at("mcpServers.s.url").is_some_and(|r| r.starts_with("\"s\"")));
        assert_eq!(in_json(text, "policies"), None);
        assert_eq!(in_json("{\"a\": ", "a.b"), Some(1));
    }
}
