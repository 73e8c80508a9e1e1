//! Issue 15, the PKI points, as an attacker tries them against a quickstart node driven
//! through its own router and library:
//! - a revoked certificate must not work again once the CRL goes stale or disappears
//!   (application, node, letter signatures on create, read and verify): `revocation-unknown`;
//! - an older CRL dropped into `crl/` never replaces a newer one;
//! - `/readyz` and `/metrics` warn of CRLs that go stale within `crl_warn_hours`;
//! - the read view shows the real signature status, revocation at signing time included;
//! - backups are accepted only under a node certificate's seal, and restore writes only the
//!   tables and columns it knows.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use docsvc::crypto::envelope::Urgency;
use docsvc::letters::documents::{self, Ingest, NewLetter};
use docsvc::node::{Layout, Node};
use docsvc::officials::Caller;
use keymgr::ca::Ca;
use sandi_e2e::steps::Steps;
use tower::ServiceExt as _;

struct Hub {
    _dir: tempfile::TempDir,
    node: Arc<Node>,
    router: axum::Router,
}

async fn hub(config_extra: &str) -> Hub {
    let dir = tempfile::tempdir().expect("tempdir");
    docsvc::dev::quickstart::setup(dir.path(), "127.0.0.1:0", None, &mut |_| {})
        .await
        .expect("quickstart");
    if !config_extra.is_empty() {
        let path = dir.path().join("node.toml");
        let old = std::fs::read_to_string(&path).expect("node.toml");
        // Each `key = value` given replaces the quickstart's.
        let keys: Vec<&str> = config_extra
            .lines()
            .filter_map(|l| l.split('=').next().map(str::trim))
            .collect();
        // At the top: after the quickstart's last table (its letterheads) a key would be the
        // table's.
        let mut text = format!("{config_extra}\n");
        for l in old.lines() {
            if !keys.contains(&l.split('=').next().map_or("", str::trim)) {
                text.push_str(l);
                text.push('\n');
            }
        }
        std::fs::write(&path, text).expect("node.toml");
    }
    let node = Arc::new(Node::open(Layout::new(dir.path())).await.expect("open"));
    docsvc::dev::tsa::open_dev(&node)
        .await
        .expect("unseal, dev TSA");
    let router = docsvc::http::api::router(Arc::clone(&node));
    Hub {
        _dir: dir,
        node,
        router,
    }
}

struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
    fn problem(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }
}

async fn call(
    h: &Hub,
    method: &str,
    path: &str,
    cert: Option<&[u8]>,
    cookie: Option<&str>,
    json: Option<&serde_json::Value>,
) -> Answer {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    if let Some(token) = cookie {
        req = req.header(
            "cookie",
            format!("{}={token}", docsvc::http::api::SESSION_COOKIE),
        );
    }
    let body = match json {
        Some(j) => {
            req = req.header("content-type", "application/json");
            Body::from(j.to_string())
        }
        None => Body::empty(),
    };
    let mut req = req.body(body).expect("request");
    req.extensions_mut().insert(docsvc::http::api::Conn {
        peer: "127.0.0.1:40000".parse().expect("addr"),
        client_cert: cert.map(<[u8]>::to_vec),
    });
    let resp = h.router.clone().oneshot(req).await.expect("answer");
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body");
    Answer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn first_cert(path: &std::path::Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).expect("pem");
    keymgr::ca::pem_to_der(&pem).expect("der")
}

fn serial_of(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("cert");
    keymgr::inventory::normalise_serial(&cert.tbs_certificate.raw_serial_as_string())
}

async fn inventory(
    h: &Hub,
) -> (
    keymgr::ca::Home,
    keymgr::ceremony::QuorumSession,
    keymgr::inventory::Inventory,
) {
    let (home, quorum) = docsvc::dev::quickstart::dev_quorum(&h.node.layout).expect("quorum");
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await
            .expect("inventory");
    (home, quorum, inv)
}

