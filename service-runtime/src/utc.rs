//! Calendar dates in UTC for log lines, without a time-zone library: the
//! logs only ever show UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment split into its UTC calendar parts, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UtcSecond {
    pub(crate) year: u64,
    pub(crate) month: u64,
    pub(crate) day: u64,
    pub(crate) hour: u64,
    pub(crate) minute: u64,
    pub(crate) second: u64,
}

impl UtcSecond {
    /// The calendar parts of `seconds` since 1970-01-01 00:00:00 UTC.
    pub(crate) fn from_unix(seconds: u64) -> UtcSecond {
        let (year, month, day) = civil_from_days(seconds / 86_400);
        let second_of_day = seconds % 86_400;
        UtcSecond {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
        }
    }

    /// The calendar parts of `time`; times before 1970 show as 1970.
    pub(crate) fn of(time: SystemTime) -> UtcSecond {
        let seconds = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        UtcSecond::from_unix(seconds)
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date, after
/// Howard Hinnant's published `civil_from_days` algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_cross_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn seconds_split_into_calendar_parts() {
        let parts = UtcSecond::from_unix(1_709_644_021);
        let shown = (parts.year, parts.month, parts.day);
        assert_eq!(shown, (2024, 3, 5));
        assert_eq!((parts.hour, parts.minute, parts.second), (13, 7, 1));
    }
}
