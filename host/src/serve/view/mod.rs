//! What an agent sees of the catalog: the tools it is offered (catalog
//! tools, policies as tools, weft's meta tools and search), cursors over
//! long lists, and `tools/list` serialised once per catalog version and
//! audience.
//!
//! It owns [`tools`], [`page`] and [`listing`]. It imports from the rest
//! of `serve` only the [`Gateway`](super::Gateway); every other room may
//! import it.

pub(crate) mod listing;
pub(crate) mod page;
pub(crate) mod tools;
