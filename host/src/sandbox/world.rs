//! Why a component does not fit weft, in words a policy author can act on.
//!
//! wasmtime decides: a component is accepted exactly when the linker can
//! satisfy its imports and the `policy` world's bindings find its `run`.
//! Only when it refuses does this module look at the component's type
//! (its imports and exports, as `Component::component_type` reports them)
//! to say which import weft does not provide, or what the component exports
//! instead of `run`. Everything here reads guest-controlled types, so it is
//! bounded in depth and length and never panics.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentItem, Type};

/// The version of weft's own WIT package (`wit/weft.wit`).
const WEFT_MCP_VERSION: &str = "0.2.0";
/// The versions of `weft:mcp` weft serves, and the interfaces a component
/// may import from each (`wit/v0.1.0/weft.wit`, `wit/weft.wit`).
const WEFT_MCP: &[(&str, &[&str])] = &[
    ("0.1.0", &["tools", "host-log", "types"]),
    ("0.2.0", &["tools", "host-log", "types", "config"]),
];

/// The WASI 0.2 version wasmtime-wasi links (its `wasi:cli/imports` world).
const WASI_VERSION: &str = "0.2.12";
/// The WASI interfaces `wasmtime_wasi::p2::add_to_linker_async` defines
/// (everything in `wasi:cli/imports` except the unstable `wasi:clocks/timezone`),
/// and `wasi:http`'s two from `wasmtime_wasi_http`, at the same version.
const WASI: &[(&str, &[&str])] = &[
    (
        "wasi:cli",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    ("wasi:clocks", &["monotonic-clock", "wall-clock"]),
    ("wasi:filesystem", &["types", "preopens"]),
    ("wasi:io", &["error", "poll", "streams"]),
    ("wasi:random", &["random", "insecure", "insecure-seed"]),
    // wasmtime-wasi-http's (`sandbox/egress.rs` decides what a request may do).
    ("wasi:http", &["types", "outgoing-handler"]),
    (
        "wasi:sockets",
        &[
            "network",
            "instance-network",
            "tcp",
            "tcp-create-socket",
            "udp",
            "udp-create-socket",
            "ip-name-lookup",
        ],
    ),
];

/// The policy world's export, as WIT.
pub(super) const RUN_SIGNATURE: &str = "run: func(input: string) -> result<string, string>";

/// How many names or exports a message lists before "and N more".
const MAX_LISTED: usize = 8;
/// How deep a type is spelled out before "…".
const MAX_DEPTH: usize = 6;
/// How long a spelled-out type or a quoted reason may get before "…".
const MAX_TEXT: usize = 400;

/// Every interface the linker defines, with its exact version.
pub(super) fn provided() -> Vec<String> {
    let weft = WEFT_MCP.iter().flat_map(|(version, interfaces)| {
        interfaces
            .iter()
            .map(move |i| format!("weft:mcp/{i}@{version}"))
    });
    let wasi = WASI.iter().flat_map(|(package, interfaces)| {
        interfaces
            .iter()
            .map(move |i| format!("{package}/{i}@{WASI_VERSION}"))
    });
    weft.chain(wasi).collect()
}

/// What weft provides, in a line: `weft:mcp/tools@0.1.0, …, and WASI
/// 0.2.12: wasi:cli/{environment, exit, …}, wasi:clocks/{…}, …`.
fn provided_summary() -> String {
    let weft: Vec<String> = WEFT_MCP
        .iter()
        .map(|(version, interfaces)| format!("weft:mcp/{{{}}}@{version}", interfaces.join(", ")))
        .collect();
    let wasi: Vec<String> = WASI
        .iter()
        .map(|(package, interfaces)| format!("{package}/{{{}}}", interfaces.join(", ")))
        .collect();
    format!(
        "{}, and WASI {WASI_VERSION}: {}",
        weft.join(", "),
        wasi.join(", ")
    )
}

/// Whether the linker resolves the import `name`: the same interface, at a
/// version wasmtime treats as compatible (same major version; same minor
/// version below 1.0; the exact version below 0.1 or with a pre-release).
fn is_provided(name: &str) -> bool {
    let (base, version) = split_version(name);
    provided().iter().any(|p| {
        let (p_base, p_version) = split_version(p);
        base == p_base
            && match (version, p_version) {
                (None, None) => true,
                (Some(a), Some(b)) => compatible(a, b),
                _ => false,
            }
    })
}

fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (name, None),
    }
}

