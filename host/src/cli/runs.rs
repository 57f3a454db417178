//! `weft runs`: the journal's runs, listed, shown, resumed, settled and
//! pruned.

use std::process::ExitCode;

use crate::config::Config;
use crate::journal::{self, CallOutcome, CallRequest, Event, Filter, Kind, Resolution, Status};

use super::args::RunsCommand;
use super::run_journal::{blocking, held, holder, open, shown_status};
use super::{FAILED, USAGE};

/// The entry point of `weft runs`.
pub async fn run(config: Config, cmd: RunsCommand) -> ExitCode {
    // Before this config had a journal of its own, its runs went to the
    // shared one: say where to look, once per command.
    if let Some(notice) = &config.settings.journal_notice {
        crate::errln!("weft: {notice}");
    }
    let outcome = match cmd {
        RunsCommand::Resume { id, json, wait } => {
            return super::resume::resume(config, id, json, wait).await;
        }
        RunsCommand::List {
            status,
            policy,
            limit,
            json,
        } => list(&config, status, policy, limit, json).await,
        RunsCommand::Show { id, json } => show(&config, &id, json).await,
        RunsCommand::Resolve {
            id,
            assume,
            result,
            call,
        } => resolve(&config, &id, &assume, result, call).await,
        RunsCommand::Prune {
            older_than,
            unfinished,
        } => prune(&config, older_than, unfinished).await,
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            crate::errln!("weft: {e:#}");
            ExitCode::from(FAILED)
        }
    }
}

const STATUSES: &str = "running, interrupted, in-doubt, nondeterministic, ok, error, limit";

async fn list(
    config: &Config,
    status: Option<String>,
    policy: Option<String>,
    limit: usize,
    json: bool,
) -> anyhow::Result<u8> {
    // `interrupted` is `running` with its process gone.
    let wanted = match status.as_deref() {
        None => None,
        Some("interrupted") => Some(Status::Running),
        Some(s) => match Status::parse(s) {
            Some(s) => Some(s),
            None => {
                crate::errln!("weft: --status {s:?} is not a run status; use one of {STATUSES}");
                return Ok(USAGE);
            }
        },
    };
    let backend = open(config).await?;
    let filter = Filter {
        status: wanted,
        policy,
        limit,
    };
    let runs = blocking(&backend, move |b| b.list(&filter)).await?;
    let runs: Vec<_> = runs
        .into_iter()
        .filter(|r| status.as_deref().is_none_or(|s| shown_status(r) == s))
        .collect();
    if json {
        let rows: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["status"] = shown_status(r).into();
                v
            })
            .collect();
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(0);
    }
    if runs.is_empty() {
        crate::errln!(
            "weft: no runs in the journal {}",
            backend.location().display()
        );
        return Ok(0);
    }
    crate::outln!(
        "{:<30} {:<16} {:<20} {:<12} {:<20}",
        "RUN",
        "STATUS",
        "POLICY",
        "TENANT",
        "STARTED"
    );
    for r in &runs {
        crate::outln!(
            "{:<30} {:<16} {:<20} {:<12} {:<20}",
            r.id,
            shown_status(r),
            r.policy,
            r.options.tenant.as_deref().unwrap_or("-"),
            time(r.started_at)
        );
    }
    Ok(0)
}

async fn show(config: &Config, id: &str, json: bool) -> anyhow::Result<u8> {
    let backend = open(config).await?;
    let id = id.to_string();
    let (run, events) = blocking(&backend, move |b| Ok((b.run(&id)?, b.events(&id)?))).await?;
    if json {
        let mut v = serde_json::to_value(&run).unwrap_or_default();
        v["status"] = shown_status(&run).into();
        v["events"] = serde_json::to_value(&events).unwrap_or_default();
        crate::outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(0);
    }
    crate::outln!("run      {}", run.id);
    crate::outln!("policy   {} ({})", run.policy, run.spec);
    crate::outln!("status   {}", shown_status(&run));
    crate::outln!("started  {}", time(run.started_at));
    crate::outln!("input    {}", clip(&run.input));
    if let Some(out) = &run.output {
        crate::outln!("output   {}", clip(out));
    }
    if let Some(e) = &run.error {
        crate::outln!("error    {e}");
    }
    crate::outln!();
    let mut clock_reads = 0;
    for e in &events {
        if matches!(e.kind, Kind::WallClock | Kind::Monotonic) {
            clock_reads += 1;
            continue;
        }
        if clock_reads > 0 {
            crate::outln!("         ({clock_reads} clock read(s))");
            clock_reads = 0;
        }
        let at = (e.started_at - run.started_at) as f64 / 1e3;
        crate::outln!(
            "#{:<5} +{:>9.1} ms  {:<10} {}  {}",
            e.seq,
            at,
            e.kind.as_str(),
            what(e),
            outcome(e)
        );
    }
    if clock_reads > 0 {
        crate::outln!("         ({clock_reads} clock read(s))");
    }
    Ok(0)
}

/// What an event asked for.
fn what(e: &Event) -> String {
    match e.kind {
        Kind::Call => CallRequest::from_json(&e.request)
            .map(|c| c.describe())
            .unwrap_or_else(|| clip(&e.request)),
        _ => clip(e.request_shown()),
    }
}

