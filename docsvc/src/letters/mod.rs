//! Letters: ingest and sign, open, list, approve, reclassify and destroy, re-wrap to new keys,
//! and the content types an upload may carry.

pub mod approvals;
pub mod content;
pub mod copies;
pub mod disposition;
pub mod documents;
pub mod draft;
pub mod incidents;
pub mod lifecycle;
pub mod mandate;
pub mod register;
pub mod render;
pub mod rewrap;
pub(crate) mod sealed;
pub mod thread;
pub mod verification;
