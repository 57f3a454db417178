//! The test harness: where the real MCP servers and clients are installed
//! (by `.ci/setup-tools`), how to start them, and throwaway directories,
//! git repositories and PostgreSQL instances.
//!
//! A missing server or client is a failure that says how to install it,
//! never a silent skip.

#![allow(dead_code)]

pub mod balancer;
pub mod code;
pub mod echo_http;
pub mod edge;
pub mod issuer;
pub mod js;
pub mod keys;
mod lookup;
pub mod pki;
mod postgres;
mod procs;
pub mod python;
pub mod recorded;
pub mod registry;
pub mod rest_api;
pub mod seed;
pub mod served;
pub mod tasks;
pub mod timer;
pub mod walks;

// The benches include this module too, and use neither.
#[allow(unused_imports)]
pub use lookup::{example_bin, server_tool_names, start_hub_in};
pub use postgres::Postgres;
pub use procs::*;

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

/// This test's own home: a temporary directory made once per test process
/// (cargo-nextest runs every test in a process of its own). Every `weft`
/// the test starts gets it as `HOME`, the XDG folders and `WEFT_CACHE_DIR`,
/// so nothing is read from or written to the real `~/.cache/weft`.
pub fn test_home() -> &'static Path {
    static HOME: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    // A static is never dropped, so the directory (with the compiled
    // components cached in it) is removed when the test process exits.
    extern "C" fn remove_home() {
        if let Some(home) = HOME.get() {
            let _ = std::fs::remove_dir_all(home.path());
        }
    }
    HOME.get_or_init(|| {
        let home = tempfile::Builder::new()
            .prefix("weft-home-")
            .tempdir()
            .expect("temp home");
        // SAFETY: registers a function without arguments that only
        // removes a directory; it runs once, at exit.
        unsafe { libc::atexit(remove_home) };
        home
    })
    .path()
}

/// Points a command's home, XDG folders and weft cache at [`test_home`].
pub fn isolate(cmd: &mut Command) -> &mut Command {
    let home = test_home();
    cmd.env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("WEFT_CACHE_DIR", home.join(".cache/weft/components"))
}

/// A `weft` command with logs quiet, no inherited config, no colour, and
/// its own home and cache (see [`test_home`]).
pub fn weft() -> Command {
    let mut cmd = Command::new(target_bin("weft"));
    cmd.env_remove("WEFT_CONFIG")
        .env_remove("WEFT_SECRETS")
        .env_remove("WEFT_KEY")
        .env("WEFT_LOG", "error")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    isolate(&mut cmd);
    cmd
}

