//! `keymgr`: the key custodians' and CA operators' command line.

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
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
