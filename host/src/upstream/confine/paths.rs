//! Which paths a sandboxed server reads without being told: the system's
//! programs and libraries, and the installation its command runs from.
//!
//! The installation is found from the files the server starts with: the
//! command as `PATH` finds it, the interpreter its `#!` line names, and any
//! argument that is an existing file (`node /x/dist/index.js`). Each gives
//! the folder it was installed into: the outermost `node_modules` above it,
//! the virtualenv holding it (and the Python the venv was made from), or
//! the prefix above a `bin` folder. Folders given as arguments are data, not
//! runtime: they are reached only through `sandbox.read` and `write`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The system folders every server may read and execute from.
pub(super) const SYSTEM: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/nix/store",
];
/// Read-only views of the kernel and the machine (`/proc/PID/environ` and
/// the like of other processes stay closed: Landlock refuses them to a
/// process outside their own sandbox).
pub(super) const KERNEL: &[&str] = &["/proc", "/sys"];
/// Devices every program may read and write.
pub(super) const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// How many `#!` hops are followed (a script run by a script's interpreter).
const MAX_HOPS: usize = 4;

/// The installation folders of the program `command` (run with `args`,
/// `PATH` and `cwd`), none of which holds a path in `protected`.
pub(super) fn runtime_roots(
    command: &str,
    args: &[String],
    path_env: Option<&OsStr>,
    cwd: Option<&Path>,
    protected: &[PathBuf],
) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(found) = find_program(command, path_env, cwd) {
        files.push(found);
    }
    files.extend(
        args.iter()
            .filter_map(|a| arg_path(a, cwd))
            .filter(|p| p.is_file()),
    );
    // The interpreters named by `#!` lines, a few hops deep, and the
    // programs a shell script (a wrapper) names by absolute path.
    let mut i = 0;
    while i < files.len() && i <= MAX_HOPS + args.len() {
        if let Some(next) = interpreter(&files[i], path_env, cwd) {
            if is_shell(&next) {
                for named in named_by_script(&files[i]) {
                    if !files.contains(&named) {
                        files.push(named);
                    }
                }
            }
            if !files.contains(&next) {
                files.push(next);
            }
        }
        i += 1;
    }
    let mut roots = Vec::new();
    for file in &files {
        // The path as found and with its links resolved: a venv's
        // `bin/python` is a link into the Python it was made from.
        let real = std::fs::canonicalize(file).ok();
        for f in std::iter::once(file.as_path()).chain(real.as_deref()) {
            for root in installation(f) {
                // Too broad (it holds weft's files): the file alone, if
                // that is not weft's either.
                let allowed = |p: &Path| crate::config::sandbox::check_grant(p, protected).is_ok();
                let root = if allowed(&root) {
                    root
                } else {
                    f.to_path_buf()
                };
                if (root.as_path() != f || allowed(f)) && !roots.contains(&root) {
                    roots.push(root);
                }
            }
        }
    }
    roots
}

/// An argument as the path it names from the server's working folder
/// (`None` for a relative one without a working folder).
pub fn arg_path(arg: &str, cwd: Option<&Path>) -> Option<PathBuf> {
    let p = Path::new(arg);
    match (p.is_absolute(), cwd) {
        (true, _) => Some(p.to_path_buf()),
        (false, Some(dir)) => Some(dir.join(p)),
        (false, None) => None,
    }
}

/// `command` as `execvp` would find it.
fn find_program(command: &str, path_env: Option<&OsStr>, cwd: Option<&Path>) -> Option<PathBuf> {
    if command.contains('/') {
        let p = Path::new(command);
        return Some(match (p.is_absolute(), cwd) {
            (false, Some(dir)) => dir.join(p),
            _ => p.to_path_buf(),
        });
    }
    std::env::split_paths(path_env?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(command))
        .find(|p| p.is_file())
}

/// The interpreter a script's `#!` line names, found as the kernel (or
/// `/usr/bin/env`) would.
fn interpreter(file: &Path, path_env: Option<&OsStr>, cwd: Option<&Path>) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(file).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n')?];
    let line = std::str::from_utf8(line).ok()?.trim();
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if first.ends_with("/env") {
        let program = words.find(|w| !w.starts_with('-'))?;
        return find_program(program, path_env, cwd);
    }
    Some(PathBuf::from(first))
}

/// A POSIX shell (`sh`, `bash`, `dash`, `zsh`, `ksh`).
fn is_shell(program: &Path) -> bool {
    matches!(
        program.file_name().and_then(OsStr::to_str),
        Some("sh" | "bash" | "dash" | "zsh" | "ksh")
    )
}

/// The most of a wrapper script read, and the most files taken from it.
const SCRIPT_BYTES: u64 = 64 * 1024;
const SCRIPT_FILES: usize = 16;

