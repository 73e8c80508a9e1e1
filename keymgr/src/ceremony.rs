//! Key ceremonies: the scripted initialisation that creates the root of trust, and the quorum
//! of custodians that later unseals the keystores.

use std::path::{Path, PathBuf};

use hsm_shim::{KeyKind, KeyStore, Quorum, SoftwareKeyStore, UnsealProgress};
use serde_json::json;

use crate::ca::{self, Ca, CaState, CustodianRecord, Home};
use crate::inventory::{self, CertRecord, CertState, Inventory};
use crate::shares::{self, Protection, ShareBundle, Unlock};
use crate::signer::HsmSigner;
use crate::transcript::{Transcript, sha256_hex};
use crate::{Error, Result};

/// The fixed script of the init ceremony; its hash is recorded before the first step.
pub const INIT_SCRIPT: &str = "\
sandi key ceremony: initialisation
1. The ceremony administrator opens the ceremony; roles are read out and recorded.
2. Two keystores are created (root, online); each master key is split M-of-N.
3. Each custodian's shares are sealed in a file only that custodian can open.
4. The keystores are unsealed with the freshly dealt shares.
5. The Root CA key (ECDSA P-384) is generated and its certificate self-signed.
6. The Network CA and Signing CA keys are generated and certified by the root.
7. The transparency-log key is generated.
8. The ceremony is closed and this transcript is signed with the root key.
";

/// A key custodian and how their share file is protected.
#[derive(Debug)]
pub struct CustodianSpec {
    pub name: String,
    pub protection: Protection,
}

/// Everything the init ceremony needs.
#[derive(Debug)]
pub struct InitPlan {
    pub organisation: String,
    pub network_domain: Option<String>,
    pub administrator: String,
    pub custodians: Vec<CustodianSpec>,
    pub witnesses: Vec<String>,
    pub threshold: u8,
    /// Where the custodians' share files are written.
    pub shares_out: PathBuf,
}

/// What the init ceremony produced.
#[derive(Debug)]
pub struct InitOutcome {
    pub transcript: PathBuf,
    pub share_files: Vec<PathBuf>,
    pub root_sha256: String,
}

fn norm(name: &str) -> String {
    name.trim().to_lowercase()
}

fn check_roles(plan: &InitPlan) -> Result<()> {
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut add = |name: &str, role: &'static str| -> Result<()> {
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(Error::Roles(format!("a {role} needs a name")));
        }
        if let Some((_, other)) = seen.iter().find(|(n, _)| *n == norm(name)) {
            return Err(Error::Roles(format!(
                "{name} cannot be both {other} and {role}: nobody holds two roles in one ceremony"
            )));
        }
        seen.push((norm(name), role));
        Ok(())
    };
    add(&plan.administrator, "ceremony administrator")?;
    for c in &plan.custodians {
        add(&c.name, "key custodian")?;
    }
    for w in &plan.witnesses {
        add(w, "witness")?;
    }
    if plan.witnesses.is_empty() {
        return Err(Error::Roles("at least one witness must attend".into()));
    }
    Ok(())
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

