//! `keymgr`: the key custodians' and CA operators' command line.

use std::process::ExitCode;

use clap::Parser;

mod cli;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match cli::run(cli::Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keymgr: {e:#}");
            ExitCode::FAILURE
        }
    }
}
