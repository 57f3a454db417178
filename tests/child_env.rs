//! A stdio server starts with a minimal environment: the few variables every
//! program needs, those `settings.pass_env` names, and its own `env`.
//! Nothing else of weft's environment (an agent key, cloud credentials)
//! reaches it.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::*;

/// The variable names in a process's environment.
fn environ_names(pid: u32) -> BTreeSet<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("read the server's environ");
    raw.split(|&b| b == 0)
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let name = kv.split(|&b| b == b'=').next().unwrap_or(kv);
            String::from_utf8_lossy(name).into_owned()
        })
        .collect()
}

#[test]
fn a_stdio_server_sees_only_the_variables_it_was_given() {
    let dir = temp_dir();
    let config = dir.path().join("weft.toml");
    let fixture = target_bin("weft-faulty-server");
    std::fs::write(
        &config,
        format!(
            "[settings]\npass_env = [\"WEFT_TEST_PASSED\"]\n{}env = {{ OWN_SETTING = \"mine\" }}\n",
            command_entry("fixture", &fixture, &[])
        ),
    )
    .expect("write config");
    let mut cmd = weft();
    cmd.arg("--config")
        .arg(&config)
        // What weft's own environment holds: credentials no server may see,
        // and one variable the config passes on.
        .env("WEFT_KEY", "agent-key-123")
        .env("AWS_SECRET_ACCESS_KEY", "cloud-credential-456")
        .env("WEFT_TEST_PASSED", "passed-on")
        .env("WEFT_TEST_NOT_PASSED", "kept-back")
        .env("LANG", "C.UTF-8")
        .env("TMPDIR", dir.path());
    let (weft, base) = serve_weft_http(&mut cmd);
    let weft_pid = weft.0.id();
    wait_until(Duration::from_secs(30), "the fixture to be up", || {
        http_status(&base)["servers"][0]["state"] == "up"
    });
    let children = children_of(weft_pid);
    let server = children
        .iter()
        .copied()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.starts_with(fixture.display().to_string().as_bytes()))
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("no fixture among weft's children {children:?}"));
    let names = environ_names(server);
    let expected: BTreeSet<String> = [
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "WEFT_TEST_PASSED",
        "OWN_SETTING",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, expected, "the server's environment");
    let environ = std::fs::read(format!("/proc/{server}/environ")).expect("environ");
    let text = String::from_utf8_lossy(&environ);
    for value in ["agent-key-123", "cloud-credential-456", "kept-back"] {
        assert!(!text.contains(value), "{value} reached the server");
    }
    assert!(text.contains("WEFT_TEST_PASSED=passed-on"), "{text}");
}

#[test]
fn a_bad_pass_env_name_is_a_config_error() {
    let dir = temp_dir();
    let config = dir.path().join("weft.toml");
    std::fs::write(&config, "[settings]\npass_env = [\"A=B\"]\n").expect("write config");
    let out = weft()
        .arg("--config")
        .arg(&config)
        .arg("check")
        .output_timed()
        .expect("run weft check");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("settings.pass_env")
            && err.contains("\"A=B\" is not an environment variable name"),
        "{err}"
    );
}
