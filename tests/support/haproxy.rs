//! HAProxy (Debian's package, installed by `.ci/setup-tools`) in front of
//! weft replicas: round robin, no stickiness of any kind, so consecutive
//! requests of one connection go to different replicas. A replica is
//! checked on `/health` every 500 ms and taken out after one failure; a
//! request whose connection to a replica fails is sent to another
//! (`option redispatch`; only connection failures are retried, so no call
//! is sent twice).
//!
//! HAProxy cannot bind port 0, so the test binds it and hands the
//! listening socket over as file descriptor 3 (`bind fd@3`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Background;

/// Where HAProxy is: `WEFT_HAPROXY`, else Debian's path, else `PATH`.
pub fn haproxy() -> PathBuf {
    let found = std::env::var_os("WEFT_HAPROXY")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
        });
    match found {
        Some(p) if p.is_file() => p,
        _ => panic!(
            "HAProxy is not installed: run `bash .ci/setup-tools` (it installs Debian's haproxy package), or set WEFT_HAPROXY"
        ),
    }
}

/// A running HAProxy: its base URL.
pub struct Haproxy {
    _proc: Background,
    pub base: String,
}

impl Haproxy {
    /// Round robin over `backends` (`http://IP:PORT` each), with its
    /// config written in `dir`.
    pub fn start(dir: &Path, backends: &[&str]) -> Haproxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port for HAProxy");
        let port = listener.local_addr().expect("its address").port();
        let mut config = String::from(
            "global\n  maxconn 512\n\
             defaults\n  mode http\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n  timeout http-keep-alive 120s\n\
             frontend weft\n  bind fd@3\n  default_backend replicas\n\
             backend replicas\n  balance roundrobin\n  option httpchk GET /health\n  option redispatch\n  retries 3\n  retry-on conn-failure\n",
        );
        for (i, backend) in backends.iter().enumerate() {
            let addr = backend.trim_start_matches("http://");
            config += &format!("  server r{i} {addr} check inter 500ms fall 1 rise 1\n");
        }
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, config).expect("write haproxy.cfg");
        let fd = listener.as_raw_fd();
        let mut cmd = Command::new(haproxy());
        cmd.arg("-f")
            .arg(&file)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: between fork and exec only dup2 or fcntl runs (both
        // async-signal-safe);
        // the listener outlives the spawn.
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
        // Ready once a replica answers `/health` through it.
        super::wait_until(
            Duration::from_secs(20),
            "HAProxy to pass /health on",
            || health(port) == Some(200),
        );
        Haproxy {
            _proc: proc,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
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
