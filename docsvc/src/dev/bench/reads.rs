//! Read latency: a 100 KiB letter read over HTTPS keep-alive, each read checked, decrypted and
//! logged.

use std::time::Instant;

use bytes::Bytes;

use super::letters::one_part_letter;
use super::login::log_in;
use super::{Bench, Options, Report, err, percentile};
use crate::Result;
use crate::network::client::{connect, tls_config};
use crate::officials::directory;

/// p50 and p99 of reading one letter.
pub(super) async fn measure(
    b: &Bench,
    opts: &Options,
    (budi, siti_nip): (&directory::Official, &str),
    r: &mut Report<'_>,
) -> Result<()> {
    let (node, addr, root, setup) = (&b.served.node, b.addr, &b.root, &b.setup);
    let id = one_part_letter(
        node,
        budi,
        siti_nip,
        (
            "BENCH/2".into(),
            "Bench read".into(),
            policies::Level::Terbatas,
        ),
        ("surat.pdf", "application/pdf", vec![0x25u8; 100 * 1024]),
    )
    .await?;
    let mut c = connect(addr, tls_config(root, None)?).await?;
    let cookie = log_in(&mut c, siti_nip, setup.officials[1].password.as_str()).await?;
    let path = format!("/api/v1/documents/{id}/content");
    let mut times = Vec::with_capacity(opts.reads);
    for _ in 0..opts.reads {
        let t = Instant::now();
        let (status, _, body) = c
            .call("GET", &path, &[("cookie", &cookie)], Bytes::new())
            .await?;
        times.push(t.elapsed());
        if status != 200 || body.len() != 100 * 1024 {
            return Err(err(format!("bench read: {status}, {} bytes", body.len())));
        }
    }
    times.sort();
    r.line(&format!(
        "read of a 100 KiB letter over HTTPS ({} reads, each checked, decrypted and logged): p50 {:.2} ms, p99 {:.2} ms",
        opts.reads,
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3
    ));
    r.figure(
        "read of a 100 KiB letter, p50",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        "ms",
    );
    r.figure(
        "read of a 100 KiB letter, p99",
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        "ms",
    );
    Ok(())
}
