//! The episode driver: one lifecycle for every trigger. A verdict on (rule, level) opens,
//! reminds or resolves the episode through a conditional write, then the owed deliveries go out,
//! each channel on its own. The stream evaluator and the alert clock both drive through here.

use sha2::{Digest, Sha256};

use super::{
    deliveries::{Channel, Delivery, DeliveryStatus},
    engine::{Evaluator, RecordError},
    evaluate::{decide, message, Decision, Event, LevelSnapshot, Verdict},
    notify::Attributes,
    outage,
    rules::{fingerprint, Rule},
    store::{Claim, EpisodeKey, Lease, SkuProfile, Step, Tracker, Transition},
};
use crate::{
    metrics,
    store::{self, keys, StoreError},
};

use crate::clock::rfc3339_seconds as rfc3339;

/// How long a sender's claim on a notice holds (seconds): longer than a send can take (the
/// notifier's timeouts bound one at well under a minute) and the record after it. A sender that
/// dies between sending and recording delays a second send by at most this.
pub const LEASE_SECONDS: i64 = 120;

/// What moves an episode, and what orders it against the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'a> {
    /// A stock change from the stream: this record, of this level version.
    Stream { event_id: &'a str, version: i64 },
    /// The clock (scheduled), having read the level at this version, at this minute.
    Clock { version: i64, minute: i64 },
}

impl Trigger<'_> {
    fn guard(self) -> crate::alerts::store::Guard {
        match self {
            Self::Stream { version, .. } => crate::alerts::store::Guard::Stream(version),
            Self::Clock { version, .. } => crate::alerts::store::Guard::Clock(version),
        }
    }

    /// What makes the alert id of an episode this trigger opens (the same on every redelivery).
    fn id(self) -> String {
        match self {
            Self::Stream { event_id, .. } => event_id.to_owned(),
            Self::Clock { minute, .. } => format!("clock:{minute}"),
        }
    }
}

/// What the rule owes for `event` of `alert_id`: nothing for a resolve the rule does not
/// announce.
fn deliveries(rule: &Rule, alert_id: &str, event: Event) -> Vec<Delivery> {
    if event == Event::Resolved && !rule.notify_on_resolve {
        return Vec::new();
    }
    Delivery::owed(rule, alert_id, event)
}

/// The alert id of the episode a stream record opens: the same on every redelivery.
fn alert_id(rule_id: &str, sku: &str, location: &str, event_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(rule_id)
        .chain_update([0])
        .chain_update(sku)
        .chain_update([0])
        .chain_update(location)
        .chain_update([0])
        .chain_update(event_id)
        .finalize();
    format!("al_{}", &hex::encode(digest)[..20])
}

