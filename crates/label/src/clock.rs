//! The time written to `labelled_at`: now, or `SOURCE_DATE_EPOCH` when set
//! (the reproducible-builds convention), as RFC 3339 UTC to the second.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now as RFC 3339 UTC (`2026-11-22T20:00:00Z`), or SOURCE_DATE_EPOCH
/// (seconds since 1970) when it is set to a number.
pub fn utc_now() -> String {
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or_else(SystemTime::now, |s| UNIX_EPOCH + Duration::from_secs(s));
    humantime::format_rfc3339_seconds(now).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> String {
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
    }

    #[test]
    fn formats_dates() {
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_377_600), "2026-11-22T20:00:00Z");
    }
}
