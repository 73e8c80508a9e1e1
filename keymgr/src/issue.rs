//! Issuance with the online intermediates (the root stays sealed): node certificates,
//! officials' signing certificates, application client certificates, and the signed binding of
//! an official's X25519 encryption key to their identity.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyKind, KeyStore, SignatureAlgorithm, verify_signature};
use rcgen::CertificateParams;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::ca::{
    self, ApiServerRequest, ApplicationRequest, Ca, CaState, Home, NodeRequest,
    OcspResponderRequest, OfficialRequest, OperatorRequest,
};
use crate::group_commit::{NextVersion, Signed, blocking, signing, signing_turn};
use crate::inventory::{self, CertRecord, CertState, Inventory};
use crate::sign_pool;
use crate::signer::{HsmSigner, Keys};
use crate::tlog::Log;
use crate::transcript::sha256_hex;
use crate::{Error, Result};

/// Where the subject's key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// Generated inside the CA's keystore, of this kind (ECDSA P-256 or P-384: for an
    /// official, what the handling table gives their clearance); the private key never
    /// leaves it.
    Generate(KeyKind),
    /// A PKCS#10 request (DER); its signature proves possession of the key.
    Csr(Vec<u8>),
    /// A request [`parse_csr`] already checked (the online CA checks before it uses an
    /// invitation): signed without verifying its signature again.
    Checked(CheckedCsr),
}

/// The key of a certificate signing request whose proof of possession [`parse_csr`] verified,
/// a key the network accepts. Only `parse_csr` makes one.
#[derive(Debug)]
pub struct CheckedCsr(rcgen::SubjectPublicKeyInfo);

/// What a certificate was issued for; kept in the inventory so it can be rotated or renewed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "profile", rename_all = "snake_case")]
pub enum Request {
    Node(NodeRequest),
    Official(OfficialRequest),
    Application(ApplicationRequest),
    /// The time-stamping authority's certificate (see [`crate::tsa`]).
    Tsa(crate::tsa::TsaRequest),
    /// A delegated OCSP responder of an issuing CA (made and renewed by `keymgr serve`).
    OcspResponder(OcspResponderRequest),
    /// A named operator of the online CA's API (see [`crate::online`]).
    Operator(OperatorRequest),
    /// The online CA API's own server certificate.
    ApiServer(ApiServerRequest),
}

impl Request {
    fn profile(&self) -> &'static str {
        match self {
            Request::Node(_) => "node",
            Request::Official(_) => "official",
            Request::Application(_) => "application",
            Request::Tsa(_) => "tsa",
            Request::OcspResponder(_) => "ocsp_responder",
            Request::Operator(_) => "operator",
            Request::ApiServer(_) => "api_server",
        }
    }

    /// The logical subject across versions.
    pub fn subject_id(&self) -> String {
        match self {
            Request::Node(r) => format!("node:{}", slug_label(&r.node_id)),
            Request::Official(r) => format!("official:{}", r.nip),
            Request::Application(r) => format!("app:{}", slug_label(&r.name)),
            Request::Tsa(_) => crate::tsa::SUBJECT_ID.into(),
            Request::OcspResponder(r) => {
                format!("ocsp:{}", r.ca.file_name().trim_end_matches(".pem"))
            }
            Request::Operator(r) => format!("operator:{}", slug_label(&r.name)),
            Request::ApiServer(_) => "api:server".into(),
        }
    }

    fn issuer(&self) -> Ca {
        match self {
            Request::Node(_)
            | Request::Application(_)
            | Request::Operator(_)
            | Request::ApiServer(_) => Ca::Network,
            Request::Official(_) | Request::Tsa(_) => Ca::Signing,
            Request::OcspResponder(r) => r.ca,
        }
    }

    /// The profile's parameters, pointing at where the issuer publishes.
    fn params(&self, state: &CaState) -> Result<CertificateParams> {
        let org = &state.organisation;
        let mut params = match self {
            Request::Node(r) => ca::node_profile(org, &state.oid_arc, r),
            Request::Official(r) => ca::official_profile(org, r),
            Request::Application(r) => ca::application_profile(org, r),
            Request::Tsa(r) => crate::tsa::profile(org, r),
            Request::OcspResponder(r) => ca::ocsp_responder_profile(org, r),
            Request::Operator(r) => ca::operator_profile(org, r),
            Request::ApiServer(r) => ca::api_server_profile(org, r),
        }?;
        crate::publication::apply(&mut params, state.publication_url.as_deref(), self.issuer())?;
        Ok(params)
    }
}

