//! Wall-clock time as RFC 3339 UTC text, for lock info and log lines, and the timestamps at
//! the start of log lines read back (`oss logs --since`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `2026-11-25T01:02:03Z`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Unix seconds as RFC 3339 UTC (proleptic Gregorian calendar).
pub fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Civil-from-days (H. Hinnant's algorithm, public domain description).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The Unix seconds of a timestamp at the start of `line` (after an optional `[`):
/// `2026-11-25T01:02:03Z`, with a space for the `T`, a fraction, and `Z`, `+HH:MM` or nothing
/// (UTC) after it. `None`: the line does not start with one.
pub fn leading_timestamp(line: &str) -> Option<u64> {
    let text = line.strip_prefix('[').unwrap_or(line).as_bytes();
    let digits = |from: usize, len: usize| -> Option<i64> {
        let part = text.get(from..from + len)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| text.get(at).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"T ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    if sep(at, b".,") {
        at += 1;
        while text.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
    }
    let offset = match text.get(at) {
        Some(b'+' | b'-') if sep(at + 3, b":") => {
            let sign = if text[at] == b'+' { 1 } else { -1 };
            sign * (digits(at + 1, 2)? * 3600 + digits(at + 4, 2)? * 60)
        }
        _ => 0,
    };
    // Days from civil (H. Hinnant's algorithm, public domain description).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_leading_timestamps() {
        use super::leading_timestamp as at;
        assert_eq!(at("2026-11-25T01:02:03Z started"), Some(1_795_568_523));
        assert_eq!(at("[2026-11-25 01:02:03.125] x"), Some(1_795_568_523));
        assert_eq!(at("2026-11-25T03:02:03+02:00 x"), Some(1_795_568_523));
        assert_eq!(at("2000-02-29T00:00:00"), Some(951_782_400));
        for line in [
            "",
            "hello",
            "2026-13-01T00:00:00Z",
            "2026-11-25",
            "[    0.000000] Linux",
        ] {
            assert_eq!(at(line), None, "{line:?}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_568_523), "2026-11-25T01:02:03Z");
    }
}
