//! The online CA (`keymgr serve --api-listen`): the CA that stays up. It holds only the online
//! keystore (never the root's), starts sealed and is unsealed by custodians giving their
//! shares one at a time; then it issues and renews node, official and application certificates
//! and key bindings for authenticated nodes, and signs network directory versions that two
//! different named operators approved. Every issuance and every refusal of a caller it could
//! name goes into the transparency log.
//!
//! The HTTPS API over it is [`crate::api`]; this module decides who may do what. Where its keys
//! live (the online software keystore or a PKCS#11 token) is [`token`].

pub mod invite;
mod requests;
pub mod token;

use std::sync::Arc;

use hsm_shim::{CustodianShare, KeyStore, SoftwareKeyStore, UnsealProgress};
use serde::Serialize;
use serde_json::{Value, json};

pub use requests::{ApplicationApply, OfficialApply, Proposal};

use crate::ca::{Home, NodeRequest};
use crate::inventory::{CertState, Inventory};
use crate::tlog::Log;
use crate::transcript::sha256_hex;
use crate::{Error, Result};

/// The seal as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SealStatus {
    pub sealed: bool,
    pub threshold: usize,
    pub received: usize,
}

impl From<UnsealProgress> for SealStatus {
    fn from(p: UnsealProgress) -> Self {
        SealStatus {
            sealed: !p.unsealed,
            threshold: p.threshold,
            received: p.provided,
        }
    }
}

/// Who is calling, as their client certificate and the inventory say.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A node: its certificate's request, and the agencies it serves.
    Node {
        serial: String,
        request: NodeRequest,
        agencies: Vec<String>,
    },
    /// A named operator (`keymgr operator add`).
    Operator {
        serial: String,
        subject_id: String,
        name: String,
    },
}

impl Caller {
    /// How the log names the caller.
    pub fn describe(&self) -> Value {
        match self {
            Caller::Node {
                serial, request, ..
            } => json!({ "node": request.node_id, "serial": serial }),
            Caller::Operator { serial, name, .. } => {
                json!({ "operator": name, "serial": serial })
            }
        }
    }
}

