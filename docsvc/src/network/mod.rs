//! The sandi network as this node sees it: the network directory signed by the Network CA
//! (`network/directory.json`), which nodes it may talk to, and node-to-node mutual TLS with
//! the node's own certificate (its key stays in hsm-shim).

pub mod ca;
pub mod client;
pub mod held;
pub mod issuance;
pub mod witness;

use std::sync::Arc;

use keymgr::directory::NodeEntry;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

use crate::node::Node;
pub use crate::node::peers::fingerprint;
use crate::store::remote_officials;
use crate::{Error, Result};

/// Whether a node certificate may speak at all: chained to the Network CA, valid now and not
/// revoked. The reason for a refusal is returned; an unknown revocation status is the caller's
/// error (503 `revocation-unknown`, or a delivery retried), not a refusal of the peer: it must
/// retry once the operator has a fresh CRL.
fn trusted(node: &Node, der: &[u8]) -> Result<std::result::Result<(), String>> {
    let now = time::OffsetDateTime::now_utc();
    if let Err(e) = crate::crypto::signature::check_chain(der, &node.network_trust, now) {
        return Ok(Err(format!("node certificate: {e}")));
    }
    if let crate::crypto::revocation::Status::Revoked { at } =
        crate::node::revocation::require(node, der, "node certificate")?
    {
        return Ok(Err(format!("the node certificate was revoked at {at}")));
    }
    Ok(Ok(()))
}

/// Which node a client certificate belongs to: trusted (see [`trusted`]), naming a node listed
/// as active in the current directory and certifying the key the directory pins for it (so a
/// certificate the node renewed with the same key is accepted without a new directory). The
/// reason for a refusal is returned.
pub async fn peer_of(node: &Node, der: &[u8]) -> Result<std::result::Result<NodeEntry, String>> {
    if let Err(why) = trusted(node, der)? {
        return Ok(Err(why));
    }
    let Some(directory) = node.network.current(&node.store).await? else {
        return Ok(Err("this node has no network directory".into()));
    };
    Ok(match directory.node_certified_by(der) {
        Err(why) => Err(why),
        Ok(n) if n.status != "active" => Err(format!(
            "node {} is {} in the network directory",
            n.id, n.status
        )),
        Ok(n) => Ok(n.clone()),
    })
}

/// Whether `der` is the certificate of the listed node `entry`: trusted (see [`trusted`]),
/// naming it and certifying the key the directory pins for it. The reason for a refusal is
/// returned.
pub fn certifies(
    node: &Node,
    entry: &NodeEntry,
    der: &[u8],
) -> Result<std::result::Result<(), String>> {
    if let Err(why) = trusted(node, der)? {
        return Ok(Err(why));
    }
    Ok(entry.certifies(der))
}

/// The node's own certificate and key, offered to peers as a TLS client.
#[derive(Debug)]
pub(crate) struct OwnCert(pub(crate) Arc<CertifiedKey>);

