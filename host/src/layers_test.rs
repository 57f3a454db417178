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

/// What `use module::{A, B as C};` (given from `module` on) imports: the
/// module, and the names it binds (`A`, `C`).
fn imported(rest: &str) -> (String, Vec<String>) {
    let module = ident(rest);
    let tail = rest[module.len()..].trim_start_matches("::");
    let items = tail.trim_start_matches('{').trim_end_matches(';');
    let names = items
        .trim_end_matches('}')
        .split(',')
        .map(|item| {
            let name = item.rsplit("::").next().unwrap_or("").trim();
            name.split(" as ").last().unwrap_or(name).trim().to_string()
        })
        .filter(|name| !name.is_empty())
        .collect();
    (module, names)
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
        let (module, names) = imported(rest);
        for name in names {
            reexports.insert(name, module.clone());
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

/// The modules `line` of a file in folder `folder` (as `crate::a::b`)
/// names among `siblings`: through `super::x`, `super::{x, y}` and
/// `crate::FOLDER::x`, an item re-exported by the folder's `mod.rs`
/// counted as the file it comes from.
fn sibling_uses(
    line: &str,
    folder: &str,
    siblings: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
    relative: &str,
) -> Vec<String> {
    let mut found = Vec::new();
    let absolute = format!("{folder}::");
    for prefix in [relative, absolute.as_str()] {
        for (at, _) in line.match_indices(prefix) {
            // `crate::a::` is a whole path, not the tail of `x::crate::a::`.
            if prefix == absolute
                && line[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            if prefix == relative && line[..at].ends_with("super::") {
                continue;
            }
            let rest = &line[at + prefix.len()..];
            let items: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                None => vec![rest],
            };
            for item in items {
                let first = ident(item);
                let module = reexports.get(&first).cloned().unwrap_or(first);
                if siblings.contains(&module) {
                    found.push(module);
                }
            }
        }
    }
    found
}

/// What one sibling of a folder is made of, each file with the prefix
/// that names the folder from inside it: a file, `super::`; a sub-folder
/// (a room), its `mod.rs` likewise and every file directly in it
/// `super::super::`, deeper files only by `crate::` paths.
fn sibling_files(dir: &Path, sibling: &str) -> Vec<(std::path::PathBuf, &'static str)> {
    let room = dir.join(sibling);
    if !room.is_dir() {
        return vec![(dir.join(format!("{sibling}.rs")), "super::")];
    }
    let mut files = Vec::new();
    sources(&room, &mut files);
    files
        .into_iter()
        .map(|file| {
            let prefix = if file == room.join("mod.rs") {
                "super::"
            } else if file.parent() == Some(room.as_path()) {
                "super::super::"
            } else {
                // Never found alone on a line's path: only `crate::` counts.
                "\u{0}"
            };
            (file, prefix)
        })
        .collect()
}

/// Inside each folder, the files (and sub-folders) import one another
/// without a circle: what two of them share lives in a third, or in the
/// folder's `mod.rs`.
#[test]
fn no_folder_has_a_circle_of_imports() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let mut folders: BTreeSet<std::path::PathBuf> = BTreeSet::new();
    for file in &files {
        if let Some(parent) = file.parent()
            && parent != root
        {
            folders.insert(parent.to_path_buf());
        }
    }
    let mut circles = Vec::new();
    let mut checked = 0;
    for dir in &folders {
        let rel = dir.strip_prefix(&root).expect("under src");
        let folder = format!(
            "crate::{}",
            rel.to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "::")
        );
        let mut siblings = BTreeSet::new();
        for entry in std::fs::read_dir(dir).expect("readable").flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_dir() {
                siblings.insert(name.to_string());
            } else if let Some(stem) = name.strip_suffix(".rs")
                && stem != "mod"
            {
                siblings.insert(stem.to_string());
            }
        }
        // `use x::{A, B};` in mod.rs: A and B are x's.
        let mut reexports = BTreeMap::new();
        let head = std::fs::read_to_string(dir.join("mod.rs")).unwrap_or_default();
        for line in head.lines() {
            let trimmed = line.trim();
            let Some(at) = trimmed.find("use ") else {
                continue;
            };
            let rest = &trimmed[at + 4..];
            let (module, names) = imported(rest);
            if !siblings.contains(&module) {
                continue;
            }
            for name in names {
                reexports.insert(name, module.clone());
            }
        }
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for sibling in &siblings {
            for (file, relative) in sibling_files(dir, sibling) {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                let shipped = text.split("#[cfg(test)]").next().unwrap_or("");
                for line in shipped.lines() {
                    if line.trim_start().starts_with("//") {
                        continue;
                    }
                    for target in sibling_uses(line, &folder, &siblings, &reexports, relative) {
                        if &target != sibling {
                            edges.entry(sibling.clone()).or_default().insert(target);
                        }
                    }
                }
            }
        }
        checked += edges.values().map(BTreeSet::len).sum::<usize>();
        // Every circle, each shown once from its smallest member.
        for start in &siblings {
            let mut stack = vec![(start.clone(), vec![start.clone()])];
            while let Some((at, path)) = stack.pop() {
                for next in edges.get(&at).into_iter().flatten() {
                    if next == start {
                        circles.push(format!(
                            "{}: {} -> {start}",
                            rel.display(),
                            path.join(" -> ")
                        ));
                    } else if next > start && !path.contains(next) {
                        let mut longer = path.clone();
                        longer.push(next.clone());
                        stack.push((next.clone(), longer));
                    }
                }
            }
        }
    }
    // The check sees the edges there are (a broken parser finds none).
    assert!(checked > 50, "only {checked} edges between files found");
    assert!(
        circles.is_empty(),
        "circles of imports inside a folder:\n{}",
        circles.join("\n")
    );
}

/// The Python guest SDK's modules import one another without a circle
/// either (its package root, `__init__.py`, aside, as a `mod.rs` is).
#[test]
fn the_python_sdk_has_no_circle_of_imports() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/python/weft_guest");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut modules = BTreeSet::new();
    for entry in std::fs::read_dir(&dir)
        .expect("the SDK is readable")
        .flatten()
    {
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".py"))
        else {
            continue;
        };
        if name == "__init__" {
            continue;
        }
        modules.insert(name.to_string());
        let text = std::fs::read_to_string(&path).expect("a module");
        for line in text.lines().map(str::trim) {
            let target = if let Some(rest) = line.strip_prefix("from .") {
                // `from ._x import y` names _x; `from . import _x, _y` names each.
                match rest.strip_prefix(" import ") {
                    Some(names) => names.split(',').map(ident).collect(),
                    None => vec![ident(rest)],
                }
            } else {
                Vec::new()
            };
            for t in target {
                if !t.is_empty() && t != name {
                    edges.entry(name.to_string()).or_default().insert(t);
                }
            }
        }
    }
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() >= 3,
        "{edges:?}"
    );
    for start in &modules {
        let mut stack = vec![start.clone()];
        let mut seen = BTreeSet::new();
        while let Some(at) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                assert!(
                    next != start,
                    "a circle of imports through {start}: {edges:?}"
                );
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
    }
}
