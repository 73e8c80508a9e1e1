//! The group commit of issuance: certificates signed concurrently are made durable together,
//! with one append to the transparency log (one write, one sync, one signed head) and one
//! inventory transaction for the batch, instead of a log append, a head and a transaction each.
//!
//! A caller's signed certificate is handed in (by the signing thread that signed it, or by the
//! caller) and the caller waits. Whoever holds the commit turn takes everything waiting (for
//! its home) and commits it; the others' certificates were either taken by an earlier turn
//! (their answer comes from it) or are taken by their own. A caller gets its
//! certificate only once its batch is in the log and the inventory durably; when the batch
//! fails, every caller of it gets an error (nothing is handed out that the log does not hold).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hsm_shim::KeyStore;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::ca::Home;
use crate::inventory::{CertRecord, CertState, Inventory};
use crate::tlog::Log;
use crate::{Error, Result};

/// Which version of its subject a certificate becomes, settled at the commit from what the
/// inventory holds then (so two issuances for one subject cannot both take a version).
#[derive(Clone, Copy, Debug)]
pub(crate) enum NextVersion {
    /// The first, or the next after a revoked or superseded one; refused if one is active.
    First,
    /// The next, whatever the subject held (the active one is superseded).
    Next,
    /// Exactly this one (a rotation decided from the version it replaces).
    Exactly(i64),
}

/// A signed certificate ready to be committed.
#[derive(Debug)]
pub(crate) struct Signed {
    /// Its inventory row, `version` still to be set.
    pub record: CertRecord,
    pub version: NextVersion,
    /// The serial of the CA certificate that signed it (refused if revoked meanwhile).
    pub issuer_serial: String,
}

#[derive(Debug)]
struct Waiting {
    home: PathBuf,
    signed: Signed,
    done: oneshot::Sender<Result<CertRecord>>,
}

/// The longest a busy turn waits for certificates being signed as it starts (see
/// [`GroupCommit::linger`]): a few milliseconds more for a certificate, against a commit's
/// database round trips, syncs and signed head shared by more certificates.
const LINGER: Duration = Duration::from_millis(3);

/// The certificates waiting for a commit, and the turn to commit them.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    waiting: Mutex<Vec<Waiting>>,
    /// Shared so that the inventory step of a batch, in a task of its own, keeps holding it.
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Issuances being signed now, on their way to a commit ([`OnTheWay`]).
    on_the_way: AtomicUsize,
    /// How many waiting certificates a lingering turn waits for (0: none lingers).
    wanted: AtomicUsize,
    /// Rung when the waiting certificates reach `wanted`.
    arrived: tokio::sync::Notify,
}

/// An issuance being signed, counted until its certificate waits for a commit (or it fails):
/// what a busy turn lingers for. Owned, so that a signing thread can hold it.
#[derive(Debug)]
pub(crate) struct OnTheWay(std::sync::Arc<GroupCommit>);

impl Drop for OnTheWay {
    fn drop(&mut self) {
        self.0.on_the_way.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A lingering turn's target, cleared when the turn stops lingering (or is dropped).
struct Wanted<'a>(&'a AtomicUsize);

impl Drop for Wanted<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

impl GroupCommit {
    /// Counts an issuance as being signed until the guard is dropped.
    pub(crate) fn on_the_way(self: &std::sync::Arc<Self>) -> OnTheWay {
        self.on_the_way.fetch_add(1, Ordering::Relaxed);
        OnTheWay(std::sync::Arc::clone(self))
    }

    /// Commits `signed` with whatever else is waiting for the same home; returns its record
    /// once the batch is durable in the log and the inventory.
    pub(crate) async fn commit(
        &self,
        home: &Home,
        store: &dyn KeyStore,
        inv: &Inventory,
        signed: Signed,
        on_the_way: OnTheWay,
    ) -> Result<CertRecord> {
        let (done, answer) = oneshot::channel();
        self.enqueue(home.dir().to_path_buf(), signed, done, on_the_way);
        self.answer(home, store, inv, answer).await
    }

