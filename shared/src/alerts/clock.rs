//! The alert clock: what is owed because time passed, when no stock change comes to say so.
//! Run every minute by a schedule (EventBridge Scheduler on AWS, a ticker locally), it walks the
//! episodes index (trackers with an open episode or owed deliveries) and, for each:
//!
//! - sends the deliveries that came due (quiet hours ended, a retry after a failure, or a claim
//!   whose sender died and whose lease ran out);
//! - reminds an unacknowledged episode whose `repeat_minutes` have passed;
//! - re-evaluates the rule on the level as it is now, so a window rule (sales velocity, stock
//!   drop, days of cover) resolves when its window has slid past the burst;
//! - closes the episodes of rules that were deleted, disabled or changed in kind, thresholds or
//!   selector (with the resolved notice when the rule, still there, asks for one);
//! - sweeps its share of the stock levels for the time-based rules (no sale, no receipt, stock
//!   age), so every level is checked once an hour, or once in N hours ([`super::sweep`]).
//!
//! It goes through the same episode driver as the stream ([`Evaluator::drive`]), with a clock
//! trigger: a level that changed after the clock read it is left to the stream.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::{
    driver::Trigger,
    engine::{Evaluator, RecordError},
    evaluate::{evaluate_change, evaluate_clock, Verdict},
    rules::{fingerprint, Rule},
    store::{silenced, IndexedEpisode},
    sweep::{due_shards, Sweep, SweepReport},
};
use crate::store::StoreError;

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Episodes looked at (open, or with deliveries owed).
    pub episodes: usize,
    /// Episodes closed because their rule was deleted, disabled or changed.
    pub closed_for_rule_change: usize,
    /// Episodes whose level is gone (closed too).
    pub closed_for_missing_level: usize,
    /// Episodes that failed this tick (tried again on the next); the others went on.
    pub failed: usize,
    /// The time-rule sweep of this tick (empty while no time-based rule is enabled).
    pub sweep: SweepReport,
}

/// Episodes handled at once in a tick (each is a few requests to DynamoDB and at most a send).
const CONCURRENCY: usize = 32;

/// What the clock did with one episode.
enum Handled {
    Driven,
    ClosedForRuleChange,
    ClosedForMissingLevel,
}

/// The clock, built once at init.
pub struct AlertClock {
    evaluator: Arc<Evaluator>,
    sweep_hours: u32,
}

impl AlertClock {
    /// A clock whose sweep checks every level once an hour.
    pub fn new(evaluator: Arc<Evaluator>) -> Self {
        Self {
            evaluator,
            sweep_hours: 1,
        }
    }

    /// Checks every level once in `hours` (1 to 24) instead: one shard every `hours` minutes.
    pub fn with_sweep_hours(mut self, hours: u32) -> Self {
        self.sweep_hours = hours.clamp(1, 24);
        self
    }

