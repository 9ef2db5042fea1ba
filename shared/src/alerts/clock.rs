//! The alert clock: what is owed because time passed, when no stock change comes to say so.
//! Run every minute by a schedule (EventBridge Scheduler on AWS, a ticker locally), it walks the
//! episodes index (trackers with an open episode or owed deliveries) and, for each:
//!
//! - sends the deliveries that came due (quiet hours ended, or a retry after a failure);
//! - reminds an unacknowledged episode whose `repeat_minutes` have passed;
//! - re-evaluates the rule on the level as it is now, so a window rule (sales velocity, stock
//!   drop, days of cover) resolves when its window has slid past the burst;
//! - closes the episodes of rules that were deleted, disabled or changed in kind, thresholds or
//!   selector (with the resolved notice when the rule, still there, asks for one).
//!
//! It goes through the same episode driver as the stream ([`Evaluator::drive`]), with a clock
//! trigger: a level that changed after the clock read it is left to the stream.

use std::{collections::HashMap, sync::Arc};

use serde::Serialize;

use super::{
    evaluate::{evaluate_change, evaluate_clock, Verdict},
    evaluator::{Evaluator, RecordError, Trigger},
    rules::Rule,
    store::IndexedEpisode,
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
}

/// The clock, built once at init.
pub struct AlertClock {
    evaluator: Arc<Evaluator>,
}

impl AlertClock {
    pub fn new(evaluator: Arc<Evaluator>) -> Self {
        Self { evaluator }
    }

    /// One tick at the evaluator's clock time.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let now = self.evaluator.now();
        let store = self.evaluator.store();
        let (rules, silences) = store.load_rules_and_silences(now).await?;
        let rules: HashMap<&str, &Rule> = rules.iter().map(|r| (r.rule_id.as_str(), r)).collect();
        let mut report = TickReport::default();
        for episode in store.indexed_episodes().await? {
            report.episodes += 1;
            let silenced = silences.iter().any(|s| {
                s.silence_id == format!("rule:{}", episode.rule_id)
                    || s.silence_id == format!("sku:{}", episode.sku)
            });
            match self
                .one(
                    &episode,
                    rules.get(episode.rule_id.as_str()).copied(),
                    silenced,
                    &mut report,
                )
                .await
            {
                Ok(()) => {}
                Err(e) => {
                    // One episode never blocks the others; it is tried again on the next tick.
                    tracing::error!(error = %e, rule = %episode.rule_id, sku = %episode.sku,
                        location = %episode.location, "clock: episode failed");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    async fn one(
        &self,
        episode: &IndexedEpisode,
        rule: Option<&Rule>,
        silenced: bool,
        report: &mut TickReport,
    ) -> Result<(), RecordError> {
        let store = self.evaluator.store();
        let now = self.evaluator.now();
        let current = rule.filter(|r| {
            r.enabled && episode.rule_fingerprint.as_deref() == Some(fingerprint(r).as_str())
        });
        let Some(rule) = current else {
            // Deleted, disabled or changed: the episode it opened no longer means anything.
            if episode.open {
                report.closed_for_rule_change += 1;
                self.evaluator
                    .close_episode(
                        episode,
                        rule.filter(|r| r.notify_on_resolve),
                        "rule-changed",
                    )
                    .await?;
            }
            store.unindex_if_settled(episode).await?;
            return Ok(());
        };
        let Some(level) = self
            .evaluator
            .level(&episode.sku, &episode.location)
            .await?
        else {
            if episode.open {
                report.closed_for_missing_level += 1;
                self.evaluator
                    .close_episode(episode, None, "level-gone")
                    .await?;
            }
            store.unindex_if_settled(episode).await?;
            return Ok(());
        };
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
            )
            .await?;
        store.unindex_if_settled(episode).await?;
        Ok(())
    }
}

/// What an episode's meaning depends on: the rule's kind, parameters and selector. A rule
/// replaced with other values of these closes its open episodes.
pub fn fingerprint(rule: &Rule) -> String {
    use sha2::{Digest, Sha256};
    let text = serde_json::json!({ "condition": rule.condition, "selector": rule.selector });
    hex::encode(&Sha256::digest(text.to_string().as_bytes())[..8])
}
