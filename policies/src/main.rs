//! `sandi-policy`: for the people who keep the classification policy.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use policies::{Action, Context, Document, Level, Policy, Principal};

#[derive(Parser)]
#[command(
    name = "sandi-policy",
    version,
    about = "Check sandi's classification policy and explain its decisions"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate a policy directory (schema, *.cedar, handling.toml) and print a summary.
    Check {
        /// The policy directory (default: the shipped policy).
        dir: Option<PathBuf>,
    },
    /// Decide one request and say why.
    Explain {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The principal, as JSON: {"type":"official","id":"…","agency":"…","clearance":"rahasia","status":"active","roles":[…]}
        #[arg(long)]
        principal: String,
        /// create, read, sign, send, receive, reclassify, export, print, destroy, audit_read
        #[arg(long)]
        action: String,
        /// The document, as JSON: {"id":"…","classification":"rahasia","originator":"…","agency":"…","recipients":[…]}
        #[arg(long)]
        resource: String,
        /// The context, as JSON: {"step_up":true,"approvers":[…]}
        #[arg(long, default_value = "{}")]
        context: String,
    },
}

/// JSON given inline, or @FILE.
fn json<T: serde::de::DeserializeOwned>(what: &str, arg: &str) -> anyhow::Result<T> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).with_context(|| format!("the {what} is not valid"))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sandi-policy: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Check { dir } => {
            let dir = dir.unwrap_or_else(policies::default_dir);
            let policy = Policy::load(&dir)?;
            println!(
                "policy {} is valid: {} policies, version {}",
                dir.display(),
                policy.len(),
                policy.version()
            );
            for (id, reason) in policy.summary() {
                println!("  {id:<32} {reason}");
            }
            for level in Level::ALL {
                let h = policy.handling().get(level);
                println!(
                    "  {:<15} export:{} print:{} watermark:{} step-up:{} dual-control:{} retention:{}y node≥{} signature:{}≥{}bits stamp:{} {}",
                    h.label_id,
                    yes(h.export_plaintext),
                    yes(h.print),
                    yes(h.watermark),
                    yes(h.step_up),
                    yes(h.dual_control),
                    h.retention_years,
                    h.min_node_accreditation,
                    h.signature_algorithm.as_str(),
                    h.min_key_bits,
                    h.code,
                    h.colour
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Explain {
            dir,
            principal,
            action,
            resource,
            context,
        } => {
            let policy = Policy::load(&dir.unwrap_or_else(policies::default_dir))?;
            let principal: Principal = json("principal", &principal)?;
            let resource: Document = json("resource", &resource)?;
            let context: Context = json("context", &context)?;
            let action: Action = action.parse().map_err(anyhow::Error::msg)?;
            let d = policy.decide(&principal, action, &resource, &context)?;
            println!("{}", if d.allowed { "ALLOW" } else { "DENY" });
            println!("  {}", d.alasan);
            println!("  {}", d.reason);
            if !d.policies.is_empty() {
                println!("  policies: {}", d.policies.join(", "));
            }
            println!("  policy version: {}", d.policy_version);
            Ok(if d.allowed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
