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
/// `taskset -a` walks the threads one by one and fails when one ends under it (tokio's
/// blocking pool lets idle threads go), so it is tried a few times: a bench once ran its
/// P-384 figure unpinned that way, beside a pinned reference.
pub(super) fn pin_self(cores: &str) -> bool {
    (0..5).any(|_| {
        Command::new("taskset")
            .args(["-a", "-p", "-c", cores, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// How many cores this process may use now (one once it is pinned to one).
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The cores this process may use now, `0-(n-1)` (call it before pinning).
pub(super) fn all_cores() -> String {
    format!("0-{}", cores().saturating_sub(1))
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

/// CPU time and context switches of this whole process so far, from `/proc` (what every
/// thread used: the nodes, their database threads and the blocking pool), so that a figure can
/// say what one unit of its work cost.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Usage {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Voluntary and involuntary context switches of the threads alive now (a thread that
    /// ended took its count with it: a lower bound).
    pub switches: u64,
}

impl Usage {
    /// Now; `None` where `/proc` does not say.
    pub(super) fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The fields after the command name, which may hold spaces, start after its `)`.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 (11 and 12 after the name and state), in
        // USER_HZ ticks, 100 a second on Linux whatever the kernel's own tick.
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        let mut switches = 0u64;
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                continue; // ended meanwhile
            };
            switches += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split(':').nth(1)?.trim().parse::<u64>().ok())
                .sum::<u64>();
        }
        #[allow(clippy::cast_precision_loss)]
        Some(Usage {
            cpu_seconds: ticks as f64 / 100.0,
            switches,
        })
    }

    /// What was used from `earlier` to `self`.
    pub(super) fn since(self, earlier: Usage) -> Usage {
        Usage {
            cpu_seconds: (self.cpu_seconds - earlier.cpu_seconds).max(0.0),
            switches: self.switches.saturating_sub(earlier.switches),
        }
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.cpu_seconds += other.cpu_seconds;
        self.switches += other.switches;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPU spent between two readings shows in their difference, no more than the time that
    /// passed on every core; each sleep is a context switch.
    #[test]
    fn usage_counts_the_cpu_and_the_switches_between_two_readings() {
        let before = Usage::now().expect("/proc is readable");
        let start = Instant::now();
        let mut x = 0u64;
        let used = loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
            let used = Usage::now().expect("/proc is readable").since(before);
            if used.cpu_seconds >= 0.1 || start.elapsed().as_secs() >= 20 {
                break used;
            }
        };
        #[allow(clippy::cast_precision_loss)]
        let most = start.elapsed().as_secs_f64() * cores() as f64 + 0.02;
        assert!(
            used.cpu_seconds >= 0.1,
            "{used:?}: the spin's CPU time was not counted"
        );
        assert!(
            used.cpu_seconds <= most,
            "{used:?}: more CPU than {most:.2} s"
        );
        let before = Usage::now().expect("/proc is readable");
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let slept = Usage::now().expect("/proc is readable").since(before);
        assert!(slept.switches >= 5, "{slept:?}");
    }
}
