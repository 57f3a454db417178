//! `builtin:openapi`'s config, readied by weft before the component sees
//! it: the document (`spec`, `spec_file` or `spec_url`), the part of it
//! served (`tags`, `operations`, `exclude`), where requests go
//! (`base_url`, or the document's first `servers` URL with its
//! variables filled in from `server_variables` and their defaults), and
//! the credentials of `[servers.NAME.security.SCHEME]`, which weft adds
//! to requests for the API's host itself.
//!
//! A document in the config (`spec`, `spec_file`) is readied here, at
//! load; one at `spec_url` is readied the same way ([`ready`]) when the
//! server starts, after weft fetches it through the server's egress.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ConfigError;
use super::egress::EgressConfig;
use crate::openapi::{self, MAX_SPEC, Selection};

/// A server's `[servers.NAME.security]`: scheme name → its keys, secrets
/// resolved. `Debug` shows the scheme names only.
#[derive(Clone, Default, PartialEq)]
pub struct Security(pub BTreeMap<String, BTreeMap<String, String>>);

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The keys of `[servers.NAME.config]` weft reads for `builtin:openapi`
/// and does not pass on.
const HOST_KEYS: [&str; 3] = ["spec_file", "spec_url", "server_variables"];

const HINT: &str = "set `spec_url` (fetched by weft through the server's egress), `spec_file = \"openapi.yaml\"` (read by weft, JSON or YAML) or `spec` (the document itself)";

/// Why a document cannot be readied: the config key it is about, and
/// what is wrong.
#[derive(Debug)]
pub struct NotReady {
    /// The key under `[servers.NAME.config]` (or `security.SCHEME`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn not_ready(key: &str, message: impl ToString) -> NotReady {
    NotReady {
        key: key.to_string(),
        message: message.to_string(),
    }
}

