//! `weft_run_code`: an agent's Python or JavaScript source, run by the
//! language's interpreter as a policy, under the caller's `[code]`
//! settings (its tenant's own table, else the top-level one): the
//! languages offered, the grants (by default the read-only tools the
//! caller can see), the limits and the largest source accepted.

use std::sync::Arc;

use rmcp::model::{ErrorData, JsonObject};
use tokio::sync::mpsc;

use super::call::Work;
use super::interpreter::interpreter;
use super::run_call::{RunKind, object_arg, run_loaded, tool_failure};
use crate::audit::{Audit, AuditRoute};
use crate::code::Language;
use crate::serve::Gateway;
use crate::serve::view::tools;
use crate::tenant::Caller;

/// The work of one `weft_run_code` call, or the protocol error that
/// refuses it (code mode off for this caller, a language not offered,
/// no code, code over the size cap).
pub(in crate::serve) fn work(
    gw: Arc<Gateway>,
    caller: &Caller,
    arguments: Option<JsonObject>,
    tx: mpsc::UnboundedSender<crate::upstream::relay::RelayMsg>,
) -> Result<Work, ErrorData> {
    let Some((_, settings)) = gw.code_for(caller) else {
        // Off for everyone, or only for this caller's tenant: say which,
        // and where the operator turns it on.
        let why = match &caller.tenant {
            Some(tenant) if gw.code_offered() => format!(
                "code mode is off for tenant {:?} (weft_run_code is not offered to it; \
                 [tenants.{}.code] enabled = true turns it on)",
                tenant.name, tenant.name
            ),
            _ => "code mode is off on this server (weft_run_code is not offered)".to_string(),
        };
        return Err(ErrorData::invalid_params(why, None));
    };
    let offered: Vec<&str> = settings.languages.iter().map(|l| l.name()).collect();
    let lang = object_arg(&arguments, "language")
        .and_then(|v| v.as_str().and_then(Language::parse))
        .filter(|l| settings.offers(*l))
        .ok_or_else(|| {
            ErrorData::invalid_params(
                format!(
                    "weft_run_code needs \"language\": one of {}",
                    offered.join(", ")
                ),
                None,
            )
        })?;
    let code = object_arg(&arguments, "code")
        .and_then(|v| v.as_str().map(String::from))
        .ok_or_else(|| {
            ErrorData::invalid_params("weft_run_code needs the \"code\" to run, as a string", None)
        })?;
    let input = object_arg(&arguments, "input");
    let request = crate::code::request(lang, &code, input, settings.max_code_bytes)
        .map_err(|e| ErrorData::invalid_params(format!("weft_run_code: {e}"), None))?;
    let caller = caller.clone();
    Ok(Box::pin(async move {
        // The audit line keeps keyed hashes of the arguments and of the
        // code alone, not the code.
        let audit = Audit::begin(
            gw.hub.audit(),
            &caller,
            AuditRoute::PolicyRun,
            tools::RUN_CODE,
        )
        .args(arguments.as_ref())
        .code(&code);
        let loaded = match interpreter(&gw, &caller, lang).await {
            Ok(l) => l,
            Err(e) => return Ok(tool_failure(format!("{e:#}"))),
        };
        Ok(run_loaded(
            &gw,
            &caller,
            (RunKind::Code(lang), &loaded),
            &request,
            tx,
            audit,
        )
        .await)
    }))
}
