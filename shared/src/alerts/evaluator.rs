//! The DynamoDB Streams handler: every stock-level change is evaluated against the matching
//! rules; episodes open, remind and resolve through conditional writes, and notifications go out
//! once. A record that cannot be processed is reported in `batchItemFailures`; the rest of the
//! batch is processed.

use std::{
    borrow::Cow,
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use serde_json::{value::RawValue, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::{
    deliveries::{Channel, Delivery, DeliveryStatus},
    evaluate::{decide, message, Decision, Event, LevelSnapshot, RuleSet, Verdict},
    notify::{Attributes, Notifier, NotifyError},
    rules::Rule,
    store::{silenced, AlertStore, EpisodeKey, Pending, Silence, Tracker, Transition},
};
use crate::{clock::Clock, domain::Quantities, store::StoreError};

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

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Seconds since the epoch of an RFC 3339 UTC time as this system writes them
/// (`2026-11-28T03:01:57.649Z`), without a general parser; other forms fall back to one.
fn unix_of(text: Option<&str>) -> Option<i64> {
    let t = text?;
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let fast = (b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && t.ends_with('Z'))
        .then(|| {
            let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
            let (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
            // Days from the civil date (Howard Hinnant's algorithm).
            let y = if m <= 2 { y - 1 } else { y };
            let era = y.div_euclid(400);
            let yoe = y - era * 400;
            let mp = (m + 9) % 12;
            let doy = (153 * mp + 2) / 5 + d - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            let days = era * 146_097 + doe - 719_468;
            Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
        })
        .flatten();
    fast.or_else(|| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    })
}

// A stream record, read straight from its JSON (DynamoDB attribute-value form) into the few
// attributes the evaluator uses, borrowing strings from the input. Going through
// aws_lambda_events' generic `EventRecord` and serde_dynamo images cost ~50 µs per record with
// sales counters on the item; this costs a few.

#[derive(Deserialize)]
struct S<'a> {
    #[serde(rename = "S", borrow)]
    s: Cow<'a, str>,
}

#[derive(Deserialize)]
struct N<'a> {
    #[serde(rename = "N", borrow)]
    n: Cow<'a, str>,
}

impl N<'_> {
    fn int(&self) -> Result<i64, String> {
        self.n
            .parse()
            .map_err(|_| format!("not an integer: {}", self.n))
    }
}

/// A counter ring (`{"L": [{"N": "3"}, ...]}`, see [`crate::counters`]) read straight into its
/// slot values.
struct Ring(Vec<i64>);

impl<'de> Deserialize<'de> for Ring {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct L<'a> {
            #[serde(rename = "L", borrow)]
            l: Vec<N<'a>>,
        }
        let list = L::deserialize(d)?;
        list.l
            .iter()
            .map(N::int)
            .collect::<Result<Vec<_>, _>>()
            .map(Ring)
            .map_err(serde::de::Error::custom)
    }
}

/// The attributes of a stock-level item the evaluator reads from a stream image.
#[derive(Deserialize)]
struct Image<'a> {
    #[serde(borrow)]
    entity: Option<S<'a>>,
    #[serde(borrow)]
    sku: Option<S<'a>>,
    #[serde(borrow)]
    location: Option<S<'a>>,
    #[serde(borrow)]
    on_hand: Option<N<'a>>,
    #[serde(borrow)]
    reserved: Option<N<'a>>,
    #[serde(borrow)]
    in_transit: Option<N<'a>>,
    #[serde(borrow)]
    available: Option<N<'a>>,
    #[serde(borrow)]
    version: Option<N<'a>>,
    sold_h: Option<Ring>,
    sold_d: Option<Ring>,
    #[serde(borrow)]
    ctr_hour: Option<N<'a>>,
    #[serde(borrow)]
    last_sale_at: Option<S<'a>>,
    #[serde(borrow)]
    last_receipt_at: Option<S<'a>>,
    #[serde(borrow)]
    created_at: Option<S<'a>>,
    #[serde(borrow)]
    last_movement: Option<S<'a>>,
}

