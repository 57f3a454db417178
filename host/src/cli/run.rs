//! `weft run POLICY`: one policy run in the sandbox, its output printed.

use std::io::Read;
use std::process::ExitCode;

use crate::config::Config;
use crate::policy::{self, Runner};
use crate::sandbox::Sandbox;
use tracing::Instrument;

use super::args::RunArgs;
use super::{FAILED, USAGE, finish, start_hub};

fn usage(message: impl std::fmt::Display) -> ExitCode {
    crate::errln!("weft: {message}");
    ExitCode::from(USAGE)
}

/// The top-level entry point for `weft run`; `durable` journals the run;
/// `tenant` runs it as that tenant.
pub async fn run(
    config: Config,
    policy: String,
    opts: RunArgs,
    durable: bool,
    tenant: Option<String>,
) -> ExitCode {
    let input = match read_input(opts.input) {
        Ok(i) => i,
        Err(e) => return usage(e),
    };
    if let Some(name) = &tenant
        && let Err(code) = super::known_tenant(&config, name)
    {
        return code;
    }
    // An oci:// reference runs as the file it pulls to.
    let policy = if crate::oci::is_oci(&policy) && config.policy(&policy).is_none() {
        match super::oci::pull_one(&config, &policy).await {
            Ok((_, path)) => path.display().to_string(),
            Err(code) => return code,
        }
    } else {
        policy
    };
    // The limits were checked as the command line was read (`args::limits`).
    let fuel = opts.fuel.map(|f| f.0);
    for g in &opts.grants {
        if let Err(e) = crate::config::policy::validate_grant(g) {
            return usage(format!("--grant: {e}"));
        }
    }
    // Start only the servers the policy's grants can reach.
    let grant_list = match config.policy(&policy) {
        Some(p) if opts.grants.is_empty() => p.grants.clone(),
        _ if opts.grants.is_empty() => vec!["*.*".into()],
        _ => opts.grants.clone(),
    };
    let reach = policy::grants::Grants::new(&grant_list).ok();
    // `journal = false` in [settings]: no journal, as --no-journal.
    let durable = durable && config.settings.journal.is_some();
    let (hub, sandbox) = match start(config, reach.as_ref()).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let mut loaded = match policy::load(&hub, &policy, &opts.grants) {
        Ok(l) => l,
        Err(e) => {
            let code = if matches!(e, policy::PolicyError::Unknown { .. }) {
                USAGE
            } else {
                FAILED
            };
            crate::errln!("weft: {e}");
            return finish(code).await;
        }
    };
    policy::override_limits(&mut loaded.limits, fuel, opts.timeout, opts.memory);
    let caller = match tenant.as_deref().and_then(|name| hub.tenants().get(name)) {
        Some(t) => crate::Caller::tenant(t, "cli"),
        None => crate::Caller::owner(),
    };
    let options = crate::journal::RunOptions {
        grants: opts.grants.clone(),
        fuel,
        timeout_ms: opts.timeout.map(|t| t.as_millis() as u64),
        memory: opts.memory,
        tenant,
        caller: Some(crate::journal::RunCaller::of(&caller)),
        ..Default::default()
    };
    // A path is kept absolute, so a resume from another folder finds it.
    let spec = match hub.config().policy(&policy) {
        Some(_) => policy.clone(),
        None => std::path::absolute(&policy)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| policy.clone()),
    };
    let journal = match durable {
        true => match super::run_journal::begin(&hub, &loaded, &spec, &input, options).await {
            Ok(j) => j,
            Err(e) => {
                crate::errln!("weft: {e:#}");
                return finish(FAILED).await;
            }
        },
        false => None,
    };
    let runner = Runner::new(hub, sandbox);
    let span = tracing::info_span!("request", request_id = %crate::util::request_id());
    let report = runner
        .run_journaled(&caller, &loaded, &input, None, journal)
        .instrument(span)
        .await;
    finish(print_report(&report, opts.json)).await
}

/// The sandbox, and a hub of the servers `reach` can reach (all without).
pub(super) async fn start(
    mut config: Config,
    reach: Option<&crate::config::Grants>,
) -> Result<(crate::Hub, std::sync::Arc<Sandbox>), ExitCode> {
    if let Some(g) = reach {
        let mut keep: std::collections::HashSet<String> = config
            .servers
            .iter()
            .filter(|s| g.allows_server(&s.name))
            .map(|s| s.name.clone())
            .collect();
        super::with_component_reach(&config, &mut keep);
        config.servers.retain(|s| keep.contains(&s.name));
    }
    let sandbox = match Sandbox::shared() {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("weft: {e}");
            return Err(ExitCode::from(FAILED));
        }
    };
    let hub = start_hub(config, false, false).await;
    // A durable adapter the run calls journals its calls as runs.
    if let Err(e) = super::run_journal::journal_for_durable_adapters(&hub).await {
        crate::errln!("weft: a server is durable, but {e:#}");
        return Err(ExitCode::from(FAILED));
    }
    Ok((hub, sandbox))
}

/// Prints a run's report: all of it as JSON with `json`, else the output on
/// stdout and the logs and error on stderr. Returns the exit code.
pub(super) fn print_report(report: &crate::policy::RunReport, json: bool) -> u8 {
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        match &report.output {
            Some(serde_json::Value::String(s)) => crate::outln!("{s}"),
            Some(v) => crate::outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
            None => {}
        }
        for line in &report.logs {
            crate::errln!("[{}] {}", line.level, line.message);
        }
        if let Some(e) = &report.error {
            crate::errln!("weft: {}: {e}", report.policy);
        }
    }
    if report.ok() { 0 } else { FAILED }
}

/// Reads `--input` (or stdin for "-") and checks that it is JSON.
pub(super) fn read_input(raw: Option<String>) -> anyhow::Result<String> {
    let text = match raw.as_deref() {
        None => return Ok("{}".into()),
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| anyhow::anyhow!("cannot read the input from stdin: {e}"))?;
            s
        }
        Some(t) => t.to_string(),
    };
    serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
        anyhow::anyhow!(
            "--input is not valid JSON ({e}); quote it for the shell: '{{\"key\": \"value\"}}'"
        )
    })?;
    Ok(text)
}
