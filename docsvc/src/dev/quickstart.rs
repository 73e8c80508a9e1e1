//! A development node in one command: a dev key ceremony (keymgr), a node keystore sealed by
//! the same dev custodians, a node certificate, two agencies with officials of different
//! clearances. Everything it writes says loudly that it is not for production.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::secrecy::ExposeSecret;
use hsm_shim::{KeyStore, Quorum, Sealable, SoftwareKeyStore};
use keymgr::ca::{Home, NodeRequest, OfficialRequest};
use keymgr::ceremony::{self, CustodianSpec, InitPlan, QuorumSession};
use keymgr::inventory::Inventory;
use keymgr::issue::{self, KeySource, Request};
use keymgr::shares::{Protection, Unlock};
use policies::Level;
use zeroize::Zeroizing;

use super::dev_application::dev_application;
use crate::crypto::tls::csr_for;
use crate::node::{self, Config, Layout};
use crate::officials::directory::{self, NewOfficial, Secrets};
use crate::private_files::write_private;
use crate::store::Store;
use crate::{Error, Result};

pub const WARNING: &str = "\
!!! DEVELOPMENT NODE — NOT FOR CLASSIFIED MATERIAL !!!
The custodians' identities and shares of this node lie in its own data directory, so anyone
who can read that directory can unseal it. A real node is created in a key ceremony with
custodians who keep their shares apart (see `keymgr ceremony init`).";

const CUSTODIANS: [&str; 3] = ["Custodian Satu", "Custodian Dua", "Custodian Tiga"];
const THRESHOLD: u8 = 2;

/// An official the quickstart creates, with the credentials it prints once.
#[derive(Debug)]
pub struct DevOfficial {
    pub nip: String,
    pub name: String,
    pub agency: String,
    pub clearance: Level,
    pub roles: Vec<String>,
    pub password: Zeroizing<String>,
    pub pin: Zeroizing<String>,
}

fn random_digits(n: usize) -> Result<Zeroizing<String>> {
    let mut b = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| Error::NoRandomness)?;
    Ok(Zeroizing::new(
        b.iter().map(|x| char::from(b'0' + x % 10)).collect(),
    ))
}

fn random_password() -> Result<Zeroizing<String>> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map_err(|_| Error::NoRandomness)?;
    Ok(Zeroizing::new(
        b.iter()
            .map(|x| char::from(ALPHABET[usize::from(*x) % ALPHABET.len()]))
            .collect(),
    ))
}

// A share sealed to a custodian and read back: the same steps as a production node's.
pub use crate::node::ceremony::{read_share, write_share};

/// Refuses a development shortcut on a production node (made by `docsvc init`).
pub fn refuse_production(layout: &Layout) -> Result<()> {
    // A node.toml that cannot be read refuses too, and says why.
    if Config::load(layout)?.production {
        return Err(Error::invalid(
            "dev unseal",
            format!(
                "{} is a production node (made by `docsvc init`): it unseals only with its \
                 custodians' shares (`docsvc unseal`), never with development files",
                layout.dir().display()
            ),
        ));
    }
    Ok(())
}

/// The dev custodians' files: (identity file, node share file).
pub fn dev_custodian_files(layout: &Layout) -> Vec<(PathBuf, PathBuf)> {
    (1..=CUSTODIANS.len())
        .map(|i| {
            (
                layout.shares().join(format!("custodian-{i}.key")),
                layout.shares().join(format!("node-share-{i}.age")),
            )
        })
        .collect()
}

/// What the quickstart set up.
#[derive(Debug)]
pub struct Outcome {
    pub layout: Layout,
    pub officials: Vec<DevOfficial>,
}

/// One official the quickstart creates: NIP, name, agency, position, clearance, roles.
pub(super) type DevSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Level,
    &'static [&'static str],
);

