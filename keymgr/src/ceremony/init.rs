//! The init ceremony: the root of trust created once, step by step as [`INIT_SCRIPT`] reads.

use std::path::PathBuf;

use hsm_shim::{CustodianShare, KeyHandle, KeyKind, KeyStore, Quorum, SoftwareKeyStore};
use serde_json::json;

use super::{
    CustodianSpec, Minutes, Proceedings, custodian_records, norm, production_quorum,
    refuse_existing, seal_share_file, share_file_paths, tool_sha256,
};
use crate::ca::{self, Ca, CaState, Home};
use crate::countersign::Role;
use crate::inventory::{self, CertRecord, CertState, Inventory};
use crate::shares::ShareBundle;
use crate::signer::HsmSigner;
use crate::transcript::sha256_hex;
use crate::{Error, Result};

/// The fixed script of the init ceremony; its hash is recorded before the first step.
pub const INIT_SCRIPT: &str = "\
sandi key ceremony: initialisation
1. The ceremony administrator opens the ceremony; roles, the organisation's OID arc and
   the publication URL are read out and recorded.
2. Two keystores are created (root, online); each master key is split M-of-N.
3. Each custodian's shares are sealed in a file only that custodian can open.
4. The keystores are unsealed with the freshly dealt shares.
5. The Root CA key (ECDSA P-384) is generated and its certificate self-signed.
6. The Network CA and Signing CA keys are generated and certified by the root.
7. The transparency-log key is generated.
8. The Root CA signs its first CRL (nothing revoked).
9. The ceremony is closed and this transcript is signed with the root key.
";

