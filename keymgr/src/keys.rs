//! Lifecycle of the keys the CA holds: state changes and destruction, each logged and mirrored
//! in the inventory. The CA's own keys in use (intermediates, log key) change only in ceremonies.

use hsm_shim::{KeyId, KeyInfo, KeyState, KeyStore};

use crate::ca::Home;
use crate::inventory::Inventory;
use crate::tlog::Log;
use crate::{Error, Result};

fn guard(home: &Home, id: KeyId) -> Result<()> {
    let state = home.load_state()?;
    if [
        state.network_ca_key,
        state.signing_ca_key,
        state.log_key,
        state.root_key,
    ]
    .contains(&id)
    {
        return Err(Error::InvalidInput(format!(
            "key {id} is a CA key in use: rotate it in a ceremony instead"
        )));
    }
    Ok(())
}

/// Moves a key to another lifecycle state.
pub async fn set_state(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    key: &str,
    state: KeyState,
) -> Result<KeyInfo> {
    let id: KeyId = key.parse()?;
    guard(home, id)?;
    let before = store.info(id)?;
    store.set_state(&before.handle(), state)?;
    let after = store.info(id)?;
    let ca = home.load_state()?;
    Log::open(home)?.append(
        store,
        ca.log_key,
        "key-state",
        serde_json::json!({ "key": id, "label": after.label, "version": after.version,
                            "from": before.state.to_string(), "to": after.state.to_string() }),
    )?;
    inv.record_key("online", &after).await?;
    Ok(after)
}

/// Destroys a key: wiped from the keystore, the destruction logged and kept in the inventory.
pub async fn destroy(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    key: &str,
) -> Result<KeyInfo> {
    let id: KeyId = key.parse()?;
    guard(home, id)?;
    let mut info = store.info(id)?;
    let ca = home.load_state()?;
    store.destroy(&info.handle())?;
    info.state = KeyState::Destroyed;
    Log::open(home)?.append(
        store,
        ca.log_key,
        "key-destroyed",
        serde_json::json!({ "key": id, "label": info.label, "version": info.version }),
    )?;
    inv.record_key("online", &info).await?;
    Ok(info)
}
