//! The HTTP layer: the router and its serve loop, the limits on what a caller may send, the
//! security headers, who sends a request (`actor`), the problem documents errors answer with,
//! the JSON API and the web pages. It authenticates and bounds input, then calls the services
//! below; it holds no SQL.

use std::sync::Arc;

use crate::node::Node;

pub mod actor;
pub mod api;
pub mod limits;
pub mod problem;
pub mod publication;
pub mod security_headers;
pub mod server;
pub mod web;

/// Shared state of the server.
pub type App = Arc<Node>;
