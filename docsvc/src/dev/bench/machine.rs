//! What the machine does under a measurement, read from Linux and its tools: pinning a
//! process to cores (`taskset`), its peak RSS, the fsyncs it made (a
//! `perf stat` count of the syscall tracepoints, which costs the measured process nothing),
//! and the disk's durable sequential write rate.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use super::err;
use crate::Result;

/// Pins every thread of this process to `cores` (`taskset -a -p -c`); false if it could not.
pub(super) fn pin_self(cores: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", cores, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The cores this process may use now, `0-(n-1)` (call it before pinning).
pub(super) fn all_cores() -> String {
    let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    format!("0-{}", n.saturating_sub(1))
}

/// Starts the peak-RSS count of this process afresh (writing 5 to `clear_refs`).
pub(super) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak RSS of process `pid` (`self` for this one) since it started or since
/// [`reset_peak_rss`], in MiB.
pub(super) fn peak_rss_mib(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// fsync and fdatasync calls of this process, counted by `perf stat` from the moment
/// [`SyncCount::start`] returns until [`SyncCount::stop`]; `None` where perf or its tracepoints
/// are not available (the figure is then reported without it).
pub(super) struct SyncCount {
    perf: Child,
    dir: std::path::PathBuf,
}

impl SyncCount {
    pub(super) fn start() -> Option<Self> {
        let dir = super::tempfile_dir().ok()?;
        let perf = Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync",
                "-p",
                &std::process::id().to_string(),
                "-o",
            ])
            .arg(dir.join("perf.csv"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // perf attaches within a few milliseconds; a count that starts late only misses
        // syncs, it never invents them.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Some(SyncCount { perf, dir })
    }

    /// Stops the count (SIGINT, so perf writes its totals) and returns the syncs seen.
    pub(super) fn stop(mut self) -> Option<u64> {
        let _ = Command::new("kill")
            .args(["-INT", &self.perf.id().to_string()])
            .status();
        self.perf.wait().ok()?;
        let text = std::fs::read_to_string(self.dir.join("perf.csv")).ok();
        let _ = std::fs::remove_dir_all(&self.dir);
        let text = text?;
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.contains("syscalls:sys_enter_"))
            .filter_map(|l| l.split(',').next()?.trim().parse().ok())
            .collect();
        (counts.len() == 2).then(|| counts.iter().sum())
    }
}

/// MB/s of writing `bytes` sequentially to a new file in `dir` and making it durable
/// (`fdatasync` at the end): the ceiling of any store that writes into `dir`'s filesystem.
pub(super) fn durable_write_rate(dir: &Path, bytes: usize) -> Result<f64> {
    let path = dir.join("bench-disk.bin");
    let block = vec![0xa5u8; (1 << 20).min(bytes)];
    let start = Instant::now();
    let mut f = std::fs::File::create(&path).map_err(err)?;
    for _ in 0..bytes / block.len() {
        f.write_all(&block).map_err(err)?;
    }
    f.sync_data().map_err(err)?;
    let elapsed = start.elapsed();
    drop(f);
    let _ = std::fs::remove_file(&path);
    #[allow(clippy::cast_precision_loss)]
    Ok(bytes as f64 / 1e6 / elapsed.as_secs_f64())
}
