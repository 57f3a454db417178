//! The edges of who may come in (issue 53, findings 10, 13 and 11).
//!
//! - **Agents' OAuth tokens** on `weft serve --http`, against a test
//!   issuer that counts its JWKS requests and can fail or stall them
//!   ([`crate::support::issuer`]): a stalled issuer holds up no token
//!   whose key weft already has; tokens naming made-up key ids make weft
//!   ask the issuer at most once per window, whether the issuer is down or
//!   up; a token whose `nbf` is in the future is refused, with the same
//!   leeway as `exp`.
//! - **The console's sign-in cookie** is `Secure` when the browser reached
//!   weft over HTTPS, as the TLS-terminating proxy in front says
//!   (`X-Forwarded-Proto: https`, or `proto=https` in `Forwarded`), and
//!   only then.
//! - **The toolchains weft installs for itself** (`weft build`, code
//!   mode): pip is run with every wheel pinned by its hash
//!   (`--require-hashes`), npm with `npm ci --ignore-scripts` on the
//!   integrity-pinned lock. Recording stand-ins for `python3` and `npm`
//!   (`WEFT_PYTHON`, `WEFT_NPM`) take down the exact command lines and
//!   the files they were handed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::edge::{Answer, Served, serve, write_config};
use crate::support::issuer::{ISSUER, Issuer, Mode, RESOURCE, Signer, initialize, now};
use crate::support::*;

/// A weft with one tenant, `acme` (the echo server), taking tokens from
/// `issuer`.
fn serve_oauth(dir: &Path, issuer: &Issuer) -> Served {
    let config = write_config(
        dir,
        &format!(
            "[servers.echo]\nbuiltin = \"echo\"\n\n[tenants.acme]\ninclude = [\"echo.*\"]\n\n\
             [oauth]\nissuer = {}\nresource = {}\njwks_uri = {}\ntenant_claim = \"org\"\nscopes = [\"mcp\"]\n",
            q(ISSUER),
            q(RESOURCE),
            q(&issuer.jwks_uri)
        ),
    );
    serve(&config, &[])
}

/// `n` `initialize` requests at once, each with a token of `signer` that
/// names a made-up key id (`made-up-ROUND-I`).
async fn flood(base: &str, signer: &Signer, round: usize, n: usize) -> Vec<Answer> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let base = base.to_string();
        let token = signer.token_as(&format!("made-up-{round}-{i}"), json!({"org": "acme"}));
        set.spawn(async move { initialize(&base, Some(&token)).await });
    }
    within("the flood is answered", set.join_all()).await
}

/// While the issuer stalls a refetch (for a key id weft has not seen), a
/// token whose key weft holds is answered at once; the tokens that need
/// the refetch share the one request and are answered when it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_issuer_holds_up_no_token_whose_key_is_cached() {
    let dir = temp_dir();
    let known = Signer::new("k1");
    let issuer = Issuer::start(&[&known], Mode::Serve).await;
    let weft = serve_oauth(dir.path(), &issuer);
    let good = || known.token(json!({"org": "acme"}));
    let first = initialize(&weft.base, Some(&good())).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(issuer.fetches(), 1);

    issuer.set(Mode::Stall);
    // Tokens naming a key id weft has not seen, until one makes weft ask
    // the issuer again; that request hangs at the issuer.
    let mut waiting = vec![];
    let deadline = Instant::now() + Duration::from_secs(30);
    while issuer.fetches() < 2 {
        assert!(
            Instant::now() < deadline,
            "weft never asked the issuer for a key id it had not seen"
        );
        let base = weft.base.clone();
        let token = known.token_as("rotated", json!({"org": "acme"}));
        waiting.push(tokio::spawn(async move {
            initialize(&base, Some(&token)).await
        }));
        for _ in 0..25 {
            if issuer.fetches() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    // More tokens needing the same refetch while it hangs: they wait on
    // it rather than asking again.
    for _ in 0..10 {
        let base = weft.base.clone();
        let token = known.token_as("rotated", json!({"org": "acme"}));
        waiting.push(tokio::spawn(async move {
            initialize(&base, Some(&token)).await
        }));
    }

    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        initialize(&weft.base, Some(&good())),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("a token whose key weft holds waited over 5 s for the issuer's stalled JWKS")
    });
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(issuer.fetches(), 2);

    issuer.set(Mode::Serve);
    for w in waiting {
        let a = within("a token waiting on the refetch", w)
            .await
            .expect("joined");
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(
            a.body
                .contains("the token's signing key is not one of the issuer's"),
            "{}",
            a.body
        );
    }
    assert_eq!(issuer.fetches(), 2);
}

