//! The serve loop: TLS, then HTTP/1.1 or HTTP/2 as ALPN chose, under the limits of
//! `[limits]` in `node.toml` against slow or many clients: connections in all and per client
//! address, the TLS handshake, request headers (and idle HTTP/1.1 keep-alive), any silence on
//! a connection, a request body's minimum rate, and HTTP/2 streams per connection.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

use crate::Result;
use crate::http::actor::Conn;
use crate::metrics::Metrics;
use crate::node::{Limits, Node};

/// Serves `app` over TLS on `listener` until `shutdown` resolves, under `node`'s limits; open
/// connections are allowed to finish their requests.
pub async fn serve(
    listener: TcpListener,
    tls: rustls::ServerConfig,
    app: Router,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let limits = Arc::new(node.config.limits.clone());
    let gate = Arc::new(Gate::new(&limits));
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors (or another passing error): waiting a moment
                    // lets connections close instead of spinning on accept.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(ticket) = gate.enter(peer.ip()) else {
            // Closed at once: the client learns now, and holds nothing of ours.
            Metrics::inc(&node.metrics.connections_refused);
            tracing::debug!(%peer, "connection refused: over the connection limits");
            drop(tcp);
            continue;
        };
        // Small responses go out at once instead of waiting on the peer's delayed ACK.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        let limits = Arc::clone(&limits);
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let _ticket = ticket;
            let tcp = Quiet::new(tcp, Duration::from_secs(limits.idle_secs.max(1)));
            let handshake = Duration::from_secs(limits.tls_handshake_secs.max(1));
            let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    if e.kind() == io::ErrorKind::TimedOut {
                        Metrics::inc(&node.metrics.connections_timed_out);
                    }
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    Metrics::inc(&node.metrics.connections_timed_out);
                    return;
                }
            };
            let session = tls.get_ref().1;
            let client_cert = session
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec());
            // The protocol ALPN agreed on: no bytes are read to guess it, so a client that
            // sends nothing is under the header timeout from the start.
            let h2 = session.alpn_protocol() == Some(b"h2".as_slice());
            let conn = Conn { peer, client_cert };
            let pace = Pace::of(&limits);
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(conn.clone());
                    let mut app = app.clone();
                    async move {
                        use tower::Service;
                        app.call(req.map(|b| Body::new(Paced::new(b, pace)))).await
                    }
                },
            );
            let io = TokioIo::new(tls);
            let result = if h2 {
                let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                b.timer(TokioTimer::new())
                    .max_concurrent_streams(limits.h2_max_streams)
                    .max_header_list_size(64 * 1024);
                watcher.watch(b.serve_connection(io, service)).await
            } else {
                let mut b = hyper::server::conn::http1::Builder::new();
                b.timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(limits.header_read_secs.max(1)))
                    .max_headers(100);
                watcher.watch(b.serve_connection(io, service)).await
            };
            if let Err(e) = result {
                if is_timeout(&e) {
                    Metrics::inc(&node.metrics.connections_timed_out);
                }
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s; stopping anyway");
        }
    }
    Ok(())
}

/// Serves `app` over plain HTTP/1.1 on `listener` (the publication listener: public, signed
/// data only) under the same connection, header and idle limits as the TLS listener, with a
/// gate of its own so that it never takes slots from officials.
pub async fn serve_plain(listener: TcpListener, app: Router, node: Arc<Node>) {
    let limits = Arc::new(node.config.limits.clone());
    let gate = Arc::new(Gate::new(&limits));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(ticket) = gate.enter(peer.ip()) else {
            Metrics::inc(&node.metrics.connections_refused);
            drop(tcp);
            continue;
        };
        let app = app.clone();
        let limits = Arc::clone(&limits);
        tokio::spawn(async move {
            let _ticket = ticket;
            let tcp = Quiet::new(tcp, Duration::from_secs(limits.idle_secs.max(1)));
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut app = app.clone();
                    async move {
                        use tower::Service;
                        app.call(req.map(Body::new)).await
                    }
                });
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(limits.header_read_secs.max(1)))
                .max_headers(100);
            if let Err(e) = b.serve_connection(TokioIo::new(tcp), service).await {
                tracing::debug!(%peer, "publication connection: {e}");
            }
        });
    }
}

fn is_timeout(e: &hyper::Error) -> bool {
    if e.is_timeout() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Connections open, in all and per client address.
struct Gate {
    max: usize,
    per_address: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

/// One admitted connection; its slot is given back when it is dropped.
struct Ticket {
    gate: Arc<Gate>,
    key: IpAddr,
}

impl Gate {
    fn new(limits: &Limits) -> Self {
        Gate {
            max: limits.max_connections.max(1),
            per_address: limits.max_connections_per_address.max(1),
            open: Mutex::new((0, HashMap::new())),
        }
    }

    /// A slot for a connection from `ip`, unless either limit is reached. The table holds
    /// only addresses with open connections, so it is never larger than `max`.
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<Ticket> {
        let key = address_key(ip);
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_address) = &mut *open;
        let mine = by_address.get(&key).copied().unwrap_or(0);
        if *total >= self.max || mine >= self.per_address {
            return None;
        }
        *total += 1;
        by_address.insert(key, mine + 1);
        Some(Ticket {
            gate: Arc::clone(self),
            key,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self
            .gate
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, by_address) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(n) = by_address.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_address.remove(&self.key);
            }
        }
    }
}

