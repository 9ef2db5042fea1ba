//! The episode driver: one lifecycle for every trigger. A verdict on (rule, level) opens,
//! reminds or resolves the episode through a conditional write, then the owed deliveries go out,
//! each channel on its own. The stream evaluator and the alert clock both drive through here.

use sha2::{Digest, Sha256};

use super::{
    clock::fingerprint,
    deliveries::{Channel, Delivery, DeliveryStatus},
    evaluate::{decide, message, Decision, Event, LevelSnapshot, Verdict},
    evaluator::{Evaluator, RecordError},
    notify::Attributes,
    rules::Rule,
    store::{EpisodeKey, Pending, SkuProfile, Tracker, Transition},
};
use crate::{metrics, store::StoreError};

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

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

fn deliveries(rule: &Rule, event: Event) -> Vec<Pending> {
    Delivery::owed(rule, event)
        .into_iter()
        .map(Delivery::key)
        .collect()
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
        if let Some(open) = tracker.open.as_ref() {
            if tracker.rule_fingerprint.as_deref() != Some(fingerprint(rule).as_str()) {
                // Opened under another version of the rule (changed, or deleted and created
                // again): that episode ends here, as the clock would end it; this rule's own
                // episode opens on the next verdict.
                let pending = if rule.notify_on_resolve {
                    deliveries(rule, Event::Resolved)
                } else {
                    Vec::new()
                };
                tracing::info!(rule = %rule.rule_id, sku = %new.sku, alert = %open.alert_id, "episode of an earlier rule version closed");
                let tracker = settle(
                    self.store
                        .resolve(
                            &rule.rule_id,
                            &new.sku,
                            &new.location,
                            &open.alert_id,
                            &pending,
                            None,
                            "rule-changed",
                            &rfc3339(now),
                        )
                        .await?,
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
        let now_text = rfc3339(now);
        let mut opened = false;
        let tracker = match decision {
            Decision::Nothing => tracker,
            Decision::Fire(_) | Decision::Remind(_) if silenced => return Ok(false),
            Decision::Fire(obs) => {
                let id = alert_id(&rule.rule_id, &new.sku, &new.location, &trigger.id());
                let pending = deliveries(rule, Event::Fired);
                tracing::info!(rule = %rule.rule_id, sku = %new.sku, location = %new.location, alert = %id, "alert fires");
                let fired = self
                    .store
                    .fire(
                        rule,
                        &id,
                        &new.sku,
                        &new.location,
                        &obs,
                        &pending,
                        guard,
                        now,
                        &now_text,
                    )
                    .await?;
                opened = matches!(fired, Transition::Applied(_));
                if opened {
                    metrics::count("AlertsFired", ("Kind", rule.condition.kind()));
                }
                settle(fired)
            }
            Decision::Resolve => {
                let Some(open) = tracker.open.as_ref() else {
                    return Ok(false);
                };
                let pending = if rule.notify_on_resolve {
                    deliveries(rule, Event::Resolved)
                } else {
                    Vec::new()
                };
                tracing::info!(rule = %rule.rule_id, sku = %new.sku, alert = %open.alert_id, "alert resolves");
                let resolved = self
                    .store
                    .resolve(
                        &rule.rule_id,
                        &new.sku,
                        &new.location,
                        &open.alert_id,
                        &pending,
                        Some(guard),
                        "evaluator",
                        &now_text,
                    )
                    .await?;
                if matches!(resolved, Transition::Applied(_)) {
                    metrics::count("AlertsResolved", ("Kind", rule.condition.kind()));
                }
                settle(resolved)
            }
            Decision::Remind(_) => {
                let Some(open) = tracker.open.as_ref() else {
                    return Ok(false);
                };
                settle(
                    self.store
                        .remind(
                            &rule.rule_id,
                            &new.sku,
                            &new.location,
                            open,
                            &deliveries(rule, Event::Reminder),
                            guard,
                            now,
                            &now_text,
                        )
                        .await?,
                )
            }
        };
        self.deliver(rule, &tracker, new, now, profile).await?;
        Ok(opened)
    }

    /// A stock level as it is now (strongly consistent), None when there is none.
    pub async fn level(
        &self,
        sku: &str,
        location: &str,
    ) -> Result<Option<LevelSnapshot>, RecordError> {
        let item = self
            .ledger
            .client()
            .get_item()
            .table_name(self.ledger.table())
            .set_key(Some(crate::schema::keys::key(
                crate::schema::keys::sku(sku),
                crate::schema::keys::location(location),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?
            .item;
        match item {
            None => Ok(None),
            Some(item) => crate::levels::decode(&item)
                .map(|level| Some(level.snapshot))
                .map_err(|e| RecordError::Store(StoreError::Corrupt(e.to_string()))),
        }
    }

    /// Closes an open episode whose rule no longer holds it (deleted, disabled or changed) or
    /// whose level is gone, with the resolved notice when `notify` (the rule, still there) asks.
    pub async fn close_episode(
        &self,
        episode: &crate::alerts::store::IndexedEpisode,
        notify: Option<&Rule>,
        by: &str,
    ) -> Result<(), RecordError> {
        let Some(alert_id) = episode.alert_id.as_deref() else {
            return Ok(());
        };
        let pending = notify
            .map(|r| deliveries(r, Event::Resolved))
            .unwrap_or_default();
        let now_text = rfc3339(self.clock.now());
        tracing::info!(rule = %episode.rule_id, sku = %episode.sku, alert = %alert_id, by, "episode closed");
        let tracker = settle(
            self.store
                .resolve(
                    &episode.rule_id,
                    &episode.sku,
                    &episode.location,
                    alert_id,
                    &pending,
                    None,
                    by,
                    &now_text,
                )
                .await?,
        );
        if let (Some(rule), Some(level)) =
            (notify, self.level(&episode.sku, &episode.location).await?)
        {
            self.deliver(rule, &tracker, &level, self.clock.now(), &mut None)
                .await?;
        }
        Ok(())
    }

    /// Sends what the tracker still owes, outside the rule's quiet hours, each channel on its own
    /// and in order (fired before reminders before resolved). Each outcome is recorded on the
    /// alert: sent; refused for good (a non-throttling 4xx: recorded with the provider's reason,
    /// never retried); or retrying (throttling, 5xx, timeouts past the SDK's own retries: it stays
    /// owed, and the record fails so it is tried again, without the deliveries already settled).
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
        let Some(alert_id) = tracker.alert_id.as_deref() else {
            return Ok(());
        };
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
        let owed = Delivery::sorted(
            tracker
                .pending
                .iter()
                .filter_map(|k| Delivery::parse(k))
                .collect(),
        );
        let now_text = rfc3339(now);
        let mut transient = None;
        for delivery in owed {
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
                    tracing::error!(error = %e, delivery = %delivery.key(), "delivery refused for good");
                    DeliveryStatus::Failed {
                        at: now_text.clone(),
                        reason: e.message.clone(),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, delivery = %delivery.key(), "delivery failed; it stays owed");
                    let status = DeliveryStatus::Retrying {
                        at: now_text.clone(),
                        reason: e.message.clone(),
                    };
                    transient = Some(e);
                    status
                }
            };
            let outcome = match &status {
                DeliveryStatus::Sent { .. } => "DeliveriesSent",
                DeliveryStatus::Failed { .. } => "DeliveriesFailed",
                _ => "DeliveriesRetried",
            };
            metrics::count(outcome, ("Channel", delivery.channel.as_str()));
            self.store
                .record_delivery(&episode, alert_id, delivery, &status)
                .await?;
        }
        match transient {
            Some(e) => Err(RecordError::Notify(e)),
            None => Ok(()),
        }
    }
}

fn settle(t: Transition) -> Tracker {
    match t {
        Transition::Applied(t) | Transition::AlreadyDone(t) => t,
    }
}
