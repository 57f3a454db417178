//! The merged, namespaced view of everything the upstream servers offer:
//! tools, resources, resource templates and prompts.
//!
//! A [`Catalog`] is an immutable snapshot built from each server's
//! [`Listing`]; the hub swaps in a new one when a server's lists change, so
//! readers never hold a lock while they use it.

mod args;
pub mod naming;

pub use args::ArgsCheck;

use std::collections::HashMap;
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use rmcp::model::{Prompt, Resource, ResourceTemplate, Tool};
use serde::Serialize;

use crate::config::{NameMode, ScanMode, ServerConfig, Settings};
use crate::scan::Finding;

/// A change agents may want to hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The merged tool list changed.
    Tools,
    /// The merged resource or template list changed.
    Resources,
    /// The merged prompt list changed.
    Prompts,
    /// A resource changed; `uri` is the server's own URI. `tenant` is the
    /// tenant of the per-tenant instance it changed on (only that tenant's
    /// agents hear of it); `None` for a shared server.
    ResourceUpdated {
        /// The configured name of the server the resource belongs to.
        server: String,
        /// The resource's URI as that server knows it, before namespacing.
        uri: String,
        /// The tenant whose instance reported it; `None` for a shared server.
        tenant: Option<String>,
    },
}

/// What one server offers, as listed at its last (re)start or change.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
}

/// One tool in the catalog.
#[derive(Debug, Clone)]
pub struct ToolEntry {
    /// The name an agent sees.
    pub exposed: String,
    pub server: Arc<str>,
    /// The tool as the upstream describes it (its own name inside).
    pub tool: Tool,
    /// From the tool's `readOnlyHint` annotation.
    pub read_only: bool,
    /// The check of a call's arguments against the tool's `inputSchema`.
    pub args: ArgsCheck,
}

impl ToolEntry {
    /// The upstream's own name of the tool.
    pub fn name(&self) -> &str {
        &self.tool.name
    }

    /// Whether sending it twice is harmless: annotated read-only or
    /// idempotent.
    pub fn repeatable(&self) -> bool {
        self.read_only
            || self
                .tool
                .annotations
                .as_ref()
                .and_then(|a| a.idempotent_hint)
                .unwrap_or(false)
    }

    /// Whether it may destroy something, as MCP reads its annotations:
    /// not read-only, and `destructiveHint` not `false` (the hint's
    /// default is `true`: a tool that promises nothing promises no care).
    pub fn destructive(&self) -> bool {
        !self.read_only
            && self
                .tool
                .annotations
                .as_ref()
                .and_then(|a| a.destructive_hint)
                .unwrap_or(true)
    }
}

/// A resource or template with the server it came from.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub server: Arc<str>,
    /// The URI, URI template or prompt name an agent sees.
    pub exposed: String,
    pub item: T,
}

/// Two servers offered the same name in no-prefix mode; the winner is
/// exposed and the others are hidden.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Collision {
    pub kind: &'static str,
    pub name: String,
    pub winner: String,
    pub hidden: Vec<String>,
}

/// A tool the scanner flagged (see `scan`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flagged {
    /// Its server.
    pub server: String,
    /// Its own name.
    pub tool: String,
    /// The name agents would call it by.
    pub exposed: String,
    /// Kept from agents (`scan = "strict"` and a finding, or a pin held
    /// under `pin = "strict"` or `"new-ok"`).
    pub quarantined: bool,
    /// What the scanner's rules found.
    pub findings: Vec<Finding>,
    /// How the definition differs from its pin, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<crate::pins::Hold>,
}

impl Flagged {
    /// Whether a changed or new definition, not the scanner, keeps it
    /// from agents.
    pub fn held_by_pin(&self) -> bool {
        self.pin.as_ref().is_some_and(|h| h.hidden)
    }
}

/// One server's input to [`Catalog::build`].
pub struct Source<'a> {
    pub config: &'a ServerConfig,
    pub listing: &'a Listing,
    /// Its tools that differ from their pins, by own name (see `pins`).
    pub holds: Option<&'a HashMap<String, crate::pins::Hold>>,
}

