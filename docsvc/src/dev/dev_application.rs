//! The quickstart's dev application `e-office`, registered as an operator would not: with a
//! client certificate issued on the spot by the dev CA (production applications bring their
//! own request: `officials::application_admin`).

use hsm_shim::{KeyStore, SoftwareKeyStore};
use keymgr::ca::{ApplicationRequest, Home};
use keymgr::inventory::Inventory;
use keymgr::issue::{self, KeySource, Request};
use policies::Level;
use zeroize::Zeroizing;

use crate::crypto::tls::csr_for;
use crate::node::Layout;
use crate::officials::applications::{self, ClientKey, NewApplication};
use crate::private_files::write_private;
use crate::store::Store;
use crate::{Error, Result};

/// The dev application `e-office`: a client key and certificate for mutual TLS (files the
/// application keeps, in `apps/e-office/`), and a signing key in the node's keystore with its
/// own certificate. It may sign for the head of dinkes.
pub(super) async fn dev_application(
    layout: &Layout,
    home: &Home,
    inv: &Inventory,
    (online, keystore): (&SoftwareKeyStore, &dyn KeyStore),
    store: &Store,
    table: &policies::HandlingTable,
) -> Result<()> {
    let dir = layout.dir().join("apps").join("e-office");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    let client_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| {
        Error::Crypto {
            op: "generating the client key",
            detail: e.to_string(),
        }
    })?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "e-office");
    let csr = params
        .serialize_request(&client_key)
        .map_err(|e| Error::Crypto {
            op: "building the client CSR",
            detail: e.to_string(),
        })?;
    let client = issue::issue(
        home,
        online,
        inv,
        Request::Application(ApplicationRequest {
            name: "e-office".into(),
            agency: "diskominfo".into(),
            days: 365,
        }),
        KeySource::Csr(csr.der().to_vec()),
    )
    .await?;
    write_private(
        &dir.join("client.key"),
        Zeroizing::new(client_key.serialize_pem()).as_bytes(),
    )?;
    let chain = format!(
        "{}{}",
        keymgr::ca::der_to_pem(&client.record.der),
        keymgr::ca::der_to_pem(&home.cert_der(keymgr::ca::Ca::Network)?)
    );
    std::fs::write(dir.join("client.pem"), chain).map_err(|e| Error::io("writing", &dir, e))?;
    let app = applications::register(
        store,
        keystore,
        table,
        &NewApplication {
            id: "e-office".into(),
            name: "e-Office Pemerintah Kota".into(),
            agency: "diskominfo".into(),
            clearance: Level::Rahasia,
            client: ClientKey::Certificate(client.record.der.clone()),
            may_sign_for: vec![super::quickstart::DEV_OFFICIALS[0].0.into()],
        },
    )
    .await?;
    let key = app.signing_key.ok_or_else(|| Error::MissingKey {
        what: "signing key".into(),
    })?;
    let signing = issue::issue(
        home,
        online,
        inv,
        Request::Application(ApplicationRequest {
            name: "e-office-signing".into(),
            agency: "diskominfo".into(),
            days: 365,
        }),
        KeySource::Csr(csr_for(keystore, key, "e-office-signing")?),
    )
    .await?;
    applications::set_certificate(store, &app.id, &signing.record.der).await
}
