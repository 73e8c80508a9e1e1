//! Certificate issuance by keymgr, as the online CA meets it: many requests at once (each an
//! application's CSR, made before the clock starts), every certificate in the inventory and the
//! transparency log before its caller has it (group commit). Beside it, in the same run, rcgen
//! signing alone with the issuing CA's own key on every core: what issuance would be if it
//! recorded nothing.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use keymgr::ca::{ApplicationRequest, Home};
use keymgr::inventory::Inventory;
use keymgr::issue::{KeySource, Request};

use super::machine::Usage;
use super::report::spread;
use super::{Report, err, per_second};
use crate::Result;
use crate::dev::quickstart;
use crate::node::Layout;

/// Requests in flight at once (the online CA's callers: nodes, officials' enrolments).
const CONCURRENCY: usize = 64;
/// Certificates a run issues.
const PER_RUN: usize = 3000;

/// The issuance figure beside its reference, `runs` runs each after a warm-up.
pub(super) async fn measure(layout: &Layout, runs: usize, r: &mut Report<'_>) -> Result<()> {
    let cores = super::machine::cores();
    let (mut issued, mut raw) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    let (mut batches, mut certificates) = (0u64, 0u64);
    // What the counted runs used, and how many certificates those runs issued.
    let (mut used, mut measured) = (Usage::default(), 0u64);
    for run in 0..=runs {
        let (home, quorum) = quickstart::dev_quorum(layout)?;
        let inv = Inventory::open(&Inventory::default_url(home.dir())).await?;
        let online = Arc::new(quorum.into_online()?);
        let csrs = requests(run, PER_RUN)?;
        let reference = signing_alone(&home, &online, cores, &csrs)?;
        let heads = signed_heads(&home)?;
        let before = Usage::now();
        let rate = issue_all(&home, &online, &inv, csrs).await?;
        if run > 0
            && let (Some(before), Some(after)) = (before, Usage::now())
        {
            used += after.since(before);
            measured += u64::try_from(PER_RUN).unwrap_or(u64::MAX);
        }
        if run > 0 {
            issued.push(rate);
            raw.push(reference);
            batches += signed_heads(&home)? - heads;
            certificates += u64::try_from(PER_RUN).unwrap_or(u64::MAX);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let per_batch = certificates as f64 / batches.max(1) as f64;
    r.line(&format!(
        "certificate issuance by keymgr ({CONCURRENCY} at once, application certificates from CSRs, each in the log and the inventory before it is handed out): median {:.0}/s, {per_batch:.1} per signed head; rcgen signing alone with the CA's key on {cores} core(s): {:.0}/s",
        spread(&issued).0,
        spread(&raw).0,
    ));
    r.compared(
        &format!("certificate issuance (keymgr, {CONCURRENCY} CSRs at once, logged)"),
        &issued,
        "certificates/s",
        &format!("rcgen signing alone with the issuing CA's P-384 key, {cores} core(s)"),
        &raw,
    );
    #[allow(clippy::cast_precision_loss)]
    let (per_cert, per_signature) = (
        used.cpu_seconds * 1e6 / measured.max(1) as f64,
        cores as f64 * 1e6 / spread(&raw).0.max(f64::MIN_POSITIVE),
    );
    // Without /proc (every reading failed) the CPU part would read 0 µs: left out.
    let cpu = if measured > 0 {
        format!(
            "; {per_cert:.0} µs of CPU per certificate, against {per_signature:.0} µs a certificate signed alone"
        )
    } else {
        String::new()
    };
    let explained = format!(
        "{per_batch:.1} certificates per log append and signed head (group commit){cpu}; CSRs made before the clock starts"
    );
    r.line(&format!("issuance: {explained}"));
    r.note(&explained);
    Ok(())
}

/// One application CSR (a fresh P-256 key) per certificate, each with its own name: the CA
/// refuses a second active certificate for one name.
fn requests(run: usize, n: usize) -> Result<Vec<(Request, Vec<u8>)>> {
    (0..n)
        .map(|i| {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
            let name = format!("bench-{run}-{i}");
            let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name.as_str());
            let csr = params.serialize_request(&key).map_err(err)?;
            let request = Request::Application(ApplicationRequest {
                name,
                agency: "diskominfo".into(),
                days: 30,
            });
            Ok((request, csr.der().to_vec()))
        })
        .collect()
}

/// Issues every request, `CONCURRENCY` at once: certificates per second.
async fn issue_all(
    home: &Home,
    online: &Arc<hsm_shim::SoftwareKeyStore>,
    inv: &Inventory,
    csrs: Vec<(Request, Vec<u8>)>,
) -> Result<f64> {
    let n = csrs.len();
    let queue = Arc::new(Mutex::new(csrs));
    let start = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (home, online, inv, queue) = (
                home.clone(),
                Arc::clone(online) as Arc<dyn hsm_shim::KeyStore>,
                inv.clone(),
                Arc::clone(&queue),
            );
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                    let Some((request, csr)) = next else {
                        return Ok::<_, keymgr::Error>(());
                    };
                    keymgr::issue::issue(
                        &home,
                        Arc::clone(&online),
                        &inv,
                        request,
                        KeySource::Csr(csr),
                    )
                    .await?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.map_err(err)??;
    }
    Ok(per_second(n, start.elapsed()))
}

/// rcgen signing with the issuing CA's key alone, one thread per core, for about a second:
/// certificates per second.
fn signing_alone(
    home: &Home,
    online: &hsm_shim::SoftwareKeyStore,
    cores: usize,
    csrs: &[(Request, Vec<u8>)],
) -> Result<f64> {
    let Some((request, csr)) = csrs.first() else {
        return Err(err("bench issuance: no request to sign"));
    };
    let start = Instant::now();
    let signed = std::thread::scope(|s| {
        let threads: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0usize;
                    while start.elapsed() < Duration::from_secs(1) {
                        keymgr::issue::sign_unrecorded(home, online, request, csr)?;
                        n += 1;
                    }
                    Ok::<_, keymgr::Error>(n)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| err("a signing thread panicked"))?
                    .map_err(err)
            })
            .sum::<Result<usize>>()
    })?;
    Ok(per_second(signed, start.elapsed()))
}

/// The signed heads in the CA's transparency log (one a batch).
fn signed_heads(home: &Home) -> Result<u64> {
    let summary = keymgr::tlog::Log::open(home)?.verify()?;
    Ok(u64::try_from(summary.heads).unwrap_or(u64::MAX))
}
