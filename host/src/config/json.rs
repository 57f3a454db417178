//! Claude-Desktop style JSON: `{"mcpServers": {"NAME": {"command": ..}}}`.
//!
//! The file belongs to another application, so weft reads it unchanged:
//! other top-level keys are ignored, and per-server keys weft does not use
//! (such as `autoApprove`) are ignored with a warning rather than refused.

use std::path::Path;

use serde_json::{Map, Value};

use super::raw::{LazySecrets, RawServer, secrets_path};
use super::toml_file::field_error;
use super::{Config, ConfigError, Settings};

/// Per-server keys other MCP clients write that mean nothing to weft.
const FOREIGN_KEYS: &[&str] = &["autoApprove", "alwaysAllow", "description", "name", "icon"];

pub(super) fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        ConfigError::new(
            file,
            "(file)",
            format!(
                "not valid JSON (line {}, column {}): {e}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let servers_value = root
        .get("mcpServers")
        .or_else(|| root.get("servers"))
        .ok_or_else(|| {
            ConfigError::new(file, "mcpServers", "is missing")
                .hint("a JSON config holds {\"mcpServers\": {\"NAME\": {\"command\": \"...\"}}}; or write weft.toml")
        })?;
    let Some(entries) = servers_value.as_object() else {
        return Err(ConfigError::new(
            file,
            "mcpServers",
            "must be an object of NAME: {...} entries",
        ));
    };
    let mut settings = Settings::default();
    let mut secrets = LazySecrets::new(secrets_path(None, file));
    settings.secrets_file = secrets.path().map(Path::to_path_buf);
    settings.keys_file = super::tenant::key_file_path(None, file);
    let mut servers = Vec::new();
    for (name, entry) in entries {
        let key = format!("mcpServers.{name}");
        let Some(obj) = entry.as_object() else {
            return Err(ConfigError::new(file, key, "must be an object"));
        };
        let cleaned: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| {
                let foreign = FOREIGN_KEYS.contains(&k.as_str());
                if foreign {
                    tracing::warn!(server = %name, key = %k, "ignoring a key weft does not use");
                }
                !foreign
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let raw: RawServer = serde_json::from_value(Value::Object(cleaned))
            .map_err(|e| field_error(file, &key, &e.to_string()))?;
        servers.push(raw.into_config(name, file, &settings, &mut || secrets.get(), &[])?);
    }
    let secret_values = secrets.redacted_values(&servers);
    Ok(Config {
        source: None,
        settings,
        servers,
        policies: Vec::new(),
        tenants: Vec::new(),
        secret_values,
    })
}
