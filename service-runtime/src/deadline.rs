//! Deadlines computed from durations an operator configures.
//!
//! A duration option accepts any number of seconds up to `u64::MAX`, far
//! beyond what an `Instant` can hold, and adding such a duration to an
//! instant panics. A deadline that far away means "never" to a running
//! service, so these functions cap the wait at a distance every platform
//! can represent.

use std::time::Duration;

use tokio::time::Instant;

/// About thirty years: "never" for any deadline of a running service.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// `start + wait`, with `wait` capped at thirty years.
pub(crate) fn after(start: Instant, wait: Duration) -> Instant {
    start + wait.min(FAR_FUTURE)
}

/// `now + wait`, with `wait` capped at thirty years.
pub(crate) fn from_now(wait: Duration) -> Instant {
    after(Instant::now(), wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_duration_gives_a_deadline_instead_of_a_panic() {
        let start = Instant::now();
        assert_eq!(after(start, Duration::MAX), start + FAR_FUTURE);
        assert_eq!(
            after(start, Duration::from_secs(u64::MAX)),
            start + FAR_FUTURE
        );
    }

    #[test]
    fn ordinary_durations_are_kept() {
        let start = Instant::now();
        assert_eq!(
            after(start, Duration::from_secs(60)),
            start + Duration::from_secs(60)
        );
    }
}
