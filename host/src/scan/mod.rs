//! The scanner of tool definitions: what a server says about its tools is
//! read by the model, so a description can carry instructions a person
//! reviewing it never sees ("tool poisoning"). Each definition is checked
//! when its server lists it, against the rules in `rules.toml` (data, one
//! file, each rule with its reason): invisible and bidirectional control
//! characters, text aimed at the model, credential paths, and size.
//!
//! What is read: the tool's name, title and description, and every
//! `title` and `description` in its input and output schemas (and the
//! schemas' property names, for invisible characters). Invisible
//! characters are stripped from what agents see ([`strip`]) whatever the
//! mode; `scan = "strict"` also keeps a flagged tool from agents (see
//! `catalog`).

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use rmcp::model::Tool;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The rules, as shipped.
const RULES: &str = include_str!("rules.toml");
/// The most characters of the text around a hit a finding quotes.
const EXCERPT: usize = 60;

/// One rule of `rules.toml`.
#[derive(Debug, Deserialize)]
struct Rule {
    id: String,
    kind: String,
    #[serde(default)]
    ranges: Vec<[String; 2]>,
    #[serde(default)]
    phrases: Vec<String>,
    #[serde(default)]
    max: usize,
    reason: String,
}

#[derive(Debug, Deserialize)]
struct RuleFile {
    rule: Vec<Rule>,
}

/// The rules compiled: character ranges, one phrase matcher, sizes.
struct Compiled {
    chars: Vec<(usize, Vec<(u32, u32)>)>,
    phrases: Option<AhoCorasick>,
    /// For each phrase pattern, the rule it belongs to.
    phrase_rule: Vec<usize>,
    sizes: Vec<(usize, usize)>,
    rules: Vec<Rule>,
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| compile(RULES));

/// Compiles `text` (a rules file). The shipped file is checked by a unit
/// test, so a fault here is a build's, and leaves the rule out.
fn compile(text: &str) -> Compiled {
    let rules = toml::from_str::<RuleFile>(text)
        .map(|f| f.rule)
        .unwrap_or_default();
    let mut c = Compiled {
        chars: Vec::new(),
        phrases: None,
        phrase_rule: Vec::new(),
        sizes: Vec::new(),
        rules: Vec::new(),
    };
    let mut patterns = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        match rule.kind.as_str() {
            "chars" => {
                let ranges = rule
                    .ranges
                    .iter()
                    .filter_map(|[a, b]| {
                        Some((
                            u32::from_str_radix(a, 16).ok()?,
                            u32::from_str_radix(b, 16).ok()?,
                        ))
                    })
                    .collect();
                c.chars.push((i, ranges));
            }
            "phrase" => {
                for p in &rule.phrases {
                    patterns.push(p.to_ascii_lowercase());
                    c.phrase_rule.push(i);
                }
            }
            "size" => c.sizes.push((i, rule.max)),
            _ => {}
        }
    }
    c.phrases = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::LeftmostLongest)
        .build(&patterns)
        .ok();
    c.rules = rules;
    c
}

/// One hit: the rule, where, and the text around it (invisible
/// characters shown as `U+XXXX`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id.
    pub rule: String,
    /// Why the rule exists.
    pub reason: String,
    /// Where: `name`, `title`, `description`, or a schema path such as
    /// `inputSchema.properties.path.description`.
    pub field: String,
    /// The text around the hit, capped.
    pub excerpt: String,
}

/// Whether `c` is one the `chars` rules name.
fn invisible(c: char) -> bool {
    COMPILED
        .chars
        .iter()
        .any(|(_, ranges)| in_ranges(c, ranges))
}

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let c = c as u32;
    ranges.iter().any(|(a, b)| (*a..=*b).contains(&c))
}

