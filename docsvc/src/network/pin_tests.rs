//! The directory pins a node's key, not its certificate: two nodes of one dev network renew
//! their certificates (same key, new certificates from the same CA) and still deliver to each
//! other under the directory signed before; a node whose key changed (a new key certified by
//! the same CA for the same node id) is refused both as a caller and as the peer called.
#![cfg(test)]

use std::path::Path;
use std::sync::Arc;

use keymgr::ca::NodeRequest;
use keymgr::issue::{KeySource, Request};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::dev::bench::{letter_to_bappeda, serve_node, two_nodes};
use crate::node::{Layout, NodeKeys};

const DEWI: &str = "197704042002122004";

/// A certificate for `node_id` from the dev network's CA (the hub's), for the key of `csr`,
/// as the online CA issues a renewal.
async fn certify(hub: &Path, node_id: &str, agency: &str, csr: Vec<u8>) -> Vec<u8> {
    let (home, quorum) = crate::dev::quickstart::dev_quorum(&Layout::new(hub)).expect("dev CA");
    let url = keymgr::inventory::Inventory::default_url(home.dir());
    let inv = keymgr::inventory::Inventory::open(&url)
        .await
        .expect("inventory");
    let request = Request::Node(NodeRequest {
        node_id: node_id.into(),
        agency: agency.into(),
        accreditation: "rahasia".into(),
        dns: vec!["localhost".into()],
        ips: vec![std::net::IpAddr::from([127, 0, 0, 1])],
        days: 30,
    });
    let online = quorum.online().expect("online keys");
    keymgr::issue::issue_or_replace(&home, online, &inv, request, KeySource::Csr(csr))
        .await
        .expect("issued")
        .record
        .der
}

/// Renews the certificate of the node in `dir` in place, for its own TLS key, as
/// `docsvc certificate renew` does: the old certificate and the new one.
async fn renew(hub: &Path, dir: &Path, node_id: &str, agency: &str) -> (Vec<u8>, Vec<u8>) {
    let layout = Layout::new(dir);
    let old = crate::node::read_pem_certs(&layout.tls_chain()).expect("chain");
    let keys = NodeKeys::load(&layout).expect("keys");
    let store = crate::node::open_tls_keystore(&layout).expect("TLS keystore");
    let csr = crate::crypto::tls::csr_for(store.as_ref(), keys.tls, node_id).expect("CSR");
    let new = certify(hub, node_id, agency, csr).await;
    let pem = keymgr::ca::der_to_pem;
    std::fs::write(layout.tls_chain(), format!("{}{}", pem(&new), pem(&old[1]))).expect("chain");
    (old[0].clone(), new)
}

/// A new key (not the node's) certified by the same CA for `node_id`: the certificate and
/// the key.
async fn rekeyed(hub: &Path, node_id: &str, agency: &str) -> (Vec<u8>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, node_id);
    let csr = params.serialize_request(&key).expect("CSR").der().to_vec();
    let der = certify(hub, node_id, agency, csr).await;
    (der, PrivateKeyDer::Pkcs8(key.serialize_der().into()))
}

/// A TLS client presenting `cert` (with the Network CA) and `key`, trusting `node`'s root.
fn client_with(
    node: &crate::node::Node,
    cert: Vec<u8>,
    key: PrivateKeyDer<'static>,
) -> Arc<rustls::ClientConfig> {
    let chain = vec![
        CertificateDer::from(cert),
        CertificateDer::from(node.network_ca_der.clone()),
    ];
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(node.trust.root_der().to_vec()))
        .expect("root");
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client certificate");
    Arc::new(tls)
}

