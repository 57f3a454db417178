//! Unit tests of merging, naming and collision rules.

use rmcp::model::ToolAnnotations;

use super::*;
use crate::config::{Config, NameMode};

fn tool(name: &str, read_only: Option<bool>) -> Tool {
    let mut t = Tool::default();
    t.name = name.to_string().into();
    t.annotations = read_only.map(|r| {
        let mut a = ToolAnnotations::default();
        a.read_only_hint = Some(r);
        a
    });
    t
}

fn config(names: &str) -> Config {
    Config::from_str(
        &format!(
            "[settings]\nnames = \"{names}\"\n[servers.a]\ncommand = \"x\"\npriority = 1\n[servers.b]\ncommand = \"y\"\npriority = 5\nexclude = [\"secret_*\"]\n"
        ),
        std::path::Path::new("t.toml"),
    )
    .unwrap()
}

fn listings() -> (Listing, Listing) {
    let a = Listing {
        tools: vec![tool("echo", Some(true)), tool("only_a", None)],
        ..Default::default()
    };
    let b = Listing {
        tools: vec![tool("echo", Some(false)), tool("secret_x", None)],
        ..Default::default()
    };
    (a, b)
}

#[test]
fn prefix_mode_keeps_both() {
    let c = config("prefix");
    let (la, lb) = listings();
    let cat = Catalog::build(
        &c.settings,
        &[
            Source {
                config: &c.servers[0],
                listing: &la,
                holds: None,
            },
            Source {
                config: &c.servers[1],
                listing: &lb,
                holds: None,
            },
        ],
    );
    let names: Vec<_> = cat.tools().iter().map(|t| t.exposed.as_str()).collect();
    assert_eq!(names, ["a__echo", "a__only_a", "b__echo"]);
    assert!(cat.tool_by_exposed("a__echo").unwrap().read_only);
    assert!(!cat.tool("b", "echo").unwrap().read_only);
    assert!(cat.tool("b", "secret_x").is_none(), "excluded by glob");
    assert!(cat.collisions().is_empty());
}

#[test]
fn no_prefix_mode_resolves_by_priority() {
    let mut c = config("none");
    c.settings.names = NameMode::None;
    let (la, lb) = listings();
    let cat = Catalog::build(
        &c.settings,
        &[
            Source {
                config: &c.servers[0],
                listing: &la,
                holds: None,
            },
            Source {
                config: &c.servers[1],
                listing: &lb,
                holds: None,
            },
        ],
    );
    assert_eq!(
        &*cat.tool_by_exposed("echo").unwrap().server,
        "b",
        "priority 5 wins"
    );
    assert_eq!(cat.collisions().len(), 1);
    assert_eq!(cat.collisions()[0].hidden, vec!["a".to_string()]);
    assert!(cat.tool_by_exposed("only_a").is_some());
}
