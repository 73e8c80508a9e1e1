//! What the content of a letter may be to a browser: the media types the node stores and
//! serves as such (an allow-list), and the headers of a content response, so that nothing a
//! sender uploads runs in the node's origin.
//!
//! HTML, SVG, XML, JavaScript and every other type not on the list are stored and served as
//! `application/octet-stream`, as a download. Every content response is in a CSP sandbox
//! (no script, no same-origin, no forms, no plugins), except a PDF: no browser renders a PDF
//! in a sandboxed document (Chromium's viewer is a plugin, which a sandbox always blocks, and
//! no sandbox keyword lifts that), so a PDF gets everything else of the policy instead
//! (nothing loads, no forms, only our own read page may frame it), and its type is pinned by
//! `nosniff`, so it is never read as HTML. The viewer's own scripts run in the browser's origin
//! for it, not in the node's.

use axum::http::{HeaderMap, HeaderValue, header};

/// The media types kept as they are: PDF, plain text, common raster images, office and ODF
/// documents. SVG is not here: it carries script.
const ALLOWED: &[&str] = &[
    "application/pdf",
    "text/plain",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
];

/// What anything else becomes.
pub const OPAQUE: &str = "application/octet-stream";

/// Types a browser may show inline (in the sandbox, or for a PDF, its viewer); the others are
/// always a download.
const INLINE: &[&str] = &[
    "application/pdf",
    "text/plain",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
];

/// The policy of every content response but a PDF's: a sandbox with nothing allowed, nothing
/// loaded but the image itself, framed only by our own read page.
const SANDBOX: &str = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; \
                       frame-ancestors 'self'; form-action 'none'; base-uri 'none'";

/// A PDF's policy: what the browser's PDF viewer needs (its inline styles, the document itself
/// as a plugin resource) and nothing else.
const PDF: &str = "default-src 'none'; object-src 'self'; \
                   style-src 'unsafe-inline'; img-src 'self' data: blob:; \
                   frame-ancestors 'self'; form-action 'none'; base-uri 'none'";

/// The media type to store for what a client declared: the declared type, lower-cased and
/// without parameters, if it is on the allow-list; `application/octet-stream` otherwise.
pub fn stored_type(declared: Option<&str>) -> &'static str {
    let essence = declared
        .and_then(|d| d.split(';').next())
        .map(|d| d.trim().to_ascii_lowercase())
        .unwrap_or_default();
    ALLOWED
        .iter()
        .find(|a| **a == essence)
        .copied()
        .unwrap_or(OPAQUE)
}

/// Sets the headers of a response carrying a letter's part of `media_type` named `name`:
/// the type (re-checked against the allow-list, so a letter received from another node or
/// stored before the list is held to it too), inline or download, and the CSP.
pub fn set_headers(h: &mut HeaderMap, media_type: &str, name: &str, download: bool) {
    let media = stored_type(Some(media_type));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    let disposition = if download || !INLINE.contains(&media) {
        HeaderValue::from_str(&format!(
            "attachment; filename=\"{}\"",
            safe_file_name(name)
        ))
        .unwrap_or(HeaderValue::from_static("attachment"))
    } else {
        HeaderValue::from_static("inline")
    };
    h.insert(header::CONTENT_DISPOSITION, disposition);
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if media == "application/pdf" {
            PDF
        } else {
            SANDBOX
        }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// A file name that is safe inside a quoted header value.
pub fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_list_is_kept() {
        assert_eq!(stored_type(Some("application/pdf")), "application/pdf");
        assert_eq!(stored_type(Some("Text/Plain; charset=utf-8")), "text/plain");
        for active in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/javascript",
            "multipart/x-mixed-replace",
            "",
        ] {
            assert_eq!(stored_type(Some(active)), OPAQUE, "{active}");
        }
        assert_eq!(stored_type(None), OPAQUE);
    }

    #[test]
    fn everything_but_a_pdf_is_sandboxed() {
        let mut h = HeaderMap::new();
        set_headers(&mut h, "text/html", "a\".html", false);
        assert_eq!(h[header::CONTENT_TYPE], OPAQUE);
        assert_eq!(
            h[header::CONTENT_DISPOSITION],
            "attachment; filename=\"a_.html\""
        );
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .is_ok_and(|v| v.starts_with("sandbox;"))
        );
        let mut h = HeaderMap::new();
        set_headers(&mut h, "application/pdf", "a.pdf", false);
        assert_eq!(h[header::CONTENT_DISPOSITION], "inline");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
