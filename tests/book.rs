//! The book (README.md and docs/) stays true: every relative link and
//! anchor resolves, every shell block is run by a test or says why not,
//! and the `# book:` walks run as written.

use crate::support::keys::add_key;
use crate::support::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The languages of fenced blocks that are shell commands.
const SHELLS: [&str; 5] = ["sh", "bash", "shell", "console", "zsh"];

/// The book's pages: README.md and every Markdown file under docs/.
pub(crate) fn book_pages() -> Vec<PathBuf> {
    let root = repo_root();
    let mut pages = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            }
        }
    }
    pages.sort();
    pages
}

/// Every Markdown file of the repository a reader may open: the book and
/// the READMEs of the SDKs, plugins, templates and tests.
fn markdown_files() -> Vec<PathBuf> {
    let root = repo_root();
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && !["target", "node_modules", "fuzz"].contains(&&*name) {
                    dirs.push(path);
                }
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The lines of `text` outside fenced code blocks, with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// `line` without its inline code spans.
fn without_code(line: &str) -> String {
    let mut out = String::new();
    let mut parts = line.split('`');
    let mut inside = false;
    for part in parts.by_ref() {
        if !inside {
            out.push_str(part);
        }
        inside = !inside;
    }
    out
}

/// The link targets of `line`: `[text](target)` and `![alt](target)`.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code(line);
    let mut out = Vec::new();
    let mut rest = line.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split_whitespace().next().unwrap_or("");
        out.push(target.to_string());
        rest = &after[end..];
    }
    out
}

/// GitHub's anchor for a heading: lower case, letters, digits, `-` and
/// `_` kept, spaces made `-`, everything else dropped.
fn slug(heading: &str) -> String {
    // A link in a heading reads as its text; code spans as their code.
    let mut plain = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        plain.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match (after.find("]("), after.find(')')) {
            (Some(close), Some(end)) if close < end => {
                plain.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            _ => {
                plain.push('[');
                rest = after;
            }
        }
    }
    plain.push_str(rest);
    plain
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors a page offers: its headings' slugs (a repeated one gets
/// `-1`, `-2`, … as GitHub numbers them) and explicit `<a id>`/`name`s.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let trimmed = line.trim_start_matches('#');
        if line.starts_with('#') && trimmed.starts_with(' ') {
            let base = slug(trimmed);
            let mut name = base.clone();
            let mut n = 0;
            while out.contains(&name) {
                n += 1;
                name = format!("{base}-{n}");
            }
            out.insert(name);
        }
        for key in ["<a id=\"", "<a name=\""] {
            for part in line.split(key).skip(1) {
                if let Some(id) = part.split('"').next() {
                    out.insert(id.to_string());
                }
            }
        }
    }
    out
}