fn compatible(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let parse = |v: &str| -> Option<[u64; 3]> {
        let mut parts = v.split('.');
        let mut out = [0u64; 3];
        for slot in &mut out {
            *slot = parts.next()?.parse().ok()?;
        }
        parts.next().is_none().then_some(out)
    };
    match (parse(a), parse(b)) {
        (Some([a0, a1, _]), Some([b0, b1, _])) => {
            if a0 != 0 {
                a0 == b0
            } else {
                a0 == b0 && a1 != 0 && a1 == b1
            }
        }
        _ => false,
    }
}

/// Whether an imported item needs a definition from the host: an instance
/// that exports only types (such as `weft:mcp/types`) needs none.
fn needs_provider(engine: &Engine, item: &ComponentItem) -> bool {
    match item {
        ComponentItem::Type(_) => false,
        ComponentItem::ComponentInstance(instance) => instance
            .exports(engine)
            .any(|(_, export)| !matches!(export.ty, ComponentItem::Type(_))),
        _ => true,
    }
}

/// Explains why the linker refused `component` (`error` is wasmtime's
/// reason): the imports weft does not provide, by name, or else the import
/// whose type differs from weft's.
pub(super) fn explain_imports(
    engine: &Engine,
    component: &Component,
    error: &wasmtime::Error,
) -> String {
    let ty = component.component_type();
    let (missing, more) = first(
        ty.imports(engine)
            .filter(|(name, import)| needs_provider(engine, &import.ty) && !is_provided(name)),
    );
    let missing: Vec<String> = missing
        .into_iter()
        .map(|(name, import)| match import.ty {
            ComponentItem::ComponentInstance(_) => format!("`{}`", clip(name)),
            ref other => format!("`{}` ({})", clip(name), kind(other)),
        })
        .collect();
    if missing.is_empty() {
        return mismatched_import(error);
    }
    let verb = if missing.len() + more == 1 {
        "does"
    } else {
        "do"
    };
    format!(
        "the component imports {}, which weft {verb} not provide (weft provides: {})",
        listed(&missing, more),
        provided_summary()
    )
}

/// Every import is one weft provides, so one of them has another type:
/// wasmtime's reason names it (`component imports instance `NAME`, but a
/// matching implementation was not found in the linker: instance export
/// `f` has the wrong type: …`); this keeps the name and the details.
fn mismatched_import(error: &wasmtime::Error) -> String {
    let mut chain = error.chain().map(|e| e.to_string());
    let head = chain.next().unwrap_or_default();
    let name = head
        .strip_prefix("component imports ")
        .and_then(|rest| rest.split('`').nth(1))
        .filter(|_| head.contains("not found in the linker"));
    let (what, details) = match name {
        Some(name) => (
            format!("`{}`", clip(name)),
            chain.collect::<Vec<_>>().join(": "),
        ),
        None => ("an interface".to_string(), format!("{error:#}")),
    };
    let details = if details.is_empty() {
        String::new()
    } else {
        format!(": {}", clip_long(&details))
    };
    format!(
        "the component imports {what}, which weft provides with another type (is the component built against another version of wit/weft.wit? weft has weft:mcp@{WEFT_MCP_VERSION} and 0.1.0){details}"
    )
}

