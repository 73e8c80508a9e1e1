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

/// A TCP port that was free a moment ago on 127.0.0.1, and never handed out before by this
/// process: a node set up now and served later keeps its port from the next one set up (the
/// kernel may give a port just closed again).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
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