/// Everything the init ceremony needs.
#[derive(Debug)]
pub struct InitPlan {
    pub organisation: String,
    pub network_domain: Option<String>,
    /// The organisation's OID arc for sandi's own extensions (see [`crate::oid_arc`];
    /// [`crate::oid_arc::DEV_OID_ARC`] for development).
    pub oid_arc: String,
    /// The `http://` base URL where CRLs, CA certificates and OCSP answers will be published
    /// (see [`crate::publication`]); `None` puts no such pointers in the certificates.
    pub publication_url: Option<String>,
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

/// Runs the init ceremony and records the CA certificates and keys in the inventory. On
/// failure everything it created is removed again. Its berita acara names no place and no
/// keys: nobody can countersign it (see [`init_with_minutes`]).
pub async fn init(
    home: &Home,
    inv: &Inventory,
    plan: &InitPlan,
    progress: &mut dyn FnMut(&str),
) -> Result<InitOutcome> {
    init_with_minutes(home, inv, plan, &Minutes::default(), progress).await
}

/// [`init`], with the place and the SSH keys with which the people present will countersign
/// the transcript; the custodians' keys are kept in the CA state.
pub async fn init_with_minutes(
    home: &Home,
    inv: &Inventory,
    plan: &InitPlan,
    minutes: &Minutes,
    progress: &mut dyn FnMut(&str),
) -> Result<InitOutcome> {
    let (quorum, share_files) = check_plan(home, plan)?;
    // The ceremony signs root CRL number 1: an inventory that numbered root CRLs before
    // belongs to another CA, and is refused before anything is made.
    if inv.last_crl_number(Ca::Root).await?.is_some() {
        return Err(Error::InvalidInput(
            "the inventory already numbered root CRLs: init needs a new inventory".into(),
        ));
    }
    // The token of a home whose online keys go on one (`crate::online::token`), opened with its PIN
    // before anything is made: a wrong PIN source refuses the ceremony with nothing written.
    let token = home.open_online_token()?;
    let opening = minutes.opening(&people(plan), &minutes.signing_keys)?;
    let mut result = run_init(
        home,
        (plan, minutes, opening),
        quorum,
        &share_files,
        token.as_deref(),
        progress,
    );
    if let Ok(made) = &result {
        if let Err(e) = register(home, inv, made).await {
            result = Err(e);
        }
    }
    if result.is_err() {
        remove_what_was_made(home, &share_files);
    }
    result.map(|m| m.outcome)
}

/// The number of the root CRL the init ceremony signs.
const FIRST_ROOT_CRL: i64 = 1;

/// Everything that can be refused before anything is created: the roles, the quorum, the
/// organisation's name, its OID arc and publication URL, a home that is already a CA, share
/// files that already exist. Returns the quorum and where the share files go.
fn check_plan(home: &Home, plan: &InitPlan) -> Result<(Quorum, Vec<PathBuf>)> {
    check_roles(plan)?;
    let quorum = production_quorum(plan.threshold, plan.custodians.len())?;
    ca::check_name("organisation", &plan.organisation)?;
    crate::oid_arc::check(&plan.oid_arc)?;
    if let Some(url) = &plan.publication_url {
        if crate::publication::check_base_url(url)? != *url {
            return Err(Error::InvalidInput(format!(
                "publication URL {url:?}: give it without a trailing slash"
            )));
        }
    }
    if home.is_initialised() || home.root_keystore().exists() || home.online_keystore().exists() {
        return Err(Error::AlreadyInitialised(home.dir().to_path_buf()));
    }
    let share_files = share_file_paths(&plan.custodians, &plan.shares_out);
    refuse_existing(&share_files)?;
    Ok((quorum, share_files))
}

/// Everyone in the ceremony, in the order the berita acara lists them.
fn people(plan: &InitPlan) -> Vec<(Role, &str)> {
    let mut people = vec![(Role::Administrator, plan.administrator.as_str())];
    people.extend(
        plan.custodians
            .iter()
            .map(|c| (Role::Custodian, c.name.as_str())),
    );
    people.extend(plan.witnesses.iter().map(|w| (Role::Witness, w.as_str())));
    people
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

/// The inventory in one transaction, then the state file: its presence makes the home a CA.
async fn register(home: &Home, inv: &Inventory, made: &Made) -> Result<()> {
    inv.register(&made.certificates, &made.keys).await?;
    // The number the ceremony's root CRL carries is taken, so the next root CRL is newer.
    let number = inv.next_crl_number(Ca::Root).await?;
    if number != FIRST_ROOT_CRL {
        return Err(Error::InvalidInput(format!(
            "the inventory already numbered {} root CRLs: init needs a new inventory",
            number - 1
        )));
    }
    home.save_state(&made.state)
}

/// Nothing half-made stays behind: no keystore without its shares, no shares without a CA.
fn remove_what_was_made(home: &Home, share_files: &[PathBuf]) {
    for p in share_files {
        let _ = std::fs::remove_file(p);
    }
    for d in [
        home.root_keystore(),
        home.online_keystore(),
        home.ca_dir(),
        home.transcripts_dir(),
        home.log_dir(),
        home.dir().join("crl"),
    ] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// What run_init made, before it is registered.
struct Made {
    outcome: InitOutcome,
    state: CaState,
    certificates: Vec<CertRecord>,
    keys: Vec<(&'static str, hsm_shim::KeyInfo)>,
}

/// The script, step by step; each step writes its entries in the transcript.
fn run_init(
    home: &Home,
    plan: (&InitPlan, &Minutes, serde_json::Value),
    quorum: Quorum,
    share_files: &[PathBuf],
    token: Option<&hsm_shim::Pkcs11KeyStore>,
    progress: &mut dyn FnMut(&str),
) -> Result<Made> {
    let mut ceremony = InitCeremony::open(home, plan, quorum, share_files, progress)?;
    let dealt = ceremony.create_keystores()?;
    ceremony.seal_shares(&dealt)?;
    let keystores = ceremony.unseal_keystores(dealt)?;
    let online: &dyn KeyStore = match token {
        Some(t) => {
            let settings = home.online_pkcs11()?;
            ceremony.proceedings.record(
                "online-token.opened",
                json!({ "token_label": settings.as_ref().map(|s| s.token_label.clone()),
                        "module": settings.as_ref().map(|s| s.module.display().to_string()) }),
            )?;
            (ceremony.progress)("online CA keys go on the PKCS#11 token (opened with its PIN)");
            t
        }
        None => &keystores.online,
    };
    let root = ceremony.create_root(&keystores.root)?;
    let intermediates = ceremony.create_intermediates(online, &root)?;
    let log_key = ceremony.create_log_key(online)?;
    ceremony.close(&keystores, online, &root, &intermediates, &log_key)
}

/// The init ceremony under way.
struct InitCeremony<'a> {
    home: &'a Home,
    plan: &'a InitPlan,
    minutes: &'a Minutes,
    quorum: Quorum,
    share_files: &'a [PathBuf],
    proceedings: Proceedings,
    progress: &'a mut dyn FnMut(&str),
}

/// The keystores as created, with the shares dealt for them.
struct Dealt {
    root: SoftwareKeyStore,
    root_shares: Vec<CustodianShare>,
    online: SoftwareKeyStore,
    online_shares: Vec<CustodianShare>,
}

/// The unsealed keystores; the shares that unsealed them are gone.
struct Keystores {
    root: SoftwareKeyStore,
    online: SoftwareKeyStore,
}

/// The Root CA: its key, its self-signed certificate, and the issuer that certifies the
/// intermediates.
struct RootCa<'a> {
    key: KeyHandle,
    der: Vec<u8>,
    issuer: rcgen::Issuer<'static, HsmSigner<'a>>,
}

/// An intermediate CA: its key and its certificate, signed by the root.
struct Intermediate {
    which: Ca,
    key: KeyHandle,
    der: Vec<u8>,
}

impl<'a> InitCeremony<'a> {
    /// Step 1: the ceremony is opened; the script, the tool and the roles are recorded.
    fn open(
        home: &'a Home,
        (plan, minutes, opening): (&'a InitPlan, &'a Minutes, serde_json::Value),
        quorum: Quorum,
        share_files: &'a [PathBuf],
        progress: &'a mut dyn FnMut(&str),
    ) -> Result<Self> {
        let mut proceedings = Proceedings::new("init", &plan.administrator, &plan.witnesses);
        let mut data = json!({
                "script_sha256": sha256_hex(INIT_SCRIPT.as_bytes()),
                "tool_sha256": tool_sha256(),
                "organisation": plan.organisation,
                "network_domain": plan.network_domain,
                "oid_arc": plan.oid_arc,
                "publication_url": plan.publication_url,
                "quorum": { "threshold": quorum.threshold, "custodians": quorum.custodians },
                "administrator": plan.administrator,
                "custodians": plan.custodians.iter().enumerate()
                    .map(|(i, c)| json!({"index": i + 1, "name": c.name, "protection": c.protection.method()}))
                    .collect::<Vec<_>>(),
                "witnesses": plan.witnesses,
        });
        super::merge(&mut data, opening);
        proceedings.record("ceremony.opened", data)?;
        progress("ceremony opened; roles recorded");
        Ok(InitCeremony {
            home,
            plan,
            minutes,
            quorum,
            share_files,
            proceedings,
            progress,
        })
    }

    /// Step 2: the root and online keystores, each master key split M-of-N.
    fn create_keystores(&mut self) -> Result<Dealt> {
        let (root, root_shares) =
            SoftwareKeyStore::create(&self.home.root_keystore(), self.quorum)?;
        let (online, online_shares) =
            SoftwareKeyStore::create(&self.home.online_keystore(), self.quorum)?;
        self.proceedings.record(
            "keystores.created",
            json!({ "root_keystore": root.id(), "online_keystore": online.id(),
                    "threshold": self.quorum.threshold, "custodians": self.quorum.custodians }),
        )?;
        (self.progress)(&format!(
            "keystores created; master keys split {} of {}",
            self.quorum.threshold, self.quorum.custodians
        ));
        Ok(Dealt {
            root,
            root_shares,
            online,
            online_shares,
        })
    }

    /// Step 3: each custodian's shares of both keystores sealed in their own file.
    fn seal_shares(&mut self, dealt: &Dealt) -> Result<()> {
        let shares_out = &self.plan.shares_out;
        std::fs::create_dir_all(shares_out).map_err(|e| Error::io("creating", shares_out, e))?;
        for (i, c) in self.plan.custodians.iter().enumerate() {
            let bundle = ShareBundle {
                ceremony: self.proceedings.id(),
                custodian: c.name.clone(),
                index: dealt.root_shares[i].index(),
                root: dealt.root_shares[i].clone(),
                online: dealt.online_shares[i].clone(),
            };
            let path = &self.share_files[i];
            let file_sha256 = seal_share_file(path, &bundle, &c.protection)?;
            self.proceedings.record_by_custodian(
                &c.name,
                "share.sealed",
                json!({
                    "index": bundle.index,
                    "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
                    "file_sha256": file_sha256,
                    "protection": c.protection.method(),
                    "root_share_commitment": sha256_hex(bundle.root.to_text().as_bytes()),
                    "online_share_commitment": sha256_hex(bundle.online.to_text().as_bytes()),
                }),
            )?;
            (self.progress)(&format!(
                "share {} sealed for {} in {}",
                bundle.index,
                c.name,
                path.display()
            ));
        }
        Ok(())
    }

    /// Step 4: both keystores unsealed with a quorum of the shares just dealt, which are
    /// dropped (zeroized) at once: from here on only the custodians' files hold them.
    fn unseal_keystores(&mut self, dealt: Dealt) -> Result<Keystores> {
        let threshold = usize::from(self.quorum.threshold);
        for s in dealt.root_shares.iter().take(threshold) {
            dealt.root.submit_share(s.clone())?;
        }
        for s in dealt.online_shares.iter().take(threshold) {
            dealt.online.submit_share(s.clone())?;
        }
        let Dealt {
            root,
            root_shares,
            online,
            online_shares,
        } = dealt;
        drop(root_shares);
        drop(online_shares);
        self.proceedings.record("keystores.unsealed", json!({}))?;
        Ok(Keystores { root, online })
    }

    /// Step 5: the Root CA key (ECDSA P-384) and its self-signed certificate.
    fn create_root<'k>(&mut self, root_store: &'k SoftwareKeyStore) -> Result<RootCa<'k>> {
        let key = root_store.generate(KeyKind::EcdsaP384, "root-ca")?;
        let signer = HsmSigner::new(root_store, key)?;
        let mut params = ca::root_profile(&self.plan.organisation)?;
        ca::identify_key(&mut params, &signer);
        let der = params.self_signed(&signer)?.der().to_vec();
        self.proceedings.record(
            "root.created",
            json!({ "key": key.id(), "algorithm": "ecdsa_p384",
                    "public_key_sha256": sha256_hex(signer.spki()),
                    "certificate_sha256": sha256_hex(&der) }),
        )?;
        (self.progress)(&format!(
            "Root CA created; certificate SHA-256 {}",
            sha256_hex(&der)
        ));
        Ok(RootCa {
            key,
            der,
            issuer: rcgen::Issuer::new(params, signer),
        })
    }

