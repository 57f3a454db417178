//! `weft push FILE oci://…` and `weft pull [oci://…]`: publishing a
//! component to an OCI registry, and resolving the config's `oci://`
//! components again (updating `weft.lock`), or pulling one reference.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{FAILED, USAGE};
use crate::config::Config;
use crate::oci::{self, Blobs, OciRef};

/// The reference given on the command line, or exit 2 with why not.
fn parse(text: &str) -> Result<OciRef, ExitCode> {
    OciRef::parse(text).map_err(|e| {
        crate::errln!("weft: {e}");
        ExitCode::from(USAGE)
    })
}

/// `weft push FILE REFERENCE`: prints the manifest digest on stdout.
pub async fn push(config: &Config, file: PathBuf, reference: String) -> ExitCode {
    let parsed = match parse(&reference) {
        Ok(r) => r,
        Err(code) => return code,
    };
    match oci::push(&config.settings.registries, &file, &parsed).await {
        Ok(pushed) => {
            eprintln!(
                "weft: pushed {} ({} bytes, layer {}) as {}",
                file.display(),
                pushed.size,
                pushed.layer,
                parsed.canonical()
            );
            println!("{}", pushed.digest);
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::errln!("weft: {e}");
            ExitCode::from(FAILED)
        }
    }
}

/// `weft pull`: every `oci://` component of the config resolved again,
/// the lock updated, and each change shown as `REFERENCE OLD -> NEW`.
/// `weft pull REFERENCE`: that one pulled; its digest and file printed.
pub async fn pull(mut config: Config, reference: Option<String>) -> ExitCode {
    if let Some(text) = reference {
        return match pull_one(&config, &text).await {
            Ok((digest, path)) => {
                println!("{digest} {}", path.display());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        };
    }
    let changed = match oci::materialize(&mut config, true).await {
        Ok(c) => c,
        Err(e) => {
            crate::errln!("weft: {e}");
            return ExitCode::from(FAILED);
        }
    };
    let mut failed = false;
    let components = config.policies.iter().filter_map(|p| p.oci.as_ref()).chain(
        config.servers.iter().filter_map(|s| match &s.transport {
            crate::config::Transport::Component(a) => a.oci.as_ref(),
            _ => None,
        }),
    );
    let mut any = false;
    for c in components {
        any = true;
        let name = c.reference.canonical();
        match (&c.failure, &c.digest, c.source) {
            (Some(why), _, _) => {
                failed = true;
                crate::errln!("weft: {why}");
            }
            (None, Some(digest), Some(oci::Source::CacheOffline)) => {
                println!("{name} {digest} (the registry is down: the cached digest stays)");
            }
            (None, Some(digest), _) => match changed.iter().find(|(r, _, _)| *r == name) {
                Some((_, Some(old), _)) => println!("{name} {old} -> {digest}"),
                Some((_, None, _)) => println!("{name} {digest} (new)"),
                None => println!("{name} {digest} (unchanged)"),
            },
            (None, None, _) => {}
        }
    }
    if !any {
        eprintln!("weft: the config names no oci:// components; nothing to pull");
    }
    if failed {
        ExitCode::from(FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Pulls one reference given on the command line (resolved now, not
/// locked): its manifest digest and component file.
pub async fn pull_one(config: &Config, text: &str) -> Result<(String, PathBuf), ExitCode> {
    let parsed = parse(text)?;
    let Some(blobs) = Blobs::open(crate::sandbox::cache::default_dir()) else {
        crate::errln!(
            "weft: weft's cache directory cannot be used, so {text} cannot be pulled (see the warning above)"
        );
        return Err(ExitCode::from(FAILED));
    };
    let settings = &config.settings;
    match oci::pull(
        &settings.registries,
        &blobs,
        &parsed,
        None,
        false,
        &settings.trust,
    )
    .await
    {
        Ok(pulled) => Ok((pulled.digest, pulled.path)),
        Err(e) => {
            crate::errln!("weft: {e}");
            Err(ExitCode::from(FAILED))
        }
    }
}

/// `weft sign REFERENCE --key KEY`: signs the component's digest.
pub async fn sign(config: &Config, reference: String, key: PathBuf) -> ExitCode {
    let parsed = match parse(&reference) {
        Ok(r) => r,
        Err(code) => return code,
    };
    // A cosign key's scrypt takes a moment of CPU: off the async workers.
    let password = std::env::var(oci::PASSWORD_VAR).ok();
    let file = key.clone();
    let signing =
        tokio::task::spawn_blocking(move || oci::SigningKey::read(&file, password.as_deref()))
            .await;
    let signing = match signing {
        Ok(Ok(k)) => k,
        Ok(Err(e)) => {
            crate::errln!("weft: {e}");
            return ExitCode::from(FAILED);
        }
        Err(e) => {
            crate::errln!("weft: reading {} failed: {e}", key.display());
            return ExitCode::from(FAILED);
        }
    };
    match oci::sign(&config.settings.registries, &parsed, &signing).await {
        Ok(digest) => {
            eprintln!(
                "weft: signed {}@{digest} with {} (tag {})",
                parsed.canonical(),
                key.display(),
                oci::signature_tag(&digest)
            );
            println!("{digest}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::errln!("weft: {e}");
            ExitCode::from(FAILED)
        }
    }
}