/// An issued certificate with its inventory record.
#[derive(Clone, Debug)]
pub struct Issued {
    pub record: CertRecord,
}

impl Issued {
    pub fn certificate_pem(&self) -> String {
        ca::der_to_pem(&self.record.der)
    }
}

/// A key label from a free-text name (labels allow only a few characters).
fn slug_label(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect()
}

fn asn1_time(t: x509_parser::time::ASN1Time) -> String {
    inventory::timestamp(t.to_datetime())
}

/// An intermediate revoked in a root ceremony issues nothing more.
async fn refuse_revoked_ca(inv: &Inventory, ca: Ca, serial: &str) -> Result<()> {
    match inv.get(serial).await {
        Ok(r) if r.state == CertState::Revoked => Err(Error::InvalidInput(format!(
            "the {} certificate is revoked: rotate it in a root ceremony first",
            ca.name()
        ))),
        _ => Ok(()),
    }
}

/// The CA's side of a certificate: the request's parameters and the issuing CA's certificate
/// and key, from the state and CA certificate in memory (read again when a ceremony changed
/// them), the CA checked valid now.
struct CaSide {
    params: CertificateParams,
    issuing_der: Vec<u8>,
    key: hsm_shim::KeyHandle,
    issuer_ca: Ca,
    issuer_serial: String,
}

fn ca_side(home: &Home, store: &dyn KeyStore, request: &Request) -> Result<CaSide> {
    let snapshot = home.snapshot()?;
    let state = &snapshot.state;
    let issuer_ca = request.issuer();
    let params = request.params(state)?;
    let issuing = snapshot.issuing(home, issuer_ca)?;
    issuing.check_validity(issuer_ca)?;
    Ok(CaSide {
        params,
        issuing_der: issuing.der.clone(),
        key: store.info(state.intermediate_key(issuer_ca)?)?.handle(),
        issuer_ca,
        issuer_serial: issuing.serial.clone(),
    })
}

/// The issuing CA as rcgen signs with it, through `keys`.
fn issuer<'s>(
    issuing_der: &[u8],
    keys: Keys<'s>,
    key: hsm_shim::KeyHandle,
) -> Result<rcgen::Issuer<'static, HsmSigner<'s>>> {
    let signer = HsmSigner::of(keys, key)?;
    Ok(rcgen::Issuer::from_ca_cert_der(
        &issuing_der.into(),
        signer,
    )?)
}

/// A request's key as a signing job takes it: still to be checked, or checked already.
enum Requested {
    Der(Vec<u8>),
    Checked(CheckedCsr),
}

/// A certificate for the key of a CA-checked request: its proof of possession verified (unless
/// [`parse_csr`] did), then signed by the issuing CA.
fn sign_csr(
    mut params: CertificateParams,
    issuing_der: &[u8],
    keys: Keys<'_>,
    key: hsm_shim::KeyHandle,
    csr: Requested,
) -> Result<rcgen::Certificate> {
    let CheckedCsr(subject) = match csr {
        Requested::Der(der) => parse_csr(&der)?,
        Requested::Checked(checked) => checked,
    };
    ca::identify_key(&mut params, &subject);
    Ok(params.signed_by(&subject, &issuer(issuing_der, keys, key)?)?)
}

/// Signs a certificate for the key a request holds as [`issue`] does, and records nothing:
/// rcgen signing with the CA's own key alone, the reference `docsvc bench` measures issuance
/// against. The certificate is dropped here (only its length is returned): what the log does
/// not hold is never handed out.
pub fn sign_unrecorded(
    home: &Home,
    store: &dyn KeyStore,
    request: &Request,
    csr: &[u8],
) -> Result<usize> {
    let CaSide {
        mut params,
        issuing_der,
        key,
        ..
    } = ca_side(home, store, request)?;
    let subject = csr_key(csr)?;
    ca::identify_key(&mut params, &subject);
    let issuer = issuer(&issuing_der, Keys::Borrowed(store), key)?;
    Ok(params.signed_by(&subject, &issuer)?.der().len())
}

