//! The value parsers of `weft run`'s limit flags (`--fuel`, `--timeout`,
//! `--memory`). A limit of zero (or less) would stop a policy before it
//! did anything, so it is refused here, before any server starts; "no
//! limit" is spelled `--fuel unlimited`.
//!
//! Their errors are [`FlagError`]s, which `cli_main` prints as one line
//! (`weft: --timeout must be more than zero (got 0s)`) with exit code 2,
//! instead of clap's usage block.

use std::time::Duration;

use crate::config::{parse_duration, parse_size};

/// A limit flag's value that cannot be used; its text names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlagError(pub String);

/// `--fuel`: a number of fuel units, or `unlimited`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fuel(pub Option<u64>);

/// The message for a limit of zero or less, as written.
fn not_positive(flag: &str, text: &str) -> FlagError {
    FlagError(format!(
        "{flag} must be more than zero (got {})",
        text.trim()
    ))
}

/// Whether `text` is written as a negative amount.
fn negative(text: &str) -> bool {
    text.trim_start().starts_with('-')
}

/// Parses `--fuel`: `unlimited`, or a count more than zero (`50M`, `1_000`).
pub fn fuel(text: &str) -> Result<Fuel, FlagError> {
    if text.trim() == "unlimited" {
        return Ok(Fuel(None));
    }
    if negative(text) {
        return Err(not_positive("--fuel", text));
    }
    match crate::config::policy::parse_count(text) {
        Ok(0) => Err(not_positive("--fuel", text)),
        Ok(n) => Ok(Fuel(Some(n))),
        Err(_) => Err(FlagError(format!(
            "--fuel {text:?}: write a number of fuel units (like 50M), or \"unlimited\""
        ))),
    }
}

/// Parses `--timeout`: a duration more than zero (`500ms`, `10s`).
pub fn timeout(text: &str) -> Result<Duration, FlagError> {
    positive_duration("--timeout", text)
}

/// Parses `--interval` (of `weft status --watch`): at least 100 ms.
pub fn interval(text: &str) -> Result<Duration, FlagError> {
    let d = positive_duration("--interval", text)?;
    if d < Duration::from_millis(100) {
        return Err(FlagError(format!(
            "--interval must be at least 100ms (got {})",
            text.trim()
        )));
    }
    Ok(d)
}

fn positive_duration(flag: &str, text: &str) -> Result<Duration, FlagError> {
    if negative(text) {
        return Err(not_positive(flag, text));
    }
    match parse_duration(text) {
        Ok(d) if d.is_zero() => Err(not_positive(flag, text)),
        Ok(d) => Ok(d),
        Err(e) => Err(FlagError(format!("{flag}: {e}"))),
    }
}

/// Parses `--memory`: a size more than zero, up to the most a policy may
/// have (`64MiB`).
pub fn memory(text: &str) -> Result<u64, FlagError> {
    if negative(text) {
        return Err(not_positive("--memory", text));
    }
    match parse_size(text) {
        Ok(0) => Err(not_positive("--memory", text)),
        Ok(bytes) => crate::config::policy::check_memory(bytes)
            .map(|()| bytes)
            .map_err(|e| FlagError(format!("--memory: {e}"))),
        Err(e) => Err(FlagError(format!("--memory: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_negative_limits_are_refused_by_name() {
        let refusals = [
            (timeout("0s").map(drop), "--timeout", "0s"),
            (timeout("-1s").map(drop), "--timeout", "-1s"),
            (fuel("0").map(drop), "--fuel", "0"),
            (memory("0MiB").map(drop), "--memory", "0MiB"),
        ];
        for (result, flag, text) in refusals {
            let want = format!("{flag} must be more than zero (got {text})");
            assert_eq!(result, Err(FlagError(want)));
        }
        assert_eq!(fuel("unlimited"), Ok(Fuel(None)));
        assert_eq!(fuel("1_000"), Ok(Fuel(Some(1000))));
        assert_eq!(timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(memory("64MiB"), Ok(64 << 20));
        assert!(fuel("lots").is_err_and(|e| e.0.starts_with("--fuel \"lots\"")));
    }
}
