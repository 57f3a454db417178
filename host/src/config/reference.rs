//! The config file's JSON Schema and its Markdown reference, both made from
//! the types the file is read into (`Raw*`), so neither can drift from
//! the code: each field's doc comment is its description, and its
//! `#[schemars(extend("default" = …))]` its default.
//!
//! `weft config schema` prints the schema (for editors: TOML language
//! servers take a JSON Schema); `weft config reference` prints the
//! reference that `docs/configuration-reference.md` holds, and a test
//! fails when the two differ.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::agent_oauth::RawAgentOAuth;
use super::code::RawCode;
use super::policy::RawPolicy;
use super::raw::RawServer;
use super::tenant::RawTenant;
use super::toml_file::RawSettings;

/// A weft config file (TOML, or the same keys as JSON).
#[derive(schemars::JsonSchema)]
#[schemars(title = "weft config", deny_unknown_fields)]
#[allow(dead_code)]
struct ConfigFile {
    /// Settings of the whole process.
    settings: Option<RawSettings>,
    /// The MCP servers weft connects to, by name (`[servers.NAME]`).
    servers: Option<BTreeMap<String, RawServer>>,
    /// Policies: Wasm components agents and `weft run` can run, by name.
    policies: Option<BTreeMap<String, RawPolicy>>,
    /// Tenants: who may connect to `weft serve`, and what each sees.
    tenants: Option<BTreeMap<String, RawTenant>>,
    /// Code mode: programs agents submit (`weft_run_code`, `weft exec`).
    code: Option<RawCode>,
    /// Agents' OAuth on `weft serve --http`: JWTs checked against an issuer.
    oauth: Option<RawAgentOAuth>,
}

/// The top-level tables, in the reference's order.
const TOP_LEVEL: [&str; 6] = [
    "settings", "servers", "policies", "tenants", "code", "oauth",
];

/// An example of every key, as a config file would write it: the
/// reference's example column is read from here, and a test fails on a
/// key it lacks (and on the file, should the schema refuse it).
pub const EXAMPLES: &str = include_str!("../../../docs/config-examples.toml");

/// Names for the value types several keys share, by their definition.
const NAMED: [(&str, &str); 2] = [("RawDuration", "duration"), ("RawAmount", "amount")];

/// The JSON Schema of a config file.
pub fn schema() -> Value {
    schemars::schema_for!(ConfigFile).to_value()
}

/// The tables of the config, in the order the reference shows them:
/// (heading, the schema of the table, its definition's name).
fn tables(root: &Value) -> Vec<(String, Value)> {
    let defs = root.get("$defs").cloned().unwrap_or_default();
    let mut out = Vec::new();
    let mut queue: Vec<(String, Value)> = Vec::new();
    // The top-level tables in the order a config file usually has them
    // (the queue pops from its end).
    for key in TOP_LEVEL.iter().rev() {
        if let Some(schema) = root.get("properties").and_then(|p| p.get(*key)) {
            queue.push((key.to_string(), schema.clone()));
        }
    }
    while let Some((path, schema)) = queue.pop() {
        let Some(table) = table_of(&schema, &defs) else {
            continue;
        };
        let path = if is_map(&schema, &defs) {
            format!("{path}.NAME")
        } else {
            path
        };
        if let Some(props) = table.get("properties").and_then(Value::as_object) {
            // Nested tables, after this one (the queue pops from the end).
            let mut nested: Vec<(String, Value)> = props
                .iter()
                .filter(|(_, s)| table_of(s, &defs).is_some())
                .map(|(k, s)| (format!("{path}.{k}"), s.clone()))
                .collect();
            nested.reverse();
            queue.extend(nested);
        }
        out.push((path, table));
    }
    out
}

/// The object schema `schema` stands for (through `$ref`, `Option`, a map's
/// values, or a choice with one table), if it is a table.
fn table_of(schema: &Value, defs: &Value) -> Option<Value> {
    let resolved = resolve(schema, defs);
    if resolved.get("properties").is_some() {
        return Some(resolved);
    }
    if let Some(values) = resolved
        .get("additionalProperties")
        .filter(|v| v.is_object())
    {
        return table_of(values, defs);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(choices) = resolved.get(key).and_then(Value::as_array) {
            let tables: Vec<Value> = choices.iter().filter_map(|c| table_of(c, defs)).collect();
            if tables.len() == 1 {
                return tables.into_iter().next();
            }
        }
    }
    None
}

/// Whether `schema` is a map of named tables (`[servers.NAME]`).
fn is_map(schema: &Value, defs: &Value) -> bool {
    let resolved = resolve(schema, defs);
    let direct = resolved
        .get("additionalProperties")
        .is_some_and(Value::is_object);
    let optional = ["anyOf", "oneOf"].iter().any(|k| {
        resolved
            .get(*k)
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|c| is_map(c, defs)))
    });
    direct || optional
}

/// `schema` with a `$ref` followed into `defs`.
fn resolve(schema: &Value, defs: &Value) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or(r);
            defs.get(name).cloned().unwrap_or_default()
        }
        None => schema.clone(),
    }
}

