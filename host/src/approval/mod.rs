//! Approvals: a call of a tool with side effects waits until the person
//! behind the agent says yes.
//!
//! Which calls wait is config ([`crate::config::approval`]): patterns in
//! `[settings]` for every caller and on a tenant for its own calls, and
//! `approval = true | "destructive"` on a server. [`rule`] names the
//! first that matches. The router asks through the caller's [`Asker`],
//! which `weft serve` gives every agent's call and which policies, code
//! mode and adapters inherit with their caller; the agent's era decides
//! how the question travels (an `elicitation/create` request in the
//! handshake era, an `input_required` result in 2026-07-28, a task in
//! `input_required` for a run taken as a task). [`question`] writes it,
//! with credential-like arguments masked; [`read`] reads the answer.

use std::sync::Arc;

use futures::future::BoxFuture;
use rmcp::model::{ErrorData, InputRequest, JsonObject};
use serde_json::{Value, json};

use crate::config::{Approvals, ServerApproval, ToolPatterns};

/// The most bytes of a call's arguments a question shows.
pub const SHOWN_ARGS: usize = 2048;

/// Puts one question to the person behind a call; the answer is the
/// agent's JSON result.
pub type AskFn =
    Arc<dyn Fn(InputRequest) -> BoxFuture<'static, Result<Value, ErrorData>> + Send + Sync>;

/// The way to the person behind a call: the agent whose request it
/// serves, and whether that agent declared the elicitation capability.
#[derive(Clone)]
pub struct Asker {
    ask: AskFn,
    /// The agent declared `elicitation`: it can show a person a question.
    pub elicitation: bool,
}

impl std::fmt::Debug for Asker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asker")
            .field("elicitation", &self.elicitation)
            .finish_non_exhaustive()
    }
}

impl Asker {
    /// An asker that puts questions through `ask`.
    pub fn new(elicitation: bool, ask: AskFn) -> Asker {
        Asker { ask, elicitation }
    }

    /// Puts `question` to the person; `Err` when the agent could not be
    /// asked or did not answer.
    pub async fn ask(&self, question: InputRequest) -> Result<Value, ErrorData> {
        (self.ask)(question).await
    }
}

/// Told when a call begins to wait for a person (`false`) and when it is
/// approved (`true`), before it goes out: a journaled run records that
/// the call has not been sent while it waits, so a run resumed after a
/// crash asks again. `Err` when the approval could not be recorded (the
/// call is then not sent).
#[derive(Clone)]
pub struct Note(pub Arc<dyn Fn(bool) -> BoxFuture<'static, Result<(), String>> + Send + Sync>);

impl std::fmt::Debug for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Note")
    }
}

impl Note {
    /// Tells the note the call waits (`false`) or was approved (`true`).
    pub async fn tell(&self, approved: bool) -> Result<(), String> {
        (self.0)(approved).await
    }
}

/// Why a call waits for approval: the rule that matched, for the question
/// and the audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// A pattern of `settings.approval`.
    Settings,
    /// A pattern of the caller's tenant's `approval`.
    Tenant(String),
    /// `approval = true` on the server.
    Server,
    /// `approval = "destructive"` on the server, and the tool is annotated
    /// `destructiveHint: true`.
    Destructive,
}

impl Rule {
    /// Where the rule is written, for messages.
    pub fn source(&self, server: &str) -> String {
        match self {
            Rule::Settings => "settings.approval".into(),
            Rule::Tenant(t) => format!("tenants.{t}.approval"),
            Rule::Server => format!("servers.{server}.approval = true"),
            Rule::Destructive => format!("servers.{server}.approval = \"destructive\""),
        }
    }
}