/// Signs a CRL of `ca` that goes stale `next_update` from now and installs it on the node;
/// returns its DER.
async fn install_crl(h: &Hub, ca: Ca, next_update: time::Duration) -> Vec<u8> {
    let (home, quorum, inv) = inventory(h).await;
    let crl = keymgr::revoke::crl(
        &home,
        quorum.online().expect("online"),
        &inv,
        ca,
        next_update,
    )
    .await
    .expect("crl");
    let path = h
        .node
        .layout
        .crl_dir()
        .join(ca.file_name().replace(".pem", ".crl"));
    sandi_e2e::install(&path, &crl.der);
    crl.der
}

async fn revoke(h: &Hub, der: &[u8], at: Option<time::OffsetDateTime>) {
    let (home, quorum, inv) = inventory(h).await;
    keymgr::revoke::revoke(
        &home,
        quorum.online().expect("online"),
        &inv,
        &serial_of(der),
        "keyCompromise",
        at,
    )
    .await
    .expect("revoke");
}

async fn official(h: &Hub, first_name: &str) -> docsvc::officials::directory::Official {
    docsvc::officials::directory::list(&h.node.store)
        .await
        .expect("officials")
        .into_iter()
        .find(|o| o.name.starts_with(first_name))
        .expect("official")
}

async fn letter(h: &Hub) -> docsvc::Result<String> {
    let budi = official(h, "Budi").await;
    let siti = official(h, "Siti").await.nip;
    let mut ingest = Ingest::begin(
        &h.node,
        Caller {
            official: budi,
            stepped_up: true,
            client: None,
        },
        NewLetter {
            nomor: "005/15/XI/2026".into(),
            kode: None,
            perihal: "Uji pencabutan".into(),
            classification: policies::Level::Terbatas,
            urgency: Urgency::Biasa,
            recipients: vec![siti],
            copies: vec![],
            dated: None,
            refers: None,
            on_behalf: None,
        },
    )
    .await?;
    ingest
        .add_part(
            "surat.txt",
            "text/plain",
            futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(
                Bytes::from_static(b"isi surat"),
            )]),
        )
        .await?;
    Ok(ingest.finish().await?.manifest.id)
}

fn e_office(h: &Hub) -> Vec<u8> {
    first_cert(&h.node.layout.dir().join("apps/e-office/client.pem"))
}

/// A verify request as the e-office application would send it: the letter's manifest under a
/// signature the application had the signing API make (`/api/v1/verify` takes only its own
/// kind of signature, attack_sigs_e2e).
async fn verify_request(h: &Hub, id: &str) -> serde_json::Value {
    use base64::Engine as _;
    let checked = documents::load_checked(&h.node, id).await.expect("checked");
    let manifest = checked.manifest.canonical().expect("canonical");
    let content = base64::engine::general_purpose::STANDARD.encode(manifest);
    let signed = call(
        h,
        "POST",
        "/api/v1/sign",
        Some(&e_office(h)),
        None,
        Some(&serde_json::json!({ "content": content })),
    )
    .await;
    assert_eq!(signed.status, 200, "{}", signed.body);
    serde_json::json!({
        "content": content,
        "signature": signed.json()["signature"],
    })
}

/// `/api/v1/verify` called by the application `app` with `verify`.
async fn verify_as(h: &Hub, app: &[u8], verify: &serde_json::Value) -> Answer {
    call(h, "POST", "/api/v1/verify", Some(app), None, Some(verify)).await
}

/// `GET path` as the official whose session token is `token`.
async fn read_as(h: &Hub, token: &str, path: &str) -> Answer {
    call(h, "GET", path, None, Some(token), None).await
}

fn is_unknown<T: std::fmt::Debug>(r: &docsvc::Result<T>) -> bool {
    matches!(r, Err(e) if e.problem_type() == "revocation-unknown" && e.status() == 503)
}