/// Explains why the `policy` world's bindings refused `component`: no
/// `run` export (and what it exports instead), `run` not a function, or
/// `run` with the wrong type.
pub(super) fn explain_exports(
    engine: &Engine,
    component: &Component,
    error: &wasmtime::Error,
) -> String {
    let ty = component.component_type();
    match ty.get_export(engine, "run").map(|e| e.ty) {
        None => {
            let instead = exports_instead(engine, &ty);
            format!(
                "the component does not export the policy world's run function (`{RUN_SIGNATURE}`); {instead}. Is it built for another world? A policy is built for weft:mcp/policy (wit/weft.wit)"
            )
        }
        Some(ComponentItem::ComponentFunc(func)) => {
            let actual = format!("run: {}", describe_func(&func));
            if actual == RUN_SIGNATURE {
                // The shape is right, yet the bindings refused it: say why.
                format!(
                    "the component's run function was refused: {}",
                    clip_long(&format!("{error:#}"))
                )
            } else {
                format!(
                    "run has the wrong type: the component exports `{actual}`, but the policy world's is `{RUN_SIGNATURE}`"
                )
            }
        }
        Some(other) => format!(
            "the component's `run` export is {}, not the policy world's run function (`{RUN_SIGNATURE}`)",
            kind(&other)
        ),
    }
}

/// The adapter world's exports, as WIT.
const ADAPTER_EXPORTS: &str = "list-tools: func() -> list<tool-info>` and `call-tool: func(tool: string, args: string) -> result<string, call-error>";

/// Explains why the `adapter` world's bindings refused `component`: what
/// it exports instead of `list-tools` and `call-tool`, or wasmtime's
/// reason when both are there with other types.
pub(super) fn explain_adapter_exports(
    engine: &Engine,
    component: &Component,
    error: &wasmtime::Error,
) -> String {
    let ty = component.component_type();
    let has = |name| ty.get_export(engine, name).is_some();
    if has("list-tools") && has("call-tool") {
        return format!(
            "the component's adapter exports were refused (is it built against another version of wit/weft.wit?): {}",
            clip_long(&format!("{error:#}"))
        );
    }
    let instead = exports_instead(engine, &ty);
    format!(
        "the component is not an adapter: it does not export `{ADAPTER_EXPORTS}`; {instead}. An adapter is built for weft:mcp/adapter (wit/weft.wit)"
    )
}

/// What a component exports, in words: `it exports a and b`.
fn exports_instead(engine: &Engine, ty: &wasmtime::component::types::Component) -> String {
    let (exports, more) = first(ty.exports(engine));
    let exports: Vec<String> = exports
        .into_iter()
        .map(|(name, export)| describe_export(engine, name, &export.ty))
        .collect();
    if exports.is_empty() {
        "it exports nothing".to_string()
    } else {
        format!("it exports {}", listed(&exports, more))
    }
}

fn describe_export(engine: &Engine, name: &str, item: &ComponentItem) -> String {
    match item {
        ComponentItem::ComponentFunc(func) => {
            format!("`{}: {}`", clip(name), describe_func(func))
        }
        ComponentItem::ComponentInstance(instance) => {
            let (functions, more) = first(
                instance
                    .exports(engine)
                    .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
                    .map(|(name, _)| clip(name)),
            );
            if functions.is_empty() {
                format!("the interface `{}`", clip(name))
            } else {
                format!(
                    "the interface `{}` ({})",
                    clip(name),
                    listed(&functions, more)
                )
            }
        }
        other => format!("`{}` ({})", clip(name), kind(other)),
    }
}

fn kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "a function",
        ComponentItem::CoreFunc(_) => "a core function",
        ComponentItem::Module(_) => "a core module",
        ComponentItem::Component(_) => "a component",
        ComponentItem::ComponentInstance(_) => "an interface",
        ComponentItem::Type(_) => "a type",
        ComponentItem::Resource(_) => "a resource",
    }
}

/// `func(a: u32) -> u32`, as WIT spells it.
fn describe_func(func: &wasmtime::component::types::ComponentFunc) -> String {
    let mut w = Wit::default();
    w.push(if func.async_() {
        "async func("
    } else {
        "func("
    });
    w.each(func.params(), |w, (name, ty)| {
        w.push(name);
        w.push(": ");
        w.ty(&ty, 0);
    });
    w.push(")");
    let results: Vec<Type> = func.results().collect();
    match results.as_slice() {
        [] => {}
        [one] => {
            w.push(" -> ");
            w.ty(one, 0);
        }
        many => {
            w.push(" -> (");
            w.each(many.iter(), |w, ty| w.ty(ty, 0));
            w.push(")");
        }
    }
    w.finish()
}

