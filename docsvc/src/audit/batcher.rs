//! Group commit for entries that stand alone: one writer task takes every entry that arrived
//! meanwhile into one transaction under one signed head.

use super::{AuditLog, Entry, log_err};
use crate::store::Store;
use crate::{Error, Result};

type Pending = (Entry, tokio::sync::oneshot::Sender<Result<()>>);

/// Group commit for entries that stand alone (reads, refusals, signing API calls): callers
/// wait until their entry is durably committed, and one transaction and one signed head serve
/// every entry that arrived meanwhile.
#[derive(Clone, Debug)]
pub struct Batcher {
    tx: tokio::sync::mpsc::Sender<Pending>,
    /// Entries per group commit, for `/metrics`.
    batch_sizes: prometheus_client::metrics::histogram::Histogram,
}

/// Most entries in one group commit.
const BATCH: usize = 1024;

/// Integrity incidents found by the store are written here, like any other entry.
impl crate::store::integrity::IncidentLog for Batcher {
    fn record<'a>(
        &'a self,
        subject: &'a str,
        what: &'a str,
        policy_version: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(self.append(Entry::event(
            subject.to_owned(),
            "integrity",
            "deny",
            format!("integrity incident: {what}"),
            policy_version,
            None,
        )))
    }
}

impl Batcher {
    pub fn spawn(store: Store, log: AuditLog) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Pending>(4 * BATCH);
        // 1 to 1024 entries.
        let batch_sizes = prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(1.0, 2.0, 11),
        );
        let sizes = batch_sizes.clone();
        tokio::spawn(async move {
            while let Some((first, first_done)) = rx.recv().await {
                // Entries and their waiters apart: the entries are written as they came,
                // not copied for the writer.
                let (mut entries, mut waiting) = (vec![first], vec![first_done]);
                while entries.len() < BATCH {
                    match rx.try_recv() {
                        Ok((e, done)) => {
                            entries.push(e);
                            waiting.push(done);
                        }
                        Err(_) => break,
                    }
                }
                #[allow(clippy::cast_precision_loss)] // at most BATCH
                sizes.observe(entries.len() as f64);
                let result = commit_batch(&store, &log, &entries).await;
                for done in waiting {
                    let _ = done.send(match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(Error::LogUnavailable(e.to_string())),
                    });
                }
            }
        });
        Batcher { tx, batch_sizes }
    }

    /// The histogram of entries per group commit (shared: observed by the writer).
    pub fn batch_sizes(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.batch_sizes.clone()
    }

    /// Appends `entry` and returns once it is committed; an error means it is not in the log
    /// and the action it records must not go ahead.
    pub async fn append(&self, entry: Entry) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send((entry, done))
            .await
            .map_err(|_| Error::LogUnavailable("the log writer stopped".into()))?;
        wait.await
            .map_err(|_| Error::LogUnavailable("the log writer stopped".into()))?
    }
}

async fn commit_batch(store: &Store, log: &AuditLog, entries: &[Entry]) -> Result<()> {
    let mut tx = store.begin().await.map_err(log_err)?;
    let head = log.append_many(&mut tx, entries).await?;
    log.commit(tx, &head).await.map_err(|e| match e {
        Error::Database(why) => Error::LogUnavailable(why),
        other => other,
    })
}
