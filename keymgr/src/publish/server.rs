//! The serve loop: plain HTTP/1.1 (what CRL, CA-certificate and OCSP clients speak), with a cap
//! on open connections, a deadline for request headers (and idle keep-alive), and a small
//! header buffer; open requests may finish when the service stops.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::Options;
use crate::Result;

/// How long a client may take to send its request headers, or keep an idle connection.
const HEADER_DEADLINE: Duration = Duration::from_secs(10);

/// hyper's smallest read buffer: bounds the request line and headers.
const MAX_HEADER_BUFFER: usize = 8 * 1024 + 512;

#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    max_connections: usize,
    max_request_bytes: usize,
}

impl From<&Options> for Limits {
    fn from(o: &Options) -> Self {
        Limits {
            max_connections: o.max_connections.max(1),
            max_request_bytes: o.max_request_bytes,
        }
    }
}

pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let Ok((tcp, _peer)) = accepted else {
            // Out of file descriptors or a passing error: wait instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Over the cap: closed at once, holding nothing of ours.
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_DEADLINE)
            .max_buf_size(MAX_HEADER_BUFFER.max(limits.max_request_bytes + 512))
            .max_headers(64);
        let connection =
            builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone()));
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            let _ = watched.await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(5)) => {}
    }
    Ok(())
}
