//! End-to-end tests of sandi: the real binaries against real TLS, real databases and outside
//! validators. Each component's own binaries are tested beside it (for example
//! `hsm-shim/tests/demo.rs`); this crate holds the tests that cross components.
#![forbid(unsafe_code)]
