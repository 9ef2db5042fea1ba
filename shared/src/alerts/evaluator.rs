//! The DynamoDB Streams handler: every stock-level change is evaluated against the matching
//! rules; episodes open, remind and resolve through conditional writes, and notifications go out
//! once. A record that cannot be processed is reported in `batchItemFailures`; the rest of the
//! batch is processed.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use aws_lambda_events::{
    dynamodb::EventRecord,
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::{
    evaluate::{decide, evaluate_change, message, Decision, Event, LevelSnapshot, Verdict},
    notify::{Attributes, Notifier, NotifyError},
    rules::Rule,
    store::{AlertStore, Pending, Silence, Tracker, Transition},
};
use crate::{domain::Quantities, store::StoreError};

/// Why one record could not be processed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("malformed stream record: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// The current time in seconds; injectable so tests can move the clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| time::OffsetDateTime::now_utc().unix_timestamp())
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn unix_of(text: &Option<String>) -> Option<i64> {
    text.as_deref().and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    })
}

/// The attributes of a stock-level item the evaluator reads from a stream image.
#[derive(Debug, Deserialize)]
struct LevelImage {
    #[serde(default)]
    entity: Option<String>,
    sku: String,
    location: String,
    on_hand: i64,
    #[serde(default)]
    reserved: i64,
    #[serde(default)]
    in_transit: i64,
    available: i64,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    sold_h: HashMap<String, i64>,
    #[serde(default)]
    sold_d: HashMap<String, i64>,
    #[serde(default)]
    last_sale_at: Option<String>,
    #[serde(default)]
    last_receipt_at: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    last_movement: Option<String>,
}

fn buckets(map: &HashMap<String, i64>, prefix: char) -> BTreeMap<i64, i64> {
    map.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(prefix)
                .and_then(|n| n.parse().ok())
                .map(|n| (n, *v))
        })
        .collect()
}

impl LevelImage {
    fn snapshot(&self) -> LevelSnapshot {
        LevelSnapshot {
            sku: self.sku.clone(),
            location: self.location.clone(),
            quantities: Quantities {
                on_hand: self.on_hand,
                reserved: self.reserved,
                in_transit: self.in_transit,
                available: self.available,
            },
            sold_hourly: buckets(&self.sold_h, 'h'),
            sold_daily: buckets(&self.sold_d, 'd'),
            last_sale_at: unix_of(&self.last_sale_at),
            last_receipt_at: unix_of(&self.last_receipt_at),
            created_at: unix_of(&self.created_at),
            version: self.version,
        }
    }
}

/// Parses a stock-level image from the stream (None for other entities).
pub fn level_from_image(image: serde_dynamo::Item) -> Result<Option<LevelSnapshot>, String> {
    let is_level = matches!(
        image.get("entity"),
        Some(serde_dynamo::AttributeValue::S(e)) if e == crate::store::entity::STOCK_LEVEL
    );
    if !is_level {
        return Ok(None);
    }
    let level: LevelImage = serde_dynamo::from_item(image).map_err(|e| e.to_string())?;
    Ok(
        (level.entity.as_deref() == Some(crate::store::entity::STOCK_LEVEL))
            .then(|| level.snapshot()),
    )
}

struct RuleCache {
    loaded: Instant,
    rules: Arc<Vec<Rule>>,
    silences: Arc<Vec<Silence>>,
}

/// The evaluator: built once at init, shared by every invocation.
pub struct Evaluator {
    store: AlertStore,
    notifier: Notifier,
    refresh: Duration,
    clock: Clock,
    cache: Mutex<Option<RuleCache>>,
}

