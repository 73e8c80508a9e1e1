//! `docsvc init`: a production node's data directory made in a key ceremony.

use std::path::{Path, PathBuf};

use hsm_shim::KeyStore;
use serde_json::json;

use super::{
    Custodian, Custodians, Minutes, Proceedings, Undo, check_name, check_outside, check_people,
    create_node_keys, create_out_dir, opening, roster, seal_shares, share_paths,
};
use crate::node::{Config, Layout};
use crate::store::Store;
use crate::{Error, Result};

/// The fixed script of a node's init ceremony; its hash is the transcript's first step.
pub const INIT_SCRIPT: &str = "\
sandi node key ceremony: initialisation (docsvc init)
1. The administrator opens the ceremony before the witnesses and names the custodians and the threshold.
2. The node keystore is created and its master key split among the custodians.
3. Each custodian's share is encrypted to that custodian's age recipient, outside the data directory.
4. The node's keys (TLS, audit, archive) are generated and its certificate request written; with a PKCS#11 token, the signing keys (audit, officials') are made on the token.
5. The keystore is sealed: from now on only a quorum of custodians opens it.
6. The ceremony is closed and this transcript is signed with the node's audit key.
7. Each custodian and witness countersigns this transcript with their own SSH key.
";

/// What `docsvc init` is asked to make.
#[derive(Clone, Debug)]
pub struct InitPlan {
    pub node_id: String,
    pub organisation: String,
    /// The agencies (perangkat daerah) the node serves.
    pub agencies: Vec<String>,
    pub listen: String,
    /// `sqlite://…` (relative paths under the data directory) or `postgres://…`; the database
    /// must not hold officials, letters or log entries yet.
    pub database_url: String,
    /// A policy directory to install instead of the shipped default.
    pub policy: Option<PathBuf>,
    /// The organisation's OID arc (keymgr's `state.json` `oid_arc`); the development arc when
    /// absent.
    pub oid_arc: Option<String>,
    pub administrator: String,
    pub custodians: Vec<Custodian>,
    pub witnesses: Vec<String>,
    pub threshold: u8,
    /// Where the custodians' share files go: outside the data directory.
    pub shares_out: PathBuf,
    /// The online CA the node enrols with.
    pub ca: Option<crate::node::ca::CaConfig>,
    /// keymgr's issuance log's verifier key (`HOME/log/note.vkey`), read out like the root's
    /// fingerprint: required with `ca`, whose publication serves the log. Written to
    /// `[witness]`, so that the node takes no certificate outside keymgr's log.
    pub issuance_log_key: Option<String>,
    /// A PKCS#11 token for the node's signing keys (`[keystore.pkcs11]` in node.toml): the
    /// audit key is made on it now, officials' and applications' signing keys later; the
    /// X25519 and wrapping keys stay in the sealed software keystore.
    pub pkcs11: Option<hsm_shim::Pkcs11Settings>,
    /// The place and the SSH keys the people present countersign the transcript with.
    pub minutes: Minutes,
}

/// What the ceremony made.
#[derive(Debug)]
pub struct InitOutcome {
    pub layout: Layout,
    /// One per custodian, in the order given.
    pub share_files: Vec<PathBuf>,
    /// The node's certificate request (PEM) for the Network CA.
    pub csr: PathBuf,
    /// The signed transcript, in the data directory and beside the shares.
    pub transcript: PathBuf,
    pub transcript_copy: PathBuf,
}

/// Checks what can be checked before anything is written.
fn check_plan(dir: &Path, plan: &InitPlan) -> Result<(hsm_shim::Quorum, Vec<PathBuf>)> {
    check_node_id(&plan.node_id)?;
    check_name("organisation", &plan.organisation)?;
    for a in &plan.agencies {
        check_node_id(a).map_err(|_| {
            Error::invalid(
                "agency",
                format!("agency {a:?}: lowercase letters, digits, '-' and '_', 1 to 64"),
            )
        })?;
    }
    let administrator = check_name("administrator", &plan.administrator)?;
    let witnesses = plan
        .witnesses
        .iter()
        .map(|w| check_name("witness", w))
        .collect::<Result<Vec<_>>>()?;
    let quorum = check_people(&administrator, &plan.custodians, &witnesses, plan.threshold)?;
    opening(json!({}), &plan.minutes, &people(plan))?;
    if let Some(p11) = &plan.pkcs11 {
        p11.validate()?;
    }
    if let Some(arc) = &plan.oid_arc {
        keymgr::oid_arc::check(arc)
            .map_err(|e| Error::invalid("OID arc", format!("--oid-arc: {e}")))?;
    }
    if !(plan.database_url.starts_with("sqlite:")
        || plan.database_url.starts_with("postgres://")
        || plan.database_url.starts_with("postgresql://"))
    {
        return Err(Error::invalid(
            "database URL",
            "the database URL must be sqlite:… or postgres://…",
        ));
    }
    if let Some(ca) = &plan.ca {
        ca.check()?;
        issuance_log(plan)?;
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Conflict(format!(
                    "{} is not empty: a node is made in a new (or empty) directory",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("reading", dir, e)),
    }
    check_outside(&plan.shares_out, dir)?;
    let files = share_paths(&plan.shares_out, &plan.node_id, "init", &plan.custodians);
    if let Some(existing) = files.iter().find(|p| p.exists()) {
        return Err(Error::Conflict(format!(
            "{} already exists: a share file is never overwritten",
            existing.display()
        )));
    }
    Ok((quorum, files))
}

/// Everyone in the ceremony, as the berita acara lists them.
fn people(plan: &InitPlan) -> Vec<(keymgr::countersign::Role, &str)> {
    roster(
        &plan.administrator,
        plan.custodians.iter().map(|c| c.name.as_str()),
        &plan.witnesses,
    )
}

/// A node id or agency code: lowercase ASCII letters, digits, '-' and '_', 1 to 64.
fn check_node_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "node id",
            format!("node id {id:?}: lowercase letters, digits, '-' and '_', 1 to 64"),
        ))
    }
}

