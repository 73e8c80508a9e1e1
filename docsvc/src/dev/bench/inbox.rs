//! The web UI's inbox page and the API's list beside it, for an official with many letters.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::letters::one_part_letter;
use super::login::log_in;
use super::network::serve_node;
use super::{Report, err, per_second, percentile, tempfile_dir};
use crate::Result;
use crate::dev::quickstart;
use crate::network::client::{connect, tls_config};
use crate::node::Node;
use crate::officials::directory;

/// The web UI's inbox page (and the API's list beside it) for an official with `letters`
/// letters: p50 and p99 over HTTPS keep-alive, each request checking the session and asking
/// the policy about every listed letter.
pub(super) async fn measure(letters: usize, runs: usize, r: &mut Report<'_>) -> Result<()> {
    let dir = tempfile_dir()?;
    let setup = quickstart::setup(&dir, "127.0.0.1:0", None, &mut |_| {}).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let served = serve_node(&dir, listener).await?;
    let node = Arc::clone(&served.node);
    let budi = directory::get(&node.store, &setup.officials[0].nip)
        .await?
        .ok_or_else(|| err("no Budi"))?;
    let siti = setup.officials[1].nip.clone();
    let start = Instant::now();
    let made: Vec<Result<()>> =
        futures_util::StreamExt::collect(futures_util::StreamExt::buffer_unordered(
            futures_util::stream::iter((0..letters).map(|i| {
                let (node, budi, siti) = (Arc::clone(&node), budi.clone(), siti.clone());
                async move { small_letter(&node, budi, siti, i).await }
            })),
            8,
        ))
        .await;
    made.into_iter().collect::<Result<Vec<()>>>()?;
    r.line(&format!(
        "inbox: {letters} letters written in {:.1} s ({:.0}/s)",
        start.elapsed().as_secs_f64(),
        per_second(letters, start.elapsed())
    ));
    let root = node.layout.ca("root.pem");
    let mut c = connect(addr, tls_config(&root, None)?).await?;
    let cookie = log_in(&mut c, &siti, setup.officials[1].password.as_str()).await?;
    for (what, path) in [
        ("web UI inbox page (latest 100 of them)", "/ui/inbox"),
        (
            "web UI inbox search",
            "/ui/inbox?q=BENCH%2FINBOX%2F99&classification=terbatas",
        ),
        ("API inbox list (latest 100)", "/api/v1/documents?box=inbox"),
    ] {
        // A warm-up run, then the runs of 200 requests: each run's p50 and p99.
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        for run in 0..=runs {
            let mut times = Vec::with_capacity(200);
            for _ in 0..200 {
                let t = Instant::now();
                let (status, _, body) = c
                    .call("GET", path, &[("cookie", &cookie)], Bytes::new())
                    .await?;
                times.push(t.elapsed());
                if status != 200 || body.is_empty() {
                    return Err(err(format!("bench {path}: {status}")));
                }
            }
            times.sort();
            if run > 0 {
                p50.push(percentile(&times, 0.50).as_secs_f64() * 1e3);
                p99.push(percentile(&times, 0.99).as_secs_f64() * 1e3);
            }
        }
        r.line(&format!(
            "{what} with {letters} letters: median p50 {:.2} ms, median p99 {:.2} ms ({runs} runs of 200 requests)",
            super::report::spread(&p50).0,
            super::report::spread(&p99).0,
        ));
        r.figure(&format!("{what}, {letters} letters, p50"), &p50, "ms");
        r.figure(&format!("{what}, {letters} letters, p99"), &p99, "ms");
    }
    let _ = served.stop.send(());
    let _ = served.task.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A TERBATAS letter of 1 KiB from Budi to Siti.
async fn small_letter(
    node: &Node,
    budi: directory::Official,
    siti: String,
    n: usize,
) -> Result<()> {
    one_part_letter(
        node,
        &budi,
        &siti,
        (
            format!("BENCH/INBOX/{n}"),
            format!("Laporan mingguan {n}"),
            policies::Level::Terbatas,
        ),
        ("laporan.txt", "text/plain", vec![b'a'; 1024]),
    )
    .await
    .map(|_| ())
}
