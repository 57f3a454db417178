//! A run's caller as the journal keeps it: [`RunCaller`], in the run's
//! options. A run is made for one caller, and a tenant's caller may be
//! narrowed within the tenant's view (an agent's OAuth token grants only
//! the tools its scopes name; an adapter's call carries the chain of
//! adapters it came through). A resume goes on as exactly that caller
//! ([`resume_as`]), never as the tenant's whole view; a tenant's run
//! stored without its caller, by an older weft, is not resumed.

use std::sync::Arc;

use super::model::{RunCaller, RunRecord};
use crate::config::{Grants, PatternError};
use crate::tenant::{Caller, Tenants};

impl RunCaller {
    /// `caller` as a run stores it.
    pub fn of(caller: &Caller) -> RunCaller {
        RunCaller {
            key: caller.key_id.clone(),
            grants: caller
                .grants
                .as_ref()
                .map(|g| g.layers())
                .unwrap_or_default(),
            policy: caller.policy.clone(),
            via: caller.via.clone(),
        }
    }
}

/// Why a run cannot go on as the caller it was made for.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// The run's tenant is no longer defined in the config.
    #[error(
        "run {run} was made for tenant {tenant:?}, which the config no longer defines; it is not resumed"
    )]
    TenantGone {
        /// The run's id.
        run: String,
        /// The name of the tenant the run was made for.
        tenant: String,
    },
    /// A tenant's run was stored without its caller, by an older weft.
    #[error(
        "run {run} was stored without its caller (by a weft older than this one), so weft cannot tell how far its caller was narrowed within tenant {tenant:?}'s view; it is not resumed: start it again"
    )]
    NotStored {
        /// The run's id.
        run: String,
        /// The name of the tenant the run was made for.
        tenant: String,
    },
    /// The run's stored options could not be parsed.
    #[error(
        "run {run}'s stored options cannot be read ({why}), so weft cannot tell whom it was for; it is not resumed: start it again"
    )]
    Unreadable {
        /// The run's id.
        run: String,
        /// Why the options could not be read.
        why: String,
    },
    /// The stored caller's grants have a pattern that no longer compiles.
    #[error(
        "run {run}'s stored caller has grants that do not compile ({error}); it is not resumed: start it again"
    )]
    Grants {
        /// The run's id.
        run: String,
        /// The pattern's compile error.
        error: PatternError,
    },
}

/// The caller `run` goes on as: the one stored with it, of its tenant
/// (no tenant: the owner). A tenant's run stored without its caller is
/// refused, but for one started at the command line (`weft run
/// --tenant`, no origin), whose caller has always been the tenant's
/// whole view.
pub fn resume_as(run: &RunRecord, tenants: &Tenants) -> Result<Caller, CallerError> {
    if let Some(why) = &run.options.unreadable {
        return Err(CallerError::Unreadable {
            run: run.id.clone(),
            why: why.clone(),
        });
    }
    let tenant = match &run.options.tenant {
        None => None,
        Some(name) => Some(tenants.get(name).ok_or_else(|| CallerError::TenantGone {
            run: run.id.clone(),
            tenant: name.clone(),
        })?),
    };
    let stored = match (&run.options.caller, tenant) {
        (Some(stored), tenant) => (stored, tenant),
        (None, None) => return Ok(Caller::owner()),
        (None, Some(t)) if run.options.origin.is_none() => return Ok(Caller::tenant(t, "cli")),
        (None, Some(t)) => {
            return Err(CallerError::NotStored {
                run: run.id.clone(),
                tenant: t.name.clone(),
            });
        }
    };
    let (stored, tenant) = stored;
    let grants = Grants::from_layers(&stored.grants).map_err(|error| CallerError::Grants {
        run: run.id.clone(),
        error,
    })?;
    Ok(Caller {
        tenant,
        key_id: stored.key.clone(),
        policy: stored.policy.clone(),
        grants: grants.map(Arc::new),
        via: stored.via.clone(),
        ..Caller::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller narrowed twice (a token's scopes, then a policy's grants)
    /// and through an adapter comes back from its stored form the same.
    #[test]
    fn a_stored_caller_comes_back_as_it_was() {
        let scope = Grants::new(&["w.tool_0".into(), "w.tool_1".into()]).unwrap();
        let policy = Grants::new(&["w.*".into()]).unwrap();
        let caller = Caller {
            key_id: Some("oauth:alice".into()),
            policy: Some("writes".into()),
            grants: Some(Arc::new(policy.within(&scope))),
            via: vec!["outer".into()],
            ..Caller::default()
        };
        let stored = RunCaller::of(&caller);
        assert_eq!(
            stored.grants,
            vec![
                vec!["w.tool_0".to_string(), "w.tool_1".into()],
                vec!["w.*".to_string()]
            ]
        );
        let text = serde_json::to_string(&stored).unwrap();
        let back: RunCaller = serde_json::from_str(&text).unwrap();
        assert_eq!(back, stored);
        let grants = Grants::from_layers(&back.grants).unwrap().unwrap();
        assert!(grants.allows("w", "tool_1"));
        assert!(!grants.allows("w", "tool_2"));
        assert_eq!(RunCaller::of(&Caller::owner()), RunCaller::default());
        assert_eq!(serde_json::to_string(&RunCaller::default()).unwrap(), "{}");
    }

    /// A run whose stored options do not read is never resumed: read as
    /// the defaults, it would go on as the owner.
    #[test]
    fn a_run_whose_options_do_not_read_is_not_resumed() {
        let options = crate::journal::RunOptions::read("{\"tenant\": 7");
        assert_eq!(options.tenant, None);
        let run = RunRecord::start("p", "spec", [0; 32], "{}", options).unwrap();
        let refused = resume_as(&run, &Tenants::default()).unwrap_err();
        assert!(
            matches!(&refused, CallerError::Unreadable { run: id, .. } if *id == run.id),
            "{refused}"
        );
        let fine = crate::journal::RunOptions::read("{}");
        let run = RunRecord::start("p", "spec", [0; 32], "{}", fine).unwrap();
        assert!(
            resume_as(&run, &Tenants::default())
                .unwrap()
                .tenant
                .is_none()
        );
    }
}
