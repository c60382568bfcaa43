//! Instants as whole Unix seconds, and every text form of a date this project writes or reads,
//! each a format description of the `time` crate.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// RFC 3339 UTC with whole seconds and `Z`: `2026-11-25T14:36:40Z`.
const RFC3339_Z: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
/// ISO 8601 basic format in UTC: `20261125T143640Z` (the signing date header).
const ISO8601_BASIC: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
/// Alipay's `timestamp`: `2026-11-25 22:36:40`, wall-clock time in Beijing.
const BEIJING: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
/// API Gateway's `requestContext.time`: `25/Nov/2026:14:36:40 +0000` (always UTC).
const API_GATEWAY_TIME: &[BorrowedFormatItem<'_>] =
    format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");

/// Beijing is UTC+8 all year (no daylight saving), so the offset is a constant.
const BEIJING_OFFSET_SECS: i64 = 8 * 3600;

/// An instant with one-second resolution (the contract's timestamps have whole seconds).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The system clock, truncated to the second (the epoch if the clock is before it).
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self(secs)
    }

    /// The instant `secs` seconds after the Unix epoch.
    pub const fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// This instant moved by `secs` (saturating).
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// RFC 3339 UTC with whole seconds and `Z`: `2026-11-25T14:36:40Z`.
    pub fn rfc3339(self) -> String {
        self.format_at_offset(0, RFC3339_Z)
            .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_owned())
    }

    /// Parses RFC 3339 (what [`Timestamp::rfc3339`] writes, and any offset).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        Some(Self(t.unix_timestamp()))
    }

    /// ISO 8601 basic format in UTC, `20261125T143640Z`; instants outside the years 0 to 9999
    /// are written as the last second of 9999 (no client sends those).
    pub fn iso8601_basic(self) -> String {
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .filter(|d| (0..=9999).contains(&d.year()))
            .and_then(|d| d.format(ISO8601_BASIC).ok())
            .unwrap_or_else(|| "99991231T235959Z".to_owned())
    }

    /// Parses exactly what [`Timestamp::iso8601_basic`] writes; `None` unless it names a real
    /// instant (no Feb 30, no second 60).
    pub fn parse_iso8601_basic(s: &str) -> Option<Self> {
        let t = Self(
            PrimitiveDateTime::parse(s, ISO8601_BASIC)
                .ok()?
                .assume_utc()
                .unix_timestamp(),
        );
        // The parser also takes a signed year; only the canonical text is this format.
        (t.iso8601_basic() == s).then_some(t)
    }

    /// Alipay's `timestamp`, `yyyy-MM-dd HH:mm:ss` in Beijing time; never reads the host's
    /// time zone.
    pub fn beijing(self) -> String {
        self.format_at_offset(BEIJING_OFFSET_SECS, BEIJING)
            .unwrap_or_else(|| "9999-12-31 23:59:59".to_owned())
    }

    /// Parses what [`Timestamp::beijing`] writes back into an instant.
    pub fn parse_beijing(s: &str) -> Option<Self> {
        let local = PrimitiveDateTime::parse(s, BEIJING).ok()?;
        Some(Self(
            local.assume_utc().unix_timestamp() - BEIJING_OFFSET_SECS,
        ))
    }

    /// This instant's wall-clock time at a fixed UTC offset, formatted; `None` when out of range.
    fn format_at_offset(
        self,
        offset_secs: i64,
        format: &[BorrowedFormatItem<'_>],
    ) -> Option<String> {
        let shifted = self.0.checked_add(offset_secs)?;
        OffsetDateTime::from_unix_timestamp(shifted)
            .ok()?
            .format(format)
            .ok()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// API Gateway's `requestContext.time` of an HTTP API event: `25/Nov/2026:14:36:40 +0000`.
pub fn api_gateway_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(API_GATEWAY_TIME)
        .unwrap_or_else(|_| "31/Dec/9999:23:59:59 +0000".to_owned())
}

/// API Gateway's `requestContext.timeEpoch`: milliseconds since the Unix epoch.
pub fn api_gateway_time_epoch(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_utc() {
        let t = Timestamp::from_unix(1_795_617_400);
        assert_eq!(t.rfc3339(), "2026-11-25T14:36:40Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.rfc3339()), Some(t));
    }

    #[test]
    fn iso8601_basic_is_strict() {
        let t = Timestamp::from_unix(1_795_617_400);
        assert_eq!(t.iso8601_basic(), "20261125T143640Z");
        assert_eq!(Timestamp::parse_iso8601_basic("20261125T143640Z"), Some(t));
        assert_eq!(Timestamp::from_unix(-1).iso8601_basic(), "19691231T235959Z");
        let far = Timestamp::from_unix(i64::MAX);
        assert_eq!(far.iso8601_basic(), "99991231T235959Z");
        for bad in ["+20261125T143640Z", "20261125T143640z", "2026112T143640Z"] {
            assert_eq!(Timestamp::parse_iso8601_basic(bad), None, "{bad}");
        }
    }

    #[test]
    fn api_gateway_forms() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_617_400)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(api_gateway_time(at), "25/Nov/2026:14:36:40 +0000");
        assert_eq!(api_gateway_time_epoch(at), 1_795_617_400_000);
        let early = OffsetDateTime::UNIX_EPOCH + time::Duration::days(4);
        assert_eq!(api_gateway_time(early), "05/Jan/1970:00:00:00 +0000");
    }
}
