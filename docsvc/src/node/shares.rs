//! Each caller's share of work that a caller can hold open for as long as it likes: the
//! deliveries one peer node has under way here (`[limits] max_deliveries_per_peer`), and the
//! letters one official is reading (`[limits] max_reads_per_official`).
//!
//! Without them one caller could take everything. A peer (or whoever holds its certificate)
//! could keep thousands of deliveries going (256 connections an address, 64 HTTP/2 streams
//! each), each holding a spool and costing its checks; an official (or whoever holds their
//! session) could keep every one of the node's reading turns (`envelope::READERS_AT_ONCE`)
//! with downloads read a byte at a time, and no other official could open a letter. Past its
//! share, a caller's request waits for one of its own turns, holding only its connection, and
//! after [`TURN_WAIT`] is answered 503 (the sender's delivery worker tries again later; a
//! reader is told to try again shortly). Other callers' turns are their own. The shares are a
//! process's: a node of several processes gives each caller a share in each.
//!
//! A delivery answered early (busy, or refused on its header) has the rest of its body read and
//! dropped without a turn, for a bounded time (see `transmit::receive`): the sender then sees
//! the answer; that costs the connection only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::ShareMetrics;
use crate::{Error, Result};

/// How long a request waits for its caller's turn before it is answered 503.
pub const TURN_WAIT: Duration = Duration::from_secs(10);

/// What a caller past its share is told: from its key (a node id, a NIP) and its share.
pub type Busy = fn(&str, usize) -> String;

/// The turns of each caller that has asked, by key. Only authenticated callers take turns
/// (peers in the signed directory, officials signed in), so the table is no larger than the
/// directory.
#[derive(Debug)]
pub struct Shares {
    per_caller: usize,
    wait: Duration,
    /// Turns held now, in all, and callers told busy.
    metrics: ShareMetrics,
    busy: Busy,
    table: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// One request's turn: free again when dropped.
#[derive(Debug)]
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    held: Gauge,
}

impl Turn {
    /// `body`, holding this turn until the last of it is taken or it is dropped (a reader gone):
    /// a response body read slowly keeps its caller's turn all along.
    pub fn held_by<S>(self, body: S) -> impl Stream<Item = S::Item> + Send + 'static
    where
        S: Stream + Send + 'static,
        S::Item: Send,
    {
        futures_util::stream::unfold((Box::pin(body), self), |(mut body, turn)| async move {
            body.next().await.map(|item| (item, (body, turn)))
        })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.held.dec();
    }
}

impl Shares {
    /// `per_caller` turns for each caller (at least one), each waited for at most `wait`
    /// ([`TURN_WAIT`] in a node); `metrics` counts the turns held and the callers told busy;
    /// `busy` says why a caller waited in vain.
    pub fn new(per_caller: usize, wait: Duration, metrics: ShareMetrics, busy: Busy) -> Self {
        Shares {
            per_caller: per_caller.max(1),
            wait,
            metrics,
            busy,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one of `caller`'s turns, at most its wait; then [`Error::Busy`] (503).
    pub async fn take(&self, caller: &str) -> Result<Turn> {
        let turns = {
            let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                table
                    .entry(caller.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_caller))),
            )
        };
        let held = tokio::time::timeout(self.wait, turns.acquire_owned())
            .await
            .map_err(|_| {
                self.metrics.busy.inc();
                Error::Busy((self.busy)(caller, self.per_caller))
            })?
            .map_err(|_| Error::Task {
                what: "a caller's share",
                detail: "the caller's turns were closed".into(),
            })?;
        self.metrics.held.inc();
        Ok(Turn {
            _permit: held,
            held: self.metrics.held.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_millis(300);

    fn busy(caller: &str, n: usize) -> String {
        format!("{caller} already has {n}")
    }

    #[tokio::test]
    async fn a_caller_past_its_share_waits_then_is_told_busy_and_others_go_on() {
        let metrics = ShareMetrics::default();
        let (held, told) = (metrics.held.clone(), metrics.busy.clone());
        let turns = Shares::new(2, WAIT, metrics, busy);
        let a = turns.take("hub").await.expect("first");
        let b = turns.take("hub").await.expect("second");
        assert_eq!(held.get(), 2);
        // The third of hub's waits its whole wait and is refused.
        let started = std::time::Instant::now();
        let refused = turns.take("hub").await;
        assert!(
            matches!(&refused, Err(Error::Busy(why)) if why == "hub already has 2"),
            "{refused:?}"
        );
        assert!(started.elapsed() >= WAIT);
        assert_eq!(told.get(), 1, "counted");
        // Another caller's turns are its own.
        let other = tokio::time::timeout(Duration::from_millis(1), turns.take("kecamatan")).await;
        assert!(matches!(other, Ok(Ok(_))), "another caller goes on");
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
    async fn a_body_holds_its_turn_until_it_is_read_or_dropped() {
        let metrics = ShareMetrics::default();
        let held = metrics.held.clone();
        let turns = Shares::new(1, WAIT, metrics, busy);
        let mut body = Box::pin(
            turns
                .take("siti")
                .await
                .expect("first")
                .held_by(futures_util::stream::iter([1, 2])),
        );
        assert_eq!(body.next().await, Some(1));
        assert_eq!(held.get(), 1, "held while the body is read");
        assert!(
            matches!(turns.take("siti").await, Err(Error::Busy(_))),
            "and no second turn meanwhile"
        );
        assert_eq!(body.next().await, Some(2));
        assert_eq!(body.next().await, None);
        assert_eq!(held.get(), 0, "given back once the last of it is taken");
        let unread = turns
            .take("siti")
            .await
            .expect("again")
            .held_by(futures_util::stream::iter([1]));
        assert_eq!(held.get(), 1);
        drop(unread);
        assert_eq!(held.get(), 0, "given back when its reader leaves");
    }

    #[tokio::test]
    async fn a_waiting_request_gets_the_first_turn_given_back() {
        let turns = Arc::new(Shares::new(1, WAIT, ShareMetrics::default(), busy));
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
