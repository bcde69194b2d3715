//! The one clock: the wall clock, as every replica and Slack read it (so an NTP correction or a
//! suspended VM never leaves Reverb's time behind), moved along with Tokio's clock when a test
//! has paused and advanced it, so the epoch milliseconds stored with messages and the timers
//! that wait for them agree in tests too. Calendar formatting lives here as well.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(duration_ms)
        .unwrap_or(0);
    // Tokio's clock is the standard monotonic clock except in a test that paused it; then the
    // difference is how far the test moved time.
    let tokio_now = tokio::time::Instant::now().into_std();
    let std_now = std::time::Instant::now();
    match tokio_now.checked_duration_since(std_now) {
        Some(ahead) => wall.saturating_add(duration_ms(ahead)),
        None => wall.saturating_sub(duration_ms(std_now.saturating_duration_since(tokio_now))),
    }
}

/// `now_ms + delay` in epoch milliseconds, saturating.
pub fn after(now_ms: i64, delay: Duration) -> i64 {
    now_ms.saturating_add(duration_ms(delay))
}

/// How long from `now_ms` until `at_ms` (zero when it is past).
pub fn until(now_ms: i64, at_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(0))
}

/// A duration in whole milliseconds, saturating at `i64::MAX`.
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day) (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2024-04-08 10:05 UTC`.
pub fn utc_minutes(epoch_seconds: i64) -> String {
    let (year, month, day) = civil_from_days(epoch_seconds.div_euclid(86_400));
    let second_of_day = epoch_seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        second_of_day / 3600,
        (second_of_day % 3600) / 60
    )
}

/// RFC 3339 with milliseconds in UTC (`2024-04-08T10:00:00.005+00:00`), like Spring's error
/// timestamps.
pub fn rfc3339_ms(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let millis = epoch_ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}+00:00",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_calendar_dates() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000+00:00");
        assert_eq!(
            rfc3339_ms(1_712_570_400_005),
            "2024-04-08T10:00:00.005+00:00"
        );
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000+00:00");
        assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999+00:00");
        assert_eq!(utc_minutes(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minutes(1_712_570_700), "2024-04-08 10:05 UTC");
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(after(i64::MAX - 1, Duration::from_secs(1)), i64::MAX);
        assert_eq!(after(10, Duration::MAX), i64::MAX);
        assert_eq!(until(100, 50), Duration::ZERO);
        assert_eq!(until(100, 350), Duration::from_millis(250));
    }

    #[test]
    fn outside_a_paused_test_it_is_the_wall_clock() {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(duration_ms)
            .unwrap_or(0);
        assert!((now_ms() - wall).abs() < 1_000, "{} vs {wall}", now_ms());
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_moves_the_epoch_clock() {
        let before = now_ms();
        tokio::time::sleep(Duration::from_secs(90)).await;
        let moved = now_ms() - before;
        assert!((89_990..91_000).contains(&moved), "moved {moved} ms");
    }
}
