//! The CA's home directory, its state, and the certificate profiles of the sandi network.
//!
//! ```text
//! HOME/root-keystore/     the Root CA key (sealed; a quorum unseals it for each ceremony), or
//!                         ROOT-HOME/root-keystore/ on removable media (`--root-home`)
//! HOME/online-keystore/   Network CA, Signing CA, issued and log keys (a quorum unseals it)
//! HOME/ca/*.pem           root.pem, network-ca.pem, signing-ca.pem
//! HOME/ca/state.json      ids of the CA keys, the quorum, the custodians
//! HOME/transcripts/       one signed transcript per ceremony
//! HOME/log/               the transparency log
//! HOME/issued/            every issued certificate (PEM) and its record (JSON)
//! ```

use std::path::{Path, PathBuf};

use hsm_shim::{KeyId, Quorum};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyUsagePurpose, NameConstraints, PublicKeyData,
    SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::{Error, Result};

/// The three CAs of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ca {
    Root,
    Network,
    Signing,
}

impl Ca {
    pub fn file_name(self) -> &'static str {
        match self {
            Ca::Root => "root.pem",
            Ca::Network => "network-ca.pem",
            Ca::Signing => "signing-ca.pem",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Ca::Root => "Root CA",
            Ca::Network => "Network CA",
            Ca::Signing => "Signing CA",
        }
    }
}

/// A custodian as recorded in the CA state (no secrets).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustodianRecord {
    pub index: u8,
    pub name: String,
    pub protection: String,
    /// The SSH Ed25519 key (`ssh-ed25519 AAAA…`) the custodian countersigns transcripts with;
    /// homes made before countersignatures have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
}

/// What keymgr remembers between runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaState {
    pub format: u32,
    /// The ceremony that dealt the current shares; share files name it.
    pub share_ceremony: uuid::Uuid,
    pub organisation: String,
    pub network_domain: Option<String>,
    pub quorum: Quorum,
    pub custodians: Vec<CustodianRecord>,
    pub root_key: KeyId,
    pub network_ca_key: KeyId,
    pub signing_ca_key: KeyId,
    pub log_key: KeyId,
    /// The organisation's OID arc, under which sandi's own extensions live (see
    /// [`crate::oid_arc`]); homes made before it was chosen at the ceremony have the
    /// development arc.
    #[serde(default = "dev_oid_arc")]
    pub oid_arc: String,
    /// The `http://` base URL under which the CRLs, CA certificates and OCSP answers are
    /// published (see [`crate::publication`]); certificates point there when it is set.
    #[serde(default)]
    pub publication_url: Option<String>,
}

fn dev_oid_arc() -> String {
    crate::oid_arc::DEV_OID_ARC.into()
}

impl CaState {
    /// The key of an online intermediate; the root's key is used only in ceremonies.
    pub fn intermediate_key(&self, ca: Ca) -> Result<KeyId> {
        match ca {
            Ca::Network => Ok(self.network_ca_key),
            Ca::Signing => Ok(self.signing_ca_key),
            Ca::Root => Err(Error::InvalidInput(
                "the Root CA's key is used only in a root ceremony".into(),
            )),
        }
    }
}

/// A CA home directory.
#[derive(Clone, Debug)]
#[allow(clippy::struct_field_names)] // `root_home` is named as `--root-home` names it
pub struct Home {
    dir: PathBuf,
    /// Where the root keystore lives when it is not in the home: its own directory on
    /// removable media, brought for root ceremonies only.
    root_home: Option<PathBuf>,
    /// The state and CA certificates as issuance last read them (see [`crate::ca_cache`]).
    cache: std::sync::Arc<crate::ca_cache::CaCache>,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Home {
            dir: dir.into(),
            root_home: None,
            cache: std::sync::Arc::default(),
        }
    }

    /// The CA state and the issuing CAs' certificates, read again only when they changed.
    pub fn snapshot(&self) -> Result<std::sync::Arc<crate::ca_cache::CaSnapshot>> {
        self.cache.get(self)
    }

    /// The same home with its root keystore in `root_home/root-keystore`.
    #[must_use]
    pub fn with_root_home(mut self, root_home: impl Into<PathBuf>) -> Self {
        self.root_home = Some(root_home.into());
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn root_keystore(&self) -> PathBuf {
        self.root_home
            .as_deref()
            .unwrap_or(&self.dir)
            .join("root-keystore")
    }

    /// Whether a root keystore sits in the home itself (a development home, or one whose root
    /// key was never moved to its own media).
    pub fn holds_root_keystore(&self) -> bool {
        self.dir.join("root-keystore").exists()
    }
    pub fn online_keystore(&self) -> PathBuf {
        self.dir.join("online-keystore")
    }
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.join("ca")
    }
    pub fn cert_path(&self, ca: Ca) -> PathBuf {
        self.ca_dir().join(ca.file_name())
    }
    pub fn state_path(&self) -> PathBuf {
        self.ca_dir().join("state.json")
    }
    pub fn transcripts_dir(&self) -> PathBuf {
        self.dir.join("transcripts")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("log")
    }
    pub fn issued_dir(&self) -> PathBuf {
        self.dir.join("issued")
    }

    pub fn is_initialised(&self) -> bool {
        self.state_path().exists()
    }

    pub fn load_state(&self) -> Result<CaState> {
        let path = self.state_path();
        if !path.exists() {
            return Err(Error::NotInitialised(self.dir.clone()));
        }
        let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))
    }

    pub(crate) fn save_state(&self, state: &CaState) -> Result<()> {
        let json =
            serde_json::to_vec_pretty(state).map_err(|e| Error::InvalidInput(e.to_string()))?;
        self.cache.forget();
        write_file(&self.state_path(), &json)?;
        self.cache.forget();
        Ok(())
    }

    /// The DER of one of the CA certificates.
    pub fn cert_der(&self, ca: Ca) -> Result<Vec<u8>> {
        let path = self.cert_path(ca);
        let pem = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
        pem_to_der(&pem).ok_or_else(|| {
            Error::InvalidInput(format!("{} is not a PEM certificate", path.display()))
        })
    }
}

