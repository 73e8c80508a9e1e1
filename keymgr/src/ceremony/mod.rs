//! Key ceremonies: the scripted initialisation that creates the root of trust, the later root
//! ceremonies (an intermediate rotated or revoked, custodian turnover), and the quorum of
//! custodians that unseals the keystores. Each ceremony follows a fixed script of named steps;
//! each step writes its part of the transcript, which the root key signs at the close.

use std::path::{Path, PathBuf};

use hsm_shim::Quorum;
use serde_json::Value;

use crate::ca::CustodianRecord;
use crate::countersign::{self, NamedKey, Role, SshKey};
use crate::shares::{self, Protection, ShareBundle};
use crate::transcript::{Transcript, sha256_hex};
use crate::{Error, Result};

mod init;
mod intermediate;
mod quorum;
mod reshare;

pub use init::{INIT_SCRIPT, InitOutcome, InitPlan, init, init_with_minutes};
pub use intermediate::{
    REVOKE_INTERMEDIATE_SCRIPT, ROTATE_INTERMEDIATE_SCRIPT, revoke_intermediate,
    rotate_intermediate,
};
pub use quorum::QuorumSession;
pub use reshare::{RESHARE_SCRIPT, reshare};

/// A key custodian and how their share file is protected.
#[derive(Debug)]
pub struct CustodianSpec {
    pub name: String,
    pub protection: Protection,
}

/// Who runs a ceremony after the first: the administrator and the witnesses (the custodians
/// present are those whose shares were given), and what the berita acara records of them.
#[derive(Clone, Debug)]
pub struct Attendance {
    pub administrator: String,
    pub witnesses: Vec<String>,
    pub minutes: Minutes,
}

/// What the berita acara records beyond the roles: where the ceremony is held, and the SSH
/// Ed25519 keys with which the people present will countersign its transcript (see
/// [`crate::countersign`]). A custodian's key is kept in the CA state for later ceremonies.
#[derive(Clone, Debug, Default)]
pub struct Minutes {
    pub place: Option<String>,
    pub signing_keys: Vec<NamedKey>,
}

impl Minutes {
    fn place(&self) -> Result<Option<&str>> {
        match self.place.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(p) if p.chars().count() > 200 || p.chars().any(char::is_control) => Err(
                Error::InvalidInput("the place: one line of at most 200 characters".into()),
            ),
            Some(p) => Ok(Some(p)),
        }
    }

    /// The roster of countersigners and the place, as the opening step records them
    /// (`place`, `countersigners`: what [`countersign::registered`] and the berita acara read).
    pub fn opening(&self, people: &[(Role, &str)], keys: &[NamedKey]) -> Result<Value> {
        let roster = countersign::roster(people, keys)?;
        Ok(serde_json::json!({ "place": self.place()?, "countersigners": roster }))
    }
}

/// The keys of a later ceremony's roster: those given now, and for each custodian present who
/// gave none, the key the CA state registered for them. A custodian's key given now must be the
/// registered one unless `may_change` (a reshare, where keys are registered anew).
fn keys_with_registered(
    given: &[NamedKey],
    registered: &[CustodianRecord],
    present: &[String],
    may_change: bool,
) -> Result<Vec<NamedKey>> {
    let mut keys = given.to_vec();
    for name in present {
        let Some(record) = registered.iter().find(|r| norm(&r.name) == norm(name)) else {
            continue;
        };
        let Some(key) = record.ssh_public_key.as_deref() else {
            continue;
        };
        let key = SshKey::parse(key)?;
        match given.iter().find(|k| norm(&k.name) == norm(name)) {
            Some(k) if k.key != key && !may_change => {
                return Err(Error::Roles(format!(
                    "{name} gave SSH key {}, but {} is registered for them: a custodian's key \
                     changes only in a reshare",
                    k.key.fingerprint(),
                    key.fingerprint()
                )));
            }
            Some(_) => {}
            None => keys.push(NamedKey {
                name: record.name.clone(),
                key,
            }),
        }
    }
    Ok(keys)
}

/// A ceremony under way: its transcript, and the administrator and witnesses that every entry
/// names.
struct Proceedings {
    transcript: Transcript,
    admin: String,
    witnesses: Vec<String>,
}

impl Proceedings {
    fn new(ceremony: &str, administrator: &str, witnesses: &[String]) -> Self {
        Proceedings {
            transcript: Transcript::new(ceremony),
            admin: format!("ceremony administrator: {administrator}"),
            witnesses: witnesses.iter().map(|w| format!("witness: {w}")).collect(),
        }
    }

    fn id(&self) -> uuid::Uuid {
        self.transcript.id
    }

    /// A step the administrator performs before the witnesses.
    fn record(&mut self, step: &str, data: Value) -> Result<()> {
        self.transcript
            .record(step, &self.admin, &self.witnesses, data)
    }

    /// A step a custodian performs before the witnesses (their share sealed).
    fn record_by_custodian(&mut self, custodian: &str, step: &str, data: Value) -> Result<()> {
        self.transcript.record(
            step,
            &format!("key custodian: {custodian}"),
            &self.witnesses,
            data,
        )
    }
}

/// Adds an object's fields to another object.
fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

fn norm(name: &str) -> String {
    name.trim().to_lowercase()
}

fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').chars().take(40).collect()
}

fn tool_sha256() -> String {
    std::env::current_exe()
        .and_then(std::fs::read)
        .map_or_else(|_| "unknown".into(), |b| sha256_hex(&b))
}

/// M of N custodians, as a production keystore accepts them.
fn production_quorum(threshold: u8, custodians: usize) -> Result<Quorum> {
    Ok(Quorum {
        threshold,
        custodians: u8::try_from(custodians)
            .map_err(|_| Error::Roles("at most 255 custodians".into()))?,
    }
    .validate(hsm_shim::Mode::Production)?)
}

/// Where each custodian's share file goes: numbered in order, named after the custodian.
fn share_file_paths(custodians: &[CustodianSpec], dir: &Path) -> Vec<PathBuf> {
    custodians
        .iter()
        .enumerate()
        .map(|(i, c)| dir.join(format!("custodian-{}-{}.age", i + 1, slug(&c.name))))
        .collect()
}

/// A share file is never overwritten: it may be the only copy of someone's share.
fn refuse_existing(files: &[PathBuf]) -> Result<()> {
    match files.iter().find(|p| p.exists()) {
        Some(existing) => Err(Error::InvalidInput(format!(
            "{} already exists",
            existing.display()
        ))),
        None => Ok(()),
    }
}

/// Seals a custodian's bundle in its file and returns the file's SHA-256, as written.
fn seal_share_file(path: &Path, bundle: &ShareBundle, protection: &Protection) -> Result<String> {
    shares::write(path, bundle, protection)?;
    let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    Ok(sha256_hex(&bytes))
}

/// The custodians as the CA state keeps them, each with the SSH key they countersign with.
fn custodian_records(custodians: &[CustodianSpec], keys: &[NamedKey]) -> Vec<CustodianRecord> {
    custodians
        .iter()
        .enumerate()
        .map(|(i, c)| CustodianRecord {
            index: u8::try_from(i + 1).unwrap_or(u8::MAX),
            name: c.name.clone(),
            protection: c.protection.method().into(),
            ssh_public_key: keys
                .iter()
                .find(|k| norm(&k.name) == norm(&c.name))
                .map(|k| k.key.to_openssh()),
        })
        .collect()
}