async fn issue_version(
    home: &Home,
    keys: Keys<'_>,
    inv: &Inventory,
    request: Request,
    source: KeySource,
    version: NextVersion,
) -> Result<Issued> {
    let store = keys.store();
    let CaSide {
        mut params,
        issuing_der,
        key: ca_key,
        issuer_ca,
        issuer_serial,
    } = ca_side(home, store, &request)?;
    // Counted from here to the commit: a busy commit lingers for it (see `group_commit`).
    let on_the_way = inv.commits().on_the_way();
    let csr = match source {
        KeySource::Generate(kind) => {
            if !matches!(kind, KeyKind::EcdsaP256 | KeyKind::EcdsaP384) {
                return Err(Error::InvalidInput(format!(
                    "a certificate's key is ECDSA P-256 or P-384, not {kind}"
                )));
            }
            let subject_id = request.subject_id();
            // The turn to sign first: a caller that leaves while waiting for it leaves no key
            // behind.
            let turn = signing_turn().await;
            // Checked here too (the commit checks again): no key is made for nothing.
            refuse_revoked_ca(inv, issuer_ca, &issuer_serial).await?;
            let issuer = issuer(&issuing_der, Keys::Borrowed(store), ca_key)?;
            let key = store.generate(kind, &subject_id)?;
            inv.record_key("online", &store.info(key.id())?).await?;
            let subject = HsmSigner::new(store, key)?;
            ca::identify_key(&mut params, &subject);
            let cert = blocking(|| params.signed_by(&subject, &issuer))?;
            drop(turn);
            let record = record_of(&request, issuer_ca, Some(key.id()), cert.der().to_vec())?;
            let signed = Signed {
                record,
                version,
                issuer_serial,
            };
            let record = inv
                .commits()
                .commit(home, store, inv, signed, on_the_way)
                .await?;
            return Ok(Issued { record });
        }
        KeySource::Csr(der) => Requested::Der(der),
        KeySource::Checked(checked) => Requested::Checked(checked),
    };
    // Returned only once it is in the log and the inventory, with its batch (see
    // [`crate::group_commit`]); its version, and the issuing CA's revocation, are settled
    // there, once a batch.
    let (done, answer) = tokio::sync::oneshot::channel();
    match &keys {
        // On a signing thread, which also puts the certificate in line for the commit: its
        // caller is woken once, by the commit, not also when the signature is made.
        Keys::Shared(shared) => {
            let yields = shared.signs_without_shared_lock();
            let keys = Keys::Shared(std::sync::Arc::clone(shared));
            let commits = std::sync::Arc::clone(inv.commits());
            let home_dir = home.dir().to_path_buf();
            sign_pool::submit(yields, move || {
                // A caller that went away costs no signature.
                if done.is_closed() {
                    return;
                }
                let signed = sign_csr(params, &issuing_der, keys, ca_key, csr)
                    .and_then(|cert| record_of(&request, issuer_ca, None, cert.der().to_vec()));
                match signed {
                    // A caller that went away while it was signed gets nothing committed (a
                    // rotation it no longer waits for would supersede its certificate).
                    Ok(_) if done.is_closed() => {}
                    Ok(record) => {
                        let signed = Signed {
                            record,
                            version,
                            issuer_serial,
                        };
                        commits.enqueue(home_dir, signed, done, on_the_way);
                    }
                    // Answered before it stops counting as on its way: a caller holding the
                    // commit turn meanwhile lingers for it instead of finding nothing, again
                    // and again.
                    Err(e) => {
                        let _ = done.send(Err(e));
                        drop(on_the_way);
                    }
                }
            })
            .await?;
        }
        // In place, one a core ([`signing`]).
        Keys::Borrowed(_) => {
            let keys = keys.clone();
            let cert = signing(move || sign_csr(params, &issuing_der, keys, ca_key, csr)).await?;
            let record = record_of(&request, issuer_ca, None, cert.der().to_vec())?;
            let signed = Signed {
                record,
                version,
                issuer_serial,
            };
            inv.commits()
                .enqueue(home.dir().to_path_buf(), signed, done, on_the_way);
        }
    }
    let record = inv.commits().answer(home, store, inv, answer).await?;
    Ok(Issued { record })
}

