//! The alert inbox: alerts as people see them, listed and filtered, acknowledged and resolved by
//! hand.

use super::*;

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

pub(super) fn history_entry(at: &str, event: &str, by: &str) -> AttributeValue {
    AttributeValue::L(vec![AttributeValue::M(HashMap::from([
        ("at".into(), s(at)),
        ("event".into(), s(event)),
        ("by".into(), s(by)),
    ]))])
}

pub(super) fn alert_from(item: &Item) -> Result<Alert, StoreError> {
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

/// Filters for the inbox listing.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<AlertState>,
    pub severity: Option<Severity>,
    pub sku: Option<String>,
    pub location: Option<String>,
}

/// Why an alert could not be acknowledged or resolved.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("alert is {0:?}")]
    NotFiring(AlertState),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AlertStore {
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
        PageQuery::new(Partition::Index(ALERTS), limit, cursor)
            .newest_first(true)
            .filter(f)
            .send(&self.client, &self.table)
            .await?
            .try_map(alert_from)
    }

    pub async fn get_alert(&self, alert_id: &str) -> Result<Option<Alert>, StoreError> {
        let item = self.item(alert_key(alert_id)).await?;
        item.as_ref().map(alert_from).transpose()
    }

    /// The alert `alert_id` (None if unknown), if it is in one of the `states` a person may act
    /// on it in.
    async fn alert_to_act_on(
        &self,
        alert_id: &str,
        states: &[AlertState],
    ) -> Result<Option<Alert>, AckError> {
        match self.get_alert(alert_id).await? {
            Some(alert) if !states.contains(&alert.state) => Err(AckError::NotFiring(alert.state)),
            found => Ok(found),
        }
    }

    /// Acknowledges a firing alert; returns the alert as it now stands (None if unknown).
    pub async fn acknowledge(
        &self,
        alert_id: &str,
        by: &str,
        now_text: &str,
    ) -> Result<Option<Alert>, AckError> {
        let Some(alert) = self
            .alert_to_act_on(alert_id, &[AlertState::Firing])
            .await?
        else {
            return Ok(None);
        };
        let tracker = self
            .update(tracker_key(&alert.rule_id, &alert.sku, &alert.location))
            .update_expression("SET #state = :acked")
            .condition_expression("alert_id = :id AND #state = :firing")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":acked", s(AlertState::Acknowledged.as_str()))
            .expression_attribute_values(":firing", s(AlertState::Firing.as_str()))
            .expression_attribute_values(":id", s(alert_id));
        let item = self
            .alert_moved_to(alert_id, AlertState::Acknowledged, by, now_text, &[])
            .condition_expression("#state = :firing")
            .expression_attribute_values(":firing", s(AlertState::Firing.as_str()));
        let items = vec![update_item(tracker)?, update_item(item)?];
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
        let open = [AlertState::Firing, AlertState::Acknowledged];
        let Some(alert) = self.alert_to_act_on(alert_id, &open).await? else {
            return Ok(None);
        };
        let episode = EpisodeKey {
            rule_id: &alert.rule_id,
            sku: &alert.sku,
            location: &alert.location,
        };
        let step = Step::new(episode, alert_id, &[], 0, now_text);
        match self.resolve(&step, None, by).await? {
            Transition::Applied(_) => Ok(self.get_alert(alert_id).await?),
            Transition::AlreadyDone(_) => Err(AckError::NotFiring(AlertState::Resolved)),
        }
    }
}
