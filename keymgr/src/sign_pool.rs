//! The threads a long-running service signs certificates on: one a core, fed by a bounded
//! queue, outside the async runtime.
//!
//! Why not `block_in_place` on a runtime worker (what a CLI command or a ceremony does, see
//! [`crate::group_commit::signing`]): each signature then hands the worker's core to another
//! thread and back, and the turn to sign wakes its next caller through the runtime's queue.
//! Measured on issuance (stop 44), those handoffs cost about a sixth of a certificate's CPU and
//! left a fifth of the two cores idle. Here a thread takes the next job as soon as it is done
//! with one, and the runtime's workers stay free for the group commit that hands the
//! certificates out.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// The queue's room, in jobs per thread: enough that a busy CA's callers (64 at once in
/// `docsvc bench`) queue without waiting for room. Each wait for room was a wake-up from a
/// signing thread as it took a job, preempting signing on a busy core: with 2 a thread, a
/// tenth of issuance's CPU (stop 55). A caller that leaves while its job is queued costs no
/// signature (the job checks first); past this room, callers wait in their own tasks.
const QUEUED_PER_THREAD: usize = 32;

/// The threads at the process's own priority, for keystores whose signature holds a lock the
/// rest of the process also takes (one PKCS#11 session).
static POOL: LazyLock<Option<Pool>> = LazyLock::new(|| start(Priority::Same));

/// The threads below the process's priority ([`BELOW`]), for keystores whose signatures hold
/// nothing the rest of the process waits for (keys in memory). Each pool starts on first use.
static YIELDING: LazyLock<Option<Pool>> = LazyLock::new(|| start(Priority::Below));

#[derive(Clone, Copy, PartialEq, Eq)]
enum Priority {
    Same,
    Below,
}

struct Pool {
    queue: mpsc::Sender<Job>,
    /// How many threads started (the tests keep every one busy).
    #[cfg(test)]
    threads: usize,
}

/// Starts one thread a core; `None` if the system gives none (then [`sign`] says so).
fn start(priority: Priority) -> Option<Pool> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let (queue, rx) = mpsc::channel::<Job>(threads * QUEUED_PER_THREAD);
    let rx = Arc::new(Mutex::new(rx));
    let mut started = 0;
    for i in 0..threads {
        let rx = Arc::clone(&rx);
        let spawned = std::thread::Builder::new()
            .name(format!("keymgr-sign-{i}"))
            .spawn(move || {
                if priority == Priority::Below {
                    yield_to_the_process();
                }
                run(&rx);
            });
        match spawned {
            Ok(_) => started += 1,
            Err(e) => tracing::error!("signing thread {i} not started: {e}"),
        }
    }
    (started > 0).then_some(Pool {
        queue,
        #[cfg(test)]
        threads: started,
    })
}

/// How much lower than the rest of the process a yielding signing thread runs (nice steps):
/// when a core is contended, the group commit that hands certificates out, the database's
/// thread and the requests being served go first, and signing takes every cycle they leave.
/// At equal priority the commit's path waited behind the signatures while the batches after it
/// had nothing left to sign (measured on issuance: the signing threads idle a third of the
/// time). Not for a keystore whose signature holds a shared lock: a thread this low, preempted
/// while holding it, would hold up everyone waiting for it (priority inversion). The nice value
/// ranks threads among all of the machine's processes in one scheduling group: under systemd,
/// keymgr's unit is its own group, so the threads yield to keymgr's other threads.
const BELOW: i32 = 10;

/// Lowers this thread's scheduling priority by [`BELOW`] (never past the lowest). Only the
/// thread is changed, and for good: an unprivileged thread cannot raise it again. A system that
/// refuses leaves it as it was, and each thread says so in the log.
#[cfg(target_os = "linux")]
fn yield_to_the_process() {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = Some(rustix::thread::gettid());
    let set = getpriority_process(me)
        .and_then(|now| setpriority_process(me, now.saturating_add(BELOW).min(19)));
    if let Err(e) = set {
        tracing::warn!("a signing thread keeps its priority: {e}");
    }
}

/// Elsewhere a thread's own priority is not portable: the threads keep the process's.
#[cfg(not(target_os = "linux"))]
fn yield_to_the_process() {}

/// A thread's life: the next job, until the queue is gone. One thread at a time waits on the
/// queue (holding its lock); the others wait for the lock, and so for the job after.
fn run(rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let next = rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .blocking_recv();
        match next {
            Some(job) => job(),
            None => return,
        }
    }
}

