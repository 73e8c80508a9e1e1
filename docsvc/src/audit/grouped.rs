//! Group commit for actions that each write their own rows and their own log entry (a letter
//! received from a peer, say): callers on many tasks hand in their work, and whoever holds
//! the commit turn runs every waiting piece in one transaction, each inside its own savepoint,
//! under one signed head. A piece that fails is rolled back alone and answered with its own
//! error; the others commit. A caller is answered only once its work is durable or refused.
//! The commit runs in a task of its own: a caller that goes away (a peer that hangs up) cannot
//! cancel the others' work halfway.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use super::{AuditLog, Entry};
use crate::store::script::Savepoint;
use crate::store::{Store, Tx};
use crate::{Error, Result};

/// One caller's work: its rows, written into the group's transaction through its savepoint
/// (every statement: the savepoint opens with the first and is kept with the last, see
/// [`Savepoint`]), and the log entry that records them. `C` is what the work may read beside
/// the transaction (the node).
pub type Work<C> = Box<
    dyn for<'a> FnOnce(&'a C, &'a mut Tx, &'a mut Savepoint) -> BoxFuture<'a, Result<Entry>> + Send,
>;

type Waiting<C> = (Work<C>, oneshot::Sender<Result<()>>);

/// The work waiting for a commit, and the turn to commit it.
pub struct Grouped<C> {
    waiting: Mutex<Vec<Waiting<C>>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// Most pieces in one commit; the rest wait for the next turn.
const BATCH: usize = 256;

/// What a task whose commit stopped before answering (a panic, the process shutting down) says:
/// its work may or may not have committed.
const UNSETTLED: &str = "a group commit that stopped before answering";

impl<C> std::fmt::Debug for Grouped<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped").finish_non_exhaustive()
    }
}

impl<C> Default for Grouped<C> {
    fn default() -> Self {
        Grouped {
            waiting: Mutex::new(Vec::new()),
            turn: Arc::default(),
        }
    }
}

impl<C: Send + Sync + 'static> Grouped<C> {
    /// Commits `work` with whatever else waits, and answers once it is durable (or refused).
    pub async fn commit(
        &self,
        ctx: &Arc<C>,
        store: &Store,
        log: &AuditLog,
        work: Work<C>,
    ) -> Result<()> {
        let (done, mut answer) = oneshot::channel();
        self.queue().push((work, done));
        loop {
            let turn = tokio::select! {
                biased;
                // Taken and answered by an earlier turn.
                answered = &mut answer => return answered.unwrap_or_else(|_| Err(unsettled())),
                turn = Arc::clone(&self.turn).lock_owned() => turn,
            };
            let batch: Vec<Waiting<C>> = {
                let mut queue = self.queue();
                let n = queue.len().min(BATCH);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                // Ours was taken by the turn before; its answer is on its way.
                drop(turn);
                return answer.await.unwrap_or_else(|_| Err(unsettled()));
            }
            let (ctx, store, log) = (Arc::clone(ctx), store.clone(), log.clone());
            // The turn is held by the task until every piece of its batch is answered.
            let _ = tokio::spawn(async move {
                commit_batch(ctx.as_ref(), &store, &log, batch).await;
                drop(turn);
            })
            .await;
        }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Waiting<C>>> {
        // Pushes and takes are single calls: a panic cannot leave half of one.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unsettled() -> Error {
    Error::Task {
        what: UNSETTLED,
        detail: "its outcome is unknown".into(),
    }
}

/// Whether `e` says that the work's commit may or may not have happened: what it wrote must
/// then be left for the sweep rather than removed.
pub fn is_unsettled(e: &Error) -> bool {
    matches!(e, Error::Task { what, .. } if *what == UNSETTLED)
}

/// Runs each piece in its own savepoint, then appends the entries of those that succeeded under
/// one head and commits; every caller is answered.
async fn commit_batch<C>(ctx: &C, store: &Store, log: &AuditLog, batch: Vec<Waiting<C>>) {
    let mut tx = match store.begin().await {
        Ok(tx) => tx,
        Err(e) => return answer_all(batch.into_iter().map(|(_, done)| done), &e),
    };
    let (mut entries, mut written) = (Vec::with_capacity(batch.len()), Vec::new());
    for (work, done) in batch {
        match run(ctx, &mut tx, work).await {
            Ok(Ok(entry)) => {
                entries.push(entry);
                written.push(done);
            }
            // Its own refusal: rolled back to its savepoint, the others go on.
            Ok(Err(e)) => {
                let _ = done.send(Err(e));
            }
            // The transaction itself failed: nothing of this batch commits.
            Err(e) => {
                let _ = done.send(Err(Error::LogUnavailable(e.to_string())));
                return answer_all(written, &e);
            }
        }
    }
    if entries.is_empty() {
        return;
    }
    let committed = match log.append_many(&mut tx, &entries).await {
        Ok(head) => log.commit(tx, &head).await,
        Err(e) => Err(e),
    };
    match committed {
        Ok(()) => {
            for done in written {
                let _ = done.send(Ok(()));
            }
        }
        Err(e) => answer_all(written, &e),
    }
}

/// One piece inside its savepoint: `Ok(Err)` is the piece's own failure, rolled back; `Err` is
/// a transaction that can no longer be used.
async fn run<C>(ctx: &C, tx: &mut Tx, work: Work<C>) -> Result<Result<Entry>> {
    let mut savepoint = Savepoint::default();
    let done = work(ctx, tx, &mut savepoint).await;
    savepoint.settle(tx, done.is_ok()).await?;
    Ok(done)
}

fn answer_all(waiting: impl IntoIterator<Item = oneshot::Sender<Result<()>>>, e: &Error) {
    for done in waiting {
        let _ = done.send(Err(Error::LogUnavailable(e.to_string())));
    }
}
