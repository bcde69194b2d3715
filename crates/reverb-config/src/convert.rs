//! Text → typed values, with Spring's lenient spellings (booleans, durations, data sizes).

use std::time::Duration;

/// `true`/`false` in any case, and Spring's `on`/`off`, `yes`/`no`, `1`/`0`.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A TCP port, 0..=65535.
pub(crate) fn parse_port(text: &str) -> Option<u16> {
    text.trim().parse().ok()
}

/// `500ms`, `30s`, `5m`, `24h`, `2d` (also `ns`, `us`, decimals), ISO-8601 `PT24H`/`P1DT2H30M`,
/// or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim().to_ascii_lowercase();
    if let Some(iso) = text.strip_prefix('p') {
        return parse_iso_duration(iso);
    }
    let (number, unit) = split_number(&text)?;
    let seconds_per_unit = match unit.trim() {
        "" | "s" => 1.0,
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(number * seconds_per_unit).ok()
}

/// The part of an ISO-8601 duration after `P`, in `java.time.Duration`'s subset: days, then
/// after `T` hours, minutes and (fractional) seconds.
fn parse_iso_duration(rest: &str) -> Option<Duration> {
    let mut seconds = 0.0;
    let mut in_time = false;
    let mut remaining = rest;
    let mut saw_component = false;
    while !remaining.is_empty() {
        if let Some(after_t) = remaining.strip_prefix('t') {
            if in_time {
                return None;
            }
            in_time = true;
            remaining = after_t;
            continue;
        }
        let digits_end = remaining.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = remaining[..digits_end].parse().ok()?;
        let unit = remaining[digits_end..].chars().next()?;
        seconds += number
            * match (in_time, unit) {
                (false, 'd') => 86_400.0,
                (true, 'h') => 3600.0,
                (true, 'm') => 60.0,
                (true, 's') => 1.0,
                _ => return None,
            };
        remaining = &remaining[digits_end + unit.len_utf8()..];
        saw_component = true;
    }
    if !saw_component {
        return None;
    }
    Duration::try_from_secs_f64(seconds).ok()
}

/// A byte count: `64MB`, `32MiB`, `512kb`, or plain bytes. `KB`, `MB`, … are binary, as in
/// Spring's `DataSize`.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let (number, unit) = split_number(&text)?;
    let multiplier: u64 = match unit.trim() {
        "" | "b" => 1,
        "kb" | "kib" | "k" => 1 << 10,
        "mb" | "mib" | "m" => 1 << 20,
        "gb" | "gib" | "g" => 1 << 30,
        "tb" | "tib" | "t" => 1 << 40,
        _ => return None,
    };
    if number.fract() != 0.0 {
        return None;
    }
    let bytes = number * multiplier as f64;
    (bytes <= u64::MAX as f64).then_some(bytes as u64)
}

/// Splits `12.5ms` into `(12.5, "ms")`; the number must be non-negative and finite.
fn split_number(text: &str) -> Option<(f64, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..end].parse().ok()?;
    number.is_finite().then_some((number, &text[end..]))
}

/// Human form of a duration for `reverb config`: `24h`, `5m`, `1s`, `500ms`.
pub(crate) fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if millis >= size && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    format!("{millis}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_any_case_and_spring_words() {
        for text in ["true", "TRUE", " True ", "yes", "on", "1"] {
            assert_eq!(parse_bool(text), Some(true), "{text}");
        }
        for text in ["false", "False", "no", "off", "0"] {
            assert_eq!(parse_bool(text), Some(false), "{text}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn durations_accept_the_documented_forms() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("24h", Duration::from_secs(86_400)),
            ("2d", Duration::from_secs(172_800)),
            ("PT24H", Duration::from_secs(86_400)),
            ("pt0.5s", Duration::from_millis(500)),
            ("P1DT2H30M", Duration::from_secs(86_400 + 9000)),
            ("10", Duration::from_secs(10)),
            ("1.5s", Duration::from_millis(1500)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Some(expected), "{text}");
        }
        for bad in ["", "ten", "5 fortnights", "-5s", "P", "PT", "P1M", "PT1D"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_are_binary_like_spring_data_size() {
        assert_eq!(parse_size("64MB"), Some(64 << 20));
        assert_eq!(parse_size("32MiB"), Some(32 << 20));
        assert_eq!(parse_size("512 kb"), Some(512 << 10));
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("1.5MB"), None);
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn ports_are_u16() {
        assert_eq!(parse_port("8089"), Some(8089));
        assert_eq!(parse_port("0"), Some(0));
        assert_eq!(parse_port("65535"), Some(65535));
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("eighty"), None);
        assert_eq!(parse_port("-1"), None);
    }

    #[test]
    fn durations_format_in_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
