//! `docsvc reshare`: custodian turnover. A quorum of the current custodians gives their
//! shares; fresh shares of the same master key are dealt to the new custodians (a new M and N
//! allowed); no key changes. Run while the node is stopped: a running node keeps the old
//! shares' commitments in memory until it restarts.

use std::path::PathBuf;

use hsm_shim::{CustodianShare, Sealable, SoftwareKeyStore};
use serde_json::json;

use super::{
    Custodian, Custodians, Minutes, Proceedings, Undo, check_name, check_outside, check_people,
    create_out_dir, opening, roster, seal_shares, share_paths,
};
use crate::node::{Config, Layout, NodeKeys};
use crate::{Error, Result};

/// The fixed script of a node's custodian turnover; its hash is the transcript's first step.
pub const RESHARE_SCRIPT: &str = "\
sandi node key ceremony: custodian turnover (docsvc reshare)
1. The administrator opens the ceremony before the witnesses; a quorum of current custodians gives their shares.
2. Fresh shares of the same master key are dealt and encrypted to each new custodian's age recipient.
3. The new shares replace the old: an old share unseals nothing from now on. No key changes.
4. The ceremony is closed and this transcript is signed with the node's audit key.
5. Each custodian (leaving and joining) and witness countersigns this transcript with their own SSH key.
";

/// Who takes over.
#[derive(Clone, Debug)]
pub struct ResharePlan {
    pub administrator: String,
    pub custodians: Vec<Custodian>,
    pub witnesses: Vec<String>,
    pub threshold: u8,
    /// Where the new share files go: outside the data directory.
    pub shares_out: PathBuf,
    /// The place and the SSH keys the people present countersign the transcript with.
    pub minutes: Minutes,
}

#[derive(Debug)]
pub struct ReshareOutcome {
    pub share_files: Vec<PathBuf>,
    pub transcript: PathBuf,
    pub transcript_copy: PathBuf,
}

/// Opens the keystore with the current custodians' shares: each must be one of them.
fn unseal_with(keystore: &SoftwareKeyStore, shares: &[CustodianShare]) -> Result<()> {
    for share in shares {
        if !Sealable::is_sealed(keystore) {
            break;
        }
        keystore.submit_share(share.clone())?;
    }
    if Sealable::is_sealed(keystore) {
        let p = keystore.progress();
        return Err(Error::invalid(
            "shares",
            format!(
                "{} of the {} current shares needed were given",
                p.provided, p.threshold
            ),
        ));
    }
    Ok(())
}

/// Deals fresh shares to `plan.custodians`, given the current custodians' `shares` (at least
/// the current threshold). The new files are written first; only when all exist do the new
/// shares replace the old. A failure before that leaves the old shares valid and no new file.
pub fn reshare(
    layout: &Layout,
    shares: Vec<CustodianShare>,
    plan: &ResharePlan,
    progress: &mut dyn FnMut(&str),
) -> Result<ReshareOutcome> {
    let config = Config::load(layout)?;
    if !config.production {
        return Err(Error::invalid(
            "node",
            "this is a development node: its custodians are quickstart's",
        ));
    }
    let administrator = check_name("administrator", &plan.administrator)?;
    let witnesses = plan
        .witnesses
        .iter()
        .map(|w| check_name("witness", w))
        .collect::<Result<Vec<_>>>()?;
    let quorum = check_people(&administrator, &plan.custodians, &witnesses, plan.threshold)?;
    check_outside(&plan.shares_out, layout.dir())?;
    let before = Custodians::load(layout)?;
    // The custodians who give their shares, as the current roster names them, then the new.
    let mut custodians: Vec<&str> = shares
        .iter()
        .filter_map(|s| before.custodians.iter().find(|r| r.index == s.index()))
        .map(|r| r.name.as_str())
        .collect();
    for c in &plan.custodians {
        let same = keymgr::countersign::norm(&c.name);
        if !custodians
            .iter()
            .any(|n| keymgr::countersign::norm(n) == same)
        {
            custodians.push(&c.name);
        }
    }
    let people = roster(&administrator, custodians, &witnesses);
    opening(json!({}), &plan.minutes, &people)?;
    let keys = NodeKeys::load(layout)?;
    // The audit key that signs the transcript may be on the token: opened as the node opens it.
    let (keystore, signer) = crate::node::open_keystore_parts(layout, &config)?;

    progress("the current custodians' shares");
    unseal_with(&keystore, &shares)?;
    let mut c = Proceedings::open("node-reshare", RESHARE_SCRIPT, &administrator, &witnesses)?;
    let ceremony = c.transcript.id;
    let files = share_paths(
        &plan.shares_out,
        &config.node_id,
        &format!("reshare-{}", &ceremony.simple().to_string()[..8]),
        &plan.custodians,
    );
    if let Some(existing) = files.iter().find(|p| p.exists()) {
        return Err(Error::Conflict(format!(
            "{} already exists: a share file is never overwritten",
            existing.display()
        )));
    }
    let dealt = keystore.prepare_reshare(&shares, quorum)?;
    drop(shares);

    let joined: Vec<&String> = plan
        .custodians
        .iter()
        .map(|c| &c.name)
        .filter(|n| !before.custodians.iter().any(|o| &o.name == *n))
        .collect();
    let left: Vec<&String> = before
        .custodians
        .iter()
        .map(|o| &o.name)
        .filter(|o| !plan.custodians.iter().any(|c| &c.name == *o))
        .collect();
    let opened = json!({ "node_id": config.node_id, "keystore": keystore.id(),
            "previous_ceremony": before.ceremony, "threshold": quorum.threshold,
            "custodians": quorum.custodians, "left": left, "joined": joined });
    c.record("ceremony.opened", opening(opened, &plan.minutes, &people)?)?;

    progress("new shares encrypted to each new custodian's age recipient");
    let mut undo = Undo::default();
    create_out_dir(&plan.shares_out, &mut undo)?;
    let records = seal_shares(&mut c, &mut undo, &plan.custodians, &dealt.shares, &files)?;
    c.record(
        "shares.dealt",
        json!({ "threshold": quorum.threshold, "custodians": quorum.custodians }),
    )?;
    // Everything that can fail before the switch: the transcript signed and written.
    c.record("shares.replaced", json!({ "keystore": keystore.id() }))?;
    let (transcript, transcript_copy) = c.close(
        layout,
        signer.as_ref(),
        &keys,
        &plan.shares_out,
        &config.node_id,
        &mut undo,
    )?;
    keystore.commit_reshare(dealt)?;
    keystore.seal();
    undo.finish();
    Custodians {
        ceremony,
        threshold: quorum.threshold,
        custodians: records,
        witnesses,
    }
    .save(layout)?;
    Ok(ReshareOutcome {
        share_files: files,
        transcript,
        transcript_copy,
    })
}
