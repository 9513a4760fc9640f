//! CPU time used by this process, all threads together, for the idle-cost
//! figures.

use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

/// User plus system CPU time of the whole process so far, threads that
/// already ended included.
pub fn process_cpu_time() -> Duration {
    let mut usage = MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` through the pointer, which
    // points to a zeroed, properly aligned `rusage` owned by this frame.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(status, 0, "getrusage(RUSAGE_SELF) cannot fail");
    // SAFETY: getrusage returned 0, so it filled the value in; a zeroed
    // `rusage` is a valid value anyway (plain integers).
    let usage = unsafe { usage.assume_init() };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(value: libc::timeval) -> Duration {
    let seconds = u64::try_from(value.tv_sec).unwrap_or_default();
    let micros = u32::try_from(value.tv_usec).unwrap_or_default();
    Duration::from_secs(seconds) + Duration::from_micros(u64::from(micros))
}

/// User plus system CPU time used so far by process `pid` and by its
/// direct children (a service's workers), read from `/proc`. Processes
/// that vanish while being read count as zero.
pub fn process_tree_cpu_time(pid: u32) -> Duration {
    let mut ticks = stat_cpu_ticks(pid).map_or(0, |(_, ticks)| ticks);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return ticks_to_time(ticks);
    };
    for entry in entries.flatten() {
        let child = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok());
        if let Some((parent, child_ticks)) = child.and_then(stat_cpu_ticks)
            && parent == pid
        {
            ticks += child_ticks;
        }
    }
    ticks_to_time(ticks)
}

/// The parent id and the user plus system clock ticks of `pid`, from
/// `/proc/PID/stat`.
fn stat_cpu_ticks(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in brackets, may hold spaces: count from after it.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let parent = fields.get(1)?.parse().ok()?;
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((parent, user + system))
}

fn ticks_to_time(ticks: u64) -> Duration {
    // SAFETY: sysconf only reads a system constant; it has no
    // preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).unwrap_or(100).max(1);
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

/// A point from which CPU use is measured: wall time and CPU time together.
#[derive(Clone, Copy, Debug)]
pub struct CpuMark {
    wall: Instant,
    cpu: Duration,
}

impl CpuMark {
    /// The clocks as they read now.
    pub fn now() -> CpuMark {
        CpuMark {
            wall: Instant::now(),
            cpu: process_cpu_time(),
        }
    }

    /// CPU used since this mark, as a percentage of one core, and the wall
    /// seconds it was measured over.
    pub fn percent_of_core_since(&self) -> (f64, f64) {
        let later = CpuMark::now();
        let wall = later.wall.duration_since(self.wall).as_secs_f64();
        let cpu = later.cpu.saturating_sub(self.cpu).as_secs_f64();
        let percent = if wall > 0.0 { cpu / wall * 100.0 } else { 0.0 };
        (percent, wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_of_this_process_counts_its_own_time() {
        let pid = std::process::id();
        let before = process_tree_cpu_time(pid);
        let started = Instant::now();
        let mut spin = 0u64;
        while started.elapsed() < Duration::from_millis(200) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        assert!(process_tree_cpu_time(pid) > before);
        assert_eq!(stat_cpu_ticks(u32::MAX), None);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_time();
        let started = Instant::now();
        let mut sum = 0u64;
        while started.elapsed() < Duration::from_millis(30) {
            sum = std::hint::black_box(sum.wrapping_add(1));
        }
        assert!(process_cpu_time() > before);
    }
}
