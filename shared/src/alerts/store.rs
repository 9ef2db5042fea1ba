//! The alert engine's DynamoDB adapter: rules, silences, alert episodes (the inbox) and the
//! per-(rule, SKU, location) tracker that makes every transition a conditional write. None of
//! these items is a stock level, so the evaluator never writes what its stream filter lets in.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    operation::{transact_write_items::TransactWriteItemsError, update_item::UpdateItemError},
    types::{
        AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
        Update,
    },
    Client,
};
use serde::Serialize;

use super::{
    deliveries::{Delivery, DeliveryStatus},
    evaluate::{AlertState, Observation, OpenEpisode},
    rules::{Rule, RuleBody, Severity},
};
use crate::store::{decode_cursor, encode_cursor, get_s, n, s, Item, Page, StoreError, INDEX};

pub use crate::schema::entity;
use crate::schema::{
    decode,
    keys::{self, ALERT_LIST as ALERTS, RULE_LIST as RULES, SILENCE_LIST as SILENCES},
    AlertItem, RuleItem, SilenceItem, SkuItem, TrackerItem,
};

fn rule_key(id: &str) -> HashMap<String, AttributeValue> {
    keys::key(keys::rule(id), keys::META)
}
fn alert_key(id: &str) -> HashMap<String, AttributeValue> {
    keys::key(keys::alert(id), keys::META)
}
fn tracker_key(rule_id: &str, sku: &str, location: &str) -> HashMap<String, AttributeValue> {
    let (pk, sk) = keys::tracker(rule_id, sku, location);
    keys::key(pk, sk)
}
fn silence_key(target: &str) -> HashMap<String, AttributeValue> {
    keys::key(keys::silence(target), keys::META)
}

fn corrupt(e: crate::schema::Malformed) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A delivery still owed for an episode, in its stored form ([`Delivery::key`]).
pub type Pending = String;

/// A sender's claim on an owed delivery: who holds it, and until when (seconds) nobody else may
/// take it; `now` is the claimant's clock time.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub owner: &'a str,
    pub now: i64,
    pub until: i64,
}

/// What a claim on an owed delivery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This sender holds it now, and alone may send it.
    Held,
    /// Another sender's claim on it is in force.
    Taken,
    /// It is owed no more (sent or settled by another sender).
    Settled,
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

/// The tracker's stored keys of `pending` ([`Delivery::key`]).
fn owed_keys(pending: &[Delivery]) -> AttributeValue {
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

fn tracker_from(item: &Item) -> Result<Tracker, StoreError> {
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

/// The status map entry of an owed delivery.
fn status_value(status: &DeliveryStatus) -> AttributeValue {
    serde_dynamo::to_attribute_value(status).unwrap_or(AttributeValue::Null(true))
}

/// SET clauses recording `pending` as owed on the alert (`deliveries.<key> = pending since now`),
/// with their names and values.
fn pending_clauses(pending: &[Delivery], now_text: &str) -> (Vec<String>, Filter) {
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
    fn condition(self) -> &'static str {
        match self {
            Self::Stream(_) => "(attribute_not_exists(level_version) OR level_version < :lv)",
            Self::Clock(_) => "(attribute_not_exists(level_version) OR level_version <= :lv)",
        }
    }

    fn version(self) -> i64 {
        match self {
            Self::Stream(v) | Self::Clock(v) => v,
        }
    }

    /// The SET clause that records the trigger (only a stream trigger becomes the last one).
    fn set(self) -> &'static str {
        match self {
            Self::Stream(_) => ", level_version = :lv",
            Self::Clock(_) => "",
        }
    }

    /// The version the transition records on the tracker (a clock trigger records none).
    fn recorded(self) -> Option<i64> {
        match self {
            Self::Stream(v) => Some(v),
            Self::Clock(_) => None,
        }
    }
}

/// The index partition of trackers the clock looks at: an open episode or deliveries owed. A
/// tracker leaves it once its episode is closed and nothing is owed.
use keys::EPISODE_LIST as EPISODES;

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

