//! What guards the letters, timed: Cedar policy decisions, certificate issuance by keymgr, and
//! verification of the whole access log.

use std::time::{Duration, Instant};

use super::report::spread;
use super::signing::repeated_sync;
use super::{Bench, Report, per_second};
use crate::Result;
use crate::node::Node;
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
    super::issuance::measure(&node.layout, runs, r).await?;
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