pub(super) const DEV_OFFICIALS: [DevSpec; 10] = [
    (
        "197501012000031001",
        "Budi Santoso",
        "dinkes",
        "Kepala Dinas Kesehatan",
        Level::SangatRahasia,
        &["pejabat", "approver"],
    ),
    (
        "198002022005012002",
        "Siti Rahmawati",
        "dinkes",
        "Sekretaris Dinas",
        Level::Rahasia,
        &["pejabat", "sekretaris"],
    ),
    (
        "198503032010013003",
        "Agus Wijaya",
        "dinkes",
        "Staf Tata Usaha",
        Level::Terbatas,
        &["pejabat"],
    ),
    (
        "196812082000031008",
        "Joko Prasetyo",
        "dinkes",
        "Wakil Kepala Dinas",
        Level::SangatRahasia,
        &["pejabat", "approver"],
    ),
    (
        "197704042002122004",
        "Dewi Lestari",
        "bappeda",
        "Kepala Bappeda",
        Level::SangatRahasia,
        &["pejabat", "approver"],
    ),
    (
        "199005052015031005",
        "Rudi Hartono",
        "bappeda",
        "Analis Perencanaan",
        Level::Rahasia,
        &["pejabat"],
    ),
    // Bappeda's secretariat: keeps its registers, passes letters down from the head.
    (
        "198409092009022010",
        "Lina Marlina",
        "bappeda",
        "Sekretaris Bappeda",
        Level::Rahasia,
        &["pejabat", "sekretaris"],
    ),
    (
        "198806062012122006",
        "Maya Sari",
        "diskominfo",
        "Pengelola Sandi",
        Level::Rahasia,
        &["pengelola_sandi", "admin"],
    ),
    // A second persandian officer: registering officials and raising clearances take two.
    (
        "199109092016031009",
        "Bayu Pratama",
        "diskominfo",
        "Pengelola Sandi",
        Level::Rahasia,
        &["pengelola_sandi"],
    ),
    (
        "198207072008011007",
        "Hendra Gunawan",
        "inspektorat",
        "Auditor",
        Level::Rahasia,
        &["auditor"],
    ),
];

/// The dev custodians: age identities kept beside the node (hence: dev only).
fn dev_custodians(layout: &Layout) -> Result<Vec<age::x25519::Recipient>> {
    let mut recipients = Vec::new();
    for (i, (key_file, _)) in dev_custodian_files(layout).iter().enumerate() {
        let id = age::x25519::Identity::generate();
        let text = Zeroizing::new(format!(
            "# dev custodian {} — NOT FOR PRODUCTION\n{}\n",
            CUSTODIANS[i],
            id.to_string().expose_secret()
        ));
        write_private(key_file, text.as_bytes())?;
        recipients.push(id.to_public());
    }
    Ok(recipients)
}

/// The dev key ceremony; returns the CA home, its inventory and a session holding the quorum.
async fn dev_ceremony(
    layout: &Layout,
    recipients: &[age::x25519::Recipient],
    progress: &mut dyn FnMut(&str),
) -> Result<(Home, Inventory, QuorumSession)> {
    let home = Home::new(layout.dir().join("keymgr"));
    std::fs::create_dir_all(home.dir()).map_err(|e| Error::io("creating", home.dir(), e))?;
    let inv = Inventory::open(&Inventory::default_url(home.dir())).await?;
    let plan = InitPlan {
        organisation: "Pemerintah Kota (dev)".into(),
        network_domain: None,
        oid_arc: keymgr::oid_arc::DEV_OID_ARC.into(),
        // No publication server runs in a quickstart yet: certificates point nowhere rather
        // than at a URL nothing answers.
        publication_url: None,
        administrator: "Admin Quickstart".into(),
        custodians: CUSTODIANS
            .iter()
            .zip(recipients)
            .map(|(n, r)| CustodianSpec {
                name: (*n).into(),
                protection: Protection::Recipient(r.clone()),
            })
            .collect(),
        witnesses: vec!["Saksi Quickstart".into()],
        threshold: THRESHOLD,
        shares_out: layout.shares().join("keymgr"),
    };
    let outcome = ceremony::init(&home, &inv, &plan, &mut |m| progress(&format!("  {m}"))).await?;
    let mut quorum = QuorumSession::open(&home)?;
    for ((key_file, _), share_file) in dev_custodian_files(layout)
        .iter()
        .zip(&outcome.share_files)
        .take(usize::from(THRESHOLD))
    {
        quorum.add(share_file, &Unlock::Identity(key_file.clone()))?;
    }
    Ok((home, inv, quorum))
}