/// The online CA's state: the home, the inventory, the online keystore (sealed until the
/// quorum), the handling table that sets officials' key strengths.
pub struct OnlineCa {
    home: Home,
    inv: Inventory,
    store: Arc<SoftwareKeyStore>,
    /// On a home whose online keys are on a PKCS#11 token ([`token`]): the token, logged in
    /// with its PIN, which signs everything; the CA is then open without the custodians.
    token: Option<Arc<dyn KeyStore>>,
    handling: policies::HandlingTable,
    unsealed: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for OnlineCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnlineCa")
            .field("home", &self.home)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl OnlineCa {
    /// Opens the online keystore of `home`, sealed; the root keystore is not opened. On a
    /// home whose online keys are on a PKCS#11 token, the token is logged in to with its PIN
    /// and the CA is open at once (a wrong or missing PIN is an error here).
    pub fn open(home: Home, inv: Inventory, handling: policies::HandlingTable) -> Result<Self> {
        home.load_state()?;
        let store = Arc::new(SoftwareKeyStore::open(&home.online_keystore())?);
        let token = home.open_online()?;
        let (unsealed, _) =
            tokio::sync::watch::channel(token.is_some() || store.progress().unsealed);
        Ok(OnlineCa {
            home,
            inv,
            store,
            token,
            handling,
            unsealed,
        })
    }

    /// Whether the online keys are on a PKCS#11 token (opened with its PIN, no shares).
    pub fn on_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn inventory(&self) -> &Inventory {
        &self.inv
    }

    pub fn status(&self) -> SealStatus {
        let mut s: SealStatus = self.store.progress().into();
        if self.token.is_some() {
            s.sealed = false;
        }
        s
    }

    /// One custodian's share of the online keystore (the `online` half of their share file).
    /// A share of another ceremony's keystore, a damaged or a repeated one is refused and
    /// counts as nothing.
    pub fn submit_share(&self, share: &str) -> Result<SealStatus> {
        let share = CustodianShare::parse(share)?;
        let p = self.store.submit_share(share)?;
        if p.unsealed {
            self.unsealed.send_replace(true);
        }
        Ok(p.into())
    }

    /// A custodian's share file, opened at the CA's terminal: its ceremony must be the CA's,
    /// and only its online share is given (the root share is not used here).
    pub fn submit_bundle(&self, bundle: &crate::shares::ShareBundle) -> Result<SealStatus> {
        let state = self.home.load_state()?;
        if bundle.ceremony != state.share_ceremony {
            return Err(Error::InvalidInput(format!(
                "the share of {} belongs to ceremony {}, not to this CA's ceremony {}",
                bundle.custodian, bundle.ceremony, state.share_ceremony
            )));
        }
        let p = self.store.submit_share(bundle.online.clone())?;
        if p.unsealed {
            self.unsealed.send_replace(true);
        }
        Ok(p.into())
    }

    /// Waits until the quorum has unsealed the keystore, and returns it.
    pub async fn unsealed(&self) -> Arc<dyn KeyStore> {
        let mut rx = self.unsealed.subscribe();
        let _ = rx.wait_for(|u| *u).await;
        self.signing_store()
    }

    /// The token, or the online keystore (whether it is unsealed or not).
    fn signing_store(&self) -> Arc<dyn KeyStore> {
        match &self.token {
            Some(token) => Arc::clone(token),
            None => Arc::clone(&self.store) as Arc<dyn KeyStore>,
        }
    }

    /// [`OnlineCa::keys`] as a handle of its own, for issuance on the signing threads.
    fn shared_keys(&self) -> Result<Arc<dyn KeyStore>> {
        self.keys()?;
        Ok(self.signing_store())
    }

    /// The keys that sign (the token's, or the unsealed online keystore's), or `Sealed`.
    fn keys(&self) -> Result<&dyn KeyStore> {
        if let Some(token) = &self.token {
            return Ok(token.as_ref());
        }
        let p = self.store.progress();
        if p.unsealed {
            Ok(self.store.as_ref())
        } else {
            Err(Error::Sealed {
                provided: p.provided,
                threshold: p.threshold,
            })
        }
    }

    /// Appends to the transparency log (the keystore must be unsealed).
    fn log(&self, kind: &str, data: Value) -> Result<()> {
        let log_key = self.home.snapshot()?.state.log_key;
        Log::open(&self.home)?.append(self.keys()?, log_key, kind, data)?;
        Ok(())
    }

    /// Logs a refusal when the keystore is unsealed (sealed, the log key cannot sign: the
    /// refusal is only reported to the caller).
    pub fn refused(&self, route: &str, caller: Option<&Caller>, why: &Error) {
        if self.keys().is_ok() {
            let who = caller.map_or(Value::Null, Caller::describe);
            if let Err(e) = self.log(
                "api-refused",
                json!({ "route": route, "caller": who, "reason": why.to_string() }),
            ) {
                tracing::warn!("logging a refusal: {e}");
            }
        }
    }

    /// Names the caller from its client certificate (already verified to chain to the Network
    /// CA by TLS): the certificate must be in the inventory, not revoked, a node's or an
    /// operator's.
    pub async fn identify(&self, cert_der: &[u8]) -> Result<Caller> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|_| Error::NotPermitted("unreadable client certificate".into()))?;
        let serial =
            crate::inventory::normalise_serial(&cert.tbs_certificate.raw_serial_as_string());
        let record = match self.inv.get(&serial).await {
            Ok(r) => r,
            Err(Error::UnknownSerial(_)) => {
                return Err(Error::NotPermitted(
                    "the client certificate is not in the inventory".into(),
                ));
            }
            Err(e) => return Err(e),
        };
        if record.certificate_sha256 != sha256_hex(cert_der) {
            return Err(Error::NotPermitted(
                "the client certificate is not the one issued with its serial".into(),
            ));
        }
        if record.state == CertState::Revoked {
            return Err(Error::NotPermitted(
                "the client certificate is revoked".into(),
            ));
        }
        // Only the subject's current certificate speaks for it: an older version (superseded
        // by a renewal) could otherwise outlive a revocation of the current one.
        let current = self.inv.latest(&record.subject_id).await?;
        if current.as_ref().map(|c| c.serial.as_str()) != Some(serial.as_str()) {
            return Err(Error::NotPermitted(
                "the client certificate was replaced by a newer one".into(),
            ));
        }
        let request: crate::issue::Request = serde_json::from_str(&record.request)
            .map_err(|e| Error::Database(format!("stored request: {e}")))?;
        match request {
            crate::issue::Request::Node(request) => {
                let agencies = invite::agencies(&self.inv, &request).await?;
                Ok(Caller::Node {
                    serial,
                    request,
                    agencies,
                })
            }
            crate::issue::Request::Operator(r) => Ok(Caller::Operator {
                serial,
                subject_id: record.subject_id,
                name: r.name,
            }),
            _ => Err(Error::NotPermitted(format!(
                "a {} certificate is neither a node's nor an operator's",
                record.profile
            ))),
        }
    }
}

/// The node a caller is, or `NotPermitted`.
fn node(caller: &Caller) -> Result<(&NodeRequest, &[String])> {
    match caller {
        Caller::Node {
            request, agencies, ..
        } => Ok((request, agencies)),
        Caller::Operator { .. } => Err(Error::NotPermitted("only a node may ask this".into())),
    }
}

/// The operator a caller is, or `NotPermitted`.
fn operator(caller: &Caller) -> Result<(&str, &str)> {
    match caller {
        Caller::Operator {
            subject_id, name, ..
        } => Ok((subject_id, name)),
        Caller::Node { .. } => Err(Error::NotPermitted(
            "only a named operator may ask this".into(),
        )),
    }
}