impl ResolvesClientCert for OwnCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A TLS client configuration that presents this node's certificate and trusts the sandi
/// root.
pub fn client_config(node: &Node) -> Result<Arc<rustls::ClientConfig>> {
    let chain = crate::node::read_pem_certs(&node.layout.tls_chain())?;
    let handle =
        hsm_shim::KeyStore::info(node.tls_keystore.as_ref(), node.keys.get().tls)?.handle();
    let certified = crate::crypto::tls::certified(
        chain,
        Arc::clone(&node.tls_keystore) as Arc<dyn hsm_shim::KeyStore>,
        handle,
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(node.trust.root_der().to_vec()))
        .map_err(|e| Error::invalid("root certificate", format!("root certificate: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Crypto {
            op: "choosing the TLS protocol versions",
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_client_cert_resolver(Arc::new(OwnCert(Arc::new(certified))));
    Ok(Arc::new(config))
}

/// A connection kept for another delivery to the same peer.
struct Kept {
    /// The directory entry its certificate was checked against: used again only while the
    /// directory lists the peer exactly so.
    entry: NodeEntry,
    client: client::Client,
    since: std::time::Instant,
    /// SHA-256 of this node's own certificate chain the connection showed: once the node
    /// renews or re-keys, its kept connections (showing the old one) are not used again.
    own: [u8; 32],
}

/// SHA-256 of this node's TLS chain file as it is now.
fn own_chain(node: &Node) -> Result<[u8; 32]> {
    let path = node.layout.tls_chain();
    let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
    Ok(crate::crypto::sha256(&bytes))
}

/// How long a kept connection is used again after its handshake: bounds how long a peer whose
/// certificate was revoked meanwhile is still sent to (its CRL is read at the next handshake).
const REUSE_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a connection waits idle to be used again: well under the time a peer closes an
/// idle HTTP/1.1 connection after (`limits.header_read_secs`, 30 s by default).
const IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Connections kept per peer (as many as deliveries run at once, `transmit::IN_FLIGHT`).
const KEPT_PER_PEER: usize = 32;

/// [`connect`], or a connection kept by [`keep`] that is still open, younger than `REUSE_FOR`,
/// idle for less than `IDLE_FOR`, made for the entry the directory lists now and showing the
/// certificate chain this node has now.
pub async fn connect_reusing(node: &Node, peer: &str) -> Result<Reusable> {
    let own = own_chain(node)?;
    let directory = node.network.current(&node.store).await?;
    let entry = directory.as_ref().and_then(|d| d.by_id(peer));
    if let Some(entry) = entry {
        while let Some(mut kept) = node.peer_connections.take(peer, |k: &Kept| {
            k.entry == *entry
                && k.own == own
                && k.client.age() < REUSE_FOR
                && k.since.elapsed() < IDLE_FOR
        }) {
            if kept.client.ready().await {
                return Ok(Reusable {
                    entry: kept.entry,
                    client: kept.client,
                    kept: true,
                    own,
                });
            }
        }
    }
    let (entry, client) = connect(node, peer).await?;
    Ok(Reusable {
        entry,
        client,
        kept: false,
        own,
    })
}

/// A connection from [`connect_reusing`].
#[derive(Debug)]
pub struct Reusable {
    /// The directory entry the peer's certificate was checked against.
    pub entry: NodeEntry,
    pub client: client::Client,
    /// Whether it was kept from an earlier delivery (a failure on it may be the peer having
    /// closed it meanwhile: worth one more try on a new one).
    pub kept: bool,
    /// This node's chain when it was made, for [`keep`].
    pub own: [u8; 32],
}

/// Keeps a connection whose exchange finished for the next delivery to `peer`.
/// `own` is [`connect_reusing`]'s word for the chain the connection was made with.
pub fn keep(node: &Node, peer: &str, entry: NodeEntry, client: client::Client, own: [u8; 32]) {
    if client.age() < REUSE_FOR {
        let since = std::time::Instant::now();
        node.peer_connections.put(
            peer,
            Kept {
                entry,
                client,
                since,
                own,
            },
            KEPT_PER_PEER,
        );
    }
}

/// Connects to `peer` (by its id in the directory) over mutual TLS; the certificate it shows
/// must be its own (see [`certifies`]): a TLS chain to the sandi root alone would let any
/// certificate of the root's CAs for the pinned key through. It must also be in keymgr's
/// issuance log ([`issuance::require`]): refused if not, [`Error::Busy`] while that cannot be
/// established.
pub async fn connect(node: &Node, peer: &str) -> Result<(NodeEntry, client::Client)> {
    let (entry, client, der) = connect_shown(node, peer).await?;
    if let Err(why) = issuance::require(node, &der).await? {
        return Err(Error::invalid(
            "peer certificate",
            format!("node {peer}: {why}"),
        ));
    }
    Ok((entry, client))
}

/// [`connect`] for witnessing only, which reads signed checkpoints: not held back by the
/// issuance log, whose cosigned checkpoint witnessing is how nodes come to agree on.
pub async fn connect_witnessing(node: &Node, peer: &str) -> Result<(NodeEntry, client::Client)> {
    let (entry, client, _) = connect_shown(node, peer).await?;
    Ok((entry, client))
}

/// Connects as [`connect`] says, without the issuance log; also returns the certificate shown.
async fn connect_shown(node: &Node, peer: &str) -> Result<(NodeEntry, client::Client, Vec<u8>)> {
    let directory =
        node.network.current(&node.store).await?.ok_or_else(|| {
            Error::invalid("network directory", "this node has no network directory")
        })?;
    let entry = directory
        .by_id(peer)
        .filter(|n| n.status == "active")
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no active node {peer} in network directory version {}",
                directory.version
            ))
        })?
        .clone();
    let rest = entry
        .base_url
        .strip_prefix("https://")
        .unwrap_or(&entry.base_url)
        .trim_end_matches('/');
    let host = rest.rsplit_once(':').map_or(rest, |(h, _)| h);
    let addr = tokio::net::lookup_host(rest)
        .await
        .map_err(|e| Error::invalid("peer address", format!("resolving {rest}: {e}")))?
        .next()
        .ok_or_else(|| Error::invalid("peer address", format!("{rest} does not resolve")))?;
    let shown = std::sync::Mutex::new(Vec::new());
    let check = |der: &[u8]| match certifies(node, &entry, der)? {
        Ok(()) => {
            *shown
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = der.to_vec();
            Ok(())
        }
        Err(why) => Err(Error::invalid(
            "peer certificate",
            format!("{rest} is not node {peer} of the network directory: {why}"),
        )),
    };
    let client = client::connect_pinned(addr, host, client_config(node)?, &check).await?;
    let der = shown
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((entry, client, der))
}

