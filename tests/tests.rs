//! weft's integration tests, in one binary (as ripgrep does): every module
//! links the same `weft` library once, which keeps the build short.
//!
//! They run against real MCP servers and clients installed by
//! `.ci/setup-tools`; a missing one fails with an install hint.

mod support;

mod adapter_build;
mod adapter_egress;
mod adapter_https;
mod adapter_openapi;
mod adapters;
mod adapters_polyglot;
mod adapters_router;
mod agent_oauth;
mod approvals;
mod approvals_runs;
mod audit;
mod auth_edges;
mod bindings;
mod book;
mod cache;
mod cache_tenants;
mod catalog;
mod child_env;
mod cli;
mod code_config;
mod code_install;
mod code_mode;
mod code_mode_serve;
mod config_errors;
mod conformance;
mod conformance_client;
mod console;
mod direct_call;
mod durable;
mod durable_adapters;
mod durable_boundary;
mod durable_pg;
mod durable_serve;
mod edge_limits;
mod edge_tenants;
mod egress_spellings;
mod fair_share;
mod first_hour;
mod first_hour_cli;
mod foreign_clients;
mod fuzz_smoke;
mod hostile_inputs;
mod http_edge;
mod http_upstreams;
mod https_upstreams;
mod js_policies;
mod js_sandbox;
mod library;
mod missing_command;
mod native_sandbox;
mod oauth_upstream;
mod openapi_corpus;
mod openapi_spec_url;
mod openapi_wire;
mod otel;

mod pg_tls;
mod pins;
mod policies;
mod python_hostile;
mod python_policies;
mod redaction;
mod reference;
mod relay_matrix;
mod replicas;
mod repo_digest;
mod resilience;
mod run_callers;
mod run_tasks;
mod sandbox;
mod scan;
mod serve;
mod shared_state;
mod shutdown;
mod soak;
mod status_watch;
mod tenants;
mod tool_formats;
mod upstream_faults;
mod upstream_tenants;