/// Queues `f` (a certificate's signature and what follows it) on a signing thread and returns
/// once it is queued, without waiting for it: `f` answers its caller itself (by a channel it
/// owns), so the signing thread wakes no one in between. `f` should first check that its caller
/// still waits. A job that panics is logged, and drops what it owned (its caller's channel).
pub(crate) async fn submit(yields: bool, f: impl FnOnce() + Send + 'static) -> Result<()> {
    let pool = if yields { &YIELDING } else { &POOL };
    let Some(pool) = pool.as_ref() else {
        return Err(Error::NotCommitted(
            "no signing thread could be started".into(),
        ));
    };
    let job: Job = Box::new(move || {
        if catch_unwind(AssertUnwindSafe(f)).is_err() {
            tracing::error!("a certificate's signature panicked on its signing thread");
        }
    });
    pool.queue
        .send(job)
        .await
        .map_err(|_| Error::NotCommitted("the signing threads are gone".into()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Barrier, Condvar};
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    /// Bounds every wait of these tests: a broken pool fails them instead of hanging them.
    const PATIENCE: Duration = Duration::from_secs(30);

    /// `f` run on a signing thread, its result brought back as [`crate::issue`]'s jobs bring
    /// theirs: by a channel the job owns.
    async fn sign<T: Send + 'static>(
        yields: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (done, answer) = oneshot::channel();
        submit(yields, move || {
            if !done.is_closed() {
                let _ = done.send(f());
            }
        })
        .await?;
        answer
            .await
            .map_err(|_| Error::NotCommitted("its signature failed".into()))
    }

    fn threads() -> usize {
        POOL.as_ref().map_or(0, |p| p.threads)
    }

    async fn sign_all(n: usize) -> Vec<usize> {
        let handles: Vec<_> = (0..n)
            .map(|i| tokio::spawn(sign(false, move || i)))
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            let joined = tokio::time::timeout(PATIENCE, h).await.expect("in time");
            out.push(joined.expect("joined").expect("signed"));
        }
        out
    }

    #[tokio::test]
    async fn answers_from_another_thread() {
        let here = std::thread::current().id();
        let there = sign(false, || std::thread::current().id())
            .await
            .expect("signed");
        assert_ne!(here, there);
        let name = sign(false, || std::thread::current().name().map(str::to_owned))
            .await
            .expect("signed");
        assert!(name.is_some_and(|n| n.starts_with("keymgr-sign-")));
    }

    /// The yielding threads run below the rest of the process (at most at the lowest
    /// priority); the others at its own.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn only_the_yielding_threads_run_below_the_process() {
        use rustix::process::{getpriority_process, setpriority_process};
        let priority = || getpriority_process(Some(rustix::thread::gettid()));
        let here = priority().expect("own priority");
        if here > 19 - BELOW {
            eprintln!("skipped: this process already runs at nice {here}");
            return;
        }
        // Whether this system lets a thread lower its own priority at all.
        let allowed = std::thread::spawn(move || {
            setpriority_process(Some(rustix::thread::gettid()), here + 1).is_ok()
        })
        .join()
        .expect("probe");
        if !allowed {
            eprintln!("skipped: this system refuses a thread its own lower priority");
            return;
        }
        for _ in 0..threads() * 4 {
            let low = sign(true, priority).await.expect("signed");
            assert_eq!(low.expect("priority"), here + BELOW, "a yielding thread");
            let same = sign(false, priority).await.expect("signed");
            assert_eq!(
                same.expect("priority"),
                here,
                "a thread at the process's priority"
            );
        }
    }

    #[tokio::test]
    async fn a_panic_fails_its_caller_only() {
        let err = sign(false, || -> u32 { panic!("boom") })
            .await
            .expect_err("a panic is an error");
        assert!(matches!(err, Error::NotCommitted(_)), "{err}");
        // Every thread still takes work after one of them panicked.
        let n = threads() * 4;
        assert_eq!(sign_all(n).await, (0..n).collect::<Vec<_>>());
    }

    /// Runs until `cond` holds, or fails the test after [`PATIENCE`].
    async fn until(what: &str, cond: impl Fn() -> bool) {
        let waited = tokio::time::timeout(PATIENCE, async {
            while !cond() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "never: {what}");
    }

    #[tokio::test]
    async fn a_caller_gone_before_its_turn_costs_no_work() {
        let threads = threads();
        // Every thread busy until the gate opens, so the next job waits in the queue.
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let started = Arc::new(AtomicUsize::new(0));
        let busy: Vec<_> = (0..threads)
            .map(|_| {
                let (gate, started) = (Arc::clone(&gate), Arc::clone(&started));
                tokio::spawn(sign(false, move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    let (open, cv) = &*gate;
                    let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
                    while !*open {
                        open = cv.wait(open).unwrap_or_else(PoisonError::into_inner);
                    }
                }))
            })
            .collect();
        until("every thread busy", || {
            started.load(Ordering::SeqCst) == threads
        })
        .await;
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&ran);
        let waiting = tokio::spawn(sign(false, move || counted.fetch_add(1, Ordering::SeqCst)));
        // Queued (the queue has room), then its caller leaves.
        tokio::time::sleep(Duration::from_millis(50)).await;
        waiting.abort();
        let _ = waiting.await;
        let (open, cv) = &*gate;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
        for b in busy {
            let joined = tokio::time::timeout(PATIENCE, b).await.expect("in time");
            joined.expect("joined").expect("signed");
        }
        // Every thread meets every other in a job after it: each is done with what it took
        // before, the abandoned job included.
        let met = Arc::new(Barrier::new(threads));
        let after: Vec<_> = (0..threads)
            .map(|_| {
                let met = Arc::clone(&met);
                tokio::spawn(sign(false, move || {
                    met.wait();
                }))
            })
            .collect();
        for a in after {
            let joined = tokio::time::timeout(PATIENCE, a).await.expect("in time");
            joined.expect("joined").expect("signed");
        }
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the abandoned job ran");
    }
}