/// What a node says about one of its officials: the identity and clearance it reports, and
/// the encryption key binding signed by the Signing CA (which alone is trusted for the key).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OfficialCard {
    pub nip: String,
    pub name: String,
    pub agency: String,
    #[schema(value_type = crate::schema::LevelDoc)]
    pub clearance: policies::Level,
    /// keymgr's key binding (JSON).
    #[schema(value_type = Object)]
    pub binding: keymgr::issue::KeyBinding,
}

/// An official of another node, with the age recipient their binding proves.
#[derive(Clone, Debug)]
pub struct RemoteOfficial {
    pub card: OfficialCard,
    pub node: NodeEntry,
    pub recipient: age::x25519::Recipient,
}

/// Splits `NIP@node` (an official of another node).
pub fn remote_address(addr: &str) -> Option<(&str, &str)> {
    addr.split_once('@')
}

/// Asks `peer` for its official `nip` and checks the key binding against this node's Signing
/// CA and root: the remote node's word is not taken for the key. When the peer cannot be
/// reached, the card fetched last time is used (its binding checked again), so that a letter
/// can be written while the peer is down and wait in the outbox.
pub async fn remote_official(
    node: &Node,
    peer: &str,
    nip: &str,
    level: policies::Level,
) -> Result<RemoteOfficial> {
    if !nip.chars().all(|c| c.is_ascii_digit()) || nip.len() != 18 {
        return Err(Error::invalid(
            "nip",
            format!("{nip:?} is not a NIP (18 digits)"),
        ));
    }
    let address = format!("{nip}@{peer}");
    let card = match fetch_card(node, peer, nip, level).await {
        Ok(Err(refused)) => return Err(refused),
        Ok(Ok(card)) => {
            let json =
                serde_json::to_string(&card).map_err(|e| Error::encode("an official's card", e))?;
            remote_officials::put_card(&node.store, &address, json, crate::now_rfc3339()).await?;
            card
        }
        Err(Unreachable(why)) => {
            let cached = remote_officials::card(&node.store, &address).await?;
            let cached = cached.ok_or_else(|| {
                Error::invalid(
                    "remote official",
                    format!(
                        "node {peer} cannot be reached and {address} was never looked up: {why}"
                    ),
                )
            })?;
            serde_json::from_str(&cached)
                .map_err(|e| Error::Integrity(format!("cached card of {address}: {e}")))?
        }
    };
    let entry = node
        .network
        .current(&node.store)
        .await?
        .and_then(|d| d.by_id(peer).cloned())
        .ok_or_else(|| {
            Error::invalid(
                "peer",
                format!("node {peer} is not in the network directory"),
            )
        })?;
    checked_card(node, entry, card, peer, nip).await
}

