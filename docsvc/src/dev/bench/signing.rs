//! The signing API over HTTPS keep-alive, each call durably logged before it answers, beside
//! raw ring signing and SoftHSM2 through PKCS#11 on the same machine.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use super::{Bench, Options, Report, Series, err, per_second, tempfile_dir};
use crate::Result;
use crate::network::client::{connect, tls_config};

/// Signatures per second through the signing API (and by concurrency with `--sweep`).
pub(super) async fn measure(b: &Bench, opts: &Options, r: &mut Report<'_>) -> Result<()> {
    let (dir, node, addr, root) = (&b.dir, &b.served.node, b.addr, &b.root);
    let app = dir.join("apps").join("e-office");
    let app_tls = tls_config(
        root,
        Some((&app.join("client.pem"), &app.join("client.key"))),
    )?;
    let log_before = node
        .metrics
        .log_entries
        .load(std::sync::atomic::Ordering::Relaxed);
    let (total, errors, rate) =
        sign_rate(addr, &app_tls, opts.connections, opts.sign_requests).await?;
    let logged = node
        .metrics
        .log_entries
        .load(std::sync::atomic::Ordering::Relaxed)
        - log_before;
    if errors > 0 {
        return Err(err(format!(
            "bench sign: {errors} of {total} requests failed; a run with errors does not count"
        )));
    }
    // The references sign with the kind of key the API signed with: the application's,
    // which the handling table gives its clearance.
    let kind = app_key_kind(node).await?;
    let curve = curve_name(kind);
    let ring_rate = ring_signs_per_second(kind)?;
    r.line(&format!(
        "sign API: {total} requests over {} keep-alive HTTPS connections = {rate:.0} signatures/s ({errors} errors, {logged} log entries committed)",
        opts.connections,
    ));
    r.line(&format!(
        "ring ECDSA {curve} sign, one core, same run: {ring_rate:.0} signatures/s"
    ));
    r.compared(
        &format!(
            "signing API, {} mutual-TLS connections, each call logged",
            opts.connections
        ),
        rate,
        "signatures/s",
        &format!("ring {curve} sign, one core"),
        ring_rate,
    );
    if let Some(hsm) = softhsm_signs_per_second(kind) {
        r.line(&format!(
            "SoftHSM2 through PKCS#11 (hsm-shim), same run: {hsm:.0} signatures/s"
        ));
        r.compared(
            "signing API beside SoftHSM2",
            rate,
            "signatures/s",
            &format!("SoftHSM2 {curve} sign through PKCS#11"),
            hsm,
        );
    }
    if opts.sweep {
        let mut points = Vec::new();
        for c in [1usize, 4, 16, 64] {
            let (_, _, rate) = sign_rate(addr, &app_tls, c, (c * 200).max(1000)).await?;
            r.line(&format!(
                "  sign API at concurrency {c}: {rate:.0} signatures/s"
            ));
            #[allow(clippy::cast_precision_loss)]
            points.push((c as f64, rate));
        }
        r.series(Series {
            title: "Signing API throughput by concurrency".into(),
            x_label: "keep-alive HTTPS connections".into(),
            y_label: "signatures/s".into(),
            name: "sign-by-concurrency".into(),
            points,
        });
    }
    Ok(())
}

/// Raw ECDSA P-256 signatures per second with ring on one core, for comparison.
/// The kind of the e-office application's signing key.
async fn app_key_kind(node: &crate::node::Node) -> Result<hsm_shim::KeyKind> {
    let key = crate::officials::applications::get(&node.store, "e-office")
        .await?
        .and_then(|a| a.signing_key)
        .ok_or_else(|| err("bench sign: the e-office application has no signing key"))?;
    Ok(hsm_shim::KeyStore::info(node.keystore.as_ref(), key)?.kind)
}

fn curve_name(kind: hsm_shim::KeyKind) -> &'static str {
    if kind == hsm_shim::KeyKind::EcdsaP384 {
        "P-384"
    } else {
        "P-256"
    }
}

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
    while start.elapsed() < Duration::from_secs(2) {
        key.sign(&rng, b"sandi bench").map_err(err)?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}

/// Signing requests over `connections` keep-alive mutual-TLS connections: (sent, errors,
/// signatures per second).
async fn sign_rate(
    addr: std::net::SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
    connections: usize,
    requests: usize,
) -> Result<(usize, usize, f64)> {
    let body = Bytes::from(
        json!({ "content": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"bench") })
            .to_string(),
    );
    let per_conn = requests.div_ceil(connections);
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(connect(addr, Arc::clone(tls)).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut c in clients {
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = 0usize;
            for _ in 0..per_conn {
                match c
                    .call(
                        "POST",
                        "/api/v1/sign",
                        &[("content-type", "application/json")],
                        body.clone(),
                    )
                    .await
                {
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
    let total = per_conn * connections;
    Ok((total, errors, per_second(total, start.elapsed())))
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
    .find(|p| std::path::Path::new(p).exists())?;
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
pub fn pkcs11_signs_per_second(module: &std::path::Path, kind: hsm_shim::KeyKind) -> Result<f64> {
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