impl Evaluator {
    /// Moves the episode of (rule, level) by a verdict: opens, reminds or resolves it through a
    /// conditional write, then sends what is owed. Stock changes and the clock share this one
    /// lifecycle; the trigger orders them ([`Trigger`]): a stock change not newer than the last
    /// transition's, or a clock reading older than it, only flushes owed deliveries. True when
    /// this call opened a new episode.
    pub async fn drive(
        &self,
        rule: &Rule,
        new: &LevelSnapshot,
        verdict: Verdict,
        trigger: Trigger<'_>,
        silenced: bool,
        profile: &mut Option<SkuProfile>,
    ) -> Result<bool, RecordError> {
        let now = self.clock.now();
        let tracker = self
            .store
            .tracker(&rule.rule_id, &new.sku, &new.location)
            .await?;
        let stale = match trigger {
            Trigger::Stream { version, .. } => tracker.level_version.is_some_and(|v| v >= version),
            Trigger::Clock { version, .. } => tracker.level_version.is_some_and(|v| v > version),
        };
        let guard = trigger.guard();
        let now_text = rfc3339(now);
        let episode = EpisodeKey {
            rule_id: &rule.rule_id,
            sku: &new.sku,
            location: &new.location,
        };
        if let Some(open) = tracker.open.as_ref() {
            if tracker.rule_fingerprint.as_deref() != Some(fingerprint(rule).as_str()) {
                // Opened under another version of the rule (changed, or deleted and created
                // again): that episode ends here, as the clock would end it; this rule's own
                // episode opens on the next verdict.
                let pending = deliveries(rule, &open.alert_id, Event::Resolved);
                tracing::info!(rule = %rule.rule_id, sku = %new.sku, alert = %open.alert_id, "episode of an earlier rule version closed");
                let step = Step::new(episode, &open.alert_id, &pending, now, &now_text);
                let tracker = owing(
                    self.store.resolve(&step, None, "rule-changed").await?,
                    &tracker,
                );
                self.deliver(rule, &tracker, new, now, profile).await?;
                return Ok(false);
            }
        }
        let decision = if stale {
            Decision::Nothing
        } else {
            decide(rule, verdict, tracker.open.as_ref(), now)
        };
        let mut opened = false;
        let tracker = match decision {
            Decision::Nothing => tracker,
            Decision::Fire(_) | Decision::Remind(_) if silenced => return Ok(false),
            Decision::Fire(obs) => {
                let id = alert_id(&rule.rule_id, &new.sku, &new.location, &trigger.id());
                let pending = deliveries(rule, &id, Event::Fired);
                tracing::info!(rule = %rule.rule_id, sku = %new.sku, location = %new.location, alert = %id, "alert fires");
                let step = Step::new(episode, &id, &pending, now, &now_text);
                let fired = self.store.fire(rule, &step, &obs, guard).await?;
                opened = matches!(fired, Transition::Applied(_));
                if opened {
                    metrics::count("AlertsFired", ("Kind", rule.condition.kind()));
                }
                owing(fired, &tracker)
            }
            Decision::Resolve => {
                let Some(open) = tracker.open.as_ref() else {
                    return Ok(false);
                };
                let pending = deliveries(rule, &open.alert_id, Event::Resolved);
                tracing::info!(rule = %rule.rule_id, sku = %new.sku, alert = %open.alert_id, "alert resolves");
                let step = Step::new(episode, &open.alert_id, &pending, now, &now_text);
                let resolved = self.store.resolve(&step, Some(guard), "evaluator").await?;
                if matches!(resolved, Transition::Applied(_)) {
                    metrics::count("AlertsResolved", ("Kind", rule.condition.kind()));
                }
                owing(resolved, &tracker)
            }
            Decision::Remind(_) => {
                let Some(open) = tracker.open.as_ref() else {
                    return Ok(false);
                };
                let pending = deliveries(rule, &open.alert_id, Event::Reminder);
                let step = Step::new(episode, &open.alert_id, &pending, now, &now_text);
                owing(self.store.remind(&step, open, guard).await?, &tracker)
            }
        };
        self.deliver(rule, &tracker, new, now, profile).await?;
        Ok(opened)
    }

    /// The one rule matcher: whether `rule`'s selector takes the level of `sku` at `location`,
    /// reading the SKU's attributes only if the selector needs them (once per level, through
    /// `profile`). The stream, the clock and the time-rule sweep all ask here.
    pub async fn selects(
        &self,
        rule: &Rule,
        sku: &str,
        location: &str,
        profile: &mut Option<SkuProfile>,
    ) -> Result<bool, RecordError> {
        if !rule.selector.needs_attributes() {
            return Ok(rule.selector.selects(sku, location, None));
        }
        let attributes = &self.store.sku_profile_once(sku, profile).await?.attributes;
        Ok(rule.selector.selects(sku, location, Some(attributes)))
    }

    /// A stock level as it is now (strongly consistent), None when there is none.
    pub async fn level(
        &self,
        sku: &str,
        location: &str,
    ) -> Result<Option<LevelSnapshot>, RecordError> {
        let key = keys::key(keys::sku(sku), keys::location(location));
        let item = store::read_item(self.levels.client(), self.levels.table(), key).await?;
        match item {
            None => Ok(None),
            Some(item) => crate::levels::decode(&item)
                .map(|level| Some(level.snapshot))
                .map_err(|e| RecordError::Store(StoreError::Corrupt(e.to_string()))),
        }
    }

    /// Gives `level` its receipts of the last `hours` hours (what a `stock_drop` rule with that
    /// window measures against), when it had one in that time; else reads nothing.
    pub async fn read_receipts(
        &self,
        level: &mut LevelSnapshot,
        hours: i64,
    ) -> Result<(), RecordError> {
        let since = self.clock.now() - hours * 3600;
        if level.last_receipt_at.is_none_or(|t| t <= since) {
            return Ok(());
        }
        let entries = crate::levels::receipts_since(
            self.levels.client(),
            self.levels.table(),
            (&level.sku, &level.location),
            since,
        )
        .await?;
        level.recent_receipts = Some(crate::counters::RecentReceipts { since, entries });
        Ok(())
    }

