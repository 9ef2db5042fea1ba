//! The one clock. Every component (the API, the stream evaluator, the scheduled work) takes the
//! time from a [`Clock`] handed to it at start-up, so tests and the local stack can move time
//! forward and watch windows slide, quiet hours end and reminders fall due.

use std::{
    fmt,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
};

/// Milliseconds since the Unix epoch, from the system or from a test's hand.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock({})", self.rfc3339())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

fn system_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Clock {
    /// The system's time (what runs on Lambda).
    pub fn system() -> Self {
        Self(Arc::new(system_millis))
    }

    /// The system's time plus `offset` seconds, which the holder of `offset` may change at any
    /// moment (the local stack's clock offset, the tests' `advance_clock`).
    pub fn offset(offset: Arc<AtomicI64>) -> Self {
        Self(Arc::new(move || {
            system_millis() + offset.load(Ordering::Relaxed) * 1000
        }))
    }

    /// A clock that reads `f` (milliseconds since the epoch).
    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub fn now_millis(&self) -> i64 {
        (self.0)()
    }

    /// Seconds since the epoch.
    pub fn now(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// The time as written on items: RFC 3339, UTC, milliseconds (`2026-11-28T03:01:57.649Z`).
    pub fn rfc3339(&self) -> String {
        rfc3339_millis(self.now_millis())
    }
}

/// RFC 3339, UTC, to the second, of a time in seconds since the epoch (a silence's end, a
/// delivery's time); empty for a time out of range.
pub fn rfc3339_seconds(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Milliseconds since the epoch of an RFC 3339 time in any offset (None when it is not one).
pub fn millis_of(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// RFC 3339 with milliseconds, UTC, of a time in milliseconds since the epoch.
pub fn rfc3339_millis(millis: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_else(|_| millis.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_moves_when_its_offset_does() {
        let offset = Arc::new(AtomicI64::new(0));
        let clock = Clock::offset(offset.clone());
        let before = clock.now();
        offset.store(3600, Ordering::Relaxed);
        assert!((clock.now() - before - 3600).abs() <= 1);
    }

    #[test]
    fn times_are_written_with_milliseconds_in_utc() {
        assert_eq!(
            rfc3339_millis(1_764_302_517_649),
            "2025-11-28T04:01:57.649Z"
        );
        assert_eq!(Clock::from_fn(|| 0).rfc3339(), "1970-01-01T00:00:00.000Z");
    }
}
