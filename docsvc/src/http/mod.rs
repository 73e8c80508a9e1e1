//! The HTTP layer: the router and its serve loop, the limits on what a caller may send, the
//! security headers, the JSON API and the web pages. It authenticates and bounds input, then
//! calls the services below; it holds no SQL.

pub mod api;
pub mod limits;
pub mod security_headers;
pub mod server;
pub mod web;
