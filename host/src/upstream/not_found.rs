//! The message for a stdio server that cannot start because a file is not
//! there: the most common first-hour failure (`npx` on a machine without
//! Node.js, a typo in `command`, a `cwd` that does not exist).
//!
//! It says which PATH was searched (the one the server gets: its own `env`
//! PATH, else weft's) and what to do, naming the package that provides
//! the usual launchers.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The most characters of PATH a message shows.
const MAX_PATH_SHOWN: usize = 160;

/// What provides the launchers MCP servers are usually started with.
const PROVIDERS: &[(&[&str], &str)] = &[
    (&["npx", "node", "npm"], "Node.js"),
    (&["uvx", "uv"], "uv"),
    (&["python", "python3"], "Python"),
    (&["docker"], "Docker"),
];

/// Why spawning `command` failed with "not found", with the fix. `env` is
/// the server's own environment (its PATH wins over weft's).
pub(crate) fn message(command: &str, env: &BTreeMap<String, String>, cwd: Option<&Path>) -> String {
    if let Some(dir) = cwd.filter(|d| !d.is_dir()) {
        return format!(
            "the working directory {} (cwd) does not exist; create it, or fix `cwd`",
            dir.display()
        );
    }
    if command.contains('/') {
        return format!(
            "command {command:?} was not found (no such file); check the path, \
             or give the name of a program on PATH"
        );
    }
    let path = env
        .get("PATH")
        .map(OsString::from)
        .or_else(|| std::env::var_os("PATH"));
    let Some(path) = path else {
        return format!(
            "command {command:?} was not found (PATH is not set); set PATH, or give an absolute path"
        );
    };
    if let Some(found) = search(command, &path) {
        // The file is there, so what is missing is its interpreter.
        return format!(
            "command {command:?} (found at {}) could not be started: the interpreter on its \
             #! line was not found; install it, or run the script through one",
            found.display()
        );
    }
    let mut shown = path.to_string_lossy().into_owned();
    crate::util::truncate(&mut shown, MAX_PATH_SHOWN);
    format!(
        "command {command:?} was not found on PATH ({shown}); {}, or give an absolute path",
        install_hint(command)
    )
}

/// What to install to get `command`.
fn install_hint(command: &str) -> String {
    match PROVIDERS.iter().find(|(names, _)| names.contains(&command)) {
        Some((_, provider)) => format!("install {provider} for {command}"),
        None => "install it or add its directory to PATH".to_string(),
    }
}

/// The first file named `command` in a directory of `path`.
fn search(command: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_path(path: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("PATH".to_string(), path.to_string())])
    }

    #[test]
    fn launchers_name_what_provides_them() {
        assert_eq!(
            message("uvx", &with_path("/nowhere/a:/nowhere/b"), None),
            "command \"uvx\" was not found on PATH (/nowhere/a:/nowhere/b); \
             install uv for uvx, or give an absolute path"
        );
        assert_eq!(install_hint("python3"), "install Python for python3");
        assert_eq!(install_hint("docker"), "install Docker for docker");
        assert_eq!(install_hint("node"), "install Node.js for node");
    }

    #[test]
    fn a_long_path_is_cut() {
        let long = vec!["/nowhere/x"; 100].join(":");
        let m = message("npx", &with_path(&long), None);
        assert!(m.len() < 300, "{m}");
        assert!(m.contains("…); install Node.js for npx"), "{m}");
    }

    #[test]
    fn a_missing_cwd_and_a_path_are_told_apart() {
        let env = BTreeMap::new();
        assert!(
            message("npx", &env, Some(Path::new("/nowhere/dir"))).contains("(cwd) does not exist")
        );
        assert!(message("./srv", &env, None).contains("check the path"));
    }
}
