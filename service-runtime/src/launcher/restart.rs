//! When a dead worker is replaced, and when the main process gives up.
//!
//! A worker that lived at least [`STABLE_UPTIME`] is replaced at once. A
//! worker that died sooner is a quick death of its slot: the first one is
//! also replaced at once, each further one in a row waits twice as long as
//! the one before, from half a second up to `worker_restart_backoff_max`,
//! with ±20 % jitter so that workers do not restart in lockstep.
//!
//! A quick death before the worker reported ready is a failed start. A slot
//! is restarted after at most `worker_restart_limit` failed starts in a row
//! (0: no limit); at the next one, the first start plus that many restarts,
//! the main process stops every worker and exits with
//! [`crate::exit::CRASH_LOOP`], leaving the decision to systemd's own
//! restart limits. Workers that were killed after they started serving (by
//! an operator, the OOM killer) are only slowed down, never given up on.

use std::time::Duration;

use rand::Rng;

use crate::options::ServiceOpts;

/// A worker that lived this long is healthy: its slot's failures reset.
pub(crate) const STABLE_UPTIME: Duration = Duration::from_secs(10);

const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Tracks failed starts per worker slot.
#[derive(Debug)]
pub(crate) struct RestartPolicy {
    limit: u32,
    backoff_max: Duration,
    slots: Vec<SlotRecord>,
}

/// Deaths in a row of one worker slot.
#[derive(Clone, Copy, Debug, Default)]
struct SlotRecord {
    quick_deaths: u32,
    failed_starts: u32,
}

impl RestartPolicy {
    pub(crate) fn from_opts(opts: &ServiceOpts) -> Self {
        RestartPolicy {
            limit: opts.worker_restart_limit,
            backoff_max: Duration::from_secs_f64(opts.worker_restart_backoff_max),
            slots: Vec::new(),
        }
    }

    /// The configured limit of failed starts in a row.
    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    /// How long to wait before replacing the worker of `slot` that lived
    /// `lived` and had (`was_ready`) or had not reported ready; `None` when
    /// the policy gives up.
    pub(crate) fn next_delay(
        &mut self,
        slot: usize,
        lived: Duration,
        was_ready: bool,
    ) -> Option<Duration> {
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, SlotRecord::default());
        }
        let record = &mut self.slots[slot];
        if lived >= STABLE_UPTIME {
            *record = SlotRecord::default();
            return Some(Duration::ZERO);
        }
        record.quick_deaths += 1;
        record.failed_starts = if was_ready {
            0
        } else {
            record.failed_starts + 1
        };
        let (quick_deaths, failed_starts) = (record.quick_deaths, record.failed_starts);
        if self.limit > 0 && failed_starts > self.limit {
            return None;
        }
        Some(self.backoff(quick_deaths))
    }

    fn backoff(&self, failures: u32) -> Duration {
        if failures <= 1 {
            return Duration::ZERO;
        }
        let doublings = (failures - 2).min(30);
        let base = FIRST_BACKOFF
            .saturating_mul(1 << doublings)
            .min(self.backoff_max);
        let jitter = rand::rng().random_range(0.8..=1.2);
        base.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(limit: u32) -> RestartPolicy {
        RestartPolicy {
            limit,
            backoff_max: Duration::from_secs(30),
            slots: Vec::new(),
        }
    }

    #[test]
    fn a_healthy_worker_is_replaced_at_once() {
        let mut policy = policy(3);
        for _ in 0..10 {
            assert_eq!(
                policy.next_delay(0, STABLE_UPTIME, true),
                Some(Duration::ZERO)
            );
        }
    }

    #[test]
    fn failed_starts_back_off_then_give_up() {
        let mut policy = policy(5);
        let quick = Duration::from_millis(10);
        assert_eq!(policy.next_delay(0, quick, false), Some(Duration::ZERO));
        let expected = [0.5, 1.0, 2.0, 4.0];
        for seconds in expected {
            let delay = policy.next_delay(0, quick, false).unwrap().as_secs_f64();
            assert!(
                delay >= seconds * 0.8 - 1e-9 && delay <= seconds * 1.2 + 1e-9,
                "{delay}"
            );
        }
        assert_eq!(policy.next_delay(0, quick, false), None);
    }

    #[test]
    fn slots_are_counted_apart_and_reset_by_a_healthy_run() {
        let mut policy = policy(2);
        let quick = Duration::from_millis(10);
        policy.next_delay(0, quick, false);
        policy.next_delay(0, quick, false);
        assert!(policy.next_delay(1, quick, false).is_some());
        assert_eq!(
            policy.next_delay(0, STABLE_UPTIME, true),
            Some(Duration::ZERO)
        );
        assert!(policy.next_delay(0, quick, false).is_some());
    }

    #[test]
    fn workers_killed_after_they_served_are_slowed_but_never_given_up() {
        let mut policy = policy(2);
        let quick = Duration::from_millis(10);
        for _ in 0..20 {
            assert!(policy.next_delay(0, quick, true).is_some());
        }
        assert!(policy.next_delay(0, quick, true).unwrap() > Duration::ZERO);
    }

    #[test]
    fn backoff_is_capped() {
        let mut policy = policy(0);
        let quick = Duration::from_millis(10);
        for _ in 0..100 {
            let delay = policy.next_delay(0, quick, false).unwrap();
            assert!(delay <= Duration::from_secs(36));
        }
    }
}
