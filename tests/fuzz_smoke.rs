//! The fuzz targets' entry points (see `fuzz/`), driven here by a small
//! seeded mutator over the same seed corpus, so every CI run throws some
//! hundred thousand malformed bodies, configs and adapter request URLs at
//! them: none may panic, and no URL the egress check allows may break its
//! promises.
//! cargo-fuzz explores far more, with coverage, when run locally
//! (`bash .ci/fuzz`).

use std::path::{Path, PathBuf};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Interesting fragments to splice in.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "-1",
    "1e999",
    "\\u0000",
    "\\ud800",
    "\"jsonrpc\"",
    "\"2.0\"",
    "\"id\"",
    "\"method\"",
    "\"params\"",
    "[[",
    "]]",
    "=",
    "\n",
    "${secret:",
    "${env:",
    "[servers.x]",
    "[tenants.t]",
    "include = [\"*.\"]",
    "\u{feff}",
    "\x00",
    "\u{10ffff}",
    "99999999999999999999",
    "\"\\",
    "'''",
    "\"\"\"",
    // URL spellings for the egress check.
    "%2e",
    "%2E.",
    "..",
    "%2f",
    "\\",
    "@",
    "0x7f.",
    "0177.",
    "127.1",
    "2130706433",
    "[::ffff:",
    "[2002:7f00:1::]",
    "169.254.43518",
    ":8080",
    "/v1/",
    "#",
    "?",
    "\u{ff11}",
    "xn--",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at.min(end)..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            3 => v.truncate(at),
            4 => v.insert(at, rng.next() as u8),
            _ => {
                if !v.is_empty() {
                    let from = rng.below(v.len());
                    let end = (from + rng.below(32)).min(v.len());
                    let chunk = v[from..end].to_vec();
                    v.splice(at..at, chunk);
                }
            }
        }
    }
    v
}

fn corpus(kind: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz/corpus")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the seed corpus {} is missing: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn drive(kind: &str, rounds: usize, target: impl Fn(&[u8]) -> bool) {
    let seeds = corpus(kind);
    let mut rng = Rng(0x005e_ed0f_7e57 ^ kind.len() as u64);
    let mut accepted = 0;
    for seed in &seeds {
        assert!(target(seed), "a {kind} seed is refused");
    }
    for round in 0..rounds {
        let seed = &seeds[round % seeds.len()];
        let input = mutate(&mut rng, seed);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
        match outcome {
            Ok(ok) => accepted += usize::from(ok),
            Err(_) => panic!(
                "{kind} target panicked on input {:?}",
                String::from_utf8_lossy(&input)
            ),
        }
    }
    eprintln!("{kind}: {rounds} mutated inputs, {accepted} accepted, no panic");
    assert!(
        accepted < rounds,
        "the mutator never produced a bad {kind} input"
    );
}

#[test]
fn the_json_rpc_intake_never_panics() {
    drive("jsonrpc", 100_000, |data| {
        let ok = weft::serve::intake::check(data).is_ok();
        if ok {
            let _ = serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(data);
        }
        ok
    });
}

#[test]
fn the_config_loader_never_panics() {
    let path = Path::new("/nonexistent/fuzz/weft.toml");
    drive("config", 20_000, |data| {
        std::str::from_utf8(data)
            .map(|text| weft::Config::from_str(text, path).is_ok())
            .unwrap_or(false)
    });
}

/// Mutated request URLs and allow-lists: the check never panics, and
/// every URL it allows verifies (on the list; public unless an entry
/// names the address; no dot segment or credentials; sent as checked).
#[test]
fn the_egress_check_allows_only_what_it_verifies() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let allowed = AtomicUsize::new(0);
    let rounds = 2_000_000;
    drive("egress", rounds, |data| {
        let Ok(text) = std::str::from_utf8(data) else {
            return false;
        };
        let (entries, url) = weft::sandbox::egress::split_case(text);
        let Ok(config) = weft::config::EgressConfig::from_entries(&entries) else {
            return false;
        };
        match weft::sandbox::egress::check(&config, url) {
            Ok(target) => {
                if let Err(why) = target.verify(&config) {
                    panic!("allowed {url:?} under {entries:?}, but: {why}");
                }
                allowed.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(weft::sandbox::egress::Refused::NotUrl(_)) => false,
            Err(_) => true,
        }
    });
    let allowed = allowed.into_inner();
    eprintln!("egress: {rounds} inputs run, {allowed} allowed, every one verified");
    assert!(allowed > 0, "the mutator never produced an allowed URL");
}
