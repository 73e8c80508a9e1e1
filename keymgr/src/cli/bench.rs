//! `keymgr bench-ocsp`: the OCSP responder's throughput over real HTTP, beside the raw signing
//! rate of the responder key. A throw-away CA is made in a temporary directory (custodians with
//! age identities, so no scrypt), certificates issued and some revoked, `keymgr::publish`
//! started on a loopback port, and keep-alive HTTP/1.1 clients POST requests for them.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use der::asn1::OctetString;
use der::{Decode, Encode};
use hsm_shim::KeyStore;
use http_body_util::{BodyExt as _, Full};
use keymgr::ca::{Ca, Home, NodeRequest};
use keymgr::ceremony::{self, CustodianSpec, InitPlan, QuorumSession};
use keymgr::inventory::Inventory;
use keymgr::issue::{self, KeySource, Request};
use keymgr::publish::{self, Options, Publisher};
use keymgr::shares::{Protection, Unlock};
use x509_cert::Certificate;
use x509_ocsp::{CertId, OcspRequest, OcspResponse, OcspResponseStatus, TbsRequest};

#[derive(clap::Args)]
pub(super) struct BenchArgs {
    /// Certificates issued by the Network CA and asked about (a tenth of them revoked).
    #[arg(long, default_value_t = 200)]
    certificates: usize,
    /// Client connections (keep-alive HTTP/1.1), each sending one request after another.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Measured runs after the warm-up; the median is reported, with the min and max.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Write the figures as ocsp.md and ocsp.json into this folder (e.g. bench/results).
    #[arg(long)]
    results: Option<std::path::PathBuf>,
}

/// One figure: median, min and max of the runs.
struct Figure {
    what: String,
    unit: &'static str,
    runs: Vec<f64>,
}

impl Figure {
    fn median(&self) -> f64 {
        let mut v = self.runs.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    }
    fn min(&self) -> f64 {
        self.runs.iter().copied().fold(f64::INFINITY, f64::min)
    }
    fn max(&self) -> f64 {
        self.runs.iter().copied().fold(0.0, f64::max)
    }
}