/// A TLS server at `addr` showing `cert` (with the Network CA) for `key`, answering nothing.
async fn impostor(
    node: &crate::node::Node,
    addr: std::net::SocketAddr,
    cert: Vec<u8>,
    key: PrivateKeyDer<'static>,
) -> tokio::task::JoinHandle<()> {
    answering(node, addr, cert, key, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_accepted_and_a_new_key_refused_under_the_same_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let two = two_nodes(root.path()).await.expect("two nodes");
    let b_addr = two.lb.local_addr().expect("address");
    // Both renew after the directory was signed and installed.
    let (hub_old, hub_new) = renew(&two.a_dir, &two.a_dir, "hub", "dinkes").await;
    let (b_old, b_new) = renew(&two.a_dir, &two.b_dir, "bappeda", "bappeda").await;
    assert_ne!(hub_old, hub_new);
    assert_ne!(b_old, b_new);
    let a = serve_node(&two.a_dir, two.la).await.expect("hub");
    let b = serve_node(&two.b_dir, two.lb).await.expect("bappeda");
    let directory = b.node.network.current(&b.node.store).await.expect("read");
    let directory = directory.expect("a directory");
    assert_eq!(directory.version, 1, "no new directory was signed");
    let (hub, bappeda) = (
        directory.by_id("hub").expect("hub").clone(),
        directory.by_id("bappeda").expect("bappeda").clone(),
    );

    // Renewed: bappeda takes the hub's new certificate, the hub bappeda's (as server and as
    // the signer of the receipt), and the letter is delivered.
    let peer = super::peer_of(&b.node, &hub_new).await.expect("checked");
    assert_eq!(peer.map(|p| p.id), Ok("hub".to_owned()));
    let budi = crate::officials::directory::get(&a.node.store, &two.hub.officials[0].nip)
        .await
        .expect("read")
        .expect("Budi");
    letter_to_bappeda(&a.node, &budi, 0).await.expect("letter");
    while crate::transmit::deliver_due(&a.node)
        .await
        .expect("deliver")
        > 0
    {}
    let ids = crate::store::outbox::letters(&a.node.store, true)
        .await
        .expect("outbox");
    let id = ids.first().expect("outbox row");
    let rows = crate::store::outbox::deliveries_of(&a.node.store, id)
        .await
        .expect("deliveries");
    let row = rows.first().expect("a delivery");
    assert_eq!(row.state, "delivered", "{:?}", row.last_error);

    // A new key for the hub, from the same CA and naming it: refused as a caller, over TLS and
    // by the check itself; the hub's renewed certificate, on the same call, is answered.
    let (hub_rekeyed, hub_key) = rekeyed(&two.a_dir, "hub", "dinkes").await;
    let why = super::peer_of(&b.node, &hub_rekeyed)
        .await
        .expect("checked")
        .expect_err("another key");
    assert!(
        why.contains("not the key the network directory pins"),
        "{why}"
    );
    assert!(
        super::certifies(&b.node, &hub, &hub_rekeyed)
            .expect("checked")
            .is_err()
    );
    let path = format!("/network/v1/officials/{DEWI}?for=rahasia");
    let call = |tls: Arc<rustls::ClientConfig>| {
        let path = path.clone();
        async move {
            let mut c = super::client::connect_named(b_addr, "127.0.0.1", tls)
                .await
                .expect("TLS");
            let (status, _, body) = c
                .call("GET", &path, &[], bytes::Bytes::new())
                .await
                .expect("answer");
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (status, body) = call(super::client_config(&a.node).expect("hub's TLS")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(client_with(&b.node, hub_rekeyed, hub_key)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not the key"), "{body}");

    // A new key for bappeda, served where bappeda listens: the hub refuses it before it sends
    // anything.
    let _ = b.stop.send(());
    let _ = b.task.await;
    let (b_rekeyed, b_key) = rekeyed(&two.a_dir, "bappeda", "bappeda").await;
    assert!(bappeda.certifies(&b_new).is_ok());
    let why = bappeda.certifies(&b_rekeyed).expect_err("another key");
    assert!(why.contains("not the key"), "{why}");
    let impostor = impostor(&a.node, b_addr, b_rekeyed, b_key).await;
    let err = super::connect(&a.node, "bappeda")
        .await
        .expect_err("an impostor");
    let err = err.to_string();
    assert!(
        err.contains("not node bappeda") && err.contains("not the key"),
        "{err}"
    );
    impostor.abort();
    let _ = a.stop.send(());
    let _ = a.task.await;
}

/// The state and last error of the delivery of letter `id` from `node`.
async fn delivery(node: &crate::node::Node, id: &str) -> (String, Option<String>) {
    let rows = crate::store::outbox::deliveries_of(&node.store, id)
        .await
        .expect("deliveries");
    let row = rows.first().expect("a delivery");
    (row.state.clone(), row.last_error.clone())
}

/// Deliveries and the lookups of the peer's officials reuse a kept connection to the peer (one
/// handshake for many letters), and a kept
/// connection never stands in for the check of a new one: not once this node renewed its own
/// certificate, and not once the peer is gone (an impostor at its address with another key is
/// refused before anything is sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_is_reused_and_never_outlives_the_peer_it_was_checked_for() {
    let root = tempfile::tempdir().expect("tempdir");
    let two = two_nodes(root.path()).await.expect("two nodes");
    let b_addr = two.lb.local_addr().expect("address");
    let a = serve_node(&two.a_dir, two.la).await.expect("hub");
    let b = serve_node(&two.b_dir, two.lb).await.expect("bappeda");
    let budi = crate::officials::directory::get(&a.node.store, &two.hub.officials[0].nip)
        .await
        .expect("read")
        .expect("Budi");
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(letter_to_bappeda(&a.node, &budi, n).await.expect("letter"));
        // Writing the letter looked up Dewi's card on bappeda, on a connection it then kept
        // (on the one kept before, from the second letter on).
        assert_eq!(
            a.node.peer_connections.count("bappeda"),
            1,
            "lookup for letter {n}"
        );
        while crate::transmit::deliver_due(&a.node)
            .await
            .expect("deliver")
            > 0
        {}
        let (state, error) = delivery(&a.node, &ids[n]).await;
        assert_eq!(state, "delivered", "{error:?}");
        // One connection, made for the first letter and kept: a new one for each letter
        // would leave one more kept each time.
        assert_eq!(a.node.peer_connections.count("bappeda"), 1, "letter {n}");
    }

    // The hub renews its own certificate: the kept connection, which shows the old one, is
    // not used again.
    let r = super::connect_reusing(&a.node, "bappeda")
        .await
        .expect("connection");
    assert!(r.kept, "the kept connection is used while nothing changed");
    super::keep(&a.node, "bappeda", r.entry, r.client, r.own);
    renew(&two.a_dir, &two.a_dir, "hub", "dinkes").await;
    let r = super::connect_reusing(&a.node, "bappeda")
        .await
        .expect("connection");
    assert!(
        !r.kept,
        "a connection showing the hub's old certificate was used again"
    );
    drop(r);

    // bappeda stops (its connections close); an impostor with another key from the same CA
    // listens where it did. The hub's kept connection is not used, and the new one is
    // refused: the letter stays undelivered.
    let _ = b.stop.send(());
    let _ = b.task.await;
    let (rekeyed, key) = rekeyed(&two.a_dir, "bappeda", "bappeda").await;
    let impostor = impostor(&a.node, b_addr, rekeyed, key).await;
    let id = letter_to_bappeda(&a.node, &budi, 3).await.expect("letter");
    crate::transmit::deliver_due(&a.node)
        .await
        .expect("deliver");
    let (state, error) = delivery(&a.node, &id).await;
    assert_ne!(state, "delivered");
    let error = error.expect("why");
    assert!(error.contains("not the key"), "{error}");
    assert_eq!(a.node.peer_connections.count("bappeda"), 0);
    impostor.abort();
    let _ = a.stop.send(());
    let _ = a.task.await;
}

/// A listed peer (its key pinned) that answers an official's lookup with more than a card
/// could be: the hub reads no more than [`super::MAX_CARD`] of it, and the lookup fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_to_an_official_lookup_is_not_read_whole() {
    let text = lookup_from_rogue(Some(4 * super::MAX_CARD)).await;
    assert!(text.contains("length limit exceeded"), "{text}");
}

/// A listed peer that never answers an official's lookup is given up after
/// [`super::LOOKUP_TIME`]: the official writing the letter is not kept waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_silent_on_an_official_lookup_is_given_up() {
    let text = lookup_from_rogue(None).await;
    assert!(text.contains("no answer within 10 s"), "{text}");
}

/// The hub looks up Dewi on bappeda gone rogue: a key of its own, which the directory now
/// pins, answering `answer` bytes (or nothing). What the failed lookup says.
async fn lookup_from_rogue(answer: Option<usize>) -> String {
    let root = tempfile::tempdir().expect("tempdir");
    let crate::dev::bench::TwoNodes {
        a_dir,
        b_dir,
        la,
        lb,
        ..
    } = two_nodes(root.path()).await.expect("two nodes");
    let (a_addr, b_addr) = (
        la.local_addr().expect("address"),
        lb.local_addr().expect("address"),
    );
    let (cert, key) = rekeyed(&a_dir, "bappeda", "bappeda").await;
    let layout = Layout::new(&b_dir);
    let ca = crate::node::read_pem_certs(&layout.tls_chain()).expect("chain")[1].clone();
    let pem = keymgr::ca::der_to_pem;
    std::fs::write(layout.tls_chain(), format!("{}{}", pem(&cert), pem(&ca))).expect("chain");
    crate::dev::bench::publish_directory(&a_dir, a_addr, &b_dir, b_addr, 2).expect("directory");
    drop(lb);
    let a = serve_node(&a_dir, la).await.expect("hub");
    let rogue = answering(&a.node, b_addr, cert, key, answer).await;
    let started = std::time::Instant::now();
    let e = super::remote_official(&a.node, "bappeda", DEWI, policies::Level::Rahasia)
        .await
        .expect_err("no card");
    // One try: a new connection that failed is not tried again.
    assert!(started.elapsed() < super::LOOKUP_TIME * 2);
    rogue.abort();
    let _ = a.stop.send(());
    let _ = a.task.await;
    let text = e.to_string();
    assert!(text.contains("was never looked up"), "{text}");
    text
}

/// A TLS server at `addr` showing `cert` (with the Network CA) for `key` that answers every
/// request with 200 and a body of `length` bytes, or (`None`) never answers.
async fn answering(
    node: &crate::node::Node,
    addr: std::net::SocketAddr,
    cert: Vec<u8>,
    key: PrivateKeyDer<'static>,
    length: Option<usize>,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![
            CertificateDer::from(cert),
            CertificateDer::from(node.network_ca_der.clone()),
        ],
        key,
    )
    .expect("server config");
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut s) = acceptor.accept(tcp).await else {
                continue;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let Some(length) = length else {
                    // Holds the connection and says nothing.
                    let _ = s.read(&mut b).await;
                    return;
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.write_all(&vec![b' '; length]).await;
                let _ = s.flush().await;
                let _ = s.read(&mut b).await;
            });
        }
    })
}
