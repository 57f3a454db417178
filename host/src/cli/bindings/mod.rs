//! `weft bindings`: typed bindings for policies, generated from the live
//! catalog. It starts the configured servers as `weft tools` does and
//! writes one module per server, with a function per tool typed from the
//! tool's `inputSchema` (and `outputSchema`, where it has one), in Python,
//! TypeScript or Rust.
//!
//! Tool names, descriptions and schemas come from upstream servers and are
//! hostile: [`names`] makes identifiers and safe docs of them and
//! [`schema`] reduces schemas within fixed bounds, so any catalog gives
//! code that compiles.

mod model;
use crate::names;
mod python;
mod rust;
use crate::schema;
mod typescript;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::Config;
use crate::policy::grants::Grants;

use super::args::BindingLang as Lang;
use super::{FAILED, USAGE, finish, only_server, start_hub, warn_failed};
use model::{Server, Tool};
use names::{Case, Scope};

/// What `weft bindings` was asked for.
pub struct Options {
    pub lang: Lang,
    pub servers: Vec<String>,
    pub policy: Option<String>,
    pub out: PathBuf,
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    crate::errln!("weft: {message}");
    ExitCode::from(USAGE)
}

/// The top-level entry point for `weft bindings`.
pub async fn run(mut config: Config, opts: Options) -> ExitCode {
    let grants = match &opts.policy {
        None => None,
        Some(name) => match config.policy(name) {
            Some(p) => match Grants::new(&p.grants) {
                Ok(g) => Some(g),
                Err(e) => return usage(format!("policy {name:?}: {e}")),
            },
            None => return usage(unknown_policy(&config, name)),
        },
    };
    if !opts.servers.is_empty() {
        let mut keep = BTreeSet::new();
        for s in &opts.servers {
            match only_server(config.clone(), s) {
                Ok(c) => keep.extend(c.servers.into_iter().map(|s| s.name)),
                Err(e) => return usage(e),
            }
        }
        config.servers.retain(|s| keep.contains(&s.name));
    }
    if let Some(g) = &grants {
        config.servers.retain(|s| g.allows_server(&s.name));
    }
    if config.servers.is_empty() {
        return usage(match &opts.policy {
            Some(p) => format!("policy {p:?} is granted no tool on the chosen servers"),
            None => "the config has no servers".to_string(),
        });
    }
    let hub = start_hub(config, true, false).await;
    warn_failed(&hub);
    let catalog = hub.catalog();
    let mut servers: Vec<Server> = Vec::new();
    for entry in catalog.tools() {
        if grants
            .as_ref()
            .is_some_and(|g| !g.allows(&entry.server, entry.name()))
        {
            continue;
        }
        let tool = Tool::new(&entry.tool);
        match servers.iter_mut().find(|s| *s.name == *entry.server) {
            Some(s) => s.tools.push(tool),
            None => servers.push(Server {
                name: entry.server.to_string(),
                tools: vec![tool],
            }),
        }
    }
    servers.sort_by(|a, b| a.name.cmp(&b.name));
    for s in &mut servers {
        s.tools.sort_by(|a, b| a.name.cmp(&b.name));
    }
    if servers.is_empty() {
        crate::errln!(
            "weft: no tools to write bindings for (no server is up, or the grants match none)"
        );
        return finish(FAILED).await;
    }
    let code = match write(&opts.out, opts.lang, &servers) {
        Ok(written) => {
            for (path, what) in written {
                crate::outln!("{}\t{what}", path.display());
            }
            0
        }
        Err(e) => {
            crate::errln!("weft: {e:#}");
            FAILED
        }
    };
    // Bindings of the servers that are up are written; one that failed
    // still fails the command.
    let any_failed = hub.status().iter().any(|s| {
        matches!(
            s.state,
            crate::upstream::State::Failed { .. } | crate::upstream::State::BackingOff { .. }
        )
    });
    finish(if any_failed { FAILED } else { code }).await
}

