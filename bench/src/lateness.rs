//! How late periodic runs start, measured from inside the task.
//!
//! Each task keeps a [`TaskClock`]. The clock's phase is the scheduled time
//! of the task's first run: for a tokio interval the instant `tick()`
//! returns, for a framework task started with `run_immediately` the moment
//! its first run began (the runner places every later slot one spacing
//! after that moment). A later run at `now` belongs to the latest slot
//! `phase + k × spacing` that is not after `now`; its lateness is the
//! distance to that slot. Slots that passed without a run are counted as
//! missed, so a timer that drifts by more than one spacing shows up there
//! rather than as a small lateness.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::stats::{percentile, sorted};

/// The lateness record of one periodic task.
#[derive(Clone, Debug)]
pub struct TaskClock {
    spacing: Duration,
    origin: Instant,
    phase: Option<Instant>,
    last_slot: u128,
    missed: u64,
    samples: Vec<Sample>,
}

/// One run after the first: when it happened and how late it was.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    /// Seconds from the clock's origin to the run.
    at: f64,
    /// Seconds from the run's slot to the run.
    lateness: f64,
}

impl TaskClock {
    /// A clock for a task with the given spacing; `origin` is the common
    /// zero of all tasks' sample times (for the drift figure).
    pub fn new(spacing: Duration, origin: Instant) -> TaskClock {
        assert!(!spacing.is_zero(), "a periodic task needs a spacing");
        TaskClock {
            spacing,
            origin,
            phase: None,
            last_slot: 0,
            missed: 0,
            samples: Vec::new(),
        }
    }

    /// Sets the scheduled time of the first run, when the timer tells it.
    pub fn start_at(&mut self, first_slot: Instant) {
        self.phase = Some(first_slot);
    }

    /// Records a run that began at `now`. The first run only sets the
    /// phase, unless [`TaskClock::start_at`] already did.
    pub fn observe(&mut self, now: Instant) {
        let Some(phase) = self.phase else {
            self.phase = Some(now);
            return;
        };
        let since = now.saturating_duration_since(phase);
        let slot = since.as_nanos() / self.spacing.as_nanos();
        let slot_time = phase + self.spacing * u32::try_from(slot).unwrap_or(u32::MAX);
        if slot > self.last_slot + 1 {
            self.missed += u64::try_from(slot - self.last_slot - 1).unwrap_or(u64::MAX);
        }
        self.last_slot = self.last_slot.max(slot);
        self.samples.push(Sample {
            at: now.saturating_duration_since(self.origin).as_secs_f64(),
            lateness: now.saturating_duration_since(slot_time).as_secs_f64(),
        });
    }
}

/// Lateness over all tasks of one run, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatenessSummary {
    /// Number of tasks.
    pub tasks: usize,
    /// Spacing of every task, in milliseconds.
    pub spacing_ms: f64,
    /// Runs measured (every run after each task's first).
    pub runs: usize,
    /// Slots that passed without a run.
    pub missed_slots: u64,
    /// Median lateness.
    pub p50_ms: f64,
    /// 99th percentile lateness.
    pub p99_ms: f64,
    /// Largest lateness.
    pub max_ms: f64,
    /// Mean lateness in the last second minus the mean in the first second:
    /// a timer that drifts shows a growing lateness.
    pub drift_ms: f64,
    /// CPU used by the whole process over the measuring window, in percent
    /// of one core.
    pub cpu_percent: f64,
    /// Wall seconds of the CPU window.
    pub cpu_window_s: f64,
}

impl LatenessSummary {
    /// Summarises the clocks of every task. `cpu` is the CPU share and the
    /// window it was measured over, from [`crate::cpu::CpuMark`].
    pub fn of(clocks: &[TaskClock], cpu: (f64, f64)) -> LatenessSummary {
        let samples: Vec<Sample> = clocks
            .iter()
            .flat_map(|c| c.samples.iter().copied())
            .collect();
        let lateness = sorted(samples.iter().map(|s| s.lateness * 1000.0).collect());
        let pick = |p| {
            if lateness.is_empty() {
                0.0
            } else {
                percentile(&lateness, p)
            }
        };
        LatenessSummary {
            tasks: clocks.len(),
            spacing_ms: clocks
                .first()
                .map_or(0.0, |c| c.spacing.as_secs_f64() * 1000.0),
            runs: samples.len(),
            missed_slots: clocks.iter().map(|c| c.missed).sum(),
            p50_ms: pick(50.0),
            p99_ms: pick(99.0),
            max_ms: lateness.last().copied().unwrap_or(0.0),
            drift_ms: drift(&samples) * 1000.0,
            cpu_percent: cpu.0,
            cpu_window_s: cpu.1,
        }
    }
}

/// Mean lateness of the last second of samples minus that of the first.
fn drift(samples: &[Sample]) -> f64 {
    let (Some(first), Some(last)) = (
        samples.iter().map(|s| s.at).min_by(f64::total_cmp),
        samples.iter().map(|s| s.at).max_by(f64::total_cmp),
    ) else {
        return 0.0;
    };
    let mean_within = |from: f64, to: f64| {
        let window: Vec<f64> = samples
            .iter()
            .filter(|s| s.at >= from && s.at <= to)
            .map(|s| s.lateness)
            .collect();
        window.iter().sum::<f64>() / window.len().max(1) as f64
    };
    mean_within(last - 1.0, last) - mean_within(first, first + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACING: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn lateness_is_measured_from_the_latest_slot() {
        let origin = Instant::now();
        let mut clock = TaskClock::new(SPACING, origin);
        clock.observe(origin);
        clock.observe(origin + ms(101));
        clock.observe(origin + ms(203));
        let summary = LatenessSummary::of(&[clock], (0.0, 0.0));
        assert_eq!(summary.runs, 2);
        assert_eq!(summary.missed_slots, 0);
        assert!((summary.max_ms - 3.0).abs() < 1e-6, "{summary:?}");
        assert!((summary.p50_ms - 1.0).abs() < 1e-6, "{summary:?}");
    }

    #[test]
    fn skipped_slots_are_counted_as_missed() {
        let origin = Instant::now();
        let mut clock = TaskClock::new(SPACING, origin);
        clock.start_at(origin);
        clock.observe(origin + ms(100));
        clock.observe(origin + ms(420));
        let summary = LatenessSummary::of(&[clock], (0.0, 0.0));
        assert_eq!(summary.missed_slots, 2);
        assert!((summary.max_ms - 20.0).abs() < 1e-6, "{summary:?}");
    }

    #[test]
    fn a_timer_that_slips_shows_drift() {
        let origin = Instant::now();
        let mut clock = TaskClock::new(SPACING, origin);
        clock.start_at(origin);
        let mut at = origin;
        for _ in 0..30 {
            at += ms(101);
            clock.observe(at);
        }
        let summary = LatenessSummary::of(&[clock], (0.0, 0.0));
        assert!(summary.drift_ms > 15.0, "{summary:?}");
        let mut steady = TaskClock::new(SPACING, origin);
        steady.start_at(origin);
        for n in 1..30 {
            steady.observe(origin + SPACING * n + ms(1));
        }
        let summary = LatenessSummary::of(&[steady], (0.0, 0.0));
        assert!(summary.drift_ms.abs() < 1e-6, "{summary:?}");
    }
}
