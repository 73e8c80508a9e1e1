//! Two nodes of one dev network served in this process, and letters delivered between them
//! (also used by the soak run and the delivery tests).

use std::sync::Arc;
use std::time::Instant;

use super::letters::one_part_letter;
use super::machine::Usage;
use super::{Report, err, per_second, tempfile_dir};
use crate::dev::quickstart;
use crate::http::api;
use crate::node::{Layout, Node};
use crate::officials::directory;
use crate::{Error, Result};

/// A node of the bench network, served in this process.
pub(crate) struct Served {
    pub node: Arc<Node>,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<Result<()>>,
}

pub(crate) async fn serve_node(
    dir: &std::path::Path,
    listener: tokio::net::TcpListener,
) -> Result<Served> {
    let node = Arc::new(Node::open(Layout::new(dir)).await?);
    crate::dev::tsa::open_dev(&node).await?;
    let (_cert, tls) = node.tls_config()?;
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(crate::http::server::serve(
        listener,
        tls,
        api::router(Arc::clone(&node)),
        Arc::clone(&node),
        async {
            let _ = stop_rx.await;
        },
    ));
    Ok(Served { node, stop, task })
}

/// Two quickstart nodes of one dev network under `root` (a hub serving dinkes, `bappeda`
/// accredited to rahasia), with their directory signed and installed, and the listeners their
/// addresses were taken from.
pub(crate) struct TwoNodes {
    pub a_dir: std::path::PathBuf,
    pub b_dir: std::path::PathBuf,
    pub la: tokio::net::TcpListener,
    pub lb: tokio::net::TcpListener,
    pub hub: quickstart::Outcome,
}

pub(crate) async fn two_nodes(root: &std::path::Path) -> Result<TwoNodes> {
    let (a_dir, b_dir) = (root.join("hub"), root.join("bappeda"));
    let la = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let lb = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let (a_addr, b_addr) = (la.local_addr().map_err(err)?, lb.local_addr().map_err(err)?);
    let mut spec = quickstart::DevNode::new(&a_addr.to_string(), None);
    spec.agencies = vec!["dinkes".into()];
    let hub = quickstart::setup_node(&a_dir, &spec, &mut |_| {}).await?;
    let spec = quickstart::DevNode {
        join: Some(a_dir.clone()),
        node_id: "bappeda".into(),
        agencies: vec!["bappeda".into()],
        accreditation: policies::Level::Rahasia,
        ..quickstart::DevNode::new(&b_addr.to_string(), None)
    };
    quickstart::setup_node(&b_dir, &spec, &mut |_| {}).await?;
    publish_directory(&a_dir, a_addr, &b_dir, b_addr, 1)?;
    Ok(TwoNodes {
        a_dir,
        b_dir,
        la,
        lb,
        hub,
    })
}

/// A RAHASIA letter of 20 KiB from Budi (hub) to Dewi on bappeda.
pub(crate) async fn letter_to_bappeda(
    node: &Node,
    budi: &directory::Official,
    n: usize,
) -> Result<String> {
    one_part_letter(
        node,
        budi,
        "197704042002122004@bappeda",
        (
            format!("BENCH/NET/{n}"),
            "Bench antarsimpul".into(),
            policies::Level::Rahasia,
        ),
        ("surat.pdf", "application/pdf", vec![0x25u8; 20 * 1024]),
    )
    .await
}

/// The bench network's directory (`version`, above any signed before), signed with the hub's
/// dev CA and installed on both nodes.
pub(crate) fn publish_directory(
    a_dir: &std::path::Path,
    a_addr: std::net::SocketAddr,
    b_dir: &std::path::Path,
    b_addr: std::net::SocketAddr,
    version: u64,
) -> Result<()> {
    let entry = |dir: &std::path::Path,
                 id: &str,
                 addr: std::net::SocketAddr,
                 agency: &str,
                 level: &str|
     -> Result<keymgr::directory::NodeEntry> {
        let chain = crate::node::read_pem_certs(&Layout::new(dir).tls_chain())?;
        Ok(keymgr::directory::NodeEntry {
            id: id.into(),
            agencies: vec![agency.into()],
            base_url: format!("https://{addr}"),
            spki_sha256: keymgr::directory::spki_sha256(
                chain.first().ok_or_else(|| err("no node certificate"))?,
            )?,
            accreditation: level.into(),
            status: "active".into(),
        })
    };
    let (home, quorum) = quickstart::dev_quorum(&Layout::new(a_dir))?;
    let directory = keymgr::directory::sign(
        &home,
        quorum.online()?,
        &keymgr::directory::DirectoryInput {
            version,
            nodes: vec![
                entry(a_dir, "hub", a_addr, "dinkes", "sangat_rahasia")?,
                entry(b_dir, "bappeda", b_addr, "bappeda", "rahasia")?,
            ],
        },
    )?;
    let bytes = serde_json::to_vec(&directory).map_err(err)?;
    for d in [a_dir, b_dir] {
        let path = d.join("network");
        std::fs::create_dir_all(&path).map_err(|e| Error::io("creating", &path, e))?;
        std::fs::write(path.join("directory.json"), &bytes)
            .map_err(|e| Error::io("writing", &path, e))?;
    }
    Ok(())
}

