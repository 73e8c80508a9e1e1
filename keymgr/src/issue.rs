//! Issuance with the online intermediates (the root stays sealed): node certificates,
//! officials' signing certificates, application client certificates, and the signed binding of
//! an official's X25519 encryption key to their identity.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hsm_shim::{KeyId, KeyKind, KeyStore, SignatureAlgorithm, verify_signature};
use rcgen::{CertificateParams, CertificateSigningRequestParams};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::ca::{self, ApplicationRequest, Ca, CaState, Home, NodeRequest, OfficialRequest};
use crate::signer::HsmSigner;
use crate::tlog::Log;
use crate::transcript::sha256_hex;
use crate::{Error, Result};

/// Where the subject's key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// Generated inside the CA's keystore (ECDSA P-256); the private key never leaves it.
    Generate,
    /// A PKCS#10 request (DER); its signature proves possession of the key.
    Csr(Vec<u8>),
}

/// What was issued.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IssuedRecord {
    pub serial: String,
    pub profile: String,
    pub subject: String,
    pub issuer: Ca,
    pub not_before: String,
    pub not_after: String,
    pub key: Option<KeyId>,
    pub certificate_sha256: String,
    pub state: String,
}

/// An issued certificate with its record.
#[derive(Clone, Debug)]
pub struct Issued {
    pub record: IssuedRecord,
    pub certificate_der: Vec<u8>,
}

impl Issued {
    pub fn certificate_pem(&self) -> String {
        ca::der_to_pem(&self.certificate_der)
    }
}

/// One certificate to issue: which CA, the profile's parameters, the key label, the profile name.
struct Order {
    issuer_ca: Ca,
    params: CertificateParams,
    label: String,
    profile: &'static str,
}

fn issue(
    home: &Home,
    store: &dyn KeyStore,
    state: &CaState,
    order: Order,
    source: KeySource,
) -> Result<Issued> {
    let Order {
        issuer_ca,
        params,
        label,
        profile,
    } = order;
    let ca_der = home.cert_der(issuer_ca)?;
    ca::check_ca_validity(issuer_ca, &ca_der)?;
    let issuer_key = match issuer_ca {
        Ca::Network => state.network_ca_key,
        Ca::Signing => state.signing_ca_key,
        Ca::Root => {
            return Err(Error::InvalidInput(
                "the root issues only in a ceremony".into(),
            ));
        }
    };
    let issuer_handle = store.info(issuer_key)?.handle();
    let signer = HsmSigner::new(store, issuer_handle)?;
    let issuer = rcgen::Issuer::from_ca_cert_der(&ca_der.into(), signer)?;
    let (cert, key) = match source {
        KeySource::Generate => {
            let key = store.generate(KeyKind::EcdsaP256, &label)?;
            let subject = HsmSigner::new(store, key)?;
            (params.signed_by(&subject, &issuer)?, Some(key.id()))
        }
        KeySource::Csr(der) => {
            let csr = CertificateSigningRequestParams::from_der(&der.into()).map_err(|e| {
                Error::Csr(match e {
                    rcgen::Error::InvalidCertificationRequestSignature => {
                        "its signature does not match its public key (no proof of possession)"
                            .into()
                    }
                    other => other.to_string(),
                })
            })?;
            if !matches!(
                csr.public_key.algorithm(),
                a if *a == rcgen::PKCS_ECDSA_P256_SHA256 || *a == rcgen::PKCS_ECDSA_P384_SHA384 || *a == rcgen::PKCS_ED25519
            ) {
                return Err(Error::Csr(
                    "only ECDSA P-256/P-384 and Ed25519 keys are accepted".into(),
                ));
            }
            (params.signed_by(&csr.public_key, &issuer)?, None)
        }
    };
    let der = cert.der().to_vec();
    let (_, parsed) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| Error::Certificate(format!("issued certificate does not parse: {e}")))?;
    let record = IssuedRecord {
        serial: parsed
            .tbs_certificate
            .raw_serial_as_string()
            .replace(':', ""),
        profile: profile.into(),
        subject: parsed.subject().to_string(),
        issuer: issuer_ca,
        not_before: parsed
            .validity()
            .not_before
            .to_rfc2822()
            .unwrap_or_default(),
        not_after: parsed.validity().not_after.to_rfc2822().unwrap_or_default(),
        key,
        certificate_sha256: sha256_hex(&der),
        state: "active".into(),
    };
    let dir = home.issued_dir();
    ca::write_file(
        &dir.join(format!("{}.pem", record.serial)),
        ca::der_to_pem(&der).as_bytes(),
    )?;
    ca::write_file(
        &dir.join(format!("{}.json", record.serial)),
        &serde_json::to_vec_pretty(&record).map_err(|e| Error::InvalidInput(e.to_string()))?,
    )?;
    Log::open(home)?.append(
        store,
        state.log_key,
        "issued",
        serde_json::to_value(&record).unwrap_or_default(),
    )?;
    Ok(Issued {
        record,
        certificate_der: der,
    })
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

/// Issues a docsvc node certificate from the Network CA.
pub fn node(
    home: &Home,
    store: &dyn KeyStore,
    req: &NodeRequest,
    source: KeySource,
) -> Result<Issued> {
    let state = home.load_state()?;
    let order = Order {
        issuer_ca: Ca::Network,
        params: ca::node_profile(&state.organisation, req)?,
        label: format!("node:{}", slug_label(&req.node_id)),
        profile: "node",
    };
    issue(home, store, &state, order, source)
}

/// Issues an official's signing certificate from the Signing CA.
pub fn official(
    home: &Home,
    store: &dyn KeyStore,
    req: &OfficialRequest,
    source: KeySource,
) -> Result<Issued> {
    let state = home.load_state()?;
    let order = Order {
        issuer_ca: Ca::Signing,
        params: ca::official_profile(&state.organisation, req)?,
        label: format!("official:{}", req.nip),
        profile: "official",
    };
    issue(home, store, &state, order, source)
}

/// Issues an application's client certificate from the Network CA.
pub fn application(
    home: &Home,
    store: &dyn KeyStore,
    req: &ApplicationRequest,
    source: KeySource,
) -> Result<Issued> {
    let state = home.load_state()?;
    let order = Order {
        issuer_ca: Ca::Network,
        params: ca::application_profile(&state.organisation, req)?,
        label: format!("app:{}", slug_label(&req.name)),
        profile: "application",
    };
    issue(home, store, &state, order, source)
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
        serde_json::json!({ "nip": nip, "recipient": recipient, "not_after": b.not_after }),
    )?;
    Ok(b)
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