/// Tokens with made-up key ids, many at once: while the issuer is down
/// weft asks it once, then not again within the window; once it is up
/// and has answered, a flood of unknown key ids makes no request within
/// the window, and after it exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_key_ids_cannot_make_weft_hammer_the_issuer() {
    let dir = temp_dir();
    let known = Signer::new("k1");
    let issuer = Issuer::start(&[&known], Mode::Fail).await;
    let weft = serve_oauth(dir.path(), &issuer);

    for a in flood(&weft.base, &known, 1, 40).await {
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(
            a.body.contains("the issuer's keys cannot be fetched"),
            "{}",
            a.body
        );
    }
    assert_eq!(
        issuer.fetches(),
        1,
        "40 tokens while the issuer is down: JWKS requests"
    );

    // Back up: once the window has passed weft asks again, and a good
    // token passes.
    issuer.set(Mode::Serve);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = initialize(&weft.base, Some(&known.token(json!({"org": "acme"})))).await;
        if a.status == 200 {
            break;
        }
        assert!(
            a.body.contains("the issuer's keys cannot be fetched"),
            "{}",
            a.body
        );
        assert!(
            Instant::now() < deadline,
            "weft never asked the issuer again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(issuer.fetches(), 2);

    // Unknown key ids right after that answer: no request.
    for a in flood(&weft.base, &known, 2, 40).await {
        assert_eq!(a.status, 401, "{}", a.body);
        assert!(
            a.body
                .contains("the token's signing key is not one of the issuer's"),
            "{}",
            a.body
        );
    }
    assert_eq!(
        issuer.fetches(),
        2,
        "a flood within the window: JWKS requests"
    );

    // Once the window has passed, an unknown key id makes weft ask once
    // more; a flood right after makes no further request.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut tries = 0;
    while issuer.fetches() < 3 {
        assert!(
            Instant::now() < deadline,
            "weft never asked the issuer about an unknown key id"
        );
        tries += 1;
        let token = known.token_as(&format!("made-up-wait-{tries}"), json!({"org": "acme"}));
        let a = initialize(&weft.base, Some(&token)).await;
        assert_eq!(a.status, 401, "{}", a.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for a in flood(&weft.base, &known, 3, 40).await {
        assert_eq!(a.status, 401, "{}", a.body);
    }
    assert_eq!(
        issuer.fetches(),
        3,
        "a flood after one refetch: JWKS requests"
    );
}

/// `nbf` is checked, with the leeway `exp` has: a token valid from an
/// hour on is refused with a 401 that says so; one valid from 2 s on
/// (inside the leeway) and one valid since an hour ago pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_not_valid_yet_is_refused() {
    let dir = temp_dir();
    let known = Signer::new("k1");
    let issuer = Issuer::start(&[&known], Mode::Serve).await;
    let weft = serve_oauth(dir.path(), &issuer);
    let with_nbf = |nbf: u64| known.token(json!({"org": "acme", "nbf": nbf}));

    let early = initialize(&weft.base, Some(&with_nbf(now() + 3600))).await;
    assert_eq!(early.status, 401, "{}", early.body);
    let why = "the token is not valid yet (its nbf is in the future)";
    assert!(early.body.contains(why), "{}", early.body);
    let challenge = early
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        challenge.contains(&format!(
            "error=\"invalid_token\", error_description=\"{why}"
        )),
        "{challenge}"
    );

    for nbf in [now() + 2, now() - 3600] {
        let a = initialize(&weft.base, Some(&with_nbf(nbf))).await;
        assert_eq!(a.status, 200, "nbf {nbf}: {}", a.body);
    }
}

/// A weft with an admin tenant, `ops`: (weft, the admin's key).
fn serve_console(dir: &Path) -> (Served, String) {
    let config = write_config(
        dir,
        "[servers.echo]\nbuiltin = \"echo\"\n\n[tenants.ops]\ninclude = [\"echo.*\"]\nadmin = true\n",
    );
    let key = crate::support::edge::add_key(&config, "ops");
    (serve(&config, &[]), key)
}

/// `POST path` of the console with `form` and `headers`: (status, its
/// `Set-Cookie` headers).
async fn console_post(
    base: &str,
    path: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> (u16, Vec<String>) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let mut req = http.post(format!("{base}{path}")).form(form);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let r = within("the console answers", req.send())
        .await
        .expect("the console answers");
    let cookies = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("a cookie is text").to_string())
        .collect();
    (r.status().as_u16(), cookies)
}