/// Runs the init ceremony and records the CA certificates and keys in the inventory. On
/// failure everything it created is removed again.
pub async fn init(
    home: &Home,
    inv: &Inventory,
    plan: &InitPlan,
    progress: &mut dyn FnMut(&str),
) -> Result<InitOutcome> {
    check_roles(plan)?;
    let quorum = Quorum {
        threshold: plan.threshold,
        custodians: u8::try_from(plan.custodians.len())
            .map_err(|_| Error::Roles("at most 255 custodians".into()))?,
    }
    .validate(hsm_shim::Mode::Production)?;
    ca::check_text_pub("organisation", &plan.organisation)?;
    if home.is_initialised() || home.root_keystore().exists() || home.online_keystore().exists() {
        return Err(Error::AlreadyInitialised(home.dir().to_path_buf()));
    }
    let share_files: Vec<PathBuf> = plan
        .custodians
        .iter()
        .enumerate()
        .map(|(i, c)| {
            plan.shares_out
                .join(format!("custodian-{}-{}.age", i + 1, slug(&c.name)))
        })
        .collect();
    if let Some(existing) = share_files.iter().find(|p| p.exists()) {
        return Err(Error::InvalidInput(format!(
            "{} already exists",
            existing.display()
        )));
    }
    let mut result = run_init(home, plan, quorum, &share_files, progress);
    if let Ok(made) = &result {
        // The inventory in one transaction, then the state file: its presence makes the home a CA.
        let registered = match inv.register(&made.certificates, &made.keys).await {
            Ok(()) => home.save_state(&made.state),
            Err(e) => Err(e),
        };
        if let Err(e) = registered {
            result = Err(e);
        }
    }
    if result.is_err() {
        // Nothing half-made stays behind: no keystore without its shares, no shares without a CA.
        for p in &share_files {
            let _ = std::fs::remove_file(p);
        }
        for d in [
            home.root_keystore(),
            home.online_keystore(),
            home.ca_dir(),
            home.transcripts_dir(),
            home.log_dir(),
        ] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    result.map(|m| m.outcome)
}

/// What run_init made, before it is registered.
struct Made {
    outcome: InitOutcome,
    state: CaState,
    certificates: Vec<CertRecord>,
    keys: Vec<(&'static str, hsm_shim::KeyInfo)>,
}

fn ca_record(ca: Ca, der: &[u8], key: hsm_shim::KeyId) -> Result<CertRecord> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der).map_err(|e| {
        Error::Certificate(format!("{} certificate does not parse: {e}", ca.name()))
    })?;
    Ok(CertRecord {
        serial: inventory::normalise_serial(&parsed.tbs_certificate.raw_serial_as_string()),
        subject_id: format!("ca:{}", ca.file_name().trim_end_matches(".pem")),
        profile: if ca == Ca::Root {
            "root-ca"
        } else {
            "intermediate-ca"
        }
        .into(),
        version: 1,
        subject: parsed.subject().to_string(),
        issuer: Ca::Root,
        not_before: inventory::timestamp(parsed.validity().not_before.to_datetime()),
        not_after: inventory::timestamp(parsed.validity().not_after.to_datetime()),
        key_id: Some(key.to_string()),
        certificate_sha256: sha256_hex(der),
        der: der.to_vec(),
        state: CertState::Active,
        issued_at: inventory::timestamp(time::OffsetDateTime::now_utc()),
        revoked_at: None,
        revocation_reason: None,
        request: "{}".into(),
    })
}

