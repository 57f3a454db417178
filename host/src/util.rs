//! Small helpers shared by several modules.

use std::time::Duration;

/// The operating system's random source failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(String);

/// `2 * bytes` hex digits (at most 64) from the operating system's random
/// source. When that source fails this fails too: nothing that must be
/// unguessable (an API key, a `requestState`) is ever made from the time,
/// the process id or a counter.
pub fn random_hex(bytes: usize) -> Result<String, RandomError> {
    let mut buf = [0u8; 32];
    let buf = &mut buf[..bytes.min(32)];
    getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// An id for one request in the logs. It correlates log lines and guards
/// nothing, so when the random source fails it is a process-wide count.
pub fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    random_hex(6).unwrap_or_else(|_| format!("n{}", COUNT.fetch_add(1, Ordering::Relaxed)))
}

/// `850 ms`, `2.4 s`, `3 min`: short human durations.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 120_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{:.0} min", ms / 60_000.0)
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the
/// cut with an ellipsis.
pub fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push('…');
}

/// Names longer than this get no "did you mean" hint: no real name is
/// that long, and the comparison would cost as much as the name is long.
pub const HINT_MAX_CHARS: usize = 128;

/// How many candidates of similar length [`closest`] compares at most.
pub const HINT_MAX_CANDIDATES: usize = 1_000;

/// The closest candidate to `name` by edit distance, if it is close enough
/// to be a likely typo. Bounded: a `name` over [`HINT_MAX_CHARS`] gets no
/// hint, only candidates whose length could be within the accepted
/// distance are compared, and at most [`HINT_MAX_CANDIDATES`] of them.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    if len > HINT_MAX_CHARS {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| c.len() <= HINT_MAX_CHARS * 4)
        .filter_map(|c| {
            let clen = c.chars().count();
            let max = clen.max(len) / 3 + 1;
            (clen.abs_diff(len) <= max).then_some((c, max))
        })
        .take(HINT_MAX_CANDIDATES)
        .map(|(c, max)| (strsim::levenshtein(name, c), max, c))
        .filter(|(d, max, _)| d <= max)
        .min_by_key(|(d, _, _)| *d)
        .map(|(_, _, c)| c)
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A random number in [0, 1), for jitter and sampling: it spreads retries
/// out and picks samples, and protects nothing. It comes from a per-thread
/// generator (fastrand), not the OS: the recent-calls sample draws one on
/// every call, and a system call each time showed in the call path.
pub fn random_unit() -> f64 {
    fastrand::f64()
}

/// Writes a file only its owner can read (mode 0600), through a temporary
/// file in the same directory and a rename, so readers never see half of it.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let suffix = random_hex(4).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".{name}.{suffix}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The body, read as it comes (a chunked one too), or nothing when it
/// runs over `cap` bytes.
pub async fn capped_body(mut response: reqwest::Response, cap: usize) -> Vec<u8> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Vec::new();
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > cap {
            return Vec::new();
        }
        body.extend_from_slice(&chunk);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("git_stauts", ["git_status", "git_log"]),
            Some("git_status")
        );
        assert_eq!(closest("zzz", ["git_status"]), None);
        // A huge name gets no hint and costs nothing.
        let huge = "a".repeat(4 << 20);
        assert_eq!(closest(&huge, ["aaaa"]), None);
        // Candidates of a very different length are not compared.
        let long = "git_status".repeat(50);
        assert_eq!(
            closest("git_stauts", [long.as_str(), "git_status"]),
            Some("git_status")
        );
        assert_eq!(fmt_duration(Duration::from_millis(850)), "850 ms");
    }

    #[test]
    fn random_hex_is_hex_of_the_asked_length_and_never_repeats() {
        let a = random_hex(16).unwrap();
        let b = random_hex(16).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(random_hex(40).unwrap().len(), 64, "at most 32 bytes");
        let u = random_unit();
        assert!((0.0..1.0).contains(&u));
    }
}