    /// Closes an open episode whose rule no longer holds it (deleted, disabled or changed) or
    /// whose level is gone, with the resolved notice when the rule (`notify`, if it is still
    /// there) asks for one.
    pub async fn close_episode(
        &self,
        episode: &crate::alerts::store::IndexedEpisode,
        notify: Option<&Rule>,
        announce: bool,
        by: &str,
    ) -> Result<(), RecordError> {
        let Some(alert_id) = episode.alert_id.as_deref() else {
            return Ok(());
        };
        let pending = notify
            .filter(|_| announce)
            .map(|r| deliveries(r, alert_id, Event::Resolved))
            .unwrap_or_default();
        let now = self.clock.now();
        let now_text = rfc3339(now);
        tracing::info!(rule = %episode.rule_id, sku = %episode.sku, alert = %alert_id, by, "episode closed");
        let step = Step::new(episode.key(), alert_id, &pending, now, &now_text);
        settle(self.store.resolve(&step, None, by).await?);
        self.settle_owed(episode, notify).await
    }

    /// Settles what a tracker whose rule no longer holds it (deleted, disabled or changed) still
    /// owes: sent with the rule as it now is, if it is still there (in its quiet hours' time);
    /// recorded as failed for good if the rule or the level is gone, since nothing is left to
    /// say it with. The tracker can then leave the episodes index.
    pub async fn settle_owed(
        &self,
        episode: &crate::alerts::store::IndexedEpisode,
        rule: Option<&Rule>,
    ) -> Result<(), RecordError> {
        let key = episode.key();
        let tracker = self
            .store
            .tracker(key.rule_id, key.sku, key.location)
            .await?;
        if tracker.pending.is_empty() {
            return Ok(());
        }
        let level = self.level(key.sku, key.location).await?;
        if let (Some(rule), Some(level)) = (rule, level.as_ref()) {
            return self
                .deliver(rule, &tracker, level, self.clock.now(), &mut None)
                .await;
        }
        let reason = if rule.is_none() {
            "the rule was deleted before this notice could go out"
        } else {
            "the stock level is gone"
        };
        let status = DeliveryStatus::Failed {
            at: rfc3339(self.clock.now()),
            reason: reason.to_owned(),
        };
        for delivery in tracker
            .pending
            .iter()
            .filter_map(|k| Delivery::parse(k, tracker.alert_id.as_deref()))
        {
            tracing::warn!(delivery = %delivery.key(), reason, "owed delivery dropped");
            metrics::count("DeliveriesFailed", ("Channel", delivery.channel.as_str()));
            self.store.record_delivery(&key, &delivery, &status).await?;
        }
        Ok(())
    }

