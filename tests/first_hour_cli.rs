//! More of what new users tripped on in their first hour (issue 27), kept
//! fixed on the command line: a limit of zero is refused by name before
//! anything starts; `weft tools --tenant` shows exactly a tenant's
//! `tools/list`; `weft check` finds tenant patterns that match nothing;
//! and two configs in one folder keep their keys in files of their own.

use std::path::Path;
use std::process::Output;

use crate::support::*;

/// stderr as text.
fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `weft -c CONFIG ARGS…`, its output.
fn weft_with(config: &Path, args: &[&str]) -> Output {
    weft()
        .arg("-c")
        .arg(config)
        .args(args)
        .output_timed()
        .expect("run weft")
}

/// A zero or negative `--timeout`, `--fuel` or `--memory` would stop the
/// policy before it did anything: each is refused with exit 2 and one
/// line naming the flag. `--fuel unlimited` still lifts the fuel limit.
#[test]
fn zero_limits_are_refused_by_name() {
    let dir = temp_dir();
    let cfg = dir.path().join("weft.toml");
    std::fs::write(&cfg, "[servers.echo]\nbuiltin = \"echo\"\n").unwrap();
    for (flags, line) in [
        (
            &["--timeout", "0s"][..],
            "weft: --timeout must be more than zero (got 0s)\n",
        ),
        (
            &["--timeout", "0"][..],
            "weft: --timeout must be more than zero (got 0)\n",
        ),
        (
            &["--timeout", "-1s"][..],
            "weft: --timeout must be more than zero (got -1s)\n",
        ),
        (
            &["--fuel", "0"][..],
            "weft: --fuel must be more than zero (got 0)\n",
        ),
        (
            &["--fuel=-5"][..],
            "weft: --fuel must be more than zero (got -5)\n",
        ),
        (
            &["--memory", "0MiB"][..],
            "weft: --memory must be more than zero (got 0MiB)\n",
        ),
    ] {
        let mut args = vec!["run", "greet"];
        args.extend_from_slice(flags);
        let out = weft_with(&cfg, &args);
        assert_eq!((out.status.code(), err(&out).as_str()), (Some(2), line));
    }
    // Unlimited fuel passes the flags; the run then stops at the unknown
    // policy, as it would without them.
    let out = weft_with(
        &cfg,
        &["run", "greet", "--fuel", "unlimited", "--timeout", "2s"],
    );
    let plain = weft_with(&cfg, &["run", "greet"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err(&out), err(&plain));
    assert!(
        err(&out).starts_with("weft: no policy named \"greet\""),
        "{}",
        err(&out)
    );
}
