//! What weft does with an OpenAPI document before `builtin:openapi` sees
//! it: the document read from JSON or YAML text ([`parse`]), cut to the
//! operations the config selects ([`Selection`]), checked for what the
//! adapter would refuse ([`check`]), and its security schemes read, so
//! that weft (never the component) adds each credential to the requests
//! that need it ([`auth`]); and for each call, the document cut to the one
//! operation called ([`cut`]).
//!
//! The component gets the document as JSON, already cut: every check here
//! and the adapter's own tools see the same operations.

mod auth;
mod cut;
mod document;
mod select;

pub use auth::{ClientCredentials, Injection, injections};
pub use cut::cut;
pub use document::{MAX_SPEC, check, parse};
pub use select::Selection;