/// A short name of the values `schema` takes.
fn type_name(schema: &Value, defs: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        if let Some((_, named)) = NAMED.iter().find(|(def, _)| *def == name) {
            return named.to_string();
        }
    }
    let resolved = resolve(schema, defs);
    if table_of(&resolved, defs).is_some() && resolved.get("anyOf").is_none() {
        return "table".into();
    }
    if let Some(choices) = resolved
        .get("anyOf")
        .or_else(|| resolved.get("oneOf"))
        .and_then(Value::as_array)
    {
        let mut names: Vec<String> = choices
            .iter()
            .map(|c| type_name(c, defs))
            .filter(|n| n != "null")
            .collect();
        names.dedup();
        return names.join(" or ");
    }
    match resolved.get("type") {
        Some(Value::Array(types)) => {
            let names: Vec<String> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .map(|t| scalar(t, &resolved, defs))
                .collect();
            names.join(" or ")
        }
        Some(Value::String(t)) => scalar(t, &resolved, defs),
        _ => "any".into(),
    }
}

fn scalar(t: &str, schema: &Value, defs: &Value) -> String {
    match t {
        "array" => match schema.get("items") {
            Some(items) => format!("list of {}", type_name(items, defs)),
            None => "list".into(),
        },
        "object" => match schema.get("additionalProperties") {
            Some(values) if values.is_object() => format!("table of {}", type_name(values, defs)),
            _ => "table".into(),
        },
        "integer" => "integer".into(),
        "number" => "number".into(),
        "boolean" => "boolean".into(),
        other => other.to_string(),
    }
}

/// The value `EXAMPLES` writes for `key` in the table at `path` (its
/// `NAME` segments matching any name), as TOML.
fn example_of(examples: &toml::Table, path: &str, key: &str) -> Option<String> {
    fn find(table: &toml::Table, path: &[&str], key: &str) -> Option<String> {
        match path.split_first() {
            None => table.get(key).map(ToString::to_string),
            Some((&"NAME", rest)) => table
                .values()
                .filter_map(toml::Value::as_table)
                .find_map(|t| find(t, rest, key)),
            Some((segment, rest)) => find(table.get(*segment)?.as_table()?, rest, key),
        }
    }
    let segments: Vec<&str> = path.split('.').collect();
    find(examples, &segments, key)
}

/// Every `[table] key` of the reference that `EXAMPLES` gives no example
/// of.
pub fn keys_without_example() -> Vec<String> {
    let root = schema();
    let examples: toml::Table = EXAMPLES.parse().unwrap_or_default();
    let mut missing = Vec::new();
    for (path, table) in tables(&root) {
        let keys = table.get("properties").and_then(Value::as_object);
        for key in keys.into_iter().flat_map(|p| p.keys()) {
            if example_of(&examples, &path, key).is_none() {
                missing.push(format!("[{path}] {key}"));
            }
        }
    }
    missing
}

/// A value as a reference cell shows it.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s:?}`"),
        other => format!("`{other}`"),
    }
}

/// One line of text for a table cell: paragraphs joined, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The Markdown reference of every key: one table per config table.
pub fn markdown() -> String {
    let root = schema();
    let examples: toml::Table = EXAMPLES.parse().unwrap_or_default();
    let defs = root.get("$defs").cloned().unwrap_or_default();
    let mut out = String::from(
        "# Configuration reference\n\n\
         Every key weft's config file takes, table by table: its type, its \
         default, an example and what it does. This page is generated from the \
         types the config is read into (`weft config reference`), and a test \
         fails when it differs from them; `weft config schema` prints the same \
         as a JSON Schema for editors. The examples come from \
         [config-examples.toml](config-examples.toml), which has every key \
         and which the schema is tested to take. How the pieces fit together: \
         [configuration](configuration.md).\n\n\
         A duration is a number of seconds or a string with a unit (`\"30s\"`, \
         `\"2m\"`); an amount is a number or a string with a unit (`\"64MiB\"` \
         for memory and sizes, `\"2G\"` for fuel).\n",
    );
    for (path, table) in tables(&root) {
        out += &format!("\n## `[{path}]`\n\n");
        if let Some(d) = table.get("description").and_then(Value::as_str) {
            out += &format!("{}\n\n", cell(d));
        }
        out += "| key | type | default | example | description |\n|---|---|---|---|---|\n";
        let empty = Map::new();
        let props = table
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (key, schema) in props {
            let description = schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            let default = schema.get("default").map(shown).unwrap_or_default();
            let mut text = cell(description);
            if let Some(examples) = schema.get("examples").and_then(Value::as_array) {
                let shown: Vec<String> = examples.iter().map(shown).collect();
                text += &format!(" Example: {}.", shown.join(", "));
            }
            let example = example_of(&examples, &path, key)
                .map(|e| format!("`{}`", cell(&e).replace('`', "'")))
                .unwrap_or_default();
            out += &format!(
                "| `{key}` | {} | {default} | {example} | {} |\n",
                cell(&type_name(schema, &defs)),
                text.trim()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples file has a value for every key the reference lists.
    #[test]
    fn every_key_has_an_example() {
        let missing = keys_without_example();
        assert!(
            missing.is_empty(),
            "docs/config-examples.toml has no example of:\n{}",
            missing.join("\n")
        );
    }

    /// The examples are a config the schema takes as it is.
    #[test]
    fn the_examples_are_a_valid_config() {
        let examples: toml::Table = EXAMPLES.parse().expect("the examples are TOML");
        let instance = serde_json::to_value(&examples).expect("as JSON");
        let validator = jsonschema::validator_for(&schema()).expect("a schema");
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }
}
