//! Timing the load generator's calls: blocks of calls at a concurrency,
//! a path's row (latency, calls/s at c = 1, 16, 64), and two paths
//! measured in alternating blocks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::record;

use super::callers::Caller;
use super::lean::{LeanHttp, LeanStdio};
use super::{Client, LATENCY_CALLS, LOAD_CALLS};

pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub(super) fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs `total` echo calls with `concurrency` in flight; returns sorted
/// latencies and calls per second.
pub(super) async fn load(
    caller: &Arc<Caller>,
    concurrency: usize,
    total: usize,
) -> (Vec<Duration>, f64) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (caller, next) = (caller.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                let r = caller.call().await;
                samples.push(t.elapsed());
                if let Err(e) = r {
                    panic!("call failed under load: {e}");
                }
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("load task"));
    }
    let wall = start.elapsed();
    all.sort();
    let rate = all.len() as f64 / wall.as_secs_f64();
    (all, rate)
}

/// One path's figures: latency of sequential calls, calls/s at c = 1, 16, 64.
pub(super) struct Row {
    pub(super) label: String,
    pub(super) p50: Duration,
    pub(super) p99: Duration,
    pub(super) rates: Vec<f64>,
}

pub(super) async fn measure(label: &str, client: Client) -> Row {
    let caller = rmcp_caller(label, client).await;
    measure_with(label, caller).await
}

/// An rmcp client and the name its server gives the `echo` tool.
///
/// A gateway may list its tools before it has started its upstream
/// (mcp-hub lists none for a while on a loaded machine), or refuse the
/// list until then, and tells no one when it has: the list is asked again
/// until `echo` is in it, for up to a minute.
pub(super) async fn rmcp_caller(label: &str, client: Client) -> Caller {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tools = match client.list_all_tools().await {
            Ok(tools) => tools,
            Err(e) if Instant::now() >= deadline => panic!("{label}: tools/list failed: {e}"),
            Err(_) => Vec::new(),
        };
        // A gateway may namespace the tool (mcp-hub: `everything__echo`).
        let tool = tools
            .iter()
            .map(|t| t.name.to_string())
            .filter(|n| n == "echo" || n.ends_with("__echo") || n.ends_with("_echo"))
            .min_by_key(|n| n.len());
        match tool {
            Some(tool) => return Caller::Rmcp(client, tool),
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None => panic!(
                "{label}: no echo tool among {} tools after a minute",
                tools.len()
            ),
        }
    }
}

/// How many alternating blocks [`measure_interleaved`] runs per level.
const ROUNDS: usize = 6;

/// Two paths to the same server measured in alternating blocks (a, b, a,
/// b, …), so that the server warming up or the machine's load drifting
/// falls on both alike: latency from blocks of sequential calls, calls/s
/// at each concurrency as the median of the blocks. Returns both rows and,
/// per concurrency, the median of the blocks' a/b ratios (each block of a
/// against the b block right after it).
pub(super) async fn measure_interleaved(
    a: (&str, Caller),
    b: (&str, Caller),
) -> (Row, Row, Vec<f64>) {
    let (a_label, a) = (a.0, Arc::new(a.1));
    let (b_label, b) = (b.0, Arc::new(b.1));
    load(&a, 4, 300).await;
    load(&b, 4, 300).await;
    let (mut a_lat, mut b_lat) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a_lat.extend(load(&a, 1, LATENCY_CALLS / ROUNDS).await.0);
        b_lat.extend(load(&b, 1, LATENCY_CALLS / ROUNDS).await.0);
    }
    a_lat.sort();
    b_lat.sort();
    let (mut a_rates, mut b_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for c in [1, 16, 64] {
        let total = if c == 1 { LATENCY_CALLS } else { LOAD_CALLS } / ROUNDS * 2;
        let (mut ar, mut br, mut rr) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let x = load(&a, c, total).await.1;
            let y = load(&b, c, total).await.1;
            ar.push(x);
            br.push(y);
            rr.push(x / y);
        }
        a_rates.push(record::median(ar));
        b_rates.push(record::median(br));
        ratios.push(record::median(rr));
    }
    let a_row = recorded(a_label, a_lat, a_rates);
    let b_row = recorded(b_label, b_lat, b_rates);
    (a_row, b_row, ratios)
}

