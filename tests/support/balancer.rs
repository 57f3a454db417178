//! Load balancers in front of weft replicas, run from the examples in
//! `deploy/` (the `bind`/`listen` and `server` lines replaced): HAProxy
//! and nginx, Debian's packages, installed by `.ci/setup-tools`. Round
//! robin, no stickiness of any kind, so consecutive requests of one
//! connection go to different replicas. HAProxy checks each replica's
//! `/health` and takes a failing one out; both send a request whose
//! connection failed to another replica, and retry nothing else.
//!
//! Neither can bind port 0, so the test binds it and hands the listening
//! socket over as file descriptor 3 (HAProxy's `bind fd@3`; nginx's
//! inherited sockets, `NGINX=3;`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Background;

/// Where a load balancer's program is: `env` if set, else Debian's path.
fn program(name: &str, env: &str, debian: &str) -> PathBuf {
    let found = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(debian));
    assert!(
        found.is_file(),
        "{name} is not installed at {}: run `bash .ci/setup-tools` (it installs Debian's {name} package), or set {env}",
        found.display()
    );
    found
}

/// A running load balancer: its base URL.
pub struct Balancer {
    _proc: Background,
    pub base: String,
}

impl Balancer {
    /// HAProxy from `deploy/haproxy.cfg`, over `backends` (`http://IP:PORT`
    /// each), its config written in `dir`.
    pub fn haproxy(dir: &Path, backends: &[&str]) -> Balancer {
        let mut config = String::new();
        let mut servers_written = false;
        for line in example("haproxy.cfg").lines() {
            let kept = line.trim_start();
            if kept.starts_with("bind ") {
                config += "  bind fd@3\n";
            } else if kept.starts_with("server ") {
                if !servers_written {
                    for (i, backend) in backends.iter().enumerate() {
                        let addr = backend.trim_start_matches("http://");
                        config +=
                            &format!("  server r{i} {addr} check inter 500ms fall 1 rise 1\n");
                    }
                    servers_written = true;
                }
            } else {
                config += line;
                config += "\n";
            }
        }
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, config).expect("write haproxy.cfg");
        let mut cmd = Command::new(program("haproxy", "WEFT_HAPROXY", "/usr/sbin/haproxy"));
        cmd.arg("-f").arg(&file).arg("-db");
        Balancer::start_with(move |_| cmd)
    }

    /// nginx from `deploy/nginx.conf`, over `backends`, its prefix (config,
    /// pid, temporary files) in `dir/nginx`.
    pub fn nginx(dir: &Path, backends: &[&str]) -> Balancer {
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(&prefix).expect("nginx's prefix");
        let file = prefix.join("nginx.conf");
        let program = program("nginx", "WEFT_NGINX", "/usr/sbin/nginx");
        Balancer::start_with(move |port| {
            let mut config = String::new();
            let mut upstream_written = false;
            for line in example("nginx.conf").lines() {
                let kept = line.trim_start();
                if kept.starts_with("listen ") {
                    config += &format!("    listen 127.0.0.1:{port};\n");
                } else if kept.starts_with("server ") && kept.ends_with(';') {
                    if !upstream_written {
                        for backend in backends {
                            let addr = backend.trim_start_matches("http://");
                            config += &format!("    server {addr};\n");
                        }
                        upstream_written = true;
                    }
                } else {
                    config += line;
                    config += "\n";
                }
            }
            std::fs::write(&file, config).expect("write nginx.conf");
            let mut cmd = Command::new(&program);
            cmd.arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&file)
                .args(["-e", "stderr", "-g", "daemon off;"])
                .env("NGINX", "3;");
            cmd
        })
    }

    /// Binds a port, makes the command for it, and starts it with the
    /// listening socket as its fd 3; ready once `/health` answers 200
    /// through it.
    fn start_with(make: impl FnOnce(u16) -> Command) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port for the load balancer");
        let port = listener.local_addr().expect("its address").port();
        let mut cmd = make(port);
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        let fd = listener.as_raw_fd();
        // SAFETY: between fork and exec only dup2 or fcntl runs (both
        // async-signal-safe); the listener outlives the spawn.
        unsafe {
            cmd.pre_exec(move || {
                // dup2 onto itself would keep close-on-exec set.
                let ok = if fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0) >= 0
                } else {
                    libc::dup2(fd, 3) >= 0
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let proc = Background::spawn(&mut cmd);
        drop(listener);
        super::wait_until(
            Duration::from_secs(20),
            "the load balancer to pass /health on",
            || health(port) == Some(200),
        );
        Balancer {
            _proc: proc,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

/// An example config of `deploy/`.
fn example(name: &str) -> String {
    let path = super::repo_root().join("deploy").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The status of `GET /health` on `port`, if it answers.
fn health(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}
