//! `keymgr list` and `show`: what the inventory holds.

use clap::Args;

use super::Env;

#[derive(Args)]
pub(super) struct ShowArgs {
    serial: String,
}

pub(super) async fn list(env: &Env) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    println!("certificates:");
    for r in inv.list().await? {
        println!(
            "  {}  {:<16} v{:<2} {:<10} {}  until {}",
            r.serial,
            r.profile,
            r.version,
            r.state_str(),
            r.subject,
            r.not_after
        );
    }
    println!("keys:");
    for (ks, id, label, kind, version, state) in inv.keys().await? {
        println!("  {ks:<6} {id}  {label:<32} {kind:<10} v{version:<2} {state}");
    }
    Ok(())
}

pub(super) async fn show(env: &Env, args: &ShowArgs) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let r = inv.get(&args.serial).await?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    print!("{}", keymgr::ca::der_to_pem(&r.der));
    Ok(())
}