    /// Puts a signed certificate in line for the next commit, its answer to go to `done`; the
    /// issuance stops counting as on its way. Synchronous, for a signing thread to call as it
    /// finishes: the caller then waits in [`Self::answer`] without being woken in between.
    pub(crate) fn enqueue(
        &self,
        home: PathBuf,
        signed: Signed,
        done: oneshot::Sender<Result<CertRecord>>,
        on_the_way: OnTheWay,
    ) {
        let waiting = {
            let mut waiting = self.lock_waiting();
            waiting.push(Waiting { home, signed, done });
            waiting.len()
        };
        drop(on_the_way);
        let wanted = self.wanted.load(Ordering::Relaxed);
        if wanted > 0 && waiting >= wanted {
            self.arrived.notify_waiters();
        }
    }

    /// Waits for the answer to a certificate put in line (or being signed, to be put in line
    /// by its signing thread): taking the turn to commit whatever waits, as often as it comes
    /// before the answer does.
    pub(crate) async fn answer(
        &self,
        home: &Home,
        store: &dyn KeyStore,
        inv: &Inventory,
        mut answer: oneshot::Receiver<Result<CertRecord>>,
    ) -> Result<CertRecord> {
        // Whoever's certificate is answered leaves at once, without queueing for the turn: a
        // queue of callers whose certificates are already durable, each taking the turn to
        // find nothing, would let every turn take only the one or two certificates signed
        // since the last (batches of one, a commit per certificate).
        let answered = loop {
            tokio::select! {
                biased;
                a = &mut answer => break a,
                turn = std::sync::Arc::clone(&self.turn).lock_owned() => {
                    self.linger().await;
                    let batch = self.take(home);
                    if !batch.is_empty() {
                        self.commit_batch(home, store, inv, batch, turn).await;
                    }
                }
            }
        };
        // Dropped unanswered only when the turn that took it was abandoned mid-commit, or its
        // signing job never ran to the end (the threads are gone, or it panicked: logged).
        answered.unwrap_or_else(|_| {
            Err(Error::NotCommitted(
                "its batch was abandoned before it was durable".into(),
            ))
        })
    }

    /// When issuances are being signed as a turn starts, waits for their certificates (at most
    /// [`LINGER`]), so that they share this commit instead of making the next. Without this,
    /// a busy CA's batches are only as large as what was signed during the previous commit,
    /// and each pays its database round trips (each a wake-up of another thread), its syncs
    /// and its signed head for fewer certificates. A lone request does not wait.
    async fn linger(&self) {
        let expected = self.on_the_way.load(Ordering::Relaxed);
        if expected == 0 {
            return;
        }
        let target = self.lock_waiting().len() + expected;
        let deadline = tokio::time::Instant::now() + LINGER;
        self.wanted.store(target, Ordering::Relaxed);
        // Stops the ringing even when this turn's caller goes away while it lingers.
        let _reset = Wanted(&self.wanted);
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            // Registered before the count is read, so an arrival in between is not missed.
            arrived.as_mut().enable();
            if self.lock_waiting().len() >= target
                || tokio::time::timeout_at(deadline, arrived).await.is_err()
            {
                break;
            }
        }
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything waiting for `home`, in the order it came.
    fn take(&self, home: &Home) -> Vec<Waiting> {
        let mut waiting = self.lock_waiting();
        // Room for as many as this batch held: the next batch is about as large, and growing a
        // vector of these (each a whole inventory row) from empty copies them again and again.
        let room = Vec::with_capacity(waiting.len());
        if waiting.iter().all(|w| w.home == home.dir()) {
            return std::mem::replace(&mut *waiting, room);
        }
        let (mine, others): (Vec<Waiting>, Vec<Waiting>) = std::mem::replace(&mut *waiting, room)
            .into_iter()
            .partition(|w| w.home == home.dir());
        waiting.extend(others);
        mine
    }