/// Point 3.1: a stale CRL, or none at all, is "unknown", and unknown is refused everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_or_missing_crl_is_refused_everywhere() {
    let h = hub("").await;
    let app = e_office(&h);
    let node_cert = first_cert(&h.node.layout.tls_chain());
    let id = letter(&h).await.expect("a letter with fresh CRLs");
    let verify = verify_request(&h, &id).await;

    // Each step runs even when one before it failed; the CRLs each stands on are installed
    // (or removed) as plain calls between them.
    let mut steps = Steps::new();
    steps
        .run_async(
            "with_fresh_crls_the_application_verifies",
            with_fresh_crls_the_application_verifies(&h, &app, &verify),
        )
        .await;
    steps
        .run_async(
            "a_revoked_application_is_refused",
            a_revoked_application_is_refused(&h, &app, &verify),
        )
        .await;
    crls_go_stale(&h).await;
    steps
        .run_async(
            "a_stale_crl_revives_no_application",
            a_stale_crl_revives_no_application(&h, &app, &verify),
        )
        .await;
    steps
        .run_async(
            "a_peer_node_is_unknown",
            a_peer_node_is_unknown(&h, &node_cert),
        )
        .await;
    steps
        .run_async(
            "reading_and_creating_letters_are_refused",
            // A letter is written in it: a large future, kept on the heap.
            Box::pin(reading_and_creating_letters_are_refused(&h, &id)),
        )
        .await;
    remove_every_crl(&h);
    steps
        .run_async(
            "without_any_crl_reading_is_refused",
            without_any_crl_reading_is_refused(&h, &id),
        )
        .await;
    steps
        .run_async(
            "the_refusals_are_counted_and_logged",
            the_refusals_are_counted_and_logged(&h),
        )
        .await;
    for ca in [Ca::Network, Ca::Signing] {
        install_crl(&h, ca, time::Duration::days(7)).await;
    }
    steps
        .run_async(
            "fresh_crls_again_serve_all_but_the_revoked",
            // A letter is written in it: a large future, kept on the heap.
            Box::pin(fresh_crls_again_serve_all_but_the_revoked(
                &h, &app, &verify, &id,
            )),
        )
        .await;
    steps.finish();
}

/// Before any revocation, the application's verify request is answered: valid.
async fn with_fresh_crls_the_application_verifies(h: &Hub, app: &[u8], verify: &serde_json::Value) {
    let fresh = verify_as(h, app, verify).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert_eq!(fresh.json()["valid"], true, "{}", fresh.body);
}

/// The application's certificate is revoked and the CRL says so: refused.
async fn a_revoked_application_is_refused(h: &Hub, app: &[u8], verify: &serde_json::Value) {
    revoke(h, app, None).await;
    install_crl(h, Ca::Network, time::Duration::days(7)).await;
    let revoked = verify_as(h, app, verify).await;
    assert_eq!(revoked.status, 401, "{}", revoked.body);
}

/// The CRLs go stale.
async fn crls_go_stale(h: &Hub) {
    for ca in [Ca::Network, Ca::Signing] {
        install_crl(h, ca, time::Duration::seconds(2)).await;
    }
    // CRLs signed to go stale in 2 s are stale by now (keymgr, like RFC 5280, signs none
    // whose nextUpdate is already past).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
}

/// Stale, the CRL does not let the revoked application work again: unknown.
async fn a_stale_crl_revives_no_application(h: &Hub, app: &[u8], verify: &serde_json::Value) {
    let stale = verify_as(h, app, verify).await;
    assert_eq!(
        stale.status, 503,
        "a revoked application works again: {}",
        stale.body
    );
    assert_eq!(stale.problem(), "urn:sandi:problem:revocation-unknown");
}

/// The node's own certificate as a peer would present it.
async fn a_peer_node_is_unknown(h: &Hub, node_cert: &[u8]) {
    let peer = docsvc::network::peer_of(&h.node, node_cert).await;
    assert!(is_unknown(&peer), "node call: {peer:?}");
}

