//! A 0.1.0 policy: calls `{"server", "tool", "args"}` from its input and
//! returns the result's JSON, or the error's kind and message.

wit_bindgen::generate!({
    world: "policy",
    path: "../../../wit/v0.1.0",
});

use weft::mcp::tools;

struct V1;

impl Guest for V1 {
    fn run(input: String) -> Result<String, String> {
        // The input is {"server": S, "tool": T, "args": A} with A as JSON
        // text; no JSON library, to stay as small as a guest can be.
        let field = |name: &str| -> String {
            let key = format!("\"{name}\":\"");
            input
                .split_once(&key)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(value, _)| value.to_string())
                .unwrap_or_default()
        };
        let args = input
            .split_once("\"args\":")
            .and_then(|(_, rest)| rest.trim_end().strip_suffix('}'))
            .map(str::to_string)
            .unwrap_or_default();
        match tools::call_tool(&field("server"), &field("tool"), &args) {
            Ok(result) => Ok(result),
            Err(e) => Err(format!("{:?}: {}", e.kind, e.message)),
        }
    }
}

export!(V1);