fn deliveries(rule: &Rule, event: &str) -> Vec<Pending> {
    let mut out = Vec::new();
    if rule.channels.sms {
        out.push(format!("{event}:sms"));
    }
    if !rule.channels.email.is_empty() {
        out.push(format!("{event}:email"));
    }
    out
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
    pub fn new(store: AlertStore, notifier: Notifier, refresh: Duration, clock: Clock) -> Self {
        Self {
            store,
            notifier,
            refresh,
            clock,
            cache: Mutex::new(None),
        }
    }

    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    /// Rules and silences, reloaded at most every `refresh` (one query each), never per record.
    async fn rules(&self) -> Result<(Arc<Vec<Rule>>, Arc<Vec<Silence>>), StoreError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if c.loaded.elapsed() < self.refresh {
                return Ok((c.rules.clone(), c.silences.clone()));
            }
        }
        let (rules, silences) = self.store.load_rules_and_silences((self.clock)()).await?;
        let rules: Vec<Rule> = rules
            .into_iter()
            .filter(|r| r.enabled && r.condition.on_change())
            .collect();
        let entry = RuleCache {
            loaded: Instant::now(),
            rules: Arc::new(rules),
            silences: Arc::new(silences),
        };
        let out = (entry.rules.clone(), entry.silences.clone());
        *cache = Some(entry);
        Ok(out)
    }

    /// Handles one stream batch (the raw Lambda event, so one malformed record cannot fail the
    /// whole batch's deserialisation).
    pub async fn handle(&self, event: Value) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        let records = event
            .get("Records")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for raw in records {
            let id = raw
                .pointer("/dynamodb/SequenceNumber")
                .and_then(Value::as_str)
                .or_else(|| raw.get("eventID").and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned();
            let span = tracing::info_span!("record", sequence = %id);
            let _enter = span.enter();
            let result = match serde_json::from_value::<EventRecord>(raw) {
                Ok(record) => self.process(record).await,
                Err(e) => Err(RecordError::Malformed(e.to_string())),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "record failed; reported for retry");
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(id);
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    /// Evaluates one stock-level change.
    pub async fn process(&self, record: EventRecord) -> Result<(), RecordError> {
        let change = record.change;
        let Some(new) =
            level_from_image(change.new_image.clone()).map_err(RecordError::Malformed)?
        else {
            return Ok(());
        };
        let old = level_from_image(change.old_image.clone()).map_err(RecordError::Malformed)?;
        let new_image: Option<LevelImage> = serde_dynamo::from_item(change.new_image).ok();

        // The ledger line that made this change gets the level's exact before and after values.
        if let Some(image) = &new_image {
            if let Some(reference) = &image.last_movement {
                let changed = old.as_ref().is_none_or(|o| o.quantities != new.quantities)
                    || image.version <= 1;
                if changed {
                    self.store
                        .annotate_ledger(
                            reference,
                            old.as_ref().map(|o| &o.quantities),
                            &new.quantities,
                        )
                        .await?;
                }
            }
        }

        let (rules, silences) = self.rules().await?;
        let now = (self.clock)();
        let silenced = |rule: &Rule| {
            silences.iter().any(|s| {
                s.silence_id == format!("rule:{}", rule.rule_id)
                    || s.silence_id == format!("sku:{}", new.sku)
            })
        };
        let mut profile: Option<Option<(String, BTreeMap<String, String>)>> = None;
        for rule in rules.iter() {
            if !rule.selector.selects(&new.sku, &new.location, None)
                && !rule.selector.needs_attributes()
            {
                continue;
            }
            if rule.selector.needs_attributes() {
                if profile.is_none() {
                    profile = Some(self.store.sku_profile(&new.sku).await?);
                }
                let attrs = profile.as_ref().and_then(|p| p.as_ref()).map(|(_, a)| a);
                if !rule.selector.selects(&new.sku, &new.location, attrs) {
                    continue;
                }
            }
            let verdict = evaluate_change(rule, &new, now);
            match verdict {
                Verdict::NotApplicable | Verdict::Hold => continue,
                // Clear before and after: any episode was resolved when the level first cleared.
                Verdict::Clear
                    if old
                        .as_ref()
                        .is_some_and(|o| evaluate_change(rule, o, now) == Verdict::Clear) =>
                {
                    continue
                }
                _ => {}
            }
            let tracker = self
                .store
                .tracker(&rule.rule_id, &new.sku, &new.location)
                .await?;
            let quiet = silenced(rule);
            // A record older than the one behind the last transition (a redelivery, a retry of
            // an earlier batch) only flushes what is still owed.
            let stale = tracker.level_version.is_some_and(|v| v >= new.version);
            let decision = if stale {
                Decision::Nothing
            } else {
                decide(rule, verdict, tracker.open.as_ref(), now)
            };
            let now_text = rfc3339(now);
            let tracker = match decision {
                Decision::Nothing => tracker,
                Decision::Fire(_) | Decision::Remind(_) if quiet => continue,
                Decision::Fire(obs) => {
                    let id = alert_id(&rule.rule_id, &new.sku, &new.location, &record.event_id);
                    let pending = deliveries(rule, "fire");
                    tracing::info!(rule = %rule.rule_id, sku = %new.sku, location = %new.location, alert = %id, "alert fires");
                    settle(
                        self.store
                            .fire(
                                rule,
                                &id,
                                &new.sku,
                                &new.location,
                                &obs,
                                &pending,
                                new.version,
                                now,
                                &now_text,
                            )
                            .await?,
                    )
                }
                Decision::Resolve => {
                    let Some(open) = tracker.open.as_ref() else {
                        continue;
                    };
                    let pending = if rule.notify_on_resolve {
                        deliveries(rule, "resolve")
                    } else {
                        Vec::new()
                    };
                    tracing::info!(rule = %rule.rule_id, sku = %new.sku, alert = %open.alert_id, "alert resolves");
                    settle(
                        self.store
                            .resolve(
                                &rule.rule_id,
                                &new.sku,
                                &new.location,
                                &open.alert_id,
                                &pending,
                                Some(new.version),
                                "evaluator",
                                &now_text,
                            )
                            .await?,
                    )
                }
                Decision::Remind(_) => {
                    let Some(open) = tracker.open.as_ref() else {
                        continue;
                    };
                    settle(
                        self.store
                            .remind(
                                &rule.rule_id,
                                &new.sku,
                                &new.location,
                                open,
                                &deliveries(rule, "remind"),
                                new.version,
                                now,
                                &now_text,
                            )
                            .await?,
                    )
                }
            };
            self.deliver(rule, &tracker, &new, now, &mut profile)
                .await?;
        }
        Ok(())
    }

    /// Sends what the tracker still owes, outside the rule's quiet hours, marking each done.
    async fn deliver(
        &self,
        rule: &Rule,
        tracker: &Tracker,
        level: &LevelSnapshot,
        now: i64,
        profile: &mut Option<Option<(String, BTreeMap<String, String>)>>,
    ) -> Result<(), RecordError> {
        if tracker.pending.is_empty() || rule.quiet_hours.is_some_and(|q| q.contains(now)) {
            return Ok(());
        }
        if profile.is_none() {
            *profile = Some(self.store.sku_profile(&level.sku).await?);
        }
        let name = profile
            .as_ref()
            .and_then(|p| p.as_ref())
            .map(|(n, _)| n.as_str());
        let obs = crate::alerts::evaluate::observation_of(rule, level, now);
        for entry in &tracker.pending {
            let (event, channel) = entry.split_once(':').unwrap_or((entry, ""));
            let event_kind = match event {
                "fire" => Event::Fired,
                "remind" => Event::Reminder,
                _ => Event::Resolved,
            };
            let msg = message(rule, event_kind, &level.sku, name, &level.location, &obs);
            match channel {
                "sms" => {
                    self.notifier
                        .publish(
                            &msg,
                            Attributes {
                                severity: rule.severity.as_str(),
                                sku: &level.sku,
                                location: &level.location,
                                kind: rule.condition.kind(),
                                event,
                            },
                        )
                        .await?
                }
                "email" => self.notifier.email(&rule.channels.email, &msg).await?,
                _ => {}
            }
            self.store
                .delivered(&rule.rule_id, &level.sku, &level.location, entry)
                .await?;
        }
        Ok(())
    }
}

fn settle(t: Transition) -> Tracker {
    match t {
        Transition::Applied(t) | Transition::AlreadyDone(t) => t,
    }
}