/// Writes a file whole: temp, fsync, rename.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("renaming into place", path, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing", dir, e))
}

pub fn der_to_pem(der: &[u8]) -> String {
    pem_encode("CERTIFICATE", der)
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The first PEM block's DER.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start..];
    let body_start = rest.find('\n')? + 1;
    let end = rest.find("-----END ")?;
    let body: String = rest[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The SubjectPublicKeyInfo (DER) of a certificate.
pub fn spki_of_cert(der: &[u8]) -> Result<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::Certificate(format!("unreadable certificate: {e}")))?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}

/// Refuses to issue from a CA certificate that is not valid now.
pub(crate) fn check_ca_validity(ca: Ca, der: &[u8]) -> Result<()> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::Certificate(format!("unreadable {} certificate: {e}", ca.name())))?;
    if !cert.validity().is_valid() {
        return Err(Error::CaExpired {
            ca: ca.name().into(),
            not_after: cert.validity().not_after.to_string(),
        });
    }
    Ok(())
}

/// A fresh positive 16-byte serial number.
pub(crate) fn new_serial() -> Result<SerialNumber> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Certificate("random serial".into()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // keep the full length: no leading zero to strip
    Ok(SerialNumber::from_slice(&bytes))
}

fn now() -> OffsetDateTime {
    // A minute of slack for clocks that disagree a little.
    OffsetDateTime::now_utc() - Duration::minutes(1)
}

/// The country of every name the network issues (ISO 3166 alpha-2).
const COUNTRY: &str = "ID";

/// A distinguished name: C, then the given attributes. RFC 5280 (appendix A.1) makes
/// countryName a PrintableString; the others are DirectoryStrings, written as UTF8String.
fn dn(pairs: &[(DnType, &str)]) -> Result<DistinguishedName> {
    let mut d = DistinguishedName::new();
    let country = rcgen::string::PrintableString::try_from(COUNTRY)
        .map_err(|_| Error::Certificate("country code is not printable".into()))?;
    d.push(DnType::CountryName, DnValue::PrintableString(country));
    for (t, v) in pairs {
        d.push(t.clone(), DnValue::Utf8String((*v).to_string()));
    }
    Ok(d)
}

/// RFC 5280's upper bound on the common name, organisation and organisational unit, in
/// characters (ub-common-name, ub-organization-name, ub-organizational-unit-name).
pub const MAX_NAME_CHARS: usize = 64;

/// A value that goes into a distinguished name: printable and within RFC 5280's bounds.
pub(crate) fn check_name(what: &str, v: &str) -> Result<()> {
    check_text(what, v)?;
    if v.chars().count() > MAX_NAME_CHARS {
        return Err(Error::InvalidInput(format!(
            "{what} must be at most {MAX_NAME_CHARS} characters (RFC 5280's bound for names in \
             certificates)"
        )));
    }
    Ok(())
}

/// The key identifier of a public key (the subjectPublicKey bits): RFC 7093 method 1, the
/// leftmost 160 bits of its SHA-256, which validators recognise.
pub fn key_identifier(raw_public_key: &[u8]) -> Vec<u8> {
    let digest = ring::digest::digest(&ring::digest::SHA256, raw_public_key);
    digest.as_ref()[..20].to_vec()
}

/// Sets the subject key identifier of `params` to the one of `key`, the key it certifies.
pub fn identify_key(params: &mut CertificateParams, key: &impl PublicKeyData) {
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_identifier(key.der_bytes()));
}