#[allow(clippy::too_many_lines)] // one step after another, as the script reads
fn run_init(
    home: &Home,
    plan: &InitPlan,
    quorum: Quorum,
    share_files: &[PathBuf],
    progress: &mut dyn FnMut(&str),
) -> Result<Made> {
    let admin = format!("ceremony administrator: {}", plan.administrator);
    let witnesses: Vec<String> = plan
        .witnesses
        .iter()
        .map(|w| format!("witness: {w}"))
        .collect();
    let mut t = Transcript::new("init");
    t.record(
        "ceremony.opened",
        &admin,
        &witnesses,
        json!({
            "script_sha256": sha256_hex(INIT_SCRIPT.as_bytes()),
            "tool_sha256": tool_sha256(),
            "organisation": plan.organisation,
            "network_domain": plan.network_domain,
            "quorum": { "threshold": quorum.threshold, "custodians": quorum.custodians },
            "administrator": plan.administrator,
            "custodians": plan.custodians.iter().enumerate()
                .map(|(i, c)| json!({"index": i + 1, "name": c.name, "protection": c.protection.method()}))
                .collect::<Vec<_>>(),
            "witnesses": plan.witnesses,
        }),
    )?;
    progress("ceremony opened; roles recorded");

    let (root_store, root_shares) = SoftwareKeyStore::create(&home.root_keystore(), quorum)?;
    let (online_store, online_shares) = SoftwareKeyStore::create(&home.online_keystore(), quorum)?;
    t.record(
        "keystores.created",
        &admin,
        &witnesses,
        json!({ "root_keystore": root_store.id(), "online_keystore": online_store.id(),
                "threshold": quorum.threshold, "custodians": quorum.custodians }),
    )?;
    progress(&format!(
        "keystores created; master keys split {} of {}",
        quorum.threshold, quorum.custodians
    ));

    std::fs::create_dir_all(&plan.shares_out)
        .map_err(|e| Error::io("creating", &plan.shares_out, e))?;
    for (i, c) in plan.custodians.iter().enumerate() {
        let bundle = ShareBundle {
            ceremony: t.id,
            custodian: c.name.clone(),
            index: root_shares[i].index(),
            root: root_shares[i].clone(),
            online: online_shares[i].clone(),
        };
        let path = &share_files[i];
        shares::write(path, &bundle, &c.protection)?;
        let file_bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        t.record(
            "share.sealed",
            &format!("key custodian: {}", c.name),
            &witnesses,
            json!({
                "index": bundle.index,
                "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "file_sha256": sha256_hex(&file_bytes),
                "protection": c.protection.method(),
                "root_share_commitment": sha256_hex(bundle.root.to_text().as_bytes()),
                "online_share_commitment": sha256_hex(bundle.online.to_text().as_bytes()),
            }),
        )?;
        progress(&format!(
            "share {} sealed for {} in {}",
            bundle.index,
            c.name,
            path.display()
        ));
    }

    for s in root_shares.iter().take(usize::from(quorum.threshold)) {
        root_store.submit_share(s.clone())?;
    }
    for s in online_shares.iter().take(usize::from(quorum.threshold)) {
        online_store.submit_share(s.clone())?;
    }
    drop(root_shares);
    drop(online_shares);
    t.record("keystores.unsealed", &admin, &witnesses, json!({}))?;

    let root_key = root_store.generate(KeyKind::EcdsaP384, "root-ca")?;
    let root_signer = HsmSigner::new(&root_store, root_key)?;
    let root_params = ca::root_profile(&plan.organisation)?;
    let root_cert = root_params.self_signed(&root_signer)?;
    let root_der = root_cert.der().to_vec();
    t.record(
        "root.created",
        &admin,
        &witnesses,
        json!({ "key": root_key.id(), "algorithm": "ecdsa_p384",
                "public_key_sha256": sha256_hex(root_signer.spki()),
                "certificate_sha256": sha256_hex(&root_der) }),
    )?;
    progress(&format!(
        "Root CA created; certificate SHA-256 {}",
        sha256_hex(&root_der)
    ));
    let root_issuer = rcgen::Issuer::new(root_params, &root_signer);

    let mut intermediates = Vec::new();
    for (which, label) in [(Ca::Network, "network-ca"), (Ca::Signing, "signing-ca")] {
        let key = online_store.generate(KeyKind::EcdsaP384, label)?;
        let signer = HsmSigner::new(&online_store, key)?;
        let params =
            ca::intermediate_profile(which, &plan.organisation, plan.network_domain.as_deref())?;
        let der = params.signed_by(&signer, &root_issuer)?.der().to_vec();
        t.record(
            &format!("{label}.created"),
            &admin,
            &witnesses,
            json!({ "key": key.id(), "algorithm": "ecdsa_p384",
                    "public_key_sha256": sha256_hex(signer.spki()),
                    "certificate_sha256": sha256_hex(&der), "path_length": 0,
                    "name_constraints": if which == Ca::Network { plan.network_domain.clone() } else { None } }),
        )?;
        progress(&format!(
            "{} created; certificate SHA-256 {}",
            which.name(),
            sha256_hex(&der)
        ));
        intermediates.push((which, key, der));
    }
    let log_key = online_store.generate(KeyKind::EcdsaP256, "transparency-log")?;
    t.record(
        "log-key.created",
        &admin,
        &witnesses,
        json!({ "key": log_key.id(), "algorithm": "ecdsa_p256",
                "public_key_sha256": sha256_hex(&online_store.public_key(&log_key)?) }),
    )?;

    ca::write_file(
        &home.cert_path(Ca::Root),
        ca::der_to_pem(&root_der).as_bytes(),
    )?;
    for (which, _, der) in &intermediates {
        ca::write_file(&home.cert_path(*which), ca::der_to_pem(der).as_bytes())?;
    }
    let state = CaState {
        format: 1,
        share_ceremony: t.id,
        organisation: plan.organisation.clone(),
        network_domain: plan.network_domain.clone(),
        quorum,
        custodians: plan
            .custodians
            .iter()
            .enumerate()
            .map(|(i, c)| CustodianRecord {
                index: u8::try_from(i + 1).unwrap_or(u8::MAX),
                name: c.name.clone(),
                protection: c.protection.method().into(),
            })
            .collect(),
        root_key: root_key.id(),
        network_ca_key: intermediates[0].1.id(),
        signing_ca_key: intermediates[1].1.id(),
        log_key: log_key.id(),
    };
    t.record(
        "ceremony.closed",
        &admin,
        &witnesses,
        json!({ "state_sha256": sha256_hex(&serde_json::to_vec(&state).unwrap_or_default()) }),
    )?;
    t.sign(&root_store, &root_key, &root_der)?;
    let transcript = home.transcripts_dir().join(format!("init-{}.json", t.id));
    ca::write_file(&transcript, &t.to_json())?;
    crate::tlog::Log::open(home)?.append_transcript(&online_store, &state, &t)?;
    let mut certificates = vec![ca_record(Ca::Root, &root_der, root_key.id())?];
    for (which, key, der) in &intermediates {
        certificates.push(ca_record(*which, der, key.id())?);
    }
    let mut keys = vec![("root", root_store.info(root_key.id())?)];
    for info in online_store.list()? {
        keys.push(("online", info));
    }
    root_store.seal();
    online_store.seal();
    progress("ceremony closed; transcript signed with the root key; keystores sealed");
    Ok(Made {
        outcome: InitOutcome {
            transcript,
            share_files: share_files.to_vec(),
            root_sha256: sha256_hex(&root_der),
        },
        state,
        certificates,
        keys,
    })
}