    /// Sends what the tracker still owes, outside the rule's quiet hours, each channel on its own
    /// and in order (an earlier episode's notices first; fired before reminders before resolved).
    /// Each notice is claimed, then sent, then recorded: the claim ([`AlertStore::claim_delivery`])
    /// is a conditional write with a lease of [`LEASE_SECONDS`], so of the stream, the clock and
    /// an overlapping tick only the claimant sends; a sender that dies between sending and
    /// recording leaves the claim to run out, and the notice goes out again once, after it.
    /// Each outcome is recorded on its alert: sent; refused for good (a non-throttling 4xx:
    /// recorded with the provider's reason, never retried); or retrying (throttling, 5xx,
    /// timeouts past the SDK's own retries: it stays owed for the alert clock, and nothing
    /// fails). Once a channel has a notice retrying, or claimed by another sender, the later ones
    /// on that channel wait behind it, so a channel never says RESOLVED before the FIRED it
    /// ends; once a channel failed in this run ([`outage`]) the run sends nothing more on it.
    ///
    /// [`AlertStore::claim_delivery`]: super::store::AlertStore::claim_delivery
    async fn deliver(
        &self,
        rule: &Rule,
        tracker: &Tracker,
        level: &LevelSnapshot,
        now: i64,
        profile: &mut Option<SkuProfile>,
    ) -> Result<(), RecordError> {
        if tracker.pending.is_empty() || rule.quiet_hours.is_some_and(|q| q.contains(now)) {
            return Ok(());
        }
        let current = tracker.alert_id.as_deref();
        let name = self
            .store
            .sku_profile_once(&level.sku, profile)
            .await?
            .name
            .clone();
        let name = name.as_deref();
        let obs = crate::alerts::evaluate::observation_of(rule, level, now);
        let episode = EpisodeKey {
            rule_id: &rule.rule_id,
            sku: &level.sku,
            location: &level.location,
        };
        let stored: std::collections::HashMap<String, &str> = tracker
            .pending
            .iter()
            .filter_map(|k| Delivery::parse(k, current).map(|d| (d.key(), k.as_str())))
            .collect();
        let owed = Delivery::sorted(
            tracker
                .pending
                .iter()
                .filter_map(|k| Delivery::parse(k, current))
                .collect(),
            current,
        );
        let now_text = rfc3339(now);
        let mut waiting: Vec<Channel> = Vec::new();
        for delivery in owed {
            if waiting.contains(&delivery.channel) {
                continue;
            }
            if outage::is_down(delivery.channel) {
                waiting.push(delivery.channel);
                continue;
            }
            let key = delivery.key();
            let lease = Lease {
                owner: &self.owner,
                now,
                until: now + LEASE_SECONDS,
            };
            let stored_as = stored.get(&key).copied().unwrap_or(key.as_str());
            match self
                .store
                .claim_delivery(&episode, &delivery, stored_as, &lease)
                .await?
            {
                Claim::Held => {}
                // Sent by another sender since the tracker was read: on to the next.
                Claim::Settled => continue,
                // Another sender holds it: the later notices of this channel are not this
                // sender's to send before it.
                Claim::Taken => {
                    waiting.push(delivery.channel);
                    continue;
                }
            }
            let msg = message(
                rule,
                delivery.event,
                &level.sku,
                name,
                &level.location,
                &obs,
            );
            let sent = match delivery.channel {
                Channel::Sms => {
                    self.notifier
                        .publish(
                            &msg,
                            Attributes {
                                severity: rule.severity.as_str(),
                                sku: &level.sku,
                                location: &level.location,
                                kind: rule.condition.kind(),
                                event: delivery.event.as_str(),
                            },
                        )
                        .await
                }
                Channel::Email => self.notifier.email(&rule.channels.email, &msg).await,
            };
            let status = match sent {
                Ok(()) => DeliveryStatus::Sent {
                    at: now_text.clone(),
                },
                Err(e) if e.permanent => {
                    tracing::error!(error = %e, delivery = %key, "delivery refused for good");
                    DeliveryStatus::Failed {
                        at: now_text.clone(),
                        reason: e.message.clone(),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, delivery = %key, "delivery failed; it stays owed for the clock");
                    outage::mark_down(delivery.channel);
                    waiting.push(delivery.channel);
                    DeliveryStatus::Retrying {
                        at: now_text.clone(),
                        reason: e.message.clone(),
                    }
                }
            };
            let outcome = match &status {
                DeliveryStatus::Sent { .. } => "DeliveriesSent",
                DeliveryStatus::Failed { .. } => "DeliveriesFailed",
                _ => "DeliveriesRetried",
            };
            metrics::count(outcome, ("Channel", delivery.channel.as_str()));
            self.store
                .record_delivery(&episode, &delivery, &status)
                .await?;
        }
        Ok(())
    }
}

/// The tracker after a transition, owing what it owed before as well as what the transition
/// added (an applied transition hands back only what it added), so that a notice still owed
/// from before goes out first, in order.
fn owing(t: Transition, before: &Tracker) -> Tracker {
    match t {
        Transition::Applied(mut t) => {
            for key in &before.pending {
                // A key of the old form belongs to the alert the tracker had before.
                let key = Delivery::parse(key, before.alert_id.as_deref())
                    .map_or_else(|| key.clone(), |d| d.key());
                if !t.pending.contains(&key) {
                    t.pending.push(key);
                }
            }
            t
        }
        Transition::AlreadyDone(t) => t,
    }
}

fn settle(t: Transition) -> Tracker {
    match t {
        Transition::Applied(t) | Transition::AlreadyDone(t) => t,
    }
}