    /// One tick at the evaluator's clock time.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        super::outage::scoped(Box::pin(self.run())).await
    }

    async fn run(&self) -> Result<TickReport, StoreError> {
        let now = self.evaluator.now();
        let store = self.evaluator.store();
        let (rules, silences) = store.load_rules_and_silences(now).await?;
        let rules: HashMap<&str, &Rule> = rules.iter().map(|r| (r.rule_id.as_str(), r)).collect();
        let episodes = store.indexed_episodes().await?;
        let mut report = TickReport {
            episodes: episodes.len(),
            ..TickReport::default()
        };
        let (rules, silences) = (&rules, &silences);
        let open: HashSet<(String, String, String)> = episodes
            .iter()
            .filter(|e| e.open)
            .map(|e| (e.rule_id.clone(), e.sku.clone(), e.location.clone()))
            .collect();
        let outcomes: Vec<Result<Handled, RecordError>> = stream::iter(episodes)
            .map(|episode| {
                let silenced = silenced(silences, &episode.rule_id, &episode.sku);
                let rule = rules.get(episode.rule_id.as_str()).copied();
                async move {
                    let outcome = self.one(&episode, rule, silenced).await;
                    if let Err(e) = &outcome {
                        // One episode never blocks the others; it is tried on the next tick.
                        tracing::error!(error = %e, rule = %episode.rule_id, sku = %episode.sku,
                            location = %episode.location, "clock: episode failed");
                    }
                    outcome
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Ok(Handled::Driven) => {}
                Ok(Handled::ClosedForRuleChange) => report.closed_for_rule_change += 1,
                Ok(Handled::ClosedForMissingLevel) => report.closed_for_missing_level += 1,
                Err(_) => report.failed += 1,
            }
        }

        // The time-rule sweep: this minute's shard of the levels (and any a missed tick left).
        let minute = now.div_euclid(60);
        let shards = due_shards(store.sweep_cursor().await?, minute, self.sweep_hours);
        let time_rules: Vec<&Rule> = rules
            .values()
            .copied()
            .filter(|r| r.enabled && r.condition.swept())
            .collect();
        if !time_rules.is_empty() && !shards.is_empty() {
            let sweep = Sweep {
                evaluator: &self.evaluator,
                rules: time_rules,
                silences,
                open,
            };
            // A shard that could not be read leaves the cursor, so the next tick reads it again.
            report.sweep = sweep.run(&shards).await?;
        }
        store.advance_sweep_cursor(minute).await?;
        Ok(report)
    }

    async fn one(
        &self,
        episode: &IndexedEpisode,
        rule: Option<&Rule>,
        silenced: bool,
    ) -> Result<Handled, RecordError> {
        let store = self.evaluator.store();
        let now = self.evaluator.now();
        let current = rule.filter(|r| {
            r.enabled && episode.rule_fingerprint.as_deref() == Some(fingerprint(r).as_str())
        });
        let Some(rule) = current else {
            // Deleted, disabled or changed: the episode it opened no longer means anything. What
            // it still owes is sent with the rule as it is, or dropped if the rule is gone.
            let handled = if episode.open {
                self.evaluator
                    .close_episode(episode, rule, true, "rule-changed")
                    .await?;
                Handled::ClosedForRuleChange
            } else {
                self.evaluator.settle_owed(episode, rule).await?;
                Handled::Driven
            };
            store.unindex_if_settled(episode).await?;
            return Ok(handled);
        };
        let Some(mut level) = self
            .evaluator
            .level(&episode.sku, &episode.location)
            .await?
        else {
            let handled = if episode.open {
                self.evaluator
                    .close_episode(episode, Some(rule), false, "level-gone")
                    .await?;
                Handled::ClosedForMissingLevel
            } else {
                self.evaluator.settle_owed(episode, Some(rule)).await?;
                Handled::Driven
            };
            store.unindex_if_settled(episode).await?;
            return Ok(handled);
        };
        if let crate::alerts::rules::Condition::StockDrop { window_hours, .. } = rule.condition {
            self.evaluator
                .read_receipts(&mut level, window_hours)
                .await?;
        }
        let verdict = if rule.condition.on_change() {
            evaluate_change(rule, &level, now)
        } else {
            evaluate_clock(rule, &level, now)
        };
        // A rule the clock does not decide (disabled above) holds what it has.
        let verdict = match verdict {
            Verdict::NotApplicable => Verdict::Hold,
            v => v,
        };
        self.evaluator
            .drive(
                rule,
                &level,
                verdict,
                Trigger::Clock {
                    version: level.version,
                    minute: now.div_euclid(60),
                },
                silenced,
                &mut None,
            )
            .await?;
        // Only an episode that was closed, or may just have been, can leave the index (a
        // conditional write that fails still costs a write unit).
        if !episode.open || verdict == Verdict::Clear {
            store.unindex_if_settled(episode).await?;
        }
        Ok(Handled::Driven)
    }
}