/// Reading and creating letters.
async fn reading_and_creating_letters_are_refused(h: &Hub, id: &str) {
    let read = documents::load_checked(&h.node, id).await;
    assert!(is_unknown(&read), "read: {:?}", read.map(|c| c.state));
    let created = letter(h).await;
    assert!(is_unknown(&created), "create: {created:?}");
}

/// No CRL at all, however the directory is emptied.
fn remove_every_crl(h: &Hub) {
    for e in std::fs::read_dir(h.node.layout.crl_dir()).expect("crl dir") {
        std::fs::remove_file(e.expect("entry").path()).expect("remove");
    }
}

/// No CRL at all: the same as a stale one.
async fn without_any_crl_reading_is_refused(h: &Hub, id: &str) {
    let none = documents::load_checked(&h.node, id).await;
    assert!(
        is_unknown(&none),
        "read without CRL: {:?}",
        none.map(|c| c.state)
    );
}

/// Counted and logged.
async fn the_refusals_are_counted_and_logged(h: &Hub) {
    let metrics = call(h, "GET", "/metrics", None, None, None).await;
    let count: u64 = metrics
        .body
        .lines()
        .find_map(|l| l.strip_prefix("docsvc_revocation_unknown_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(count >= 4, "{}", metrics.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let logged: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE entry LIKE '%revocation_check%'",
        )
        .fetch_one(h.node.store.pool())
        .await
        .expect("count");
        if logged >= 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{logged} refusals logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Fresh CRLs again: the normal paths work, the revoked application stays refused.
async fn fresh_crls_again_serve_all_but_the_revoked(
    h: &Hub,
    app: &[u8],
    verify: &serde_json::Value,
    id: &str,
) {
    assert!(documents::load_checked(&h.node, id).await.is_ok());
    assert!(letter(h).await.is_ok());
    let again = verify_as(h, app, verify).await;
    assert_eq!(again.status, 401, "{}", again.body);
}

/// Point 3.2: of several CRLs of one issuer the highest number wins; an older one put back
/// later (replacing the file, or beside it) never revives a revoked certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_crl_never_replaces_a_newer_one() {
    let h = hub("").await;
    let app = e_office(&h);
    let id = letter(&h).await.expect("letter");
    let verify = verify_request(&h, &id).await;
    let old = std::fs::read(h.node.layout.crl_dir().join("network-ca.crl")).expect("old CRL");
    assert_eq!(verify_as(&h, &app, &verify).await.status, 200);
    revoke(&h, &app, None).await;
    let newer = install_crl(&h, Ca::Network, time::Duration::days(7)).await;
    assert_eq!(verify_as(&h, &app, &verify).await.status, 401);
    // The attacker puts the old CRL back, fresh and validly signed but with a lower number.
    sandi_e2e::install(&h.node.layout.crl_dir().join("network-ca.crl"), &old);
    let r = verify_as(&h, &app, &verify).await;
    assert_eq!(
        r.status, 401,
        "the old CRL revived the application: {}",
        r.body
    );
    // ... or beside the newer one.
    sandi_e2e::install(&h.node.layout.crl_dir().join("network-ca.crl"), &newer);
    sandi_e2e::install(&h.node.layout.crl_dir().join("0-old.crl"), &old);
    let r = verify_as(&h, &app, &verify).await;
    assert_eq!(r.status, 401, "{}", r.body);
}

/// Point 3.3: `/readyz` and `/metrics` report CRLs going stale within `crl_warn_hours`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_and_metrics_warn_of_crls_going_stale() {
    // The quickstart's CRLs go stale in 7 days: inside a window of 8 days.
    let h = hub("crl_warn_hours = 192\n").await;
    let ready = call(&h, "GET", "/readyz", None, None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let crls = ready.json()["crls"].as_array().cloned().unwrap_or_default();
    assert_eq!(crls.len(), 2, "{}", ready.body);
    assert!(
        crls.iter().all(|c| c["stale_soon"] == true),
        "{}",
        ready.body
    );
    let metrics = call(&h, "GET", "/metrics", None, None, None).await;
    assert!(
        metrics.body.contains("docsvc_crl_stale_soon 2"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("docsvc_crl_seconds_until_stale{issuer=")
    );
    // Renewed for 30 days: no warning.
    for ca in [Ca::Network, Ca::Signing] {
        install_crl(&h, ca, time::Duration::days(30)).await;
    }
    let ready = call(&h, "GET", "/readyz", None, None, None).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(
        ready.json()["crls"]
            .as_array()
            .is_some_and(|a| a.iter().all(|c| c["stale_soon"] == false)),
        "{}",
        ready.body
    );
    let metrics = call(&h, "GET", "/metrics", None, None, None).await;
    assert!(
        metrics.body.contains("docsvc_crl_stale_soon 0"),
        "{}",
        metrics.body
    );
    // Stale: the node refuses every certificate, so it is not ready.
    install_crl(&h, Ca::Signing, time::Duration::seconds(2)).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let ready = call(&h, "GET", "/readyz", None, None, None).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.problem(), "urn:sandi:problem:revocation-unknown");
}

/// Point 9 (signature status): the read view shows the real check, revocation at signing
/// time included, never a fixed "Sah".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_view_shows_the_real_signature_status() {
    let h = hub("").await;
    let id = letter(&h).await.expect("letter");
    let siti = official(&h, "Siti").await;
    let (token, session) = docsvc::officials::session::create(&h.node.store, &siti.nip, 30)
        .await
        .expect("session");
    docsvc::officials::session::step_up(&h.node.store, &session)
        .await
        .expect("step up");
    let api = read_as(&h, &token, &format!("/api/v1/documents/{id}")).await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert_eq!(api.json()["signature"]["valid"], true, "{}", api.body);
    let page = read_as(&h, &token, &format!("/ui/letters/{id}")).await;
    assert!(page.body.contains("Sah"), "{}", page.body);

    // Budi's key was compromised a day before he signed: the revocation dates back.
    let budi = official(&h, "Budi").await;
    let cert = budi.certificate.clone().expect("certificate");
    revoke(
        &h,
        &cert,
        Some(time::OffsetDateTime::now_utc() - time::Duration::days(1)),
    )
    .await;
    install_crl(&h, Ca::Signing, time::Duration::days(7)).await;
    let api = read_as(&h, &token, &format!("/api/v1/documents/{id}")).await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert_eq!(
        api.json()["signature"]["valid"],
        false,
        "signed after the key was revoked: {}",
        api.body
    );
    assert_eq!(
        api.json()["signature"]["revocation"]["status"],
        "revoked_before_signing",
        "{}",
        api.body
    );
    let page = read_as(&h, &token, &format!("/ui/letters/{id}")).await;
    assert!(!page.body.contains("Sah:"), "{}", page.body);
    assert!(page.body.contains("Tidak sah"), "{}", page.body);
}

