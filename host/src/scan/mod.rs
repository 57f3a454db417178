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

/// The findings of the rules in `text`, found in `field`.
fn scan_text(field: &str, text: &str, prose: bool, out: &mut Vec<Finding>) {
    let c = &*COMPILED;
    let mut hit = |rule: usize, at: usize| {
        let rule = &c.rules[rule];
        if out.iter().any(|f| f.rule == rule.id && f.field == field) {
            return;
        }
        out.push(Finding {
            rule: rule.id.clone(),
            reason: rule.reason.clone(),
            field: field.to_string(),
            excerpt: excerpt(text, at),
        });
    };
    for (rule, ranges) in &c.chars {
        if let Some((at, _)) = text.char_indices().find(|(_, ch)| in_ranges(*ch, ranges)) {
            hit(*rule, at);
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
        if text.chars().count() > *max {
            hit(*rule, 0);
        }
    }
}

/// Every `title` and `description` in a schema (prose), and every
/// property name (checked for invisible characters only).
fn scan_schema(path: &str, value: &Value, out: &mut Vec<Finding>, depth: usize) {
    if depth > 32 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}.{k}");
                scan_text(&here, k, false, out);
                match (k.as_str(), v) {
                    ("title" | "description", Value::String(s)) => scan_text(&here, s, true, out),
                    _ => scan_schema(&here, v, out, depth + 1),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                scan_schema(&format!("{path}[{i}]"), v, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// What the rules find in `tool`'s definition.
pub fn scan(tool: &Tool) -> Vec<Finding> {
    let mut out = Vec::new();
    scan_text("name", &tool.name, false, &mut out);
    if let Some(t) = &tool.title {
        scan_text("title", t, true, &mut out);
    }
    if let Some(d) = &tool.description {
        scan_text("description", d, true, &mut out);
    }
    scan_schema(
        "inputSchema",
        &Value::Object((*tool.input_schema).clone()),
        &mut out,
        0,
    );
    if let Some(o) = &tool.output_schema {
        scan_schema("outputSchema", &Value::Object((**o).clone()), &mut out, 0);
    }
    out
}

/// Whether `tool` (of another server) claims to be `other`'s: its name
/// is `other` or starts with `other` and a separator (`github_`,
/// `github.`, `github-`), or its description calls itself `other`'s
/// ("the github server", "github's tool"). Names shorter than 3 are
/// not checked: they are too common to mean anything.
pub fn claims(tool: &Tool, other: &str) -> Option<Finding> {
    if other.chars().count() < 3 {
        return None;
    }
    let o = other.to_ascii_lowercase();
    let name = tool.name.to_ascii_lowercase();
    let by_name = name == o
        || ["_", ".", "-"]
            .iter()
            .any(|sep| name.starts_with(&format!("{o}{sep}")));
    let description = tool
        .description
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase();
    let phrases = [
        format!("{o} server"),
        format!("server {o}"),
        format!("{o}'s tool"),
        format!("the {o} tool"),
        format!("official {o}"),
    ];
    let by_description = phrases.iter().find(|p| description.contains(p.as_str()));
    let (field, excerpt) = match (by_name, by_description) {
        (true, _) => ("name", tool.name.to_string()),
        (false, Some(p)) => {
            let at = description.find(p.as_str()).unwrap_or(0);
            (
                "description",
                excerpt(tool.description.as_deref().unwrap_or(""), at),
            )
        }
        (false, None) => return None,
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
