//! `keymgr`: the key custodians' and CA operators' command line.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    // What the library reports on its own (a failed group commit, a refusal it could not
    // log, an internal error behind a 500) goes to stderr, the journal under systemd;
    // `KEYMGR_LOG` (as `RUST_LOG`) chooses more.
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYMGR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("keymgr=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    // One thread for the commands a person runs; every core for the service.
    let runtime = if cli.serves() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(cli::run(cli)),
        Err(e) => Err(anyhow::anyhow!("starting the runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keymgr: {e:#}");
            ExitCode::FAILURE
        }
    }
}
