//! Errors for weft's TOML format that name the exact key they are about:
//! each section is read on its own ([`section`]), and serde's and the TOML
//! parser's messages become config errors with the key, the closest known
//! key to an unknown one, and the line.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;
use super::error::WHOLE_FILE;

/// Reads a server's resilience sub-tables on their own first, so an error
/// in one names its full key (`servers.NAME.restart.initial`).
pub(super) fn check_subtables(
    entry: &toml::Value,
    file: &Path,
    key: &str,
) -> Result<(), ConfigError> {
    use super::resilience::{RawBreaker, RawCache, RawRestart, RawRetry};
    let Some(table) = entry.as_table() else {
        return Ok(());
    };
    for (name, value) in table {
        let sub = format!("{key}.{name}");
        match name.as_str() {
            "restart" => section::<RawRestart>(value, file, &sub).map(drop)?,
            "retry" => section::<RawRetry>(value, file, &sub).map(drop)?,
            "breaker" => section::<RawBreaker>(value, file, &sub).map(drop)?,
            "cache" => section::<RawCache>(value, file, &sub).map(drop)?,
            "sandbox" if value.is_table() => {
                section::<super::sandbox::RawSandboxTable>(value, file, &sub).map(drop)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads one section, turning serde's message into one that names the key.
pub(super) fn section<T: DeserializeOwned>(
    value: &toml::Value,
    file: &Path,
    key: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let at = nested_key(key, e.path());
        field_error(file, &at, e.inner().message())
    })
}

/// The key path of a value serde failed on: `key` and the path inside it
/// (`servers.git` and `env.TOKEN`), so an error points at the value itself
/// rather than at the table it is in.
pub(super) fn nested_key(key: &str, path: &serde_path_to_error::Path) -> String {
    let inner = path.to_string();
    if inner == "." || inner.is_empty() {
        key.to_string()
    } else if inner.starts_with('[') {
        format!("{key}{inner}")
    } else {
        format!("{key}.{inner}")
    }
}

/// The error for text that is not TOML, at the place the parser gives.
pub(super) fn syntax_error(text: &str, file: &Path, e: &toml::de::Error) -> ConfigError {
    let error = ConfigError::new(
        file,
        WHOLE_FILE,
        format!("not valid TOML: {}", e.message().trim()),
    )
    .hint("weft reads TOML (weft.toml) or Claude-Desktop JSON ({\"mcpServers\": {...}})");
    match e.span() {
        Some(span) => error.at_offset(text, span.start),
        None => error,
    }
}

/// Makes a config error from a serde message, naming the field when serde
/// says which one it is about, and the closest known key to an unknown one.
pub(super) fn field_error(file: &Path, key: &str, message: &str) -> ConfigError {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        // "expected one of `a`, `b`" or "expected `a`": the quoted names.
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        // A path to the value names the unknown key itself; the error is
        // about the table it was written in.
        let table = key
            .strip_suffix(field)
            .and_then(|k| k.strip_suffix('.'))
            .unwrap_or(key);
        return ConfigError::unknown_key(file, table, field, &known);
    }
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return ConfigError::new(file, format!("{key}.{field}"), "is required but missing");
    }
    ConfigError::new(file, key, message.to_string())
}