/// The largest answer to an official's lookup: a card with its key binding is a few KiB.
const MAX_CARD: usize = 256 * 1024;

/// How long a lookup waits for the peer's answer: it is made while an official writes a
/// letter, and a peer silent for longer counts as unreachable (the card it gave before is
/// used).
const LOOKUP_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// The peer could not be reached (as opposed to answering something unacceptable).
struct Unreachable(String);

impl From<Error> for Unreachable {
    fn from(e: Error) -> Self {
        Unreachable(e.to_string())
    }
}

/// The peer's answer, or `Unreachable`; an answer may be a definite refusal.
async fn fetch_card(
    node: &Node,
    peer: &str,
    nip: &str,
    level: policies::Level,
) -> std::result::Result<Result<OfficialCard>, Unreachable> {
    let path = format!("/network/v1/officials/{nip}?for={}", level.as_str());
    // On a kept connection when there is one (a letter to a peer's official is looked up each
    // time it is written), as deliveries do; one that the peer closed meanwhile costs one more
    // try on a new one.
    let Reusable {
        mut entry,
        mut client,
        mut kept,
        own,
    } = connect_reusing(node, peer).await?;
    let (status, body) = loop {
        let answer = tokio::time::timeout(
            LOOKUP_TIME,
            client.call_limited("GET", &path, &[], bytes::Bytes::new(), MAX_CARD),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Error::Exchange {
                op: "waiting for an answer",
                peer: peer.to_owned(),
                detail: format!("no answer within {} s", LOOKUP_TIME.as_secs()),
            })
        });
        match answer {
            Ok((status, _, body)) => {
                keep(node, peer, entry, client, own);
                break (status, body);
            }
            Err(e) if !kept => return Err(e.into()),
            Err(e) => {
                tracing::debug!(peer, "a kept connection failed ({e}); trying a new one");
                (entry, client) = connect(node, peer).await?;
                kept = false;
            }
        }
    };
    match status {
        200 => Ok(serde_json::from_slice(&body).map_err(|e| {
            Error::invalid(
                "peer answer",
                format!("node {peer}: an unreadable answer: {e}"),
            )
        })),
        // The peer refuses a letter of this level (its own accreditation): its reasons.
        403 => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            Ok(Err(Error::Forbidden {
                alasan: format!("node {peer}: {}", text("alasan")),
                reason: format!("node {peer}: {}", text("reason")),
                policies: v["policies"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| p.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            }))
        }
        404 => Ok(Err(Error::invalid(
            "nip",
            format!("node {peer} has no active official with NIP {nip}"),
        ))),
        s => Err(Unreachable(format!(
            "node {peer} answered {s} when asked for official {nip}"
        ))),
    }
}

async fn checked_card(
    node: &Node,
    entry: NodeEntry,
    card: OfficialCard,
    peer: &str,
    nip: &str,
) -> Result<RemoteOfficial> {
    keymgr::issue::verify_binding(&card.binding, &node.signing_ca_der, node.trust.root_der())
        .map_err(|e| {
            Error::invalid(
                "official binding",
                format!("node {peer}, official {nip}: {e}"),
            )
        })?;
    if card.binding.nip != nip || card.nip != nip {
        return Err(Error::invalid(
            "official binding",
            format!("node {peer} answered for {nip} with a binding of another official"),
        ));
    }
    // Signed with the Signing CA's key is not enough: keymgr must have logged it.
    if let Err(why) = issuance::require_binding(node, &card.binding).await? {
        return Err(Error::invalid(
            "official binding",
            format!("node {peer}, official {nip}: {why}"),
        ));
    }
    let recipient = card.binding.recipient.parse().map_err(|e| {
        Error::invalid(
            "official binding",
            format!("official {nip}: binding key: {e}"),
        )
    })?;
    Ok(RemoteOfficial {
        card,
        node: entry,
        recipient,
    })
}

#[cfg(test)]
mod pin_tests;
