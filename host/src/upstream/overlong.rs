//! A stdio server's line over weft's cap ([`super::lane`] drops it): which
//! request it answers, read from its first bytes (where rmcp and the
//! Python SDK put the `id`) or its last (where the TypeScript SDK puts
//! it), without holding more of it than the cap; and the error the call
//! gets instead.
//!
//! Both readers look only at the top-level object's own keys, as far as
//! the bytes go: a line may be cut anywhere and need not be JSON at all,
//! and whatever it says, it can only fail a request of its own server.

use rmcp::model::{ErrorData, NumberOrString};
use serde_json::value::RawValue;
use tokio::io::AsyncRead;

use super::{Answer, LaneReader, lane_number};

/// What the last bytes of a dropped line keep, for an `id` that comes
/// last.
pub(super) const TAIL: usize = 256;

/// The error a request gets when its answer was a line over `cap` bytes.
pub(super) fn error(cap: usize) -> ErrorData {
    ErrorData::internal_error(
        format!(
            "the server's answer is one line of more than {cap} bytes, the most weft reads as \
             one message from a stdio server; weft dropped it and the server keeps running: \
             ask for less at a time (a page, a summary or a link)"
        ),
        None,
    )
}

/// A line over the cap, on its way to nowhere.
pub(super) struct Dropping {
    /// Bytes seen so far.
    bytes: u64,
    /// Its request has been failed, or it answers none (a request or
    /// notification of the server's own).
    settled: bool,
    /// Its last [`TAIL`] bytes, for an `id` that comes last.
    tail: Vec<u8>,
}

impl Dropping {
    pub(super) fn see(&mut self, part: &[u8]) {
        self.bytes += part.len() as u64;
        if self.settled {
            return;
        }
        let part = &part[part.len().saturating_sub(TAIL)..];
        let keep = TAIL - part.len();
        self.tail.drain(..self.tail.len().saturating_sub(keep));
        self.tail.extend_from_slice(part);
    }
}

impl<R: AsyncRead + Unpin> LaneReader<R> {
    /// The held line and `part` are over the cap: fails the request the
    /// line's start names, if it names one, and drops the line from here.
    pub(super) fn overflow(&mut self, part: &[u8]) {
        // Past the cap by less than a read: looked at once, then let go.
        let mut start = std::mem::take(&mut self.line);
        start.extend_from_slice(part);
        let said = head(&start);
        let settled = said.method || said.id.is_some_and(|id| self.fail(id));
        let mut dropping = Dropping {
            bytes: 0,
            settled,
            tail: Vec::new(),
        };
        dropping.see(&start);
        self.dropping = Some(dropping);
    }

    /// The end of a dropped line: fails the request its end names, if its
    /// start named none.
    pub(super) fn dropped(&mut self) {
        let Some(d) = self.dropping.take() else {
            return;
        };
        let answered = d.settled || {
            let tail = d.tail.strip_suffix(b"\n").unwrap_or(&d.tail);
            let tail = tail.strip_suffix(b"\r").unwrap_or(tail);
            tail_id(tail).is_some_and(|id| self.fail(id))
        };
        tracing::warn!(
            target: "weft::upstream",
            bytes = d.bytes,
            cap = self.max_line,
            answered,
            "a stdio server wrote a line over the cap; it was dropped"
        );
    }

    /// Fails the request `id` (its JSON text) with the overlong error: a
    /// lane call's waiting caller, else rmcp, by an error answer in the
    /// line's place. False if `id` is not an id.
    fn fail(&mut self, id: &[u8]) -> bool {
        let overlong = error(self.max_line);
        if let Ok(raw) = std::str::from_utf8(id)
            && let Ok(raw) = RawValue::from_string(raw.to_string())
            && let Some(n) = lane_number(&raw)
        {
            if let Some(tx) = self.shared.waiting.lock().calls.remove(&n) {
                let _ = tx.send(Answer::Error(overlong));
            }
            return true;
        }
        let Ok(id) = serde_json::from_slice::<NumberOrString>(id) else {
            return false;
        };
        let answer = serde_json::json!({"jsonrpc": "2.0", "id": id, "error": overlong});
        match serde_json::to_vec(&answer) {
            Ok(mut line) => {
                line.push(b'\n');
                self.ready.extend_from_slice(&line);
                true
            }
            Err(_) => false,
        }
    }
}

/// What the start of a line says about it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Head<'a> {
    /// The top-level `id`'s JSON text, if it came before the cut.
    pub id: Option<&'a [u8]>,
    /// A top-level `method` came before the cut: a request or
    /// notification of the server's own, which answers nothing.
    pub method: bool,
}