/// Letters per second from one node to another on this machine: `letters` RAHASIA letters
/// written on a hub to an official of a second node, then delivered by the worker's rounds
/// (each: checked, sent over mutual TLS, checked and stored there, receipt checked here).
pub(super) async fn measure(letters: usize, runs: usize, r: &mut Report<'_>) -> Result<()> {
    let root = tempfile_dir()?;
    r.line(&format!(
        "setting up two nodes of one dev network in {}",
        root.display()
    ));
    let TwoNodes {
        a_dir,
        b_dir,
        la,
        lb,
        hub,
        ..
    } = two_nodes(&root).await?;
    let a = serve_node(&a_dir, la).await?;
    let b = serve_node(&b_dir, lb).await?;
    let budi = directory::get(&a.node.store, &hub.officials[0].nip)
        .await?
        .ok_or_else(|| err("no Budi"))?;
    // A warm-up round, then `runs` rounds; a letter not delivered fails the bench.
    let mut samples = Vec::with_capacity(runs);
    // What the counted rounds used, and how long they took.
    let (mut used, mut busy, mut counted) = (Usage::default(), std::time::Duration::ZERO, 0);
    for round in 0..=runs {
        for i in 0..letters {
            letter_to_bappeda(&a.node, &budi, round * letters + i).await?;
        }
        let (start, before) = (Instant::now(), Usage::now());
        while crate::transmit::deliver_due(&a.node).await? > 0 {}
        let elapsed = start.elapsed();
        if round > 0
            && let (Some(before), Some(after)) = (before, Usage::now())
        {
            used += after.since(before);
            busy += elapsed;
            counted += 1;
        }
        let delivered = crate::transmit::outbox(&a.node, true)
            .await?
            .iter()
            .filter(|q| q.delivery.state == "delivered")
            .count();
        if delivered != (round + 1) * letters {
            return Err(err(format!(
                "bench delivery: {delivered} of {} letters delivered; a run with errors does not count",
                (round + 1) * letters
            )));
        }
        if round > 0 {
            samples.push(per_second(letters, elapsed));
        }
    }
    let (rate, min, max) = super::report::spread(&samples);
    r.line(&format!(
        "delivery between two nodes: {letters} RAHASIA letters (20 KiB) per run, median {rate:.0} letters/s ({min:.0} – {max:.0}, {runs} runs; each checked, sent over mutual TLS, checked and stored there, receipt checked)",
    ));
    r.figure(
        "letters delivered between two nodes (20 KiB RAHASIA, checked both sides, receipt)",
        &samples,
        "letters/s",
    );
    // Without /proc (every reading failed) there is nothing to explain the figure with.
    if counted > 0 {
        let cores = super::machine::cores();
        #[allow(clippy::cast_precision_loss)]
        let (delivered, switches, cores_f) = (
            (letters * counted).max(1) as f64,
            used.switches as f64,
            cores as f64,
        );
        let explained = format!(
            "{:.2} ms of CPU and {:.0} context switches per letter, both nodes together (one process on {cores} core(s), {:.0}% of them busy while delivering)",
            used.cpu_seconds * 1000.0 / delivered,
            switches / delivered,
            100.0 * used.cpu_seconds / (busy.as_secs_f64() * cores_f).max(f64::MIN_POSITIVE),
        );
        r.line(&format!("delivery: {explained}"));
        r.note(&explained);
    }
    for s in [a, b] {
        let _ = s.stop.send(());
        let _ = s.task.await;
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
