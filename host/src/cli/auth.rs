//! `weft auth login|status|logout`: OAuth logins to the servers whose
//! entry has `oauth`. Tokens live in the secrets file, per tenant for a
//! server run once per tenant (see `upstream::oauth`).

use std::process::ExitCode;

use crate::config::oauth::OAuthConfig;
use crate::config::{Config, ServerConfig, Transport};
use crate::upstream::oauth::{self, Loopback, OAuth};

use super::args::AuthCommand;
use super::{FAILED, USAGE};

/// The top-level entry point for `weft auth`.
pub async fn run(config: &Config, cmd: AuthCommand) -> ExitCode {
    match cmd {
        AuthCommand::Login {
            server,
            tenant,
            scope,
            port,
            no_browser,
        } => {
            let oauth = match pick(config, &server, tenant) {
                Ok(o) => o,
                Err(e) => return usage(format!("{e:#}")),
            };
            let loopback = match Loopback::bind(port, !no_browser).await {
                Ok(l) => l,
                Err(e) => {
                    return usage(format!(
                        "cannot listen on 127.0.0.1:{port} for the login: {e}"
                    ));
                }
            };
            match oauth::login(&oauth, &loopback, &scope).await {
                Ok(scopes) => {
                    let granted = if scopes.is_empty() {
                        String::new()
                    } else {
                        format!(" (scopes: {})", scopes.join(" "))
                    };
                    eprintln!("weft: logged in to {server}{granted}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("weft: {e}");
                    ExitCode::from(FAILED)
                }
            }
        }
        AuthCommand::Logout { server, tenant } => {
            let oauth = match pick(config, &server, tenant) {
                Ok(o) => o,
                Err(e) => return usage(format!("{e:#}")),
            };
            match oauth::logout(&oauth).await {
                Ok(true) => {
                    eprintln!("weft: logged out of {server}");
                    ExitCode::SUCCESS
                }
                Ok(false) => {
                    eprintln!("weft: no login for {server} was stored");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("weft: {e}");
                    ExitCode::from(FAILED)
                }
            }
        }
        AuthCommand::Status { json } => status(config, json).await,
    }
}

fn usage(message: String) -> ExitCode {
    eprintln!("weft: {message}");
    ExitCode::from(USAGE)
}

/// The OAuth settings of a server entry, if it has them.
fn oauth_of(server: &ServerConfig) -> Option<(&str, &OAuthConfig)> {
    match &server.transport {
        Transport::Http {
            url,
            oauth: Some(o),
            ..
        } => Some((url.as_str(), o)),
        _ => None,
    }
}

/// The OAuth state of `server` as `tenant`, reaching its authorization
/// server with the server's own TLS settings.
fn state_of(server: &ServerConfig, tenant: Option<String>) -> Option<OAuth> {
    let (url, oauth) = oauth_of(server)?;
    let state = OAuth::new(&server.name, tenant, url, oauth.clone());
    Some(match &server.transport {
        Transport::Http { tls, .. } => state.with_tls((**tls).clone()),
        _ => state,
    })
}

/// The OAuth state of `name` (as `tenant`), or why there is none.
fn pick(config: &Config, name: &str, tenant: Option<String>) -> anyhow::Result<OAuth> {
    let Some(server) = config.server(name) else {
        let names = config.servers.iter().map(|s| s.name.as_str());
        let hint = crate::util::closest(name, names)
            .map(|c| format!("; did you mean {c:?}?"))
            .unwrap_or_default();
        return Err(anyhow::anyhow!(
            "no server named {name:?} in the config{hint}"
        ));
    };
    let Some((_, oauth)) = oauth_of(server) else {
        return Err(anyhow::anyhow!(
            "{name} does not use OAuth; add `oauth = true` to [servers.{name}] (it must have a `url`)"
        ));
    };
    if oauth.grant.is_machine() {
        return Err(anyhow::anyhow!(
            "{name} uses the {} grant: weft gets its tokens itself, with no login",
            oauth.grant.name()
        ));
    }
    match (&tenant, server.per_tenant) {
        (Some(t), _) if config.tenant(t).is_none() => {
            return Err(anyhow::anyhow!("no tenant named {t:?} in the config"));
        }
        (Some(_), false) => {
            return Err(anyhow::anyhow!(
                "{name} is shared between tenants, so its login is too; leave out --tenant"
            ));
        }
        (None, true) if !config.tenants.is_empty() => {
            return Err(anyhow::anyhow!(
                "{name} runs once per tenant, each with its own login; add --tenant NAME"
            ));
        }
        _ => {}
    }
    state_of(server, tenant).ok_or_else(|| anyhow::anyhow!("{name} does not use OAuth"))
}

/// `weft auth status`: every OAuth server (and tenant), from the store.
async fn status(config: &Config, json: bool) -> ExitCode {
    let mut rows = Vec::new();
    for server in &config.servers {
        let Some((_, oauth)) = oauth_of(server) else {
            continue;
        };
        let tenants: Vec<Option<String>> = if server.per_tenant && !config.tenants.is_empty() {
            config
                .tenants
                .iter()
                .map(|t| Some(t.name.clone()))
                .collect()
        } else {
            vec![None]
        };
        for tenant in tenants {
            let Some(state) = state_of(server, tenant.clone()) else {
                continue;
            };
            let s = oauth::status(&state).await;
            rows.push((server.name.clone(), tenant, oauth.grant, s));
        }
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(name, tenant, grant, s)| {
                serde_json::json!({
                    "server": name,
                    "tenant": tenant,
                    "grant": grant.name(),
                    "logged_in": s.logged_in,
                    "client_id": s.client_id,
                    "scopes": s.scopes,
                    "expires_in": s.expires_in,
                    "refreshable": s.refreshable,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return ExitCode::SUCCESS;
    }
    if rows.is_empty() {
        eprintln!("weft: no server uses OAuth (add `oauth = true` to an HTTP server's entry)");
        return ExitCode::SUCCESS;
    }
    for (name, tenant, grant, s) in rows {
        let who = match &tenant {
            Some(t) => format!("{name} [{t}]"),
            None => name,
        };
        let state = match (grant, s.logged_in) {
            (g, _) if g.is_machine() => format!("{} (no login needed)", g.name().replace('_', " ")),
            (_, false) => format!("not logged in: run `weft auth login {}`", login_args(&who)),
            (_, true) => {
                let expiry = match s.expires_in {
                    Some(left) if left > 0 => format!("token expires in {left} s"),
                    Some(_) if s.refreshable => "token expired; weft refreshes it on use".into(),
                    Some(_) => "token expired; log in again".into(),
                    None => "token with no stated expiry".into(),
                };
                let scopes = if s.scopes.is_empty() {
                    String::new()
                } else {
                    format!(", scopes {}", s.scopes.join(" "))
                };
                format!("logged in{scopes}; {expiry}")
            }
        };
        println!("{who}: {state}");
    }
    ExitCode::SUCCESS
}

/// `NAME` or `NAME --tenant T` from a row's label.
fn login_args(who: &str) -> String {
    match who.split_once(" [") {
        Some((name, t)) => format!("{name} --tenant {}", t.trim_end_matches(']')),
        None => who.to_string(),
    }
}