/// Readies `builtin:openapi`'s config at load. With `spec_url`, only the
/// URL's form and the selection keys are checked, and the URL is
/// returned (taken out of the table): the document is readied when the
/// server starts.
pub(crate) fn prepare(
    config: &mut Value,
    security: &Security,
    egress: Option<&mut EgressConfig>,
    file: &Path,
    entry: &str,
) -> Result<Option<String>, ConfigError> {
    let key = |k: &str| format!("{entry}.config.{k}");
    let Some(table) = config.as_object_mut() else {
        return Ok(None);
    };
    if !security.0.is_empty() && egress.is_none() {
        return Err(ConfigError::new(
            file,
            format!("{entry}.security"),
            "applies only with an `egress` list: weft adds the credentials to the adapter's requests",
        ));
    }
    if let Some(url) = table.get("spec_url") {
        if table.contains_key("spec_file") || table.contains_key("spec") {
            return Err(ConfigError::new(
                file,
                key("spec_url"),
                "cannot be combined with `spec_file` or `spec`",
            )
            .hint(HINT));
        }
        let parsed = url
            .as_str()
            .and_then(|u| url::Url::parse(u).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
        let Some(parsed) = parsed else {
            return Err(ConfigError::new(
                file,
                key("spec_url"),
                "must be an http:// or https:// URL, as a string",
            ));
        };
        if egress.is_none() {
            return Err(ConfigError::new(
                file,
                key("spec_url"),
                "needs an `egress` list that allows it: weft fetches the document through the server's egress",
            ));
        }
        // The same checks the start will make, said now.
        Selection::take(&mut table.clone())
            .map_err(|e| ConfigError::new(file, format!("{entry}.config"), e.to_string()))?;
        table.remove("spec_url");
        return Ok(Some(parsed.to_string()));
    }
    let (doc, field) = match (table.remove("spec_file"), table.remove("spec")) {
        (Some(_), Some(_)) => {
            return Err(
                ConfigError::new(file, key("spec_file"), "cannot be combined with `spec`")
                    .hint(HINT),
            );
        }
        (Some(Value::String(p)), None) => (read_spec(&p, file, &key("spec_file"))?, "spec_file"),
        (Some(_), None) => {
            return Err(ConfigError::new(
                file,
                key("spec_file"),
                "must be a path, as a string",
            ));
        }
        (None, Some(Value::String(text))) => {
            let doc = openapi::parse(text.as_bytes())
                .map_err(|e| ConfigError::new(file, key("spec"), e.to_string()))?;
            (doc, "spec")
        }
        (None, Some(doc @ Value::Object(_))) => (doc, "spec"),
        (None, Some(_)) => {
            return Err(ConfigError::new(
                file,
                key("spec"),
                "must be a table, or JSON or YAML text",
            ));
        }
        (None, None) => {
            return Err(ConfigError::new(
                file,
                format!("{entry}.config"),
                "builtin:openapi needs an OpenAPI document",
            )
            .hint(HINT));
        }
    };
    ready(table, doc, None, security, egress).map_err(|e| {
        let shown = match e.key.as_str() {
            "spec" => key(field),
            k if k.starts_with("security") => format!("{entry}.{k}"),
            k => key(k),
        };
        ConfigError::new(file, shown, e.message)
    })?;
    Ok(None)
}

/// The document at `path` (relative to the config file), at most
/// [`MAX_SPEC`] bytes of JSON or YAML.
fn read_spec(path: &str, file: &Path, key: &str) -> Result<Value, ConfigError> {
    let full = match file.parent() {
        Some(dir) if Path::new(path).is_relative() => dir.join(path),
        _ => PathBuf::from(path),
    };
    let shown = full.display();
    let size = std::fs::metadata(&full)
        .map_err(|e| ConfigError::new(file, key, format!("cannot read {shown}: {e}")))?
        .len();
    if size > MAX_SPEC {
        return Err(ConfigError::new(
            file,
            key,
            format!("{shown} is {size} bytes, over the cap of {MAX_SPEC}"),
        )
        .hint("serve a part of the API from a smaller document"));
    }
    let text = std::fs::read(&full)
        .map_err(|e| ConfigError::new(file, key, format!("cannot read {shown}: {e}")))?;
    openapi::parse(&text).map_err(|e| ConfigError::new(file, key, format!("{shown} {e}")))
}

/// Readies `doc` for the component in `table` (a server's config): cut to
/// the selection, checked, its base URL decided (against `spec_url` for
/// a relative `servers` URL), the security schemes' credentials added to
/// `egress` for the API's host, and handed over as `spec`. The keys only
/// weft reads are taken out of the table.
pub(crate) fn ready(
    table: &mut Map<String, Value>,
    mut doc: Value,
    spec_url: Option<&str>,
    security: &Security,
    egress: Option<&mut EgressConfig>,
) -> Result<(), NotReady> {
    let selection = Selection::take(table).map_err(|e| not_ready("operations", e))?;
    let applied = selection.apply(&mut doc);
    openapi::check(&doc).map_err(|e| not_ready("spec", e))?;
    if !applied.unmatched.is_empty() {
        tracing::warn!(target: "weft::config", "builtin:openapi: these chose no operation: {}", applied.unmatched.join(", "));
    }
    let base = base_url(table, &doc, spec_url)?;
    let injections =
        openapi::injections(&doc, &security.0).map_err(|e| not_ready("security", e))?;
    if let Some(egress) = egress {
        egress
            .inject(&base, &injections)
            .map_err(|e| not_ready("security", e))?;
    }
    for k in HOST_KEYS {
        table.remove(k);
    }
    table.insert("base_url".into(), Value::String(base));
    table.insert("spec".into(), doc);
    Ok(())
}

/// Where requests go: `base_url`, else the document's first `servers`
/// URL with its variables filled in (`server_variables`, then each
/// variable's `default`), taken on `spec_url` when it is relative.
fn base_url(
    table: &Map<String, Value>,
    doc: &Value,
    spec_url: Option<&str>,
) -> Result<String, NotReady> {
    let checked = |text: &str, key: &str| {
        let url = url::Url::parse(text)
            .map_err(|e| not_ready(key, format!("{text:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(not_ready(
                key,
                format!("{text:?} is not an http:// or https:// URL with a host"),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(not_ready(
                key,
                format!("{text:?} may not hold a query, a fragment or user info"),
            ));
        }
        Ok(url.as_str().trim_end_matches('/').to_string())
    };
    match table.get("base_url") {
        Some(Value::String(b)) => return checked(b, "base_url"),
        Some(_) => return Err(not_ready("base_url", "must be a URL, as a string")),
        None => {}
    }
    let Some(server) = doc.pointer("/servers/0") else {
        return Err(not_ready(
            "base_url",
            "is not set, and the document names no `servers` URL to call",
        ));
    };
    let template = server.get("url").and_then(Value::as_str).unwrap_or("");
    let overrides = match table.get("server_variables") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(not_ready(
                "server_variables",
                "must be a table of variable = \"value\"",
            ));
        }
    };
    let filled = fill(template, server.get("variables"), &overrides)?;
    if filled.starts_with("http://") || filled.starts_with("https://") {
        return checked(&filled, "base_url");
    }
    let Some(spec_url) = spec_url else {
        return Err(not_ready(
            "base_url",
            format!(
                "is not set, and the document's `servers` URL {filled:?} is relative: set base_url = \"https://HOST/PREFIX\""
            ),
        ));
    };
    let joined = url::Url::parse(spec_url)
        .and_then(|u| u.join(&filled))
        .map_err(|e| not_ready("base_url", format!("{filled:?} on {spec_url:?}: {e}")))?;
    checked(joined.as_str(), "base_url")
}

/// `template` with each `{name}` replaced by its value: the override,
/// else the variable's `default`.
fn fill(
    template: &str,
    variables: Option<&Value>,
    overrides: &Map<String, Value>,
) -> Result<String, NotReady> {
    for name in overrides.keys() {
        if variables.and_then(|v| v.get(name)).is_none() {
            return Err(not_ready(
                "server_variables",
                format!("the document's server URL {template:?} has no variable {name:?}"),
            ));
        }
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(not_ready(
                "base_url",
                format!("the server URL {template:?} has an unclosed `{{`"),
            ));
        };
        let name = &rest[open + 1..open + close];
        let var = variables.and_then(|v| v.get(name));
        let value = match overrides.get(name) {
            Some(Value::String(v)) => {
                let allowed = var.and_then(|v| v.get("enum")).and_then(Value::as_array);
                if let Some(allowed) = allowed
                    && !allowed.iter().any(|a| a.as_str() == Some(v.as_str()))
                {
                    return Err(not_ready(
                        "server_variables",
                        format!(
                            "{name} = {v:?} is not one of the document's values ({})",
                            Value::Array(allowed.clone())
                        ),
                    ));
                }
                v.clone()
            }
            Some(_) => {
                return Err(not_ready(
                    "server_variables",
                    format!("{name} must be a string"),
                ));
            }
            None => match var.and_then(|v| v.get("default")).and_then(Value::as_str) {
                Some(d) => d.to_string(),
                None => {
                    return Err(not_ready(
                        "server_variables",
                        format!(
                            "the server URL {template:?} needs a value for {{{name}}}: set it in server_variables"
                        ),
                    ));
                }
            },
        };
        out.push_str(&value);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base(config: Value, doc: Value, spec_url: Option<&str>) -> Result<String, String> {
        let table = config.as_object().cloned().unwrap_or_default();
        base_url(&table, &doc, spec_url).map_err(|e| format!("{}: {}", e.key, e.message))
    }

    #[test]
    fn server_variables_take_overrides_then_defaults() {
        let doc = json!({"servers": [{"url": "https://{region}.api.test:{port}/v1", "variables": {
            "region": {"default": "eu", "enum": ["eu", "us"]},
            "port": {"default": "443"},
        }}]});
        assert_eq!(
            base(json!({}), doc.clone(), None),
            Ok("https://eu.api.test/v1".into())
        );
        assert_eq!(
            base(
                json!({"server_variables": {"region": "us", "port": "8443"}}),
                doc.clone(),
                None
            ),
            Ok("https://us.api.test:8443/v1".into())
        );
        assert_eq!(
            base(json!({"server_variables": {"region": "mars"}}), doc.clone(), None),
            Err("server_variables: region = \"mars\" is not one of the document's values ([\"eu\",\"us\"])".into())
        );
        assert_eq!(
            base(json!({"server_variables": {"zone": "a"}}), doc, None),
            Err("server_variables: the document's server URL \"https://{region}.api.test:{port}/v1\" has no variable \"zone\"".into())
        );
    }

    #[test]
    fn a_relative_server_is_taken_on_spec_url() {
        let doc = json!({"servers": [{"url": "/api/v2"}]});
        assert_eq!(
            base(
                json!({}),
                doc.clone(),
                Some("http://h.test:8080/docs/openapi.yaml")
            ),
            Ok("http://h.test:8080/api/v2".into())
        );
        assert!(base(json!({}), doc, None).is_err());
        assert_eq!(
            base(json!({"base_url": "http://x.test/p/"}), json!({}), None),
            Ok("http://x.test/p".into())
        );
        for bad in [
            "ftp://x.test",
            "http://u@x.test",
            "http://x.test/?q=1",
            "x.test",
        ] {
            assert!(
                base(json!({ "base_url": bad }), json!({}), None).is_err(),
                "{bad}"
            );
        }
    }
}
