//! End-to-end test support for sandi: fresh PostgreSQL databases, free ports, and `curl` as the
//! outside HTTP client. Each component's end-to-end tests (which start its real binaries) use
//! it as a dev-dependency.
#![forbid(unsafe_code)]

pub mod ca;
pub mod http;
pub mod node;
pub mod pg;
pub mod softhsm;
pub mod steps;

/// Whether we run under CI, where a missing outside tool or database is a failure.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Installs `bytes` at `path` as an operator should: written beside the directory under another
/// name, then renamed into place, so that no reader sees half a file and a node watching the
/// directory sees the change at once.
pub fn install(path: &std::path::Path, bytes: &[u8]) {
    let dir = path.parent().expect("a file in a directory");
    let tmp = dir
        .parent()
        .unwrap_or(dir)
        .join(format!(".installing-{}", std::process::id()));
    std::fs::write(&tmp, bytes).expect("write the file to install");
    std::fs::rename(&tmp, path).expect("rename it into place");
}
