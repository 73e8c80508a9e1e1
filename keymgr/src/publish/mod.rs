//! The publication service (`keymgr serve`): what relying parties fetch over plain HTTP, as
//! RFC 5280 §4.2.1.13 and RFC 6960 expect, public by design and so bounded and cheap.
//!
//! ```text
//! GET  /ca/root.crt, /ca/network-ca.crt, /ca/signing-ca.crt    application/pkix-cert (DER)
//! GET  /crl/network-ca.crl, /crl/signing-ca.crl                 application/pkix-crl (DER)
//! GET  /crl/root.crl (when a root ceremony wrote one)
//! POST /ocsp/network-ca, /ocsp/signing-ca                       application/ocsp-request
//! GET  /ocsp/network-ca/{base64 request}, /ocsp/signing-ca/…    RFC 6960 appendix A.1
//! GET  /log/checkpoint, /log/note-key                          the issuance log (C2SP notes)
//! GET  /log/consistency?first=M&second=N                       RFC 9162 consistency proof
//! GET  /log/certificates/{sha256}?size=N                       a certificate's inclusion proof
//! ```
//!
//! A caller prepares a [`Publisher`] over an unsealed online keystore, then [`start`]s it with
//! routes of its own (the time-stamping authority adds `POST /tsa`), which get the same limits
//! and counting. A maintenance loop keeps the CRLs and OCSP answers current: see
//! [`Publisher::maintain`].

mod crls;
mod http;
mod log;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use bytes::Bytes;
use hsm_shim::KeyStore;
use time::{Duration, OffsetDateTime};

pub use http::{Stats, StatsSnapshot};

use crate::ca::{Ca, Home};
use crate::inventory::{Census, Inventory};
use crate::ocsp::{self, Responder};
use crate::{Error, Result};

/// The CAs whose CRLs are published and for which OCSP is answered.
pub const ISSUING: [Ca; 2] = [Ca::Network, Ca::Signing];

/// How the service runs. `Default` is what `keymgr serve` documents.
#[derive(Clone, Debug)]
pub struct Options {
    pub listen: SocketAddr,
    /// nextUpdate of the CRLs this service signs; each is re-signed at half of it.
    pub crl_validity: Duration,
    /// nextUpdate of OCSP answers; a kept answer is re-signed at half of it.
    pub ocsp_validity: Duration,
    /// How often the inventory and HOME/crl/ are looked at.
    pub refresh: std::time::Duration,
    /// Requests (body, or URL for a GET) larger than this are refused before they are read.
    pub max_request_bytes: usize,
    /// Connections open at once; more are closed at once.
    pub max_connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            crl_validity: Duration::days(7),
            ocsp_validity: Duration::hours(1),
            refresh: std::time::Duration::from_secs(1),
            max_request_bytes: 8 * 1024,
            max_connections: 1024,
        }
    }
}

/// Something the maintenance loop did, for the operator to see.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A delegated OCSP responder certificate was issued or renewed.
    ResponderIssued { ca: Ca, serial: String },
    /// This service signed a CRL (at start, on schedule, or after a revocation).
    CrlSigned { ca: Ca, number: u128 },
    /// A newer CRL written by `keymgr crl` is served.
    CrlLoaded { ca: Ca, number: u128 },
    /// Certificates were issued or revoked: the kept OCSP answers were dropped.
    InventoryChanged { certificates: i64, revoked: i64 },
    /// A maintenance step failed; it is tried again at the next look.
    Failed(String),
}