/// A backup file taken apart: its ciphertext.
struct BackupFile {
    ciphertext: Vec<u8>,
}

fn take_apart(bytes: &[u8]) -> BackupFile {
    let magic = docsvc::ops::backup::MAGIC.len();
    let n = bytes.len();
    let seal_len =
        usize::try_from(u64::from_be_bytes(bytes[n - 8..].try_into().expect("8"))).expect("len");
    BackupFile {
        ciphertext: bytes[magic..n - 8 - seal_len].to_vec(),
    }
}

/// A backup sealed by `key` (a handle in `keys`) with certificate `cert`, for `node_id`.
fn sealed(
    ciphertext: &[u8],
    node_id: &str,
    keys: &dyn hsm_shim::KeyStore,
    key: &hsm_shim::KeyHandle,
    chain: &[Vec<u8>],
) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let digest = ring::digest::digest(&ring::digest::SHA256, ciphertext);
    let seal = docsvc::ops::backup::Seal {
        format: "sandi-backup-1".into(),
        node_id: node_id.into(),
        created_at: docsvc::now_rfc3339(),
        sha256: hex::encode(digest.as_ref()),
        signature: b64.encode(keys.sign(key, digest.as_ref()).expect("sign").bytes),
        chain: chain.iter().map(|c| b64.encode(c)).collect(),
    };
    let seal = serde_json::to_vec(&seal).expect("seal");
    let mut out = docsvc::ops::backup::MAGIC.to_vec();
    out.extend_from_slice(ciphertext);
    out.extend_from_slice(&seal);
    out.extend_from_slice(&(seal.len() as u64).to_be_bytes());
    out
}