/// One alert episode as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub alert_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub kind: String,
    pub severity: Severity,
    pub sku: String,
    pub location: String,
    pub state: AlertState,
    pub fired_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    pub reminders: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reminded_at: Option<String>,
    pub observation: serde_json::Value,
    /// The episode's lifecycle: fired, acknowledged, resolved (reminders are counted).
    pub history: Vec<HistoryEntry>,
    /// How each notice owed on each channel went: `fire:sms`, `resolve:email`, …
    pub deliveries: std::collections::BTreeMap<String, DeliveryStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub at: String,
    pub event: String,
    pub by: String,
}

fn history_entry(at: &str, event: &str, by: &str) -> AttributeValue {
    AttributeValue::L(vec![AttributeValue::M(HashMap::from([
        ("at".into(), s(at)),
        ("event".into(), s(event)),
        ("by".into(), s(by)),
    ]))])
}

fn alert_from(item: &Item) -> Result<Alert, StoreError> {
    let a: AlertItem = decode(entity::ALERT, item).map_err(corrupt)?;
    Ok(Alert {
        severity: Severity::parse(&a.severity)
            .ok_or_else(|| StoreError::Corrupt(format!("alert severity {}", a.severity)))?,
        state: AlertState::parse(&a.state)
            .ok_or_else(|| StoreError::Corrupt(format!("alert state {}", a.state)))?,
        observation: serde_json::from_str(&a.observation)
            .map_err(|e| StoreError::Corrupt(format!("alert observation: {e}")))?,
        history: a
            .history
            .into_iter()
            .map(|h| HistoryEntry {
                at: h.at,
                event: h.event,
                by: h.by,
            })
            .collect(),
        alert_id: a.alert_id,
        rule_id: a.rule_id,
        rule_name: a.rule_name,
        kind: a.kind,
        sku: a.sku,
        location: a.location,
        fired_at: a.fired_at,
        acknowledged_at: a.acknowledged_at,
        acknowledged_by: a.acknowledged_by,
        resolved_at: a.resolved_at,
        resolved_by: a.resolved_by,
        reminders: a.reminders,
        last_reminded_at: a.last_reminded_at,
        deliveries: a.deliveries,
    })
}

/// Whether one of `silences` covers `rule_id` or `sku` (the one check every trigger makes).
pub fn silenced(silences: &[Silence], rule_id: &str, sku: &str) -> bool {
    silences.iter().any(|s| {
        s.silence_id
            .strip_prefix("rule:")
            .map(|r| r == rule_id)
            .or_else(|| s.silence_id.strip_prefix("sku:").map(|k| k == sku))
            .unwrap_or(false)
    })
}

/// A silence: no alert opens for the rule or SKU until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Silence {
    /// `rule:<rule_id>` or `sku:<sku>`.
    pub silence_id: String,
    pub until: String,
    #[serde(skip)]
    pub until_unix: i64,
    pub reason: String,
    pub created_by: String,
}

fn silence_from(item: &Item) -> Result<Silence, StoreError> {
    let i: SilenceItem = decode(entity::SILENCE, item).map_err(corrupt)?;
    Ok(Silence {
        silence_id: i.silence_id,
        until: i.until,
        until_unix: i.until_unix,
        reason: i.reason,
        created_by: i.created_by,
    })
}

fn rule_from(item: &Item) -> Result<Rule, StoreError> {
    let i: RuleItem = decode(entity::RULE, item).map_err(corrupt)?;
    let body: RuleBody = serde_json::from_str(&i.body)
        .map_err(|e| StoreError::Corrupt(format!("rule body: {e}")))?;
    body.into_rule(i.rule_id, i.created_at, i.updated_at)
        .map_err(|e| StoreError::Corrupt(format!("stored rule invalid: {e:?}")))
}

/// A filter expression with its attribute names and values.
type Filter = (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
);

/// Filters for the inbox listing.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    pub severity: Option<Severity>,
    pub sku: Option<String>,
    pub location: Option<String>,
}