/// Custodians bringing their share files, one at a time, to unseal the keystores.
#[derive(Debug)]
pub struct QuorumSession {
    state: CaState,
    root: SoftwareKeyStore,
    online: SoftwareKeyStore,
    given: Vec<(u8, String)>,
    /// Kept for a reshare, which needs the shares themselves; zeroized on drop.
    bundles: Vec<ShareBundle>,
}

impl QuorumSession {
    pub fn open(home: &Home) -> Result<Self> {
        let state = home.load_state()?;
        Ok(QuorumSession {
            state,
            root: SoftwareKeyStore::open(&home.root_keystore())?,
            online: SoftwareKeyStore::open(&home.online_keystore())?,
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

    /// The unsealed online keystore, or `QuorumNotMet`.
    pub fn online(&self) -> Result<&SoftwareKeyStore> {
        unsealed(&self.online)
    }

    /// The unsealed root keystore, or `QuorumNotMet`.
    pub fn root(&self) -> Result<&SoftwareKeyStore> {
        unsealed(&self.root)
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

/// Who runs a ceremony after the first: the administrator and the witnesses (the custodians
/// present are those whose shares were given).
#[derive(Clone, Debug)]
pub struct Attendance {
    pub administrator: String,
    pub witnesses: Vec<String>,
}

/// The fixed scripts of the later ceremonies; each hash is recorded before the first step.
pub const ROTATE_INTERMEDIATE_SCRIPT: &str = "\
sandi key ceremony: rotate an intermediate CA
1. The administrator opens the ceremony; the custodians present give their shares.
2. A new intermediate key is generated in the online keystore.
3. The Root CA certifies it (path length 0); the old key is deactivated, kept for verification.
4. The ceremony is closed and this transcript is signed with the root key.
";
pub const REVOKE_INTERMEDIATE_SCRIPT: &str = "\
sandi key ceremony: revoke an intermediate CA
1. The administrator opens the ceremony; the custodians present give their shares.
2. The intermediate certificate is revoked and the Root CA signs a new CRL.
3. The ceremony is closed and this transcript is signed with the root key.
";
pub const RESHARE_SCRIPT: &str = "\
sandi key ceremony: custodian turnover (reshare)
1. The administrator opens the ceremony; a quorum of current custodians gives their shares.
2. Fresh shares of the same master keys are dealt to the new custodians and sealed in their files.
3. The new shares replace the old: an old share unseals nothing from now on.
4. The ceremony is closed and this transcript is signed with the root key.
";

impl QuorumSession {
    fn open_ceremony(
        &self,
        kind: &str,
        script: &str,
        who: &Attendance,
        data: &serde_json::Value,
    ) -> Result<(Transcript, String, Vec<String>)> {
        check_people(who, &self.custodians_present())?;
        let admin = format!("ceremony administrator: {}", who.administrator);
        let witnesses: Vec<String> = who
            .witnesses
            .iter()
            .map(|w| format!("witness: {w}"))
            .collect();
        let mut t = Transcript::new(kind);
        t.record(
            "ceremony.opened",
            &admin,
            &witnesses,
            json!({ "script_sha256": sha256_hex(script.as_bytes()), "tool_sha256": tool_sha256(),
                    "administrator": who.administrator, "witnesses": who.witnesses,
                    "custodians_present": self.custodians_present(), "parameters": data }),
        )?;
        Ok((t, admin, witnesses))
    }

    /// Signs the transcript with the root key, writes it and appends its steps to the log.
    fn close_ceremony(
        &self,
        home: &Home,
        mut t: Transcript,
        admin: &str,
        witnesses: &[String],
    ) -> Result<PathBuf> {
        t.record("ceremony.closed", admin, witnesses, json!({}))?;
        let root = self.root()?;
        let root_key = root.info(self.state.root_key)?.handle();
        t.sign(root, &root_key, &home.cert_der(Ca::Root)?)?;
        let path = home
            .transcripts_dir()
            .join(format!("{}-{}.json", t.ceremony, t.id));
        ca::write_file(&path, &t.to_json())?;
        crate::tlog::Log::open(home)?.append_transcript(self.online()?, &self.state, &t)?;
        Ok(path)
    }
}

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

/// Rotates an intermediate: a new key, certified by the root; the old certificate is archived
/// and stays valid for what it signed; the old key is deactivated (kept to verify).
pub async fn rotate_intermediate(
    home: &Home,
    inv: &Inventory,
    session: &mut QuorumSession,
    who: &Attendance,
    which: Ca,
) -> Result<PathBuf> {
    let root = session.root()?;
    let online = session.online()?;
    let old_key = session.state.intermediate_key(which)?;
    let root_der = home.cert_der(Ca::Root)?;
    ca::check_ca_validity(Ca::Root, &root_der)?;
    let (mut t, admin, witnesses) = session.open_ceremony(
        "rotate-intermediate",
        ROTATE_INTERMEDIATE_SCRIPT,
        who,
        &json!({ "ca": which.name() }),
    )?;
    let old_der = home.cert_der(which)?;
    let old_info = online.info(old_key)?;
    let key = online.generate(KeyKind::EcdsaP384, &old_info.label)?;
    let signer = HsmSigner::new(online, key)?;
    let params = ca::intermediate_profile(
        which,
        &session.state.organisation,
        session.state.network_domain.as_deref(),
    )?;
    let root_signer = HsmSigner::new(root, root.info(session.state.root_key)?.handle())?;
    let root_issuer = rcgen::Issuer::from_ca_cert_der(&root_der.into(), root_signer)?;
    let der = params.signed_by(&signer, &root_issuer)?.der().to_vec();
    t.record(
        "intermediate.rotated",
        &admin,
        &witnesses,
        json!({ "ca": which.name(), "key": key.id(), "version": online.info(key.id())?.version,
                "public_key_sha256": sha256_hex(signer.spki()), "certificate_sha256": sha256_hex(&der),
                "previous_certificate_sha256": sha256_hex(&old_der), "previous_key": old_key }),
    )?;
    online.set_state(&old_info.handle(), hsm_shim::KeyState::Deactivated)?;
    let mut record = ca_record(which, &der, key.id())?;
    let previous = inv.latest(&record.subject_id).await?;
    record.version = previous.as_ref().map_or(1, |p| p.version + 1);
    if let Some(p) = &previous {
        ca::write_file(
            &home
                .ca_dir()
                .join("archive")
                .join(format!("{}.pem", p.serial)),
            ca::der_to_pem(&old_der).as_bytes(),
        )?;
    }
    inv.insert_version(&record).await?;
    inv.record_key("online", &online.info(key.id())?).await?;
    inv.record_key("online", &online.info(old_key)?).await?;
    ca::write_file(&home.cert_path(which), ca::der_to_pem(&der).as_bytes())?;
    let mut state = session.state.clone();
    match which {
        Ca::Network => state.network_ca_key = key.id(),
        _ => state.signing_ca_key = key.id(),
    }
    home.save_state(&state)?;
    session.state = state;
    session.close_ceremony(home, t, &admin, &witnesses)
}

/// Revokes an intermediate: the root signs a CRL listing it (HOME/crl/root.crl and .crl.pem).
pub async fn revoke_intermediate(
    home: &Home,
    inv: &Inventory,
    session: &QuorumSession,
    who: &Attendance,
    which: Ca,
    reason: &str,
) -> Result<PathBuf> {
    let root = session.root()?;
    let root_der = home.cert_der(Ca::Root)?;
    let (mut t, admin, witnesses) = session.open_ceremony(
        "revoke-intermediate",
        REVOKE_INTERMEDIATE_SCRIPT,
        who,
        &json!({ "ca": which.name(), "reason": reason }),
    )?;
    session.state.intermediate_key(which)?;
    let der = home.cert_der(which)?;
    let serial = {
        let (_, c) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| Error::Certificate(e.to_string()))?;
        inventory::normalise_serial(&c.tbs_certificate.raw_serial_as_string())
    };
    crate::revoke::check_reason(reason)?;
    let record = inv
        .revoke(&serial, reason, time::OffsetDateTime::now_utc())
        .await?;
    let root_signer = HsmSigner::new(root, root.info(session.state.root_key)?.handle())?;
    let crl = crate::revoke::sign_crl(
        home,
        inv,
        Ca::Root,
        &root_der,
        root_signer,
        time::Duration::days(30),
    )
    .await?;
    t.record(
        "intermediate.revoked",
        &admin,
        &witnesses,
        json!({ "ca": which.name(), "serial": record.serial, "reason": reason,
                "root_crl_number": crl.number, "root_crl_sha256": sha256_hex(&crl.der) }),
    )?;
    session.close_ceremony(home, t, &admin, &witnesses)
}

/// Custodian turnover: deals fresh shares of both master keys to the new custodians (a new M
/// and N allowed), writes their files, then makes the new shares the only valid ones.
#[allow(clippy::too_many_lines)] // the script's steps in order
pub fn reshare(
    home: &Home,
    session: &mut QuorumSession,
    who: &Attendance,
    custodians: &[CustodianSpec],
    threshold: u8,
    shares_out: &Path,
) -> Result<(PathBuf, Vec<PathBuf>)> {
    let quorum = Quorum {
        threshold,
        custodians: u8::try_from(custodians.len())
            .map_err(|_| Error::Roles("at most 255 custodians".into()))?,
    }
    .validate(hsm_shim::Mode::Production)?;
    session.root()?;
    let mut names: Vec<String> = vec![norm(&who.administrator)];
    for n in custodians.iter().map(|c| &c.name).chain(&who.witnesses) {
        if names.contains(&norm(n)) {
            return Err(Error::Roles(format!(
                "{n} cannot hold two roles in one ceremony"
            )));
        }
        names.push(norm(n));
    }
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
    let (mut t, admin, witnesses) = session.open_ceremony(
        "reshare",
        RESHARE_SCRIPT,
        who,
        &json!({ "threshold": quorum.threshold, "custodians": quorum.custodians, "left": left, "joined": joined }),
    )?;
    let files: Vec<PathBuf> = custodians
        .iter()
        .enumerate()
        .map(|(i, c)| shares_out.join(format!("custodian-{}-{}.age", i + 1, slug(&c.name))))
        .collect();
    if let Some(existing) = files.iter().find(|p| p.exists()) {
        return Err(Error::InvalidInput(format!(
            "{} already exists",
            existing.display()
        )));
    }
    let root_shares: Vec<_> = session.bundles.iter().map(|b| b.root.clone()).collect();
    let online_shares: Vec<_> = session.bundles.iter().map(|b| b.online.clone()).collect();
    let root_plan = session.root.prepare_reshare(&root_shares, quorum)?;
    let online_plan = session.online.prepare_reshare(&online_shares, quorum)?;
    std::fs::create_dir_all(shares_out).map_err(|e| Error::io("creating", shares_out, e))?;
    let written = (|| -> Result<()> {
        for (i, c) in custodians.iter().enumerate() {
            let bundle = ShareBundle {
                ceremony: t.id,
                custodian: c.name.clone(),
                index: root_plan.shares[i].index(),
                root: root_plan.shares[i].clone(),
                online: online_plan.shares[i].clone(),
            };
            shares::write(&files[i], &bundle, &c.protection)?;
            let bytes = std::fs::read(&files[i]).map_err(|e| Error::io("reading", &files[i], e))?;
            t.record(
                "share.sealed",
                &format!("key custodian: {}", c.name),
                &witnesses,
                json!({ "index": bundle.index, "file_sha256": sha256_hex(&bytes), "protection": c.protection.method(),
                        "root_share_commitment": sha256_hex(bundle.root.to_text().as_bytes()),
                        "online_share_commitment": sha256_hex(bundle.online.to_text().as_bytes()) }),
            )?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        for f in &files {
            let _ = std::fs::remove_file(f);
        }
        return Err(e);
    }
    // Every new file exists: only now do the new shares replace the old.
    session.root.commit_reshare(root_plan)?;
    session.online.commit_reshare(online_plan)?;
    let mut state = session.state.clone();
    state.share_ceremony = t.id;
    state.quorum = quorum;
    state.custodians = custodians
        .iter()
        .enumerate()
        .map(|(i, c)| CustodianRecord {
            index: u8::try_from(i + 1).unwrap_or(u8::MAX),
            name: c.name.clone(),
            protection: c.protection.method().into(),
        })
        .collect();
    home.save_state(&state)?;
    t.record(
        "shares.replaced",
        &admin,
        &witnesses,
        json!({ "share_ceremony": t.id }),
    )?;
    session.state = state;
    let path = session.close_ceremony(home, t, &admin, &witnesses)?;
    Ok((path, files))
}
