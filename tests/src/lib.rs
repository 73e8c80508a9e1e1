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

/// A TCP port free on 127.0.0.1, for a node set up now and served later. It is taken from below
/// the kernel's ephemeral range, so no outgoing connection (curl, a database client, a node's
/// own) can be given it between now and the node's bind; and a lock file holds it for the life
/// of this test process, so no test running beside it (another process) is handed it too.
/// (Ports the kernel chose were both: a node then met another's listener, or none.)
pub fn free_port() -> u16 {
    static HELD: std::sync::Mutex<Vec<(u16, std::fs::File)>> = std::sync::Mutex::new(Vec::new());
    let mut held = HELD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = port_locks();
    std::fs::create_dir_all(&dir).expect("the test ports' lock directory");
    // Linux's ephemeral ports start at 32768 unless the machine says otherwise.
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral);
    assert!(
        high >= low + 2_000,
        "the kernel's ephemeral ports start at {high}: too low to keep test ports out of them"
    );
    let rng = ring::rand::SystemRandom::new();
    for _ in 0..10_000 {
        let mut b = [0u8; 2];
        ring::rand::SecureRandom::fill(&rng, &mut b).expect("the system's random numbers");
        let port = low + u16::from_le_bytes(b) % (high - low);
        if held.iter().any(|(p, _)| *p == port) {
            continue;
        }
        let Ok(lock) = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
        else {
            continue;
        };
        if !locked(&lock) || std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        held.push((port, lock));
        return port;
    }
    panic!("no free port on 127.0.0.1 between {low} and {high}");
}

/// Where the test ports' lock files are: one directory a user (another user's lock files are
/// not ours to open).
pub fn port_locks() -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "sandi-test-ports-{}",
        rustix::process::getuid().as_raw()
    ))
}

/// Takes `file`'s lock if no one (no other open of it, in any process) holds it; the lock goes
/// with the process.
pub fn locked(file: &std::fs::File) -> bool {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
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