/// The old image: only its quantities matter (the counters of the new image stand in).
#[derive(Deserialize)]
struct OldImage<'a> {
    #[serde(borrow)]
    entity: Option<S<'a>>,
    #[serde(borrow)]
    on_hand: Option<N<'a>>,
    #[serde(borrow)]
    reserved: Option<N<'a>>,
    #[serde(borrow)]
    in_transit: Option<N<'a>>,
    #[serde(borrow)]
    available: Option<N<'a>>,
    #[serde(borrow)]
    last_movement: Option<S<'a>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    #[serde(rename = "NewImage", borrow)]
    new_image: Option<Image<'a>>,
    #[serde(rename = "OldImage", borrow)]
    old_image: Option<OldImage<'a>>,
}

fn int(v: &Option<N<'_>>) -> Result<i64, String> {
    v.as_ref()
        .map(N::int)
        .transpose()
        .map(Option::unwrap_or_default)
}

#[derive(Deserialize)]
struct StreamRecord<'a> {
    #[serde(rename = "eventID", borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    dynamodb: Change<'a>,
}

fn buckets(ring: &Option<Ring>, head: Option<i64>, len: i64) -> BTreeMap<i64, i64> {
    match (ring, head) {
        (Some(r), Some(head)) => crate::counters::unroll(&r.0, head, len),
        _ => BTreeMap::new(),
    }
}

impl Image<'_> {
    fn is_level(&self) -> bool {
        self.entity
            .as_ref()
            .is_some_and(|e| e.s == crate::store::entity::STOCK_LEVEL)
    }

    fn snapshot(&self) -> Result<LevelSnapshot, String> {
        let head = self.ctr_hour.as_ref().map(N::int).transpose()?;
        let text = |v: &Option<S<'_>>, name: &str| {
            v.as_ref()
                .map(|s| s.s.to_string())
                .ok_or_else(|| format!("stock level without {name}"))
        };
        Ok(LevelSnapshot {
            sku: text(&self.sku, "sku")?,
            location: text(&self.location, "location")?,
            quantities: Quantities {
                on_hand: int(&self.on_hand)?,
                reserved: int(&self.reserved)?,
                in_transit: int(&self.in_transit)?,
                available: self
                    .available
                    .as_ref()
                    .ok_or("stock level without available")?
                    .int()?,
            },
            sold_hourly: buckets(&self.sold_h, head, crate::counters::HOURS),
            sold_daily: buckets(
                &self.sold_d,
                head.map(|h| h.div_euclid(24)),
                crate::counters::DAYS,
            ),
            last_sale_at: unix_of(self.last_sale_at.as_ref().map(|s| s.s.as_ref())),
            last_receipt_at: unix_of(self.last_receipt_at.as_ref().map(|s| s.s.as_ref())),
            created_at: unix_of(self.created_at.as_ref().map(|s| s.s.as_ref())),
            version: int(&self.version)?,
        })
    }
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

/// What identifies a record even when the rest of it cannot be read: its sequence number (what
/// `batchItemFailures` names) and the level's key.
struct RecordIds {
    sequence: String,
    level: Option<(String, String)>,
}

fn record_ids(json: &str) -> RecordIds {
    #[derive(Deserialize)]
    struct Text {
        #[serde(rename = "S")]
        s: String,
    }
    #[derive(Deserialize)]
    struct Keys {
        pk: Option<Text>,
        sk: Option<Text>,
    }
    #[derive(Deserialize)]
    struct Dynamo {
        #[serde(rename = "SequenceNumber")]
        sequence: Option<String>,
        #[serde(rename = "Keys")]
        keys: Option<Keys>,
    }
    #[derive(Deserialize)]
    struct Ids {
        #[serde(rename = "eventID")]
        event_id: Option<String>,
        dynamodb: Option<Dynamo>,
    }
    let ids = serde_json::from_str::<Ids>(json).ok();
    let dynamo = ids.as_ref().and_then(|i| i.dynamodb.as_ref());
    RecordIds {
        sequence: dynamo
            .and_then(|d| d.sequence.clone())
            .or_else(|| ids.as_ref().and_then(|i| i.event_id.clone()))
            .unwrap_or_default(),
        level: dynamo
            .and_then(|d| d.keys.as_ref())
            .and_then(|k| Some((k.pk.as_ref()?.s.clone(), k.sk.as_ref()?.s.clone()))),
    }
}

