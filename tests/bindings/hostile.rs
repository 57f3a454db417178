//! Bindings of a server whose catalog is hostile (names that collide once
//! made identifiers, reserved words, odd schemas) still type-check in
//! every language.

use super::*;

#[test]
fn a_hostile_catalog_gives_code_that_type_checks() {
    let dir = temp_dir();
    let cfg = odd_config(dir.path());

    // Python: type-checks, keeps the hostile description whole inside the
    // docstring, and maps each parameter back to its own key.
    let py = dir.path().join("py");
    let stdout = generate(&cfg, "python", &py.join("bindings"));
    assert!(
        stdout.contains("bindings/odd.py\todd: 18 tools"),
        "{stdout}"
    );
    let module = read(&py.join("bindings/odd.py"));
    let functions: Vec<&str> = module
        .lines()
        .filter_map(|l| l.strip_prefix("def "))
        .map(|l| &l[..l.find('(').unwrap()])
        .collect();
    assert_eq!(
        functions,
        [
            "_typed",
            "_2fa",
            "none",
            "tool_result",
            "call",
            "class_",
            "deep",
            "delete",
            "get_x_2",
            "get_x_3",
            "get_x",
            "huge",
            "malformed",
            "open",
            "recursive",
            "self",
            "stats",
            "type",
            "u65e5_u672c_u8a9e"
        ]
    );
    let ok = mypy(&py, &["bindings"]);
    assert!(ok.status.success(), "mypy --strict: {}", text(&ok));
    let run = python_with_stub(
        &py,
        "import json\nfrom bindings import odd\n\
         print(json.dumps(odd.class_(from_='f', a_b_2='dash', a_b=True, arg='empty', _2fa=2, na_u00ef_ve=1.5).json, sort_keys=True))\n\
         print(json.dumps(odd.stats(label='L'), sort_keys=True))\n\
         print(json.dumps(odd.huge(wide={'k': 'v'}).json['args']))\n\
         print(json.dumps(odd.class_.__doc__))\n",
    );
    assert!(run.status.success(), "{}", text(&run));
    let said = String::from_utf8_lossy(&run.stdout).into_owned();
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines[0],
        r#"{"args": {"": "empty", "2fa": 2, "a-b": "dash", "a_b": true, "from": "f", "na\u00efve": 1.5}, "server": "odd", "tool": "class"}"#
    );
    assert_eq!(lines[1], r#"{"count": 1, "label": "stats"}"#);
    assert_eq!(lines[2], r#"{"wide": {"k": "v"}}"#);
    let doc: String = serde_json::from_str(lines[3]).unwrap();
    assert!(
        doc.starts_with(
            "Ends here: \"\"\" and ''' and */ and `x` and\n    ```\n    fn main() {}\n"
        ),
        "{doc}"
    );
    assert!(
        doc.contains("back\\slash \\\"  nul  [31mred  sep  evil\n    \"\"\"\n    import os\n    os.system(\"touch /tmp/pwned\")\n"),
        "{doc}"
    );

    // TypeScript: the declarations type-check and the module loads.
    let ts = dir.path().join("ts");
    generate(&cfg, "typescript", &ts.join("bindings"));
    std::fs::write(
        ts.join("use.ts"),
        "import { odd } from \"./bindings/index.js\";\n\
         export const n: number = odd.stats({ label: \"x\" }).count;\n\
         odd.class_({ from: \"f\", \"a-b\": \"x\", mode: \"*/\" });\n\
         odd.getX(); odd.getX_2(); odd.getX_3(); odd.delete_(); odd.type_(); odd.u65e5U672cU8a9e();\n",
    )
    .unwrap();
    let ok = tsc(&ts, &["use.ts", "bindings/odd.d.ts", "bindings/index.d.ts"]);
    assert!(ok.status.success(), "tsc: {}", text(&ok));
    let run = node_with_stub(
        &ts,
        "import { odd } from \"./bindings/index.js\";\n\
         console.log(JSON.stringify(odd.class_({from: \"f\", \"a-b\": \"x\"}).json));\n\
         console.log(Object.keys(odd).length);\n",
    );
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "{\"server\":\"odd\",\"tool\":\"class\",\"args\":{\"from\":\"f\",\"a-b\":\"x\"}}\n18\n"
    );

    // Rust: the module compiles for wasm32-wasip2 in a crate of its own.
    let krate = dir.path().join("odd-rs");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    let src = repo_root().join("tests/guests/typed");
    std::fs::copy(src.join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let manifest = read(&src.join("Cargo.toml"))
        .replace("weft-typed-guest", "weft-odd-bindings")
        .replace("crate-type = [\"cdylib\"]", "crate-type = [\"rlib\"]")
        .replace(
            "path = \"../../../guest-sdk/rust\"",
            &format!(
                "path = {}",
                q(repo_root().join("guest-sdk/rust").display().to_string())
            ),
        );
    std::fs::write(krate.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(
        krate.join("src/lib.rs"),
        "#![deny(warnings)]\npub mod bindings;\n\
         pub fn use_them() -> Result<u64, weft_guest::CallError> {\n    \
             use bindings::odd;\n    \
             odd::r#type()?;\n    odd::self_()?;\n    odd::get_x_3()?;\n    \
             let args = odd::ClassArgs { from: \"f\".into(), a_b_2: \"x\".into(), ..Default::default() };\n    \
             odd::class(&args)?;\n    \
             Ok(odd::stats(&odd::StatsArgs { label: \"l\".into() })?.count as u64)\n}\n",
    )
    .unwrap();
    let stdout = generate(&cfg, "rust", &krate.join("src/bindings"));
    assert!(
        stdout.contains("src/bindings/odd.rs\todd: 18 tools"),
        "{stdout}"
    );
    build_guest(&krate, "weft_odd_bindings");
}
