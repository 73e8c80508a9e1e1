//! Logins per second: officials logging in with NIP and password over HTTPS keep-alive, each
//! login a full argon2id check, a new session row and an access-log entry. The figure an
//! authentication change (lockout counters, MACs over sessions and officials) can move.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::json;
use zeroize::Zeroizing;

use super::{Bench, Options, Report, err, per_second};
use crate::Result;
use crate::network::client::{connect, tls_config};

/// Logins per second over 8 keep-alive connections, cycling through the quickstart's officials.
pub(super) async fn measure(b: &Bench, opts: &Options, r: &mut Report<'_>) -> Result<()> {
    let (setup, addr, root) = (&b.setup, b.addr, &b.root);
    let officials: Vec<_> = setup
        .officials
        .iter()
        .map(|o| (o.nip.clone(), o.password.clone()))
        .collect();
    let login_tls = tls_config(root, None)?;
    let n = opts.logins.max(8);
    login_rate(addr, &login_tls, &officials, 8, n).await?;
    let mut samples = Vec::with_capacity(opts.runs);
    for _ in 0..opts.runs {
        samples.push(login_rate(addr, &login_tls, &officials, 8, n).await?);
    }
    let (logins, min, max) = super::report::spread(&samples);
    r.line(&format!(
        "logins: {n} per run over 8 keep-alive HTTPS connections, median {logins:.1} logins/s ({min:.1} – {max:.1}; argon2id, session, log entry each)",
    ));
    r.figure(
        "official logins (argon2id, session, logged)",
        &samples,
        "logins/s",
    );
    Ok(())
}

/// `logins` successful logins spread over `connections` keep-alive connections, cycling through
/// `officials` (NIP, password) so that no one official's counters serialise the run. Any
/// refused login fails the measurement instead of counting.
pub(super) async fn login_rate(
    addr: std::net::SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    officials: &[(String, Zeroizing<String>)],
    connections: usize,
    logins: usize,
) -> Result<f64> {
    if officials.is_empty() {
        return Err(err("bench login: no officials"));
    }
    let bodies: Vec<Bytes> = officials
        .iter()
        .map(|(nip, password)| {
            Bytes::from(json!({ "nip": nip, "password": password.as_str() }).to_string())
        })
        .collect();
    let per_conn = logins.div_ceil(connections);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(connect(addr, Arc::clone(tls)).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for (i, mut c) in clients.into_iter().enumerate() {
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..per_conn {
                let body = bodies[(i + j) % bodies.len()].clone();
                let (status, _, _) = c
                    .call(
                        "POST",
                        "/api/v1/session",
                        &[("content-type", "application/json")],
                        body,
                    )
                    .await?;
                if status != 200 {
                    return Err(err(format!("bench login answered {status}")));
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await.map_err(err)??;
    }
    Ok(per_second(per_conn * connections, start.elapsed()))
}

/// Logs an official in; returns the session cookie (`name=value`).
pub(super) async fn log_in(
    c: &mut crate::network::client::Client,
    nip: &str,
    password: &str,
) -> Result<String> {
    let login = json!({ "nip": nip, "password": password });
    let (status, headers, _) = c
        .call(
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            Bytes::from(login.to_string()),
        )
        .await?;
    if status != 200 {
        return Err(err(format!("bench login: {status}")));
    }
    Ok(headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| err("no session cookie"))?
        .to_owned())
}