/// A sign-in's cookie with its random value replaced by `TOKEN` (after
/// checking that it is 64 hex digits).
fn masked(cookie: &str) -> String {
    let (pair, rest) = cookie.split_once(';').expect("attributes");
    let value = pair
        .strip_prefix("weft_console=")
        .expect("the console's cookie");
    assert!(
        value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "{cookie}"
    );
    format!("weft_console=TOKEN;{rest}")
}

/// The console's sign-in cookie is `Secure` when the proxy in front says
/// the browser came over HTTPS (`X-Forwarded-Proto`, or `Forwarded`'s
/// `proto`), on sign-in and sign-out alike, and not over plain HTTP; the
/// cookie signs in either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_cookie_is_secure_behind_https() {
    let dir = temp_dir();
    let (weft, key) = serve_console(dir.path());
    let login = [("key", key.as_str())];
    let plain = "weft_console=TOKEN; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=28800";
    let secure = "weft_console=TOKEN; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=28800; Secure";
    for (headers, want) in [
        (vec![], plain),
        (vec![("x-forwarded-proto", "http")], plain),
        (vec![("x-forwarded-proto", "https")], secure),
        (vec![("x-forwarded-proto", "HTTPS")], secure),
        // Proxies in a chain: the first is the one the browser reached.
        (vec![("x-forwarded-proto", "https, http")], secure),
        (
            vec![("forwarded", "for=192.0.2.7;proto=https;host=weft.example")],
            secure,
        ),
        (
            vec![("forwarded", "for=192.0.2.7;host=weft.example")],
            plain,
        ),
    ] {
        let (status, cookies) = console_post(&weft.base, "/ui/login", &login, &headers).await;
        assert_eq!(status, 303, "{headers:?}");
        let got: Vec<String> = cookies.iter().map(|c| masked(c)).collect();
        assert_eq!(got, [want], "{headers:?}");

        // The cookie signs in.
        let token = cookies[0]
            .split_once(';')
            .map(|(pair, _)| pair.to_string())
            .unwrap_or_default();
        let page = reqwest::Client::new()
            .get(format!("{}/ui", weft.base))
            .header("cookie", token)
            .send()
            .await
            .expect("the console answers");
        assert_eq!(page.status(), 200, "{headers:?}");
    }

    let out = "weft_console=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0";
    for (headers, want) in [
        (vec![], out.to_string()),
        (
            vec![("x-forwarded-proto", "https")],
            format!("{out}; Secure"),
        ),
    ] {
        let (status, cookies) = console_post(&weft.base, "/ui/logout", &[], &headers).await;
        assert_eq!(status, 303, "{headers:?}");
        assert_eq!(cookies, [want], "{headers:?}");
    }
}

/// The hashes of componentize-py 0.25.1's wheels on PyPI (every platform
/// it publishes a wheel for), as weft pins them.
const COMPONENTIZE_PY_REQUIREMENTS: &str = "componentize-py==0.25.1 \\
    --hash=sha256:65fbc4a94df1de8acf7da50a1f5ed1711230188844e53e6332d99029be4e0afa \\
    --hash=sha256:a556991534cc496207a9d2ca733c4b0f17ed38ef56a8d6b5f1847fdf1225dd1b \\
    --hash=sha256:7b6a87c520358166843af0daa86d2312d7af4cbcbbf1e598951085cf7f2991ca \\
    --hash=sha256:8623cd8cab8453cb0cd8bf03f3c7103420d06f2f3d360186a280a70a1ca5e89f \\
    --hash=sha256:c7fd552fb0849858b0c1e8981543ed5dff4b0cc1597a8ea0bc26a495786dc0c6
";

/// A stand-in for python3 or npm at `dir/name`: it writes its arguments,
/// one a line, to `dir/name.args`, copies the file named after `-r` to
/// `dir/name.requirements` and the `package-lock.json` of the folder it
/// runs in to `dir/name.lock`, and fails.
fn recorder(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = dir.join(name);
    let out = out.display();
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n: > '{out}.args'\nprev=\nfor a in \"$@\"; do\n  printf '%s\\n' \"$a\" >> '{out}.args'\n  \
             if [ \"$prev\" = -r ]; then cp \"$a\" '{out}.requirements'; fi\n  prev=$a\ndone\n\
             if [ -f package-lock.json ]; then cp package-lock.json '{out}.lock'; fi\n\
             echo 'recorded, not installed' >&2\nexit 3\n"
        ),
    )
    .expect("write the recorder");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// The PATH of this test process without any folder holding a
