//! Where the operators' lines go (request lines, warnings, progress): stderr, through a writer
//! thread, so that a reader who falls behind (journald under load, a pipe nobody drains)
//! never holds up a request. Formatting stays on the caller's thread; only the write moves.
//! When the queue is full a line is dropped and counted (`docsvc_log_lines_dropped_total` on
//! `/metrics`), never waited for. These lines are for watching the node; the access log, which
//! is the evidence, is written and signed elsewhere and never dropped.

use std::io::{BufWriter, IsTerminal as _};
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

/// Lines held for the writer thread before new ones are dropped: about 2 MiB of request lines,
/// a burst of a second or more at the signing API's busiest.
pub const QUEUE_LINES: usize = 8_192;

/// The writer's count of dropped lines, once [`init`] has run.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Installs the process's subscriber: `DOCSVC_LOG` filters (default `info`),
/// `DOCSVC_LOG_FORMAT=json` makes every line JSON (the systemd unit sets it). Keep the guard
/// until the process ends: dropping it writes what is still queued.
///
/// # Panics
/// If a global subscriber was installed already (only `main` calls this, once).
#[must_use = "dropping the guard stops the writer thread"]
pub fn init() -> WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DOCSVC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: in a file or the journal, escape codes are noise.
    let ansi = std::io::stderr().is_terminal();
    // Buffered: the thread flushes whenever its queue runs empty, so a busy node writes many
    // lines a system call and an idle one still shows each line at once.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("docsvc-log")
        .finish(BufWriter::new(std::io::stderr()));
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

/// Lines dropped because the writer's queue was full (0 before [`init`], as in tests that
/// serve in-process).
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}
