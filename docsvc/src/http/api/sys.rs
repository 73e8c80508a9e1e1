//! `/api/v1/sys`: the seal status, and unsealing with the custodians' shares.

use axum::Json;
use axum::extract::State;
use hsm_shim::CustodianShare;
use serde::{Deserialize, Serialize};

use super::Body2;
use crate::Error;
use crate::http::App;
use crate::http::problem::ApiResult;
use crate::http::problem::responses::BadInput;

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SealStatus {
    sealed: bool,
    provided: usize,
    threshold: usize,
}

#[utoipa::path(
    get, path = "/api/v1/sys/seal-status", tag = "sys",
    responses((status = 200, body = SealStatus))
)]
pub(super) async fn seal_status(State(node): State<App>) -> Json<SealStatus> {
    let p = node.keystore.progress();
    Json(SealStatus {
        sealed: !p.unsealed,
        provided: p.provided,
        threshold: p.threshold,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UnsealRequest {
    /// One custodian's share, as `keymgr` printed it (`sandi-share-v1.…`).
    #[schema(pattern = r"^\s*sandi-share-v1\.")]
    share: String,
}

#[utoipa::path(
    post, path = "/api/v1/sys/unseal", tag = "sys",
    request_body = UnsealRequest,
    responses((status = 200, body = SealStatus), BadInput)
)]
pub(super) async fn unseal(
    State(node): State<App>,
    Body2(req): Body2<UnsealRequest>,
) -> ApiResult<Json<SealStatus>> {
    let share = zeroize::Zeroizing::new(req.share);
    // A share that does not parse or does not belong to this keystore is the caller's error.
    let share =
        CustodianShare::parse(share.trim()).map_err(|e| Error::invalid("share", e.to_string()))?;
    let p = node
        .keystore
        .submit_share(share)
        .map_err(|e| Error::invalid("share", e.to_string()))?;
    if p.unsealed {
        node.after_unseal()?;
        tracing::info!("keystore unsealed");
    }
    Ok(Json(SealStatus {
        sealed: !p.unsealed,
        provided: p.provided,
        threshold: p.threshold,
    }))
}
