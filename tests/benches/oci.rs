//! Benchmark (case 12): components from an OCI registry.
//!
//! The `builtin:openapi` adapter's component (the largest weft ships) in
//! a local registry (Debian's docker-registry), signed: a pull and verify
//! from a cold cache, and a warm one (cached by its digest, the signature
//! read again); then `Hub::start` of five component servers from OCI,
//! cached, against the same five from files, alternately. Prints figures;
//! asserts nothing about speed.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::record::figure;
use crate::support::registry::Registry;
use crate::support::*;

/// Pulls of each kind, and starts of each kind.
const PULLS: usize = 15;
const STARTS: usize = 15;
/// The component servers of the start-up comparison.
const SERVERS: usize = 5;

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

fn key_pair(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let pair = rcgen::KeyPair::generate().expect("a P-256 key");
    let (private, public) = (dir.join("bench.key"), dir.join("bench.pub"));
    std::fs::write(&private, pair.serialize_pem()).expect("write the key");
    std::fs::write(&public, pair.public_key_pem()).expect("write the key");
    (private, public)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
pub async fn run() {
    println!("== 12. components from an OCI registry ==");
    let dir = temp_dir();
    let reg = Registry::plain(dir.path());
    let registries = weft::oci::Registries::default();
    let (private, public) = key_pair(dir.path());
    let private = weft::oci::SigningKey::read(&private, None).expect("the private key");
    let trust = weft::oci::Trust {
        keys: vec![weft::oci::TrustedKey::read(&public).expect("the key")],
        require_signatures: true,
        keyless: None,
    };
    let openapi = guest_wasm("weft-openapi");
    let size_mib = std::fs::metadata(&openapi).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
    let reference = weft::oci::OciRef::parse(&reg.oci("bench/openapi:1.0")).expect("a reference");
    let pushed = weft::oci::push(&registries, &openapi, &reference)
        .await
        .expect("push");
    weft::oci::sign(&registries, &reference, &private)
        .await
        .expect("sign");

    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for round in 0..=PULLS {
        let cache = dir.path().join(format!("cache-{round}"));
        let blobs = weft::oci::Blobs::open(Some(cache)).expect("a cache");
        let t = Instant::now();
        let first = weft::oci::pull(&registries, &blobs, &reference, None, false, &trust)
            .await
            .expect("a cold pull");
        let took_cold = t.elapsed();
        let t = Instant::now();
        let again = weft::oci::pull(
            &registries,
            &blobs,
            &reference,
            Some(&first.digest),
            false,
            &trust,
        )
        .await
        .expect("a warm pull");
        let took_warm = t.elapsed();
        assert_eq!(first.digest, pushed.digest);
        assert_eq!(again.source, weft::oci::Source::Cache);
        assert!(matches!(again.signed, weft::oci::Signed::Verified(_)));
        // The first round warms the registry's and the disk's caches.
        if round > 0 {
            cold.push(took_cold);
            warm.push(took_warm);
        }
    }
    let (cold_ms, warm_ms) = (median_ms(cold), median_ms(warm));
    println!(
        "the openapi adapter ({size_mib:.1} MiB), pull and verify, median of {PULLS}: cold {cold_ms:.1} ms, warm {warm_ms:.2} ms"
    );
    figure("12", "pull and verify, cold cache", cold_ms, "ms");
    figure("12", "pull and verify, warm cache", warm_ms, "ms");

    // Five component servers, from files and from OCI (cached, signed).
    // Each server its own repository, so each is pulled and verified.
    let adapter = guest_wasm("weft-trivial-adapter-guest");
    let mut refs = Vec::new();
    for i in 0..SERVERS {
        let oci_ref = reg.oci(&format!("bench/adapter{i}:1.0"));
        let parsed = weft::oci::OciRef::parse(&oci_ref).expect("a reference");
        weft::oci::push(&registries, &adapter, &parsed)
            .await
            .expect("push");
        weft::oci::sign(&registries, &parsed, &private)
            .await
            .expect("sign");
        refs.push(oci_ref);
    }
    let entries = |component: &dyn Fn(usize) -> String| -> String {
        (0..SERVERS)
            .map(|i| format!("[servers.a{i}]\ncomponent = {}\n", q(component(i))))
            .collect()
    };
    let files_dir = dir.path().join("files");
    let oci_dir = dir.path().join("oci");
    for d in [&files_dir, &oci_dir] {
        std::fs::create_dir_all(d).expect("a folder");
    }
    let files = config(&files_dir, &entries(&|_| adapter.display().to_string()));
    let trust_toml = format!(
        "[settings.trust]\nkeys = [{}]\nrequire_signatures = true\n",
        q(public.display().to_string())
    );
    let oci = config(&oci_dir, &(trust_toml + &entries(&|i| refs[i].clone())));
    let mut starts = [Vec::new(), Vec::new()];
    // One start of each first, unmeasured: it compiles, pulls and locks.
    for round in 0..=STARTS {
        for (i, cfg) in [&files, &oci].into_iter().enumerate() {
            let t = Instant::now();
            let hub = weft::Hub::start(cfg.clone()).await;
            let took = t.elapsed();
            let up = hub
                .status()
                .iter()
                .filter(|s| s.state == weft::State::Up)
                .count();
            assert_eq!(up, SERVERS, "{:?}", hub.status());
            if round > 0 {
                starts[i].push(took);
            }
            hub.shutdown().await;
        }
    }
    let (files_ms, oci_ms) = (median_ms(starts[0].clone()), median_ms(starts[1].clone()));
    let per = (oci_ms - files_ms) / SERVERS as f64;
    println!(
        "start-up of {SERVERS} component servers, median of {STARTS}: from files {files_ms:.1} ms, from OCI (cached, verified) {oci_ms:.1} ms; {per:.2} ms more per component"
    );
    figure("12", "start-up, 5 components from files", files_ms, "ms");
    figure(
        "12",
        "start-up, 5 components from OCI, cached",
        oci_ms,
        "ms",
    );
    figure("12", "start-up added per OCI component (warm)", per, "ms");
}
