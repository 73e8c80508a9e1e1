//! `keymgr key …`: the lifecycle of keys in the online keystore.

use clap::{Subcommand, ValueEnum};
use hsm_shim::KeyState;

use super::Env;
use super::quorum::{ShareArgs, unseal};

#[derive(Subcommand)]
pub(super) enum KeyCmd {
    /// Move a key through its lifecycle (pre-active, active, suspended, deactivated, compromised).
    SetState {
        #[command(flatten)]
        shares: ShareArgs,
        key: String,
        #[arg(value_enum)]
        state: KeyStateArg,
    },
    /// Destroy a key held by the CA (not a CA key in use): wiped, removed and recorded.
    Destroy {
        #[command(flatten)]
        shares: ShareArgs,
        key: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum KeyStateArg {
    PreActive,
    Active,
    Suspended,
    Deactivated,
    Compromised,
}

impl From<KeyStateArg> for KeyState {
    fn from(state: KeyStateArg) -> Self {
        match state {
            KeyStateArg::PreActive => KeyState::PreActive,
            KeyStateArg::Active => KeyState::Active,
            KeyStateArg::Suspended => KeyState::Suspended,
            KeyStateArg::Deactivated => KeyState::Deactivated,
            KeyStateArg::Compromised => KeyState::Compromised,
        }
    }
}

pub(super) async fn run(env: &Env, cmd: &KeyCmd) -> anyhow::Result<()> {
    match cmd {
        KeyCmd::SetState { shares, key, state } => set_state(env, shares, key, *state).await,
        KeyCmd::Destroy { shares, key } => destroy(env, shares, key).await,
    }
}

async fn set_state(
    env: &Env,
    shares: &ShareArgs,
    key: &str,
    state: KeyStateArg,
) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, shares)?;
    let info =
        keymgr::keys::set_state(&env.home, session.online_keys()?, &inv, key, state.into()).await?;
    println!(
        "key {} ({} v{}) is now {}",
        info.id, info.label, info.version, info.state
    );
    Ok(())
}

async fn destroy(env: &Env, shares: &ShareArgs, key: &str) -> anyhow::Result<()> {
    let inv = env.inventory().await?;
    let session = unseal(&env.home, shares)?;
    let info = keymgr::keys::destroy(&env.home, session.online_keys()?, &inv, key).await?;
    println!(
        "key {} ({} v{}) destroyed and recorded",
        info.id, info.label, info.version
    );
    Ok(())
}
