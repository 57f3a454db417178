//! Code mode's interpreter for one caller: the language's component,
//! loaded under the caller's `[code]` settings (grants, limits). Used when
//! an agent submits code (`code_call.rs`) and when a code run resumes
//! (`durable.rs`).

use crate::code::Language;
use crate::serve::Gateway;
use crate::tenant::Caller;

/// The interpreter of `lang`, loaded for `caller` under its `[code]`
/// settings (grants, limits), or why it cannot be: code mode off for the
/// caller, the language not offered, the interpreter not built.
pub(in crate::serve) async fn interpreter(
    gw: &Gateway,
    caller: &Caller,
    lang: Language,
) -> anyhow::Result<crate::policy::Loaded> {
    let Some((interpreters, settings)) = gw.code_for(caller) else {
        return Err(anyhow::anyhow!("code mode is off for this caller"));
    };
    if !settings.offers(lang) {
        return Err(anyhow::anyhow!(
            "code mode does not offer {} to this caller",
            lang.name()
        ));
    }
    let (interpreters, written, limits) = (
        interpreters.clone(),
        settings.grants.clone(),
        settings.limits.clone(),
    );
    let wasm = interpreters.get(lang).await.map_err(anyhow::Error::from)?;
    // Compiled once per catalog snapshot and caller view.
    let catalog = gw.hub.catalog_for(caller);
    let grants = interpreters
        .grants()
        .get(&catalog, caller, written.as_deref());
    Ok(crate::policy::Loaded {
        name: lang.run_name(),
        wasm,
        grants,
        limits,
    })
}
