//! Percentiles of one run, and the spread of a figure over several runs.

use serde::{Deserialize, Serialize};

/// The value at percentile `p` (0-100) of `sorted`, by nearest rank: the
/// smallest sample that at least `p` % of the samples do not exceed.
///
/// # Panics
///
/// When `sorted` is empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "a percentile needs at least one sample");
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sorts samples for [`percentile`]; NaN never occurs in measured times.
pub fn sorted(mut samples: Vec<f64>) -> Vec<f64> {
    samples.sort_by(f64::total_cmp);
    samples
}

/// One figure over several runs: the median, the extremes and every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The median run (the mean of the two middle runs for an even count).
    pub median: f64,
    /// The lowest run.
    pub min: f64,
    /// The highest run.
    pub max: f64,
    /// Every run, in the order they ran.
    pub runs: Vec<f64>,
}

impl Spread {
    /// The spread of `runs`; `None` when there is none.
    pub fn of(runs: &[f64]) -> Option<Spread> {
        if runs.is_empty() {
            return None;
        }
        let ordered = sorted(runs.to_vec());
        let middle = ordered.len() / 2;
        let median = if ordered.len() % 2 == 1 {
            ordered[middle]
        } else {
            (ordered[middle - 1] + ordered[middle]) / 2.0
        };
        Some(Spread {
            median,
            min: ordered[0],
            max: ordered[ordered.len() - 1],
            runs: runs.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples = sorted((1..=100).map(f64::from).rev().collect());
        assert_eq!(percentile(&samples, 50.0), 50.0);
        assert_eq!(percentile(&samples, 99.0), 99.0);
        assert_eq!(percentile(&samples, 100.0), 100.0);
        assert_eq!(percentile(&samples, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn spread_of_odd_and_even_counts() {
        let odd = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((odd.median, odd.min, odd.max), (2.0, 1.0, 3.0));
        assert_eq!(odd.runs, vec![3.0, 1.0, 2.0]);
        let even = Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(even.median, 2.5);
        assert!(Spread::of(&[]).is_none());
    }
}