/// The broken links of the page at `path` (text `text`): a relative
/// target that does not exist, or an anchor its page lacks.
fn broken_links(path: &Path, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let here = path.parent().unwrap();
    for (number, line) in prose_lines(text) {
        for target in link_targets(line) {
            if target.is_empty()
                || target.contains("://")
                || target.starts_with("mailto:")
                || target.starts_with('<')
            {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let file_path = if file.is_empty() {
                path.to_path_buf()
            } else {
                here.join(file)
            };
            let shown = format!("{}:{number}: {target}", path.display());
            if !file_path.exists() {
                out.push(format!("{shown}: no such file"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if file_path.extension().is_none_or(|e| e != "md") {
                continue;
            }
            let page = std::fs::read_to_string(&file_path).unwrap();
            if !anchors(&page).contains(anchor) {
                out.push(format!("{shown}: no heading has the anchor #{anchor}"));
            }
        }
    }
    out
}

#[test]
fn the_link_checker_finds_a_missing_file_and_a_missing_anchor() {
    assert_eq!(
        slug("Serving agents: `weft serve`"),
        "serving-agents-weft-serve"
    );
    assert_eq!(
        slug("Tenants, keys, secrets and the audit log"),
        "tenants-keys-secrets-and-the-audit-log"
    );
    assert_eq!(slug("The examples (`plugins/`)"), "the-examples-plugins");
    assert_eq!(slug("See [the book](docs/README.md)"), "see-the-book");
    let dir = temp_dir();
    let page = dir.path().join("page.md");
    let text = "# Top\n\n## Twice\n\n## Twice\n\n[a](#top) [b](#twice-1) [c](#nowhere)\n\
                [d](gone.md) [e](page.md#twice) `[f](ignored.md)`\n\n```\n[g](fenced.md)\n```\n";
    std::fs::write(&page, text).unwrap();
    let broken = broken_links(&page, text);
    assert_eq!(broken.len(), 2, "{broken:#?}");
    assert!(broken[0].ends_with(":7: #nowhere: no heading has the anchor #nowhere"));
    assert!(broken[1].ends_with(":8: gone.md: no such file"));
}

/// Every relative link and anchor in the repository's Markdown resolves.
#[test]
fn every_relative_link_and_anchor_resolves() {
    let files = markdown_files();
    assert!(files.len() > 20, "{files:?}");
    let broken: Vec<String> = files
        .iter()
        .flat_map(|path| broken_links(path, &std::fs::read_to_string(path).unwrap()))
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Whether `who` (from `<!-- run by: WHO -->`) names something that runs:
/// an integration test `module::function` or a script in the repository.
fn runner_exists(who: &str) -> bool {
    let who = who.split_whitespace().next().unwrap_or("");
    match who.split_once("::") {
        Some((module, function)) => {
            std::fs::read_to_string(repo_root().join("tests").join(format!("{module}.rs")))
                .is_ok_and(|text| text.contains(&format!("fn {function}(")))
        }
        None => !who.is_empty() && repo_root().join(who).is_file(),
    }
}

/// A shell block's fate: run by a walk (its first line names the walk),
/// run by a named test or script (`<!-- run by: WHO -->` just before its
/// fence), or not run, with a reason (`<!-- not run: REASON -->`).
fn unaccounted_shell_blocks(path: &Path, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let end = lines[i + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with("```"))
            .map_or(lines.len(), |p| i + 1 + p);
        if SHELLS.contains(&lang.trim()) {
            let first = lines.get(i + 1).copied().unwrap_or("");
            let walked = first.starts_with("# book: ") || first.starts_with("# first-hour: ");
            let comment = |key: &str| {
                i.checked_sub(1)
                    .and_then(|p| lines[p].trim().strip_prefix(key))
                    .and_then(|r| r.strip_suffix("-->"))
                    .map(str::trim)
            };
            let reason = comment("<!-- not run: ").filter(|r| r.len() >= 10);
            let runner = comment("<!-- run by: ");
            if let Some(who) = runner
                && !runner_exists(who)
            {
                out.push(format!(
                    "{}:{}: `run by: {who}` names no test (module::function) or script",
                    path.display(),
                    i + 1
                ));
            } else if !walked && reason.is_none() && runner.is_none() {
                out.push(format!(
                    "{}:{}: a ```{lang} block that no walk runs and no `<!-- not run: REASON -->` explains",
                    path.display(),
                    i + 1
                ));
            }
        }
        i = end + 1;
    }
    out
}

#[test]
fn every_shell_block_in_the_book_is_run_or_says_why_not() {
    let text = "<!-- not run: it needs Claude Desktop -->\n```sh\nclaude\n```\n\n\
                ```sh\n# book: tour\nweft tools\n```\n\n```bash\nrm -rf /\n```\n\n\
                <!-- not run: -->\n```sh\nx\n```\n\n```toml\n[a]\n```\n\n\
                <!-- run by: book::the_books_walks_run_as_written -->\n```sh\ny\n```\n\n\
                <!-- run by: book::no_such_test -->\n```sh\nz\n```\n";
    let found = unaccounted_shell_blocks(Path::new("t.md"), text);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("t.md:11: a ```bash block"),
        "{found:?}"
    );
    assert!(found[1].starts_with("t.md:16: a ```sh block"), "{found:?}");
    assert!(
        found[2].starts_with("t.md:30: `run by: book::no_such_test` names no test"),
        "{found:?}"
    );

    let unaccounted: Vec<String> = book_pages()
        .iter()
        .flat_map(|p| unaccounted_shell_blocks(p, &std::fs::read_to_string(p).unwrap()))
        .collect();
    assert!(unaccounted.is_empty(), "{}", unaccounted.join("\n"));
}

/// What each `# book:` walk must print, by page and walk. A walk missing
/// here fails the test, so a new walk comes with what it proves.
fn expected(page: &str, walk: &str) -> Option<&'static [&'static str]> {
    match (page, walk) {
        ("README.md", "tour") => Some(&[
            "✓ everything",
            "everything__echo",
            "Echo: hello",
            "\"echo\": \"Echo: from a policy\"",
        ]),
        _ => None,
    }
}

/// The `# book: WALK` blocks of every page, each walk run as one script in
/// an empty folder (see `support::walks`), and what it printed checked.
#[test]
fn the_books_walks_run_as_written() {
    let dir = temp_dir();
    let path = walks::walk_path(dir.path());
    let mut ran = Vec::new();
    for page in book_pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page
            .strip_prefix(repo_root())
            .unwrap()
            .display()
            .to_string();
        for (walk, script) in walks::walks(&text, "# book: ") {
            let want = expected(&name, &walk)
                .unwrap_or_else(|| panic!("{name}'s walk {walk:?} has no expected output here"));
            let here = dir
                .path()
                .join(format!("{}-{walk}", name.replace('/', "-")));
            let out = walks::run_walk(&script, &here, &path);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "{name}'s {walk} walk failed:\n{stderr}\n{stdout}"
            );
            let printed = format!("{stdout}{stderr}");
            for line in want {
                assert!(
                    printed.contains(line),
                    "{name}'s {walk} walk did not print {line:?}:\n{printed}"
                );
            }
            ran.push(format!("{name} {walk}"));
        }
    }
    assert_eq!(ran, ["README.md tour"]);
}