/// One dev official: in the directory with keys, a signing certificate and a key binding.
async fn dev_official(
    home: &Home,
    inv: &Inventory,
    online: &SoftwareKeyStore,
    store: &Store,
    keystore: &dyn KeyStore,
    table: &policies::HandlingTable,
    (nip, name, agency, position, clearance, roles): DevSpec,
) -> Result<DevOfficial> {
    let official = DevOfficial {
        nip: nip.into(),
        name: name.into(),
        agency: agency.into(),
        clearance,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        password: random_password()?,
        pin: random_digits(6)?,
    };
    let o = directory::add(
        store,
        keystore,
        table,
        &NewOfficial {
            nip: nip.into(),
            name: name.into(),
            agency: agency.into(),
            position: position.into(),
            clearance,
            roles: official.roles.clone(),
            compartments: vec![],
            // The dev path: quickstart's officials get known secrets, printed once.
            secrets: Secrets::DevKnown {
                password: official.password.clone(),
                pin: official.pin.clone(),
            },
            status: policies::Status::Active,
        },
    )
    .await?;
    let key = o.signing_key.ok_or_else(|| Error::MissingKey {
        what: "signing key".into(),
    })?;
    let cert = issue::issue(
        home,
        online,
        inv,
        Request::Official(OfficialRequest {
            name: name.into(),
            nip: nip.into(),
            agency: agency.into(),
            days: 365,
        }),
        KeySource::Csr(csr_for(keystore, key, nip)?),
    )
    .await?;
    directory::set_certificate(store, nip, &cert.record.der).await?;
    // The encryption key's binding, signed by the Signing CA: what other nodes fetch to
    // encrypt letters to this official.
    let enc = o.encryption_key.ok_or_else(|| Error::MissingKey {
        what: "encryption key".into(),
    })?;
    let recipient = hsm_shim::age_recipient(keystore, &keystore.info(enc)?.handle())?;
    let binding =
        issue::bind_encryption_key(home, online, nip, name, agency, &recipient.to_string(), 365)?;
    directory::set_key_binding(
        store,
        nip,
        &serde_json::to_string(&binding).map_err(|e| Error::encode("a key binding", e))?,
    )
    .await?;
    Ok(official)
}

