//! Durations and sizes in config files and on the command line.
//!
//! Durations are humantime's (`500ms`, `30s`, `2m`, `1h 30m`, `2days`, …),
//! plus two spellings weft has always accepted: a bare number of seconds
//! (`7`, `0.5`) and a decimal before one unit (`1.5s`, `0.25h`). Sizes are
//! bytesize's (`64KiB`, `64 MiB`, `1.5GiB`, `64KB` = 64,000 bytes), plus a
//! bare number of bytes and weft's short binary units (`64K`, `64M`, `1G`
//! are powers of 1024).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// Why a duration, a size or a count (in a config file or on the command
/// line) cannot be used. `text` is the value as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Text that does not read as a duration.
    #[error("{text:?} is not a duration; write it like 500ms, 30s, 2m or 1h")]
    NotADuration {
        /// The value as written.
        text: String,
    },
    /// A duration with a unit humantime does not know (`3 fortnights`).
    #[error("{text:?} has an unknown unit {unit:?}; use ms, s, m or h")]
    UnknownDurationUnit {
        /// The value as written.
        text: String,
        /// The unknown unit, as written.
        unit: String,
    },
    /// A duration below zero or above `MAX_SECONDS`.
    #[error("{text:?} is out of range")]
    OutOfRange {
        /// The value as written.
        text: String,
    },
    /// Text that does not read as a size (no number, or a malformed one).
    #[error("{text:?} is not a size; write it like 64MiB")]
    NotASize {
        /// The value as written.
        text: String,
    },
    /// A size whose unit is none of the byte units weft knows.
    #[error("{text:?} has an unknown unit {unit:?}; use KiB, MiB or GiB")]
    UnknownSizeUnit {
        /// The value as written.
        text: String,
        /// The unknown unit, as written.
        unit: String,
    },
    /// A size unit that bytesize could not read (`reason` is its words).
    #[error("{text:?} is not a size ({reason}); write it like 64MiB")]
    UnreadableSize {
        /// The value as written.
        text: String,
        /// bytesize's message.
        reason: String,
    },
    /// A size of `u64::MAX` bytes or more.
    #[error("{text:?} is too large")]
    TooLarge {
        /// The value as written.
        text: String,
    },
    /// Text that is not a whole number, with or without a `k`, `M` or `G`
    /// suffix.
    #[error("{text:?} is not a count")]
    NotACount {
        /// The value as written.
        text: String,
    },
    /// A policy memory limit of zero or above
    /// [`super::policy::MAX_MEMORY`].
    #[error("{bytes} bytes is outside 1 byte to 1GiB, the most a policy may have")]
    MemoryOutOfRange {
        /// The limit asked for, in bytes.
        bytes: u64,
    },
}

/// The longest duration a config may give, in seconds (about 31 years),
/// so that no deadline computed from one can overflow.
pub const MAX_SECONDS: f64 = 1e9;

/// Parses a duration: `500ms`, `1.5s`, `30s`, `2m`, `1h 30m`, or a bare
/// number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, AmountError> {
    let t = text.trim();
    let not_a_duration = || AmountError::NotADuration { text: text.into() };
    let out_of_range = || AmountError::OutOfRange { text: text.into() };
    let secs = if let Ok(secs) = t.parse::<f64>() {
        secs
    } else if let Some((value, unit)) = decimal(t) {
        // A decimal before one unit: the unit's length, from humantime.
        let one = humantime::parse_duration(&format!("1{unit}"))
            .map_err(|e| unit_error(text, e).unwrap_or_else(not_a_duration))?;
        value * one.as_secs_f64()
    } else {
        match humantime::parse_duration(t) {
            Ok(d) if d.as_secs_f64() <= MAX_SECONDS => return Ok(d),
            Ok(_) | Err(humantime::DurationError::NumberOverflow) => return Err(out_of_range()),
            Err(e) => return Err(unit_error(text, e).unwrap_or_else(not_a_duration)),
        }
    };
    if !secs.is_finite() || !(0.0..=MAX_SECONDS).contains(&secs) {
        return Err(out_of_range());
    }
    Duration::try_from_secs_f64(secs).map_err(|_| out_of_range())
}

/// `1.5s` as (1.5, "s"): a number with a decimal point, then a unit.
fn decimal(t: &str) -> Option<(f64, &str)> {
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = t.split_at(split);
    if !num.contains('.') {
        return None;
    }
    let unit = unit.trim();
    if unit.is_empty() || !unit.chars().all(|c| c.is_alphabetic()) {
        return None;
    }
    Some((num.parse().ok()?, unit))
}

