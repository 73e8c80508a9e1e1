//! An official's signing certificate and encryption key binding: checked before either is
//! installed, whether an admin brings the certificate (`admin::install_certificate`) or the
//! node asks the online CA for both once the official's registration is approved
//! ([`from_ca`]).

use crate::network::ca::{CaClient, OfficialRegistration};
use crate::node::Node;
use crate::officials::directory::{self, Official};
use crate::{Error, Result};

/// A signing certificate fit for `official`: it chains to the Signing CA (and the root), names
/// the official's NIP, and certifies the official's own signing key.
pub fn check_certificate(node: &Node, official: &Official, der: &[u8]) -> Result<()> {
    let nip = official.nip.as_str();
    let signing_only = crate::crypto::signature::Trust::new(
        node.trust.root_der().to_vec(),
        vec![node.signing_ca_der.clone()],
    );
    crate::crypto::signature::check_chain(der, &signing_only, time::OffsetDateTime::now_utc())
        .map_err(|e| Error::invalid("certificate", format!("certificate: {e}")))?;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| Error::invalid("certificate", format!("certificate: {e}")))?;
    let named = cert
        .subject()
        .iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER)
        .next()
        .and_then(|a| a.as_str().ok());
    if named != Some(nip) {
        return Err(Error::invalid(
            "certificate",
            format!("the certificate does not name NIP {nip}"),
        ));
    }
    let key = official
        .signing_key
        .ok_or_else(|| Error::invalid("signing key", "the official has no signing key"))?;
    let spki = hsm_shim::KeyStore::public_key(node.keystore.as_ref(), &node.handle(key)?)?;
    if cert.public_key().raw != spki.as_slice() {
        return Err(Error::invalid(
            "certificate",
            "the certificate is for another key than the official's signing key",
        ));
    }
    Ok(())
}

/// Asks the online CA for `nip`'s signing certificate (for the official's current signing
/// key) and encryption key binding, checks both and installs them. The node must be unsealed
/// (the CSR is signed with the official's key) and have a `[ca]`.
pub async fn from_ca(node: &Node, nip: &str) -> Result<()> {
    if node.is_sealed() {
        return Err(Error::Sealed);
    }
    let official = directory::get(&node.store, nip)
        .await?
        .ok_or_else(|| Error::NotFound(format!("official {nip}")))?;
    let signing = official.signing_key.ok_or_else(|| Error::MissingKey {
        what: format!("signing key for official {nip}"),
    })?;
    let encryption = official.encryption_key.ok_or_else(|| Error::MissingKey {
        what: format!("encryption key for official {nip}"),
    })?;
    let client = CaClient::for_node(node)?;
    let csr =
        crate::crypto::tls::official_csr(node.keystore.as_ref(), signing, nip, &official.name)?;
    let issued = client
        .issue_official(
            &OfficialRegistration {
                nip: nip.into(),
                name: official.name.clone(),
                agency: official.agency.clone(),
                clearance: official.clearance.as_str().into(),
            },
            &csr,
        )
        .await?;
    check_certificate(node, &official, &issued.certificate)?;
    let recipient =
        hsm_shim::age_recipient(node.keystore.as_ref(), &node.handle(encryption)?)?.to_string();
    let binding = client.bind_official(nip, &recipient).await?;
    let binding: keymgr::issue::KeyBinding = serde_json::from_value(binding)
        .map_err(|e| Error::invalid("key binding", format!("the CA's key binding: {e}")))?;
    keymgr::issue::verify_binding(&binding, &node.signing_ca_der, node.trust.root_der())?;
    if binding.nip != nip || binding.recipient != recipient {
        return Err(Error::invalid(
            "key binding",
            format!("the CA's key binding is not for {nip}'s encryption key"),
        ));
    }
    directory::set_certificate(&node.store, nip, &issued.certificate).await?;
    directory::set_key_binding(
        &node.store,
        nip,
        &serde_json::to_string(&binding).map_err(|e| Error::encode("a key binding", e))?,
    )
    .await
}
