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
    // A warm-up run, then the runs: each run's p50 and p99; the figures are their medians.
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for run in 0..=opts.runs {
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
        if run > 0 {
            p50.push(percentile(&times, 0.50).as_secs_f64() * 1e3);
            p99.push(percentile(&times, 0.99).as_secs_f64() * 1e3);
        }
    }
    let (m50, m99) = (super::report::spread(&p50).0, super::report::spread(&p99).0);
    r.line(&format!(
        "read of a 100 KiB letter over HTTPS ({} reads per run, each checked, decrypted and logged): median p50 {m50:.2} ms, median p99 {m99:.2} ms ({} runs)",
        opts.reads, opts.runs
    ));
    r.figure("read of a 100 KiB letter, p50", &p50, "ms");
    r.figure("read of a 100 KiB letter, p99", &p99, "ms");
    Ok(())
}
