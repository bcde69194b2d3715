//! Identifiers in the shapes the real services use: Orca's ULIDs, Slack's `ts` and random tokens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub(crate) fn now_ms() -> i64 {
    i64::try_from(since_epoch().as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn now_secs() -> i64 {
    i64::try_from(since_epoch().as_secs()).unwrap_or(i64::MAX)
}

pub(crate) fn now_micros() -> u64 {
    u64::try_from(since_epoch().as_micros()).unwrap_or(u64::MAX)
}

fn since_epoch() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

pub(crate) fn epoch_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Fills `out` with random bytes; if the OS generator ever fails, a counter mixed with the clock
/// still keeps identifiers distinct (they only need to be unique, not secret).
pub(crate) fn random_bytes(out: &mut [u8]) {
    if SystemRandom::new().fill(out).is_ok() {
        return;
    }
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut seed = now_micros() ^ FALLBACK.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    for byte in out.iter_mut() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        *byte = seed.to_le_bytes()[0];
    }
}

/// A 26-character ULID (48-bit millisecond time + 80 random bits, Crockford base32), like Orca's ids.
pub(crate) fn new_ulid() -> String {
    let mut random = [0u8; 10];
    random_bytes(&mut random);
    let time = u128::try_from(now_ms()).unwrap_or(0) & ((1u128 << 48) - 1);
    let mut value = time << 80;
    for (index, byte) in random.iter().enumerate() {
        value |= u128::from(*byte) << (8 * (9 - index));
    }
    (0..26)
        .map(|position| {
            let shift = 5 * (25 - position);
            let digit = usize::try_from((value >> shift) & 0x1f).unwrap_or(0);
            char::from(CROCKFORD[digit])
        })
        .collect()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

pub(crate) fn random_hex(len_bytes: usize) -> String {
    let mut bytes = vec![0u8; len_bytes];
    random_bytes(&mut bytes);
    hex(&bytes)
}

/// Slack's `ts`: `<unix seconds>.<6 digits>`; strictly increasing so every message has its own.
#[derive(Debug, Default)]
pub(crate) struct TsClock {
    last_micros: u64,
}

impl TsClock {
    pub(crate) fn next(&mut self) -> String {
        let micros = now_micros().max(self.last_micros.saturating_add(1));
        self.last_micros = micros;
        format_ts(micros)
    }
}

pub(crate) fn format_ts(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulid_has_orca_shape_and_is_unique() {
        let first = new_ulid();
        let second = new_ulid();
        assert_eq!(first.len(), 26);
        assert!(first.bytes().all(|b| CROCKFORD.contains(&b)));
        assert_ne!(first, second);
        // The time prefix sorts with creation time.
        assert!(first[..10] <= second[..10]);
    }

    #[test]
    fn ts_is_slack_shaped_and_strictly_increasing() {
        let mut clock = TsClock::default();
        let a = clock.next();
        let b = clock.next();
        let (secs, frac) = a.split_once('.').expect("a dot");
        assert!(secs.len() >= 10 && secs.bytes().all(|c| c.is_ascii_digit()));
        assert_eq!(frac.len(), 6);
        assert!(b.parse::<f64>().expect("number") > a.parse::<f64>().expect("number"));
        assert_eq!(format_ts(1_712_570_401_000_300), "1712570401.000300");
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
