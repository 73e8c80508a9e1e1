//! Issue 17, revocation where clients look: a node learns a revocation from the CRL URL alone.
//! keymgr's publication service (the code `keymgr serve` runs) serves the dev CA's CRLs over
//! plain HTTP; the node's `[pki] crl_urls` point there, its CRL directory starts empty, and
//! nothing is copied by hand. The node serves on what it fetched (`[pki] publish_listen`'s
//! router), and a fetched CRL that is older, or signed by no CA it trusts, changes nothing.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use docsvc::crypto::revocation::Offer;
use docsvc::node::{Layout, Node};
use keymgr::ca::Ca;
use keymgr::inventory::Inventory;
use keymgr::publish::{self, Options, Publisher};
use tower::ServiceExt as _;

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn call(router: &axum::Router, method: &str, path: &str, cert: Option<&[u8]>) -> Answer {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(if method == "POST" {
            Body::from(r#"{"content":"aXNp"}"#)
        } else {
            Body::empty()
        })
        .expect("request");
    req.extensions_mut().insert(docsvc::http::api::Conn {
        peer: "127.0.0.1:40000".parse().expect("addr"),
        client_cert: cert.map(<[u8]>::to_vec),
    });
    let resp = router.clone().oneshot(req).await.expect("answer");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body")
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

fn serial_of(der: &[u8]) -> String {
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("cert");
    keymgr::inventory::normalise_serial(&cert.tbs_certificate.raw_serial_as_string())
}

/// Waits (at most 30 s) until `f` holds.
async fn until<F: Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(Instant::now() < deadline, "within 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// keymgr's publication service over the dev CA of the quickstart in `layout`, as
/// `keymgr serve` runs it, looking at its inventory every 200 ms.
async fn keymgr_serve(layout: &Layout) -> (publish::Running, Inventory) {
    let (home, quorum) = docsvc::dev::quickstart::dev_quorum(layout).expect("quorum");
    let inv = Inventory::open(&Inventory::default_url(home.dir()))
        .await
        .expect("inventory");
    let online: Arc<dyn hsm_shim::KeyStore> = Arc::new(quorum.into_online().expect("online"));
    let publisher = Publisher::prepare(
        home,
        online,
        inv.clone(),
        Options {
            listen: "127.0.0.1:0".parse().expect("addr"),
            refresh: Duration::from_millis(200),
            ..Options::default()
        },
        &mut |_| {},
    )
    .await
    .expect("publisher");
    let running = publish::start(publisher, axum::Router::new(), |_| {})
        .await
        .expect("keymgr's publication service");
    (running, inv)
}

/// The quickstart node in `layout` with its CRL directory emptied and its CRL URLs pointing at
/// `base`, fetched every second once [`docsvc::node::distribution::spawn`] runs.
async fn node_fetching_from(layout: &Layout, base: &str) -> Arc<Node> {
    for e in std::fs::read_dir(layout.crl_dir()).expect("crl dir") {
        std::fs::remove_file(e.expect("entry").path()).expect("remove");
    }
    let config = layout.dir().join("node.toml");
    let mut text = std::fs::read_to_string(&config).expect("node.toml");
    let _ = write!(
        text,
        "\n[pki]\ncrl_urls = [\"{base}/crl/network-ca.crl\", \"{base}/crl/signing-ca.crl\"]\ncrl_refresh_secs = 1\n"
    );
    std::fs::write(&config, text).expect("node.toml");
    let node = Arc::new(Node::open(layout.clone()).await.expect("open"));
    docsvc::dev::quickstart::unseal_dev(&node.layout, node.keystore.as_ref()).expect("unseal");
    node.after_unseal().expect("after unseal");
    node
}

/// What the node serves on (`[pki] publish_listen`) is the CRL it fetched, which openssl reads
/// and finds `serial` in, and the CA certificates; nothing else.
async fn the_node_serves_what_it_fetched(
    mirror: &axum::Router,
    layout: &Layout,
    serial: &str,
) -> Vec<u8> {
    let now = call(mirror, "GET", "/crl/network-ca.crl", None).await;
    assert_eq!(now.status, 200);
    assert_eq!(now.content_type, "application/pkix-crl");
    let file = layout.dir().join("served.crl");
    std::fs::write(&file, &now.body).expect("write");
    let text = std::process::Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&file)
        .output()
        .expect("openssl");
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let serial = serial.to_uppercase();
    assert!(
        String::from_utf8_lossy(&text.stdout)
            .to_uppercase()
            .contains(&serial),
        "the served CRL lists {serial}"
    );
    let (home, _) = docsvc::dev::quickstart::dev_quorum(layout).expect("quorum");
    for (path, issuer) in [
        ("/ca/root.crt", Ca::Root),
        ("/ca/network-ca.crt", Ca::Network),
        ("/ca/signing-ca.crt", Ca::Signing),
    ] {
        let cert = call(mirror, "GET", path, None).await;
        assert_eq!(cert.content_type, "application/pkix-cert", "{path}");
        assert_eq!(cert.body, home.cert_der(issuer).expect("ca"), "{path}");
    }
    assert_eq!(call(mirror, "GET", "/crl/root.crl", None).await.status, 404);
    now.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_learns_a_revocation_from_the_crl_url_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    docsvc::dev::quickstart::setup(dir.path(), "127.0.0.1:0", None, &mut |_| {})
        .await
        .expect("quickstart");
    let layout = Layout::new(dir.path());
    let (running, inv) = keymgr_serve(&layout).await;
    let node = node_fetching_from(&layout, &format!("http://{}", running.local_addr())).await;
    let api = docsvc::http::api::router(Arc::clone(&node));
    let mirror = docsvc::http::publication::router(Arc::clone(&node));
    let pem = std::fs::read_to_string(dir.path().join("apps/e-office/client.pem")).expect("pem");
    let app = keymgr::ca::pem_to_der(&pem).expect("der");

    // No CRL at hand: the application is refused as unknown, not taken for good.
    let before = call(&api, "POST", "/api/v1/sign", Some(&app)).await;
    assert_eq!(
        before.status,
        503,
        "{}",
        String::from_utf8_lossy(&before.body)
    );

    // The node fetches the CRLs from their URLs by itself; the application is served.
    docsvc::node::distribution::spawn(Arc::clone(&node));
    until("the application is served with fetched CRLs", || async {
        call(&api, "POST", "/api/v1/sign", Some(&app)).await.status == 200
    })
    .await;
    let first = call(&mirror, "GET", "/crl/network-ca.crl", None).await;
    assert_eq!(first.status, 200);

    // keymgr revokes it; the node learns it from the URL alone and refuses the next request.
    let (home, quorum) = docsvc::dev::quickstart::dev_quorum(&layout).expect("quorum");
    keymgr::revoke::revoke(
        &home,
        quorum.online().expect("online"),
        &inv,
        &serial_of(&app),
        "keyCompromise",
        None,
    )
    .await
    .expect("revoke");
    until("the revoked application is refused", || async {
        call(&api, "POST", "/api/v1/sign", Some(&app)).await.status == 401
    })
    .await;
    let now = the_node_serves_what_it_fetched(&mirror, &layout, &serial_of(&app)).await;

    // Only fetched CRLs are in the directory: nothing was copied by hand.
    for e in std::fs::read_dir(layout.crl_dir()).expect("crl dir") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(name.starts_with("fetched-"), "{name}");
    }
    // The earlier CRL, fetched again (a stale mirror), changes nothing; bytes no trusted CA
    // signed are refused.
    assert!(matches!(
        node.crls.offer(first.body.clone()),
        Ok(Offer::NotNewer { .. })
    ));
    let mut forged = now;
    let last = forged.len() - 2;
    forged[last] ^= 1;
    assert!(node.crls.offer(forged).is_err());
    assert_eq!(
        call(&api, "POST", "/api/v1/sign", Some(&app)).await.status,
        401
    );
    running.stop().await.expect("stop");
}