/// The throughput ratio of `a` to `b` (two gateways in front of the
/// same kind of server) at c = 16 and 64: the median, over [`ROUNDS`]
/// alternating blocks (a, b, a, b, …), of each a block's calls/s against
/// the b block right after it. Rows measured minutes apart carry the
/// machine's drift between them; on this VM it has moved one peer's
/// calls/s by a fifth from run to run.
pub(super) async fn throughput_ratios(a: &Arc<Caller>, b: &Arc<Caller>) -> Vec<f64> {
    let mut ratios = Vec::new();
    for c in [16, 64] {
        let total = LOAD_CALLS / ROUNDS;
        let mut rr = Vec::new();
        for _ in 0..ROUNDS {
            let x = load(a, c, total).await.1;
            let y = load(b, c, total).await.1;
            rr.push(x / y);
        }
        ratios.push(record::median(rr));
    }
    ratios
}

/// The p50 latencies (µs) of `via` and of `direct`, from sequential
/// calls in alternating blocks (via, direct, via, …), so that the server
/// warming up or the machine's load drifting falls on both alike. The two
/// paths may reach different processes of the same server.
pub(super) async fn added_latency(via: &Arc<Caller>, direct: &Arc<Caller>) -> (f64, f64) {
    load(via, 1, 300).await;
    load(direct, 1, 300).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.extend(load(via, 1, LATENCY_CALLS / ROUNDS).await.0);
        b.extend(load(direct, 1, LATENCY_CALLS / ROUNDS).await.0);
    }
    a.sort();
    b.sort();
    let (a50, b50) = (us(percentile(&a, 0.5)), us(percentile(&b, 0.5)));
    (a50, b50)
}

/// [`added_latency`] with the leanest client on each side (`lean.rs`):
/// one connection read and written in the timing task through weft at
/// `url`, beside JSON-RPC lines on the stdin of a server-everything of its
/// own (`everything` is its entry script); and the bare round trip with
/// that client. Records and prints both.
pub(super) async fn lean_added_latency(url: &str, everything: &std::path::Path) {
    let lean = Arc::new(Caller::LeanHttp(LeanHttp::call_echo(url).await.into()));
    let direct = Arc::new(Caller::LeanStdio(LeanStdio::start(everything).await.into()));
    // Its server is new: warm Node up as much as the other direct server
    // was (the rows before), so that its JIT is not what is compared.
    load(&direct, 1, LATENCY_CALLS + 2 * LOAD_CALLS).await;
    let (via, direct_p50) = added_latency(&lean, &direct).await;
    // The same hop through a proxy that only moves the bytes (floor.rs).
    let (_floor, floor) = super::floor::start(everything).await;
    let (via_floor, direct_floor) = added_latency(&floor, &direct).await;
    drop(direct);
    let health = Arc::new(Caller::LeanHttp(LeanHttp::health(url).await.into()));
    let (_, round_trip) = added_latency(&lean, &health).await;
    record::figure("4", "weft added p50 (lean clients)", via - direct_p50, "µs");
    record::figure(
        "4",
        "floor proxy added p50 (lean clients)",
        via_floor - direct_floor,
        "µs",
    );
    record::figure(
        "4",
        "HTTP round trip (GET /health, lean client) p50",
        round_trip,
        "µs",
    );
    println!(
        "added p50, lean clients: {:+.0} µs ({via:.0} through weft, {direct_p50:.0} direct); \
         through the floor proxy {:+.0} µs; a bare round trip with the lean client: \
         {round_trip:.0} µs",
        via - direct_p50,
        via_floor - direct_floor
    );
}

pub(super) async fn measure_with(label: &str, caller: Caller) -> Row {
    measure_shared(label, &Arc::new(caller)).await
}

/// [`measure_with`] for a caller that is used again afterwards.
pub(super) async fn measure_shared(label: &str, caller: &Arc<Caller>) -> Row {
    // Warm up.
    load(caller, 4, 300).await;
    let (lat, _) = load(caller, 1, LATENCY_CALLS).await;
    let mut rates = Vec::new();
    for c in [1, 16, 64] {
        let total = if c == 1 { LATENCY_CALLS } else { LOAD_CALLS };
        rates.push(load(caller, c, total).await.1);
    }
    recorded(label, lat, rates)
}

/// A path's row from its sorted latencies and its calls/s at c = 1, 16
/// and 64: recorded and printed.
pub(super) fn recorded(label: &str, lat: Vec<Duration>, rates: Vec<f64>) -> Row {
    let row = Row {
        label: label.to_string(),
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        rates,
    };
    record::latency("4", label, lat);
    for (c, rate) in [1, 16, 64].iter().zip(&row.rates) {
        record::figure("4", &format!("{label} calls/s c={c}"), *rate, "calls/s");
    }
    println!(
        "{:<22} p50 {:>7.0} µs  p99 {:>7.0} µs  calls/s c=1 {:>6.0}  c=16 {:>6.0}  c=64 {:>6.0}",
        row.label,
        us(row.p50),
        us(row.p99),
        row.rates[0],
        row.rates[1],
        row.rates[2]
    );
    row
}