pub(super) async fn bench_ocsp(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("keymgr-bench-ocsp-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run(args, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(args: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    println!("setting up a CA in {} …", dir.display());
    let (home, inv, store) = throwaway_ca(dir).await?;
    let serials = issue_some(&home, store.as_ref(), &inv, args.certificates.max(10)).await?;
    let publisher = Publisher::prepare(
        home.clone(),
        Arc::clone(&store),
        inv.clone(),
        Options {
            listen: "127.0.0.1:0".parse()?,
            ..Options::default()
        },
        &mut |_| {},
    )
    .await?;
    let running = publish::start(publisher, axum::Router::new(), |_| {}).await?;
    let url = format!("http://{}/ocsp/network-ca", running.local_addr());
    let issuer = Certificate::from_der(&home.cert_der(Ca::Network)?)?;
    let plain: Vec<Bytes> = serials
        .iter()
        .map(|s| request(&issuer, s))
        .collect::<anyhow::Result<_>>()?;
    let addr = running.local_addr();
    let seconds = Duration::from_secs(args.seconds.max(1));
    let connections = args.connections.max(1);

    println!("warm-up (fills the kept answers) …");
    load(addr, &url, &plain, false, connections, seconds).await?;
    let mut kept = Figure {
        what: format!("OCSP over HTTP without a nonce (kept answers), {connections} connections"),
        unit: "responses/s",
        runs: Vec::new(),
    };
    for i in 0..args.runs.max(5) {
        let rate = load(addr, &url, &plain, false, connections, seconds).await?;
        println!("  run {}: {rate:.0} responses/s", i + 1);
        kept.runs.push(rate);
    }
    let mut signed = Figure {
        what: format!("OCSP over HTTP with a nonce (each signed), {connections} connections"),
        unit: "responses/s",
        runs: Vec::new(),
    };
    load(addr, &url, &plain, true, connections, seconds).await?;
    for i in 0..args.runs.max(5) {
        let rate = load(addr, &url, &plain, true, connections, seconds).await?;
        println!("  run {} with a nonce: {rate:.0} responses/s", i + 1);
        signed.runs.push(rate);
    }
    let stats = running.publisher().stats();
    running.stop().await?;

    let key = responder_key(&inv, store.as_ref()).await?;
    let one = signing_rate(&store, key, 1, seconds)?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let all = signing_rate(&store, key, cores, seconds)?;
    let reference =
        format!("responder key (P-256 in hsm-shim) raw signing, one core: {one:.0} signatures/s");
    let reference_all = format!("the same on {cores} cores: {all:.0} signatures/s");
    let machine = machine();
    println!("{machine}");
    for f in [&kept, &signed] {
        println!(
            "{}: {:.0} {} (median of {}; min {:.0}, max {:.0}); {reference}, {reference_all}; ratio to one core {:.2}×",
            f.what,
            f.median(),
            f.unit,
            f.runs.len(),
            f.min(),
            f.max(),
            f.median() / one
        );
    }
    println!(
        "server counted {} requests: {} kept answers, {} signed, {} refused",
        stats.requests, stats.ocsp_cached, stats.ocsp_signed, stats.ocsp_refused
    );
    if stats.ocsp_refused > 0 {
        bail!("the responder refused {} requests", stats.ocsp_refused);
    }
    if let Some(out) = &args.results {
        write_results(out, &machine, &[&kept, &signed], one, all, cores)?;
        println!("results written to {}", out.display());
    }
    Ok(())
}

async fn throwaway_ca(
    dir: &std::path::Path,
) -> anyhow::Result<(Home, Inventory, Arc<dyn KeyStore>)> {
    use age::secrecy::ExposeSecret as _;
    let home = Home::new(dir.join("home"));
    std::fs::create_dir_all(home.dir())?;
    let ids: Vec<age::x25519::Identity> =
        (0..2).map(|_| age::x25519::Identity::generate()).collect();
    let id_file = dir.join("ids.txt");
    let mut text = String::new();
    for i in &ids {
        text.push_str(i.to_string().expose_secret());
        text.push('\n');
    }
    std::fs::write(&id_file, text)?;
    let plan = InitPlan {
        organisation: "Pemerintah Kota Contoh".into(),
        network_domain: Some("sandi.contoh.go.id".into()),
        administrator: "Admin".into(),
        custodians: ids
            .iter()
            .enumerate()
            .map(|(n, i)| CustodianSpec {
                name: format!("Custodian {n}"),
                protection: Protection::Recipient(i.to_public()),
            })
            .collect(),
        witnesses: vec!["Witness".into()],
        threshold: 2,
        shares_out: dir.join("shares"),
        oid_arc: keymgr::oid_arc::DEV_OID_ARC.into(),
        publication_url: None,
    };
    let inv = Inventory::open(&Inventory::default_url(home.dir())).await?;
    let out = ceremony::init(&home, &inv, &plan, &mut |_| {}).await?;
    let mut session = QuorumSession::open(&home)?;
    for f in &out.share_files {
        session.add(f, &Unlock::Identity(id_file.clone()))?;
    }
    Ok((home, inv, Arc::new(session.into_online()?)))
}

/// Node certificates from one CSR (the key does not matter here); every tenth revoked.
async fn issue_some(
    home: &Home,
    store: &dyn KeyStore,
    inv: &Inventory,
    n: usize,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())?
        .serialize_request(&key)?
        .der()
        .to_vec();
    let mut serials = Vec::with_capacity(n);
    for i in 0..n {
        let issued = issue::issue(
            home,
            store,
            inv,
            Request::Node(NodeRequest {
                node_id: format!("node-{i}"),
                agency: "Dinas Kesehatan".into(),
                accreditation: "rahasia".into(),
                dns: vec![format!("node-{i}.sandi.contoh.go.id")],
                ips: vec![],
                days: 90,
            }),
            KeySource::Csr(csr.clone()),
        )
        .await?;
        if i % 10 == 0 {
            keymgr::revoke::revoke(
                home,
                store,
                inv,
                &issued.record.serial,
                "keyCompromise",
                None,
            )
            .await?;
        }
        serials.push(hex::decode(&issued.record.serial)?);
    }
    Ok(serials)
}

/// An OCSP request for one serial (SHA-1 CertID, as openssl sends), without a nonce.
fn request(issuer: &Certificate, serial: &[u8]) -> anyhow::Result<Bytes> {
    let sha1 = |b: &[u8]| {
        OctetString::new(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b).as_ref())
    };
    let id = CertId {
        hash_algorithm: spki::AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_1,
            parameters: Some(der::asn1::Null.into()),
        },
        issuer_name_hash: sha1(&issuer.tbs_certificate.subject.to_der()?)?,
        issuer_key_hash: sha1(
            issuer
                .tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes(),
        )?,
        serial_number: x509_cert::serial_number::SerialNumber::new(serial)?,
    };
    let req = OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![x509_ocsp::Request {
                req_cert: id,
                single_request_extensions: None,
            }],
            request_extensions: None,
            ..TbsRequest::default()
        },
        optional_signature: None,
    };
    Ok(Bytes::from(req.to_der()?))
}

