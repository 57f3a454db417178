//! weft's benchmarks, one binary with one case per module: `cargo bench -p
//! weft-integration --profile dev --bench cases -- CASE [CASE…]` runs the
//! named cases in turn (`bash bench/run` runs the suite and writes the
//! report). One binary rather than one per case: the test harness in
//! `tests/support` and the link against weft are built once.
//!
//! Each case prints its figures and, when `WEFT_BENCH_OUT` names a file,
//! appends them to it as JSON lines; none asserts anything about speed.

#[path = "../support/mod.rs"]
mod support;

#[path = "common/hostile.rs"]
mod hostile;
#[path = "common/ports.rs"]
mod ports;
#[path = "common/record.rs"]
mod record;
#[path = "common/roundtrips.rs"]
mod roundtrips;

mod adapter;
mod codemode;
mod confine;
mod journal;
mod oci;
mod openapi;
mod polyglot;
mod replicas;
mod sandbox;
mod scale;
mod serve;
mod upstream;

/// Every case, by the name `bench/run` and the README use.
const CASES: &[(&str, fn())] = &[
    ("sandbox", sandbox::run),
    ("serve", serve::run),
    ("scale", scale::run),
    ("polyglot", polyglot::run),
    ("openapi", openapi::run),
    ("adapter", adapter::run),
    ("codemode", codemode::run),
    ("journal", journal::run),
    ("confine", confine::run),
    ("replicas", replicas::run),
    ("upstream", upstream::run),
    ("oci", oci::run),
];

fn main() {
    // `cargo bench` adds `--bench`; every other argument names a case.
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // The floor proxy the serve case starts as a process of its own.
    if let [mode, everything] = names.as_slice()
        && mode == "floor-proxy"
    {
        serve::floor::main(std::path::Path::new(everything));
        return;
    }
    let known = || CASES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    if names.is_empty() {
        eprintln!(
            "name the cases to run: cargo bench -p weft-integration --profile dev --bench cases -- CASE…\ncases: {}",
            known()
        );
        std::process::exit(2);
    }
    let mut chosen = Vec::new();
    for name in &names {
        match CASES.iter().find(|(n, _)| n == name) {
            Some((_, run)) => chosen.push(*run),
            None => {
                eprintln!("no bench case named {name:?}; cases: {}", known());
                std::process::exit(2);
            }
        }
    }
    for run in chosen {
        run();
    }
}
