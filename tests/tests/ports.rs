//! The ports the end-to-end tests serve nodes on: never from the kernel's ephemeral range (where
//! an outgoing connection could take one before the node binds it), never handed to two test
//! processes at once.

use sandi_e2e::{free_port, locked, port_locks};

#[test]
fn ports_lie_below_the_ephemeral_range_and_are_held() {
    let ephemeral: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ports.len(), "no port is handed out twice");
    for p in &ports {
        assert!(*p >= 10_000 && *p < ephemeral, "port {p}");
        // Free to bind (nothing listens there)...
        std::net::TcpListener::bind(("127.0.0.1", *p)).expect("the port is free");
        // ...and held: another process's lock on it (a lock of its own) is refused.
        let lock = std::fs::OpenOptions::new()
            .write(true)
            .open(port_locks().join(p.to_string()))
            .expect("its lock file");
        assert!(!locked(&lock), "port {p} is held by this process");
    }
}