    /// Step 6: the Network CA and the Signing CA, keys in the online keystore, certified by
    /// the root (path length 0; the Network CA constrained to the network's domain).
    fn create_intermediates(
        &mut self,
        online: &dyn KeyStore,
        root: &RootCa<'_>,
    ) -> Result<Vec<Intermediate>> {
        let plan = self.plan;
        let mut intermediates = Vec::new();
        for (which, label) in [(Ca::Network, "network-ca"), (Ca::Signing, "signing-ca")] {
            let key = online.generate(KeyKind::EcdsaP384, label)?;
            let signer = HsmSigner::new(online, key)?;
            let mut params = ca::intermediate_profile(
                which,
                &plan.organisation,
                plan.network_domain.as_deref(),
            )?;
            ca::identify_key(&mut params, &signer);
            crate::publication::apply(&mut params, plan.publication_url.as_deref(), Ca::Root)?;
            let der = params.signed_by(&signer, &root.issuer)?.der().to_vec();
            self.proceedings.record(
                &format!("{label}.created"),
                json!({ "key": key.id(), "algorithm": "ecdsa_p384",
                        "public_key_sha256": sha256_hex(signer.spki()),
                        "certificate_sha256": sha256_hex(&der), "path_length": 0,
                        "name_constraints": if which == Ca::Network { plan.network_domain.clone() } else { None } }),
            )?;
            (self.progress)(&format!(
                "{} created; certificate SHA-256 {}",
                which.name(),
                sha256_hex(&der)
            ));
            intermediates.push(Intermediate { which, key, der });
        }
        Ok(intermediates)
    }