/// Spells types as WIT does, into a bounded string: past [`MAX_TEXT`]
/// bytes or [`MAX_DEPTH`] levels it writes "…" and stops, so a huge or
/// deeply nested guest type costs little. Records, variants and the like
/// are anonymous here: a component's type carries their shape, not their
/// names.
#[derive(Default)]
struct Wit {
    out: String,
    full: bool,
}

impl Wit {
    fn push(&mut self, text: &str) {
        if self.full {
            return;
        }
        if self.out.len() + text.len() > MAX_TEXT {
            self.out.push('…');
            self.full = true;
        } else {
            self.out.push_str(text);
        }
    }

    fn finish(self) -> String {
        self.out
    }

    /// Writes the items separated by ", ".
    fn each<I: IntoIterator>(&mut self, items: I, mut write: impl FnMut(&mut Self, I::Item)) {
        for (i, item) in items.into_iter().enumerate() {
            if self.full {
                return;
            }
            if i > 0 {
                self.push(", ");
            }
            write(self, item);
        }
    }

    fn generic(&mut self, name: &str, args: &[Option<Type>], depth: usize) {
        self.push(name);
        if args.iter().all(Option::is_none) {
            return;
        }
        self.push("<");
        self.each(args.iter(), |w, arg| match arg {
            Some(t) => w.ty(t, depth + 1),
            None => w.push("_"),
        });
        self.push(">");
    }

    fn ty(&mut self, ty: &Type, depth: usize) {
        if self.full {
            return;
        }
        if depth >= MAX_DEPTH {
            return self.push("…");
        }
        let d = depth + 1;
        match ty {
            Type::Bool => self.push("bool"),
            Type::S8 => self.push("s8"),
            Type::U8 => self.push("u8"),
            Type::S16 => self.push("s16"),
            Type::U16 => self.push("u16"),
            Type::S32 => self.push("s32"),
            Type::U32 => self.push("u32"),
            Type::S64 => self.push("s64"),
            Type::U64 => self.push("u64"),
            Type::Float32 => self.push("f32"),
            Type::Float64 => self.push("f64"),
            Type::Char => self.push("char"),
            Type::String => self.push("string"),
            Type::ErrorContext => self.push("error-context"),
            Type::List(l) => self.generic("list", &[Some(l.ty())], depth),
            Type::FixedLengthList(l) => {
                self.push("list<");
                self.ty(&l.ty(), d);
                self.push(&format!(", {}>", l.len()));
            }
            Type::Map(m) => self.generic("map", &[Some(m.key()), Some(m.value())], depth),
            Type::Option(o) => self.generic("option", &[Some(o.ty())], depth),
            Type::Result(r) => match (r.ok(), r.err()) {
                (ok, None) => self.generic("result", &[ok], depth),
                (ok, err) => self.generic("result", &[ok, err], depth),
            },
            Type::Future(f) => self.generic("future", &[f.ty()], depth),
            Type::Stream(s) => self.generic("stream", &[s.ty()], depth),
            Type::Tuple(t) => {
                self.push("tuple<");
                self.each(t.types(), |w, t| w.ty(&t, d));
                self.push(">");
            }
            Type::Record(r) => {
                self.push("record { ");
                self.each(r.fields(), |w, f| {
                    w.push(f.name);
                    w.push(": ");
                    w.ty(&f.ty, d);
                });
                self.push(" }");
            }
            Type::Variant(v) => {
                self.push("variant { ");
                self.each(v.cases(), |w, c| {
                    w.push(c.name);
                    if let Some(t) = &c.ty {
                        w.push("(");
                        w.ty(t, d);
                        w.push(")");
                    }
                });
                self.push(" }");
            }
            Type::Enum(e) => {
                self.push("enum { ");
                self.each(e.names(), |w, n| w.push(n));
                self.push(" }");
            }
            Type::Flags(f) => {
                self.push("flags { ");
                self.each(f.names(), |w, n| w.push(n));
                self.push(" }");
            }
            Type::Own(_) => self.push("own<resource>"),
            Type::Borrow(_) => self.push("borrow<resource>"),
        }
    }
}

