//! `weft secrets set|list|rm`: the secrets file `${secret:NAME}` reads,
//! kept at mode 0600 and rewritten atomically. Values go in on stdin and
//! never come out: `list` shows names only.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use crate::config::{Config, SecretStore};

use super::args::SecretsCommand;
use super::{FAILED, USAGE};

/// The top-level entry point for `weft secrets`.
pub fn run(config: &Config, cmd: SecretsCommand) -> ExitCode {
    let Some(path) = config.settings.secrets_file.clone() else {
        eprintln!(
            "weft: no secrets file: set `secrets = \"FILE\"` under [settings] or WEFT_SECRETS"
        );
        return ExitCode::from(USAGE);
    };
    let mut store = match SecretStore::open_or_new(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("weft: {e}");
            return ExitCode::from(USAGE);
        }
    };
    match cmd {
        SecretsCommand::Set { name, tenant } => {
            if let Err(e) = check_name(&name) {
                eprintln!("weft: {e}");
                return ExitCode::from(USAGE);
            }
            if let Some(t) = &tenant
                && config.tenant(t).is_none()
            {
                eprintln!("weft: no tenant named {t:?} in the config");
                return ExitCode::from(USAGE);
            }
            let value = match read_value(&name) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("weft: {e}");
                    return ExitCode::from(USAGE);
                }
            };
            store.set(tenant.as_deref(), &name, value);
            if let Err(e) = store.save() {
                eprintln!("weft: {e}");
                return ExitCode::from(FAILED);
            }
            eprintln!("weft: secret {name} saved in {}", path.display());
            ExitCode::SUCCESS
        }
        SecretsCommand::List { json } => {
            let names = store.names();
            if json {
                let v: Vec<_> = names
                    .iter()
                    .map(|(t, n)| serde_json::json!({"name": n, "tenant": t}))
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else if names.is_empty() {
                println!("no secrets in {}", path.display());
            } else {
                for (t, n) in names {
                    match t {
                        Some(t) => println!("{n}\t(tenant {t})"),
                        None => println!("{n}"),
                    }
                }
            }
            ExitCode::SUCCESS
        }
        SecretsCommand::Rm { name, tenant } => {
            if !store.remove(tenant.as_deref(), &name) {
                eprintln!("weft: no secret named {name:?} in {}", path.display());
                return ExitCode::from(FAILED);
            }
            if let Err(e) = store.save() {
                eprintln!("weft: {e}");
                return ExitCode::from(FAILED);
            }
            eprintln!("weft: secret {name} removed");
            ExitCode::SUCCESS
        }
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || name == "tenants"
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(anyhow::anyhow!(
            "{name:?} is not a secret name: use letters, digits, '_' and '-' (and not \"tenants\")"
        ));
    }
    Ok(())
}

/// One line from stdin; on a terminal, asked for without echo.
fn read_value(name: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let _echo = terminal.then(|| {
        eprint!("value for {name} (not shown): ");
        NoEcho::new()
    });
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the value from stdin: {e}"))?;
    if terminal {
        eprintln!();
    }
    let value = line.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        anyhow::bail!(
            "the value is empty; pipe it in, like `printf %s \"$TOKEN\" | weft secrets set NAME`"
        );
    }
    if value.len() < crate::redact::MIN_LEN {
        eprintln!(
            "weft: warning: values shorter than {} characters are not masked in output",
            crate::redact::MIN_LEN
        );
    }
    Ok(value)
}

/// Turns the terminal's echo off until dropped.
#[allow(unsafe_code)] // termios calls; each block says why it is sound
struct NoEcho(Option<libc::termios>);

#[allow(unsafe_code)]
impl NoEcho {
    fn new() -> NoEcho {
        // SAFETY: tcgetattr/tcsetattr on stdin with a zeroed termios that
        // tcgetattr fills in; failure leaves echo on and is harmless.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return NoEcho(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return NoEcho(None);
            }
            NoEcho(Some(saved))
        }
    }
}

#[allow(unsafe_code)]
impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the settings tcgetattr returned.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}
