//! The time-rule sweep. A time-based rule (no sale, no receipt, stock age) becomes true because
//! days pass, with no stock change to say so; only a look at the level finds it. The alert clock
//! therefore looks at every stock level once an hour: the level index (`levels`, keys only, see
//! [`keys::LEVEL_INDEX`]) splits the levels into 60 shards, and each minute's tick reads the shard
//! of that minute (and any a missed tick left, at most one full round).
//!
//! A level is read with one eventually consistent `BatchGetItem` (0.5 read units up to 4 KB),
//! never the ledger; the sweep writes only when a rule newly fires: through the one episode
//! driver, with a clock trigger, so a level that changed after the sweep read it is left to the
//! stream. Open episodes are the episode walk's (they resolve within a minute of a sale or a
//! receipt); the sweep only opens. One level that cannot be read or driven is logged and counted,
//! and the others go on.

use std::collections::HashSet;

use futures_util::stream::{self, StreamExt};

use super::{
    driver::Trigger,
    engine::{Evaluator, RecordError},
    evaluate::{evaluate_clock, LevelSnapshot, Verdict},
    rules::Rule,
    store::{silenced, Silence, SkuProfile},
};
use crate::{
    levels,
    schema::{keys, Item},
    store::StoreError,
};

/// Batches read at once.
const READERS: usize = 8;
/// Episodes opened at once.
const DRIVERS: usize = 32;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Shards read (one a minute; more after missed ticks).
    pub shards: usize,
    /// Levels read and checked against the time-based rules.
    pub levels: usize,
    /// Episodes the sweep opened.
    pub opened: usize,
    /// Levels left out: unreadable items, or a failure opening their episode (seen again on the
    /// next round).
    pub skipped: usize,
}

/// The shards due at `minute` when the sweep last finished `cursor`, for a round of `hours`:
/// shard `(m / hours) mod 60` falls due at each minute `m` divisible by `hours`. All the due
/// minutes after the cursor, at most one full round; only this minute's before the first sweep.
pub fn due_shards(cursor: Option<i64>, minute: i64, hours: u32) -> Vec<u32> {
    let shards = i64::from(keys::LEVEL_SHARDS);
    let every = i64::from(hours.max(1));
    let from = match cursor {
        Some(c) if c >= minute => return Vec::new(),
        Some(c) => (c + 1).max(minute - shards * every + 1),
        None => minute,
    };
    (from..=minute)
        .filter(|m| m.rem_euclid(every) == 0)
        .map(|m| m.div_euclid(every).rem_euclid(shards) as u32)
        .collect()
}

/// The sweep of one tick.
pub(super) struct Sweep<'a> {
    pub evaluator: &'a Evaluator,
    /// The enabled time-based rules.
    pub rules: Vec<&'a Rule>,
    pub silences: &'a [Silence],
    /// (rule, SKU, location) of the episodes already open.
    pub open: HashSet<(String, String, String)>,
}

impl Sweep<'_> {
    /// Reads and checks the levels of `shards`. An error means a shard could not be read (the
    /// caller leaves the cursor so the next tick reads it again).
    pub async fn run(&self, shards: &[u32]) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        for &shard in shards {
            let store = self.evaluator.store();
            let (client, table) = (store.client(), store.table());
            let keys = levels::shard_keys(client, table, shard).await?;
            let chunks: Vec<Vec<Item>> = keys.chunks(levels::BATCH).map(<[Item]>::to_vec).collect();
            let items: Vec<Result<Vec<Item>, StoreError>> = stream::iter(chunks)
                .map(|chunk| levels::batch_get(client, table, chunk))
                .buffer_unordered(READERS)
                .collect()
                .await;
            let mut found = Vec::new();
            for batch in items {
                for item in batch? {
                    match levels::decode(&item) {
                        Ok(level) => found.push(level.snapshot),
                        Err(e) => {
                            tracing::error!(error = %e, key = ?keys::of(&item), "sweep: level left out");
                            report.skipped += 1;
                        }
                    }
                }
            }
            report.shards += 1;
            report.levels += found.len();
            let outcomes: Vec<Result<usize, RecordError>> = stream::iter(found)
                .map(|level| async move { self.level(&level).await })
                .buffer_unordered(DRIVERS)
                .collect()
                .await;
            for outcome in outcomes {
                match outcome {
                    Ok(opened) => report.opened += opened,
                    Err(e) => {
                        tracing::error!(error = %e, "sweep: level failed; seen again next round");
                        report.skipped += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    /// Checks one level against every time-based rule that selects it; opens what fires and is
    /// not open yet. Returns the number of episodes it opened.
    async fn level(&self, level: &LevelSnapshot) -> Result<usize, RecordError> {
        let now = self.evaluator.now();
        let mut profile: Option<SkuProfile> = None;
        let mut opened = 0;
        for rule in &self.rules {
            // The verdict first: most levels hold no time-based alert, and it costs no lookup.
            let verdict = evaluate_clock(rule, level, now);
            if !matches!(verdict, Verdict::Firing(_)) {
                continue;
            }
            if self.open.contains(&(
                rule.rule_id.clone(),
                level.sku.clone(),
                level.location.clone(),
            )) {
                continue;
            }
            if !self
                .evaluator
                .selects(rule, &level.sku, &level.location, &mut profile)
                .await?
            {
                continue;
            }
            let fired = self
                .evaluator
                .drive(
                    rule,
                    level,
                    verdict,
                    Trigger::Clock {
                        version: level.version,
                        minute: now.div_euclid(60),
                    },
                    silenced(self.silences, &rule.rule_id, &level.sku),
                    &mut profile,
                )
                .await?;
            opened += usize::from(fired);
        }
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_minute_reads_its_shard_and_a_missed_tick_is_caught_up_once() {
        assert_eq!(due_shards(None, 125, 1), vec![5]);
        assert_eq!(due_shards(Some(124), 125, 1), vec![5]);
        assert_eq!(due_shards(Some(125), 125, 1), Vec::<u32>::new());
        assert_eq!(due_shards(Some(130), 125, 1), Vec::<u32>::new());
        assert_eq!(due_shards(Some(121), 125, 1), vec![2, 3, 4, 5]);
        // Hours missed: one full round, every shard once.
        let mut all = due_shards(Some(0), 1_000, 1);
        assert_eq!(all.len(), 60);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 60);
    }

    #[test]
    fn a_longer_round_reads_a_shard_every_few_minutes_and_each_once_per_round() {
        // Every 6 hours: a shard at each minute divisible by 6.
        assert_eq!(due_shards(Some(599), 600, 6), vec![40]);
        assert_eq!(due_shards(Some(600), 605, 6), Vec::<u32>::new());
        assert_eq!(due_shards(Some(600), 606, 6), vec![41]);
        // A tick every 5 minutes (the schedule a parameter) still reads every shard in turn.
        let mut seen = Vec::new();
        let mut cursor = Some(0);
        for minute in (5..=360).step_by(5) {
            seen.extend(due_shards(cursor, minute, 6));
            cursor = Some(minute);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..60).collect::<Vec<u32>>());
    }
}
