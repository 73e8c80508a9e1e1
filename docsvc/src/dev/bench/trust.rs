//! What guards the letters, timed: Cedar policy decisions, certificate issuance by keymgr, and
//! verification of the whole access log.

use std::time::{Duration, Instant};

use super::report::spread;
use super::signing::repeated_sync;
use super::{Bench, Report, err, per_second};
use crate::Result;
use crate::dev::quickstart;
use crate::node::{Layout, Node};
use crate::officials::directory;

/// Decisions, issuance and log verification per second.
pub(super) async fn measure(
    b: &Bench,
    budi: &directory::Official,
    r: &mut Report<'_>,
) -> Result<()> {
    let node = &b.served.node;
    let runs = b.runs;
    let decisions = repeated_sync(runs, || policy_decisions_per_second(node, budi))?;
    r.line(&format!(
        "policy decisions: median {:.0}/s (one thread)",
        spread(&decisions).0
    ));
    r.figure(
        "policy decisions (Cedar), one thread",
        &decisions,
        "decisions/s",
    );
    let mut issued = Vec::with_capacity(runs);
    for run in 0..=runs {
        let rate = issuance_per_second(&node.layout, run).await?;
        if run > 0 {
            issued.push(rate);
        }
    }
    r.line(&format!(
        "certificate issuance by keymgr (application certificates from CSRs, each logged): median {:.1}/s",
        spread(&issued).0
    ));
    r.figure(
        "certificate issuance (keymgr, from CSRs, logged)",
        &issued,
        "certificates/s",
    );
    let spki = node.audit.public_key()?;
    let mut verified = Vec::with_capacity(runs);
    let mut entries = 0;
    for run in 0..=runs {
        let start = Instant::now();
        let report = crate::audit::verify(&node.store, &spki, Some(&node.layout.heads())).await?;
        entries = report.entries;
        #[allow(clippy::cast_precision_loss)]
        let rate = report.entries as f64 / start.elapsed().as_secs_f64();
        if run > 0 {
            verified.push(rate);
        }
    }
    r.line(&format!(
        "access log verification: {entries} entries, median {:.0} entries/s",
        spread(&verified).0
    ));
    r.figure(
        "access log verification (hashes, tree, signed heads)",
        &verified,
        "entries/s",
    );
    Ok(())
}

/// Certificates per second issued by the node's dev CA (keymgr, quorum-unsealed) for
/// application CSRs, each recorded in the inventory and keymgr's signed log.
async fn issuance_per_second(layout: &Layout, run: usize) -> Result<f64> {
    let (home, quorum) = quickstart::dev_quorum(layout)?;
    let inv =
        keymgr::inventory::Inventory::open(&keymgr::inventory::Inventory::default_url(home.dir()))
            .await?;
    let online = quorum.online()?;
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(1) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
        // A new name per run: the CA refuses a second active certificate for one name.
        let name = format!("bench-{run}-{n}");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name.as_str());
        let csr = params.serialize_request(&key).map_err(err)?;
        keymgr::issue::issue(
            &home,
            online,
            &inv,
            keymgr::issue::Request::Application(keymgr::ca::ApplicationRequest {
                name,
                agency: "diskominfo".into(),
                days: 30,
            }),
            keymgr::issue::KeySource::Csr(csr.der().to_vec()),
        )
        .await?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}

/// Cedar decisions per second (read of a RAHASIA letter), prepared principal and document.
fn policy_decisions_per_second(node: &Node, official: &directory::Official) -> Result<f64> {
    let policy = node.policy.current();
    let principal = policy.prepare_principal(&policies::Principal::Official(official.person()))?;
    let doc = policy.prepare_document(&crate::letters::documents::draft(
        official,
        policies::Level::Rahasia,
    ))?;
    let ctx = policies::Context {
        step_up: true,
        ..policies::Context::default()
    };
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_millis(500) {
        policy.decide_prepared(&principal, policies::Action::Read, &doc, &ctx)?;
        n += 1;
    }
    Ok(per_second(n, start.elapsed()))
}