/// How an event ended, with its duration.
fn outcome(e: &Event) -> String {
    let took = e
        .finished_at
        .map(|f| format!("{:.1} ms ", (f - e.started_at) as f64 / 1e3))
        .unwrap_or_default();
    if e.kind != Kind::Call {
        return String::new();
    }
    let settled = match e.resolution {
        Some(Resolution::Done) => " (settled: done)",
        Some(Resolution::NotDone) => " (settled: not done)",
        None => "",
    };
    match e.result.as_deref().map(serde_json::from_str::<CallOutcome>) {
        None if e.resolution == Some(Resolution::NotDone) => "to send again".to_string(),
        None => "IN DOUBT (sent or about to be; no result recorded)".to_string(),
        Some(Ok(CallOutcome::Ok(_))) => format!("{took}ok{settled}"),
        Some(Ok(CallOutcome::Err(err))) => format!("{took}{}{settled}", err.kind.as_str()),
        Some(Err(_)) => format!("{took}unreadable result"),
    }
}

async fn resolve(
    config: &Config,
    id: &str,
    assume: &str,
    result: Option<String>,
    call: Option<u64>,
) -> anyhow::Result<u8> {
    let resolution = Resolution::parse(assume).unwrap_or(Resolution::NotDone);
    let stored = match (resolution, result) {
        (Resolution::Done, None) => {
            crate::errln!(
                "weft: --assume done needs --result JSON: the call's result as an MCP CallToolResult, like '{{\"content\":[{{\"type\":\"text\",\"text\":\"done\"}}]}}'"
            );
            return Ok(USAGE);
        }
        (Resolution::NotDone, Some(_)) => {
            crate::errln!("weft: --result goes with --assume done only");
            return Ok(USAGE);
        }
        (Resolution::NotDone, None) => None,
        (Resolution::Done, Some(text)) => {
            let text =
                super::run::read_input(Some(text)).map_err(|e| anyhow::anyhow!("--result: {e}"))?;
            match serde_json::from_str::<rmcp::model::CallToolResult>(&text) {
                Ok(parsed) => Some(
                    serde_json::to_string(&CallOutcome::Ok(
                        serde_json::to_string(&parsed).unwrap_or_default(),
                    ))
                    .unwrap_or_default(),
                ),
                Err(e) => {
                    crate::errln!(
                        "weft: --result is not an MCP CallToolResult ({e}); give one like '{{\"content\":[{{\"type\":\"text\",\"text\":\"done\"}}]}}'"
                    );
                    return Ok(USAGE);
                }
            }
        }
    };
    let backend = open(config).await?;
    let run_id = id.to_string();
    let (run, events) =
        blocking(&backend, move |b| Ok((b.run(&run_id)?, b.events(&run_id)?))).await?;
    if run.status == Status::Running && held(&run) {
        crate::errln!("weft: run {id} is still running in {}", holder(&run));
        return Ok(FAILED);
    }
    let doubtful: Vec<&Event> = events.iter().filter(|e| e.in_doubt()).collect();
    let target = match (call, doubtful.as_slice()) {
        (_, []) => {
            crate::errln!("weft: run {id} has no call in doubt");
            return Ok(USAGE);
        }
        (None, [one]) => one.seq,
        (None, many) => {
            let seqs: Vec<String> = many.iter().map(|e| format!("#{}", e.seq)).collect();
            crate::errln!(
                "weft: run {id} has {} calls in doubt ({}); name one with --call N",
                many.len(),
                seqs.join(", ")
            );
            return Ok(USAGE);
        }
        (Some(n), many) if many.iter().any(|e| e.seq == n) => n,
        (Some(n), _) => {
            crate::errln!(
                "weft: call #{n} of run {id} is not in doubt (`weft runs show {id}` marks those IN DOUBT)"
            );
            return Ok(USAGE);
        }
    };
    let run_id = id.to_string();
    blocking(&backend, move |b| {
        b.resolve(&run_id, target, resolution, stored.as_deref())?;
        if run.status == Status::InDoubt {
            b.set_status(&run_id, Status::Running, None)?;
        }
        Ok(())
    })
    .await?;
    crate::errln!(
        "weft: call #{target} of run {id} settled as {}; continue with `weft runs resume {id}`",
        resolution.as_str()
    );
    Ok(0)
}

async fn prune(
    config: &Config,
    older_than: std::time::Duration,
    unfinished: bool,
) -> anyhow::Result<u8> {
    let backend = open(config).await?;
    let cutoff = journal::model::now_us()
        .saturating_sub(i64::try_from(older_than.as_micros()).unwrap_or(i64::MAX));
    let runs = blocking(&backend, |b| b.list(&Filter::default())).await?;
    let ids: Vec<String> = runs
        .into_iter()
        .filter(|r| r.updated_at < cutoff)
        .filter(|r| r.status.finished() || (unfinished && !held(r)))
        .map(|r| r.id)
        .collect();
    let gone = blocking(&backend, move |b| b.delete(&ids)).await?;
    crate::errln!(
        "weft: pruned {gone} run(s) from {}",
        backend.location().display()
    );
    Ok(0)
}

/// A stored time, as UTC.
fn time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| us.to_string())
}

fn clip(text: &str) -> String {
    let mut text = text.to_string();
    crate::util::truncate(&mut text, 200);
    text
}
