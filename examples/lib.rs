//! The package of weft's examples (`agent_loop.rs`, `conformance_client.rs`):
//! weft used as a library. It has no code of its own; run an example with
//! `cargo run -p weft-examples --example NAME`.