/// The inventory row of a certificate just signed; its version is set by the commit, from the
/// versions the inventory holds then.
fn record_of(
    request: &Request,
    issuer: Ca,
    key: Option<hsm_shim::KeyId>,
    der: Vec<u8>,
) -> Result<CertRecord> {
    use x509_parser::nom::Parser as _;
    // Only the name, serial and validity are read: the extensions rcgen just wrote are not
    // parsed again.
    let (_, parsed) = x509_parser::certificate::X509CertificateParser::new()
        .with_deep_parse_extensions(false)
        .parse(&der)
        .map_err(|e| Error::Certificate(format!("issued certificate does not parse: {e}")))?;
    Ok(CertRecord {
        serial: inventory::normalise_serial(&parsed.tbs_certificate.raw_serial_as_string()),
        subject_id: request.subject_id(),
        profile: request.profile().into(),
        subject: parsed.subject().to_string(),
        issuer,
        version: 0,
        not_before: asn1_time(parsed.validity().not_before),
        not_after: asn1_time(parsed.validity().not_after),
        key_id: key.map(|k| k.to_string()),
        certificate_sha256: sha256_hex(&der),
        state: CertState::Active,
        issued_at: inventory::timestamp(OffsetDateTime::now_utc()),
        revoked_at: None,
        revocation_reason: None,
        request: serde_json::to_string(request).map_err(|e| Error::InvalidInput(e.to_string()))?,
        der,
    })
}

/// Issues the first certificate for a subject. A subject that already has an active
/// certificate is refused: that is what `rotate` is for.
///
/// `keys` is the CA's keystore: borrowed (`&store`: a CLI command, a ceremony), the
/// certificate is signed in place; shared (an `Arc<dyn KeyStore>`: a long-running service),
/// a request's key is certified on the signing threads ([`crate::sign_pool`]), which hold the
/// keystore meanwhile.
pub async fn issue<'k>(
    home: &Home,
    keys: impl Into<Keys<'k>>,
    inv: &Inventory,
    request: Request,
    source: KeySource,
) -> Result<Issued> {
    let keys = keys.into();
    // Refused before a key is made for nothing; for a request's key, refused by the commit
    // (where the check cannot race another issuance).
    if matches!(source, KeySource::Generate(_)) {
        refuse_active(inv, &request.subject_id()).await?;
    }
    issue_version(home, keys, inv, request, source, NextVersion::First).await
}

/// A subject that already has an active certificate gets no first one.
async fn refuse_active(inv: &Inventory, subject_id: &str) -> Result<()> {
    match inv.latest(subject_id).await? {
        Some(r) if r.state == CertState::Active => Err(already_active(subject_id, &r.serial)),
        _ => Ok(()),
    }
}

pub(crate) fn already_active(subject_id: &str, serial: &str) -> Error {
    Error::InvalidInput(format!(
        "{subject_id} already has an active certificate (serial {serial}): use `keymgr rotate {serial}`"
    ))
}

/// Issues a certificate for a subject whatever it held before: the first version, or the next
/// one (the active version, if any, is superseded and stays valid until it expires). For the
/// online CA, where an operator's invitation or a node's request stands for the new version.
/// `keys` as for [`issue`].
pub async fn issue_or_replace<'k>(
    home: &Home,
    keys: impl Into<Keys<'k>>,
    inv: &Inventory,
    request: Request,
    source: KeySource,
) -> Result<Issued> {
    issue_version(home, keys.into(), inv, request, source, NextVersion::Next).await
}

/// Issues the next version of a certificate: same subject and profile, a new key. The old
/// certificate is marked superseded and stays valid until it expires (the overlap window); its
/// key, if the CA holds it, is deactivated: still there to verify, no longer used to sign.
pub async fn rotate(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    serial: &str,
    source: KeySource,
) -> Result<Issued> {
    rotate_with(home, store, inv, serial, source, |r| r).await
}

async fn rotate_with(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    serial: &str,
    source: KeySource,
    adjust: impl FnOnce(Request) -> Request,
) -> Result<Issued> {
    let old = inv.get(serial).await?;
    if old.state == CertState::Revoked {
        return Err(Error::InvalidInput(format!(
            "certificate {} is revoked: issue a new one instead",
            old.serial
        )));
    }
    let latest = inv
        .latest(&old.subject_id)
        .await?
        .ok_or(Error::UnknownSerial(old.serial.clone()))?;
    if latest.serial != old.serial {
        return Err(Error::InvalidInput(format!(
            "certificate {} was already rotated: version {} is serial {}",
            old.serial, latest.version, latest.serial
        )));
    }
    if matches!(source, KeySource::Generate(_)) && old.key_id.is_none() {
        return Err(Error::InvalidInput(
            "this certificate was issued from a CSR: give the new CSR".into(),
        ));
    }
    let request: Request = serde_json::from_str(&old.request)
        .map_err(|e| Error::Database(format!("stored request: {e}")))?;
    let request = adjust(request);
    let issued = issue_version(
        home,
        Keys::Borrowed(store),
        inv,
        request,
        source,
        NextVersion::Exactly(old.version + 1),
    )
    .await?;
    if let Some(key) = &old.key_id {
        let id: hsm_shim::KeyId = key.parse()?;
        let info = store.info(id)?;
        if info.state == hsm_shim::KeyState::Active {
            store.set_state(&info.handle(), hsm_shim::KeyState::Deactivated)?;
        }
        inv.record_key("online", &store.info(id)?).await?;
    }
    Ok(issued)
}

