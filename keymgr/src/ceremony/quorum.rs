//! The custodians' quorum: share files given one at a time until the keystores unseal, and the
//! opening and closing that every ceremony after the first shares.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hsm_shim::{KeyStore, Pkcs11KeyStore, SoftwareKeyStore, UnsealProgress};
use serde_json::json;

use super::{Attendance, Proceedings, keys_with_registered, merge, norm, tool_sha256};
use crate::ca::{self, Ca, CaState, Home};
use crate::countersign::Role;
use crate::shares::{self, ShareBundle, Unlock};
use crate::transcript::sha256_hex;
use crate::{Error, Result};

/// Custodians bringing their share files, one at a time, to unseal the keystores.
#[derive(Debug)]
pub struct QuorumSession {
    pub(super) state: CaState,
    pub(super) root: SoftwareKeyStore,
    pub(super) online: SoftwareKeyStore,
    /// The token holding the online CA's keys, on a home that puts them on one
    /// ([`crate::online`]).
    token: Option<Arc<Pkcs11KeyStore>>,
    given: Vec<(u8, String)>,
    /// Kept for a reshare, which needs the shares themselves; zeroized on drop.
    pub(super) bundles: Vec<ShareBundle>,
}

impl QuorumSession {
    pub fn open(home: &Home) -> Result<Self> {
        let state = home.load_state()?;
        Ok(QuorumSession {
            state,
            root: SoftwareKeyStore::open(&home.root_keystore())?,
            online: SoftwareKeyStore::open(&home.online_keystore())?,
            token: home.open_online_token()?,
            given: Vec::new(),
            bundles: Vec::new(),
        })
    }

    pub fn state(&self) -> &CaState {
        &self.state
    }

    /// Opens one custodian's share file and gives its shares to both keystores. Each share is
    /// checked on arrival: a share from another ceremony, a duplicate or a wrong share is
    /// refused and does not count.
    pub fn add(&mut self, path: &Path, unlock: &Unlock) -> Result<(String, UnsealProgress)> {
        let bundle = shares::open(path, unlock)?;
        if bundle.ceremony != self.state.share_ceremony {
            return Err(Error::ShareFromOtherCeremony {
                path: path.to_path_buf(),
                found: bundle.ceremony,
                expected: self.state.share_ceremony,
            });
        }
        if self.given.iter().any(|(i, _)| *i == bundle.index) {
            return Err(Error::DuplicateShare {
                path: path.to_path_buf(),
                index: bundle.index,
            });
        }
        self.root.submit_share(bundle.root.clone())?;
        let progress = self.online.submit_share(bundle.online.clone())?;
        self.given.push((bundle.index, bundle.custodian.clone()));
        let who = bundle.custodian.clone();
        self.bundles.push(bundle);
        Ok((who, progress))
    }

    /// Who has given shares so far.
    pub fn custodians_present(&self) -> Vec<String> {
        self.given.iter().map(|(_, n)| n.clone()).collect()
    }

    pub fn progress(&self) -> UnsealProgress {
        self.online.progress()
    }

    /// The unsealed online software keystore, or `QuorumNotMet`. On a home whose online keys
    /// are on a token it holds none of them: use [`QuorumSession::online_keys`].
    pub fn online(&self) -> Result<&SoftwareKeyStore> {
        unsealed(&self.online)
    }

    /// Where the online CA's keys are, once the quorum is met: the token on a home that puts
    /// them on one ([`crate::online`]), else the online software keystore. What ceremonies and
    /// commands that sign with the online CA use.
    pub fn online_keys(&self) -> Result<&dyn KeyStore> {
        let software = unsealed(&self.online)?;
        Ok(match &self.token {
            Some(token) => token.as_ref(),
            None => software,
        })
    }

    /// The unsealed online keystore, kept by a long-running service (`keymgr serve`); the root
    /// keystore and the shares are dropped here, so the root key is not held while serving.
    pub fn into_online(self) -> Result<SoftwareKeyStore> {
        unsealed(&self.online)?;
        Ok(self.online)
    }

    /// The unsealed root keystore, or `QuorumNotMet`.
    pub fn root(&self) -> Result<&SoftwareKeyStore> {
        unsealed(&self.root)
    }

    /// The first step of a later ceremony: the people checked, the script, the tool, the
    /// attendance, the roster of countersigners and the ceremony's parameters recorded.
    /// `joining` are the custodians a reshare deals new shares to (`None` elsewhere): they
    /// attend and countersign too, and only there may a custodian register a new SSH key.
    pub(super) fn open_ceremony(
        &self,
        kind: &str,
        script: &str,
        who: &Attendance,
        data: &serde_json::Value,
        joining: Option<&[String]>,
    ) -> Result<Proceedings> {
        let present = self.custodians_present();
        check_people(who, &present)?;
        let mut people = vec![(Role::Administrator, who.administrator.as_str())];
        people.extend(present.iter().map(|n| (Role::Custodian, n.as_str())));
        for n in joining.unwrap_or_default() {
            if !present.iter().any(|p| norm(p) == norm(n)) {
                people.push((Role::Custodian, n.as_str()));
            }
        }
        people.extend(who.witnesses.iter().map(|w| (Role::Witness, w.as_str())));
        let keys = keys_with_registered(
            &who.minutes.signing_keys,
            &self.state.custodians,
            &present,
            joining.is_some(),
        )?;
        let opening = who.minutes.opening(&people, &keys)?;
        let mut c = Proceedings::new(kind, &who.administrator, &who.witnesses);
        let mut opened = json!({ "script_sha256": sha256_hex(script.as_bytes()), "tool_sha256": tool_sha256(),
                    "administrator": who.administrator, "witnesses": who.witnesses,
                    "custodians_present": present, "parameters": data });
        merge(&mut opened, opening);
        c.record("ceremony.opened", opened)?;
        Ok(c)
    }

    /// The last step of a later ceremony: the transcript closed, signed with the root key,
    /// written, and its steps appended to the log.
    pub(super) fn close_ceremony(&self, home: &Home, mut c: Proceedings) -> Result<PathBuf> {
        c.record("ceremony.closed", json!({}))?;
        let mut t = c.transcript;
        let root = self.root()?;
        let root_key = root.info(self.state.root_key)?.handle();
        t.sign(root, &root_key, &home.cert_der(Ca::Root)?)?;
        let path = home
            .transcripts_dir()
            .join(format!("{}-{}.json", t.ceremony, t.id));
        ca::write_file(&path, &t.to_json())?;
        crate::tlog::Log::open(home)?.append_transcript(self.online_keys()?, &self.state, &t)?;
        Ok(path)
    }
}

fn unsealed(store: &SoftwareKeyStore) -> Result<&SoftwareKeyStore> {
    let p = store.progress();
    if p.unsealed {
        Ok(store)
    } else {
        Err(Error::QuorumNotMet {
            provided: p.provided,
            threshold: p.threshold,
        })
    }
}

/// Nobody holds two roles in one ceremony, and at least one witness attends.
fn check_people(who: &Attendance, custodians: &[String]) -> Result<()> {
    if who.witnesses.is_empty() {
        return Err(Error::Roles("at least one witness must attend".into()));
    }
    let mut all: Vec<String> = vec![norm(&who.administrator)];
    for name in who.witnesses.iter().chain(custodians) {
        if all.contains(&norm(name)) {
            return Err(Error::Roles(format!(
                "{name} cannot hold two roles in one ceremony"
            )));
        }
        all.push(norm(name));
    }
    Ok(())
}