/// The dev CA of a quickstart node (`DIR/keymgr`) opened with its dev custodians' shares.
pub fn dev_quorum(hub: &Layout) -> Result<(Home, QuorumSession)> {
    let home = Home::new(hub.dir().join("keymgr"));
    if !home.is_initialised() {
        return Err(Error::invalid(
            "dev hub directory",
            format!("{} holds no dev CA", hub.dir().display()),
        ));
    }
    let shares_dir = hub.shares().join("keymgr");
    let mut share_files: Vec<PathBuf> = std::fs::read_dir(&shares_dir)
        .map_err(|e| Error::io("listing", &shares_dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    share_files.sort();
    let mut quorum = QuorumSession::open(&home)?;
    for ((key_file, _), share_file) in dev_custodian_files(hub)
        .iter()
        .zip(&share_files)
        .take(usize::from(THRESHOLD))
    {
        quorum.add(share_file, &Unlock::Identity(key_file.clone()))?;
    }
    Ok((home, quorum))
}

/// Joins another quickstart node's dev network: the same custodians (their identity files are
/// copied here) and the same dev CA, opened with their shares.
async fn joined(
    layout: &Layout,
    other: &Layout,
) -> Result<(Vec<age::x25519::Recipient>, Home, Inventory, QuorumSession)> {
    let mut recipients = Vec::new();
    for ((mine, _), (theirs, _)) in dev_custodian_files(layout)
        .iter()
        .zip(dev_custodian_files(other))
    {
        let text = Zeroizing::new(
            std::fs::read_to_string(&theirs).map_err(|e| Error::io("reading", &theirs, e))?,
        );
        let id: age::x25519::Identity = text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| {
                Error::invalid(
                    "age identity file",
                    format!("{}: no age identity", theirs.display()),
                )
            })?;
        write_private(mine, text.as_bytes())?;
        recipients.push(id.to_public());
    }
    let (home, quorum) = dev_quorum(other)?;
    let inv = Inventory::open(&Inventory::default_url(home.dir())).await?;
    Ok((recipients, home, inv, quorum))
}

/// The node keystore sealed by the dev custodians, opened with their shares, and the node's
/// own keys in it: the keystore to use (with the token of `pkcs11` for the signing keys, if
/// given) and its software half, to seal at the end.
fn dev_node_keystore(
    layout: &Layout,
    recipients: &[age::x25519::Recipient],
    token: Option<Arc<hsm_shim::Pkcs11KeyStore>>,
) -> Result<(Arc<dyn Sealable>, Arc<SoftwareKeyStore>, node::NodeKeys)> {
    if token.is_some() {
        // Said where the keys go: the signing keys below and the officials' are made on it.
        tracing::info!("signing keys on the PKCS#11 token; X25519 and wrapping keys in software");
    }
    let shares = node::create_keystore(
        layout,
        Quorum {
            threshold: THRESHOLD,
            custodians: 3,
        },
    )?;
    for ((_, share_file), (share, r)) in dev_custodian_files(layout)
        .iter()
        .zip(shares.iter().zip(recipients))
    {
        write_share(share_file, share, r)?;
    }
    let software = Arc::new(SoftwareKeyStore::open(&layout.keystore())?);
    let keystore = node::routed(Arc::clone(&software), token);
    // Opened with the shares just dealt (node.toml, which says whether this is a production
    // node, is not written yet).
    for share in shares.iter().take(usize::from(THRESHOLD)) {
        keystore.submit_share(share.clone())?;
    }
    let tls = node::create_tls_key(layout)?;
    let keys = node::generate_node_keys(keystore.as_ref(), tls)?;
    keys.save(layout)?;
    Ok((keystore, software, keys))
}

/// The node certificate (Network CA) and the CA certificates the node trusts.
async fn dev_node_certificate(
    layout: &Layout,
    home: &Home,
    inv: &Inventory,
    online: &SoftwareKeyStore,
    tls_key: hsm_shim::KeyId,
    spec: &DevNode,
) -> Result<()> {
    let listen = spec.listen.as_str();
    let (host, _) = listen.rsplit_once(':').unwrap_or((listen, ""));
    let mut ips = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let tls_store = node::open_tls_keystore(layout)?;
    let csr = csr_for(tls_store.as_ref(), tls_key, &spec.node_id)?;
    let issued = issue::issue(
        home,
        online,
        inv,
        Request::Node(NodeRequest {
            node_id: spec.node_id.clone(),
            agency: spec
                .agencies
                .first()
                .cloned()
                .unwrap_or_else(|| "diskominfo".into()),
            accreditation: spec.accreditation.as_str().into(),
            dns: vec!["localhost".into()],
            ips,
            days: 365,
        }),
        KeySource::Csr(csr),
    )
    .await?;
    let network_ca = home.cert_der(keymgr::ca::Ca::Network)?;
    let chain = format!(
        "{}{}",
        keymgr::ca::der_to_pem(&issued.record.der),
        keymgr::ca::der_to_pem(&network_ca)
    );
    let write = |path: PathBuf, text: String| -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| Error::io("writing", &path, e))
    };
    write(layout.tls_chain(), chain)?;
    for (ca, name) in [
        (keymgr::ca::Ca::Root, "root.pem"),
        (keymgr::ca::Ca::Network, "network-ca.pem"),
        (keymgr::ca::Ca::Signing, "signing-ca.pem"),
    ] {
        write(layout.ca(name), keymgr::ca::der_to_pem(&home.cert_der(ca)?))?;
    }
    Ok(())
}

