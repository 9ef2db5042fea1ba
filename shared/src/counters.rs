//! The rolling counters a stock level carries for the alert evaluator and the daily report: units
//! sold per hour for the last [`HOURS`] hours, and units sold, received, refunded and written off
//! per day for the last [`DAYS`] days. Pure.
//!
//! Each counter is a fixed-length list (a ring: hour `h` lives in slot `h mod HOURS`, day `d` in
//! slot `d mod DAYS`), and the level records the hour it has counted up to (`ctr_hour`, the
//! head). So the item's size never depends on when sales happen. A write in the head's hour adds
//! to its slot under the condition that the head is still that hour; the first write of a later
//! hour finds the condition false, learns the old head from the item DynamoDB returns with the
//! cancellation, and zeroes exactly the slots that rolled out of the window (see
//! `store/transaction.rs`). The write-off ring came last: a level from before it has none until
//! its first write-off (or a change that counts nothing) gives it one, and reads as no write-offs.

use std::collections::BTreeMap;

/// Hourly sales slots (the longest velocity or drop window, in hours).
/// How far back the counters a level carries reach: hourly sales for the rate-of-change rules,
/// daily sales for days of cover, and daily received, refunded and sold units for the daily
/// report.
pub const HOURLY_RETENTION: i64 = HOURS;
pub const DAILY_RETENTION: i64 = 30;

pub const HOURS: i64 = 48;
/// Daily slots: the longest days-of-cover lookback (29 days) plus today, and slack.
pub const DAYS: i64 = 32;

/// The slot of an hour (or day) in a ring of `len`.
pub fn slot(at: i64, len: i64) -> usize {
    at.rem_euclid(len) as usize
}

/// A ring of `len` slots read back as (hour or day → units) for the window ending at `head`,
/// leaving out empty slots.
pub fn unroll(values: &[i64], head: i64, len: i64) -> BTreeMap<i64, i64> {
    (0..len)
        .map(|back| head - back)
        .filter_map(|at| {
            let units = *values.get(slot(at, len))?;
            (units != 0).then_some((at, units))
        })
        .collect()
}

/// The slots that leave the window when its head moves from `from` to `to` (every slot once the
/// move is a whole ring or more; none when `to` is not after `from`).
pub fn rolled(from: i64, to: i64, len: i64) -> Rolled {
    if to <= from {
        Rolled::None
    } else if to - from >= len {
        Rolled::All
    } else {
        Rolled::Slots((from + 1..=to).map(|at| slot(at, len)).collect())
    }
}

/// What [`rolled`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rolled {
    None,
    All,
    Slots(Vec<usize>),
}

impl Rolled {
    pub fn contains(&self, s: usize) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Slots(v) => v.contains(&s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_reads_back_only_the_window_ending_at_its_head() {
        let mut ring = vec![0; HOURS as usize];
        // Hours 1000 and 1047 are in the window ending at 1047; 999 shares no slot with them.
        ring[slot(1000, HOURS)] = 3;
        ring[slot(1047, HOURS)] = 5;
        assert_eq!(
            unroll(&ring, 1047, HOURS),
            BTreeMap::from([(1000, 3), (1047, 5)])
        );
        // Moving the head on without rolling would misread slot 1000 as hour 1048.
        assert_eq!(
            unroll(&ring, 1048, HOURS),
            BTreeMap::from([(1047, 5), (1048, 3)])
        );
    }

    #[test]
    fn rolling_forward_frees_exactly_the_slots_of_the_new_hours() {
        assert_eq!(rolled(10, 10, HOURS), Rolled::None);
        assert_eq!(rolled(10, 9, HOURS), Rolled::None);
        assert_eq!(rolled(10, 12, HOURS), Rolled::Slots(vec![11, 12]));
        assert_eq!(rolled(46, 49, HOURS), Rolled::Slots(vec![47, 0, 1]));
        assert_eq!(rolled(10, 58, HOURS), Rolled::All);
        assert!(rolled(10, 12, HOURS).contains(12) && !rolled(10, 12, HOURS).contains(10));
    }
}