/// Responses per second with `connections` clients for `duration`; every response is checked
/// to be a successful OCSP response.
async fn load(
    addr: std::net::SocketAddr,
    url: &str,
    requests: &[Bytes],
    with_nonce: bool,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let requests: Arc<Vec<Bytes>> = Arc::new(requests.to_vec());
    let nonces = Arc::new(AtomicU64::new(1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (done, count, requests, nonces) = (
            Arc::clone(&done),
            Arc::clone(&count),
            Arc::clone(&requests),
            Arc::clone(&nonces),
        );
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
            tokio::spawn(conn);
            let mut i = c;
            while !done.load(Ordering::Relaxed) {
                let body = if with_nonce {
                    with_fresh_nonce(
                        &requests[i % requests.len()],
                        nonces.fetch_add(1, Ordering::Relaxed),
                    )?
                } else {
                    requests[i % requests.len()].clone()
                };
                i += connections;
                let req = hyper::Request::post(&url)
                    .header("content-type", "application/ocsp-request")
                    .header("host", addr.to_string())
                    .body(Full::new(body))?;
                let resp = sender.send_request(req).await?;
                if resp.status() != hyper::StatusCode::OK {
                    bail!("HTTP {}", resp.status());
                }
                let der = resp.into_body().collect().await?.to_bytes();
                let parsed = OcspResponse::from_der(&der)?;
                if parsed.response_status != OcspResponseStatus::Successful {
                    bail!("OCSP status {:?}", parsed.response_status);
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    tokio::time::sleep(duration).await;
    done.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed);
    for t in tasks {
        t.await??;
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    Ok(n as f64 / elapsed)
}

/// The same request with a nonce added (re-encoded).
fn with_fresh_nonce(plain: &[u8], nonce: u64) -> anyhow::Result<Bytes> {
    let mut req = OcspRequest::from_der(plain)?;
    req.tbs_request.request_extensions = Some(vec![x509_cert::ext::Extension {
        extn_id: const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: OctetString::new(OctetString::new(nonce.to_be_bytes().to_vec())?.to_der()?)?,
    }]);
    Ok(Bytes::from(req.to_der()?))
}

async fn responder_key(
    inv: &Inventory,
    store: &dyn KeyStore,
) -> anyhow::Result<hsm_shim::KeyHandle> {
    let record = inv
        .latest(&keymgr::ocsp::responder_subject(Ca::Network))
        .await?
        .context("no responder certificate")?;
    let id: hsm_shim::KeyId = record.key_id.context("the responder key")?.parse()?;
    Ok(store.info(id)?.handle())
}

/// Signatures per second of the responder key on `threads` threads, over a message the size of
/// an OCSP response's signed data.
fn signing_rate(
    store: &Arc<dyn KeyStore>,
    key: hsm_shim::KeyHandle,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let message = [0x5a_u8; 160];
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while start.elapsed() < duration {
                        if store.sign(&key, &message).is_err() {
                            return None;
                        }
                        n += 1;
                    }
                    Some(n)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .sum::<Option<u64>>()
    })
    .context("signing with the responder key failed")?;
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{} cores, {cpu}; {} ({})",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        keymgr::inventory::timestamp(time::OffsetDateTime::now_utc()),
        env!("CARGO_PKG_VERSION")
    )
}

fn write_results(
    dir: &std::path::Path,
    machine: &str,
    figures: &[&Figure],
    one: f64,
    all: f64,
    cores: usize,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let reference = "responder key P-256 sign through hsm-shim, one core";
    let mut md = format!(
        "# keymgr OCSP responder bench\n\n{machine}\n\n`keymgr bench-ocsp --results bench/results`: a throw-away CA, \
         its responder served by `keymgr::publish` on loopback, keep-alive HTTP/1.1 clients POSTing \
         requests on the same machine; median of the runs after a warm-up (min–max).\n\n\
         | figure | value | reference (same run) | ratio |\n| --- | ---: | --- | ---: |\n"
    );
    let mut json = Vec::new();
    for f in figures {
        writeln!(
            md,
            "| {} | {:.0} {} ({:.0}–{:.0}, {} runs) | {reference}: {one:.0} signatures/s | {:.2}× |",
            f.what,
            f.median(),
            f.unit,
            f.min(),
            f.max(),
            f.runs.len(),
            f.median() / one
        )?;
        json.push(serde_json::json!({
            "what": f.what, "value": f.median(), "unit": f.unit, "min": f.min(), "max": f.max(),
            "runs": f.runs, "reference": reference, "reference_value": one, "ratio": f.median() / one,
        }));
    }
    writeln!(
        md,
        "| responder key raw signing, {cores} cores | {all:.0} signatures/s | — | — |"
    )?;
    json.push(serde_json::json!({
        "what": format!("responder key raw signing, {cores} cores"), "value": all,
        "unit": "signatures/s", "reference": null, "reference_value": null, "ratio": null,
    }));
    std::fs::write(dir.join("ocsp.md"), md)?;
    std::fs::write(
        dir.join("ocsp.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "machine": machine, "figures": json }))?,
    )?;
    Ok(())
}
