//! `weft new [--adapter] --lang rust|python|js NAME`: a ready-to-build
//! policy or adapter folder, written from templates built into this binary
//! (no checkout needed).
//!
//! Rust: `plugins/template` (`plugins/template-adapter`), with its own copy
//! of the Rust SDK in `NAME/weft-guest/` (weft-guest is not on the crates
//! registry, so the template's path dependency points there). Python:
//! `plugins/template-python` (`plugins/template-adapter-python`); JS:
//! `plugins/template-js` (`plugins/template-adapter-js`); their SDKs come
//! with `weft build`. An existing folder that is not empty is never
//! written into.

use std::path::Path;
use std::process::ExitCode;

use super::args::Lang;
use super::{FAILED, USAGE};

/// A template: each file's path in the new folder, and its text.
type Template = &'static [(&'static str, &'static str)];

/// The Rust SDK, as each Rust template carries it.
const RUST_SDK: [(&str, &str); 5] = [
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
    RUST_SDK[0],
    RUST_SDK[1],
    RUST_SDK[2],
    RUST_SDK[3],
    RUST_SDK[4],
];

const RUST_ADAPTER: Template = &[
    (
        "Cargo.toml",
        include_str!("../../../plugins/template-adapter/Cargo.toml"),
    ),
    (
        "Cargo.lock",
        include_str!("../../../plugins/template-adapter/Cargo.lock"),
    ),
    (
        "README.md",
        include_str!("../../../plugins/template-adapter/README.md"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../plugins/template-adapter/src/lib.rs"),
    ),
    RUST_SDK[0],
    RUST_SDK[1],
    RUST_SDK[2],
    RUST_SDK[3],
    RUST_SDK[4],
];

const PYTHON_ADAPTER: Template = &[
    (
        "adapter.py",
        include_str!("../../../plugins/template-adapter-python/adapter.py"),
    ),
    (
        "README.md",
        include_str!("../../../plugins/template-adapter-python/README.md"),
    ),
];

const JS_ADAPTER: Template = &[
    (
        "adapter.js",
        include_str!("../../../plugins/template-adapter-js/adapter.js"),
    ),
    (
        "README.md",
        include_str!("../../../plugins/template-adapter-js/README.md"),
    ),
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

/// The Rust templates' package names and SDK path, rewritten for the copy.
const RUST_PACKAGE: &str = "weft-policy-template";
const RUST_ADAPTER_PACKAGE: &str = "weft-adapter-template";
const RUST_SDK_PATH: &str = "path = \"../../guest-sdk/rust\"";

pub fn run(lang: Lang, adapter: bool, name: &Path) -> ExitCode {
    let what = if adapter { "adapter" } else { "policy" };
    let Some(policy) = name
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| valid_name(n))
    else {
        crate::errln!(
            "weft: {:?} cannot name a {what}: use letters, digits, - and _, starting with a letter",
            name.display().to_string()
        );
        return ExitCode::from(USAGE);
    };
    let template = match (lang, adapter) {
        (Lang::Rust, false) => RUST,
        (Lang::Python, false) => PYTHON,
        (Lang::Js, false) => JS,
        (Lang::Rust, true) => RUST_ADAPTER,
        (Lang::Python, true) => PYTHON_ADAPTER,
        (Lang::Js, true) => JS_ADAPTER,
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
        "weft: wrote a {} {what}; build it with `weft build {}`",
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
        (Lang::Rust, "Cargo.toml") => {
            renamed(text, policy).replace(RUST_SDK_PATH, "path = \"weft-guest\"")
        }
        (Lang::Rust, "Cargo.lock" | "README.md") => renamed(text, policy),
        _ => text.to_string(),
    }
}

/// A Rust template's text with its package name (and the library file
/// name cargo makes of it) replaced by `policy`'s.
fn renamed(text: &str, policy: &str) -> String {
    let lib = |n: &str| n.replace('-', "_");
    text.replace(RUST_PACKAGE, policy)
        .replace(RUST_ADAPTER_PACKAGE, policy)
        .replace(&lib(RUST_ADAPTER_PACKAGE), &lib(policy))
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
    fn the_rust_adapter_template_gets_the_name_and_its_own_sdk() {
        let toml = RUST_ADAPTER[0].1;
        assert!(toml.contains(RUST_ADAPTER_PACKAGE), "{toml}");
        assert!(toml.contains(RUST_SDK_PATH), "{toml}");
        let out = adapt(Lang::Rust, "Cargo.toml", toml, "my-tools");
        assert!(out.contains("name = \"my-tools\""), "{out}");
        assert!(
            out.contains("path = \"weft-guest\", features = [\"adapter\"]"),
            "{out}"
        );
        let readme = adapt(Lang::Rust, "README.md", RUST_ADAPTER[2].1, "my-tools");
        assert!(readme.contains("release/my_tools.wasm"), "{readme}");
        assert!(
            RUST_ADAPTER
                .iter()
                .any(|(f, _)| *f == "weft-guest/src/adapter.rs")
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
