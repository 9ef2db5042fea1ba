//! The alert items of the table's schema ([`super`]): rules, silences, alerts (whole, and as the
//! alerts-by-day index projects them) and the trackers of alert episodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `RULE#<id>` / `META`: the rule as its last create or replace sent it.
#[derive(Debug, Clone, Deserialize)]
pub struct RuleItem {
    pub rule_id: String,
    /// The request body (JSON), validated again on read.
    pub body: String,
    pub request_hash: String,
    pub created_at: String,
    pub updated_at: String,
}

/// `SILENCE#<target>` / `META`.
#[derive(Debug, Clone, Deserialize)]
pub struct SilenceItem {
    pub silence_id: String,
    pub until: String,
    pub until_unix: i64,
    pub reason: String,
    pub created_by: String,
}

/// One entry of an alert's history.
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryItem {
    pub at: String,
    pub event: String,
    pub by: String,
}

/// `ALERT#<id>` / `META`: one alert episode as the inbox shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertItem {
    pub alert_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub kind: String,
    pub severity: String,
    pub sku: String,
    pub location: String,
    pub state: String,
    pub fired_at: String,
    #[serde(default)]
    pub acknowledged_at: Option<String>,
    #[serde(default)]
    pub acknowledged_by: Option<String>,
    #[serde(default)]
    pub resolved_at: Option<String>,
    #[serde(default)]
    pub resolved_by: Option<String>,
    pub reminders: i64,
    #[serde(default)]
    pub last_reminded_at: Option<String>,
    /// What the rule measured when it fired (JSON).
    pub observation: String,
    pub history: Vec<HistoryItem>,
    /// Each owed notice (`fire:sms`, …) and how its delivery stands.
    #[serde(default)]
    pub deliveries: BTreeMap<String, DeliveryStatus>,
}

/// An alert as the `alert_days` index projects it: what the daily report's alerts dataset reads.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertDayItem {
    pub alert_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub kind: String,
    pub severity: String,
    pub sku: String,
    pub location: String,
    pub state: String,
    pub fired_at: String,
    #[serde(default)]
    pub acknowledged_at: Option<String>,
    #[serde(default)]
    pub resolved_at: Option<String>,
}

/// The attributes the `alert_days` index projects besides its keys (the fields of
/// [`AlertDayItem`]); `template.yaml` lists the same.
pub const ALERT_DAY_PROJECTION: &[&str] = &[
    "alert_id",
    "rule_id",
    "rule_name",
    "kind",
    "severity",
    "sku",
    "location",
    "state",
    "fired_at",
    "acknowledged_at",
    "resolved_at",
];

/// Where an owed notice stands, as an alert item stores it and the inbox shows it (the alert's
/// `deliveries` map; see [`crate::alerts::deliveries`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Owed and not sent yet (quiet hours, or not reached yet).
    Pending { since: String },
    /// The provider accepted it.
    Sent { at: String },
    /// The last attempt failed for a reason that may pass (throttling, 5xx, timeout): it is sent
    /// again.
    Retrying { at: String, reason: String },
    /// The provider refused it for good (an address SES rejects, a sandbox recipient, a message
    /// SNS refuses): never retried.
    Failed { at: String, reason: String },
}

/// `TRACK#<rule>` / `<sku>#<location>`: the episode state of one (rule, SKU, location). Besides
/// these attributes it holds one `lease#<delivery>` map per owed delivery a sender has claimed
/// ([`keys::lease`]); only the claim's conditional write reads them.
#[derive(Debug, Clone, Deserialize)]
pub struct TrackerItem {
    #[serde(default)]
    pub open: bool,
    #[serde(default)]
    pub alert_id: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub last_notified_at: Option<i64>,
    #[serde(default)]
    pub pending: Vec<String>,
    #[serde(default)]
    pub level_version: Option<i64>,
    #[serde(default)]
    pub rule_id: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub rule_fingerprint: Option<String>,
}
