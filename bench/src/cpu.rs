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
