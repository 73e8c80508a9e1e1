//! `docsvc soak`: many letters from one node to another while the receiving node is killed
//! (SIGKILL) and restarted, bounded in count and time, on loopback. Afterwards every letter
//! must be on the receiver exactly once, every receipt on the sender, and both logs verify.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::dev::bench::{TwoNodes, letter_to_bappeda, two_nodes};
use crate::node::{Layout, Node};
use crate::{Error, Result, audit, officials::directory};

/// What a soak run found.
#[derive(Debug)]
pub struct Report {
    pub letters: usize,
    pub kills: usize,
    pub received_once: i64,
    pub receipts: usize,
    pub seconds: f64,
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Tool {
        tool: "soak",
        detail: e.to_string(),
    }
}

fn start_receiver(dir: &std::path::Path) -> Result<Child> {
    Command::new(std::env::current_exe().map_err(err)?)
        .args(["serve", "--dev-unseal", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(err)
}

async fn wait_for(node: &Node, peer: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while crate::network::connect(node, peer).await.is_err() {
        if Instant::now() > deadline {
            return Err(err(format!("{peer} did not come up")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn delivered(node: &Node) -> Result<usize> {
    let n = crate::store::traffic::deliveries_receipted(&node.store).await?;
    usize::try_from(n).map_err(err)
}

/// `docsvc audit verify` of each node, in process.
async fn verify_logs(dirs: &[&std::path::Path], out: &mut dyn FnMut(&str)) -> Result<()> {
    for dir in dirs {
        let layout = Layout::new(dir);
        let config = crate::node::Config::load(&layout)?;
        let store = crate::store::Store::open(&config.database_url(&layout)).await?;
        let spki = std::fs::read(layout.dir().join("audit-key.der"))
            .map_err(|e| Error::io("reading", layout.dir().join("audit-key.der"), e))?;
        let r = audit::verify(&store, &spki, Some(&layout.heads())).await?;
        out(&format!(
            "{}: access log verified, {} entries",
            config.node_id, r.entries
        ));
    }
    Ok(())
}

/// Sends `letters` letters from a hub to bappeda (a separate process), killing bappeda with
/// SIGKILL at a third and at two thirds of the deliveries, within `limit`.
pub async fn run(letters: usize, limit: Duration, out: &mut dyn FnMut(&str)) -> Result<Report> {
    let root = std::env::temp_dir().join(format!("docsvc-soak-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&root).map_err(|e| Error::io("creating", &root, e))?;
    out(&format!("two nodes in {}", root.display()));
    let TwoNodes {
        a_dir,
        b_dir,
        la,
        lb,
        hub,
    } = two_nodes(&root).await?;
    drop((la, lb));
    let mut receiver = start_receiver(&b_dir)?;
    let a = Arc::new(Node::open(Layout::new(&a_dir)).await?);
    crate::dev::tsa::open_dev(&a).await?;
    wait_for(&a, "bappeda", Duration::from_secs(30)).await?;
    let budi = directory::get(&a.store, &hub.officials[0].nip)
        .await?
        .ok_or_else(|| err("no Budi"))?;

    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let (a, done) = (Arc::clone(&a), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Err(e) = crate::transmit::deliver_due(&a).await {
                    tracing::error!("soak delivery: {e}");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut kills = 0;
    for i in 0..letters {
        letter_to_bappeda(&a, &budi, i).await?;
        // Killed while letters are being written and delivered: at a third and two thirds.
        if kills < 2 && i + 1 == letters * (kills + 1) / 3 {
            let n = delivered(&a).await?;
            receiver.kill().map_err(err)?;
            receiver.wait().map_err(err)?;
            kills += 1;
            out(&format!(
                "bappeda killed (SIGKILL) after {} letters written, {n} delivered; restarting",
                i + 1
            ));
            receiver = start_receiver(&b_dir)?;
        }
        if i % 1000 == 999 {
            out(&format!(
                "{} letters written, {} delivered",
                i + 1,
                delivered(&a).await?
            ));
        }
    }
    out(&format!("{letters} letters written; delivering"));
    loop {
        let n = delivered(&a).await?;
        if n >= letters {
            break;
        }
        if started.elapsed() > limit {
            done.store(true, Ordering::Relaxed);
            let _ = receiver.kill();
            return Err(err(format!(
                "soak over its time limit: {n} of {letters} delivered"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done.store(true, Ordering::Relaxed);
    let _ = worker.await;
    let seconds = started.elapsed().as_secs_f64();

    let b_config = crate::node::Config::load(&Layout::new(&b_dir))?;
    let b_store = crate::store::Store::open(&b_config.database_url(&Layout::new(&b_dir))).await?;
    let received_once = crate::store::traffic::letters_received(&b_store).await?;
    let receipts = delivered(&a).await?;
    let _ = receiver.kill();
    let _ = receiver.wait();
    verify_logs(&[&a_dir, &b_dir], out).await?;
    let _ = std::fs::remove_dir_all(&root);
    Ok(Report {
        letters,
        kills,
        received_once,
        receipts,
        seconds,
    })
}