/// What every profile ends with: the authority key identifier, a validity of `days` from
/// now, and a fresh serial number.
fn dated(p: &mut CertificateParams, days: i64) -> Result<()> {
    p.use_authority_key_identifier_extension = true;
    p.not_before = now();
    p.not_after = p.not_before + Duration::days(days);
    p.serial_number = Some(new_serial()?);
    Ok(())
}

/// Root CA: self-signed, unconstrained path length, 20 years.
pub fn root_profile(org: &str) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, org),
        (DnType::CommonName, "sandi Root CA"),
    ])?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // Optional for a self-signed certificate (RFC 5280 4.2.1.1), but path builders and
    // pkilint's issuer/subject check look for it.
    dated(&mut p, 365 * 20)?;
    Ok(p)
}

/// Network CA and Signing CA: signed by the root, path length 0, 5 years; the Network CA is
/// name-constrained to the network's DNS domain when one is given.
pub fn intermediate_profile(
    ca: Ca,
    org: &str,
    network_domain: Option<&str>,
) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, org),
        (DnType::CommonName, &format!("sandi {}", ca.name())),
    ])?;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    if let (Ca::Network, Some(domain)) = (ca, network_domain) {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![rcgen::GeneralSubtree::DnsName(domain.to_string())],
            excluded_subtrees: Vec::new(),
        });
    }
    dated(&mut p, 365 * 5)?;
    Ok(p)
}

/// The accreditation levels a node may be accredited to hold.
pub const LEVELS: [&str; 4] = ["biasa", "terbatas", "rahasia", "sangat_rahasia"];

fn der_utf8(s: &str) -> Vec<u8> {
    let mut out = vec![0x0c];
    der_len(&mut out, s.len());
    out.extend_from_slice(s.as_bytes());
    out
}

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else if len < 0x100 {
        out.extend([0x81, u8::try_from(len).unwrap_or(0)]);
    } else {
        out.extend([
            0x82,
            u8::try_from(len >> 8).unwrap_or(0),
            u8::try_from(len & 0xff).unwrap_or(0),
        ]);
    }
}

/// A docsvc node certificate request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeRequest {
    pub node_id: String,
    pub agency: String,
    pub accreditation: String,
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
    pub days: u32,
}

fn check_text(what: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() || v.len() > 200 || v.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "{what} must be 1-200 printable characters"
        )));
    }
    Ok(())
}

/// Node certificate: serverAuth + clientAuth, DNS/IP SANs, agency and accreditation recorded
/// in the node attributes extension under the organisation's OID arc.
pub fn node_profile(org: &str, oid_arc: &str, req: &NodeRequest) -> Result<CertificateParams> {
    check_name("node id", &req.node_id)?;
    check_name("agency", &req.agency)?;
    if !LEVELS.contains(&req.accreditation.as_str()) {
        return Err(Error::InvalidInput(format!(
            "accreditation {:?} is not one of {}",
            req.accreditation,
            LEVELS.join(", ")
        )));
    }
    if req.dns.is_empty() && req.ips.is_empty() {
        return Err(Error::InvalidInput(
            "a node certificate needs at least one DNS name or IP address".into(),
        ));
    }
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, org),
        (DnType::OrganizationalUnitName, &req.agency),
        (DnType::CommonName, &req.node_id),
    ])?;
    for name in &req.dns {
        let ia5 = rcgen::string::Ia5String::try_from(name.as_str())
            .map_err(|_| Error::InvalidInput(format!("DNS name {name:?} is not ASCII")))?;
        p.subject_alt_names.push(rcgen::SanType::DnsName(ia5));
    }
    p.subject_alt_names
        .extend(req.ips.iter().map(|ip| rcgen::SanType::IpAddress(*ip)));
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let mut content = der_utf8(&req.agency);
    content.extend(der_utf8(&req.accreditation));
    let mut seq = vec![0x30];
    der_len(&mut seq, content.len());
    seq.extend(content);
    p.custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            &crate::oid_arc::node_attributes_oid(oid_arc)?,
            seq,
        ));
    dated(&mut p, i64::from(req.days.max(1)))?;
    Ok(p)
}

/// An official's signing certificate request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OfficialRequest {
    pub name: String,
    pub nip: String,
    pub agency: String,
    pub days: u32,
}

/// The document-signing extended key usage (RFC 9336).
pub const EKU_DOCUMENT_SIGNING: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 3, 36];

/// Checks a NIP: 18 digits.
pub fn check_nip(nip: &str) -> Result<()> {
    if nip.len() == 18 && nip.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "NIP {nip:?} must be 18 digits"
        )))
    }
}

