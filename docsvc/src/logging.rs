//! Where the operators' lines go (request lines, warnings, progress): stderr, through a writer
//! thread, so that a reader who falls behind (journald under load, a pipe nobody drains)
//! never holds up a request. Formatting stays on the caller's thread; only the write moves,
//! one `write` a line (whole lines, so nothing else written to stderr lands inside one).
//! When the queue is full a line is dropped, never waited for; a line whose write fails
//! (journald restarted) is lost too. Both are counted (`docsvc_log_lines_dropped_total`). These
//! lines are for watching the node; the access log, which is the evidence, is written and
//! signed elsewhere and never dropped.

use std::io::{IsTerminal as _, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

/// Lines held for the writer thread before new ones are dropped: about 2 MiB of request lines,
/// a burst of a second or more at the signing API's busiest.
pub const QUEUE_LINES: usize = 8_192;

/// The writer's count of lines dropped from a full queue, once [`init`] has run.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Lines whose write to stderr failed (the writer thread goes on with the next).
static FAILED: AtomicU64 = AtomicU64::new(0);

/// stderr, counting the lines it could not write.
struct Stderr(std::io::Stderr);

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let written = self.0.write_all(buf);
        if written.is_err() {
            FAILED.fetch_add(1, Ordering::Relaxed);
        }
        written
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Installs the process's subscriber: `DOCSVC_LOG` filters (default `info`),
/// `DOCSVC_LOG_FORMAT=json` makes every line JSON (the systemd unit sets it). Keep the guard
/// until the process ends: dropping it gives the thread about a second to write what is
/// still queued.
///
/// # Panics
/// If a global subscriber was installed already (only `main` calls this, once).
#[must_use = "dropping the guard stops the writer thread"]
pub fn init() -> WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOCSVC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: in a file or the journal, escape codes are noise.
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("docsvc-log")
        .finish(Stderr(std::io::stderr()));
    let _ = DROPPED.set(writer.error_counter());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    if std::env::var("DOCSVC_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    guard
}

/// Lines dropped from a full queue or not written (0 before [`init`], as in tests that serve
/// in-process).
pub fn dropped_lines() -> u64 {
    let queue = DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX));
    queue.saturating_add(FAILED.load(Ordering::Relaxed))
}
