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
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOCSVC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: in a file or the journal, escape codes are noise.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // One JSON object a line for a log collector (the systemd unit sets it); text otherwise.
    if std::env::var("DOCSVC_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    if let Err(e) = cli::run(cli::Cli::parse()).await {
        eprintln!("docsvc: {e:#}");
        std::process::exit(1);
    }
}