/// Creates the data directory and the output directory; what the ceremony will put in them
/// is removed again on failure.
fn prepare_dirs(dir: &Path, plan: &InitPlan) -> Result<Undo> {
    let mut undo = Undo::default();
    if dir.exists() {
        // Empty (checked): what the ceremony puts in it goes again on failure.
        for sub in [
            "keystore",
            "tls-keystore",
            "tls",
            "ca",
            "policy",
            "ceremonies",
        ] {
            undo.dir(&dir.join(sub));
        }
        for f in [
            "node.toml",
            "keys.json",
            "custodians.json",
            "audit-key.der",
            crate::store::integrity::KEY_FILE,
        ] {
            undo.file(&dir.join(f));
        }
    } else {
        undo.dir(dir);
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    crate::private_files::restrict_dir(dir)?;
    create_out_dir(&plan.shares_out, &mut undo)?;
    Ok(undo)
}

/// Opens (and migrates) the node's database, which must hold no officials, letters or log
/// entries; a SQLite file it creates is removed again on failure.
async fn open_database(url: &str, undo: &mut Undo) -> Result<Store> {
    if let Some(p) = sqlite_file(url) {
        for suffix in ["", "-wal", "-shm"] {
            undo.file(&PathBuf::from(format!("{}{suffix}", p.display())));
        }
    }
    let store = Store::open(url).await?;
    let in_use = crate::store::backup::rows_in_use(&store).await?;
    if in_use > 0 {
        return Err(Error::Conflict(format!(
            "the database already holds {in_use} officials, letters or log entries: \
             a new node needs an empty database"
        )));
    }
    Ok(store)
}

/// Step: the node's certificate request (its TLS key, its id) written to `tls/node.csr`;
/// returns the request (DER) and the TLS key's SubjectPublicKeyInfo.
fn node_request(
    layout: &Layout,
    keys: &crate::node::NodeKeys,
    node_id: &str,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let tls_store = crate::node::open_tls_keystore(layout)?;
    let tls_spki = tls_store.public_key(&tls_store.info(keys.tls)?.handle())?;
    let csr = crate::crypto::tls::csr_for(tls_store.as_ref(), keys.tls, node_id)?;
    crate::node::write_new(
        &layout.csr(),
        keymgr::ca::pem_encode("CERTIFICATE REQUEST", &csr).as_bytes(),
    )?;
    Ok((csr, tls_spki))
}

/// Makes a production node in `dir` (absent or empty): a ceremony before the witnesses, with
/// the shares dealt to the custodians in `plan.shares_out`. On any failure nothing it wrote
/// stays (a PostgreSQL database, once migrated, stays migrated and empty).
pub async fn init(
    dir: &Path,
    plan: &InitPlan,
    progress: &mut dyn FnMut(&str),
) -> Result<InitOutcome> {
    let (quorum, files) = check_plan(dir, plan)?;
    // The token before anything is written: a PIN source that does not work, or a PIN the
    // token refuses, leaves no directory behind.
    let token = plan
        .pkcs11
        .as_ref()
        .map(crate::node::open_token)
        .transpose()?;
    let on_token = plan.pkcs11.as_ref().map(|p| p.token_label.clone());
    let mut undo = prepare_dirs(dir, plan)?;
    let layout = Layout::new(dir);

    progress("configuration and policy");
    let config = write_config(&layout, plan)?;
    let url = config.database_url(&layout);
    let store = open_database(&url, &mut undo).await?;

    let mut c = Proceedings::open(
        "node-init",
        INIT_SCRIPT,
        &plan.administrator,
        &plan.witnesses,
    )?;
    let opened = json!({
        "node_id": plan.node_id, "organisation": plan.organisation,
        "agencies": plan.agencies, "threshold": quorum.threshold,
        "custodians": plan.custodians.iter().map(|c| &c.name).collect::<Vec<_>>(),
        "database": if url.starts_with("sqlite:") { "sqlite" } else { "postgresql" },
    });
    c.record(
        "ceremony.opened",
        opening(opened, &plan.minutes, &people(plan))?,
    )?;

    progress(&format!(
        "node keystore, sealed by {} of {} custodians",
        quorum.threshold, quorum.custodians
    ));
    if let Some(label) = &on_token {
        progress(&format!(
            "signing keys on PKCS#11 token {label}; X25519 and wrapping keys in the sealed software keystore"
        ));
    }
    let (made, keys, shares) = create_node_keys(&layout, quorum, token)?;
    let (keystore, software) = (made.keystore, made.software);
    c.record(
        "keystore.created",
        json!({ "keystore": software.id(), "threshold": quorum.threshold, "custodians": quorum.custodians,
                "signing_keys": on_token.as_ref().map_or_else(
                    || "software keystore (sealed)".to_owned(),
                    |l| format!("PKCS#11 token {l}")),
                "pkcs11_token": on_token }),
    )?;

    progress("shares encrypted to each custodian's age recipient");
    let records = seal_shares(&mut c, &mut undo, &plan.custodians, &shares, &files)?;
    drop(shares);

    progress("node keys and certificate request");
    let (csr, tls_spki) = node_request(&layout, &keys, &plan.node_id)?;
    // The MAC key of sessions and officials' rows, made now while the keystore is open.
    store
        .integrity()
        .set_key(crate::store::integrity::load_or_create(
            layout.dir(),
            keystore.as_ref(),
        )?);
    store.pool().close().await;
    let audit = keystore.info(keys.audit)?.handle();
    c.record(
        "keys.generated",
        json!({
            "audit_key_sha256": keymgr::transcript::sha256_hex(&keystore.public_key(&audit)?),
            "tls_key_sha256": keymgr::transcript::sha256_hex(&tls_spki),
            "archive_keys": keys.archive.len(),
            "csr_sha256": keymgr::transcript::sha256_hex(&csr),
        }),
    )?;
    Custodians {
        ceremony: c.transcript.id,
        threshold: quorum.threshold,
        custodians: records,
        witnesses: plan.witnesses.clone(),
    }
    .save(&layout)?;
    c.record("keystore.sealed", json!({ "keystore": software.id() }))?;
    let (transcript, transcript_copy) = c.close(
        &layout,
        keystore.as_ref(),
        &keys,
        &plan.shares_out,
        &plan.node_id,
        &mut undo,
    )?;
    software.seal();
    undo.finish();
    Ok(InitOutcome {
        csr: layout.csr(),
        layout,
        share_files: files,
        transcript,
        transcript_copy,
    })
}

fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The node's `node.toml` (production) and its policy.
fn write_config(layout: &Layout, plan: &InitPlan) -> Result<Config> {
    let policy_dir = layout.dir().join("policy");
    policies::install(plan.policy.as_deref(), &policy_dir)?;
    let policy_dir =
        std::path::absolute(&policy_dir).map_err(|e| Error::io("resolving", &policy_dir, e))?;
    policies::Policy::load(&policy_dir)?;
    let mut config = Config::new(
        &plan.node_id,
        &plan.organisation,
        &plan.listen,
        &plan.database_url,
        policy_dir,
    );
    config.production = true;
    // A production node's letters take their numbers from the agencies' registers only.
    config.numbering.register_only = true;
    config.agencies.clone_from(&plan.agencies);
    if let Some(arc) = &plan.oid_arc {
        config.pki.oid_arc.clone_from(arc);
    }
    config.ca.clone_from(&plan.ca);
    if let Some((url, key)) = issuance_log(plan)? {
        config.witness.issuance_log = Some(url);
        config.witness.issuance_log_key = Some(key);
    }
    // The online CA's publication service is also the network's TSA (`keymgr serve`'s
    // `POST /tsa`): without one every signature fails closed.
    config.pki.tsa_url = plan
        .ca
        .as_ref()
        .and_then(|ca| ca.publication_url.as_deref())
        .map(|p| format!("{}/tsa", p.trim_end_matches('/')));
    config.keystore.pkcs11.clone_from(&plan.pkcs11);
    config.save(layout)?;
    Ok(config)
}

/// The issuance log a node enrolled with a CA follows: its publication URL and pinned key.
fn issuance_log(plan: &InitPlan) -> Result<Option<(String, String)>> {
    let Some(ca) = &plan.ca else {
        return Ok(None);
    };
    let needed = || {
        Error::invalid(
            "issuance log key",
            "a node enrolled with the online CA follows keymgr's issuance log: give \
             --ca-publication-url and --issuance-log-key (keymgr's HOME/log/note.vkey, read out \
             at keymgr's machine)",
        )
    };
    let (Some(url), Some(key)) = (&ca.publication_url, &plan.issuance_log_key) else {
        return Err(needed());
    };
    let v = keymgr::note::parse_vkey(key.trim())
        .map_err(|e| Error::invalid("issuance log key", format!("--issuance-log-key: {e}")))?;
    if v.name != keymgr::tlog::ORIGIN {
        return Err(Error::invalid(
            "issuance log key",
            format!(
                "--issuance-log-key names {}, not keymgr's issuance log ({})",
                v.name,
                keymgr::tlog::ORIGIN
            ),
        ));
    }
    Ok(Some((
        url.trim_end_matches('/').to_owned(),
        key.trim().to_owned(),
    )))
}