    /// Refuses, one by one, what cannot be committed any more; commits the rest or fails it
    /// all. The caller holding the turn may be dropped at any await (its client went away):
    /// until the log holds the batch, the batch is put back for the next turn; the log append
    /// itself is synchronous; the inventory step after it runs in a task of its own that keeps
    /// the turn, so a dropped caller neither fails the others nor leaves the log naming
    /// certificates the inventory lacks.
    async fn commit_batch(
        &self,
        home: &Home,
        store: &dyn KeyStore,
        inv: &Inventory,
        batch: Vec<Waiting>,
        turn: tokio::sync::OwnedMutexGuard<()>,
    ) {
        let mut held = PutBack {
            commits: self,
            batch,
        };
        let facts = stale_facts(inv, &held.batch).await;
        let batch = std::mem::take(&mut held.batch);
        drop(held);
        let batch = match facts {
            Ok(facts) => refuse_stale(batch, &facts),
            Err(e) => return fail_all(batch, &e),
        };
        if batch.is_empty() {
            return;
        }
        // Its syncs block: on a multi-thread runtime the worker hands its other tasks over
        // meanwhile, so the signing of the next batch goes on on both cores.
        if let Err(e) = blocking(|| append_to_log(home, store, &batch)) {
            return fail_all(batch, &e);
        }
        let inv = inv.clone();
        let inventory = tokio::spawn(async move {
            let _turn = turn;
            // Moved out, not copied: each holds its certificate.
            let (records, answers): (Vec<CertRecord>, Vec<_>) =
                batch.into_iter().map(|w| (w.signed.record, w.done)).unzip();
            match inv.insert_versions(&records).await {
                Ok(()) => {
                    for (record, done) in records.into_iter().zip(answers) {
                        // A caller that went away no longer needs its answer.
                        let _ = done.send(Ok(record));
                    }
                }
                Err(e) => fail_answers(answers, &e),
            }
        });
        // Dropped here, the task goes on.
        let _ = inventory.await;
    }
}

/// A batch taken for a commit that has not reached the log yet: put back for the next turn if
/// the commit is dropped.
struct PutBack<'a> {
    commits: &'a GroupCommit,
    batch: Vec<Waiting>,
}

impl Drop for PutBack<'_> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            self.commits.lock_waiting().append(&mut self.batch);
        }
    }
}

/// What the log says of an issued certificate.
fn log_entry(r: &CertRecord) -> (String, Value) {
    let kind = if r.version == 1 { "issued" } else { "rotated" };
    let data = serde_json::json!({ "serial": r.serial, "subject_id": r.subject_id,
        "version": r.version, "issuer": r.issuer, "certificate_sha256": r.certificate_sha256,
        "not_after": r.not_after });
    (kind.to_owned(), data)
}

fn fail_all(batch: Vec<Waiting>, why: &Error) {
    fail_answers(batch.into_iter().map(|w| w.done).collect(), why);
}

fn fail_answers(answers: Vec<oneshot::Sender<Result<CertRecord>>>, why: &Error) {
    tracing::warn!(
        "group commit of {} certificates failed: {why}",
        answers.len()
    );
    for done in answers {
        let _ = done.send(Err(Error::NotCommitted(why.to_string())));
    }
}

/// What the inventory says now of a batch: the issuing CAs revoked since, and each subject's
/// newest version (version, state, serial).
struct Facts {
    revoked: BTreeSet<String>,
    latest: std::collections::HashMap<String, (i64, CertState, String)>,
}

async fn stale_facts(inv: &Inventory, batch: &[Waiting]) -> Result<Facts> {
    let issuers: BTreeSet<&str> = batch
        .iter()
        .map(|w| w.signed.issuer_serial.as_str())
        .collect();
    let mut revoked = BTreeSet::new();
    for serial in issuers {
        if let Ok(r) = inv.get(serial).await
            && r.state == CertState::Revoked
        {
            revoked.insert(serial.to_owned());
        }
    }
    let subjects: Vec<&str> = batch
        .iter()
        .map(|w| w.signed.record.subject_id.as_str())
        .collect();
    let latest = inv.latest_versions(&subjects).await?;
    Ok(Facts { revoked, latest })
}

