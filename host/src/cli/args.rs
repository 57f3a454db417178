//! The command-line grammar (see DESIGN.md, "Command line").

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub mod limits;

/// weft: one MCP endpoint in front of many MCP servers, with sandboxed Wasm
/// policies that script work across them.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, long_about = None, propagate_version = true)]
pub struct Args {
    /// The config file (weft TOML, or Claude-Desktop JSON with "mcpServers").
    /// Default: $WEFT_CONFIG, then ./weft.toml, then the built-in example.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log level for stderr: error, warn, info, debug, trace (or a
    /// tracing filter such as "weft=debug"). Default: $WEFT_LOG or "warn".
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log format on stderr.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// Colour in stderr's log lines: `auto` colours only a terminal and
    /// honours NO_COLOR; `always` and `never` decide outright.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the merged tool catalog of every configured server.
    Tools {
        /// Only this server's tools (starts only that server).
        #[arg(long, value_name = "NAME")]
        server: Option<String>,
        /// Only tools annotated read-only (readOnlyHint).
        #[arg(long)]
        read_only: bool,
        /// Exactly what this tenant's `tools/list` shows: its view of the
        /// catalog, the policies it may run and weft's meta tools.
        #[arg(long, value_name = "NAME", conflicts_with = "server")]
        tenant: Option<String>,
        /// Machine-readable JSON on stdout.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// The list as a vendor's function-calling tools, JSON on stdout:
        /// mcp (tools/list), openai (chat completions `tools`) or anthropic
        /// (messages `tools`). Names are made acceptable to the vendor
        /// (see docs/library.md: names round-trip through `weft::formats`).
        #[arg(long, value_name = "FORMAT", value_parser = ["mcp", "openai", "anthropic"])]
        format: Option<String>,
    },
    /// Call one tool on one server and print its result.
    Call {
        /// The server name from the config, or @DOMAIN for the healthy
        /// server of highest priority in that domain (with failover).
        server: String,
        /// The tool's own name on that server (not the server__tool name).
        tool: String,
        /// Arguments as a JSON object; "-" reads them from stdin.
        #[arg(value_name = "ARGS_JSON")]
        args: Option<String>,
        /// Print the whole MCP result as JSON.
        #[arg(long)]
        json: bool,
        /// Call as this tenant: its view, rate and (for a server run once
        /// per tenant) its own instance; audited under its name.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
    /// Write typed bindings for policies from the live catalog: one module
    /// per server, a function per tool.
    ///
    /// Starts the configured servers (as `weft tools` does) and writes, for
    /// each, a module with one function per tool, its parameters typed from
    /// the tool's inputSchema and its result from the outputSchema where the
    /// tool has one, documented with the tool's description. Names become
    /// valid, distinct identifiers of the language.
    ///
    ///   python      NAME.py per server and __init__.py:
    ///               `from bindings import crm; crm.get_customer(id="42")`
    ///               (calls weft_guest.call; a typed result is a TypedDict)
    ///   typescript  NAME.js + NAME.d.ts per server, index.js + index.d.ts:
    ///               `import * as crm from "./bindings/crm.js";
    ///               crm.getCustomer({id: "42"})` (calls `call` of weft-guest)
    ///   rust        NAME.rs per server and mod.rs: `mod bindings;` then
    ///               `crm::get_customer(&crm::GetCustomerArgs { id: "42".into() })?`
    ///               (serde structs; the crate needs serde and serde_json)
    ///
    /// Prints each file written with its server and tool count. Exits 1 if
    /// a server did not start (the others' modules are still written).
    #[command(verbatim_doc_comment)]
    Bindings {
        /// The language to write.
        #[arg(long, value_enum, value_name = "LANG")]
        lang: BindingLang,
        /// Only this server's tools (repeatable; starts only those servers).
        #[arg(long = "server", value_name = "NAME")]
        servers: Vec<String>,
        /// Only the tools this policy's grants allow ([policies.NAME]).
        #[arg(long, value_name = "NAME")]
        policy: Option<String>,
        /// The folder to write into (made if missing; files of the same
        /// names are replaced).
        #[arg(long, short = 'o', value_name = "DIR", default_value = "bindings")]
        out: PathBuf,
    },
    /// Run a policy (a config name or a .wasm path) in the sandbox.
    ///
    /// The run is durable: its host calls are journaled (settings.journal,
    /// by default the config's own under ~/.local/share/weft/journals), so a
    /// run that is killed can be continued with `weft runs resume ID`
    /// without repeating a call.
    Run {
        /// A policy name from the config, a path to a .wasm component or an
        /// oci://REGISTRY/REPOSITORY:TAG reference (either runs with every
        /// tool granted unless --grant says otherwise).
        policy: String,
        /// Do not journal this run (it cannot be resumed).
        #[arg(long)]
        no_journal: bool,
        /// Run as this tenant ([tenants.NAME]): the policy must be one of
        /// its `policies`, its calls stay within its view, and its limits
        /// cap the run's.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Publish a component to an OCI registry, in the Wasm artifact layout
    /// other Wasm tools read; prints the manifest digest.
    ///
    /// `weft push greet.wasm oci://localhost:5000/acme/greet:1.0`. A
    /// registry on this machine may be plain HTTP; others need TLS unless
    /// [settings.registries] plain_http lists them. Credentials come from
    /// the Docker config (`docker login`, credential helpers).
    Push {
        /// The component (.wasm).
        file: PathBuf,
        /// Where: oci://REGISTRY/REPOSITORY:TAG.
        reference: String,
    },
    /// Sign a component in a registry, as `cosign sign --key` does: the
    /// signature is stored beside it (tag sha256-HEX.sig) and checked by
    /// weft (or `cosign verify --key`) against [settings.trust] keys.
    /// Prints the digest signed.
    Sign {
        /// The component: oci://REGISTRY/REPOSITORY:TAG (its current
        /// digest is signed) or @sha256:...
        reference: String,
        /// The private key: ECDSA P-256 in PEM, PKCS#8 or SEC1 (`openssl
        /// ecparam -name prime256v1 -genkey`), or cosign's encrypted key
        /// file (`cosign generate-key-pair`) with its password in
        /// COSIGN_PASSWORD.
        #[arg(long, value_name = "KEY")]
        key: PathBuf,
    },
    /// Resolve the config's oci:// components again and update weft.lock,
    /// showing each digest that changed; or pull one reference.
    ///
    /// Every start runs the digests in weft.lock (beside the config), so a
    /// tag that moves changes nothing until `weft pull`.
    Pull {
        /// Pull only this oci:// reference (not locked); prints its
        /// digest and the pulled file.
        reference: Option<String>,
    },
    /// Durable runs in the journal: list, show, resume, resolve, prune.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Run code: a Python or JavaScript file (or stdin) in the sandbox, as
    /// the body of a function of `input`, with `tools` to call.
    ///
    /// `return` gives the output. `tools.call(server, tool, args)`,
    /// `tools.call_all` (Python) or `tools.callAll` (JS), `tools.list()`,
    /// `tools.search(query)` and `tools.SERVER.TOOL(...)` reach the catalog
    /// through the router. Without --grant, code may call the read-only
    /// tools only. The first run of each language builds its interpreter
    /// (componentize-py or componentize-js, installed as `weft build` does
    /// when missing) and keeps it.
    /// The run is durable, as `weft run`'s is: `weft runs resume ID`
    /// continues it without repeating a call.
    Exec {
        /// The source file, or "-" for stdin.
        file: PathBuf,
        /// The language (default: from the file's extension, .py or .js).
        #[arg(long, value_enum)]
        lang: Option<CodeLang>,
        /// Do not journal this run (it cannot be resumed).
        #[arg(long)]
        no_journal: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Serve the merged catalog and the policies as one MCP server.
    ///
    /// stdio by default (for Claude Desktop, IDEs and agents that spawn
    /// weft); --http serves streamable HTTP at /mcp for both protocol eras.
    Serve {
        /// Serve over stdin and stdout (the default).
        #[arg(long, conflicts_with = "http")]
        stdio: bool,
        /// Serve streamable HTTP on ADDR (like 127.0.0.1:8765 or :8765;
        /// loopback unless a host is given) at /mcp.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// What to list as tools: all (catalog, policies, meta tools),
        /// policies (policies and meta tools), search (meta tools only) or
        /// code (weft_search_tools and weft_run_code only: every server
        /// through code). Default: settings.expose, else all.
        #[arg(long, value_name = "MODE", value_parser = ["all", "policies", "search", "code"])]
        expose: Option<String>,
        /// Accept this Host header too (loopback names always are); for a
        /// public name behind a proxy. Repeatable.
        #[arg(long = "allow-host", value_name = "HOST")]
        allowed_hosts: Vec<String>,
        /// Accept browser requests from this origin (like
        /// https://app.example.com:443); loopback origins always are.
        /// Repeatable.
        #[arg(long = "allow-origin", value_name = "ORIGIN")]
        allowed_origins: Vec<String>,
        /// Serve stdio as this tenant: its view, policies and limits
        /// (required over stdio when the config defines tenants).
        #[arg(long, value_name = "NAME", conflicts_with = "http")]
        tenant: Option<String>,
        /// Serve --http on an address beyond loopback although the config
        /// defines no tenants (so no key is asked of anyone); for a proxy
        /// in front that authenticates callers itself.
        #[arg(long, requires = "http")]
        allow_open: bool,
        /// The URL the other replicas reach this one at (like
        /// http://10.0.0.5:8080), for requests about a task this replica
        /// holds that reach another (with settings.state on PostgreSQL).
        /// Default: http://ADDR when --http names an address other than
        /// 0.0.0.0 or [::].
        #[arg(long, value_name = "URL", env = "WEFT_ADVERTISE", requires = "http")]
        advertise: Option<String>,
    },
    /// Manage tenants' API keys (stored as hashes in the key file).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the secrets file (mode 0600) that ${secret:NAME} reads.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// OAuth logins to remote servers (those with `oauth` in their entry).
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Review the tool definitions weft pinned when it first listed them:
    /// list them, show how a held tool changed, approve or forget pins.
    #[command(subcommand)]
    Pins(PinsCommand),
    /// Read the audit log (settings.audit).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Validate the config and connect to every server; one line per server.
    Check {
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Report every server's state, restarts, breaker and last error, with
    /// cache and policy-run counters.
    ///
    /// With --url, asks a running `weft serve --http` (its GET /status);
    /// without, starts the configured servers once and reports on them.
    Status {
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
        /// A running weft's base URL, like http://127.0.0.1:8765. With
        /// tenants, set WEFT_KEY to an admin tenant's key.
        #[arg(long, value_name = "URL", env = "WEFT_URL")]
        url: Option<String>,
        /// Keep watching: redraw the table in place every --interval on a
        /// terminal (a new snapshot below the last elsewhere; one JSON
        /// report per line with --json) until Ctrl-C.
        #[arg(long)]
        watch: bool,
        /// How often --watch refreshes, like 2s or 500ms.
        #[arg(long, value_name = "DUR", default_value = "2s", value_parser = limits::interval)]
        interval: std::time::Duration,
    },
    /// Build a policy or adapter folder (Rust, Python or JavaScript) into a
    /// component.
    ///
    /// The language comes from the folder: Cargo.toml (Rust), app.py,
    /// adapter.py or pyproject.toml (Python), policy.js, adapter.js or
    /// package.json (JavaScript). So does the kind: adapter.py and
    /// adapter.js are adapters (so is a Rust crate that enables
    /// weft-guest's `adapter` feature); the rest are policies. Prints the
    /// component's path on stdout; the toolchain's messages go to stderr.
    /// A missing componentize-py or componentize-js is installed once, at
    /// its pinned version, into ~/.local/share/weft (set WEFT_NO_INSTALL=1
    /// to refuse and be told the command instead).
    Build {
        /// The folder. Default: the current folder.
        dir: Option<PathBuf>,
        /// Where to write the component. Default: DIR/<folder name>.wasm.
        #[arg(long, short = 'o', value_name = "OUT.wasm")]
        out: Option<PathBuf>,
        /// The language, when the folder holds files of more than one.
        #[arg(long, value_enum)]
        lang: Option<Lang>,
        /// Build an adapter (the `adapter` world: tools of its own) even if
        /// the folder's file names do not say so, e.g. a Python module
        /// named in pyproject.toml or a package.json `main`.
        #[arg(long)]
        adapter: bool,
    },
    /// Describe the config file: its JSON Schema (for editors) or its
    /// reference (every key, its type, default and meaning, as Markdown).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Start a new policy or adapter: write a ready-to-build folder NAME
    /// from a template (then `weft build NAME`).
    New {
        /// The language.
        #[arg(long, value_enum)]
        lang: Lang,
        /// Start an adapter (a component that offers tools, served as
        /// `[servers.NAME] component = "..."`) instead of a policy.
        #[arg(long)]
        adapter: bool,
        /// The folder to create (it must not exist, or be empty); its last
        /// part names the policy or adapter.
        name: PathBuf,
    },
}

/// `weft config`: the config file described, from the types it is read
/// into.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the config file's JSON Schema (draft 2020-12) on stdout.
    Schema,
    /// Print the reference of every key as Markdown on stdout (what
    /// docs/configuration-reference.md holds).
    Reference,
}

/// A language policies are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

/// The options of a sandboxed run, shared by `weft run` and `weft exec`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The input, as JSON; "-" reads it from stdin. Default: {}.
    #[arg(long, value_name = "JSON")]
    pub input: Option<String>,
    /// CPU budget in fuel units (more than zero, like 50M), or
    /// "unlimited" (overrides the config).
    #[arg(long, value_name = "N", value_parser = limits::fuel, allow_hyphen_values = true)]
    pub fuel: Option<limits::Fuel>,
    /// Wall-time limit, like 500ms or 10s; more than zero (overrides
    /// the config).
    #[arg(long, value_name = "DUR", value_parser = limits::timeout, allow_hyphen_values = true)]
    pub timeout: Option<std::time::Duration>,
    /// Memory limit, like 64MiB; more than zero (overrides the config).
    #[arg(long, value_name = "SIZE", value_parser = limits::memory, allow_hyphen_values = true)]
    pub memory: Option<u64>,
    /// Grant SERVER.TOOL globs (repeatable) instead of the configured
    /// grants (`weft run`) or the read-only tools (`weft exec`).
    #[arg(long = "grant", value_name = "GLOB")]
    pub grants: Vec<String>,
    /// Print a JSON report: output, status, calls, fuel, duration, logs, stdout.
    #[arg(long)]
    pub json: bool,
}

/// A language code mode runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CodeLang {
    #[value(alias = "py")]
    Python,
    #[value(alias = "javascript")]
    Js,
}

impl From<CodeLang> for crate::code::Language {
    fn from(lang: CodeLang) -> Self {
        match lang {
            CodeLang::Python => crate::code::Language::Python,
            CodeLang::Js => crate::code::Language::JavaScript,
        }
    }
}

/// A language `weft bindings` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BindingLang {
    #[value(alias = "py")]
    Python,
    #[value(alias = "ts", alias = "js", alias = "javascript")]
    Typescript,
    #[value(alias = "rs")]
    Rust,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new key for TENANT, record its hash, and print the key once.
    Add {
        /// A tenant from the config ([tenants.NAME]).
        tenant: String,
    },
    /// List key ids and their tenants (never keys: only hashes are kept).
    List {
        /// Only this tenant's keys.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id (as `weft keys list` shows it).
    Rm {
        /// The key id, like k3f9a1c2b.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Log in to a server: prints the URL to open (and opens a browser
    /// where one exists), waits for it to come back to a listener on
    /// 127.0.0.1, and keeps the tokens in the secrets file.
    Login {
        /// The server's name in the config.
        server: String,
        /// For a server run once per tenant: log in as this tenant.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
        /// Ask for this scope too (repeatable), besides the config's.
        #[arg(long, value_name = "SCOPE")]
        scope: Vec<String>,
        /// The listener's port (0, the default: any free port). Use a
        /// fixed one when the client was registered with that redirect.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Only print the URL; do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Show each OAuth server's login: client, scopes, token expiry.
    Status {
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Forget a server's tokens and client.
    Logout {
        server: String,
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PinsCommand {
    /// Every pin: its tool, whether the listed definition matches, both
    /// digests and who approved it.
    List {
        /// Only pins held (changed or new), not those that match.
        #[arg(long)]
        held: bool,
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// How a tool's listed definition differs from its pin, as a unified
    /// diff of their JSON.
    Diff {
        /// The tool: SERVER.TOOL (the server's configured name, the tool's
        /// own name).
        tool: String,
        /// The tenant whose instance of a per-tenant server it is.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
    /// Trust what is listed now for a held tool, or for every held tool of
    /// a server; a running weft serves it again within seconds.
    Approve {
        /// The tool: SERVER.TOOL.
        #[arg(required_unless_present = "server", conflicts_with = "server")]
        tool: Option<String>,
        /// Every held tool of this server.
        #[arg(long, value_name = "NAME")]
        server: Option<String>,
        /// Only the instance of this tenant (a per-tenant server).
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
    /// Forget pins: every one, or a server's; they are taken again the next
    /// time the tools are listed.
    Reset {
        /// Only this server's pins.
        #[arg(long, value_name = "NAME")]
        server: Option<String>,
        /// Only the pins of this tenant's instances.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Set a secret; the value is read from stdin (never from the command
    /// line, where process listings would show it).
    Set {
        /// The name ${secret:NAME} refers to.
        name: String,
        /// Only for servers run once per tenant, as this tenant.
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
    /// List secret names (never values).
    List {
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret.
    Rm {
        name: String,
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show the last records of the audit log.
    Tail {
        /// How many records (0 for all).
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Keep printing records as they are written.
        #[arg(long, short = 'f')]
        follow: bool,
        /// One JSON record per line, as stored.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List the journaled runs, newest first.
    ///
    /// A run whose process died shows as `interrupted`: resume it with
    /// `weft runs resume ID`.
    List {
        /// Only runs with this status: running, interrupted, in-doubt,
        /// nondeterministic, ok, error or limit.
        #[arg(long, value_name = "S")]
        status: Option<String>,
        /// Only runs of this policy.
        #[arg(long, value_name = "P")]
        policy: Option<String>,
        /// At most this many runs (0 for all).
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
        /// Machine-readable JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show one run: its input, status, output or error, and a timeline of
    /// its host calls with their durations and outcomes.
    Show {
        /// The run's id (as `weft runs list` shows it).
        id: String,
        /// Every event as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Continue a run that was interrupted (or settled with `resolve`).
    ///
    /// The same component (its digest is checked) runs again on the same
    /// input; its host calls are answered from the journal, in order,
    /// until the journal ends, and then the run goes live. A call that was
    /// sent but whose result was never stored is in doubt: it is sent again
    /// if the tool is read-only, idempotent or listed in
    /// [servers.NAME] idempotent_tools; otherwise the run stops as
    /// `in-doubt` until `weft runs resolve` settles it.
    Resume {
        /// The run's id.
        id: String,
        /// Print a JSON report (as `weft run --json`).
        #[arg(long)]
        json: bool,
        /// With a shared journal (settings.state): if another process holds
        /// the run's lease, wait until the lease expires (its owner died)
        /// and take the run over, instead of refusing.
        #[arg(long)]
        wait: bool,
    },
    /// Settle a call in doubt, so that `weft runs resume` can continue.
    ///
    /// --assume done --result JSON: the call happened, and JSON (an MCP
    /// CallToolResult, like {"content":[{"type":"text","text":"..."}]}) is
    /// what the policy gets back. --assume not-done: it did not happen, and
    /// the resume sends it.
    #[command(verbatim_doc_comment)]
    Resolve {
        /// The run's id.
        id: String,
        /// What to assume about the call: done or not-done.
        #[arg(long, value_name = "WHAT", value_parser = ["done", "not-done"])]
        assume: String,
        /// With --assume done: the call's result, an MCP CallToolResult as
        /// JSON ("-" reads it from stdin).
        #[arg(long, value_name = "JSON")]
        result: Option<String>,
        /// Which call, by its number in `weft runs show` (needed only when
        /// several calls are in doubt).
        #[arg(long, value_name = "N")]
        call: Option<u64>,
    },
    /// Delete finished runs last updated longer ago than DUR.
    Prune {
        /// Like 7d, 12h or 30min.
        #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        /// Also delete unfinished runs (interrupted, in doubt,
        /// nondeterministic); never one whose process is alive.
        #[arg(long)]
        unfinished: bool,
    },
}