/// A stock-level change as the evaluator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelChange {
    pub event_id: String,
    pub new: LevelSnapshot,
    /// The level's quantities before the change (None for a new level).
    pub old: Option<Quantities>,
    /// The movement line that made the change (`partition|sort key`), when the change is a new
    /// movement (not the same one again, as a retried write or a hand edit would show).
    pub ledger_ref: Option<String>,
}

/// Parses one stream record (its JSON text). `Ok(None)` for items that are not stock levels
/// (the event source's filter normally keeps them away).
pub fn parse_record(json: &str) -> Result<Option<LevelChange>, String> {
    let record: StreamRecord<'_> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let Some(image) = record.dynamodb.new_image.as_ref().filter(|i| i.is_level()) else {
        return Ok(None);
    };
    let new_movement = image.last_movement.as_ref().map(|m| m.s.as_ref());
    let old_movement = record
        .dynamodb
        .old_image
        .as_ref()
        .and_then(|o| o.last_movement.as_ref())
        .map(|m| m.s.as_ref());
    let ledger_ref = new_movement
        .filter(|m| old_movement != Some(*m))
        .map(str::to_owned);
    let old = match record.dynamodb.old_image.as_ref() {
        Some(o)
            if o.entity
                .as_ref()
                .is_some_and(|e| e.s == crate::store::entity::STOCK_LEVEL) =>
        {
            Some(Quantities {
                on_hand: int(&o.on_hand)?,
                reserved: int(&o.reserved)?,
                in_transit: int(&o.in_transit)?,
                available: int(&o.available)?,
            })
        }
        _ => None,
    };
    Ok(Some(LevelChange {
        event_id: record.event_id.into_owned(),
        new: image.snapshot()?,
        old,
        ledger_ref,
    }))
}

/// A stream batch as Lambda delivers it: each record kept as raw JSON, so one malformed record
/// cannot fail the whole batch's deserialisation.
#[derive(Debug, Deserialize)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<Box<RawValue>>,
}

impl StreamBatch {
    /// From a JSON value (`{"Records": [...]}`), for callers that built one.
    pub fn from_value(event: &Value) -> Self {
        serde_json::from_value(event.clone()).unwrap_or(Self {
            records: Vec::new(),
        })
    }
}

struct RuleCache {
    loaded: Instant,
    rules: Arc<RuleSet>,
    silences: Arc<Vec<Silence>>,
}

/// The evaluator: built once at init, shared by every invocation.
pub struct Evaluator {
    store: AlertStore,
    /// Writes the SKU ledgers from the stream.
    ledger: crate::store::Store,
    notifier: Notifier,
    refresh: Duration,
    clock: Clock,
    cache: Mutex<Option<RuleCache>>,
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
    pub fn new(store: AlertStore, notifier: Notifier, refresh: Duration, clock: Clock) -> Self {
        Self {
            ledger: crate::store::Store::new(store.client().clone(), store.table()),
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
    async fn rules(&self) -> Result<(Arc<RuleSet>, Arc<Vec<Silence>>), StoreError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if c.loaded.elapsed() < self.refresh {
                return Ok((c.rules.clone(), c.silences.clone()));
            }
        }
        let (rules, silences) = self.store.load_rules_and_silences(self.clock.now()).await?;
        let rules = RuleSet::new(rules);
        let entry = RuleCache {
            loaded: Instant::now(),
            rules: Arc::new(rules),
            silences: Arc::new(silences),
        };
        let out = (entry.rules.clone(), entry.silences.clone());
        *cache = Some(entry);
        Ok(out)
    }