async fn backup_of(h: &Hub, dir: &std::path::Path) -> (age::x25519::Identity, Vec<u8>) {
    let identity = age::x25519::Identity::generate();
    let out = dir.join("hub.sandi-backup");
    docsvc::ops::backup::backup(&h.node.layout, &out, &[identity.to_public()], &mut |_| {})
        .await
        .expect("backup");
    (identity, std::fs::read(&out).expect("backup file"))
}

fn trust_of(h: &Hub) -> docsvc::ops::backup_seal::SealTrust {
    docsvc::ops::backup_seal::SealTrust::from_files(&h.node.layout.ca("root.pem"), None, None)
        .expect("trust")
}

/// Re-seals with the hub's own TLS key (as the node would), so that only the contents differ.
fn resealed_by_hub(h: &Hub, ciphertext: &[u8]) -> Vec<u8> {
    let tls = docsvc::node::open_tls_keystore(&h.node.layout).expect("tls keystore");
    let handle = hsm_shim::KeyStore::info(tls.as_ref(), h.node.keys.get().tls)
        .expect("tls key")
        .handle();
    let chain = docsvc::node::read_pem_certs(&h.node.layout.tls_chain()).expect("chain");
    sealed(ciphertext, "hub", tls.as_ref(), &handle, &chain)
}