/// The blocks of `doc` that quote a file: a fenced block right after a
/// `<!-- file: PATH -->` line, as (PATH, the block's text).
pub(crate) fn quoted_files(doc: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(path) = line
            .trim()
            .strip_prefix("<!-- file: ")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| !l.starts_with("```"))
            .copied()
            .collect();
        out.push((path.trim().to_string(), body.join("\n") + "\n"));
    }
    out
}

/// The client examples of docs/serving.md are the files the next test
/// runs, word for word.
#[test]
fn the_client_examples_in_the_book_are_the_tested_files() {
    let doc = std::fs::read_to_string(repo_root().join("docs/serving.md")).unwrap();
    let quoted = quoted_files(&doc);
    let paths: Vec<&str> = quoted.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "examples/clients/weft_client.py",
            "examples/clients/weft_client.mjs"
        ]
    );
    for (path, text) in quoted {
        let file = std::fs::read_to_string(repo_root().join(&path)).unwrap();
        assert_eq!(text, file, "docs/serving.md's copy of {path} differs");
    }
}

/// An agent of one's own, on the Python SDK 2.x and on the TypeScript SDK,
/// connects to `weft serve --http` with a tenant key, sees exactly that
/// tenant's tools and calls one: each example run as written, twice (a
/// new connection per run).
#[test]
fn the_client_examples_run_with_a_tenant_key() {
    let dir = temp_dir();
    let mut text = npm_entry("everything", "server-everything", &["stdio"]);
    text += "[tenants.acme]\ninclude = [\"everything.echo\"]\n";
    std::fs::write(dir.path().join("weft.toml"), text).unwrap();
    let key = add_key(dir.path(), "acme");
    let mut cmd = weft();
    cmd.current_dir(dir.path());
    let (_weft, base) = serve_weft_http(&mut cmd);
    let examples = repo_root().join("examples/clients");
    let runs = [
        (
            venv_bin("python"),
            examples.join("weft_client.py"),
            None::<PathBuf>,
        ),
        (
            node22(),
            examples.join("weft_client.mjs"),
            Some(tools().join("npm/node_modules")),
        ),
    ];
    for (program, script, node_path) in runs {
        for key in [key.as_str(), "weft_not_a_key"] {
            // ES modules resolve packages from the script's own folder:
            // the Node example runs as a copy beside a `node_modules` of
            // the pinned SDK, as `npm install @modelcontextprotocol/sdk`
            // there would leave it.
            let run = match &node_path {
                Some(modules) => {
                    let linked = dir.path().join("node_modules");
                    if !linked.exists() {
                        std::os::unix::fs::symlink(modules, &linked).unwrap();
                    }
                    let copy = dir.path().join(script.file_name().unwrap());
                    std::fs::copy(&script, &copy).unwrap();
                    copy
                }
                None => script.clone(),
            };
            let mut cmd = std::process::Command::new(&program);
            cmd.arg(&run)
                .env("WEFT_URL", format!("{base}/mcp"))
                .env("WEFT_KEY", key)
                .current_dir(dir.path());
            let out = cmd.output_timed().expect("the example runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let name = script.file_name().unwrap().to_string_lossy();
            if key == "weft_not_a_key" {
                assert!(
                    !out.status.success(),
                    "{name} got in with a wrong key: {stdout}"
                );
                assert!(
                    stderr.contains("the key is not a key of any tenant"),
                    "{name}: {stderr}"
                );
                continue;
            }
            assert!(out.status.success(), "{name}: {stderr}");
            assert_eq!(
                stdout, "tools: everything__echo, weft_search_tools\nresult: Echo: hi\n",
                "{name}: {stderr}"
            );
        }
    }
}
