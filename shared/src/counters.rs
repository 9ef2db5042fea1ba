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

/// A stock level with its sales counters, as the stream image and the level item carry it: what
/// alert rules evaluate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelSnapshot {
    pub sku: String,
    pub location: String,
    pub quantities: crate::domain::Quantities,
    /// Units sold per hour bucket (`hours since epoch`).
    pub sold_hourly: BTreeMap<i64, i64>,
    /// Units sold per day bucket (`days since epoch`).
    pub sold_daily: BTreeMap<i64, i64>,
    pub last_sale_at: Option<i64>,
    pub last_receipt_at: Option<i64>,
    pub created_at: Option<i64>,
    /// The level item's version (increments with every change).
    pub version: i64,
    /// The reorder point the replenishment run last set on the level (None before its first).
    pub reorder_point: Option<i64>,
    /// Held units counts cut short whose holds are still open.
    pub short_units: i64,
    /// The level's receipts (and transfer arrivals) since a time, read from the receipts index
    /// when a `stock_drop` rule needs them (None: not read).
    pub recent_receipts: Option<RecentReceipts>,
}

/// Receipts of a level since `since` (unix seconds): (when, units), as its receipts index shows
/// them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentReceipts {
    pub since: i64,
    pub entries: Vec<(i64, i64)>,
}

impl LevelSnapshot {
    /// Units sold in the last `hours` hours, a window that slides with the clock: the current
    /// hour so far, the full hours before it, and the part of the oldest hour still inside.
    pub fn sold_in_hours(&self, now: i64, hours: i64) -> f64 {
        sliding_sum(&self.sold_hourly, now, 3600, hours)
    }

    /// Units received in the `hours`-hour window ending at `now`, if they are known: zero when
    /// the level's last receipt came before the window opened; else from its receipts read since
    /// the window opened, provided they reach its last receipt (the receipts index is written
    /// from the stream and can be a moment behind the level).
    pub fn received_in_hours(&self, now: i64, hours: i64) -> Option<i64> {
        let opened = now - hours * 3600;
        match self.last_receipt_at {
            Some(last) if last > opened => {
                let r = self.recent_receipts.as_ref()?;
                let complete = r.since <= opened && r.entries.iter().any(|(at, _)| *at >= last);
                complete.then(|| {
                    r.entries
                        .iter()
                        .filter(|(at, _)| *at > opened && *at <= now)
                        .map(|(_, units)| units)
                        .sum()
                })
            }
            _ => Some(0),
        }
    }

    /// Units sold in the last `days` days (24-hour periods), sliding like [`Self::sold_in_hours`]:
    /// midnight does not empty a one-day window, nor cut a day off a week.
    pub fn sold_in_days(&self, now: i64, days: i64) -> f64 {
        sliding_sum(&self.sold_daily, now, 86_400, days)
    }
}

/// The sum of `buckets` (each `width` seconds, keyed by `start / width`) over the `count × width`
/// seconds ending at `now`. The oldest bucket only partly overlaps the window and counts in
/// proportion, as if its sales were spread evenly through it; the rest count in full.
fn sliding_sum(buckets: &BTreeMap<i64, i64>, now: i64, width: i64, count: i64) -> f64 {
    let current = now.div_euclid(width);
    let elapsed = now.rem_euclid(width) as f64 / width as f64;
    let whole: i64 = buckets
        .range(current - count + 1..=current)
        .map(|(_, v)| v)
        .sum();
    let oldest = buckets.get(&(current - count)).copied().unwrap_or(0);
    whole as f64 + oldest as f64 * (1.0 - elapsed)
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