/// Point 6.1: only the backup's own node certificate, from the Network CA, valid and not
/// revoked, may seal it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_sealed_by_anything_but_its_node_certificate_is_refused() {
    let h = hub("").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, bytes) = backup_of(&h, dir.path()).await;
    // A checker that brings the CA certificates and the CRLs as they are now.
    let check = |name: &str, file: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, file).expect("write");
        docsvc::ops::backup::verify(&path, &trust_of(&h)).map(|s| s.node_id)
    };
    assert_eq!(
        check("own.sandi-backup", &bytes).expect("the node's own seal"),
        "hub"
    );
    let ct = take_apart(&bytes).ciphertext;
    let keys: &dyn hsm_shim::KeyStore = h.node.keystore.as_ref();

    // An official's signing certificate (Signing CA, chains to the root).
    let budi = official(&h, "Budi").await;
    let budi_key = h
        .node
        .handle(budi.signing_key.expect("key"))
        .expect("handle");
    let chain = vec![
        budi.certificate.clone().expect("cert"),
        h.node.signing_ca_der.clone(),
    ];
    let r = check(
        "official.sandi-backup",
        &sealed(&ct, "hub", keys, &budi_key, &chain),
    );
    assert!(r.is_err(), "sealed by an official: {r:?}");

    // An application's certificate from the Network CA: not a node certificate.
    let app = docsvc::officials::applications::by_certificate(&h.node.store, &e_office(&h))
        .await
        .expect("app")
        .expect("e-office");
    let app_key = h
        .node
        .handle(app.signing_key.expect("key"))
        .expect("handle");
    let chain = vec![
        app.certificate.clone().expect("cert"),
        h.node.network_ca_der.clone(),
    ];
    let r = check(
        "app.sandi-backup",
        &sealed(&ct, "hub", keys, &app_key, &chain),
    );
    assert!(r.is_err(), "sealed by an application: {r:?}");

    // Another node's certificate (bappeda's), claiming to be bappeda's backup or the hub's.
    let other = keys
        .generate(hsm_shim::KeyKind::EcdsaP256, "other-node")
        .expect("key");
    let csr = docsvc::crypto::tls::csr_for(keys, other.id(), "bappeda").expect("csr");
    let (home, quorum, inv) = inventory(&h).await;
    let issued = keymgr::issue::issue(
        &home,
        quorum.online().expect("online"),
        &inv,
        keymgr::issue::Request::Node(keymgr::ca::NodeRequest {
            node_id: "bappeda".into(),
            agency: "bappeda".into(),
            accreditation: "rahasia".into(),
            dns: vec!["bappeda.test".into()],
            ips: vec![],
            days: 30,
        }),
        keymgr::issue::KeySource::Csr(csr),
    )
    .await
    .expect("issue");
    let chain = vec![issued.record.der.clone(), h.node.network_ca_der.clone()];
    let r = check(
        "other.sandi-backup",
        &sealed(&ct, "hub", keys, &other, &chain),
    );
    assert!(r.is_err(), "the hub's backup sealed by bappeda: {r:?}");

    // The hub's own certificate, revoked: refused; and with no current CRL, refused too.
    let own = first_cert(&h.node.layout.tls_chain());
    let good = resealed_by_hub(&h, &ct);
    assert!(check("good.sandi-backup", &good).is_ok());
    for e in std::fs::read_dir(h.node.layout.crl_dir()).expect("crl dir") {
        std::fs::remove_file(e.expect("entry").path()).expect("remove");
    }
    let r = check("nocrl.sandi-backup", &good);
    assert!(
        matches!(&r, Err(e) if e.problem_type() == "revocation-unknown"),
        "no CRL: {r:?}"
    );
    revoke(&h, &own, None).await;
    install_crl(&h, Ca::Network, time::Duration::days(7)).await;
    let r = check("revoked.sandi-backup", &good);
    assert!(r.is_err(), "a revoked node certificate: {r:?}");
}

/// The decrypted JSON lines of a backup.
fn lines_of(ciphertext: &[u8], identity: &age::x25519::Identity) -> Vec<serde_json::Value> {
    use std::io::Read as _;
    let d = age::Decryptor::new(ciphertext).expect("age");
    let mut plain = String::new();
    d.decrypt(std::iter::once(identity as &dyn age::Identity))
        .expect("decrypt")
        .read_to_string(&mut plain)
        .expect("read");
    plain
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect()
}

fn encrypted(lines: &[serde_json::Value], identity: &age::x25519::Identity) -> Vec<u8> {
    use std::io::Write as _;
    let recipient = identity.to_public();
    let enc = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .expect("age");
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).expect("wrap");
    for l in lines {
        writeln!(w, "{l}").expect("write");
    }
    w.finish().expect("finish");
    out
}