/// The merged view. Cheap to share: the hub hands out `Arc<Catalog>`.
#[derive(Debug, Default)]
pub struct Catalog {
    tools: Vec<ToolEntry>,
    by_exposed: HashMap<String, usize>,
    by_server: HashMap<(Arc<str>, String), usize>,
    /// Tools hidden by a no-prefix collision: not listed, but a call that
    /// names their server (or a domain) still reaches them.
    shadowed: HashMap<(Arc<str>, String), ToolEntry>,
    resources: Vec<Entry<Resource>>,
    templates: Vec<Entry<ResourceTemplate>>,
    prompts: Vec<Entry<Prompt>>,
    collisions: Vec<Collision>,
    /// Tools the scanner flagged, quarantined or not.
    flagged: Vec<Flagged>,
    servers: Vec<Arc<str>>,
    prefixed: bool,
}

/// A compiled include/exclude pair of glob lists.
struct ToolFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl ToolFilter {
    fn new(config: &ServerConfig) -> ToolFilter {
        // Globs were validated when the config was loaded.
        let build = |globs: &[String]| {
            let mut b = GlobSetBuilder::new();
            for g in globs {
                if let Ok(glob) = Glob::new(g) {
                    b.add(glob);
                }
            }
            b.build().unwrap_or_else(|_| GlobSet::empty())
        };
        ToolFilter {
            include: (!config.include.is_empty()).then(|| build(&config.include)),
            exclude: build(&config.exclude),
        }
    }

    fn allows(&self, tool: &str) -> bool {
        self.include.as_ref().is_none_or(|s| s.is_match(tool)) && !self.exclude.is_match(tool)
    }
}