/// The state behind the routes: CA certificates, CRLs, the two OCSP responders, counters.
pub struct Publisher {
    home: Home,
    store: Arc<dyn KeyStore>,
    inv: Inventory,
    opts: Options,
    certs: Vec<(Ca, Bytes)>,
    crls: Vec<crls::CrlSlot>,
    responders: Vec<Responder>,
    census: Mutex<Option<Census>>,
    stats: Stats,
    issuance_log: log::LogState,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("home", &self.home)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Gets everything ready before the first request: the CA certificates, a responder
    /// certificate for each issuing CA (issued or renewed when missing or expiring), and a
    /// current CRL for each (signed when there is none or it is due). `on_event` hears what
    /// was done.
    pub async fn prepare(
        home: Home,
        store: Arc<dyn KeyStore>,
        inv: Inventory,
        opts: Options,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Arc<Self>> {
        home.load_state()?;
        let mut certs = Vec::new();
        for ca in [Ca::Root, Ca::Network, Ca::Signing] {
            certs.push((ca, Bytes::from(home.cert_der(ca)?)));
        }
        let mut responders = Vec::new();
        for ca in ISSUING {
            let (record, new) = ocsp::ensure_responder(&home, store.as_ref(), &inv, ca).await?;
            if new {
                on_event(Event::ResponderIssued {
                    ca,
                    serial: record.serial.clone(),
                });
            }
            responders.push(Responder::new(
                ca,
                &home.cert_der(ca)?,
                &record,
                Arc::clone(&store),
                inv.clone(),
                opts.ocsp_validity,
            )?);
        }
        let census = inv.census().await?;
        let publisher = Arc::new(Publisher {
            crls: [Ca::Root, Ca::Network, Ca::Signing]
                .into_iter()
                .map(crls::CrlSlot::new)
                .collect(),
            census: Mutex::new(Some(census)),
            home,
            store,
            inv,
            opts,
            certs,
            responders,
            stats: Stats::default(),
            issuance_log: log::LogState::default(),
        });
        for event in publisher.refresh_crls(false).await? {
            on_event(event);
        }
        Ok(publisher)
    }

    /// The CA home, the unsealed online keystore and the inventory the service runs on: what a
    /// caller's own routes (the time-stamping authority) sign and record with.
    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.store
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inv
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The requests answered so far, by kind.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The OCSP responder of an issuing CA.
    pub fn responder(&self, ca: Ca) -> Option<&Responder> {
        self.responders.iter().find(|r| r.ca() == ca)
    }

    /// The CRL served for an issuing CA: its number and DER.
    pub fn crl(&self, ca: Ca) -> Option<(u128, Bytes)> {
        let slot = self.crls.iter().find(|s| s.ca == ca)?;
        slot.current().map(|c| (c.number, c.der))
    }

    fn cert(&self, ca: Ca) -> Option<Bytes> {
        self.certs
            .iter()
            .find(|(c, _)| *c == ca)
            .map(|(_, der)| der.clone())
    }

    /// The public routes, without limits (which [`start`] adds around them and the caller's).
    pub fn routes(self: &Arc<Self>) -> Router {
        http::routes(Arc::clone(self)).merge(log::routes(Arc::clone(self)))
    }

    /// One round of upkeep, run every `refresh` by [`start`]: a change in the inventory drops
    /// the kept OCSP answers (and a new revocation re-signs the CRLs at once); a newer CRL in
    /// HOME/crl/ is served; a CRL half-way to its nextUpdate is re-signed; a responder
    /// certificate near its end is renewed.
    pub async fn maintain(&self) -> Vec<Event> {
        let mut events = Vec::new();
        let mut resign = false;
        match self.inv.census().await {
            Ok(now) => {
                let before = self
                    .census
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .replace(now);
                if before != Some(now) {
                    for r in &self.responders {
                        r.invalidate();
                    }
                    resign = before.is_some_and(|b| b.revoked != now.revoked);
                    events.push(Event::InventoryChanged {
                        certificates: now.certificates,
                        revoked: now.revoked,
                    });
                }
            }
            Err(e) => events.push(Event::Failed(format!("reading the inventory: {e}"))),
        }
        match self.refresh_crls(resign).await {
            Ok(more) => events.extend(more),
            Err(e) => events.push(Event::Failed(e.to_string())),
        }
        let renew_at = OffsetDateTime::now_utc() + Duration::days(ocsp::RENEW_WITHIN_DAYS);
        for r in &self.responders {
            if r.responder_not_after() > renew_at {
                continue;
            }
            let renewed =
                ocsp::ensure_responder(&self.home, self.store.as_ref(), &self.inv, r.ca()).await;
            match renewed.and_then(|(record, _)| r.set_responder(&record).map(|()| record)) {
                Ok(record) => events.push(Event::ResponderIssued {
                    ca: r.ca(),
                    serial: record.serial,
                }),
                Err(e) => events.push(Event::Failed(format!(
                    "renewing the {} OCSP responder: {e}",
                    r.ca().name()
                ))),
            }
        }
        events
    }

    /// Loads newer CRLs from HOME/crl/ and signs those that are due (all of them when `force`).
    async fn refresh_crls(&self, force: bool) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        let now = OffsetDateTime::now_utc();
        for slot in &self.crls {
            let ca_der = self
                .cert(slot.ca)
                .ok_or_else(|| Error::Publication(format!("no {} certificate", slot.ca.name())))?;
            match slot.reload(&self.home, &ca_der) {
                Ok(crls::Change::Loaded(number)) => {
                    events.push(Event::CrlLoaded {
                        ca: slot.ca,
                        number,
                    });
                }
                Ok(_) => {}
                Err(e) => events.push(Event::Failed(format!("HOME/crl: {e}"))),
            }
            // The root's CRL comes from root ceremonies only: served when there, never signed.
            if slot.ca != Ca::Root && (force || slot.due(self.opts.crl_validity, now)) {
                let change = slot
                    .sign(
                        &self.home,
                        self.store.as_ref(),
                        &self.inv,
                        &ca_der,
                        self.opts.crl_validity,
                    )
                    .await?;
                if let crls::Change::Signed(number) = change {
                    events.push(Event::CrlSigned {
                        ca: slot.ca,
                        number,
                    });
                }
            }
        }
        Ok(events)
    }
}

/// A running service: its address, and the way to stop it.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    publisher: Arc<Publisher>,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<Result<()>>,
    upkeep: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The address bound (the port chosen when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// Stops accepting, lets open requests finish (for a few seconds at most), stops upkeep.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.upkeep.abort();
        let _ = self.upkeep.await;
        self.server
            .await
            .map_err(|e| Error::Publication(format!("the server task: {e}")))?
    }
}

/// Binds `publisher.options().listen` and serves the public routes together with `extra` (the
/// caller's own routes, such as `POST /tsa`), all under the same limits and counters, with the
/// maintenance loop running every `refresh`; `on_event` hears what it does.
pub async fn start(
    publisher: Arc<Publisher>,
    extra: Router,
    on_event: impl Fn(Event) + Send + Sync + 'static,
) -> Result<Running> {
    let opts = publisher.options().clone();
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::Publication(format!("listening on {}: {e}", opts.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Publication(format!("the bound address: {e}")))?;
    let app = http::with_limits(publisher.routes().merge(extra), &publisher);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(server::serve(
        listener,
        app,
        server::Limits::from(&opts),
        stopped,
    ));
    let upkeep = {
        let publisher = Arc::clone(&publisher);
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(opts.refresh.max(std::time::Duration::from_millis(100)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                for event in publisher.maintain().await {
                    on_event(event);
                }
            }
        })
    };
    Ok(Running {
        addr,
        publisher,
        stop,
        server,
        upkeep,
    })
}
