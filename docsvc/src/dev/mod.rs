//! Development tools, used by the binary and the tests, never by the production code above:
//! the quickstart node, the development TSA, the benchmarks and the soak run.

pub mod bench;
pub(crate) mod dev_application;
pub mod quickstart;
pub mod soak;
pub mod tls_issue;
pub mod tsa;