/// The validity a renewed node certificate gets.
pub const NODE_DEFAULT_DAYS: u32 = 90;

/// Renews every active node certificate that expires within `within`, with the default node
/// validity. Run twice, renews once: the renewed certificate is superseded and its successor is
/// not due (for any `within` shorter than the default validity).
pub async fn renew_due(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    within: Duration,
) -> Result<Vec<(String, Issued)>> {
    let due = inv.due("node", OffsetDateTime::now_utc() + within).await?;
    let mut out = Vec::new();
    for old in due {
        let Some(key) = &old.key_id else {
            // CSR-based: the node must send a new CSR; reported, not renewed here.
            continue;
        };
        // The next key is of the kind the old one was.
        let kind = store.info(key.parse()?)?.kind;
        let issued = rotate_with(
            home,
            store,
            inv,
            &old.serial,
            KeySource::Generate(kind),
            |r| match r {
                Request::Node(mut n) => {
                    n.days = n.days.max(NODE_DEFAULT_DAYS);
                    Request::Node(n)
                }
                other => other,
            },
        )
        .await?;
        out.push((old.serial, issued));
    }
    Ok(out)
}

/// A signed statement binding an official's age (X25519) recipient to their identity, signed
/// by the Signing CA so that a sender can trust a key it did not get from the recipient.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyBinding {
    pub format: String,
    pub nip: String,
    pub name: String,
    pub agency: String,
    /// The official's age recipient (`age1…`).
    pub recipient: String,
    pub not_before: String,
    pub not_after: String,
    /// SHA-256 of the Signing CA certificate that signed this binding.
    pub signing_ca_sha256: String,
    pub algorithm: SignatureAlgorithm,
    pub signature: String,
}

const BINDING_FORMAT: &str = "sandi-key-binding-v1";

fn binding_message(b: &KeyBinding) -> Vec<u8> {
    format!(
        "{}\0{}\0{}\0{}\0{}\0{}\0{}\0{}",
        b.format,
        b.nip,
        b.name,
        b.agency,
        b.recipient,
        b.not_before,
        b.not_after,
        b.signing_ca_sha256
    )
    .into_bytes()
}

/// Binds an official's age recipient to their NIP, name and agency.
pub fn bind_encryption_key(
    home: &Home,
    store: &dyn KeyStore,
    nip: &str,
    name: &str,
    agency: &str,
    recipient: &str,
    days: u32,
) -> Result<KeyBinding> {
    let state = home.load_state()?;
    ca::check_nip(nip)?;
    recipient
        .parse::<age::x25519::Recipient>()
        .map_err(|e| Error::InvalidInput(format!("{recipient:?} is not an age recipient: {e}")))?;
    let ca_der = home.cert_der(Ca::Signing)?;
    ca::check_ca_validity(Ca::Signing, &ca_der)?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let mut b = KeyBinding {
        format: BINDING_FORMAT.into(),
        nip: nip.into(),
        name: name.into(),
        agency: agency.into(),
        recipient: recipient.into(),
        not_before: now.format(&Rfc3339).unwrap_or_default(),
        not_after: (now + Duration::days(i64::from(days.max(1))))
            .format(&Rfc3339)
            .unwrap_or_default(),
        signing_ca_sha256: sha256_hex(&ca_der),
        algorithm: SignatureAlgorithm::EcdsaP384Sha384,
        signature: String::new(),
    };
    let handle = store.info(state.signing_ca_key)?.handle();
    let sig = store.sign(&handle, &binding_message(&b))?;
    b.algorithm = sig.algorithm;
    b.signature = B64.encode(sig.bytes);
    Log::open(home)?.append(
        store,
        state.log_key,
        "key-binding",
        serde_json::json!({ "nip": nip, "recipient": recipient, "not_after": b.not_after,
            "binding_sha256": binding_sha256(&b) }),
    )?;
    Ok(b)
}