/// `weft new --adapter --lang LANG FOLDER`, which must succeed.
pub fn weft_new_adapter(lang: &str, folder: &Path) {
    let out = weft()
        .args(["new", "--adapter", "--lang", lang])
        .arg(folder)
        .output_timed()
        .expect("weft new runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `weft -c CONFIG ARGS…`, which must exit 0: its stdout, trimmed.
pub fn weft_ok(config: &Path, args: &[&str]) -> String {
    let out = weft()
        .arg("-c")
        .arg(config)
        .args(args)
        .output_timed()
        .expect("weft runs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "weft {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A TOML string literal.
pub fn q(text: impl AsRef<str>) -> String {
    format!("{:?}", text.as_ref())
}

/// A `[servers.NAME]` table for an npm server run by the pinned Node 22.
pub fn npm_entry(name: &str, package: &str, args: &[&str]) -> String {
    let mut all = vec![npm_server(package).display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    format!(
        "[servers.{name}]\ncommand = {}\nargs = [{}]\n",
        q(node22().display().to_string()),
        list(&all)
    )
}

/// A `[servers.NAME]` table for a program with arguments. A
/// weft-faulty-server told to `--record` its calls in a file gets that file
/// (made here, empty) as the one path its OS sandbox lets it write.
pub fn command_entry(name: &str, command: &Path, args: &[&str]) -> String {
    let record = args
        .iter()
        .position(|a| *a == "--record")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut text = format!(
        "[servers.{name}]\ncommand = {}\nargs = [{}]\n",
        q(command.display().to_string()),
        list(&args)
    );
    if let Some(record) = record {
        if !record.exists() {
            std::fs::write(&record, "").expect("make the record file");
        }
        text += &sandbox_write(&[&record]);
    }
    text
}

fn list(items: &[String]) -> String {
    items.iter().map(q).collect::<Vec<_>>().join(", ")
}

/// Config entries for three real servers the example policies use:
/// mcp-server-git on `repo` (which its sandbox lets it write), and
/// [`time_memory_entries`].
pub fn git_time_memory_entries(dir: &Path, repo: &Path) -> String {
    command_entry(
        "git",
        &venv_bin("mcp-server-git"),
        &["--repository", &repo.display().to_string()],
    ) + &sandbox_write(&[repo])
        + &time_memory_entries(dir)
}

/// Config entries for mcp-server-time (local zone UTC) and server-memory
/// storing in `dir/memory/memory.jsonl`.
pub fn time_memory_entries(dir: &Path) -> String {
    command_entry(
        "time",
        &venv_bin("mcp-server-time"),
        &["--local-timezone", "UTC"],
    ) + &memory_entry("memory", &dir.join("memory"))
}

/// A server-memory entry keeping its graph in `folder/memory.jsonl`; the
/// folder (made here) is the one place its sandbox lets it write.
pub fn memory_entry(name: &str, folder: &Path) -> String {
    std::fs::create_dir_all(folder).expect("make the memory folder");
    let mut text = npm_entry(name, "server-memory", &[]);
    text += &format!(
        "env = {{ MEMORY_FILE_PATH = {} }}\n",
        q(folder.join("memory.jsonl").display().to_string())
    );
    text + &sandbox_write(&[folder])
}

/// `sandbox.read = [...]` for the entry written just before.
pub fn sandbox_read(paths: &[&Path]) -> String {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!("sandbox.read = [{}]\n", list(&paths))
}

/// `sandbox.write = [...]` for the entry written just before.
pub fn sandbox_write(paths: &[&Path]) -> String {
    let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    format!("sandbox.write = [{}]\n", list(&paths))
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
    git_repo_with(dir, &["first commit", "add notes", "fix typo in notes"]);
}

/// Makes a git repository in `dir` with one commit per message, oldest
/// first, each changing `notes.txt`.
pub fn git_repo_with(dir: &Path, messages: &[&str]) {
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
    for (i, msg) in messages.iter().enumerate() {
        std::fs::write(dir.join("notes.txt"), format!("version {i}\n")).expect("write");
        git(&["add", "notes.txt"]);
        git(&["commit", "-q", "-m", msg]);
    }
}

/// A port nobody listens on right now.
///
/// Racy: the port is released before the caller uses it, so another test
/// may take it. Prefer binding port 0 and reading the address back
/// ([`serve_weft_http`], the fixture's `--http 127.0.0.1:0`), or
/// [`ClosedPort`] for an address that must refuse connections.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A loopback port that is bound but never listened on, so connections to
/// it are refused for as long as this value lives and no other socket can
/// take the port meanwhile.
pub struct ClosedPort {
    fd: i32,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        // SAFETY: plain socket calls on a descriptor this function owns;
        // `addr` is a properly initialised sockaddr_in of the size given.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
            addr.sin_port = 0;
            let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(fd, (&raw const addr).cast(), len);
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            let rc = libc::getsockname(fd, (&raw mut addr).cast(), &mut len);
            assert_eq!(rc, 0, "getsockname: {}", std::io::Error::last_os_error());
            ClosedPort {
                fd,
                port: u16::from_be(addr.sin_port),
            }
        }
    }
}

impl Drop for ClosedPort {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns, once.
        unsafe {
            libc::close(self.fd);
        }
    }
}

/// How long a test waits for a child command to finish before it kills it
/// and fails.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// `Command::output` with a deadline: past it the child is killed and the
/// test fails with what the child printed so far.
pub trait OutputWithin {
    fn output_within(&mut self, within: Duration) -> std::io::Result<std::process::Output>;

    /// [`OutputWithin::output_within`] with [`COMMAND_DEADLINE`].
    fn output_timed(&mut self) -> std::io::Result<std::process::Output> {
        self.output_within(COMMAND_DEADLINE)
    }
}

impl OutputWithin for Command {
    fn output_within(&mut self, within: Duration) -> std::io::Result<std::process::Output> {
        use std::io::Read;
        let mut child = self.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        let pid = child.id();
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = vec![];
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let (status, timed_out) = match rx.recv_timeout(within) {
            Ok(status) => (status?, false),
            Err(_) => {
                // SAFETY: the child is not reaped yet (its waiter has not
                // returned), so the pid is still this child's.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
                }
                let status = rx
                    .recv_timeout(Duration::from_secs(10))
                    .expect("a killed child is reaped")?;
                (status, true)
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        assert!(
            !timed_out,
            "{self:?} did not finish within {within:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
        Ok(std::process::Output {
            status,
            stdout,
            stderr,
        })
    }
}

/// Waits for a child to exit, failing the test (after killing it) if it
/// has not within `within`.
pub fn wait_child(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            return status;
        }
        if start.elapsed() >= within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {within:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How long one await on weft, a server or a socket may take in a test.
pub const AWAIT: Duration = Duration::from_secs(60);

/// Awaits `f`, failing the test with `what` after [`AWAIT`].
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(AWAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {AWAIT:?}: {what}"))
}

/// The URI of the first resource `client` lists (server-everything lists
/// many).
pub async fn first_resource(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
) -> String {
    within("resources/list", client.list_all_resources())
        .await
        .expect("resources/list is answered")
        .into_iter()
        .next()
        .expect("the server lists resources")
        .uri
        .clone()
}

/// Polls `cond` until it holds, failing with `what` after `within`.
pub fn wait_until(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The async form of [`wait_until`], for use on a tokio runtime.
pub async fn eventually(within: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads the first line a child prints to `pipe` (within `within`), and
/// then drains the rest in the background so the child never blocks on it.
pub fn first_line(pipe: impl std::io::Read + Send + 'static, within: Duration) -> String {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(pipe);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx.recv_timeout(within)
        .unwrap_or_else(|_| panic!("the child printed no line within {within:?}"))
}

/// Starts `weft serve --http 127.0.0.1:0` from `cmd` (a [`weft`] command
/// with its config or working directory set) and reads the address weft
/// bound from the line it prints: (process, base URL without `/mcp`).
pub fn serve_weft_http(cmd: &mut Command) -> (Background, String) {
    cmd.args(["serve", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped());
    let mut process = Background::spawn(cmd);
    let stdout = process.0.stdout.take().expect("stdout is piped");
    let line = first_line(stdout, Duration::from_secs(90));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("weft serve --http printed no URL: {line:?}"));
    let base = url
        .strip_suffix("/mcp")
        .unwrap_or_else(|| panic!("not an /mcp URL: {url}"))
        .to_string();
    (process, base)
}

/// Writes `secrets.toml` in `dir` holding `NAME = "value"`, readable by
/// its owner only (weft refuses a secrets file others can read).
pub fn write_secrets(dir: &Path, name: &str, value: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let secrets = dir.join("secrets.toml");
    std::fs::write(&secrets, format!("{name} = {}\n", q(value))).expect("write secrets");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600))
        .expect("chmod the secrets file");
    secrets
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

/// `GET /status` of a running `weft serve --http` at `base`, as JSON (the
/// request and the answer under a 30 s deadline).
pub fn http_status(base: &str) -> serde_json::Value {
    get_json(base.trim_start_matches("http://"), "/status")
}

/// `GET PATH` of an HTTP/1.1 server at `host` (`HOST:PORT`), its body as
/// JSON (the request and the answer under a 30 s deadline).
pub fn get_json(host: &str, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).expect("connect to the server");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    s.set_write_timeout(Some(Duration::from_secs(30)))
        .expect("write timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| panic!("send GET {path}: {e}"));
    let mut raw = String::new();
    s.read_to_string(&mut raw)
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {raw}"))
}