    /// Step 7: the key that signs the transparency log's tree heads.
    fn create_log_key(&mut self, online: &dyn KeyStore) -> Result<KeyHandle> {
        let log_key = online.generate(KeyKind::EcdsaP256, "transparency-log")?;
        self.proceedings.record(
            "log-key.created",
            json!({ "key": log_key.id(), "algorithm": "ecdsa_p256",
                    "public_key_sha256": sha256_hex(&online.public_key(&log_key)?) }),
        )?;
        Ok(log_key)
    }

    /// Steps 8 and 9: the certificates and the root's first CRL written, the ceremony closed
    /// over the CA state it made, the transcript signed with the root key, written and logged,
    /// the keystores sealed again.
    fn close(
        mut self,
        keystores: &Keystores,
        online: &dyn KeyStore,
        root: &RootCa<'_>,
        intermediates: &[Intermediate],
        log_key: &KeyHandle,
    ) -> Result<Made> {
        let home = self.home;
        ca::write_file(
            &home.cert_path(Ca::Root),
            ca::der_to_pem(&root.der).as_bytes(),
        )?;
        for i in intermediates {
            ca::write_file(&home.cert_path(i.which), ca::der_to_pem(&i.der).as_bytes())?;
        }
        // The root's first CRL (number 1, nothing revoked): a verifier holding it knows the
        // intermediates stand, which a signature's long-term validation data needs.
        let crl = crate::revoke::signed_crl(
            &root.der,
            &root.issuer,
            FIRST_ROOT_CRL,
            Vec::new(),
            crate::revoke::ROOT_CRL_VALIDITY,
        )?;
        crate::revoke::write_crl(home, Ca::Root, &crl)?;
        self.proceedings.record(
            "root-crl.signed",
            json!({ "number": FIRST_ROOT_CRL, "revoked": 0, "sha256": sha256_hex(&crl) }),
        )?;
        let state = self.ca_state(root, intermediates, log_key);
        self.proceedings.record(
            "ceremony.closed",
            json!({ "state_sha256": sha256_hex(&serde_json::to_vec(&state).unwrap_or_default()) }),
        )?;
        let mut t = self.proceedings.transcript;
        t.sign(&keystores.root, &root.key, &root.der)?;
        let transcript = home.transcripts_dir().join(format!("init-{}.json", t.id));
        ca::write_file(&transcript, &t.to_json())?;
        crate::tlog::Log::open(home)?.append_transcript(online, &state, &t)?;
        let certificates = ca_records(root, intermediates)?;
        let mut keys = vec![("root", keystores.root.info(root.key.id())?)];
        for info in online.list()? {
            keys.push(("online", info));
        }
        keystores.root.seal();
        keystores.online.seal();
        (self.progress)("ceremony closed; transcript signed with the root key; keystores sealed");
        Ok(Made {
            outcome: InitOutcome {
                transcript,
                share_files: self.share_files.to_vec(),
                root_sha256: sha256_hex(&root.der),
            },
            state,
            certificates,
            keys,
        })
    }

