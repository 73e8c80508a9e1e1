//! Custodian turnover: a quorum of the current custodians has fresh shares of the same master
//! keys dealt to the new custodians, step by step as [`RESHARE_SCRIPT`] reads.

use std::path::{Path, PathBuf};

use hsm_shim::{Quorum, ResharePlan};
use serde_json::json;

use super::{
    Attendance, CustodianSpec, Proceedings, QuorumSession, custodian_records, keys_with_registered,
    norm, production_quorum, refuse_existing, seal_share_file, share_file_paths,
};
use crate::ca::Home;
use crate::shares::ShareBundle;
use crate::transcript::sha256_hex;
use crate::{Error, Result};

/// The fixed script of custodian turnover; its hash is recorded before the first step.
pub const RESHARE_SCRIPT: &str = "\
sandi key ceremony: custodian turnover (reshare)
1. The administrator opens the ceremony; a quorum of current custodians gives their shares.
2. Fresh shares of the same master keys are dealt to the new custodians and sealed in their files.
3. The new shares replace the old: an old share unseals nothing from now on.
4. The ceremony is closed and this transcript is signed with the root key.
";

/// Custodian turnover: deals fresh shares of both master keys to the new custodians (a new M
/// and N allowed), writes their files, then makes the new shares the only valid ones.
pub fn reshare(
    home: &Home,
    session: &mut QuorumSession,
    who: &Attendance,
    custodians: &[CustodianSpec],
    threshold: u8,
    shares_out: &Path,
) -> Result<(PathBuf, Vec<PathBuf>)> {
    let quorum = production_quorum(threshold, custodians.len())?;
    session.root()?;
    check_new_people(who, custodians)?;
    let mut c = open(session, who, custodians, quorum)?;
    let files = share_file_paths(custodians, shares_out);
    refuse_existing(&files)?;
    let dealt = deal(session, quorum)?;
    seal_new_shares(&mut c, custodians, &dealt, &files, shares_out)?;
    replace_shares(home, session, &mut c, dealt, (custodians, who), quorum)?;
    let path = session.close_ceremony(home, c)?;
    Ok((path, files))
}

/// The new custodians are other people than the administrator and the witnesses.
fn check_new_people(who: &Attendance, custodians: &[CustodianSpec]) -> Result<()> {
    let mut names: Vec<String> = vec![norm(&who.administrator)];
    for n in custodians.iter().map(|c| &c.name).chain(&who.witnesses) {
        if names.contains(&norm(n)) {
            return Err(Error::Roles(format!(
                "{n} cannot hold two roles in one ceremony"
            )));
        }
        names.push(norm(n));
    }
    Ok(())
}

/// Step 1: the ceremony opened with the new quorum and who leaves and who joins.
fn open(
    session: &QuorumSession,
    who: &Attendance,
    custodians: &[CustodianSpec],
    quorum: Quorum,
) -> Result<Proceedings> {
    let old: Vec<String> = session
        .state
        .custodians
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let new: Vec<String> = custodians.iter().map(|c| c.name.clone()).collect();
    let left: Vec<&String> = old
        .iter()
        .filter(|o| !new.iter().any(|n| norm(n) == norm(o)))
        .collect();
    let joined: Vec<&String> = new
        .iter()
        .filter(|n| !old.iter().any(|o| norm(o) == norm(n)))
        .collect();
    session.open_ceremony(
        "reshare",
        RESHARE_SCRIPT,
        who,
        &json!({ "threshold": quorum.threshold, "custodians": quorum.custodians, "left": left, "joined": joined }),
        Some(new.as_slice()),
    )
}

/// Fresh shares of both master keys, dealt from the shares the quorum gave; nothing changes
/// in the keystores until they are committed.
struct Dealt {
    root: ResharePlan,
    online: ResharePlan,
}

fn deal(session: &QuorumSession, quorum: Quorum) -> Result<Dealt> {
    let root_shares: Vec<_> = session.bundles.iter().map(|b| b.root.clone()).collect();
    let online_shares: Vec<_> = session.bundles.iter().map(|b| b.online.clone()).collect();
    Ok(Dealt {
        root: session.root.prepare_reshare(&root_shares, quorum)?,
        online: session.online.prepare_reshare(&online_shares, quorum)?,
    })
}

/// Step 2: each new custodian's shares sealed in their file. If one cannot be written, every
/// new file is removed again: the old shares stay the valid ones.
fn seal_new_shares(
    c: &mut Proceedings,
    custodians: &[CustodianSpec],
    dealt: &Dealt,
    files: &[PathBuf],
    shares_out: &Path,
) -> Result<()> {
    std::fs::create_dir_all(shares_out).map_err(|e| Error::io("creating", shares_out, e))?;
    let written = (|| -> Result<()> {
        for (i, custodian) in custodians.iter().enumerate() {
            let bundle = ShareBundle {
                ceremony: c.id(),
                custodian: custodian.name.clone(),
                index: dealt.root.shares[i].index(),
                root: dealt.root.shares[i].clone(),
                online: dealt.online.shares[i].clone(),
            };
            let file_sha256 = seal_share_file(&files[i], &bundle, &custodian.protection)?;
            c.record_by_custodian(
                &custodian.name,
                "share.sealed",
                json!({ "index": bundle.index, "file_sha256": file_sha256, "protection": custodian.protection.method(),
                        "root_share_commitment": sha256_hex(bundle.root.to_text().as_bytes()),
                        "online_share_commitment": sha256_hex(bundle.online.to_text().as_bytes()) }),
            )?;
        }
        Ok(())
    })();
    if written.is_err() {
        for f in files {
            let _ = std::fs::remove_file(f);
        }
    }
    written
}

/// Step 3: every new file exists, so only now do the new shares replace the old, in both
/// keystores and in the CA state.
fn replace_shares(
    home: &Home,
    session: &mut QuorumSession,
    c: &mut Proceedings,
    dealt: Dealt,
    (custodians, who): (&[CustodianSpec], &Attendance),
    quorum: Quorum,
) -> Result<()> {
    // A continuing custodian who gave no new key keeps the one registered.
    let names: Vec<String> = custodians.iter().map(|c| c.name.clone()).collect();
    let keys = keys_with_registered(
        &who.minutes.signing_keys,
        &session.state.custodians,
        &names,
        true,
    )?;
    session.root.commit_reshare(dealt.root)?;
    session.online.commit_reshare(dealt.online)?;
    let mut state = session.state.clone();
    state.share_ceremony = c.id();
    state.quorum = quorum;
    state.custodians = custodian_records(custodians, &keys);
    home.save_state(&state)?;
    c.record("shares.replaced", json!({ "share_ceremony": c.id() }))?;
    session.state = state;
    Ok(())
}