/// Parses a certificate signing request from outside (DER): its self-signature must verify
/// (proof of possession) and its key must be one the network accepts. Returns that key.
pub fn parse_csr(der: &[u8]) -> Result<CheckedCsr> {
    // Parsed once and verified as rcgen's `CertificateSigningRequestParams::from_der` does,
    // without building the request's own parameters: the profile decides every field.
    let csr = csr_info(der)?;
    csr.verify_signature().map_err(|_| {
        Error::Csr("its signature does not match its public key (no proof of possession)".into())
    })?;
    // The key's own algorithm, from its SubjectPublicKeyInfo: rcgen takes the request's
    // signature algorithm for the key's, so a P-384 key signed with SHA-256 (openssl's default)
    // would be certified as a P-256 key.
    let key = spki_key(&csr)?;
    let alg = rcgen::PublicKeyData::algorithm(&key);
    if !(*alg == rcgen::PKCS_ECDSA_P256_SHA256
        || *alg == rcgen::PKCS_ECDSA_P384_SHA384
        || *alg == rcgen::PKCS_ED25519)
    {
        return Err(Error::Csr(
            "only ECDSA P-256/P-384 and Ed25519 keys are accepted".into(),
        ));
    }
    Ok(CheckedCsr(key))
}

/// The public key a request certifies, with the algorithm its SubjectPublicKeyInfo names.
pub(crate) fn csr_key(der: &[u8]) -> Result<rcgen::SubjectPublicKeyInfo> {
    spki_key(&csr_info(der)?)
}

fn csr_info(
    der: &[u8],
) -> Result<x509_parser::certification_request::X509CertificationRequest<'_>> {
    use x509_parser::prelude::FromDer as _;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .map_err(|e| Error::Csr(format!("unreadable: {e}")))?;
    Ok(csr)
}

fn spki_key(
    csr: &x509_parser::certification_request::X509CertificationRequest<'_>,
) -> Result<rcgen::SubjectPublicKeyInfo> {
    rcgen::SubjectPublicKeyInfo::from_der(csr.certification_request_info.subject_pki.raw)
        .map_err(|_| Error::Csr("only ECDSA P-256/P-384 and Ed25519 keys are accepted".into()))
}

/// SHA-256 (hex) of what a binding signs: the name the issuance log finds it by
/// (`key-binding` entries, `Log::certificate_inclusion`), so that a node can take a binding only
/// with keymgr's inclusion proof, as it takes certificates.
pub fn binding_sha256(b: &KeyBinding) -> String {
    hex::encode(binding_digest(b))
}

/// [`binding_sha256`] as the raw digest, for callers that look it up by bytes.
pub fn binding_digest(b: &KeyBinding) -> [u8; 32] {
    let mut d = [0u8; 32];
    d.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, &binding_message(b)).as_ref());
    d
}

/// Verifies a key binding against the Signing CA certificate and the root it chains to.
pub fn verify_binding(b: &KeyBinding, signing_ca_der: &[u8], root_der: &[u8]) -> Result<()> {
    let bad = |r: &str| Error::InvalidInput(format!("key binding: {r}"));
    if b.format != BINDING_FORMAT {
        return Err(bad("unknown format"));
    }
    if b.signing_ca_sha256 != sha256_hex(signing_ca_der) {
        return Err(bad("signed by another Signing CA certificate"));
    }
    let (_, ca_cert) = x509_parser::parse_x509_certificate(signing_ca_der)
        .map_err(|_| bad("unreadable Signing CA"))?;
    let (_, root) =
        x509_parser::parse_x509_certificate(root_der).map_err(|_| bad("unreadable root"))?;
    ca_cert
        .verify_signature(Some(root.public_key()))
        .map_err(|_| bad("the Signing CA does not chain to this root"))?;
    let spki = ca::spki_of_cert(signing_ca_der)?;
    let sig = B64
        .decode(&b.signature)
        .map_err(|_| bad("signature is not base64"))?;
    verify_signature(&spki, b.algorithm, &binding_message(b), &sig)
        .map_err(|_| bad("the signature does not verify"))?;
    let now = OffsetDateTime::now_utc();
    let nb = OffsetDateTime::parse(&b.not_before, &Rfc3339).map_err(|_| bad("bad not_before"))?;
    let na = OffsetDateTime::parse(&b.not_after, &Rfc3339).map_err(|_| bad("bad not_after"))?;
    if now < nb || now > na {
        return Err(bad("not valid now"));
    }
    Ok(())
}