/// The rule that makes a call of `server`.`tool` wait, if one does.
/// `destructive` is the tool's `destructiveHint` annotation (`None` when
/// the catalog does not list the tool: a tool weft knows nothing about
/// is not assumed harmless, so `"destructive"` covers it).
pub fn rule(
    settings: &Approvals,
    tenant: Option<(&str, &ToolPatterns)>,
    on_server: ServerApproval,
    (server, tool): (&str, &str),
    destructive: Option<bool>,
) -> Option<Rule> {
    if settings.tools.matches(server, tool) {
        return Some(Rule::Settings);
    }
    if let Some((name, patterns)) = tenant
        && patterns.matches(server, tool)
    {
        return Some(Rule::Tenant(name.to_string()));
    }
    match on_server {
        ServerApproval::Off => None,
        ServerApproval::All => Some(Rule::Server),
        ServerApproval::Destructive => destructive.unwrap_or(true).then_some(Rule::Destructive),
    }
}

/// The question for a call of `server`.`tool` with `args`: it names the
/// tool and shows the arguments (credential-like ones masked, secrets
/// masked, at most [`SHOWN_ARGS`] bytes), and asks for approve or decline.
pub fn question(
    server: &str,
    tool: &str,
    args: Option<&JsonObject>,
    who: &str,
) -> Result<InputRequest, serde_json::Error> {
    let shown = shown_args(args);
    let message = format!(
        "{who} wants to call the tool \"{tool}\" on the server \"{server}\" with these arguments:\n{shown}\nApprove this call?"
    );
    let request = json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "approve": {
                        "type": "boolean",
                        "title": "Approve",
                        "description": format!("Let {server}.{tool} run with the arguments shown"),
                        "default": false,
                    }
                },
                "required": ["approve"],
            },
        },
    });
    // The shape is fixed above; rmcp reads it back as an elicitation.
    serde_json::from_value(request)
}

/// The arguments as the question shows them.
fn shown_args(args: Option<&JsonObject>) -> String {
    let Some(args) = args else {
        return "(none)".into();
    };
    let masked = Value::Object(
        args.iter()
            .map(|(k, v)| (k.clone(), mask(k, v, 0)))
            .collect(),
    );
    let text = serde_json::to_string_pretty(&masked).unwrap_or_default();
    let text = crate::redact::text(&text).into_owned();
    if text.len() <= SHOWN_ARGS {
        return text;
    }
    let mut end = SHOWN_ARGS;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n… ({} bytes in all)", &text[..end], text.len())
}

/// `value` under `key`, masked when the key names a credential; nested
/// objects are masked the same way, to a depth of 32.
fn mask(key: &str, value: &Value, depth: usize) -> Value {
    if crate::config::credentials::looks_like_credential(key) {
        return Value::String(crate::redact::MASK.into());
    }
    match value {
        Value::Object(map) if depth < 32 => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask(k, v, depth + 1)))
                .collect(),
        ),
        Value::Array(items) if depth < 32 => {
            Value::Array(items.iter().map(|v| mask("", v, depth + 1)).collect())
        }
        other => other.clone(),
    }
}

/// What the person answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Accepted with `approve: true`.
    Approved,
    /// Accepted with `approve: false`, or declined.
    Declined,
    /// Cancelled (dismissed without a choice).
    Cancelled,
}

impl Answer {
    /// The answer as the audit records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Approved => "approved",
            Answer::Declined => "declined",
            Answer::Cancelled => "cancelled",
        }
    }
}

/// Reads the agent's answer to a [`question`]. Only an `accept` whose
/// content says `approve: true` approves; anything else, malformed
/// answers included, does not.
pub fn read(answer: &Value) -> Answer {
    match answer.get("action").and_then(Value::as_str) {
        Some("accept") => {
            let yes = answer
                .get("content")
                .and_then(|c| c.get("approve"))
                .and_then(Value::as_bool);
            if yes == Some(true) {
                Answer::Approved
            } else {
                Answer::Declined
            }
        }
        Some("cancel") => Answer::Cancelled,
        _ => Answer::Declined,
    }
}

#[cfg(test)]
mod tests;
