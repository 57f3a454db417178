//! The protocol eras of MCP, parsed from a version string in one place and
//! ordered, so no code compares version strings.
//!
//! Versions up to 2025-11-25 open a session with `initialize` (the
//! handshake era); 2026-07-28 and later are stateless: every request
//! carries what the server needs, and input requests come back as
//! `input-required` results.

/// The first version of the stateless era.
pub const STATELESS_SINCE: &str = "2026-07-28";

/// An MCP protocol era. `Handshake < Stateless`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Era {
    /// 2025-11-25 and before: `initialize`, then a session.
    Handshake,
    /// 2026-07-28 and after: stateless requests.
    Stateless,
}

impl Era {
    /// The era of a protocol version (`YYYY-MM-DD`). Anything that is not
    /// a date is the handshake era: a peer must not talk its way into the
    /// other era with a made-up version.
    pub fn of(version: &str) -> Era {
        match date(version) {
            Some(d) if Some(d) >= date(STATELESS_SINCE) => Era::Stateless,
            _ => Era::Handshake,
        }
    }

    /// Whether this is the stateless era.
    pub fn is_stateless(self) -> bool {
        self == Era::Stateless
    }
}

/// `YYYY-MM-DD` as numbers, or `None` for anything else.
fn date(version: &str) -> Option<(u16, u8, u8)> {
    let b = version.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| -> Option<u16> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let year = num(version.get(0..4)?)?;
    let month = u8::try_from(num(version.get(5..7)?)?).ok()?;
    let day = u8::try_from(num(version.get(8..10)?)?).ok()?;
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some((year, month, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_fall_in_their_era() {
        for v in [
            "2024-11-05",
            "2025-03-26",
            "2025-06-18",
            "2025-11-25",
            "2026-07-27",
        ] {
            assert_eq!(Era::of(v), Era::Handshake, "{v}");
        }
        for v in [STATELESS_SINCE, "2026-12-01", "2027-01-01"] {
            assert_eq!(Era::of(v), Era::Stateless, "{v}");
        }
        assert!(Era::Handshake < Era::Stateless);
    }

    #[test]
    fn a_made_up_version_is_the_handshake_era() {
        // As strings these all compare above "2026-07-28".
        for v in [
            "9",
            "zzzz",
            "2026-13-01",
            "2026-07-99",
            "2026-7-28x",
            "３０２６-01-01",
            "",
        ] {
            assert_eq!(Era::of(v), Era::Handshake, "{v:?}");
        }
    }
}
