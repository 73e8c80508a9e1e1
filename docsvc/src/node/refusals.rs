//! Refusals on `/network/v1` in the access log: counted, not written one entry each.
//!
//! A node that is refused (an unlisted or revoked certificate, a refused delivery) may try
//! again at once, and again: one log entry per attempt would let it grow the log without
//! bound. Refusals are counted per (peer or certificate, kind): the first in a window is
//! logged as before; the others in the same window only raise a counter and a metric, and are
//! written as one summarising entry ("N further refusals … since …") when the window has
//! closed, at the next refusal after it or at the worker's next sweep. Each refused request is
//! still answered with its own problem.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::Result;
use crate::audit::Entry;
use crate::metrics::Metrics;
use crate::node::Node;

/// Keys (peer or certificate, kind) counted at once. A caller with many certificates fills
/// the table at most to here; the rest is counted under [`OTHER`], so the table stays small
/// and so does the log: at most this many first entries (plus one per kind) per window.
pub const MAX_KEYS: usize = 256;

/// The key under which refusals past [`MAX_KEYS`] are counted together.
pub const OTHER: &str = "other";

/// The open windows, by (key, kind).
#[derive(Debug, Default)]
pub struct Refusals {
    table: Mutex<HashMap<(String, &'static str), Window>>,
}

#[derive(Debug)]
struct Window {
    opened: Instant,
    opened_at: String,
    /// Refusals after the first one, not logged one by one.
    further: u64,
}

/// A window that has closed with refusals counted in it but not yet logged.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub key: String,
    pub kind: &'static str,
    pub further: u64,
    pub since: String,
}

impl Summary {
    fn entry(&self, policy_version: &str) -> Entry {
        Entry::event(
            self.key.clone(),
            self.kind,
            "deny",
            format!(
                "{} further refusals of {} by {} since {}: counted, not logged one by one",
                self.further, self.kind, self.key, self.since
            ),
            policy_version,
            None,
        )
    }
}

/// What to do about one refusal.
#[derive(Debug, PartialEq, Eq)]
pub struct Noted {
    /// The first refusal of its window: logged in full.
    pub log: bool,
    /// Windows closed meanwhile, to be logged as summaries first.
    pub closed: Vec<Summary>,
}

impl Refusals {
    /// Counts one refusal of `kind` by `key` at `now`.
    pub fn note(&self, key: &str, kind: &'static str, now: Instant, window: Duration) -> Noted {
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let closed = sweep(&mut table, now, window);
        let known = table.contains_key(&(key.to_owned(), kind));
        let key = if known || table.len() < MAX_KEYS {
            key
        } else {
            OTHER
        };
        match table.entry((key.to_owned(), kind)) {
            std::collections::hash_map::Entry::Occupied(mut w) => {
                w.get_mut().further += 1;
                Noted { log: false, closed }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Window {
                    opened: now,
                    opened_at: crate::now_rfc3339(),
                    further: 0,
                });
                Noted { log: true, closed }
            }
        }
    }

    /// Closes every window older than `window` at `now`: the summaries still to be logged.
    pub fn close_expired(&self, now: Instant, window: Duration) -> Vec<Summary> {
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sweep(&mut table, now, window)
    }
}

fn sweep(
    table: &mut HashMap<(String, &'static str), Window>,
    now: Instant,
    window: Duration,
) -> Vec<Summary> {
    let mut closed = Vec::new();
    table.retain(|(key, kind), w| {
        if now.saturating_duration_since(w.opened) < window {
            return true;
        }
        if w.further > 0 {
            closed.push(Summary {
                key: key.clone(),
                kind,
                further: w.further,
                since: w.opened_at.clone(),
            });
        }
        false
    });
    closed
}

fn window(node: &Node) -> Duration {
    Duration::from_secs(node.config.network_refusal_window_secs.max(1))
}

/// Records one refusal on `/network/v1`: `entry` (of action `kind`) is logged if it is the
/// first of its window for `key`, otherwise only counted.
pub async fn refused(node: &Node, key: &str, kind: &'static str, entry: Entry) -> Result<()> {
    Metrics::inc(&node.metrics.network_refusals);
    let noted = node.refusals.note(key, kind, Instant::now(), window(node));
    log_summaries(node, noted.closed).await?;
    if noted.log {
        tracing::warn!(actor = %entry.actor, "{kind} refused: {}", entry.reason);
        crate::node::log_alone(node, &entry).await
    } else {
        Metrics::inc(&node.metrics.network_refusals_unlogged);
        Ok(())
    }
}

/// Logs the counts of windows that have closed (the delivery worker calls this every round).
pub async fn flush(node: &Node) -> Result<()> {
    let closed = node.refusals.close_expired(Instant::now(), window(node));
    log_summaries(node, closed).await
}

async fn log_summaries(node: &Node, closed: Vec<Summary>) -> Result<()> {
    for s in closed {
        tracing::warn!(actor = %s.key, "{} further {} refusals since {}", s.further, s.kind, s.since);
        crate::node::log_alone(node, &s.entry(node.policy.current().version())).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Duration = Duration::from_secs(60);

    #[test]
    fn the_first_refusal_of_a_window_is_logged_the_rest_counted_then_summed_up() {
        let r = Refusals::default();
        let t0 = Instant::now();
        assert!(r.note("node:a", "receive", t0, W).log);
        for i in 1..=10 {
            let n = r.note("node:a", "receive", t0 + Duration::from_secs(i), W);
            assert_eq!(
                n,
                Noted {
                    log: false,
                    closed: vec![]
                }
            );
        }
        // Another kind or key has its own window.
        assert!(r.note("node:a", "network_connect", t0, W).log);
        assert!(r.note("node:b", "receive", t0, W).log);
        assert!(r.close_expired(t0 + Duration::from_secs(59), W).is_empty());
        // The next refusal after the window: the count of the last one, and logged again.
        let n = r.note("node:a", "receive", t0 + W, W);
        assert!(n.log);
        assert_eq!(n.closed.len(), 1, "{n:?}");
        assert_eq!(
            (n.closed[0].key.as_str(), n.closed[0].further),
            ("node:a", 10)
        );
        // Windows with nothing counted close without a summary.
        assert!(r.close_expired(t0 + W * 3, W).is_empty());
    }

    #[test]
    fn many_keys_fold_into_other() {
        let r = Refusals::default();
        let t0 = Instant::now();
        for i in 0..MAX_KEYS {
            assert!(r.note(&format!("cert:{i}"), "network_connect", t0, W).log);
        }
        // Past the cap: the first goes under `other`, logged; the rest only counted.
        assert!(r.note("cert:new-1", "network_connect", t0, W).log);
        for i in 2..1000 {
            assert!(
                !r.note(&format!("cert:new-{i}"), "network_connect", t0, W)
                    .log
            );
        }
        // Known keys still count under their own name.
        assert!(!r.note("cert:0", "network_connect", t0, W).log);
        let closed = r.close_expired(t0 + W, W);
        let other = closed.iter().find(|s| s.key == OTHER).expect("other");
        assert_eq!(other.further, 998);
        assert_eq!(r.table.lock().expect("lock").len(), 0);
    }
}
