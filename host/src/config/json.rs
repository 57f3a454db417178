//! Claude-Desktop style JSON: `{"mcpServers": {"NAME": {"command": ..}}}`.
//!
//! The file belongs to another application, so weft reads it unchanged:
//! other top-level keys and per-server keys weft does not use (such as
//! `autoApprove`) are ignored with a warning rather than refused. Besides
//! `mcpServers`, weft reads a top-level `policies` object (the keys of a
//! `[policies.NAME]` table) and a server's `envFile` (a dotenv file whose
//! values join the server's `env`, and are masked like secrets).

use std::path::Path;

use serde_json::{Map, Value};

use super::error::WHOLE_FILE;
use super::policy::RawPolicy;
use super::raw::RawServer;
use super::secrets::{LazySecrets, secrets_path};
use super::toml_errors::{field_error, nested_key};
use super::{Config, ConfigError, Position, Settings};

/// Per-server keys other MCP clients write that mean nothing to weft.
const FOREIGN_KEYS: &[&str] = &["autoApprove", "alwaysAllow", "description", "name", "icon"];

/// The top-level keys weft reads; any other is warned about.
const TOP_LEVEL: &[&str] = &["mcpServers", "servers", "policies"];

/// The largest dotenv file weft reads.
const MAX_ENV_FILE: u64 = 1 << 20;

pub(super) fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        let error = ConfigError::new(
            file,
            WHOLE_FILE,
            format!("not valid JSON: {}", json_message(&e)),
        );
        match e.line() {
            0 => error,
            line => error.at(Position {
                line,
                column: e.column().max(1),
            }),
        }
    })?;
    let section = if root.get("mcpServers").is_none() && root.get("servers").is_some() {
        "servers"
    } else {
        "mcpServers"
    };
    let servers_value = root.get(section).ok_or_else(|| {
            ConfigError::new(file, "mcpServers", "is missing")
                .hint("a JSON config holds {\"mcpServers\": {\"NAME\": {\"command\": \"...\"}}}; or write weft.toml")
        })?;
    if let Some(top) = root.as_object() {
        for key in top.keys().filter(|k| !TOP_LEVEL.contains(&k.as_str())) {
            let mut shown = key.clone();
            crate::util::truncate(&mut shown, 64);
            tracing::warn!(
                file = %file.display(),
                key = %shown,
                "ignoring a top-level key weft does not use (it reads {})",
                TOP_LEVEL.join(", ")
            );
        }
    }
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
    if let Some((own, notice)) = super::own_journal(file) {
        settings.journal = Some(own);
        settings.journal_notice = notice;
    }
    let mut servers = Vec::new();
    let mut env_file_values = Vec::new();
    for (name, entry) in entries {
        let key = format!("{section}.{name}");
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
        let mut cleaned = cleaned;
        let env_file = cleaned.remove("envFile");
        let mut raw: RawServer = from_json(Value::Object(cleaned), file, &key)?;
        if let Some(path) = env_file {
            let Some(path) = path.as_str() else {
                return Err(ConfigError::new(
                    file,
                    format!("{key}.envFile"),
                    "must be a path (a string)",
                ));
            };
            for (k, v) in read_env_file(file, &key, path)? {
                // The server's own `env` wins over its envFile.
                if let std::collections::btree_map::Entry::Vacant(slot) = raw.env.entry(k) {
                    env_file_values.push(v.clone());
                    slot.insert(v);
                }
            }
        }
        servers.push(raw.into_config(&key, name, file, &settings, &mut || secrets.get(), &[])?);
    }
    let mut policies = Vec::new();
    if let Some(v) = root.get("policies") {
        let Some(entries) = v.as_object() else {
            return Err(ConfigError::new(
                file,
                "policies",
                "must be an object of NAME: {\"path\": ..., \"grants\": [...]} entries",
            ));
        };
        for (name, entry) in entries {
            let key = format!("policies.{name}");
            let raw: RawPolicy = from_json(entry.clone(), file, &key)?;
            policies.push(raw.into_config(name, file)?);
        }
    }
    let mut secret_values = secrets.redacted_values(&servers);
    // An envFile holds credentials as often as not: mask every value.
    secret_values
        .0
        .extend(env_file_values.into_iter().filter(|v| !v.is_empty()));
    secret_values.0.sort();
    secret_values.0.dedup();
    Ok(Config {
        source: None,
        settings,
        servers,
        policies,
        tenants: Vec::new(),
        code: super::CodeConfig::default(),
        agent_oauth: None,
        secret_values,
    })
}

/// serde_json's message without the " at line L column C" it ends with
/// (the position is shown before it).
fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The variables of a server's `envFile` (dotenv syntax: `KEY=VALUE`
/// lines, `#` comments, optional quotes and `export`), relative to the
/// config's folder. Errors name the file and line, never a value.
fn read_env_file(file: &Path, key: &str, path: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let key = format!("{key}.envFile");
    let full = match file.parent() {
        Some(dir) if Path::new(path).is_relative() => dir.join(path),
        _ => Path::new(path).to_path_buf(),
    };
    let size = std::fs::metadata(&full)
        .map_err(|e| ConfigError::new(file, &key, format!("cannot read {}: {e}", full.display())))?
        .len();
    if size > MAX_ENV_FILE {
        return Err(ConfigError::new(
            file,
            &key,
            format!(
                "{} is {size} bytes, over the 1 MiB a dotenv file may have",
                full.display()
            ),
        ));
    }
    let iter = dotenvy::from_path_iter(&full).map_err(|e| {
        ConfigError::new(file, &key, format!("cannot read {}: {e}", full.display()))
    })?;
    let mut vars = Vec::new();
    for item in iter {
        let (k, v) = item.map_err(|e| {
            // dotenvy's parse errors quote the offending line, which may
            // hold a secret: say only where it is.
            let at = match &e {
                dotenvy::Error::LineParse(_, index) => format!(" near byte {index}"),
                _ => String::new(),
            };
            ConfigError::new(
                file,
                &key,
                format!("{} is not a dotenv file{at}", full.display()),
            )
        })?;
        vars.push((k, v));
    }
    Ok(vars)
}

/// Reads one entry, naming the key of the value serde failed on.
fn from_json<T: serde::de::DeserializeOwned>(
    value: Value,
    file: &Path,
    key: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value)
        .map_err(|e| field_error(file, &nested_key(key, e.path()), &e.inner().to_string()))
}