/// componentize-py, so weft looks for its own install.
fn path_without_componentize_py() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| !d.join("componentize-py").exists())
        .collect();
    std::env::join_paths(dirs).expect("PATH joins")
}

/// `weft exec --lang LANG` on a machine without that toolchain, whose
/// installer (`WEFT_PYTHON` or `WEFT_NPM`) is a [`recorder`]: weft's
/// stderr, asserting that it failed.
fn exec_installing(dir: &Path, lang: &str, installer: (&str, &Path)) -> String {
    let cfg = dir.join("weft.toml");
    std::fs::write(&cfg, "").expect("write config");
    let file = dir.join(format!("code.{lang}"));
    std::fs::write(&file, "return 1").expect("write code");
    let out = weft()
        .env_remove("WEFT_TOOLS")
        .env_remove("WEFT_COMPONENTIZE_JS")
        .env_remove("WEFT_INTERPRETER_DIR")
        .env_remove("WEFT_NO_INSTALL")
        .env("PATH", path_without_componentize_py())
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("WEFT_CACHE_DIR", dir.join("cache"))
        .env(installer.0, installer.1)
        .arg("-c")
        .arg(&cfg)
        .args(["exec", "--lang", lang])
        .arg(&file)
        .output_timed()
        .expect("weft exec runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("recorded, not installed"), "{stderr}");
    stderr
}

/// The arguments `name` was run with, the install folders' random names
/// masked (`SCRATCH`, and `REQUIREMENTS` for a `.txt` file beside it).
fn recorded_args(dir: &Path, name: &str) -> Vec<String> {
    let scratch = format!("{}/weft/.install-", dir.join("data").display());
    std::fs::read_to_string(dir.join(format!("{name}.args")))
        .expect("the installer ran")
        .lines()
        .map(|a| match a.strip_prefix(&scratch) {
            Some(rest) if rest.ends_with(".txt") => "REQUIREMENTS".to_string(),
            Some(_) => "SCRATCH".to_string(),
            None => a.to_string(),
        })
        .collect()
}

/// componentize-py is installed by pip with every wheel pinned by its
/// hash, and nothing else (no dependencies, wheels only).
#[test]
fn pip_installs_componentize_py_pinned_by_hash() {
    let dir = temp_dir();
    let python = recorder(dir.path(), "python3");
    let stderr = exec_installing(dir.path(), "python", ("WEFT_PYTHON", &python));
    assert!(
        stderr.contains("installing componentize-py 0.25.1 needs Python 3 with pip"),
        "{stderr}"
    );
    assert_eq!(
        recorded_args(dir.path(), "python3"),
        [
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--target",
            "SCRATCH",
            "-r",
            "REQUIREMENTS",
        ]
    );
    let requirements = std::fs::read_to_string(dir.path().join("python3.requirements"))
        .expect("pip was handed a requirements file");
    assert_eq!(requirements, COMPONENTIZE_PY_REQUIREMENTS);
    // Nothing is left behind by the failed install.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("data/weft"))
        .expect("weft's data folder")
        .map(|e| e.expect("an entry").file_name())
        .filter(|n| n.to_string_lossy().starts_with(".install-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The JavaScript toolchain is installed by `npm ci` from the pinned lock,
/// every package in it pinned by a sha512 integrity, and no package's
/// install scripts run.
#[test]
fn npm_installs_componentize_js_from_the_lock_without_scripts() {
    let dir = temp_dir();
    let npm = recorder(dir.path(), "npm");
    let stderr = exec_installing(dir.path(), "js", ("WEFT_NPM", &npm));
    assert!(
        stderr.contains("installing componentize-js 0.23.0 needs npm"),
        "{stderr}"
    );
    assert_eq!(
        recorded_args(dir.path(), "npm"),
        [
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel=error"
        ]
    );
    let lock: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("npm.lock")).expect("npm was handed a lock"),
    )
    .expect("the lock is JSON");
    let packages = lock["packages"].as_object().expect("the lock's packages");
    let pinned = packages
        .iter()
        .filter(|(path, _)| !path.is_empty())
        .filter(|(_, p)| {
            p["integrity"]
                .as_str()
                .is_some_and(|i| i.starts_with("sha512-"))
        })
        .count();
    assert_eq!(pinned, packages.len() - 1, "every package pinned by sha512");
    assert!(
        packages.contains_key("node_modules/@bytecodealliance/componentize-js"),
        "{:?}",
        packages.keys().take(5).collect::<Vec<_>>()
    );
}
