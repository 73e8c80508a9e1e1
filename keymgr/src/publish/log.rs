//! The issuance log for witnesses and monitors (public, like CRLs: everything served is
//! signed or checkable against what is): its checkpoint and note key, consistency proofs and
//! certificates' inclusion proofs. The checkpoint is signed again only when the log has grown
//! (kept per length of the heads file); proofs read the leaves, so at most
//! [`PROOFS_AT_ONCE`] are made at a time, off the async threads, and more are answered 503.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::Publisher;
use crate::api::problem::Problem;
use crate::tlog::Log;
use crate::{Error, Result};

type Shared = Arc<Publisher>;

/// Proofs made at once by one service.
const PROOFS_AT_ONCE: usize = 2;

/// The last checkpoint signed, with the heads file's length it was signed at.
pub(super) struct LogState {
    checkpoint: Mutex<Option<(u64, String)>>,
    proofs: Arc<tokio::sync::Semaphore>,
}

impl Default for LogState {
    fn default() -> Self {
        LogState {
            checkpoint: Mutex::new(None),
            proofs: Arc::new(tokio::sync::Semaphore::new(PROOFS_AT_ONCE)),
        }
    }
}

pub(super) fn routes(p: Shared) -> Router {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/note-key", get(note_key))
        .route("/log/consistency", get(consistency))
        .route("/log/certificates/{sha256}", get(certificate))
        .with_state(p)
}

fn text(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Runs `f` on the log off the async threads.
async fn on_log<T: Send + 'static>(
    p: &Shared,
    f: impl FnOnce(&Publisher, &Log) -> Result<T> + Send + 'static,
) -> std::result::Result<T, Problem> {
    let p = Arc::clone(p);
    tokio::task::spawn_blocking(move || {
        let log = Log::open(&p.home)?;
        f(&p, &log)
    })
    .await
    .map_err(|e| Problem::from(Error::Publication(e.to_string())))?
    .map_err(Problem::from)
}

fn signed_checkpoint(p: &Publisher, log: &Log) -> Result<String> {
    let len = std::fs::metadata(p.home.log_dir().join("heads.jsonl")).map_or(0, |m| m.len());
    let mut kept = p
        .issuance_log
        .checkpoint
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((at, note)) = kept.as_ref()
        && *at == len
    {
        return Ok(note.clone());
    }
    let note = log.checkpoint(p.store.as_ref())?;
    *kept = Some((len, note.clone()));
    Ok(note)
}

async fn checkpoint(State(p): State<Shared>) -> Response {
    match on_log(&p, signed_checkpoint).await {
        Ok(note) => text(note),
        Err(problem) => problem.into_response(),
    }
}

async fn note_key(State(p): State<Shared>) -> Response {
    match on_log(&p, |p, log| log.note_key(p.store.as_ref())).await {
        Ok(key) => text(format!("{}\n", key.vkey())),
        Err(problem) => problem.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sizes {
    first: u64,
    second: u64,
}

async fn consistency(
    State(p): State<Shared>,
    q: std::result::Result<Query<Sizes>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return bad("give first and second, the two sizes");
    };
    let Some(turn) = turn(&p) else {
        return busy();
    };
    // The turn is held by the work itself: a caller that leaves does not free it early.
    let work = move |_: &Publisher, log: &Log| {
        let _turn = turn;
        log.consistency(q.first, q.second)
    };
    match on_log(&p, work).await {
        Ok(proof) => axum::Json(proof).into_response(),
        Err(problem) => problem.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AtSize {
    size: u64,
}

async fn certificate(
    State(p): State<Shared>,
    Path(sha256): Path<String>,
    q: std::result::Result<Query<AtSize>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return bad("give size, the checkpoint's size the proof is for");
    };
    if sha256.len() != 64 {
        return bad("a certificate's SHA-256 is 64 hex digits");
    }
    let Some(turn) = turn(&p) else {
        return busy();
    };
    // Not in the log: 404 with keymgr's signed word for it, which no path can forge.
    let work = move |p: &Publisher, log: &Log| {
        let _turn = turn;
        match log.certificate_inclusion(&sha256, q.size) {
            Ok(proof) => Ok(Ok(proof)),
            Err(Error::NotInLog(_)) => log.sign_absence(p.store.as_ref(), &sha256, q.size).map(Err),
            Err(e) => Err(e),
        }
    };
    match on_log(&p, work).await {
        Ok(Ok(proof)) => axum::Json(proof).into_response(),
        Ok(Err(absent)) => (StatusCode::NOT_FOUND, text(absent)).into_response(),
        Err(problem) => problem.into_response(),
    }
}

/// A turn to make a proof, if one is free now (proofs wait in no queue).
fn turn(p: &Publisher) -> Option<tokio::sync::OwnedSemaphorePermit> {
    Arc::clone(&p.issuance_log.proofs).try_acquire_owned().ok()
}

fn busy() -> Response {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "proofs are being made for others: ask again shortly",
    )
    .into_response()
}

fn bad(detail: &str) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail).into_response()
}