/// The error for a unit humantime does not know, if that was the problem.
fn unit_error(text: &str, e: humantime::DurationError) -> Option<AmountError> {
    match e {
        humantime::DurationError::UnknownUnit { unit, .. } => {
            Some(AmountError::UnknownDurationUnit {
                text: text.into(),
                unit,
            })
        }
        _ => None,
    }
}

/// Parses a size: `65536`, `64KiB`, `64MiB`, `1GiB`, `1.5 GiB` (also KB,
/// MB, GB as powers of 1000, and K, M, G as powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, AmountError> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(n);
    }
    // weft's short units are binary; bytesize reads `K` as 1000.
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let spelled = match unit {
        "K" => "KiB",
        "M" => "MiB",
        "G" => "GiB",
        other => other,
    };
    let known = [
        "B", "KiB", "MiB", "GiB", "TiB", "KB", "kB", "MB", "GB", "TB",
    ];
    let not_a_size = || AmountError::NotASize { text: text.into() };
    if num.is_empty() {
        return Err(not_a_size());
    }
    if !known.contains(&spelled) {
        return Err(AmountError::UnknownSizeUnit {
            text: text.into(),
            unit: unit.into(),
        });
    }
    let one: bytesize::ByteSize =
        format!("1 {spelled}")
            .parse()
            .map_err(|reason| AmountError::UnreadableSize {
                text: text.into(),
                reason,
            })?;
    let too_large = || AmountError::TooLarge { text: text.into() };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(one.as_u64()).ok_or_else(too_large);
    }
    let n: f64 = num.parse().map_err(|_| not_a_size())?;
    let bytes = (n * one.as_u64() as f64).round();
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(too_large());
    }
    Ok(bytes as u64)
}

/// A duration: a number of seconds (`30`, `0.5`) or a string with a unit
/// ("500ms", "30s", "2m", "1h 30m"), up to 10^9 seconds.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawDuration {
    Seconds(f64),
    Text(String),
}

impl RawDuration {
    pub(crate) fn resolve(
        &self,
        file: &Path,
        key: &str,
    ) -> Result<std::time::Duration, ConfigError> {
        match self {
            // The same range as a written duration: up to 10^9 s, so that
            // no deadline computed from it can overflow.
            RawDuration::Seconds(s) if (0.0..=MAX_SECONDS).contains(s) => {
                std::time::Duration::try_from_secs_f64(*s).map_err(|e| {
                    ConfigError::new(
                        file,
                        key,
                        format!("{s} is not a valid number of seconds: {e}"),
                    )
                })
            }
            RawDuration::Seconds(s) => Err(ConfigError::new(
                file,
                key,
                format!("{s} is not a valid number of seconds (0 to {MAX_SECONDS:e})"),
            )),
            RawDuration::Text(t) => {
                parse_duration(t).map_err(|m| ConfigError::new(file, key, m.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("7").unwrap(), Duration::from_secs(7));
        assert_eq!(parse_duration(" 30s ").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        // What humantime adds.
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2min").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("0.5h").unwrap(), Duration::from_secs(1800));
        assert_eq!(
            parse_duration("soon").unwrap_err().to_string(),
            "\"soon\" is not a duration; write it like 500ms, 30s, 2m or 1h"
        );
        for huge in ["99999999999999999999999h", "1000000001", "40years"] {
            let e = parse_duration(huge).unwrap_err();
            assert_eq!(e.to_string(), format!("{huge:?} is out of range"));
            assert_eq!(e, AmountError::OutOfRange { text: huge.into() });
        }
        assert_eq!(
            parse_duration("3 fortnights").unwrap_err().to_string(),
            "\"3 fortnights\" has an unknown unit \"fortnights\"; use ms, s, m or h"
        );
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("64 MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("64KB").unwrap(), 64_000);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("4B").unwrap(), 4);
        assert_eq!(
            parse_size("lots").unwrap_err().to_string(),
            "\"lots\" is not a size; write it like 64MiB"
        );
        assert_eq!(
            parse_size("3 parsecs").unwrap_err().to_string(),
            "\"3 parsecs\" has an unknown unit \"parsecs\"; use KiB, MiB or GiB"
        );
        assert_eq!(
            parse_size("99999999999GiB").unwrap_err(),
            AmountError::TooLarge {
                text: "99999999999GiB".into()
            }
        );
        assert_eq!(
            parse_size("1.2.3K").unwrap_err(),
            AmountError::NotASize {
                text: "1.2.3K".into()
            }
        );
    }
}
