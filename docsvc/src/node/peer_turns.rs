//! Deliveries one peer node may have under way here at once (`[limits]
//! max_deliveries_per_peer`).
//!
//! Without it a peer (or whoever holds its certificate) could keep thousands of deliveries
//! going at once (256 connections an address, 64 HTTP/2 streams each), each holding a spool
//! and costing its checks, and starve every other peer. Past its share, a peer's delivery waits
//! for one of its own turns, holding only its connection (its body unread), and after
//! [`TURN_WAIT`] is answered 503: the sender's delivery worker tries again later. Other peers'
//! turns are their own. The turns are a process's: a node of several processes gives each
//! peer a share in each. A delivery answered early (busy, or refused on its header) has the
//! rest of its body read and dropped without a turn, for a bounded time (see
//! `transmit::receive`): the sender then sees the answer; that costs the connection only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Error, Result};

/// How long a delivery waits for its peer's turn before it is answered 503.
pub const TURN_WAIT: Duration = Duration::from_secs(10);

/// The turns of each peer that has delivered here, by node id. Only authenticated peers (in
/// the signed directory) take turns, so the table is no larger than the directory.
#[derive(Debug)]
pub struct PeerTurns {
    per_peer: usize,
    wait: Duration,
    /// Turns held now, in all (`docsvc_peer_deliveries`).
    held: Gauge,
    table: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One delivery's turn: free again when dropped.
#[derive(Debug)]
pub struct PeerTurn {
    _permit: OwnedSemaphorePermit,
    held: Gauge,
}

impl Drop for PeerTurn {
    fn drop(&mut self) {
        self.held.dec();
    }
}

impl PeerTurns {
    /// `per_peer` turns for each peer (at least one), each waited for at most `wait`
    /// ([`TURN_WAIT`] in a node); `held` counts the turns held.
    pub fn new(per_peer: usize, wait: Duration, held: Gauge) -> Self {
        PeerTurns {
            per_peer: per_peer.max(1),
            wait,
            held,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one of `peer`'s turns, at most its wait; then [`Error::Busy`] (503).
    pub async fn take(&self, peer: &str) -> Result<PeerTurn> {
        let turns = {
            let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                table
                    .entry(peer.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_peer))),
            )
        };
        let held = tokio::time::timeout(self.wait, turns.acquire_owned())
            .await
            .map_err(|_| {
                Error::Busy(format!(
                    "node {peer} already has {} deliveries under way here; try again shortly",
                    self.per_peer
                ))
            })?
            .map_err(|_| Error::Task {
                what: "delivery",
                detail: "the peer's turns were closed".into(),
            })?;
        self.held.inc();
        Ok(PeerTurn {
            _permit: held,
            held: self.held.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_peer_past_its_share_waits_then_is_told_busy_and_others_go_on() {
        let held = Gauge::default();
        let turns = PeerTurns::new(2, WAIT, held.clone());
        let a = turns.take("hub").await.expect("first");
        let b = turns.take("hub").await.expect("second");
        assert_eq!(held.get(), 2);
        // The third of hub's waits its whole wait and is refused.
        let started = std::time::Instant::now();
        let refused = turns.take("hub").await;
        assert!(
            matches!(&refused, Err(Error::Busy(why)) if why.contains("node hub")),
            "{refused:?}"
        );
        assert!(started.elapsed() >= WAIT);
        // Another peer's turns are its own.
        let other = tokio::time::timeout(Duration::from_millis(1), turns.take("kecamatan")).await;
        assert!(matches!(other, Ok(Ok(_))), "another peer goes on");
        // A turn given back is taken again at once.
        drop(a);
        let next = tokio::time::timeout(Duration::from_millis(1), turns.take("hub")).await;
        assert!(
            matches!(next, Ok(Ok(_))),
            "a turn given back is taken again"
        );
        assert_eq!(
            held.get(),
            3,
            "hub's two and kecamatan's, given back when dropped"
        );
        drop(b);
        assert_eq!(held.get(), 2);
    }

    #[tokio::test]
    async fn a_waiting_delivery_gets_the_first_turn_given_back() {
        let turns = Arc::new(PeerTurns::new(1, WAIT, Gauge::default()));
        let held = turns.take("hub").await.expect("first");
        let waiting = tokio::spawn({
            let turns = Arc::clone(&turns);
            async move { turns.take("hub").await.map(|_| ()) }
        });
        tokio::time::sleep(WAIT / 3).await;
        drop(held);
        assert!(waiting.await.expect("task").is_ok(), "within its wait");
    }
}
