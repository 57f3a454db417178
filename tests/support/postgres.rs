//! A throwaway PostgreSQL server for the tests that need one (the
//! journal, shared state, TLS to the database): `initdb` and `pg_ctl`
//! from Debian's packages, on a unix socket in its own directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{pki, temp_dir};

/// A throwaway PostgreSQL server, stopped when dropped. It listens on a
/// unix socket in its own directory only (no TCP), so no port is shared
/// with other tests; [`Postgres::url`] names the socket directory.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The port number in the socket's file name (`.s.PGSQL.PORT`).
    pub port: u16,
    as_postgres_user: bool,
}

impl Postgres {
    /// initdb + pg_ctl start, with a `widgets` table. As root, the server
    /// runs as the `postgres` user, since initdb refuses to run as root.
    pub fn start() -> Postgres {
        Postgres::start_with_fsync(false)
    }

    /// [`Postgres::start`], with `fsync` on (every commit on the disk) or
    /// off (the tests' default: faster, and enough for a throwaway server).
    pub fn start_with_fsync(fsync: bool) -> Postgres {
        Postgres::launch(fsync, None)
    }

    /// [`Postgres::start`], also listening on 127.0.0.1 (at [`Postgres::port`],
    /// a port that was free a moment before: PostgreSQL cannot be told to
    /// pick one) with TLS only, its certificate `pki`'s server certificate:
    /// `hostssl` connections are trusted, `hostnossl` ones rejected.
    pub fn start_tls(pki: &pki::Pki) -> Postgres {
        Postgres::launch(false, Some(pki))
    }

    fn launch(fsync: bool, tls: Option<&pki::Pki>) -> Postgres {
        // The same list of known versions `.ci/setup-tools` checks.
        let known = include_str!("../../.ci/postgres-versions");
        let bin = known
            .lines()
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
            .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
            .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
            .expect(
                "PostgreSQL server binaries (initdb, pg_ctl) of a version in .ci/postgres-versions are missing: run `bash .ci/setup-tools`",
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
        let port = match tls {
            None => 5432,
            Some(_) => std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port"),
        };
        let pg = Postgres {
            dir,
            bin,
            port,
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
        let mut opts = format!(
            "-p {} -k {} -c fsync={}",
            pg.port,
            pg.dir.path().display(),
            if fsync { "on" } else { "off" }
        );
        match tls {
            None => opts += " -c listen_addresses=''",
            Some(pki) => {
                // The key must be the server user's own, unreadable by others.
                for (from, name) in [
                    (&pki.server_cert, "server.crt"),
                    (&pki.server_key, "server.key"),
                ] {
                    let to = data.join(name);
                    std::fs::copy(from, &to).expect("copy the server certificate");
                    pg.chown(&to);
                    std::fs::set_permissions(
                        &to,
                        std::os::unix::fs::PermissionsExt::from_mode(0o600),
                    )
                    .expect("chmod");
                }
                std::fs::write(
                    data.join("pg_hba.conf"),
                    "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
                )
                .expect("write pg_hba.conf");
                pg.chown(&data.join("pg_hba.conf"));
                opts += " -c listen_addresses='127.0.0.1' -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key";
            }
        }
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

    /// Gives `path` to the server's user, when the server runs as one.
    fn chown(&self, path: &Path) {
        if self.as_postgres_user {
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(path)
                .status()
                .expect("chown");
            assert!(ok.success(), "chown {}", path.display());
        }
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

    /// A connection URL for libpq and node-postgres: the socket directory
    /// goes in the `host` parameter (the `localhost` before it is only
    /// there to make a valid URL).
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@localhost/postgres?host={}&port={}",
            self.dir.path().display(),
            self.port
        )
    }

    /// Makes a new, empty database `name` and returns its URL.
    pub fn database(&self, name: &str) -> String {
        self.sql(&format!("create database {name}"));
        self.url_of(name)
    }

    /// The URL of database `name` on this server.
    pub fn url_of(&self, name: &str) -> String {
        self.url().replacen("/postgres?", &format!("/{name}?"), 1)
    }

    pub fn sql(&self, sql: &str) {
        self.sql_in(&self.url(), sql);
    }

    /// The first column of the first row `sql` returns, as text.
    pub fn scalar(&self, sql: &str) -> String {
        self.psql(&self.url(), "-qtA", sql)
    }

    /// [`Postgres::scalar`] in the database at `url`.
    pub fn scalar_in(&self, url: &str, sql: &str) -> String {
        self.psql(url, "-qtA", sql)
    }

    /// Runs SQL in the database at `url` (one of [`Postgres::database`]'s).
    pub fn sql_in(&self, url: &str, sql: &str) {
        self.psql(url, "-q", sql);
    }

    /// psql's output of `sql` in the database at `url`, which must succeed.
    fn psql(&self, url: &str, flags: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([url, "-v", "ON_ERROR_STOP=1", flags, "-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}