/// The address a connection counts against: an IPv4 address, or the /64 of an IPv6 one (a
/// client is handed a whole /64, and would otherwise have 2^64 addresses to spread over).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(
            || IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
            IpAddr::V4,
        ),
    }
}

/// A connection closed after `idle` without a byte read or written, whatever the protocol
/// or its state: a client that goes silent (or stops reading our answer) holds nothing long.
struct Quiet<T> {
    io: T,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> Quiet<T> {
    fn new(io: T, idle: Duration) -> Self {
        let now = Instant::now();
        Quiet {
            io,
            idle,
            last: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// `Ready(err)` once the connection has been silent for `idle`. The timer is moved on
    /// lazily, only when it fires, so activity costs no timer work.
    fn expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.last + self.idle;
            if Instant::now() >= deadline {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was silent too long",
                ));
            }
            self.timer.as_mut().reset(deadline);
        }
    }
}

impl<T> Quiet<T> {
    /// A write's outcome: bytes written count as activity; a write that cannot go on is
    /// under the silence timer too (a client that stops reading our answer).
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.expired(cx).map(Err),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Quiet<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.expired(cx).map(Err),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Quiet<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, data);
        self.wrote(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => self.expired(cx).map(Err),
            Poll::Ready(done) => Poll::Ready(done),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_flush(cx) {
            Poll::Pending => self.expired(cx).map(Err),
            Poll::Ready(_) => Pin::new(&mut self.io).poll_shutdown(cx),
        }
    }
}

/// How fast a request body must arrive.
#[derive(Clone, Copy, Debug)]
struct Pace {
    min_bytes_per_sec: u64,
    grace: Duration,
}

impl Pace {
    fn of(limits: &Limits) -> Self {
        Pace {
            min_bytes_per_sec: limits.body_min_bytes_per_sec.max(1),
            grace: Duration::from_secs(limits.body_grace_secs),
        }
    }
}

/// The error of a body that arrived too slowly (answered 408).
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct TooSlow;

/// A request body that fails once it falls behind its [`Pace`]: after the grace period, at
/// least `min_bytes_per_sec` for every second since the request began.
struct Paced {
    inner: hyper::body::Incoming,
    pace: Pace,
    started: Instant,
    read: u64,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Paced {
    fn new(inner: hyper::body::Incoming, pace: Pace) -> Self {
        Paced {
            inner,
            pace,
            started: Instant::now(),
            read: 0,
            timer: None,
        }
    }

    /// When the body falls behind unless more arrives.
    fn deadline(&self) -> Instant {
        // Whole seconds owed, then the rest in milliseconds: integer arithmetic throughout.
        let rate = self.pace.min_bytes_per_sec;
        let owed = Duration::from_secs(self.read / rate)
            + Duration::from_millis((self.read % rate) * 1000 / rate);
        self.started + self.pace.grace + owed
    }
}

impl hyper::body::Body for Paced {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<hyper::body::Frame<bytes::Bytes>, axum::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(Ok(f)) = &frame {
                    let n = f.data_ref().map_or(0, |d| d.len() as u64);
                    self.read = self.read.saturating_add(n);
                }
                Poll::Ready(frame.map(|f| f.map_err(axum::Error::new)))
            }
            Poll::Pending => {
                let deadline = self.deadline();
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(TooSlow)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a body error is [`TooSlow`].
pub fn is_too_slow(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<TooSlow>() {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_in_all_and_per_address() {
        let limits = Limits {
            max_connections: 5,
            max_connections_per_address: 2,
            ..Limits::default()
        };
        let gate = Arc::new(Gate::new(&limits));
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let a1 = gate.enter(a).expect("first from a");
        let _a2 = gate.enter(a).expect("second from a");
        assert!(gate.enter(a).is_none(), "a third from one address");
        drop(a1);
        let _a3 = gate.enter(a).expect("a slot given back is taken again");
        let _b1 = gate.enter(b).expect("b");
        let _b2 = gate.enter(b).expect("b");
        let c: IpAddr = "10.0.0.3".parse().expect("ip");
        let _c1 = gate.enter(c).expect("the fifth in all");
        assert!(
            gate.enter("10.0.0.4".parse().expect("ip")).is_none(),
            "a sixth in all"
        );
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let next: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(one), address_key(other));
        assert_ne!(address_key(one), address_key(next));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(
            address_key(mapped),
            "10.0.0.1".parse::<IpAddr>().expect("ip")
        );
    }
}
