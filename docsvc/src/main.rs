//! `docsvc`: the sandi document service. A thin CLI over the library; the commands are in
//! `cli/`.

mod cli;

use clap::Parser as _;

/// mimalloc: the signing API and delivery allocate many small buffers per request; see
/// `bench/results/` for what it changed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // Held to the end: dropping it gives the log thread a second to write what is queued.
    let logs = docsvc::logging::init();
    let outcome = cli::run(cli::Cli::parse()).await;
    // `exit` skips destructors: the queued lines go first, then the error after them.
    drop(logs);
    if let Err(e) = outcome {
        eprintln!("docsvc: {e:#}");
        std::process::exit(1);
    }
}