/// The first [`MAX_LISTED`] items, and how many more there are.
fn first<I: Iterator>(items: I) -> (Vec<I::Item>, usize) {
    let mut items = items.into_iter();
    let shown: Vec<I::Item> = items.by_ref().take(MAX_LISTED).collect();
    (shown, items.count())
}

/// `a`, `b` and `c`; with more left off, `a, b, c, and N more`.
fn listed(shown: &[String], more: usize) -> String {
    match (shown.split_last(), more) {
        (None, _) => String::new(),
        (Some((last, [])), 0) => last.clone(),
        (Some((last, init)), 0) => format!("{} and {last}", init.join(", ")),
        _ => format!("{}, and {more} more", shown.join(", ")),
    }
}

/// A guest-chosen name, cut to a readable length.
fn clip(name: &str) -> String {
    truncate(name, 100)
}

/// A longer text (a type, wasmtime's reason), cut likewise.
fn clip_long(text: &str) -> String {
    truncate(text, MAX_TEXT)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_as_wasmtime_matches_them() {
        assert!(compatible("0.2.12", "0.2.12"));
        assert!(compatible("0.2.0", "0.2.12"));
        assert!(compatible("0.2.99", "0.2.12"));
        assert!(!compatible("0.3.0", "0.2.12"));
        assert!(!compatible("0.0.1", "0.0.2"));
        assert!(compatible("1.0.0", "1.7.3"));
        assert!(!compatible("2.0.0", "1.7.3"));
        assert!(!compatible("0.2.0-rc1", "0.2.12"));
        assert!(is_provided("wasi:io/streams@0.2.3"));
        assert!(is_provided("weft:mcp/tools@0.1.0"));
        assert!(is_provided("weft:mcp/tools@0.2.0"));
        assert!(is_provided("weft:mcp/config@0.2.0"));
        assert!(!is_provided("weft:mcp/config@0.1.0"));
        assert!(!is_provided("weft:mcp/tools@0.3.0"));
        assert!(!is_provided("weft:mcp/vault@0.1.0"));
        assert!(!is_provided("wasi:clocks/timezone@0.2.12"));
        assert!(!is_provided("run"));
    }

    #[test]
    fn lists_read_as_english() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(listed(&s(&[]), 0), "");
        assert_eq!(listed(&s(&["a"]), 0), "a");
        assert_eq!(listed(&s(&["a", "b"]), 0), "a and b");
        assert_eq!(listed(&s(&["a", "b", "c"]), 0), "a, b and c");
        let (shown, more) = first((0..20).map(|i| i.to_string()));
        assert_eq!(more, 12);
        assert!(listed(&shown, more).ends_with("7, and 12 more"));
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("abc", 3), "abc");
    }

    /// Every interface the messages say weft provides is defined in the
    /// linker under exactly that name (so a wasmtime or WIT upgrade that
    /// changes a version fails here, not in a user's error message).
    #[test]
    fn the_provided_list_matches_the_linker() {
        let sandbox = super::super::Sandbox::with_cache_dir(None).expect("sandbox");
        for name in provided() {
            let mut probe = sandbox.compiler.linker.clone();
            probe.allow_shadowing(false);
            let defined = probe.root().func_new(&name, |_, _, _, _| Ok(())).is_err();
            assert!(defined, "the linker does not define {name}");
        }
        let mut probe = sandbox.compiler.linker.clone();
        assert!(
            probe
                .root()
                .func_new("weft:mcp/vault@0.1.0", |_, _, _, _| Ok(()))
                .is_ok()
        );
    }
}
