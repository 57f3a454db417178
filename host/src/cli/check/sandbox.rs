//! `weft check`'s warnings about stdio servers' OS sandboxes: one that is
//! off, and a folder given as an argument that the sandbox does not open.

use crate::config::{Config, Transport};

/// One warning per server without a sandbox, and per argument that names
/// an existing folder outside its server's `sandbox.read` and `write`.
pub(super) fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for server in config.servers.iter().filter(|s| s.enabled) {
        let Transport::Stdio {
            args, cwd, sandbox, ..
        } = &server.transport
        else {
            continue;
        };
        if !sandbox.enabled {
            let why = if sandbox.off_by_entry {
                "sandbox = false"
            } else {
                "settings.sandbox = \"off\""
            };
            out.push(format!(
                "servers.{} runs without an OS sandbox ({why}): it can read weft's secrets and every file you can",
                server.name
            ));
            continue;
        }
        for arg in args {
            let Some(p) = crate::upstream::confine::arg_path(arg, cwd.as_deref()) else {
                continue;
            };
            if !p.is_dir() {
                continue;
            }
            let p = crate::config::sandbox::lexical_clean(&p);
            let granted = sandbox
                .read
                .iter()
                .chain(&sandbox.write)
                .any(|g| p.starts_with(g));
            if !granted {
                out.push(format!(
                    "servers.{}: its argument {} is a folder its sandbox does not open; add it to sandbox.read or sandbox.write",
                    server.name,
                    p.display()
                ));
            }
        }
    }
    out
}