/// `text` with invisible characters written as `U+XXXX`, cut around byte
/// `at`.
fn excerpt(text: &str, at: usize) -> String {
    let start = text[..at.min(text.len())]
        .char_indices()
        .rev()
        .nth(EXCERPT / 2)
        .map_or(0, |(i, _)| i);
    text[start..]
        .chars()
        .take(EXCERPT)
        .map(|c| {
            if invisible(c) || c.is_control() {
                format!("U+{:04X}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The findings of the rules in `text`, found in the field `field()`
/// names (made only for a hit: most text has none).
fn scan_text(field: &dyn Fn() -> String, text: &str, prose: bool, out: &mut Vec<Finding>) {
    let c = &*COMPILED;
    let mut hit = |rule: usize, at: usize| {
        let rule = &c.rules[rule];
        let field = field();
        if out.iter().any(|f| f.rule == rule.id && f.field == field) {
            return;
        }
        out.push(Finding {
            rule: rule.id.clone(),
            reason: rule.reason.clone(),
            field,
            excerpt: excerpt(text, at),
        });
    };
    // Every character the rules name is outside ASCII.
    if !text.is_ascii() {
        for (rule, ranges) in &c.chars {
            if let Some((at, _)) = text.char_indices().find(|(_, ch)| in_ranges(*ch, ranges)) {
                hit(*rule, at);
            }
        }
    }
    if !prose {
        return;
    }
    if let Some(ac) = &c.phrases {
        for m in ac.find_iter(text) {
            hit(c.phrase_rule[m.pattern().as_usize()], m.start());
        }
    }
    for (rule, max) in &c.sizes {
        if text.len() > *max && text.chars().count() > *max {
            hit(*rule, 0);
        }
    }
}

/// Every `title` and `description` in a schema (prose), and every
/// property name (checked for invisible characters only); `path` is
/// where the walk is, joined only for a hit.
fn scan_schema(
    path: &mut Vec<String>,
    map: &serde_json::Map<String, Value>,
    out: &mut Vec<Finding>,
) {
    if path.len() > 32 {
        return;
    }
    for (k, v) in map {
        path.push(k.clone());
        let here = || path.join(".");
        scan_text(&here, k, false, out);
        match (k.as_str(), v) {
            ("title" | "description", Value::String(s)) => scan_text(&here, s, true, out),
            (_, Value::Object(inner)) => scan_schema(path, inner, out),
            (_, Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Object(inner) = item {
                        path.push(format!("[{i}]"));
                        scan_schema(path, inner, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
}

/// What the rules find in `tool`'s definition.
pub fn scan(tool: &Tool) -> Vec<Finding> {
    let mut out = Vec::new();
    scan_text(&|| "name".into(), &tool.name, false, &mut out);
    if let Some(t) = &tool.title {
        scan_text(&|| "title".into(), t, true, &mut out);
    }
    if let Some(d) = &tool.description {
        scan_text(&|| "description".into(), d, true, &mut out);
    }
    scan_schema(
        &mut vec!["inputSchema".into()],
        &tool.input_schema,
        &mut out,
    );
    if let Some(o) = &tool.output_schema {
        scan_schema(&mut vec!["outputSchema".into()], o, &mut out);
    }
    out
}

/// Whether a finding is of a rule whose characters [`strip`] removes.
pub fn strips(finding: &Finding) -> bool {
    let c = &*COMPILED;
    c.chars.iter().any(|(i, _)| c.rules[*i].id == finding.rule)
}

/// The configured server names, ready to tell whether a tool claims to
/// be one of theirs: its name is a server's or starts with it and a
/// separator (`github_`, `github.`, `github-`), or its description calls
/// it that server's ("the github server", "github's tool"). Names
/// shorter than 3 are not checked: they are too common to mean anything.
pub struct Claims {
    names: std::collections::HashMap<String, String>,
    phrases: Option<AhoCorasick>,
    /// For each phrase pattern, the server it names.
    phrase_server: Vec<String>,
}

impl Claims {
    /// The matcher of `servers`' names.
    pub fn new<'a>(servers: impl IntoIterator<Item = &'a str>) -> Claims {
        let mut names = std::collections::HashMap::new();
        let mut patterns = Vec::new();
        let mut phrase_server = Vec::new();
        for server in servers {
            if server.chars().count() < 3 {
                continue;
            }
            let o = server.to_ascii_lowercase();
            for p in [
                format!("{o} server"),
                format!("server {o}"),
                format!("{o}'s tool"),
                format!("the {o} tool"),
                format!("official {o}"),
            ] {
                patterns.push(p);
                phrase_server.push(server.to_string());
            }
            names.insert(o, server.to_string());
        }
        let phrases = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&patterns)
            .ok();
        Claims {
            names,
            phrases,
            phrase_server,
        }
    }

    /// Whether `tool`, of server `own`, claims another server's name.
    pub fn check(&self, tool: &Tool, own: &str) -> Option<Finding> {
        let name = tool.name.to_ascii_lowercase();
        let prefix = name.split(['_', '.', '-']).next().unwrap_or(&name);
        let by_name = [name.as_str(), prefix]
            .into_iter()
            .filter_map(|n| self.names.get(n))
            .find(|s| s.as_str() != own);
        let (other, field, excerpt) = if let Some(other) = by_name {
            (other.clone(), "name", tool.name.to_string())
        } else {
            let description = tool.description.as_deref().unwrap_or("");
            let m = self
                .phrases
                .as_ref()?
                .find_iter(description)
                .find(|m| self.phrase_server[m.pattern().as_usize()] != own)?;
            (
                self.phrase_server[m.pattern().as_usize()].clone(),
                "description",
                excerpt(description, m.start()),
            )
        };
        Some(Finding {
            rule: "claims-server".into(),
            reason: format!(
                "it claims to be server {other:?}'s, and another server holds that name: a tool that shadows another can take its calls"
            ),
            field: field.into(),
            excerpt,
        })
    }
}

fn without_invisible(text: &str) -> Option<String> {
    text.chars()
        .any(invisible)
        .then(|| text.chars().filter(|c| !invisible(*c)).collect())
}

fn strip_schema(value: &mut Value, depth: usize) {
    if depth > 32 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match (k.as_str(), &mut *v) {
                    ("title" | "description", Value::String(s)) => {
                        if let Some(clean) = without_invisible(s) {
                            *s = clean;
                        }
                    }
                    _ => strip_schema(v, depth + 1),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| strip_schema(v, depth + 1)),
        _ => {}
    }
}

/// `tool` with invisible characters taken out of its title, description
/// and schemas' prose, or `None` when it has none. (Its name is its
/// identity: a name with them is flagged, not rewritten.)
pub fn strip(tool: &Tool) -> Option<Tool> {
    let texts = [tool.title.as_deref(), tool.description.as_deref()];
    let schema_text = serde_json::to_string(&*tool.input_schema).unwrap_or_default();
    let output_text = tool
        .output_schema
        .as_ref()
        .and_then(|o| serde_json::to_string(&**o).ok())
        .unwrap_or_default();
    let dirty = texts.iter().flatten().any(|t| t.chars().any(invisible))
        || schema_text.chars().any(invisible)
        || output_text.chars().any(invisible);
    if !dirty {
        return None;
    }
    let mut clean = tool.clone();
    if let Some(t) = clean.title.as_deref().and_then(without_invisible) {
        clean.title = Some(t);
    }
    if let Some(d) = clean.description.as_deref().and_then(without_invisible) {
        clean.description = Some(d.into());
    }
    let mut schema = Value::Object((*clean.input_schema).clone());
    strip_schema(&mut schema, 0);
    if let Value::Object(map) = schema {
        clean.input_schema = std::sync::Arc::new(map);
    }
    if let Some(o) = &clean.output_schema {
        let mut schema = Value::Object((**o).clone());
        strip_schema(&mut schema, 0);
        if let Value::Object(map) = schema {
            clean.output_schema = Some(std::sync::Arc::new(map));
        }
    }
    Some(clean)
}

#[cfg(test)]
mod tests;
