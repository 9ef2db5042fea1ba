//! Alert episodes: each rule, SKU and location's tracker and its alert, opened, reminded and
//! resolved in one transaction each, guarded by the level version the decision was made on; the
//! episodes index the alert clock sweeps.

use super::*;
use aws_sdk_dynamodb::types::builders::UpdateBuilder as UpdateItemBuilder;

/// `set` as a tracker's update, adding what `pending` owes to the tracker's owed notices.
fn owing(update: UpdateItemBuilder, set: String, pending: &[Delivery]) -> UpdateItemBuilder {
    if pending.is_empty() {
        update.update_expression(set)
    } else {
        update
            .update_expression(format!("{set} ADD pending :pending"))
            .expression_attribute_values(":pending", owed_keys(pending))
    }
}

/// One update of a transaction.
pub(super) fn update_item(update: UpdateItemBuilder) -> Result<TransactWriteItem, StoreError> {
    let update = update
        .build()
        .map_err(|e| StoreError::Failed(e.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Which episode: one (rule, SKU, location).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpisodeKey<'a> {
    pub rule_id: &'a str,
    pub sku: &'a str,
    pub location: &'a str,
}

/// One transition of an episode: which episode, its alert, the deliveries it makes owed, and
/// when (seconds and the same instant as RFC 3339 text).
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub episode: EpisodeKey<'a>,
    pub alert_id: &'a str,
    pub pending: &'a [Delivery],
    pub now: i64,
    pub now_text: &'a str,
}

impl<'a> Step<'a> {
    pub fn new(
        episode: EpisodeKey<'a>,
        alert_id: &'a str,
        pending: &'a [Delivery],
        now: i64,
        now_text: &'a str,
    ) -> Self {
        Self {
            episode,
            alert_id,
            pending,
            now,
            now_text,
        }
    }
}

/// The tracker's stored keys of `pending` ([`Delivery::key`]).
pub(super) fn owed_keys(pending: &[Delivery]) -> AttributeValue {
    AttributeValue::Ss(pending.iter().map(Delivery::key).collect())
}

/// The tracker of one (rule, SKU, location): the open episode and what is still to be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracker {
    pub open: Option<OpenEpisode>,
    pub pending: Vec<Pending>,
    /// The version of the stock level whose change made the last transition: an older (or
    /// redelivered) record never moves the episode again.
    pub level_version: Option<i64>,
    /// The alert of the last episode, open or resolved (what owed deliveries belong to).
    pub alert_id: Option<String>,
    /// What the rule was when the episode opened ([`crate::alerts::rules::fingerprint`]); None
    /// in the tracker a resolve or a reminder hands back (the driver compares only what it read).
    pub rule_fingerprint: Option<String>,
}

pub(super) fn tracker_from(item: &Item) -> Result<Tracker, StoreError> {
    let t: TrackerItem = decode(entity::TRACKER, item).map_err(corrupt)?;
    let open = match (t.open, t.alert_id.clone()) {
        (true, Some(alert_id)) => Some(OpenEpisode {
            alert_id,
            state: t
                .state
                .as_deref()
                .and_then(AlertState::parse)
                .ok_or_else(|| StoreError::Corrupt("open tracker without a state".into()))?,
            last_notified_at: t.last_notified_at,
        }),
        (true, None) => return Err(StoreError::Corrupt("open tracker without an alert".into())),
        (false, _) => None,
    };
    Ok(Tracker {
        open,
        pending: t.pending,
        level_version: t.level_version,
        alert_id: t.alert_id,
        rule_fingerprint: t.rule_fingerprint,
    })
}