/// The existing files a shell script names by absolute path (`exec
/// /opt/node/bin/node /srv/server.js`): a wrapper's programs.
fn named_by_script(script: &Path) -> Vec<PathBuf> {
    use std::io::Read;
    let mut text = String::new();
    let Ok(file) = std::fs::File::open(script) else {
        return Vec::new();
    };
    if file.take(SCRIPT_BYTES).read_to_string(&mut text).is_err() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for word in
        text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '=' | '(' | ')'))
    {
        if out.len() == SCRIPT_FILES {
            break;
        }
        let p = Path::new(word);
        if word.starts_with('/') && !out.iter().any(|o: &PathBuf| o == p) && p.is_file() {
            out.push(p.to_path_buf());
        }
    }
    out
}

/// The folders `file` was installed into (usually one; a venv gives two).
fn installation(file: &Path) -> Vec<PathBuf> {
    if under_system(file) {
        return Vec::new();
    }
    let ancestors: Vec<&Path> = file.ancestors().skip(1).collect();
    if let Some(outer) = ancestors
        .iter()
        .rev()
        .find(|a| a.file_name() == Some(OsStr::new("node_modules")))
    {
        return vec![outer.to_path_buf()];
    }
    if let Some(venv) = ancestors.iter().find(|a| a.join("pyvenv.cfg").is_file()) {
        let mut out = vec![venv.to_path_buf()];
        if let Some(base) = venv_base(venv).filter(|b| !under_system(b)) {
            out.push(base);
        }
        return out;
    }
    let Some(dir) = file.parent() else {
        return Vec::new();
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    match dir.parent() {
        Some(prefix)
            if dir.file_name() == Some(OsStr::new("bin"))
                && prefix != Path::new("/")
                && Some(prefix) != home.as_deref() =>
        {
            vec![prefix.to_path_buf()]
        }
        _ if dir == Path::new("/") || Some(dir) == home.as_deref() => vec![file.to_path_buf()],
        _ => vec![dir.to_path_buf()],
    }
}

/// The prefix of the Python a venv was made from (`home` in pyvenv.cfg
/// names its `bin` folder).
fn venv_base(venv: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(venv.join("pyvenv.cfg"))
        .ok()?
        .take(SCRIPT_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    let home = text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "home").then(|| PathBuf::from(v.trim()))
    })?;
    let home = std::fs::canonicalize(&home).unwrap_or(home);
    match home.file_name() {
        Some(n) if n == "bin" => home.parent().map(Path::to_path_buf),
        _ => Some(home),
    }
    .filter(|p| p.is_absolute() && p != Path::new("/"))
}

/// Inside one of the [`SYSTEM`] folders, which are granted anyway.
fn under_system(path: &Path) -> bool {
    SYSTEM.iter().any(|s| path.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_installation_of_a_file_is_its_package_tree_venv_or_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let script = d.join("tools/npm/node_modules/@scope/server/dist/index.js");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(&script, "#!/usr/bin/env node\n").unwrap();
        assert_eq!(
            installation(&script),
            vec![d.join("tools/npm/node_modules")]
        );

        let venv = d.join("venv");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::create_dir_all(d.join("py/bin")).unwrap();
        std::fs::write(
            venv.join("pyvenv.cfg"),
            format!("home = {}\n", d.join("py/bin").display()),
        )
        .unwrap();
        let real_py = std::fs::canonicalize(d.join("py")).unwrap();
        assert_eq!(
            installation(&venv.join("bin/tool")),
            vec![venv.clone(), real_py]
        );

        assert_eq!(
            installation(&d.join("opt/thing/bin/thing")),
            vec![d.join("opt/thing")]
        );
        assert_eq!(
            installation(&d.join("target/debug/server")),
            vec![d.join("target/debug")]
        );
        assert!(installation(Path::new("/usr/bin/python3")).is_empty());
    }

    #[test]
    fn a_wrapper_script_s_programs_are_its_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::canonicalize(dir.path()).unwrap();
        let node = d.join("node22/node_modules/node/bin/node");
        let server = d.join("npm/node_modules/srv/index.js");
        for f in [&node, &server] {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "").unwrap();
        }
        let script = d.join("wrap/run.sh");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho starting >&2\nexec \"{}\" '{}' \"$@\"\n",
                node.display(),
                server.display()
            ),
        )
        .unwrap();
        let roots = runtime_roots(&script.display().to_string(), &[], None, None, &[]);
        assert_eq!(
            roots,
            vec![
                d.join("wrap"),
                d.join("node22/node_modules"),
                d.join("npm/node_modules")
            ]
        );
    }

    #[test]
    fn a_script_s_interpreter_is_found_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("node"), "").unwrap();
        let script = dir.path().join("s.js");
        std::fs::write(&script, "#!/usr/bin/env -S node --flag\nrest").unwrap();
        let path = std::env::join_paths([&bin]).unwrap();
        assert_eq!(
            interpreter(&script, Some(&path), None),
            Some(bin.join("node"))
        );
        std::fs::write(&script, "#!/opt/py/bin/python3 -u\n").unwrap();
        assert_eq!(
            interpreter(&script, Some(&path), None),
            Some(PathBuf::from("/opt/py/bin/python3"))
        );
        std::fs::write(&script, "no shebang").unwrap();
        assert_eq!(interpreter(&script, Some(&path), None), None);
    }
}