    /// The state file that makes the home a CA.
    fn ca_state(
        &self,
        root: &RootCa<'_>,
        intermediates: &[Intermediate],
        log_key: &KeyHandle,
    ) -> CaState {
        let plan = self.plan;
        CaState {
            format: 1,
            share_ceremony: self.proceedings.id(),
            organisation: plan.organisation.clone(),
            network_domain: plan.network_domain.clone(),
            quorum: self.quorum,
            custodians: custodian_records(&plan.custodians, &self.minutes.signing_keys),
            root_key: root.key.id(),
            network_ca_key: intermediates[0].key.id(),
            signing_ca_key: intermediates[1].key.id(),
            log_key: log_key.id(),
            oid_arc: plan.oid_arc.clone(),
            publication_url: plan.publication_url.clone(),
        }
    }
}

/// The inventory's records of the root and the intermediates.
fn ca_records(root: &RootCa<'_>, intermediates: &[Intermediate]) -> Result<Vec<CertRecord>> {
    let mut certificates = vec![ca_record(Ca::Root, &root.der, root.key.id())?];
    for i in intermediates {
        certificates.push(ca_record(i.which, &i.der, i.key.id())?);
    }
    Ok(certificates)
}

/// A CA certificate's inventory record, version 1 unless the caller says otherwise.
pub(super) fn ca_record(ca: Ca, der: &[u8], key: hsm_shim::KeyId) -> Result<CertRecord> {
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
