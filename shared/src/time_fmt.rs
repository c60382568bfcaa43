//! Instants as whole Unix seconds, and the text forms the contract uses.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// An instant with one-second resolution (the contract's timestamps have whole seconds).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self(secs)
    }
    pub const fn from_unix(secs: i64) -> Self {
        Self(secs)
    }
    pub const fn unix(self) -> i64 {
        self.0
    }
    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }
    /// RFC 3339 UTC with whole seconds and `Z`: `2026-11-25T14:36:40Z`.
    pub fn rfc3339(self) -> String {
        self.format_at_offset(
            0,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
        )
        .unwrap_or_else(|| "9999-12-31T23:59:59Z".to_owned())
    }
    /// This instant's wall-clock time at a fixed UTC offset, formatted; `None` when out of range.
    pub fn format_at_offset(
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
    /// Parses what [`Timestamp::rfc3339`] writes.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        Some(Self(t.unix_timestamp()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
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
}
