//! The test harness: where the real MCP servers and clients are installed
//! (by `.ci/setup-tools`), how to start them, and throwaway directories,
//! git repositories and PostgreSQL instances.
//!
//! A missing server or client is a failure that says how to install it,
//! never a silent skip.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The tool folder `.ci/setup-tools` installs into.
pub fn tools() -> PathBuf {
    let dir = std::env::var_os("WEFT_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools"));
    assert!(
        dir.join("npm").is_dir() && dir.join("venv").is_dir(),
        "the real MCP servers are not installed in {}: run `bash .ci/setup-tools` (or set WEFT_TOOLS)",
        dir.display()
    );
    dir
}

fn must_exist(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is missing at {}: run `bash .ci/setup-tools`",
        path.display()
    );
    path
}

/// The entry script of an npm MCP server package (`server-everything`, …).
pub fn npm_server(package: &str) -> PathBuf {
    must_exist(
        tools()
            .join("npm/node_modules/@modelcontextprotocol")
            .join(package)
            .join("dist/index.js"),
        &format!("@modelcontextprotocol/{package}"),
    )
}

/// A program from the Python virtualenv (`mcp-server-time`, `python`, …).
pub fn venv_bin(name: &str) -> PathBuf {
    must_exist(
        tools().join("venv/bin").join(name),
        &format!("the Python tool {name}"),
    )
}

/// Node 22, which the Inspector CLI and the conformance suite need.
pub fn node22() -> PathBuf {
    must_exist(tools().join("node22/node_modules/node/bin/node"), "Node 22")
}

/// A binary of this workspace (`weft`, `weft-faulty-server`).
pub fn target_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    must_exist(
        dir.join(name),
        &format!("the workspace binary {name} (build it with `cargo build --workspace`)"),
    )
}

/// A `weft` command with logs quiet and no inherited config.
pub fn weft() -> Command {
    let mut cmd = Command::new(target_bin("weft"));
    cmd.env_remove("WEFT_CONFIG")
        .env_remove("WEFT_SECRETS")
        .env("WEFT_LOG", "error")
        .stdin(Stdio::null());
    cmd
}

/// A TOML string literal.
pub fn q(text: impl AsRef<str>) -> String {
    format!("{:?}", text.as_ref())
}

/// A `[servers.NAME]` table for an npm server run by the machine's node.
pub fn npm_entry(name: &str, package: &str, args: &[&str]) -> String {
    let mut all = vec![npm_server(package).display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    format!(
        "[servers.{name}]\ncommand = \"node\"\nargs = [{}]\n",
        list(&all)
    )
}

/// A `[servers.NAME]` table for a program with arguments.
pub fn command_entry(name: &str, command: &Path, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    format!(
        "[servers.{name}]\ncommand = {}\nargs = [{}]\n",
        q(command.display().to_string()),
        list(&args)
    )
}

fn list(items: &[String]) -> String {
    items.iter().map(q).collect::<Vec<_>>().join(", ")
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("weft-test-")
        .tempdir()
        .expect("temp dir")
}

/// Makes a git repository with three commits in `dir`.
pub fn git_repo(dir: &Path) {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    for (i, msg) in ["first commit", "add notes", "fix typo in notes"]
        .iter()
        .enumerate()
    {
        std::fs::write(dir.join("notes.txt"), format!("version {i}\n")).expect("write");
        git(&["add", "notes.txt"]);
        git(&["commit", "-q", "-m", msg]);
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until something accepts connections on the port.
pub fn wait_for_port(port: u16, within: Duration) {
    let start = Instant::now();
    while start.elapsed() < within {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port} after {within:?}");
}

/// A background process killed (with its group) when dropped.
pub struct Background(pub Child);

impl Background {
    pub fn spawn(cmd: &mut Command) -> Background {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        Background(cmd.spawn().expect("spawn background process"))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let pid = self.0.id() as i32;
        // SAFETY: signals the process group this harness created.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// A throwaway PostgreSQL server on loopback, stopped when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres_user: bool,
}

impl Postgres {
    /// initdb + pg_ctl start, with a `widgets` table. As root, the server
    /// runs as the `postgres` user, since initdb refuses to run as root.
    pub fn start() -> Postgres {
        let bin = [
            "/usr/lib/postgresql/17/bin",
            "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/15/bin",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("initdb").exists())
        .expect(
            "PostgreSQL server binaries (initdb, pg_ctl) are missing: run `bash .ci/setup-tools`",
        );
        let dir = temp_dir();
        // SAFETY: geteuid has no preconditions.
        let as_postgres_user = unsafe { libc::geteuid() } == 0;
        if as_postgres_user {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(ok.success(), "chown of the PostgreSQL dir failed");
        }
        let pg = Postgres {
            dir,
            bin,
            port: free_port(),
            as_postgres_user,
        };
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            pg.port,
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("server.log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &log.display().to_string(),
                "-w",
                "-t",
                "30",
                "-o",
                &opts,
                "start",
            ],
        );
        pg.sql("create table widgets(id int primary key, name text not null); insert into widgets values (1, 'alpha'), (2, 'beta'), (3, 'gamma');");
        pg
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn sql(&self, sql: &str) {
        let out = Command::new(self.bin.join("psql"))
            .args([&self.url(), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// Loads config text as if from a file in `dir`.
pub fn config(dir: &Path, text: &str) -> weft::Config {
    let path = dir.join("weft.toml");
    std::fs::write(&path, text).expect("write config");
    weft::Config::load(&path).unwrap_or_else(|e| panic!("test config does not load: {e}\n{text}"))
}

/// Text of every text block of a result, joined.
pub fn text_of(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a process id is alive (not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// Every process in a process group.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            // state ppid pgrp …
            if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
                && fields.first() != Some(&"Z")
            {
                out.push(pid);
            }
        }
    }
    out
}

/// A guest component built by `.ci/test` (hostile guest or example policy).
pub fn guest_wasm(crate_name: &str) -> PathBuf {
    let file = repo_root()
        .join("target/wasm/wasm32-wasip2/release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    assert!(
        file.exists(),
        "{} is not built: run `bash .ci/build-guests` (needs `rustup target add wasm32-wasip2`)",
        file.display()
    );
    file
}
