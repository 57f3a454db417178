//! The references stay what the code says: docs/cli.md's synopsis names
//! every command and flag of `weft --help`, and the configuration
//! reference and schema are `weft config`'s own output.

use crate::support::*;

/// The flags a `--help` text lists, without weft's global ones: each as
/// its long form and its short one, if it has one (`-o, --out`).
fn help_flags(help: &str) -> Vec<(String, Option<String>)> {
    const GLOBAL: [&str; 6] = [
        "--config",
        "--log-level",
        "--log-format",
        "--color",
        "--help",
        "--version",
    ];
    let options = help.split("Options:").nth(1).unwrap_or("");
    options
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .filter_map(|l| {
            let words: Vec<&str> = l
                .split_whitespace()
                .map(|w| w.trim_end_matches(','))
                .collect();
            let long = words.iter().find(|w| w.starts_with("--"))?;
            let long = long.split(['=', '<']).next().unwrap_or(long).to_string();
            let short = words
                .first()
                .filter(|w| w.len() == 2 && !w.starts_with("--"))
                .map(|w| w.to_string());
            Some((long, short))
        })
        .filter(|(long, _)| !GLOBAL.contains(&long.as_str()))
        .collect()
}

/// The subcommands a `--help` text lists, `help` aside.
fn help_commands(help: &str) -> Vec<String> {
    let Some(rest) = help.split("Commands:").nth(1) else {
        return Vec::new();
    };
    // The rest of the `Commands:` line, then one line per command (a
    // description's wrapped lines are indented further).
    rest.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

fn help_of(args: &[&str]) -> String {
    let out = weft().args(args).arg("--help").output_timed().unwrap();
    assert!(out.status.success(), "weft {args:?} --help");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The synopsis of docs/cli.md has a line for every command, and each
/// line names every flag the command (and its subcommands) takes.
#[test]
fn the_synopsis_names_every_command_and_flag() {
    let doc = std::fs::read_to_string(repo_root().join("docs/cli.md")).unwrap();
    let block: Vec<&str> = doc
        .split("```\n")
        .nth(1)
        .expect("docs/cli.md opens with the synopsis block")
        .lines()
        .collect();
    let mut missing = Vec::new();
    let commands = help_commands(&help_of(&[]));
    assert!(commands.len() > 15, "{commands:?}");
    for command in commands {
        let Some(line) = block.iter().find(|l| {
            l.split_whitespace()
                .filter(|w| !w.starts_with(['[', '-']) && *w != "FILE]")
                .nth(1)
                == Some(command.as_str())
        }) else {
            missing.push(format!("no synopsis line for `weft {command}`"));
            continue;
        };
        let help = help_of(&[&command]);
        let mut flags = help_flags(&help);
        for sub in help_commands(&help) {
            if !line.contains(&sub) {
                missing.push(format!(
                    "`weft {command}`'s line lacks its subcommand {sub}"
                ));
            }
            flags.extend(help_flags(&help_of(&[&command, &sub])));
        }
        for (long, short) in flags {
            let named = line
                .split(|c: char| !(c.is_alphanumeric() || c == '-'))
                .any(|w| w == long || short.as_deref() == Some(w));
            if !named {
                missing.push(format!("`weft {command}`'s line lacks {long}"));
            }
        }
    }
    assert!(missing.is_empty(), "docs/cli.md:\n{}", missing.join("\n"));
}

/// docs/configuration-reference.md is what `weft config reference` prints,
/// made from the types the config is read into, and every key in it has a
/// description.
#[test]
fn the_configuration_reference_is_generated_from_the_code() {
    let out = weft().args(["config", "reference"]).output_timed().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed =
        std::fs::read_to_string(repo_root().join("docs/configuration-reference.md")).unwrap();
    assert!(
        committed == generated,
        "docs/configuration-reference.md is not what the code says: \
         run `weft config reference > docs/configuration-reference.md`"
    );
    let keys: Vec<&str> = generated.lines().filter(|l| l.starts_with("| `")).collect();
    assert!(keys.len() > 100, "{generated}");
    let undescribed: Vec<&&str> = keys
        .iter()
        .filter(|l| {
            l.trim_end_matches('|')
                .rsplit('|')
                .next()
                .unwrap_or("")
                .trim()
                .is_empty()
        })
        .collect();
    assert!(
        undescribed.is_empty(),
        "keys without a description: {undescribed:#?}"
    );
    for table in [
        "## `[settings]`",
        "## `[servers.NAME]`",
        "## `[servers.NAME.sandbox]`",
        "## `[servers.NAME.oauth]`",
        "## `[policies.NAME]`",
        "## `[tenants.NAME]`",
        "## `[tenants.NAME.limits]`",
        "## `[code]`",
        "## `[code.limits]`",
        "## `[oauth]`",
    ] {
        assert!(generated.contains(table), "no {table} in the reference");
    }
}

/// `weft config schema` is a JSON Schema that the built-in example config
/// passes, and that fails a misspelt key in every table it names.
#[test]
fn the_config_schema_takes_the_example_and_refuses_misspelt_keys() {
    let out = weft().args(["config", "schema"]).output_timed().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let as_json = |text: &str| -> serde_json::Value {
        let table: toml::Table = toml::from_str(text).unwrap();
        serde_json::to_value(table).unwrap()
    };
    let example = std::fs::read_to_string(repo_root().join("host/examples/weft.toml")).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&as_json(&example))
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    for bad in [
        "[settings]\nstartup_timout = \"1s\"\n",
        "[servers.a]\ncomand = \"x\"\n",
        "[servers.a]\ncommand = \"x\"\n[servers.a.sandbox]\nreed = []\n",
        "[policies.p]\npath = \"p.wasm\"\nfuell = 1\n",
        "[tenants.t]\ninclude = []\n[tenants.t.limits]\nburts = 1\n",
        "[code]\nenabeld = true\n",
        "[servers.a]\ncommand = \"x\"\nargs = \"not a list\"\n",
    ] {
        assert!(
            !validator.is_valid(&as_json(bad)),
            "the schema took a misspelt key:\n{bad}"
        );
    }
}