/// Reads the top-level keys of the JSON object that `bytes` starts,
/// until the bytes end or the object does.
pub(super) fn head(bytes: &[u8]) -> Head<'_> {
    let mut out = Head::default();
    let mut s = Scan { b: bytes, i: 0 };
    s.ws();
    if !s.eat(b'{') {
        return out;
    }
    loop {
        s.ws();
        let Some(key) = s.string() else {
            return out;
        };
        s.ws();
        if !s.eat(b':') {
            return out;
        }
        s.ws();
        let start = s.i;
        if !s.value() {
            return out;
        }
        match key {
            b"\"id\"" => out.id = Some(&bytes[start..s.i]),
            b"\"method\"" => out.method = true,
            _ => {}
        }
        s.ws();
        if !s.eat(b',') {
            return out;
        }
    }
}

/// The `id` of a line whose last bytes (`tail`, newline removed) end the
/// top-level object with it: `…,"id":VALUE}`.
pub(super) fn tail_id(tail: &[u8]) -> Option<&[u8]> {
    let t = trim_end(tail).strip_suffix(b"}")?;
    let t = trim_end(t);
    let value_start = if t.ends_with(b"\"") {
        let inner = &t[..t.len() - 1];
        let open = inner.iter().rposition(|&c| c == b'"')?;
        // An escape inside would make the quote found a lookalike.
        if inner[open + 1..].contains(&b'\\') {
            return None;
        }
        open
    } else {
        t.iter()
            .rposition(|c| !(c.is_ascii_digit() || b"-+.eE".contains(c)))
            .map_or(0, |p| p + 1)
    };
    let value = &t[value_start..];
    if value.is_empty() {
        return None;
    }
    let before = trim_end(&t[..value_start]).strip_suffix(b":")?;
    let before = trim_end(before).strip_suffix(b"\"id\"")?;
    trim_end(before).ends_with(b",").then_some(value)
}

fn trim_end(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &b[..end]
}

/// A cursor over bytes that may stop anywhere.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    /// A string, quotes included; `None` if the bytes end first.
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        if !self.eat(b'"') {
            return None;
        }
        let mut escaped = false;
        while let Some(&c) = self.b.get(self.i) {
            self.i += 1;
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => return Some(&self.b[start..self.i]),
                _ => {}
            }
        }
        None
    }

    /// Skips one value; false if the bytes end first (or it is not one).
    fn value(&mut self) -> bool {
        match self.b.get(self.i) {
            None => false,
            Some(b'"') => self.string().is_some(),
            Some(b'{' | b'[') => self.nested(),
            Some(_) => {
                let start = self.i;
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| !b",}]".contains(c) && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
                // A scalar cut off by the end of the bytes is not whole.
                self.i > start && self.i < self.b.len()
            }
        }
    }

    /// Skips an object or array, strings and all, by depth.
    fn nested(&mut self) -> bool {
        let mut depth = 0usize;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    if self.string().is_none() {
                        return false;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return true;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(line: &str) -> Option<&str> {
        head(line.as_bytes())
            .id
            .map(|b| std::str::from_utf8(b).unwrap())
    }

    #[test]
    fn the_head_gives_the_top_level_id_wherever_the_line_is_cut() {
        let line = r#"{"jsonrpc":"2.0","id":"weft-lane-3","result":{"content":[{"type":"text","text":"xxxx"#;
        assert_eq!(id_of(line), Some("\"weft-lane-3\""));
        assert_eq!(id_of(r#" {"id" : 17 , "result":{"#), Some("17"));
        // Nested ids, ids in strings and cut ids are not the line's.
        assert_eq!(id_of(r#"{"result":{"id":5},"text":"\"id\":6"#), None);
        assert_eq!(
            id_of(r#"{"jsonrpc":"2.0","result":{"id":5,"a":[{"id":7}]},"id":9,"#),
            Some("9")
        );
        assert_eq!(id_of(r#"{"id":12"#), None);
        assert_eq!(id_of(r#"{"id":"weft-la"#), None);
        assert_eq!(id_of("not json"), None);
        let request =
            head(br#"{"jsonrpc":"2.0","id":4,"method":"sampling/createMessage","params":{"#);
        assert_eq!((request.id, request.method), (Some(&b"4"[..]), true));
        let note = head(br#"{"method":"notifications/message","params":{"data":"xx"#);
        assert_eq!((note.id, note.method), (None, true));
    }

    #[test]
    fn the_tail_gives_an_id_that_ends_the_line() {
        fn id(t: &str) -> Option<&str> {
            tail_id(t.as_bytes()).map(|b| std::str::from_utf8(b).unwrap())
        }
        assert_eq!(
            id(r#"xxxx"}]},"jsonrpc":"2.0","id":"weft-lane-2"}"#),
            Some("\"weft-lane-2\"")
        );
        assert_eq!(id("xxxx\"}]}, \"id\" : 41 }\r"), Some("41"));
        // An id inside something else, or with nothing before it.
        assert_eq!(id(r#"xxxx"}],"x":{"id":3}}"#), None);
        assert_eq!(id(r#"{"id":3}"#), None);
        assert_eq!(id(r#"xx\",\"id\":\"a\\"}"#), None);
        assert_eq!(id(r#"xxxx","id":}"#), None);
        assert_eq!(id("xxxx"), None);
    }
}