/// SET clauses recording `pending` as owed on the alert (`deliveries.<key> = pending since now`),
/// with their names and values.
pub(super) fn pending_clauses(pending: &[Delivery], now_text: &str) -> (Vec<String>, Filter) {
    let status = status_value(&DeliveryStatus::Pending {
        since: now_text.to_owned(),
    });
    let mut clauses = Vec::new();
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    for (i, key) in pending.iter().enumerate() {
        clauses.push(format!("#dl.#d{i} = :d{i}"));
        names.insert(format!("#d{i}"), key.slot());
        values.insert(format!(":d{i}"), status.clone());
    }
    if !clauses.is_empty() {
        names.insert("#dl".into(), "deliveries".into());
    }
    (clauses, (String::new(), names, values))
}

/// What orders the triggers of an episode's transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// A stock change of this level version: it moves the episode only if newer than the one that
    /// made the last transition (a redelivered or older record never does), and becomes it.
    Stream(i64),
    /// The clock, having read the level at this version: it moves the episode unless a newer
    /// change has moved it since (the stream decides those).
    Clock(i64),
}

impl Guard {
    pub(super) fn condition(self) -> &'static str {
        match self {
            Self::Stream(_) => "(attribute_not_exists(level_version) OR level_version < :lv)",
            Self::Clock(_) => "(attribute_not_exists(level_version) OR level_version <= :lv)",
        }
    }

    pub(super) fn version(self) -> i64 {
        match self {
            Self::Stream(v) | Self::Clock(v) => v,
        }
    }

    /// The SET clause that records the trigger (only a stream trigger becomes the last one).
    pub(super) fn set(self) -> &'static str {
        match self {
            Self::Stream(_) => ", level_version = :lv",
            Self::Clock(_) => "",
        }
    }

    /// The version the transition records on the tracker (a clock trigger records none).
    pub(super) fn recorded(self) -> Option<i64> {
        match self {
            Self::Stream(v) => Some(v),
            Self::Clock(_) => None,
        }
    }
}

/// A tracker in the episodes index, as the clock reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEpisode {
    pub rule_id: String,
    pub sku: String,
    pub location: String,
    pub open: bool,
    pub alert_id: Option<String>,
    pub pending: Vec<Pending>,
    /// What the rule was when the episode opened ([`crate::alerts::rules::fingerprint`]).
    pub rule_fingerprint: Option<String>,
}

impl IndexedEpisode {
    pub fn key(&self) -> EpisodeKey<'_> {
        EpisodeKey {
            rule_id: &self.rule_id,
            sku: &self.sku,
            location: &self.location,
        }
    }
}

/// What an episode transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The write applied; the tracker now owes these deliveries.
    Applied(Tracker),
    /// Another delivery of the same record (or a concurrent one) got there first; the tracker as
    /// it stands.
    AlreadyDone(Tracker),
}

impl AlertStore {
    /// An alert item's update: `set`, and each notice `pending` owes marked pending on it.
    fn alert_update(
        &self,
        alert_id: &str,
        set: &str,
        pending: &[Delivery],
        now_text: &str,
    ) -> UpdateItemBuilder {
        let (owed, (_, names, values)) = pending_clauses(pending, now_text);
        let mut set = set.to_owned();
        for c in &owed {
            set.push_str(", ");
            set.push_str(c);
        }
        self.update(alert_key(alert_id))
            .update_expression(set)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
    }

