//! The module graph has no cycles (see `docs/architecture.md`, "The
//! crate"): an edge is any `crate::` path outside comments and tests, the
//! root's re-exports (`crate::Hub`) counted as the module they come from.
//! And the package these tests run in (`weft-unit`, unit/Cargo.toml)
//! depends on exactly what the library does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first identifier of `text`.
fn ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The modules each `crate::` path on `line` names.
fn named(line: &str, reexports: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        let rest = &line[at + "crate::".len()..];
        let items: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
            None => vec![rest],
        };
        for item in items {
            let first = ident(item);
            found.push(reexports.get(&first).cloned().unwrap_or(first));
        }
    }
    found
}

#[test]
fn the_module_graph_has_no_cycles() {
    // The sources are host/src whichever package compiles them.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src");
    let lib = std::fs::read_to_string(root.join("lib.rs")).expect("lib.rs");
    // `pub use module::{A, B}` and `pub use module::A`: A and B are module's.
    let mut reexports = BTreeMap::new();
    for line in lib.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = ident(rest);
        let tail = rest[module.len()..].trim_start_matches("::");
        let items = tail.trim_start_matches('{').trim_end_matches(';');
        for item in items.trim_end_matches('}').split(',') {
            let name = item.rsplit("::").next().unwrap_or("").trim();
            let name = name.split(" as ").last().unwrap_or(name).trim();
            if !name.is_empty() {
                reexports.insert(name.to_string(), module.clone());
            }
        }
    }
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut modules = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&root).expect("under src");
        let first = rel.components().next().expect("a path");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if ["lib", "main", "layers_test"].contains(&module.as_str()) {
            continue;
        }
        modules.insert(module.clone());
        let text = std::fs::read_to_string(file).expect("a source file");
        // Tests may reach anywhere: the graph is of the code that ships.
        let shipped = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in shipped.lines() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for target in named(line, &reexports) {
                if target != module {
                    edges.entry(module.clone()).or_default().insert(target);
                }
            }
        }
    }
    // Depth-first search for a back edge; the path in a cycle is shown.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("an import cycle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in &modules {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
    // The check sees the edges that matter (a broken parser finds none).
    assert!(edges["hub"].contains("router") && edges["serve"].contains("hub"));
    assert!(edges["sandbox"].contains("journal"));
}

/// A manifest's `dependencies` and `dev-dependencies` tables.
fn dependencies(manifest: &str) -> (toml::Value, toml::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest);
    let text = std::fs::read_to_string(&path).expect("the manifest is readable");
    let doc: toml::Table = toml::from_str(&text).expect("the manifest parses");
    let table = |name: &str| {
        doc.get(name)
            .cloned()
            .unwrap_or(toml::Value::Table(Default::default()))
    };
    (table("dependencies"), table("dev-dependencies"))
}

/// The unit tests' package compiles the library's sources with the
/// library's dependencies and features; if they drifted, a build of both
/// would unify different features (and compile shared crates twice), and
/// the tests would run against another weft.
#[test]
fn the_unit_packages_dependencies_are_the_librarys() {
    let (lib, lib_dev) = dependencies("../host/Cargo.toml");
    let (unit, unit_dev) = dependencies("../unit/Cargo.toml");
    assert!(lib.as_table().is_some_and(|t| t.len() > 40), "{lib:?}");
    assert_eq!(
        unit, lib,
        "unit/Cargo.toml's [dependencies] must be host/Cargo.toml's"
    );
    assert_eq!(
        unit_dev, lib_dev,
        "unit/Cargo.toml's [dev-dependencies] must be host/Cargo.toml's"
    );
}