    /// Handles one stream batch; failed records are reported in `batchItemFailures` (by sequence
    /// number) and the rest of the batch is processed, in order: once a record of a level fails,
    /// the later records of that level in the batch are not processed but reported failed too,
    /// so a level's notifications never go out of order (a RESOLVED before the FIRED it ends).
    /// Records of other levels go on.
    pub async fn handle(&self, batch: StreamBatch) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        let mut blocked: std::collections::HashSet<(String, String)> = Default::default();
        for raw in &batch.records {
            let ids = record_ids(raw.get());
            let span = tracing::info_span!("record", sequence = %ids.sequence);
            let _enter = span.enter();
            let result = match &ids.level {
                Some(level) if blocked.contains(level) => {
                    tracing::warn!("an earlier record of this level failed; held back for order");
                    Err(None)
                }
                _ => match parse_record(raw.get()) {
                    Ok(Some(change)) => self.process(change).await.map_err(Some),
                    Ok(None) => Ok(()),
                    Err(e) => Err(Some(RecordError::Malformed(e))),
                },
            };
            if let Err(e) = result {
                if let Some(e) = e {
                    tracing::error!(error = %e, "record failed; reported for retry");
                }
                if let Some(level) = ids.level {
                    blocked.insert(level);
                }
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(ids.sequence);
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    /// [`handle`](Self::handle) for an event built as a JSON value.
    pub async fn handle_json(&self, event: Value) -> DynamoDbEventResponse {
        self.handle(StreamBatch::from_value(&event)).await
    }

    /// Evaluates one stock-level change.
    pub async fn process(&self, change: LevelChange) -> Result<(), RecordError> {
        let LevelChange {
            event_id,
            new,
            old,
            ledger_ref,
        } = change;

        // The movement line that made this change enters its SKU's ledger with the level's exact
        // before and after values.
        if let Some(reference) = &ledger_ref {
            self.ledger
                .record_ledger_entry(reference, old.as_ref(), &new.quantities)
                .await?;
        }

        let (rules, silences) = self.rules().await?;
        let now = self.clock.now();
        let silenced = |rule: &Rule| silenced(&silences, &rule.rule_id, &new.sku);
        let mut profile: Option<Option<(String, BTreeMap<String, String>)>> = None;
        for (rule, verdict) in rules.due(&new, old.as_ref(), now) {
            if rule.selector.needs_attributes() {
                if profile.is_none() {
                    profile = Some(self.store.sku_profile(&new.sku).await?);
                }
                let attrs = profile.as_ref().and_then(|p| p.as_ref()).map(|(_, a)| a);
                if !rule.selector.selects(&new.sku, &new.location, attrs) {
                    continue;
                }
            }
            self.drive(
                rule,
                &new,
                verdict,
                Trigger::Stream {
                    event_id: &event_id,
                    version: new.version,
                },
                silenced(rule),
            )
            .await?;
        }
        Ok(())
    }

    /// Moves the episode of (rule, level) by a verdict: opens, reminds or resolves it through a
    /// conditional write, then sends what is owed. Stock changes and the clock share this one
    /// lifecycle; the trigger orders them ([`Trigger`]): a stock change not newer than the last
    /// transition's, or a clock reading older than it, only flushes owed deliveries.
    pub async fn drive(
        &self,
        rule: &Rule,
        new: &LevelSnapshot,
        verdict: Verdict,
        trigger: Trigger<'_>,
        silenced: bool,
    ) -> Result<(), RecordError> {
        let now = self.clock.now();
        let mut profile = None;
        let tracker = self
            .store
            .tracker(&rule.rule_id, &new.sku, &new.location)
            .await?;
        let stale = match trigger {
            Trigger::Stream { version, .. } => tracker.level_version.is_some_and(|v| v >= version),
            Trigger::Clock { version, .. } => tracker.level_version.is_some_and(|v| v > version),
        };
        let guard = trigger.guard();
        let decision = if stale {
            Decision::Nothing
        } else {
            decide(rule, verdict, tracker.open.as_ref(), now)
        };
        let now_text = rfc3339(now);
        let tracker = match decision {
            Decision::Nothing => tracker,
            Decision::Fire(_) | Decision::Remind(_) if silenced => return Ok(()),
            Decision::Fire(obs) => {
                let id = alert_id(&rule.rule_id, &new.sku, &new.location, &trigger.id());
                let pending = deliveries(rule, Event::Fired);
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
                            guard,
                            now,
                            &now_text,
                        )
                        .await?,
                )
            }
            Decision::Resolve => {
                let Some(open) = tracker.open.as_ref() else {
                    return Ok(());
                };
                let pending = if rule.notify_on_resolve {
                    deliveries(rule, Event::Resolved)
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
                            Some(guard),
                            "evaluator",
                            &now_text,
                        )
                        .await?,
                )
            }
            Decision::Remind(_) => {
                let Some(open) = tracker.open.as_ref() else {
                    return Ok(());
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
        self.deliver(rule, &tracker, new, now, &mut profile).await
    }

    /// The evaluator's clock time (seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
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
            Some(item) => crate::report_writer::history(&item)
                .map(|(_, snapshot)| Some(snapshot))
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
            let mut profile = None;
            self.deliver(rule, &tracker, &level, self.clock.now(), &mut profile)
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
        profile: &mut Option<Option<(String, BTreeMap<String, String>)>>,
    ) -> Result<(), RecordError> {
        if tracker.pending.is_empty() || rule.quiet_hours.is_some_and(|q| q.contains(now)) {
            return Ok(());
        }
        let Some(alert_id) = tracker.alert_id.as_deref() else {
            return Ok(());
        };
        if profile.is_none() {
            *profile = Some(self.store.sku_profile(&level.sku).await?);
        }
        let name = profile
            .as_ref()
            .and_then(|p| p.as_ref())
            .map(|(n, _)| n.as_str());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_like_a_general_rfc3339_parser() {
        for t in [
            "1970-01-01T00:00:00.000Z",
            "2026-11-28T03:01:57.649Z",
            "2024-02-29T23:59:59.999Z",
            "2000-03-01T12:00:00Z",
            "2031-12-31T00:00:01.5Z",
        ] {
            let general =
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .unwrap()
                    .unix_timestamp();
            assert_eq!(unix_of(Some(t)), Some(general), "{t}");
        }
        assert_eq!(
            unix_of(Some("2026-11-28T03:01:57+01:00")),
            unix_of(Some("2026-11-28T02:01:57.000Z"))
        );
        assert_eq!(unix_of(Some("yesterday")), None);
    }

    #[test]
    fn records_parse_into_level_changes_and_other_items_are_skipped() {
        let level = r#"{"eventID":"e1","eventName":"MODIFY","dynamodb":{"SequenceNumber":"7",
            "NewImage":{"entity":{"S":"stock_level"},"sku":{"S":"A"},"location":{"S":"WH1"},
              "on_hand":{"N":"5"},"available":{"N":"4"},"reserved":{"N":"1"},"version":{"N":"3"},
              "sold_h":{"L":[{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"2"},{"N":"1"}]},"ctr_hour":{"N":"11"},"last_movement":{"S":"MOV#x|LINE#00"}},
            "OldImage":{"entity":{"S":"stock_level"},"sku":{"S":"A"},"location":{"S":"WH1"},
              "on_hand":{"N":"6"},"available":{"N":"5"},"version":{"N":"2"}}}}"#;
        let change = parse_record(level).unwrap().unwrap();
        assert_eq!(change.new.quantities.available, 4);
        assert_eq!(change.new.sold_hourly, BTreeMap::from([(10, 2), (11, 1)]));
        assert_eq!(change.old.unwrap().available, 5);
        assert_eq!(change.ledger_ref.as_deref(), Some("MOV#x|LINE#00"));
        let alert = r#"{"eventID":"e2","dynamodb":{"NewImage":{"entity":{"S":"alert"}}}}"#;
        assert_eq!(parse_record(alert).unwrap(), None);
        let broken = r#"{"eventID":"e3","dynamodb":{"NewImage":{"entity":{"S":"stock_level"},"sku":{"S":"A"}}}}"#;
        assert!(parse_record(broken).is_err());
    }
}
