//! Durations as people write them (`500ms`, `30s`, `5m`, `1h`, or a number of seconds): flags
//! and the strategy's health checks read them with the one parser here.

use std::time::Duration;

/// The longest duration oss takes: a year. Longer is surely a slip, and the lock waits
/// compute deadlines from it (`now + timeout`), which must not overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// `500ms`, `30s`, `5m`, `1h`, or a bare number of seconds, up to [`MAX_DURATION`]. Never
/// panics, whatever the text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let shown = crate::echo::Echo(text);
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{shown}` is not a duration such as 30s or 5m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit `{}` in `{shown}`; use ms, s, m or h",
                crate::echo::Echo(unit)
            ));
        }
    };
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if duration <= MAX_DURATION => Ok(duration),
        _ => Err(format!(
            "`{shown}` is longer than the longest duration oss takes ({}h)",
            MAX_DURATION.as_secs() / 3600
        )),
    }
}

/// A duration the way [`parse_duration`] reads it back (`500ms`, `5s`, `1.5s`).
pub fn show(duration: Duration) -> String {
    let ms = duration.as_millis();
    match ms % 1000 {
        0 => format!("{}s", ms / 1000),
        _ if ms < 1000 => format!("{ms}ms"),
        _ => format!("{}s", duration.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
    }

    #[test]
    fn shown_durations_read_back() {
        for ms in [1, 500, 1000, 1500, 5000, 90_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&show(d)), Ok(d), "{}", show(d));
        }
    }
}
