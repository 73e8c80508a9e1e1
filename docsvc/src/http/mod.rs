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
pub mod request_log;
pub mod security_headers;
pub mod server;
pub mod web;

/// Shared state of the server.
pub type App = Arc<Node>;

/// `resp` with its body holding `turn` (a reader's share, see `node::shares`) until the last of
/// it is sent or its reader leaves: a body read slowly keeps only its own caller's turns. Its
/// length, when known, stays in Content-Length.
pub(crate) fn holding(
    turn: crate::node::shares::Turn,
    resp: axum::response::Response,
) -> axum::response::Response {
    use axum::body::{Body, HttpBody as _};
    let (mut parts, body) = resp.into_parts();
    if let Some(n) = body.size_hint().exact() {
        parts
            .headers
            .entry(axum::http::header::CONTENT_LENGTH)
            .or_insert(n.into());
    }
    let body = Body::from_stream(turn.held_by(body.into_data_stream()));
    axum::response::Response::from_parts(parts, body)
}

/// `s` percent-encoded for a query string's value: every byte but letters, digits and `-._~/`.
pub(crate) fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_escaped() {
        assert_eq!(
            super::query_escape("/ui/inbox?q=a b&x"),
            "/ui/inbox%3Fq%3Da%20b%26x"
        );
        assert_eq!(
            super::query_escape("2026-12-02T01:02:03Z~id"),
            "2026-12-02T01%3A02%3A03Z~id"
        );
    }
}
