//! The root ceremonies for an intermediate CA: a new key certified by the root (rotation, or
//! a new intermediate after a revocation), and a revocation the root signs a CRL for.

use std::path::PathBuf;

use hsm_shim::{KeyKind, KeyStore};
use serde_json::json;

use super::init::ca_record;
use super::{Attendance, QuorumSession};
use crate::ca::{self, Ca, Home};
use crate::inventory::{self, Inventory};
use crate::signer::HsmSigner;
use crate::transcript::sha256_hex;
use crate::{Error, Result};

/// The fixed scripts of the ceremonies for an intermediate; each hash is recorded before the
/// first step.
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
    let online = session.online_keys()?;
    let old_key = session.state.intermediate_key(which)?;
    let root_der = home.cert_der(Ca::Root)?;
    ca::check_ca_validity(Ca::Root, &root_der)?;
    let mut c = session.open_ceremony(
        "rotate-intermediate",
        ROTATE_INTERMEDIATE_SCRIPT,
        who,
        &json!({ "ca": which.name() }),
        None,
    )?;
    let old_der = home.cert_der(which)?;
    let old_info = online.info(old_key)?;
    let key = online.generate(KeyKind::EcdsaP384, &old_info.label)?;
    let signer = HsmSigner::new(online, key)?;
    let mut params = ca::intermediate_profile(
        which,
        &session.state.organisation,
        session.state.network_domain.as_deref(),
    )?;
    ca::identify_key(&mut params, &signer);
    crate::publication::apply(
        &mut params,
        session.state.publication_url.as_deref(),
        Ca::Root,
    )?;
    let root_signer = HsmSigner::new(root, root.info(session.state.root_key)?.handle())?;
    let root_issuer = rcgen::Issuer::from_ca_cert_der(&root_der.into(), root_signer)?;
    let der = params.signed_by(&signer, &root_issuer)?.der().to_vec();
    c.record(
        "intermediate.rotated",
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
    session.close_ceremony(home, c)
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
    let mut c = session.open_ceremony(
        "revoke-intermediate",
        REVOKE_INTERMEDIATE_SCRIPT,
        who,
        &json!({ "ca": which.name(), "reason": reason }),
        None,
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
        crate::revoke::ROOT_CRL_VALIDITY,
    )
    .await?;
    c.record(
        "intermediate.revoked",
        json!({ "ca": which.name(), "serial": record.serial, "reason": reason,
                "root_crl_number": crl.number, "root_crl_sha256": sha256_hex(&crl.der) }),
    )?;
    session.close_ceremony(home, c)
}
