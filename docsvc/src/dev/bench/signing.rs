//! The signing API over HTTPS keep-alive, each call durably logged before it answers, beside
//! raw ring signing and SoftHSM2 through PKCS#11 on the same machine. The client is a separate
//! process (`docsvc bench --sign-client`); with two cores or more, the server is pinned to
//! core 0 and the client to core 1, so the ratio to ring's one-core rate compares like with
//! like.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::machine::{self, SyncCount};
use super::{Bench, Options, Report, Series, err, per_second, tempfile_dir};
use crate::Result;
use crate::network::client::{connect, tls_config};

/// The bench's signing client: this binary, run as `docsvc bench --sign-client`.
#[derive(Clone)]
struct Client {
    addr: std::net::SocketAddr,
    root: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// The core it runs on, when pinned.
    core: Option<&'static str>,
    /// Call `GET /healthz` instead of signing: what the node's TLS and HTTP stack alone
    /// serves over the same connections (the floor under the signing figure).
    floor: bool,
}

impl Client {
    /// One run of `requests` signing calls over `connections` connections, in a child
    /// process: signatures per second; any failed call fails the run.
    async fn run(&self, connections: usize, requests: usize) -> Result<f64> {
        let exe = std::env::current_exe().map_err(err)?;
        let mut cmd = match self.core {
            Some(core) => {
                let mut c = std::process::Command::new("taskset");
                c.args(["-c", core]).arg(exe);
                c
            }
            None => std::process::Command::new(exe),
        };
        cmd.arg("bench")
            .arg("--sign-client")
            .arg(self.addr.to_string())
            .arg("--client-root")
            .arg(&self.root)
            .arg("--client-cert")
            .arg(&self.cert)
            .arg("--client-key")
            .arg(&self.key)
            .args(["--connections", &connections.to_string()])
            .args(["--sign-requests", &requests.to_string()]);
        if self.floor {
            cmd.arg("--sign-floor");
        }
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(err)?
            .map_err(err)?;
        if !out.status.success() {
            return Err(err(format!(
                "bench sign client failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(err)?;
        let (sent, errors, rate) = (v["sent"].as_u64(), v["errors"].as_u64(), v["rate"].as_f64());
        match (sent, errors, rate) {
            (Some(_), Some(0), Some(rate)) => Ok(rate),
            (Some(sent), Some(errors), _) => Err(err(format!(
                "bench sign: {errors} of {sent} requests failed; a run with errors does not count"
            ))),
            _ => Err(err(format!("bench sign client said {v}"))),
        }
    }
}

/// Signatures per second through the signing API for the quickstart's `e-office` (P-384) and
/// for the bench's P-256 application, each with its server pinned to one core beside ring on
/// that core; the P-256 one also with the server on every core (the 64-connection goal), and by
/// concurrency with `--sweep`.
pub(super) async fn measure(b: &Bench, opts: &Options, r: &mut Report<'_>) -> Result<()> {
    let cores = machine::cores();
    // Taken before pinning: once pinned, this process sees one core.
    let all_cores = machine::all_cores();
    let client = |app: &str, core: Option<&'static str>| Client {
        addr: b.addr,
        root: b.root.clone(),
        cert: b.dir.join("apps").join(app).join("client.pem"),
        key: b.dir.join("apps").join(app).join("client.key"),
        core,
        floor: false,
    };
    for (app, sweep) in [("e-office", false), (super::P256_APPLICATION, opts.sweep)] {
        // Server on core 0, client on core 1: pinned only when the machine has both and taskset
        // could pin this process.
        let pinned = cores >= 2 && machine::pin_self("0");
        // A pin that failed may have moved some threads already: an unpinned figure runs with
        // every thread free again.
        if cores >= 2 && !pinned && !machine::pin_self(&all_cores) {
            return Err(err(
                "bench sign: could not pin this process to core 0, nor release it",
            ));
        }
        let placement = if pinned {
            "server pinned to core 0, client (its own process) to core 1".to_owned()
        } else {
            format!(
                "server and client (its own process) share the machine's {cores} core(s), unpinned"
            )
        };
        let c = client(app, pinned.then_some("1"));
        let result = pinned_figures(b, opts, &c, (app, &placement), sweep, r).await;
        if pinned && !machine::pin_self(&all_cores) {
            return Err(err(
                "bench sign: could not release this process from core 0",
            ));
        }
        result?;
    }
    // The throughput goal: the P-256 application over 64 connections, the server free on
    // every core (the client, its own process, shares them).
    let c = client(super::P256_APPLICATION, None);
    let m = measure_runs(b, opts, &c).await?;
    r.line(&format!(
        "sign API, P-256 key, server on all {cores} cores (client sharing them): median {:.0} signatures/s",
        super::report::spread(&m.samples).0
    ));
    r.figure(
        &format!(
            "signing API, P-256 key, {} mutual-TLS connections, server unpinned",
            opts.connections
        ),
        &m.samples,
        "signatures/s",
    );
    r.note(&format!(
        "server and client (its own process) share the machine's {cores} core(s)"
    ));
    r.note(&m.explained());
    Ok(())
}

/// The pinned figure of one application, beside ring (and SoftHSM2 for `e-office`).
async fn pinned_figures(
    b: &Bench,
    opts: &Options,
    client: &Client,
    (app, placement): (&str, &str),
    sweep: bool,
    r: &mut Report<'_>,
) -> Result<()> {
    let m = measure_runs(b, opts, client).await?;
    let kind = app_key_kind(&b.served.node, app).await?;
    // ring's one-core reference runs where the server ran (core 0, when pinned).
    let ring = repeated_sync(opts.runs, || ring_signs_per_second(kind))?;
    // The plot's points run pinned too, so they compare with the figure.
    if sweep {
        self::sweep(opts, client, r).await?;
    }
    let curve = curve_name(kind);
    let (rate, ..) = super::report::spread(&m.samples);
    let (ring_rate, ..) = super::report::spread(&ring);
    r.line(&format!(
        "sign API ({app}, {curve} key): median {rate:.0} signatures/s over {} keep-alive mutual-TLS connections ({} runs of {} requests, no errors; {placement})",
        opts.connections, opts.runs, opts.sign_requests,
    ));
    r.line(&format!(
        "ring ECDSA {curve} sign, one core, same run: median {ring_rate:.0} signatures/s"
    ));
    r.compared(
        &format!(
            "signing API, {curve} key, {} mutual-TLS connections, each call logged",
            opts.connections
        ),
        &m.samples,
        "signatures/s",
        &format!("ring {curve} sign, one core"),
        &ring,
    );
    r.note(placement);
    r.note(&m.explained());
    if app != "e-office" {
        return stack_floor(opts, client, (curve, &ring), r).await;
    }
    if let Some(hsm) = softhsm_signs_per_second(kind) {
        r.line(&format!(
            "SoftHSM2 through PKCS#11 (hsm-shim), same run: {hsm:.0} signatures/s"
        ));
        r.compared(
            &format!("signing API beside SoftHSM2 ({curve})"),
            &m.samples,
            "signatures/s",
            &format!("SoftHSM2 {curve} sign through PKCS#11"),
            &[hsm],
        );
    }
    Ok(())
}

/// What the node's TLS and HTTP stack alone serves on the same core over the same
/// connections (`GET /healthz`: no signature, policy or log), and the signing rate that floor
/// leaves even if everything but ring's signature cost nothing: `1 / (1/floor + 1/ring)`.
async fn stack_floor(
    opts: &Options,
    client: &Client,
    (curve, ring): (&str, &[f64]),
    r: &mut Report<'_>,
) -> Result<()> {
    let floor = Client {
        floor: true,
        ..client.clone()
    };
    floor
        .run(
            opts.connections,
            (opts.sign_requests / 4).max(opts.connections),
        )
        .await?;
    let mut samples = Vec::with_capacity(opts.runs);
    for _ in 0..opts.runs {
        samples.push(floor.run(opts.connections, opts.sign_requests).await?);
    }
    let (stack, ..) = super::report::spread(&samples);
    let (ring_rate, ..) = super::report::spread(ring);
    let ceiling = 1.0 / (1.0 / stack + 1.0 / ring_rate);
    r.line(&format!(
        "HTTPS stack alone (GET /healthz), same connections and core: median {stack:.0} requests/s; signing ceiling {ceiling:.0}/s ({:.2}x ring)",
        ceiling / ring_rate
    ));
    r.compared(
        &format!(
            "the node's HTTPS stack alone (GET /healthz: mutual TLS, HTTP, no signature, policy or log), {} connections",
            opts.connections
        ),
        &samples,
        "requests/s",
        &format!("ring {curve} sign, one core"),
        ring,
    );
    r.note("same placement as the signing figure above");
    r.note(&format!(
        "ceiling for the signing API on this core if the policy, the CMS and the log cost nothing: 1 / (1/{stack:.0} + 1/{ring_rate:.0}) = {ceiling:.0} signatures/s, {:.2}x ring",
        ceiling / ring_rate
    ));
    Ok(())
}

/// The runs, and what explains them.
struct Measured {
    samples: Vec<f64>,
    requests: u64,
    entries: u64,
    heads: u64,
    syncs: Option<u64>,
    peak_rss_mib: Option<f64>,
}

impl Measured {
    #[allow(clippy::cast_precision_loss)]
    fn explained(&self) -> String {
        let mut s = format!(
            "{:.1} log entries per signed head (group commit)",
            self.entries as f64 / self.heads.max(1) as f64
        );
        match self.syncs {
            Some(n) => {
                let _ = write!(
                    s,
                    ", {:.3} fsyncs per request (perf stat)",
                    n as f64 / self.requests.max(1) as f64
                );
            }
            None => s.push_str(", fsyncs not counted (perf not available)"),
        }
        if let Some(mib) = self.peak_rss_mib {
            let _ = write!(s, ", server peak RSS {mib:.0} MiB");
        }
        s
    }
}

async fn measure_runs(b: &Bench, opts: &Options, client: &Client) -> Result<Measured> {
    let node = &b.served.node;
    machine::reset_peak_rss();
    // Warm-up: connections, caches, the database's pages; not counted.
    client
        .run(
            opts.connections,
            (opts.sign_requests / 4).max(opts.connections),
        )
        .await?;
    let entries = node.metrics.log_entries.get();
    let heads = node.audit.heads_committed();
    let syncs = SyncCount::start();
    let mut samples = Vec::with_capacity(opts.runs);
    for _ in 0..opts.runs {
        samples.push(client.run(opts.connections, opts.sign_requests).await?);
    }
    let per_conn = opts.sign_requests.div_ceil(opts.connections);
    Ok(Measured {
        samples,
        requests: u64::try_from(per_conn * opts.connections * opts.runs).unwrap_or(u64::MAX),
        entries: node.metrics.log_entries.get() - entries,
        heads: node.audit.heads_committed() - heads,
        syncs: syncs.and_then(SyncCount::stop),
        peak_rss_mib: machine::peak_rss_mib("self"),
    })
}

/// Throughput by concurrency, for the plot: the median of the runs at each point.
async fn sweep(opts: &Options, client: &Client, r: &mut Report<'_>) -> Result<()> {
    let mut points = Vec::new();
    for c in [1usize, 4, 16, 64, 256] {
        let requests = (c * 200).clamp(2000, 20_000);
        client.run(c, requests / 4).await?;
        let mut runs = Vec::with_capacity(opts.runs);
        for _ in 0..opts.runs {
            runs.push(client.run(c, requests).await?);
        }
        let (rate, min, max) = super::report::spread(&runs);
        r.line(&format!(
            "  sign API at concurrency {c}: median {rate:.0} signatures/s ({min:.0} – {max:.0})"
        ));
        #[allow(clippy::cast_precision_loss)]
        points.push((c as f64, rate));
    }
    r.series(Series {
        title: "Signing API throughput by concurrency".into(),
        x_label: "keep-alive mutual-TLS connections".into(),
        y_label: "signatures/s (median)".into(),
        name: "sign-by-concurrency".into(),
        points,
    });
    Ok(())
}

/// A warm-up run, then `runs` runs of `f`.
pub(super) fn repeated_sync(runs: usize, mut f: impl FnMut() -> Result<f64>) -> Result<Vec<f64>> {
    f()?;
    (0..runs).map(|_| f()).collect()
}

/// The kind of an application's signing key.
async fn app_key_kind(node: &crate::node::Node, app: &str) -> Result<hsm_shim::KeyKind> {
    let key = crate::officials::applications::get(&node.store, app)
        .await?
        .and_then(|a| a.signing_key)
        .ok_or_else(|| {
            err(format!(
                "bench sign: the {app} application has no signing key"
            ))
        })?;
    Ok(hsm_shim::KeyStore::info(node.keystore.as_ref(), key)?.kind)
}

fn curve_name(kind: hsm_shim::KeyKind) -> &'static str {
    if kind == hsm_shim::KeyKind::EcdsaP384 {
        "P-384"
    } else {
        "P-256"
    }
}

/// Raw ECDSA signatures per second with ring on the core this thread runs on, for a key of
/// `kind`.
fn ring_signs_per_second(kind: hsm_shim::KeyKind) -> Result<f64> {
    use ring::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    };
    let alg = if kind == hsm_shim::KeyKind::EcdsaP384 {
        &ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &ECDSA_P256_SHA256_ASN1_SIGNING
    };
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(err)?;
    let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(err)?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_millis(700) {
        key.sign(&rng, b"sandi bench").map_err(err)?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}

/// The child side of [`Client::run`]: `requests` signing calls over `connections` keep-alive
/// mutual-TLS connections (all connected before the clock starts), as one JSON line.
pub async fn sign_client(
    addr: std::net::SocketAddr,
    (root, cert, key): (&Path, &Path, &Path),
    connections: usize,
    requests: usize,
    floor: bool,
) -> Result<String> {
    let tls = tls_config(root, Some((cert, key)))?;
    let body = Bytes::from(
        json!({ "content": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"bench") })
            .to_string(),
    );
    let connections = connections.max(1);
    let per_conn = requests.div_ceil(connections);
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(connect(addr, Arc::clone(&tls)).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for mut c in clients {
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = 0usize;
            for _ in 0..per_conn {
                let call = if floor {
                    c.call("GET", "/healthz", &[], Bytes::new()).await
                } else {
                    c.call(
                        "POST",
                        "/api/v1/sign",
                        &[("content-type", "application/json")],
                        body.clone(),
                    )
                    .await
                };
                match call {
                    Ok((200, _, _)) => {}
                    _ => errors += 1,
                }
            }
            errors
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await.map_err(err)?;
    }
    let sent = per_conn * connections;
    Ok(json!({
        "sent": sent,
        "errors": errors,
        "rate": per_second(sent, start.elapsed()),
    })
    .to_string())
}

/// Signatures per second with a key of `kind` by SoftHSM2 through PKCS#11 (hsm-shim's
/// backend), on a fresh token, if SoftHSM2 is installed. Measured in a child process (`docsvc
/// bench --pkcs11-sign MODULE --pkcs11-kind KIND`), since SoftHSM2 takes its configuration
/// from the environment.
fn softhsm_signs_per_second(kind: hsm_shim::KeyKind) -> Option<f64> {
    let module = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())?;
    let dir = tempfile_dir().ok()?;
    let conf = dir.join("softhsm2.conf");
    std::fs::create_dir_all(dir.join("tokens")).ok()?;
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\n",
            dir.join("tokens").display()
        ),
    )
    .ok()?;
    let init = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            "1234",
            "--so-pin",
            "5678",
        ])
        .output()
        .ok()?;
    let out = init
        .status
        .success()
        .then(|| {
            std::process::Command::new(std::env::current_exe().ok()?)
                .env("SOFTHSM2_CONF", &conf)
                .args([
                    "bench",
                    "--pkcs11-sign",
                    module,
                    "--pkcs11-kind",
                    kind.as_str(),
                ])
                .output()
                .ok()
        })
        .flatten();
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out?.stdout).trim().parse().ok()
}

/// Signatures per second with a key of `kind` through hsm-shim's PKCS#11 store on the token
/// labelled `bench` (user PIN 1234) of `module`: the child side of
/// [`softhsm_signs_per_second`].
pub fn pkcs11_signs_per_second(module: &Path, kind: hsm_shim::KeyKind) -> Result<f64> {
    use hsm_shim::KeyStore as _;
    let store = hsm_shim::Pkcs11KeyStore::open(&hsm_shim::Pkcs11Config {
        module: module.to_path_buf(),
        token_label: "bench".into(),
        pin: zeroize::Zeroizing::new("1234".into()),
    })?;
    let handle = store.generate(kind, "bench")?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(2) {
        store.sign(&handle, b"sandi bench")?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}
