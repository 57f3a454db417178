//! `weft keys add|list|rm`: tenants' API keys. A key is printed once, when
//! it is made; the key file keeps only its hash.

use std::process::ExitCode;

use crate::config::{Config, KeyEntry, KeyFile};
use crate::tenant::keys;

use super::args::KeysCommand;
use super::{FAILED, USAGE};

/// The top-level entry point for `weft keys`.
pub fn run(config: &Config, cmd: KeysCommand) -> ExitCode {
    let path = &config.settings.keys_file;
    let mut file = match KeyFile::load(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("weft: {e}");
            return ExitCode::from(USAGE);
        }
    };
    match cmd {
        KeysCommand::Add { tenant } => {
            if config.tenant(&tenant).is_none() {
                let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
                let hint = if names.is_empty() {
                    "the config defines no tenants; add a [tenants.NAME] table first".to_string()
                } else {
                    format!("tenants: {}", names.join(", "))
                };
                eprintln!("weft: no tenant named {tenant:?} in the config; {hint}");
                return ExitCode::from(USAGE);
            }
            let (key, id) = match keys::generate() {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("weft: no key was made: {e}");
                    return ExitCode::from(FAILED);
                }
            };
            file.keys.push(KeyEntry {
                id: id.clone(),
                tenant: tenant.clone(),
                hash: keys::hash(&key),
                created: Some(crate::audit::now()),
            });
            if let Err(e) = save(path, &file) {
                eprintln!("weft: {e}");
                return ExitCode::from(FAILED);
            }
            println!("{key}");
            eprintln!(
                "weft: key {id} for tenant {tenant:?} recorded in {} (as a hash); this is the only time the key is shown",
                path.display()
            );
            ExitCode::SUCCESS
        }
        KeysCommand::List { tenant, json } => {
            let mut rows: Vec<&KeyEntry> = file.keys.iter().collect();
            let inline: Vec<KeyEntry> = config
                .tenants
                .iter()
                .flat_map(|t| t.keys.iter().filter(|k| k.created.is_none()).cloned())
                .filter(|k| !file.keys.iter().any(|f| f.id == k.id))
                .collect();
            rows.extend(inline.iter());
            rows.retain(|k| tenant.as_deref().is_none_or(|t| k.tenant == t));
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|k| serde_json::json!({"id": k.id, "tenant": k.tenant, "created": k.created}))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else if rows.is_empty() {
                println!("no keys; make one with `weft keys add TENANT`");
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.clone(),
                            k.tenant.clone(),
                            k.created
                                .clone()
                                .unwrap_or_else(|| "(inline in config)".into()),
                        ]
                    })
                    .collect();
                super::table::print(&["ID", "TENANT", "CREATED"], &table, None);
            }
            ExitCode::SUCCESS
        }
        KeysCommand::Rm { id } => {
            let before = file.keys.len();
            file.keys.retain(|k| k.id != id);
            if file.keys.len() == before {
                eprintln!(
                    "weft: no key {id:?} in {} (inline keys are removed from the config itself)",
                    path.display()
                );
                return ExitCode::from(FAILED);
            }
            if let Err(e) = save(path, &file) {
                eprintln!("weft: {e}");
                return ExitCode::from(FAILED);
            }
            eprintln!(
                "weft: key {id} revoked (a running weft serve --http refuses it within a second or two)"
            );
            ExitCode::SUCCESS
        }
    }
}

fn save(path: &std::path::Path, file: &KeyFile) -> anyhow::Result<()> {
    let text = toml::to_string(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = format!("# weft API keys: hashes only, managed by `weft keys`.\n{text}");
    crate::util::write_private(path, text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write the key file {}: {e}", path.display()))
}
