//! `keymgr revoke`, `crl` and `status`: revocation, the intermediates' CRLs, and whether a
//! certificate was valid at a moment.

use clap::Args;
use keymgr::inventory::{parse_timestamp, timestamp};
use keymgr::revoke::{self, StatusAt};

use super::quorum::{ShareArgs, unseal};
use super::{Env, IssuingCa, parse_duration};

#[derive(Args)]
pub(super) struct RevokeArgs {
    #[command(flatten)]
    shares: ShareArgs,
    serial: String,
    /// keyCompromise, superseded, cessationOfOperation, affiliationChanged, privilegeWithdrawn, …
    #[arg(long, default_value = "unspecified")]
    reason: String,
}

#[derive(Args)]
pub(super) struct CrlArgs {
    #[command(flatten)]
    shares: ShareArgs,
    #[arg(value_enum)]
    ca: IssuingCa,
    /// nextUpdate, from now: 7d, 24h.
    #[arg(long, value_parser = parse_duration, default_value = "7d")]
    next_update: time::Duration,
}

#[derive(Args)]
pub(super) struct StatusArgs {
    serial: String,
    #[arg(long)]
    at: Option<String>,
}

pub(super) async fn revoke(env: &Env, args: &RevokeArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, &args.shares)?;
    let r = revoke::revoke(
        &env.home,
        session.online_keys()?,
        &inv,
        &args.serial,
        &args.reason,
        None,
    )
    .await?;
    println!(
        "revoked {} ({}) at {}, reason {}",
        r.serial,
        r.subject,
        r.revoked_at.as_deref().unwrap_or_default(),
        r.revocation_reason.as_deref().unwrap_or_default()
    );
    Ok(())
}

pub(super) async fn crl(env: &Env, args: &CrlArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, &args.shares)?;
    let which = args.ca.ca();
    let crl = revoke::crl(
        &env.home,
        session.online_keys()?,
        &inv,
        which,
        args.next_update,
    )
    .await?;
    println!(
        "CRL number {} of the {} with {} revoked certificate(s) written to {}",
        crl.number,
        which.name(),
        crl.revoked,
        env.home.dir().join("crl").display()
    );
    Ok(())
}

/// Prints the status; a certificate not valid at the moment exits with 2, so that scripts can
/// tell "not valid" from a failure (1).
pub(super) async fn status(env: &Env, args: &StatusArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let at = match &args.at {
        Some(t) => parse_timestamp(t)?,
        None => time::OffsetDateTime::now_utc(),
    };
    match revoke::status_at(&inv, &args.serial, at).await? {
        StatusAt::Valid {
            revoked_later: None,
        } => println!("valid at {}", timestamp(at)),
        StatusAt::Valid {
            revoked_later: Some((when, why)),
        } => println!(
            "valid at {} (revoked later, at {when}, reason {why}): signatures made then stand",
            timestamp(at)
        ),
        StatusAt::Revoked { at: when, reason } => {
            println!(
                "revoked at {when} (reason {reason}), before {}",
                timestamp(at)
            );
            std::process::exit(2);
        }
        StatusAt::OutsideValidity => {
            println!(
                "not valid at {}: outside the certificate's validity",
                timestamp(at)
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