/// Point 6.2: restore writes only the tables and columns it knows, by its own names; a table
/// or column it does not know refuses the whole file, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_naming_unknown_tables_or_columns_restores_nothing() {
    let h = hub("").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (identity, bytes) = backup_of(&h, dir.path()).await;
    let trust = trust_of(&h);
    let lines = lines_of(&take_apart(&bytes).ciphertext, &identity);
    let pg = sandi_e2e::pg::postgres().await;

    // A table whose name is SQL, with one (empty) row, counted in the end record.
    let injected = "officials SELECT * FROM officials WHERE 0; DROP TABLE outbox; --";
    let mut sql = lines.clone();
    sql[0]["tables"]
        .as_array_mut()
        .expect("tables")
        .push(serde_json::json!({ "name": injected, "columns": [] }));
    let end = sql.pop().expect("end");
    sql.push(serde_json::json!({ "k": "row", "table": injected, "values": [] }));
    let mut end = end;
    end["rows"][injected] = serde_json::json!(1);
    sql.push(end);

    // A column the schema does not have, on a table it does.
    let mut column = lines.clone();
    for t in column[0]["tables"].as_array_mut().expect("tables") {
        if t["name"] == "officials" {
            t["columns"]
                .as_array_mut()
                .expect("columns")
                .push(serde_json::json!(["is_admin_everywhere", "int"]));
        }
    }
    for l in &mut column {
        if l["k"] == "row" && l["table"] == "officials" {
            l["values"]
                .as_array_mut()
                .expect("values")
                .push(serde_json::json!(1));
        }
    }

    for (name, forged) in [("sql", sql), ("column", column)] {
        let file = dir.path().join(format!("{name}.sandi-backup"));
        std::fs::write(&file, resealed_by_hub(&h, &encrypted(&forged, &identity))).expect("write");
        let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(identity.clone())];
        let checked = docsvc::ops::backup::check_contents(&file, &trust, &ids).await;
        assert!(checked.is_err(), "{name}: backup verify passed it");
        let target = dir.path().join(format!("restored-{name}"));
        let r = docsvc::ops::backup::restore(&file, &trust, &ids, &target, None, &mut |_| {}).await;
        assert!(r.is_err(), "{name}: restored onto SQLite: {r:?}");
        assert!(!target.exists(), "{name}: something was left");
        if let Some((url, _)) = &pg {
            let target = dir.path().join(format!("restored-pg-{name}"));
            let r = docsvc::ops::backup::restore(
                &file,
                &trust,
                &ids,
                &target,
                Some(url.as_str()),
                &mut |_| {},
            )
            .await;
            assert!(r.is_err(), "{name}: restored onto PostgreSQL: {r:?}");
            let store = docsvc::store::Store::open(url).await.expect("pg");
            let rows: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM officials) + (SELECT COUNT(*) FROM audit_log) \
                 + (SELECT COUNT(*) FROM outbox)",
            )
            .fetch_one(store.pool())
            .await
            .expect("the outbox table is still there");
            assert_eq!(rows, 0, "{name}: rows written to PostgreSQL");
        }
    }
    if let Some((_, name)) = &pg {
        sandi_e2e::pg::drop_postgres(name).await;
    }
}

/// Point 6.3: a backup holds no key that opens without the custodians. The TLS keystore
/// (which opens from a local file so that the node speaks TLS while sealed) is left out; a
/// restore makes a new TLS key and asks for its certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_holds_no_key_that_opens_without_the_custodians() {
    let h = hub("").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (identity, bytes) = backup_of(&h, dir.path()).await;
    let lines = lines_of(&take_apart(&bytes).ciphertext, &identity);
    let files: Vec<&str> = lines
        .iter()
        .filter(|l| l["k"] == "file")
        .filter_map(|l| l["path"].as_str())
        .collect();
    assert!(
        files.iter().any(|p| p.starts_with("keystore/")),
        "{files:?}"
    );
    assert!(
        !files
            .iter()
            .any(|p| p.starts_with("tls-keystore/") || p.ends_with("dev-unseal.key")),
        "a key that opens without the custodians: {files:?}"
    );
    let ids: Vec<Box<dyn age::Identity + Send + Sync>> = vec![Box::new(identity.clone())];
    let target = dir.path().join("restored");
    docsvc::ops::backup::restore(
        &dir.path().join("hub.sandi-backup"),
        &trust_of(&h),
        &ids,
        &target,
        None,
        &mut |_| {},
    )
    .await
    .expect("restore");
    let restored = Layout::new(&target);
    assert!(docsvc::ops::tls_reissue::csr_path(&restored).exists());
    assert!(!restored.tls_chain().exists());
    docsvc::dev::tls_issue::dev_issue(&h.node.layout, &restored)
        .await
        .expect("the new certificate");
    assert_ne!(
        first_cert(&restored.tls_chain()),
        first_cert(&h.node.layout.tls_chain()),
        "a new certificate for a new key"
    );
}
