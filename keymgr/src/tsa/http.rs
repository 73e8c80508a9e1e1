//! `POST /tsa` (RFC 3161 §3.4, time-stamp protocol via HTTP): a DER `TimeStampReq` in as
//! `application/timestamp-query`, a DER `TimeStampResp` out as `application/timestamp-reply`.
//! Public by design, like the CRLs and OCSP beside it: `keymgr serve` puts it under the
//! publication service's size limits and counters ([`crate::publish::start`]), and the
//! responder bounds what it reads again.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hsm_shim::KeyStore;

use super::Responder;
use crate::Result;
use crate::ca::Home;
use crate::inventory::Inventory;

/// The time-stamping service: the current responder (replaced when its certificate is
/// renewed) and the keystore that holds its key.
pub struct Service {
    responder: RwLock<Arc<Responder>>,
    store: Arc<dyn KeyStore>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").finish_non_exhaustive()
    }
}

impl Service {
    /// Makes sure a current TSA certificate exists ([`super::ensure`]) and answers with it
    /// under the ceremony's policy (`{arc}.3.1`).
    pub async fn prepare(
        home: &Home,
        store: Arc<dyn KeyStore>,
        inv: &Inventory,
    ) -> Result<Arc<Self>> {
        let record = super::ensure(home, store.as_ref(), inv).await?;
        let policy = super::policy_oid(&home.load_state()?.oid_arc)?;
        let responder = Responder::new(&record, policy)?
            .with_issuer(&home.cert_der(crate::ca::Ca::Signing)?)?;
        Ok(Arc::new(Service {
            responder: RwLock::new(Arc::new(responder)),
            store,
        }))
    }

    /// The responder in use.
    pub fn responder(&self) -> Arc<Responder> {
        Arc::clone(
            &self
                .responder
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Renews the TSA certificate when it is due and answers with the new one; returns its
    /// serial when it changed. For a long-running service, now and then.
    pub async fn maintain(&self, home: &Home, inv: &Inventory) -> Result<Option<String>> {
        let record = super::ensure(home, self.store.as_ref(), inv).await?;
        let current = self.responder();
        if record.der == current.certificate_der() {
            return Ok(None);
        }
        let next = Arc::new(
            Responder::new(&record, current.policy())?
                .with_issuer(&home.cert_der(crate::ca::Ca::Signing)?)?,
        );
        *self
            .responder
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        Ok(Some(record.serial))
    }

    /// The route: `POST /tsa`.
    pub fn routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/tsa", axum::routing::post(answer))
            .with_state(Arc::clone(self))
    }
}

async fn answer(State(s): State<Arc<Service>>, headers: HeaderMap, body: Bytes) -> Response {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if kind != "application/timestamp-query" {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "send a DER TimeStampReq as application/timestamp-query\n",
        )
            .into_response();
    }
    let der = s.responder().respond(s.store.as_ref(), &body);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/timestamp-reply")],
        der,
    )
        .into_response()
}