fn unknown_policy(config: &Config, name: &str) -> String {
    let names: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
    match crate::util::closest(name, names.iter().copied()) {
        _ if names.is_empty() => {
            format!("no policy named {name:?}: the config defines none ([policies.NAME])")
        }
        Some(c) => format!("no policy named {name:?} in the config; did you mean {c:?}?"),
        None => format!(
            "no policy named {name:?} in the config; policies: {}",
            names.join(", ")
        ),
    }
}

/// The files for `servers` in `lang`: (file name, contents), the index last.
pub fn render(lang: Lang, servers: &[Server]) -> Vec<(String, String, String)> {
    let (keywords, case, index_name): (&'static [&'static str], Case, &str) = match lang {
        Lang::Python => (python::KEYWORDS, Case::Snake, "__init__"),
        Lang::Typescript => (typescript::KEYWORDS, Case::Camel, "index"),
        Lang::Rust => (rust::KEYWORDS, Case::Snake, "mod"),
    };
    let mut scope = Scope::new(keywords);
    scope.reserve(&[index_name, "weft_guest", "weft-guest"]);
    let originals: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    let modules = scope.assign(&originals, case, "server");
    let mut files = Vec::new();
    let mut list = Vec::new();
    for (server, module) in servers.iter().zip(&modules) {
        let what = format!(
            "{}: {} tool{}",
            server.name,
            server.tools.len(),
            if server.tools.len() == 1 { "" } else { "s" }
        );
        match lang {
            Lang::Python => files.push((format!("{module}.py"), python::module(server), what)),
            Lang::Typescript => {
                let (js, dts) = typescript::module(server);
                files.push((format!("{module}.js"), js, what.clone()));
                files.push((format!("{module}.d.ts"), dts, what));
            }
            Lang::Rust => files.push((format!("{module}.rs"), rust::module(server), what)),
        }
        list.push((module.clone(), server.name.clone()));
    }
    let index = "index of the modules".to_string();
    match lang {
        Lang::Python => files.push(("__init__.py".into(), python::index(&list), index)),
        Lang::Typescript => {
            let (js, dts) = typescript::index(&list);
            files.push(("index.js".into(), js, index.clone()));
            files.push(("index.d.ts".into(), dts, index));
        }
        Lang::Rust => files.push(("mod.rs".into(), rust::index(&list), index)),
    }
    files
}

/// Writes the files into `dir` (made if missing) and says what each holds.
fn write(dir: &Path, lang: Lang, servers: &[Server]) -> anyhow::Result<Vec<(PathBuf, String)>> {
    use anyhow::Context;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot make the folder {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text, what) in render(lang, servers) {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push((path, what));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(lang: Lang) -> Vec<String> {
        let servers: Vec<Server> = ["class", "index", "my-crm", "my_crm", "mod", "2x"]
            .iter()
            .map(|n| Server {
                name: n.to_string(),
                tools: Vec::new(),
            })
            .collect();
        render(lang, &servers).into_iter().map(|f| f.0).collect()
    }

    #[test]
    fn module_names_are_identifiers_and_distinct() {
        assert_eq!(
            files(Lang::Python),
            [
                "class_.py",
                "index.py",
                "my_crm_2.py",
                "my_crm.py",
                "mod.py",
                "_2x.py",
                "__init__.py"
            ]
        );
        assert_eq!(
            files(Lang::Rust),
            [
                "class.rs",
                "index.rs",
                "my_crm_2.rs",
                "my_crm.rs",
                "mod_.rs",
                "_2x.rs",
                "mod.rs"
            ]
        );
        let ts = files(Lang::Typescript);
        assert_eq!(
            ts[0..6],
            [
                "class_.js",
                "class_.d.ts",
                "index_2.js",
                "index_2.d.ts",
                "myCrm.js",
                "myCrm.d.ts"
            ]
        );
        assert_eq!(ts[ts.len() - 2..], ["index.js", "index.d.ts"]);
    }
}
