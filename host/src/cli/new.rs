//! `weft new --lang rust|python|js NAME`: a ready-to-build policy folder,
//! written from templates built into this binary (no checkout needed).
//!
//! Rust: `plugins/template`, with its own copy of the Rust SDK in
//! `NAME/weft-guest/` (weft-guest is not on the crates registry, so the
//! template's path dependency points there). Python: `plugins/template-python`
//! (the SDK comes with `weft build`). An existing folder that is not
//! empty is never written into.

use std::path::Path;
use std::process::ExitCode;

use super::args::Lang;
use super::{FAILED, USAGE};

/// A template: each file's path in the new folder, and its text.
type Template = &'static [(&'static str, &'static str)];

const RUST: Template = &[
    (
        "Cargo.toml",
        include_str!("../../../plugins/template/Cargo.toml"),
    ),
    (
        "Cargo.lock",
        include_str!("../../../plugins/template/Cargo.lock"),
    ),
    (
        "README.md",
        include_str!("../../../plugins/template/README.md"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../plugins/template/src/lib.rs"),
    ),
    (
        "weft-guest/Cargo.toml",
        include_str!("../../../guest-sdk/rust/Cargo.toml"),
    ),
    (
        "weft-guest/README.md",
        include_str!("../../../guest-sdk/rust/README.md"),
    ),
    (
        "weft-guest/src/lib.rs",
        include_str!("../../../guest-sdk/rust/src/lib.rs"),
    ),
    (
        "weft-guest/src/adapter.rs",
        include_str!("../../../guest-sdk/rust/src/adapter.rs"),
    ),
    ("weft-guest/wit/weft.wit", super::build::WEFT_WIT),
];

const PYTHON: Template = &[
    (
        "app.py",
        include_str!("../../../plugins/template-python/app.py"),
    ),
    (
        "README.md",
        include_str!("../../../plugins/template-python/README.md"),
    ),
];

const JS: Template = &[
    (
        "policy.js",
        include_str!("../../../plugins/template-js/policy.js"),
    ),
    (
        "README.md",
        include_str!("../../../plugins/template-js/README.md"),
    ),
];

/// The Rust template's package name and SDK path, rewritten for the copy.
const RUST_PACKAGE: &str = "weft-policy-template";
const RUST_SDK_PATH: &str = "path = \"../../guest-sdk/rust\"";

pub fn run(lang: Lang, name: &Path) -> ExitCode {
    let Some(policy) = name
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| valid_name(n))
    else {
        crate::errln!(
            "weft: {:?} cannot name a policy: use letters, digits, - and _, starting with a letter",
            name.display().to_string()
        );
        return ExitCode::from(USAGE);
    };
    let template = match lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::Js => JS,
    };
    if template.is_empty() {
        crate::errln!(
            "weft: the {} template is not in this build of weft",
            lang.name()
        );
        return ExitCode::from(FAILED);
    }
    match std::fs::read_dir(name) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                crate::errln!(
                    "weft: {} already exists and is not empty: pick another name",
                    name.display()
                );
                return ExitCode::from(USAGE);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            crate::errln!("weft: cannot use {} as a new folder: {e}", name.display());
            return ExitCode::from(USAGE);
        }
    }
    if let Err(e) = write(name, template, lang, policy) {
        crate::errln!("weft: cannot write {}: {e}", name.display());
        return ExitCode::from(FAILED);
    }
    crate::outln!("{}", name.display());
    crate::errln!(
        "weft: wrote a {} policy; build it with `weft build {}`",
        lang.name(),
        name.display()
    );
    ExitCode::SUCCESS
}

fn write(dir: &Path, template: Template, lang: Lang, policy: &str) -> std::io::Result<()> {
    for (file, text) in template {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, adapt(lang, file, text, policy))?;
    }
    Ok(())
}

/// A template file as it goes into a policy named `policy`.
fn adapt(lang: Lang, file: &str, text: &str, policy: &str) -> String {
    match (lang, file) {
        (Lang::Rust, "Cargo.toml") => text
            .replace(RUST_PACKAGE, policy)
            .replace(RUST_SDK_PATH, "path = \"weft-guest\""),
        (Lang::Rust, "Cargo.lock" | "README.md") => text.replace(RUST_PACKAGE, policy),
        _ => text.to_string(),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rust_template_gets_the_name_and_its_own_sdk() {
        let toml = RUST[0].1;
        // If the template changes these, `adapt` must follow.
        assert!(toml.contains(RUST_PACKAGE), "{toml}");
        assert!(toml.contains(RUST_SDK_PATH), "{toml}");
        let out = adapt(Lang::Rust, "Cargo.toml", toml, "my-policy");
        assert!(out.contains("name = \"my-policy\""), "{out}");
        assert!(
            out.contains("weft-guest = { path = \"weft-guest\" }"),
            "{out}"
        );
    }

    #[test]
    fn names_are_plain() {
        assert!(valid_name("standup2"));
        assert!(valid_name("my-policy_x"));
        for bad in ["", "2x", "-x", "a b", "a.b", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