/// Installs the policy (`from`, checked first, or the shipped default) and writes `node.toml`,
/// with the OID arc of the dev CA.
fn dev_config(
    layout: &Layout,
    listen: &str,
    database_url: Option<&str>,
    oid_arc: &str,
    from: Option<&Path>,
    pkcs11: Option<&hsm_shim::Pkcs11Settings>,
) -> Result<Config> {
    let policy_dir = layout.dir().join("policy");
    policies::install(from, &policy_dir)?;
    // Absolute, so that the node can be served from any working directory.
    let policy_dir =
        std::path::absolute(&policy_dir).map_err(|e| Error::io("resolving", &policy_dir, e))?;
    let mut config = Config::new(
        "hub",
        "Pemerintah Kota (dev)",
        listen,
        database_url.unwrap_or("sqlite://docsvc.db?mode=rwc"),
        policy_dir,
    );
    // `docsvc serve` starts a quickstart node's dev TSA and writes its URL here.
    config.pki.oid_arc = oid_arc.into();
    config.kop = node::letterhead::dev();
    config.keystore = node::Keystore {
        pkcs11: pkcs11.cloned(),
    };
    config.save(layout)?;
    Ok(config)
}

/// Which dev node to set up.
#[derive(Clone, Debug)]
pub struct DevNode {
    pub listen: String,
    pub database_url: Option<String>,
    /// Another quickstart node's data directory: this node joins its dev network (the same
    /// dev CA and custodians) instead of holding a ceremony of its own.
    pub join: Option<PathBuf>,
    pub node_id: String,
    /// Only the dev officials of these agencies (all when empty).
    pub agencies: Vec<String>,
    pub accreditation: Level,
    /// A policy directory installed instead of the shipped default (a city's own decree);
    /// the officials' signing keys follow its handling table.
    pub policy: Option<PathBuf>,
    /// A PKCS#11 token for the node's signing keys (`[keystore.pkcs11]` in node.toml): the
    /// officials', the application's and the audit key are generated on it.
    pub pkcs11: Option<hsm_shim::Pkcs11Settings>,
}

impl DevNode {
    pub fn new(listen: &str, database_url: Option<&str>) -> Self {
        DevNode {
            listen: listen.into(),
            database_url: database_url.map(str::to_owned),
            join: None,
            node_id: "hub".into(),
            agencies: Vec::new(),
            accreditation: Level::SangatRahasia,
            policy: None,
            pkcs11: None,
        }
    }

    fn serves(&self, agency: &str) -> bool {
        self.agencies.is_empty() || self.agencies.iter().any(|a| a == agency)
    }
}

/// Sets up a dev node in `dir` (which must not hold one) listening on `listen`.
pub async fn setup(
    dir: &Path,
    listen: &str,
    database_url: Option<&str>,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    setup_node(dir, &DevNode::new(listen, database_url), progress).await
}

