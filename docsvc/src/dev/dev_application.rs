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
    keys: (&SoftwareKeyStore, &dyn KeyStore),
    store: &Store,
    table: &policies::HandlingTable,
) -> Result<()> {
    let app = DevApplication {
        id: "e-office",
        name: "e-Office Pemerintah Kota",
        clearance: Level::Rahasia,
    };
    register_dev_application(layout, home, inv, keys, (store, table), &app).await
}

/// A dev application: its id (also its client certificate's name and folder under `apps/`),
/// its name, and the clearance that decides its signing key's kind.
pub(crate) struct DevApplication<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub clearance: Level,
}

/// Registers `app` as [`dev_application`] registers `e-office`.
pub(crate) async fn register_dev_application(
    layout: &Layout,
    home: &Home,
    inv: &Inventory,
    (online, keystore): (&SoftwareKeyStore, &dyn KeyStore),
    (store, table): (&Store, &policies::HandlingTable),
    app: &DevApplication<'_>,
) -> Result<()> {
    let dir = layout.dir().join("apps").join(app.id);
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
        .push(rcgen::DnType::CommonName, app.id);
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
            name: app.id.into(),
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
    let registered = applications::register(
        store,
        keystore,
        table,
        &NewApplication {
            id: app.id.into(),
            name: app.name.into(),
            agency: "diskominfo".into(),
            clearance: app.clearance,
            client: ClientKey::Certificate(client.record.der.clone()),
            may_sign_for: vec![super::quickstart::DEV_OFFICIALS[0].0.into()],
        },
    )
    .await?;
    let key = registered.signing_key.ok_or_else(|| Error::MissingKey {
        what: "signing key".into(),
    })?;
    let signing = issue::issue(
        home,
        online,
        inv,
        Request::Application(ApplicationRequest {
            name: format!("{}-signing", app.id),
            agency: "diskominfo".into(),
            days: 365,
        }),
        KeySource::Csr(csr_for(keystore, key, &format!("{}-signing", app.id))?),
    )
    .await?;
    applications::set_certificate(store, &registered.id, &signing.record.der).await
}