/// Official's signing certificate: digitalSignature + nonRepudiation; emailProtection and
/// document signing; name, NIP as serialNumber, agency as OU, organisation as O.
pub fn official_profile(org: &str, req: &OfficialRequest) -> Result<CertificateParams> {
    check_name("name", &req.name)?;
    check_name("agency", &req.agency)?;
    check_nip(&req.nip)?;
    let mut p = CertificateParams::default();
    let mut d = dn(&[
        (DnType::OrganizationName, org),
        (DnType::OrganizationalUnitName, &req.agency),
        (DnType::CommonName, &req.name),
    ])?;
    let nip = rcgen::string::PrintableString::try_from(req.nip.as_str())
        .map_err(|_| Error::InvalidInput("NIP must be printable".into()))?;
    d.push(
        DnType::CustomDnType(vec![2, 5, 4, 5]),
        DnValue::PrintableString(nip),
    );
    p.distinguished_name = d;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::EmailProtection,
        ExtendedKeyUsagePurpose::Other(EKU_DOCUMENT_SIGNING.to_vec()),
    ];
    dated(&mut p, i64::from(req.days.max(1)))?;
    Ok(p)
}

/// An application's client certificate request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApplicationRequest {
    pub name: String,
    pub agency: String,
    pub days: u32,
}

/// Application client certificate: clientAuth only.
pub fn application_profile(org: &str, req: &ApplicationRequest) -> Result<CertificateParams> {
    check_name("application name", &req.name)?;
    check_name("agency", &req.agency)?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, org),
        (DnType::OrganizationalUnitName, &req.agency),
        (DnType::CommonName, &req.name),
    ])?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    dated(&mut p, i64::from(req.days.max(1)))?;
    Ok(p)
}

/// A delegated OCSP responder's certificate request: which CA it answers for, and for how long.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OcspResponderRequest {
    pub ca: Ca,
    pub days: u32,
}

/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): clients need not check the responder's own
/// revocation status; its short validity is what limits a compromise.
pub const OCSP_NOCHECK: [u64; 10] = [1, 3, 6, 1, 5, 5, 7, 48, 1, 5];

/// Delegated OCSP responder (RFC 6960 §4.2.2.2): issued by the CA it answers for,
/// digitalSignature, id-kp-OCSPSigning only, id-pkix-ocsp-nocheck, a short validity.
pub fn ocsp_responder_profile(org: &str, req: &OcspResponderRequest) -> Result<CertificateParams> {
    if req.ca == Ca::Root {
        return Err(Error::InvalidInput(
            "the Root CA is offline: OCSP answers only for the Network and Signing CAs".into(),
        ));
    }
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, org),
        (
            DnType::CommonName,
            &format!("sandi {} OCSP Responder", req.ca.name()),
        ),
    ])?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    // The extension's value is NULL.
    p.custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            &OCSP_NOCHECK,
            vec![0x05, 0x00],
        ));
    dated(&mut p, i64::from(req.days.clamp(1, 90)))?;
    Ok(p)
}

/// An operator's client certificate request: a named person who proposes and approves
/// network directory versions at the online CA's API (`keymgr operator add`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OperatorRequest {
    pub name: String,
    pub days: u32,
}

/// The organisational unit that marks an operator's certificate.
pub const OPERATOR_UNIT: &str = "sandi CA operators";

/// Operator client certificate: clientAuth only, the operator's name as CN, in the operators'
/// unit.
pub fn operator_profile(org: &str, req: &OperatorRequest) -> Result<CertificateParams> {
    check_name("operator name", &req.name)?;
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, org),
        (DnType::OrganizationalUnitName, OPERATOR_UNIT),
        (DnType::CommonName, &req.name),
    ])?;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    dated(&mut p, i64::from(req.days.clamp(1, 825)))?;
    Ok(p)
}

/// The online CA API's server certificate request: the names clients reach it by.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiServerRequest {
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
    pub days: u32,
}

/// The online CA API's server certificate: serverAuth only, DNS/IP SANs.
pub fn api_server_profile(org: &str, req: &ApiServerRequest) -> Result<CertificateParams> {
    if req.dns.is_empty() && req.ips.is_empty() {
        return Err(Error::InvalidInput(
            "the API certificate needs at least one DNS name or IP address".into(),
        ));
    }
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&[
        (DnType::OrganizationName, org),
        (DnType::CommonName, "sandi online CA API"),
    ])?;
    for name in &req.dns {
        let ia5 = rcgen::string::Ia5String::try_from(name.as_str())
            .map_err(|_| Error::InvalidInput(format!("DNS name {name:?} is not ASCII")))?;
        p.subject_alt_names.push(rcgen::SanType::DnsName(ia5));
    }
    p.subject_alt_names
        .extend(req.ips.iter().map(|ip| rcgen::SanType::IpAddress(*ip)));
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    dated(&mut p, i64::from(req.days.clamp(1, 397)))?;
    Ok(p)
}
