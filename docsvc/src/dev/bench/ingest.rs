//! Document ingest: a letter streamed through encryption, hashing and the durable store, beside
//! the age crate in memory and the age CLI file to file.

use std::time::Instant;

use bytes::Bytes;

use super::report::spread;
use super::signing::repeated_sync;
use super::{Bench, Options, Report, Series, err};
use crate::Result;
use crate::node::Node;
use crate::officials::directory;

/// MB/s of ingest (and by letter size with `--sweep`).
pub(super) async fn measure(
    b: &Bench,
    opts: &Options,
    (budi, siti_nip): (&directory::Official, &str),
    r: &mut Report<'_>,
) -> Result<()> {
    let (dir, node) = (&b.dir, &b.served.node);
    let size = opts.ingest_mib << 20;
    // A warm-up run, then the runs; the references likewise, in the same bench run.
    let mut docsvc = Vec::with_capacity(opts.runs);
    super::machine::reset_peak_rss();
    for run in 0..=opts.runs {
        let rate = ingest_rate(node, budi, siti_nip, size).await?;
        if run > 0 {
            docsvc.push(rate);
        }
    }
    let peak = super::machine::peak_rss_mib("self");
    let crates = repeated_sync(opts.runs, || age_crate_rate(size))?;
    let disk = repeated_sync(opts.runs, || {
        super::machine::durable_write_rate(node.layout.dir(), size)
    })?;
    let (docsvc_rate, crate_rate, disk_rate) =
        (spread(&docsvc).0, spread(&crates).0, spread(&disk).0);
    r.line(&format!(
        "ingest of {} MiB: docsvc median {docsvc_rate:.0} MB/s (encrypt + hash + store, durable), age crate in memory {crate_rate:.0} MB/s, the disk's durable write {disk_rate:.0} MB/s: docsvc at {:.0}% of the lower",
        opts.ingest_mib,
        100.0 * docsvc_rate / crate_rate.min(disk_rate)
    ));
    let what = format!(
        "ingest of {} MiB (encrypted, hashed, stored durably)",
        opts.ingest_mib
    );
    r.compared(&what, &docsvc, "MB/s", "age crate, in memory", &crates);
    if let Some(mib) = peak {
        r.note(&format!("peak RSS of the bench process {mib:.0} MiB"));
    }
    r.compared(
        &format!("ingest of {} MiB beside the disk", opts.ingest_mib),
        &docsvc,
        "MB/s",
        "sequential write + fdatasync in the data directory's filesystem",
        &disk,
    );
    if age_cli_rate(dir, size).is_some() {
        let cli = repeated_sync(opts.runs, || {
            age_cli_rate(dir, size).ok_or_else(|| err("the age CLI failed"))
        })?;
        r.line(&format!(
            "age CLI on the same {} MiB file: median {:.0} MB/s",
            opts.ingest_mib,
            spread(&cli).0
        ));
        r.compared(
            &format!("ingest of {} MiB beside the age CLI", opts.ingest_mib),
            &docsvc,
            "MB/s",
            "age CLI, file to file",
            &cli,
        );
    } else {
        r.line("age CLI not installed: skipped its comparison");
    }
    if opts.sweep {
        let mut points = Vec::new();
        for kib in [64usize, 1024, 8 * 1024, 64 * 1024] {
            ingest_rate(node, budi, siti_nip, kib << 10).await?;
            let mut runs = Vec::with_capacity(opts.runs);
            for _ in 0..opts.runs {
                runs.push(ingest_rate(node, budi, siti_nip, kib << 10).await?);
            }
            let rate = spread(&runs).0;
            r.line(&format!("  ingest of {kib} KiB: median {rate:.0} MB/s"));
            #[allow(clippy::cast_precision_loss)]
            points.push((kib as f64 / 1024.0, rate));
        }
        r.series(Series {
            title: "Ingest throughput by letter size".into(),
            x_label: "letter size (MiB)".into(),
            y_label: "MB/s".into(),
            name: "ingest-by-size".into(),
            points,
        });
    }
    Ok(())
}

/// MB/s of one letter of `bytes` streamed through encryption, hashing and the durable store.
async fn ingest_rate(
    node: &Node,
    budi: &directory::Official,
    to: &str,
    bytes: usize,
) -> Result<f64> {
    let block = Bytes::from(vec![0x5au8; (1 << 20).min(bytes)]);
    let blocks = bytes / block.len();
    let start = Instant::now();
    let mut ingest = super::letters::begin(
        node,
        budi,
        to,
        (
            format!("BENCH/INGEST/{bytes}"),
            "Bench".into(),
            policies::Level::Terbatas,
        ),
    )
    .await?;
    let stream = futures_util::stream::iter(
        (0..blocks).map(move |_| Ok::<Bytes, std::convert::Infallible>(block.clone())),
    );
    ingest
        .add_part("bench.bin", "application/octet-stream", stream)
        .await?;
    ingest.finish().await?;
    #[allow(clippy::cast_precision_loss)]
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// MB/s of the age crate encrypting `bytes` in memory to three recipients.
fn age_crate_rate(bytes: usize) -> Result<f64> {
    use std::io::Write;
    let recipients: Vec<age::x25519::Recipient> = (0..3)
        .map(|_| age::x25519::Identity::generate().to_public())
        .collect();
    let block = vec![0x5au8; (1 << 20).min(bytes)];
    let start = Instant::now();
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
        .map_err(err)?;
    let mut w = enc.wrap_output(std::io::sink()).map_err(err)?;
    for _ in 0..bytes / block.len() {
        w.write_all(&block).map_err(err)?;
    }
    w.finish().map_err(err)?;
    #[allow(clippy::cast_precision_loss)]
    Ok(bytes as f64 / 1e6 / start.elapsed().as_secs_f64())
}

/// MB/s of the age CLI encrypting a file of `bytes` to three recipients, if it is installed.
fn age_cli_rate(dir: &std::path::Path, bytes: usize) -> Option<f64> {
    let file = dir.join("bench-input.bin");
    std::fs::write(&file, vec![0x5au8; bytes]).ok()?;
    let mut cmd = std::process::Command::new("age");
    for _ in 0..3 {
        cmd.arg("-r")
            .arg(age::x25519::Identity::generate().to_public().to_string());
    }
    cmd.arg("-o").arg(dir.join("bench-output.age")).arg(&file);
    let start = Instant::now();
    let ok = cmd.status().is_ok_and(|s| s.success());
    let elapsed = start.elapsed();
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(dir.join("bench-output.age"));
    #[allow(clippy::cast_precision_loss)]
    ok.then(|| bytes as f64 / 1e6 / elapsed.as_secs_f64())
}
