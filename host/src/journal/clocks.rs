//! The guest's clocks and random numbers under a journal.
//!
//! Each `wall-clock.now` and `monotonic-clock.now` the guest makes is an
//! event: recorded live, answered from the journal on a replay. Random
//! bytes (`wasi:random`, secure and insecure, and the insecure seed) come
//! from generators seeded by the run's own seed, kept in its row: a replay
//! that asks for the same bytes in the same order gets the same bytes,
//! without a row per read. The seed is as secret as the journal file.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use super::model::Kind;
use super::recorder::Recorder;

/// One stream of the run's randomness.
fn stream(seed: &[u8; 32], name: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(name.as_bytes());
    h.finalize().into()
}

/// Gives a WASI context the run's journaled clocks and seeded random.
pub fn wire(builder: &mut WasiCtxBuilder, recorder: &Arc<Recorder>) {
    let seed = recorder.seed;
    builder
        .wall_clock(Wall(recorder.clone()))
        .monotonic_clock(Monotonic(recorder.clone()))
        .secure_random(StdRng::from_seed(stream(&seed, "secure")))
        .insecure_random(StdRng::from_seed(stream(&seed, "insecure")));
    let s = stream(&seed, "insecure-seed");
    let mut low = [0u8; 16];
    low.copy_from_slice(&s[..16]);
    builder.insecure_random_seed(u128::from_le_bytes(low));
}

struct Wall(Arc<Recorder>);

impl HostWallClock for Wall {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        let text = self.0.observe(Kind::WallClock, "", || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
                .to_string()
        });
        let nanos: u128 = text.parse().unwrap_or(0);
        Duration::new(
            u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
            (nanos % 1_000_000_000) as u32,
        )
    }
}

struct Monotonic(Arc<Recorder>);

impl HostMonotonicClock for Monotonic {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        let r = &self.0;
        let text = r.observe(Kind::Monotonic, "", || {
            let since = u64::try_from(r.mono_origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
            since.saturating_add(r.mono_offset).to_string()
        });
        text.parse().unwrap_or(0)
    }
}