impl Catalog {
    /// Merges the listings of the given servers. In no-prefix mode a name
    /// offered twice goes to the server of highest priority (ties: the
    /// first name in alphabetical order), and the collision is recorded.
    pub fn build(settings: &Settings, sources: &[Source<'_>]) -> Catalog {
        let prefixed = settings.names == NameMode::Prefix;
        let mut order: Vec<&Source<'_>> = sources.iter().collect();
        // Highest priority first, then by name, so the winner of a
        // collision comes first and the outcome is deterministic.
        order.sort_by(|a, b| {
            b.config
                .priority
                .cmp(&a.config.priority)
                .then_with(|| a.config.name.cmp(&b.config.name))
        });
        let mut cat = Catalog {
            prefixed,
            ..Catalog::default()
        };
        let mut collisions: HashMap<(&'static str, String), Collision> = HashMap::new();
        let mut note = |kind: &'static str, name: &str, winner: &str, loser: &str| {
            collisions
                .entry((kind, name.to_string()))
                .or_insert_with(|| Collision {
                    kind,
                    name: name.into(),
                    winner: winner.into(),
                    hidden: vec![],
                })
                .hidden
                .push(loser.to_string());
        };
        let claims = crate::scan::Claims::new(sources.iter().map(|s| s.config.name.as_str()));
        for src in order {
            let server: Arc<str> = Arc::from(src.config.name.as_str());
            cat.servers.push(server.clone());
            let filter = ToolFilter::new(src.config);
            let scan = src.config.scan.unwrap_or(settings.scan);
            for listed in &src.listing.tools {
                if !filter.allows(&listed.name) {
                    continue;
                }
                let exposed = if prefixed {
                    naming::prefixed(&server, &settings.separator, &listed.name)
                } else {
                    naming::exposed(&listed.name)
                };
                let hold = src.holds.and_then(|h| h.get(&*listed.name));
                let mut findings = Vec::new();
                if scan != ScanMode::Off {
                    findings = crate::scan::scan(listed);
                    findings.extend(claims.check(listed, &server));
                }
                // Only a definition with invisible characters is copied.
                let invisible = findings.iter().any(crate::scan::strips);
                if !findings.is_empty() || hold.is_some() {
                    let quarantined = (scan == ScanMode::Strict && !findings.is_empty())
                        || hold.is_some_and(|h| h.hidden);
                    cat.flagged.push(Flagged {
                        server: server.to_string(),
                        tool: listed.name.to_string(),
                        exposed: exposed.clone(),
                        quarantined,
                        findings,
                        pin: hold.cloned(),
                    });
                    if quarantined {
                        continue;
                    }
                }
                let stripped = invisible.then(|| crate::scan::strip(listed)).flatten();
                let tool = stripped.as_ref().unwrap_or(listed);
                let read_only = tool
                    .annotations
                    .as_ref()
                    .and_then(|a| a.read_only_hint)
                    .unwrap_or(false);
                if let Some(&i) = cat.by_exposed.get(&exposed) {
                    let winner = cat.tools[i].server.to_string();
                    note("tool", &exposed, &winner, &server);
                    cat.shadowed.insert(
                        (server.clone(), tool.name.to_string()),
                        ToolEntry {
                            exposed: String::new(),
                            server: server.clone(),
                            tool: tool.clone(),
                            read_only,
                            args: ArgsCheck::default(),
                        },
                    );
                    continue;
                }
                let idx = cat.tools.len();
                cat.by_exposed.insert(exposed.clone(), idx);
                cat.by_server
                    .insert((server.clone(), tool.name.to_string()), idx);
                cat.tools.push(ToolEntry {
                    exposed,
                    server: server.clone(),
                    tool: tool.clone(),
                    read_only,
                    args: ArgsCheck::default(),
                });
            }
            let uri = |u: &str| {
                if prefixed {
                    naming::namespace_uri(&server, u)
                } else {
                    u.to_string()
                }
            };
            for r in &src.listing.resources {
                let exposed = uri(&r.uri);
                if let Some(w) = cat.resources.iter().find(|e| e.exposed == exposed) {
                    note("resource", &exposed, &w.server.clone(), &server);
                    continue;
                }
                cat.resources.push(Entry {
                    server: server.clone(),
                    exposed,
                    item: r.clone(),
                });
            }
            for t in &src.listing.templates {
                let exposed = uri(&t.uri_template);
                if let Some(w) = cat.templates.iter().find(|e| e.exposed == exposed) {
                    note("resource-template", &exposed, &w.server.clone(), &server);
                    continue;
                }
                cat.templates.push(Entry {
                    server: server.clone(),
                    exposed,
                    item: t.clone(),
                });
            }
            for p in &src.listing.prompts {
                let exposed = if prefixed {
                    naming::prefixed(&server, &settings.separator, &p.name)
                } else {
                    naming::exposed(&p.name)
                };
                if let Some(w) = cat.prompts.iter().find(|e| e.exposed == exposed) {
                    note("prompt", &exposed, &w.server.clone(), &server);
                    continue;
                }
                cat.prompts.push(Entry {
                    server: server.clone(),
                    exposed,
                    item: p.clone(),
                });
            }
        }
        let mut collisions: Vec<Collision> = collisions.into_values().collect();
        collisions.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        cat.collisions = collisions;
        // Present tools grouped by server, in server-name order, each
        // server's tools in the order it listed them (clients may rely on
        // that order; the conformance suite does).
        cat.sort_tools();
        cat
    }

    fn sort_tools(&mut self) {
        self.tools.sort_by(|a, b| a.server.cmp(&b.server));
        self.by_exposed = self
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.exposed.clone(), i))
            .collect();
        self.by_server = self
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| ((t.server.clone(), t.tool.name.to_string()), i))
            .collect();
    }

    /// The tools the scanner flagged, quarantined or not.
    pub fn flagged(&self) -> &[Flagged] {
        &self.flagged
    }

    /// Why `server`'s `tool` is kept from agents, if it is.
    pub fn quarantined(&self, server: &str, tool: &str) -> Option<&Flagged> {
        self.flagged
            .iter()
            .find(|f| f.quarantined && f.server == server && f.tool == tool)
    }

    /// Every tool, grouped by server.
    pub fn tools(&self) -> &[ToolEntry] {
        &self.tools
    }

    /// The tool an agent knows by this exposed name.
    pub fn tool_by_exposed(&self, exposed: &str) -> Option<&ToolEntry> {
        self.by_exposed.get(exposed).map(|&i| &self.tools[i])
    }

    /// The tool with this upstream name on this server, if the catalog
    /// exposes it (filters and collisions can hide it).
    pub fn tool(&self, server: &str, tool: &str) -> Option<&ToolEntry> {
        self.by_server
            .get(&(Arc::from(server), tool.to_string()))
            .map(|&i| &self.tools[i])
    }

    /// The tool a call naming `server` reaches: a listed one, or one hidden
    /// only by a no-prefix collision.
    pub fn tool_for_call(&self, server: &str, tool: &str) -> Option<&ToolEntry> {
        let key = (Arc::from(server), tool.to_string());
        self.by_server
            .get(&key)
            .map(|&i| &self.tools[i])
            .or_else(|| self.shadowed.get(&key))
    }

    pub fn resources(&self) -> &[Entry<Resource>] {
        &self.resources
    }

    pub fn templates(&self) -> &[Entry<ResourceTemplate>] {
        &self.templates
    }

    pub fn prompts(&self) -> &[Entry<Prompt>] {
        &self.prompts
    }

    /// Names offered by more than one server in no-prefix mode.
    pub fn collisions(&self) -> &[Collision] {
        &self.collisions
    }

    /// Maps an exposed resource URI back to (server, upstream URI).
    pub fn resolve_uri(&self, uri: &str) -> Option<(Arc<str>, String)> {
        if let Some(e) = self.resources.iter().find(|e| e.exposed == uri) {
            return Some((e.server.clone(), e.item.uri.clone()));
        }
        if self.prefixed {
            // A URI that is not listed (from a template, or one the server
            // reads without listing it): its server prefix says where it goes.
            let (server, inner) = naming::split_uri(uri)?;
            let known = self.servers.iter().find(|s| &***s == server)?;
            return Some((known.clone(), inner.to_string()));
        }
        // Without prefixes, a templated URI goes to the server of highest
        // priority whose template scheme matches.
        let scheme = uri.split_once(':').map(|(s, _)| s)?;
        self.templates
            .iter()
            .find(|t| t.item.uri_template.split_once(':').map(|(s, _)| s) == Some(scheme))
            .map(|t| (t.server.clone(), uri.to_string()))
    }

    /// The URI an agent sees for `server`'s own `uri`.
    pub fn expose_uri(&self, server: &str, uri: &str) -> String {
        if self.prefixed {
            naming::namespace_uri(server, uri)
        } else {
            uri.to_string()
        }
    }

    /// The lists that differ between this catalog and `new`.
    pub fn changes_to(&self, new: &Catalog) -> Vec<Change> {
        fn differ<T: Serialize>(a: &[T], b: &[T]) -> bool {
            a.len() != b.len() || serde_json::to_value(a).ok() != serde_json::to_value(b).ok()
        }
        let tools = |c: &Catalog| -> Vec<(String, Tool)> {
            c.tools
                .iter()
                .map(|t| (t.exposed.clone(), t.tool.clone()))
                .collect()
        };
        let resources = |c: &Catalog| -> Vec<(String, String)> {
            let r = c
                .resources
                .iter()
                .map(|e| (e.exposed.clone(), String::new()));
            let t = c
                .templates
                .iter()
                .map(|e| (e.exposed.clone(), e.item.uri_template.clone()));
            r.chain(t).collect()
        };
        let prompts = |c: &Catalog| -> Vec<(String, Prompt)> {
            c.prompts
                .iter()
                .map(|p| (p.exposed.clone(), p.item.clone()))
                .collect()
        };
        let mut out = Vec::new();
        if differ(&tools(self), &tools(new)) {
            out.push(Change::Tools);
        }
        if differ(&resources(self), &resources(new)) {
            out.push(Change::Resources);
        }
        if differ(&prompts(self), &prompts(new)) {
            out.push(Change::Prompts);
        }
        out
    }

    /// Maps an exposed prompt name back to (server, upstream name).
    pub fn resolve_prompt(&self, name: &str) -> Option<(Arc<str>, String)> {
        self.prompts
            .iter()
            .find(|p| p.exposed == name)
            .map(|p| (p.server.clone(), p.item.name.clone()))
    }
}

#[cfg(test)]
mod tests;
