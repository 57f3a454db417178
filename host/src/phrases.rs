//! The only place weft reads meaning out of error text. rmcp, wasmtime
//! and upstream servers sometimes say what happened only in words (a
//! JSON-RPC error's message, a transport error's text, a trap's); each
//! meaning weft branches on is a [`Phrase`] here, with the words that say
//! it and a test for each.

/// A meaning weft looks for in error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phrase {
    /// An upstream asking to slow down in a JSON-RPC error.
    RateLimit,
    /// An upstream's -32602 for a tool it does not have.
    UnknownTool,
    /// rmcp's HTTP transport reporting a 429 answer.
    Http429,
    /// An I/O error's text saying the transport closed under a handshake.
    Closed,
    /// A guest's trap from writing past its captured stdout or stderr
    /// (wasmtime-wasi's `MemoryOutputPipe`): the run's log cap.
    OutputFull,
}

impl Phrase {
    /// The words (lower case) of which any one says this.
    fn words(self) -> &'static [&'static str] {
        match self {
            Phrase::RateLimit => &["rate limit", "too many requests"],
            Phrase::UnknownTool => &["unknown tool", "not found"],
            Phrase::Http429 => &["http 429"],
            Phrase::Closed => &["connection closed", "transport closed", "broken pipe"],
            Phrase::OutputFull => &["beyond capacity of memoryoutputpipe"],
        }
    }
}

/// Whether `text` says `phrase`, in any letter case.
pub(crate) fn says(text: &str, phrase: Phrase) -> bool {
    let lower = text.to_ascii_lowercase();
    phrase.words().iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_string_says_its_phrase_and_no_other() {
        let cases = [
            ("Rate limit exceeded", Phrase::RateLimit),
            ("429 Too Many Requests, slow down", Phrase::RateLimit),
            ("Unknown tool: nope", Phrase::UnknownTool),
            ("Tool nope not found", Phrase::UnknownTool),
            ("Transport send error: HTTP 429", Phrase::Http429),
            ("Connection closed: initialize", Phrase::Closed),
            ("transport closed", Phrase::Closed),
            ("write: Broken pipe (os error 32)", Phrase::Closed),
            (
                "error while executing: write beyond capacity of MemoryOutputPipe",
                Phrase::OutputFull,
            ),
        ];
        let all = [
            Phrase::RateLimit,
            Phrase::UnknownTool,
            Phrase::Http429,
            Phrase::Closed,
            Phrase::OutputFull,
        ];
        for (text, phrase) in cases {
            for other in all {
                assert_eq!(says(text, other), other == phrase, "{text:?} as {other:?}");
            }
        }
        assert!(!says("the tool ran and failed", Phrase::UnknownTool));
    }
}