    /// An alert item's update for a person or the evaluator moving it to `state` (acknowledged
    /// or resolved, the name of its history event too): `<state>_at` and `<state>_by` set, the
    /// history grown by the event and `pending` marked owed. The new state is `:to`.
    pub(super) fn alert_moved_to(
        &self,
        alert_id: &str,
        state: AlertState,
        by: &str,
        now_text: &str,
        pending: &[Delivery],
    ) -> UpdateItemBuilder {
        let event = state.as_str();
        let set = format!(
            "SET #state = :to, {event}_at = :now, {event}_by = :by, \
             history = list_append(history, :h)"
        );
        self.alert_update(alert_id, &set, pending, now_text)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":to", s(event))
            .expression_attribute_values(":now", s(now_text))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":h", history_entry(now_text, event, by))
    }

    /// The tracker's half of a transition of `episode`: `set` (with what the trigger records,
    /// and adding what `pending` owes), made only when `condition` holds and `guard`, if any,
    /// lets the trigger move the episode; when not, the tracker as it stood comes back.
    fn tracker_update(
        &self,
        episode: &EpisodeKey<'_>,
        condition: &str,
        guard: Option<Guard>,
        set: &str,
        pending: &[Delivery],
    ) -> UpdateItemBuilder {
        let EpisodeKey {
            rule_id,
            sku,
            location,
        } = *episode;
        let update = self
            .update(tracker_key(rule_id, sku, location))
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let (update, set) = match guard {
            Some(g) => (
                update
                    .condition_expression(format!("{condition} AND {}", g.condition()))
                    .expression_attribute_values(":lv", n(g.version())),
                format!("{set}{}", g.set()),
            ),
            None => (update.condition_expression(condition), set.to_owned()),
        };
        owing(update, set, pending)
    }

    /// The tracker of a (rule, SKU, location), read consistently.
    pub async fn tracker(
        &self,
        rule_id: &str,
        sku: &str,
        location: &str,
    ) -> Result<Tracker, StoreError> {
        let item = self.item(tracker_key(rule_id, sku, location)).await?;
        Ok(item
            .as_ref()
            .map(tracker_from)
            .transpose()?
            .unwrap_or_default())
    }

    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        tracker_index: usize,
    ) -> Result<Transition, StoreError> {
        match self.write_all(items).await {
            Ok(_) => Ok(Transition::Applied(Tracker::default())),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    let reasons = c.cancellation_reasons();
                    if reasons
                        .iter()
                        .any(|r| r.code() == Some("TransactionConflict"))
                    {
                        return Err(StoreError::Busy("transaction conflict".into()));
                    }
                    if reasons.iter().any(|r| {
                        r.code()
                            .is_some_and(|c| c != "None" && c != "ConditionalCheckFailed")
                    }) {
                        return Err(StoreError::Failed(format!("{:?}", reasons)));
                    }
                    let tracker = reasons
                        .get(tracker_index)
                        .and_then(|r| r.item())
                        .map(tracker_from)
                        .transpose()?
                        .unwrap_or_default();
                    Ok(Transition::AlreadyDone(tracker))
                }
                _ => Err(sdk(e)),
            },
        }
    }

    /// Opens an episode: the tracker (only if none is open) and the alert item, in one transaction.
    pub async fn fire(
        &self,
        rule: &Rule,
        step: &Step<'_>,
        observation: &Observation,
        guard: Guard,
    ) -> Result<Transition, StoreError> {
        let Step {
            episode: EpisodeKey { sku, location, .. },
            alert_id,
            pending,
            now,
            now_text,
        } = *step;
        let set = format!(
            "SET #open = :true, alert_id = :id, #state = :firing, last_notified_at = :now, \
             entity = :entity, rule_id = :rule, sku = :sku, #loc = :loc, {} = :ep, \
             {} = :epsk, rule_fingerprint = :fp",
            keys::INDEX_PARTITION,
            keys::INDEX_SORT,
        );
        let condition = format!("({} OR #open = :false)", item_absent());
        let tracker = self
            .tracker_update(&step.episode, &condition, Some(guard), &set, pending)
            .expression_attribute_values(":ep", s(EPISODES))
            .expression_attribute_values(":epsk", s(format!("{}#{sku}#{location}", rule.rule_id)))
            .expression_attribute_values(":fp", s(crate::alerts::rules::fingerprint(rule)))
            .expression_attribute_names("#loc", "location")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":id", s(alert_id))
            .expression_attribute_values(":firing", s(AlertState::Firing.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":entity", s(entity::TRACKER))
            .expression_attribute_values(":rule", s(&rule.rule_id))
            .expression_attribute_values(":sku", s(sku))
            .expression_attribute_values(":loc", s(location));
        let alert = keys::item(
            keys::alert(alert_id),
            keys::META,
            [
                ("entity", s(entity::ALERT)),
                ("alert_id", s(alert_id)),
                ("rule_id", s(&rule.rule_id)),
                ("rule_name", s(&rule.name)),
                ("kind", s(rule.condition.kind())),
                ("severity", s(rule.severity.as_str())),
                ("sku", s(sku)),
                ("location", s(location)),
                ("state", s(AlertState::Firing.as_str())),
                ("fired_at", s(now_text)),
                ("fired_at_unix", n(now)),
                ("reminders", n(0)),
                (
                    "observation",
                    s(serde_json::to_string(observation).unwrap_or_default()),
                ),
                ("history", history_entry(now_text, "fired", "evaluator")),
                (
                    "deliveries",
                    AttributeValue::M(
                        pending
                            .iter()
                            .map(|k| {
                                (
                                    k.slot(),
                                    status_value(&DeliveryStatus::Pending {
                                        since: now_text.to_owned(),
                                    }),
                                )
                            })
                            .collect(),
                    ),
                ),
                (keys::INDEX_PARTITION, s(ALERTS)),
                (keys::INDEX_SORT, s(format!("{now_text}#{alert_id}"))),
                (
                    keys::ALERT_DAY_PARTITION_ATTRIBUTE,
                    s(keys::alert_day(now_text)),
                ),
                (
                    keys::ALERT_DAY_SORT_ATTRIBUTE,
                    s(keys::alert_day_sort(now_text, alert_id)),
                ),
            ],
        );
        let items = vec![
            update_item(tracker)?,
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(alert))
                        .condition_expression(item_absent())
                        .build()
                        .map_err(|e| StoreError::Failed(e.to_string()))?,
                )
                .build(),
        ];
        match self.transact(items, 0).await? {
            Transition::Applied(_) => Ok(Transition::Applied(Tracker {
                open: Some(OpenEpisode {
                    alert_id: alert_id.to_owned(),
                    state: AlertState::Firing,
                    last_notified_at: Some(now),
                }),
                pending: pending.iter().map(Delivery::key).collect(),
                level_version: guard.recorded(),
                alert_id: Some(alert_id.to_owned()),
                rule_fingerprint: Some(crate::alerts::rules::fingerprint(rule)),
            })),
            done => Ok(done),
        }
    }

    /// Closes the open episode `alert_id` (by the evaluator or a person).
    pub async fn resolve(
        &self,
        step: &Step<'_>,
        guard: Option<Guard>,
        by: &str,
    ) -> Result<Transition, StoreError> {
        let (alert_id, pending) = (step.alert_id, step.pending);
        let tracker = self
            .tracker_update(
                &step.episode,
                "#open = :true AND alert_id = :id",
                guard,
                "SET #open = :false, #state = :resolved",
                pending,
            )
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":id", s(alert_id))
            .expression_attribute_values(":resolved", s(AlertState::Resolved.as_str()));
        let alert = self
            .alert_moved_to(alert_id, AlertState::Resolved, by, step.now_text, pending)
            .condition_expression(format!("{} AND #state <> :to", item_exists()));
        let items = vec![update_item(tracker)?, update_item(alert)?];
        match self.transact(items, 0).await? {
            Transition::Applied(_) => Ok(Transition::Applied(Tracker {
                open: None,
                pending: pending.iter().map(Delivery::key).collect(),
                level_version: guard.and_then(Guard::recorded),
                alert_id: Some(alert_id.to_owned()),
                rule_fingerprint: None,
            })),
            done => Ok(done),
        }
    }

    /// Records a reminder if the episode is still firing and was last notified at `previous`.
    pub async fn remind(
        &self,
        step: &Step<'_>,
        episode: &OpenEpisode,
        guard: Guard,
    ) -> Result<Transition, StoreError> {
        let (pending, now) = (step.pending, step.now);
        let previous = episode.last_notified_at.unwrap_or(0);
        let tracker = self
            .tracker_update(
                &step.episode,
                "#open = :true AND alert_id = :id AND #state = :firing AND last_notified_at = :prev",
                Some(guard),
                "SET last_notified_at = :now",
                pending,
            )
            .expression_attribute_values(":id", s(&episode.alert_id))
            .expression_attribute_values(":firing", s(AlertState::Firing.as_str()))
            .expression_attribute_values(":prev", n(previous))
            .expression_attribute_values(":now", n(now));
        // Reminders are counted, not appended to the history: the alert item stays the same size
        // however long an episode reminds (the history holds fired, acknowledged and resolved).
        let alert = self
            .alert_update(
                &episode.alert_id,
                "ADD reminders :one SET last_reminded_at = :at",
                pending,
                step.now_text,
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":at", s(step.now_text));
        let items = vec![update_item(tracker)?, update_item(alert)?];
        match self.transact(items, 0).await? {
            Transition::Applied(_) => Ok(Transition::Applied(Tracker {
                open: Some(OpenEpisode {
                    last_notified_at: Some(now),
                    ..episode.clone()
                }),
                pending: pending.iter().map(Delivery::key).collect(),
                level_version: guard.recorded(),
                alert_id: Some(episode.alert_id.clone()),
                rule_fingerprint: None,
            })),
            done => Ok(done),
        }
    }

    /// Every tracker in the episodes index (an open episode, or deliveries owed).
    pub async fn indexed_episodes(&self) -> Result<Vec<IndexedEpisode>, StoreError> {
        let mut out = Vec::new();
        for item in self.all_of(EPISODES).await? {
            let t: TrackerItem = decode(entity::TRACKER, &item).map_err(corrupt)?;
            let (Some(rule_id), Some(sku), Some(location)) = (t.rule_id, t.sku, t.location) else {
                tracing::error!(tracker = ?keys::of(&item), "episode without its rule, SKU or location");
                continue;
            };
            out.push(IndexedEpisode {
                rule_id,
                sku,
                location,
                open: t.open,
                alert_id: t.alert_id,
                pending: t.pending,
                rule_fingerprint: t.rule_fingerprint,
            });
        }
        Ok(out)
    }

    /// The last minute whose level shard the time-rule sweep finished (None before the first).
    pub async fn sweep_cursor(&self) -> Result<Option<i64>, StoreError> {
        let item = self.item(keys::key(keys::CLOCK_SWEEP, keys::META)).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("through_minute"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Records that the sweep finished every shard through `minute` (never moves it back: a
    /// slower tick that overlapped a later one leaves the later one's mark).
    pub async fn advance_sweep_cursor(&self, minute: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::CLOCK_SWEEP, keys::META)))
            .update_expression("SET entity = :e, through_minute = :m")
            .condition_expression("attribute_not_exists(through_minute) OR through_minute < :m")
            .expression_attribute_values(":e", s(entity::CLOCK_CURSOR))
            .expression_attribute_values(":m", n(minute))
            .send()
            .await;
        crate::store::unless_condition_failed(result).map(|_| ())
    }

    /// Takes a tracker out of the episodes index once its episode is closed and nothing is owed
    /// (conditionally: a new episode or owed delivery keeps it in).
    pub async fn unindex_if_settled(&self, episode: &IndexedEpisode) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(tracker_key(
                &episode.rule_id,
                &episode.sku,
                &episode.location,
            )))
            .update_expression(format!(
                "REMOVE {}, {}",
                keys::INDEX_PARTITION,
                keys::INDEX_SORT
            ))
            .condition_expression(format!(
                "attribute_exists({}) AND #open = :false AND attribute_not_exists(pending)",
                keys::INDEX_PARTITION
            ))
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        crate::store::unless_condition_failed(result).map(|_| ())
    }
}