/// The outcome of creating a rule under an idempotency key.
pub enum RuleCreated {
    Created(Rule),
    /// The key was used before: the stored rule and the hash of the request that made it.
    Existing {
        rule: Rule,
        request_hash: String,
    },
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

#[derive(Debug, Clone)]
pub struct AlertStore {
    client: Client,
    table: String,
}

fn sdk<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    StoreError::from_sdk(e)
}

/// An update whose condition may not hold: the output when it held (and the write was made),
/// `None` when it did not (nothing written); any other failure is an error.
fn if_condition_held<R: std::fmt::Debug>(
    result: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
            R,
        >,
    >,
) -> Result<Option<aws_sdk_dynamodb::operation::update_item::UpdateItemOutput>, StoreError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk(e)),
    }
}

impl AlertStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn all_of(&self, partition: &str) -> Result<Vec<Item>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(partition))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(sdk)?);
        }
        Ok(out)
    }

    /// Every rule and every silence still in force: the evaluator's cache, one query each.
    pub async fn load_rules_and_silences(
        &self,
        now: i64,
    ) -> Result<(Vec<Rule>, Vec<Silence>), StoreError> {
        let rules = self
            .all_of(RULES)
            .await?
            .iter()
            .filter_map(|i| {
                rule_from(i)
                    .map_err(|e| tracing::error!(error = %e, "skipping rule"))
                    .ok()
            })
            .collect();
        let silences = self
            .all_of(SILENCES)
            .await?
            .iter()
            .filter_map(|i| {
                silence_from(i)
                    .map_err(|e| tracing::error!(error = %e, "skipping silence"))
                    .ok()
            })
            .filter(|s| s.until_unix > now)
            .collect();
        Ok((rules, silences))
    }

    pub async fn create_rule(
        &self,
        rule: &Rule,
        body: &RuleBody,
        request_hash: &str,
    ) -> Result<RuleCreated, StoreError> {
        let mut item: Item = rule_key(&rule.rule_id);
        item.extend([
            ("entity".into(), s(entity::RULE)),
            ("rule_id".into(), s(&rule.rule_id)),
            (
                "body".into(),
                s(serde_json::to_string(body).unwrap_or_default()),
            ),
            ("request_hash".into(), s(request_hash)),
            ("created_at".into(), s(&rule.created_at)),
            ("updated_at".into(), s(&rule.updated_at)),
            ("gsi1pk".into(), s(RULES)),
            ("gsi1sk".into(), s(&rule.rule_id)),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RuleCreated::Created(rule.clone())),
            Err(e) => {
                let existing = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                        _ => None,
                    });
                match existing {
                    Some(item) => Ok(RuleCreated::Existing {
                        rule: rule_from(&item)?,
                        request_hash: get_s(&item, "request_hash").unwrap_or_default().into(),
                    }),
                    None => Err(sdk(e)),
                }
            }
        }
    }

    /// Replaces an existing rule; None when there is no such rule.
    pub async fn replace_rule(
        &self,
        rule_id: &str,
        body: &RuleBody,
        now: &str,
    ) -> Result<Option<Rule>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(rule_key(rule_id)))
            .update_expression("SET body = :b, updated_at = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":b", s(serde_json::to_string(body).unwrap_or_default()))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match if_condition_held(result)? {
            Some(out) => out.attributes.as_ref().map(rule_from).transpose(),
            None => Ok(None),
        }
    }

    pub async fn get_rule(&self, rule_id: &str) -> Result<Option<Rule>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(rule_key(rule_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item.as_ref().map(rule_from).transpose()
    }

    /// Deletes a rule; false when there was none. Its open alerts stay in the inbox.
    pub async fn delete_rule(&self, rule_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(rule_key(rule_id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.attributes.is_some())
    }

    async fn page(
        &self,
        partition: &str,
        limit: i32,
        cursor: Option<&str>,
        newest_first: bool,
        filter: Option<Filter>,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = cursor.map(|c| decode_cursor(c, partition)).transpose()?;
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(partition))
            .scan_index_forward(!newest_first)
            .limit(limit)
            .set_exclusive_start_key(start);
        if let Some((expr, names, values)) = filter {
            q = q
                .filter_expression(expr)
                .set_expression_attribute_names(Some(names));
            for (k, v) in values {
                q = q.expression_attribute_values(k, v);
            }
        }
        let out = q.send().await.map_err(|e| match sdk(e) {
            StoreError::Failed(m) if m.contains("ValidationException") && cursor.is_some() => {
                StoreError::InvalidCursor
            }
            other => other,
        })?;
        let next = out.last_evaluated_key.as_ref().and_then(encode_cursor);
        Ok((out.items.unwrap_or_default(), next))
    }

    pub async fn list_rules(
        &self,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Rule>, StoreError> {
        let (items, next_cursor) = self.page(RULES, limit, cursor, false, None).await?;
        let items = items.iter().map(rule_from).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// The inbox, newest first, filtered. A page may hold fewer than `limit` alerts when filters
    /// skip some; follow `next_cursor` until it is null.
    pub async fn list_alerts(
        &self,
        filter: &AlertFilter,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Alert>, StoreError> {
        let mut clauses = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut add = |attr: &str, value: Option<String>| {
            if let Some(v) = value {
                let i = clauses.len();
                clauses.push(format!("#f{i} = :f{i}"));
                names.insert(format!("#f{i}"), attr.to_owned());
                values.insert(format!(":f{i}"), s(v));
            }
        };
        add("state", filter.state.map(|s| s.as_str().to_owned()));
        add("severity", filter.severity.map(|s| s.as_str().to_owned()));
        add("sku", filter.sku.clone());
        add("location", filter.location.clone());
        let f = (!clauses.is_empty()).then(|| (clauses.join(" AND "), names, values));
        let (items, next_cursor) = self.page(ALERTS, limit, cursor, true, f).await?;
        let items = items.iter().map(alert_from).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    pub async fn get_alert(&self, alert_id: &str) -> Result<Option<Alert>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(alert_key(alert_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        out.item.as_ref().map(alert_from).transpose()
    }

    /// The tracker of a (rule, SKU, location), read consistently.
    pub async fn tracker(
        &self,
        rule_id: &str,
        sku: &str,
        location: &str,
    ) -> Result<Tracker, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(tracker_key(rule_id, sku, location)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out
            .item
            .as_ref()
            .map(tracker_from)
            .transpose()?
            .unwrap_or_default())
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        tracker_index: usize,
    ) -> Result<Transition, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
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
        let mut tracker = Update::builder()
            .table_name(&self.table)
            .set_key(Some(tracker_key(&rule.rule_id, sku, location)))
            .condition_expression(format!(
                "(attribute_not_exists(pk) OR #open = :false) AND {}",
                guard.condition()
            ))
            .expression_attribute_values(":lv", n(guard.version()))
            .expression_attribute_values(":ep", s(EPISODES))
            .expression_attribute_values(":epsk", s(format!("{}#{sku}#{location}", rule.rule_id)))
            .expression_attribute_values(":fp", s(crate::alerts::rules::fingerprint(rule)))
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":id", s(alert_id))
            .expression_attribute_values(":firing", s(AlertState::Firing.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":entity", s(entity::TRACKER))
            .expression_attribute_values(":rule", s(&rule.rule_id))
            .expression_attribute_values(":sku", s(sku))
            .expression_attribute_values(":loc", s(location))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let set = format!(
            "SET #open = :true, alert_id = :id, #state = :firing, last_notified_at = :now, \
             entity = :entity, rule_id = :rule, sku = :sku, #loc = :loc, gsi1pk = :ep, \
             gsi1sk = :epsk, rule_fingerprint = :fp{}",
            guard.set()
        );
        tracker = tracker.expression_attribute_names("#loc", "location");
        tracker = if pending.is_empty() {
            tracker.update_expression(set)
        } else {
            tracker
                .update_expression(format!("{set} ADD pending :pending"))
                .expression_attribute_values(":pending", owed_keys(pending))
        };
        let mut alert: Item = alert_key(alert_id);
        alert.extend([
            ("entity".into(), s(entity::ALERT)),
            ("alert_id".into(), s(alert_id)),
            ("rule_id".into(), s(&rule.rule_id)),
            ("rule_name".into(), s(&rule.name)),
            ("kind".into(), s(rule.condition.kind())),
            ("severity".into(), s(rule.severity.as_str())),
            ("sku".into(), s(sku)),
            ("location".into(), s(location)),
            ("state".into(), s(AlertState::Firing.as_str())),
            ("fired_at".into(), s(now_text)),
            ("fired_at_unix".into(), n(now)),
            ("reminders".into(), n(0)),
            (
                "observation".into(),
                s(serde_json::to_string(observation).unwrap_or_default()),
            ),
            (
                "history".into(),
                history_entry(now_text, "fired", "evaluator"),
            ),
            (
                "deliveries".into(),
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
            ("gsi1pk".into(), s(ALERTS)),
            ("gsi1sk".into(), s(format!("{now_text}#{alert_id}"))),
        ]);
        let items = vec![
            TransactWriteItem::builder()
                .update(
                    tracker
                        .build()
                        .map_err(|e| StoreError::Failed(e.to_string()))?,
                )
                .build(),
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(alert))
                        .condition_expression("attribute_not_exists(pk)")
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
        let Step {
            episode:
                EpisodeKey {
                    rule_id,
                    sku,
                    location,
                },
            alert_id,
            pending,
            now_text,
            ..
        } = *step;
        let mut tracker = Update::builder()
            .table_name(&self.table)
            .set_key(Some(tracker_key(rule_id, sku, location)));
        let mut set = "SET #open = :false, #state = :resolved".to_owned();
        tracker = match guard {
            Some(g) => {
                set.push_str(g.set());
                tracker
                    .condition_expression(format!(
                        "#open = :true AND alert_id = :id AND {}",
                        g.condition()
                    ))
                    .expression_attribute_values(":lv", n(g.version()))
            }
            None => tracker.condition_expression("#open = :true AND alert_id = :id"),
        };
        let mut tracker = tracker
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":id", s(alert_id))
            .expression_attribute_values(":resolved", s(AlertState::Resolved.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        tracker = if pending.is_empty() {
            tracker.update_expression(set)
        } else {
            tracker
                .update_expression(format!("{set} ADD pending :pending"))
                .expression_attribute_values(":pending", owed_keys(pending))
        };
        let (owed, (_, owed_names, owed_values)) = pending_clauses(pending, now_text);
        let mut set = "SET #state = :resolved, resolved_at = :now, resolved_by = :by, \
                       history = list_append(history, :h)"
            .to_owned();
        for c in &owed {
            set.push_str(", ");
            set.push_str(c);
        }
        let alert = Update::builder()
            .table_name(&self.table)
            .set_key(Some(alert_key(alert_id)))
            .update_expression(set)
            .set_expression_attribute_names(Some(owed_names))
            .set_expression_attribute_values(Some(owed_values))
            .condition_expression("attribute_exists(pk) AND #state <> :resolved")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":resolved", s(AlertState::Resolved.as_str()))
            .expression_attribute_values(":now", s(now_text))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":h", history_entry(now_text, "resolved", by));
        let items = vec![
            TransactWriteItem::builder()
                .update(
                    tracker
                        .build()
                        .map_err(|e| StoreError::Failed(e.to_string()))?,
                )
                .build(),
            TransactWriteItem::builder()
                .update(
                    alert
                        .build()
                        .map_err(|e| StoreError::Failed(e.to_string()))?,
                )
                .build(),
        ];
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
        let Step {
            episode:
                EpisodeKey {
                    rule_id,
                    sku,
                    location,
                },
            pending,
            now,
            now_text,
            ..
        } = *step;
        let previous = episode.last_notified_at.unwrap_or(0);
        let mut tracker = Update::builder()
            .table_name(&self.table)
            .set_key(Some(tracker_key(rule_id, sku, location)))
            .condition_expression(format!(
                "#open = :true AND alert_id = :id AND #state = :firing AND last_notified_at = :prev \
                 AND {}",
                guard.condition()
            ))
            .expression_attribute_values(":lv", n(guard.version()))
            .expression_attribute_names("#open", "open")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":id", s(&episode.alert_id))
            .expression_attribute_values(":firing", s(AlertState::Firing.as_str()))
            .expression_attribute_values(":prev", n(previous))
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        tracker = if pending.is_empty() {
            tracker.update_expression(format!("SET last_notified_at = :now{}", guard.set()))
        } else {
            tracker
                .update_expression(format!(
                    "SET last_notified_at = :now{} ADD pending :pending",
                    guard.set()
                ))
                .expression_attribute_values(":pending", owed_keys(pending))
        };
        // Reminders are counted, not appended to the history: the alert item stays the same size
        // however long an episode reminds (the history holds fired, acknowledged and resolved).
        let (owed, (_, owed_names, owed_values)) = pending_clauses(pending, now_text);
        let mut set = "ADD reminders :one SET last_reminded_at = :at".to_owned();
        for c in &owed {
            set.push_str(", ");
            set.push_str(c);
        }
        let alert = Update::builder()
            .table_name(&self.table)
            .set_key(Some(alert_key(&episode.alert_id)))
            .update_expression(set)
            .set_expression_attribute_names(Some(owed_names))
            .set_expression_attribute_values(Some(owed_values))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":at", s(now_text));
        let items = vec![
            TransactWriteItem::builder()
                .update(
                    tracker
                        .build()
                        .map_err(|e| StoreError::Failed(e.to_string()))?,
                )
                .build(),
            TransactWriteItem::builder()
                .update(
                    alert
                        .build()
                        .map_err(|e| StoreError::Failed(e.to_string()))?,
                )
                .build(),
        ];
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
                tracing::error!(tracker = ?item.get("pk"), "episode without its rule, SKU or location");
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
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::CLOCK_SWEEP, keys::META)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out
            .item
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
        if_condition_held(result).map(|_| ())
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
            .update_expression("REMOVE gsi1pk, gsi1sk")
            .condition_expression(
                "attribute_exists(gsi1pk) AND #open = :false AND attribute_not_exists(pending)",
            )
            .expression_attribute_names("#open", "open")
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        if_condition_held(result).map(|_| ())
    }

    /// Claims an owed delivery for one sender until `until` (seconds): a conditional write on the
    /// episode's tracker that holds only while the delivery is still owed (under its stored key,
    /// `stored`) and nobody else's claim on it is in force. The claim is the tracker's attribute
    /// `lease#<delivery key>` ([`keys::lease`]); recording the delivery removes it.
    pub async fn claim_delivery(
        &self,
        episode: &EpisodeKey<'_>,
        delivery: &Delivery,
        stored: &str,
        lease: &Lease<'_>,
    ) -> Result<Claim, StoreError> {
        let claim = AttributeValue::M(HashMap::from([
            ("by".to_owned(), s(lease.owner)),
            ("until".to_owned(), n(lease.until)),
        ]));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(tracker_key(
                episode.rule_id,
                episode.sku,
                episode.location,
            )))
            .update_expression("SET #lease = :claim")
            .condition_expression(
                "(contains(pending, :stored) OR contains(pending, :key)) \
                 AND (attribute_not_exists(#lease) OR #lease.#until <= :now)",
            )
            .expression_attribute_names("#lease", keys::lease(&delivery.key()))
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":claim", claim)
            .expression_attribute_values(":stored", s(stored))
            .expression_attribute_values(":key", s(delivery.key()))
            .expression_attribute_values(":now", n(lease.now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Held),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let owed = c.item().and_then(|t| t.get("pending")).is_some_and(|p| {
                        p.as_ss()
                            .is_ok_and(|p| p.iter().any(|k| k == stored || *k == delivery.key()))
                    });
                    Ok(if owed { Claim::Taken } else { Claim::Settled })
                }
                _ => Err(sdk(e)),
            },
        }
    }

    /// Records how a delivery went: on the alert (its `deliveries` map, for the inbox) and on the
    /// tracker, in one transaction: once it is settled for good (sent, or refused for good) it is
    /// owed no more; either way the sender's claim on it ends (a delivery being retried stays
    /// owed, for whoever claims it next).
    pub async fn record_delivery(
        &self,
        episode: &EpisodeKey<'_>,
        delivery: &Delivery,
        status: &DeliveryStatus,
    ) -> Result<(), StoreError> {
        let key = delivery.slot();
        let alert = Update::builder()
            .table_name(&self.table)
            .set_key(Some(alert_key(&delivery.alert_id)))
            .update_expression("SET #dl.#k = :st")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#dl", "deliveries")
            .expression_attribute_names("#k", &key)
            .expression_attribute_values(":st", status_value(status))
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        let settled = !matches!(status, DeliveryStatus::Retrying { .. });
        let tracker = || {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(tracker_key(
                    episode.rule_id,
                    episode.sku,
                    episode.location,
                )))
                .expression_attribute_names("#lease", keys::lease(&delivery.key()));
            let update = if settled {
                // Its stored key, and the form written before deliveries named their alert.
                update
                    .update_expression("DELETE pending :e REMOVE #lease")
                    .expression_attribute_values(
                        ":e",
                        AttributeValue::Ss(vec![delivery.key(), delivery.slot()]),
                    )
            } else {
                update.update_expression("REMOVE #lease")
            };
            update
                .build()
                .map_err(|e| StoreError::Failed(e.to_string()))
        };
        let items = vec![
            TransactWriteItem::builder().update(alert).build(),
            TransactWriteItem::builder().update(tracker()?).build(),
        ];
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // The alert is gone (deleted by hand): settle the tracker alone.
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    matches!(se, TransactWriteItemsError::TransactionCanceledException(c)
                        if c.cancellation_reasons().first().and_then(|r| r.code())
                            == Some("ConditionalCheckFailed"))
                }) =>
            {
                let u = tracker()?;
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(u.key))
                    .update_expression(u.update_expression)
                    .set_expression_attribute_names(u.expression_attribute_names)
                    .set_expression_attribute_values(u.expression_attribute_values)
                    .send()
                    .await
                    .map_err(sdk)?;
                Ok(())
            }
            Err(e) => Err(sdk(e)),
        }
    }

    /// Acknowledges a firing alert; returns the alert as it now stands (None if unknown).
    pub async fn acknowledge(
        &self,
        alert_id: &str,
        by: &str,
        now_text: &str,
    ) -> Result<Option<Alert>, AckError> {
        let Some(alert) = self.get_alert(alert_id).await? else {
            return Ok(None);
        };
        if alert.state != AlertState::Firing {
            return Err(AckError::NotFiring(alert.state));
        }
        let tracker = Update::builder()
            .table_name(&self.table)
            .set_key(Some(tracker_key(
                &alert.rule_id,
                &alert.sku,
                &alert.location,
            )))
            .update_expression("SET #state = :acked")
            .condition_expression("alert_id = :id AND #state = :firing")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":acked", s(AlertState::Acknowledged.as_str()))
            .expression_attribute_values(":firing", s(AlertState::Firing.as_str()))
            .expression_attribute_values(":id", s(alert_id));
        let item = Update::builder()
            .table_name(&self.table)
            .set_key(Some(alert_key(alert_id)))
            .update_expression(
                "SET #state = :acked, acknowledged_at = :now, acknowledged_by = :by, \
                 history = list_append(history, :h)",
            )
            .condition_expression("#state = :firing")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":acked", s(AlertState::Acknowledged.as_str()))
            .expression_attribute_values(":firing", s(AlertState::Firing.as_str()))
            .expression_attribute_values(":now", s(now_text))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":h", history_entry(now_text, "acknowledged", by));
        let items = vec![
            TransactWriteItem::builder()
                .update(
                    tracker
                        .build()
                        .map_err(|e| StoreError::Failed(e.to_string()))?,
                )
                .build(),
            TransactWriteItem::builder()
                .update(
                    item.build()
                        .map_err(|e| StoreError::Failed(e.to_string()))?,
                )
                .build(),
        ];
        match self.transact(items, 0).await? {
            Transition::Applied(_) => Ok(self.get_alert(alert_id).await?),
            Transition::AlreadyDone(_) => {
                let now = self.get_alert(alert_id).await?;
                Err(AckError::NotFiring(
                    now.map(|a| a.state).unwrap_or(AlertState::Resolved),
                ))
            }
        }
    }

    /// Resolves an open alert by hand.
    pub async fn resolve_by_hand(
        &self,
        alert_id: &str,
        by: &str,
        now_text: &str,
    ) -> Result<Option<Alert>, AckError> {
        let Some(alert) = self.get_alert(alert_id).await? else {
            return Ok(None);
        };
        if alert.state == AlertState::Resolved {
            return Err(AckError::NotFiring(alert.state));
        }
        let step = Step {
            episode: EpisodeKey {
                rule_id: &alert.rule_id,
                sku: &alert.sku,
                location: &alert.location,
            },
            alert_id,
            pending: &[],
            now: 0,
            now_text,
        };
        match self.resolve(&step, None, by).await? {
            Transition::Applied(_) => Ok(self.get_alert(alert_id).await?),
            Transition::AlreadyDone(_) => Err(AckError::NotFiring(AlertState::Resolved)),
        }
    }

    /// Creates or replaces the silence of a target until `until_unix`.
    pub async fn put_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        let mut item: Item = silence_key(&silence.silence_id);
        item.extend([
            ("entity".into(), s(entity::SILENCE)),
            ("silence_id".into(), s(&silence.silence_id)),
            ("until".into(), s(&silence.until)),
            ("until_unix".into(), n(silence.until_unix)),
            ("reason".into(), s(&silence.reason)),
            ("created_by".into(), s(&silence.created_by)),
            // Removed by TTL a day after it ends; the evaluator ignores it from `until` on.
            ("expires_at".into(), n(silence.until_unix + 86_400)),
            ("gsi1pk".into(), s(SILENCES)),
            ("gsi1sk".into(), s(&silence.silence_id)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    pub async fn list_silences(&self, now: i64) -> Result<Vec<Silence>, StoreError> {
        Ok(self
            .all_of(SILENCES)
            .await?
            .iter()
            .filter_map(|i| {
                silence_from(i)
                    .map_err(|e| tracing::error!(error = %e, "skipping silence"))
                    .ok()
            })
            .filter(|s| s.until_unix > now)
            .collect())
    }

    /// Ends a silence early; false when there was none.
    pub async fn delete_silence(&self, silence_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(silence_key(silence_id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.attributes.is_some())
    }

    /// A SKU's name and attributes (for selectors and messages).
    pub async fn sku_profile(&self, sku: &str) -> Result<SkuProfile, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::sku(sku), keys::META)))
            .send()
            .await
            .map_err(sdk)?;
        match out.item {
            None => Ok(SkuProfile::default()),
            Some(item) => decode::<SkuItem>(entity::SKU, &item)
                .map(|i| SkuProfile {
                    name: Some(i.name),
                    attributes: i.attributes,
                })
                .map_err(corrupt),
        }
    }

    /// [`sku_profile`](Self::sku_profile), read once into `slot` and reused from there.
    pub async fn sku_profile_once<'a>(
        &self,
        sku: &str,
        slot: &'a mut Option<SkuProfile>,
    ) -> Result<&'a SkuProfile, StoreError> {
        if slot.is_none() {
            *slot = Some(self.sku_profile(sku).await?);
        }
        Ok(slot.get_or_insert_with(SkuProfile::default))
    }
}

/// What the alert engine knows of a SKU from its catalogue entry: the name its messages show and
/// the attributes rule selectors match. A SKU sold before it was catalogued has neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkuProfile {
    pub name: Option<String>,
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// Why an alert could not be acknowledged or resolved.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("alert is {0:?}")]
    NotFiring(AlertState),
    #[error(transparent)]
    Store(#[from] StoreError),
}