/// Answers with an error, and drops from the batch, each certificate whose issuing CA was
/// revoked since it was signed, or whose subject got another version meanwhile (two issuances
/// for one subject: the first in the batch wins, the other is refused as a conflict).
fn refuse_stale(batch: Vec<Waiting>, facts: &Facts) -> Vec<Waiting> {
    let Facts { revoked, latest } = facts;
    let mut in_batch = BTreeSet::new();
    let mut kept = Vec::with_capacity(batch.len());
    for mut w in batch {
        let r = &w.signed.record;
        let (current, state, serial) = latest
            .get(&r.subject_id)
            .map_or((0, None, ""), |(v, st, se)| (*v, Some(*st), se.as_str()));
        let refusal = if revoked.contains(&w.signed.issuer_serial) {
            Err(Error::InvalidInput(format!(
                "the {} certificate is revoked: rotate it in a root ceremony first",
                r.issuer.name()
            )))
        } else if in_batch.contains(&r.subject_id) {
            Err(Error::Conflict(format!(
                "{} is being issued by another request: ask again",
                r.subject_id
            )))
        } else {
            match w.signed.version {
                NextVersion::First if state == Some(CertState::Active) => {
                    Err(crate::issue::already_active(&r.subject_id, serial))
                }
                NextVersion::First | NextVersion::Next => Ok(current + 1),
                NextVersion::Exactly(v) if v == current + 1 => Ok(v),
                NextVersion::Exactly(_) => Err(Error::Conflict(format!(
                    "{} got version {current} while this one was being issued: ask again",
                    r.subject_id
                ))),
            }
        };
        match refusal {
            Err(e) => {
                let _ = w.done.send(Err(e));
            }
            Ok(version) => {
                in_batch.insert(r.subject_id.clone());
                w.signed.record.version = version;
                kept.push(w);
            }
        }
    }
    kept
}

/// The batch's one append to the log, under one signed head: before the inventory, so that an
/// issuance the log does not hold is in the inventory neither.
fn append_to_log(home: &Home, store: &dyn KeyStore, batch: &[Waiting]) -> Result<()> {
    let log_key = home.snapshot()?.state.log_key;
    let entries = batch.iter().map(|w| log_entry(&w.signed.record)).collect();
    Log::open(home)?.append_batch(store, log_key, entries)?;
    Ok(())
}

/// Certificate signatures made at once in place (a CLI command, a ceremony, a key generated
/// for its subject): one a core. Signing is all CPU; more signers at once only share the
/// cores, and crowd out the commit that hands their certificates out (its database and log
/// work waited behind every signer, so a turn took several times its own work). A service's
/// requests sign on [`crate::sign_pool`]'s threads instead, one a core too; the two meet only
/// when a service generates a key for a subject (its OCSP responder, its time-stamping and
/// API certificates), which is rare.
static SIGNERS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    )
});

/// Signs (CPU-heavy `f`) once a core is free for it, see [`SIGNERS`].
pub(crate) async fn signing<T>(f: impl FnOnce() -> T) -> T {
    let _turn = signing_turn().await;
    blocking(f)
}

/// A core's turn to sign, held until dropped (see [`SIGNERS`]).
pub(crate) async fn signing_turn() -> Option<tokio::sync::SemaphorePermit<'static>> {
    // The semaphore is never closed: the permit always comes.
    SIGNERS.acquire().await.ok()
}

/// Runs CPU-heavy or blocking work (a signature, a sync) in place; on a multi-thread runtime
/// the worker first hands its other tasks to another thread, so the database replies and the
/// commits of other tasks keep moving while it works.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