/// Sets up the dev node `spec` in `dir` (which must not hold one).
pub async fn setup_node(
    dir: &Path,
    spec: &DevNode,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let listen = spec.listen.as_str();
    let layout = Layout::new(dir);
    if layout.config().exists() {
        return Err(Error::Conflict(format!(
            "{} already holds a node; start it with `docsvc serve --data-dir {}`",
            dir.display(),
            dir.display()
        )));
    }
    // The token before anything is written: a PIN source that does not work, or a PIN the
    // token refuses, leaves no directory behind.
    let token = spec.pkcs11.as_ref().map(node::open_token).transpose()?;
    std::fs::create_dir_all(layout.shares())
        .map_err(|e| Error::io("creating", layout.shares(), e))?;
    crate::private_files::restrict_dir(layout.dir())?;
    let (recipients, home, inv, quorum) = match &spec.join {
        None => {
            let recipients = dev_custodians(&layout)?;
            progress("key ceremony (dev): root, network and signing CAs");
            let (home, inv, quorum) = dev_ceremony(&layout, &recipients, progress).await?;
            (recipients, home, inv, quorum)
        }
        Some(other) => {
            progress(&format!(
                "joining the dev network of {}: its CA and custodians",
                other.display()
            ));
            joined(&layout, &Layout::new(other)).await?
        }
    };
    let online = quorum.online()?;
    progress("node keystore, sealed by the same custodians (2 of 3)");
    let (keystore, software, keys) = dev_node_keystore(&layout, &recipients, token)?;
    progress("node certificate from the Network CA");
    dev_node_certificate(&layout, &home, &inv, online, keys.tls, spec).await?;
    let oid_arc = home.load_state()?.oid_arc;
    let database_url = spec.database_url.as_deref();
    let from = spec.policy.as_deref();
    let p11 = spec.pkcs11.as_ref();
    let mut config = dev_config(&layout, listen, database_url, &oid_arc, from, p11)?;
    let policy = policies::Policy::load(&config.policy_dir)?;
    if config.node_id != spec.node_id {
        config.node_id.clone_from(&spec.node_id);
        config.save(&layout)?;
    }

    progress("officials of dinkes, bappeda, diskominfo and inspektorat, with signing certificates");
    let store = Store::open(&config.database_url(&layout)).await?;
    store
        .integrity()
        .set_key(crate::store::integrity::load_or_create(
            layout.dir(),
            keystore.as_ref(),
        )?);
    let mut out = Vec::new();
    for spec_row in DEV_OFFICIALS {
        if spec.serves(spec_row.2) {
            out.push(
                dev_official(
                    &home,
                    &inv,
                    online,
                    &store,
                    keystore.as_ref(),
                    policy.handling(),
                    spec_row,
                )
                .await?,
            );
        }
    }
    if spec.join.is_none() {
        progress("application e-office (mutual TLS client certificate in apps/e-office/)");
        let keys: (&SoftwareKeyStore, &dyn KeyStore) = (online, keystore.as_ref());
        dev_application(&layout, &home, &inv, keys, &store, policy.handling()).await?;
    }
    match &spec.join {
        None => {
            progress("time-stamping authority certificate (Signing CA), for the dev TSA");
            keymgr::tsa::ensure(&home, online, &inv).await?;
        }
        Some(other) => {
            // The dev TSA of this node is the dev CA's: it is found through the hub.
            let hub = std::path::absolute(other).map_err(|e| Error::io("resolving", other, e))?;
            write_private(
                &crate::dev::tsa::hub_file(&layout),
                hub.to_string_lossy().as_bytes(),
            )?;
        }
    }
    progress("CRLs");
    dev_crls(&layout, &home, &inv, online).await?;
    software.seal();
    Ok(Outcome {
        layout,
        officials: out,
    })
}

/// Current CRLs of the issuing CAs, and the root's from the init ceremony, copied where the
/// node reads them.
async fn dev_crls(
    layout: &Layout,
    home: &Home,
    inv: &Inventory,
    online: &SoftwareKeyStore,
) -> Result<()> {
    let dir = layout.crl_dir();
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    for ca in [keymgr::ca::Ca::Network, keymgr::ca::Ca::Signing] {
        let crl = keymgr::revoke::crl(home, online, inv, ca, time::Duration::days(7)).await?;
        let name = ca.file_name().replace(".pem", ".crl");
        std::fs::write(dir.join(&name), &crl.der)
            .map_err(|e| Error::io("writing", dir.join(&name), e))?;
    }
    let root = home.dir().join("crl").join("root.crl");
    std::fs::copy(&root, dir.join("root.crl")).map_err(|e| Error::io("copying", &root, e))?;
    Ok(())
}

/// Unseals a node's keystore with the dev custodians' shares (quickstart only: a node made by
/// `docsvc init` refuses).
pub fn unseal_dev(layout: &Layout, keystore: &dyn Sealable) -> Result<usize> {
    refuse_production(layout)?;
    let mut given = 0;
    for (key_file, share_file) in dev_custodian_files(layout) {
        if !keystore.is_sealed() {
            break;
        }
        keystore.submit_share(read_share(&share_file, &key_file)?)?;
        given += 1;
    }
    Ok(given)
}
