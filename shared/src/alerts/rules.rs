//! Alert rules: what an admin sets through the API, validated into a [`Rule`]. Pure.

use serde::{Deserialize, Serialize};

use crate::counters::{DAILY_RETENTION, HOURLY_RETENTION};
use crate::domain::{parse_text, FieldError, LocationId, SkuId};

/// How loud an alert is. Ordered: `Critical` is the most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Self::Info),
            "warning" => Some(Self::Warning),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }
}

/// What a rule watches, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    /// available ≤ threshold; resolves only once available ≥ clear_at (> threshold).
    LowStock { threshold: i64, clear_at: i64 },
    /// available = 0; resolves once available ≥ clear_at (≥ 1).
    OutOfStock { clear_at: i64 },
    /// At least `min_units` sold in the last `window_hours`; resolves only once fewer than
    /// `clear_below` (≤ min_units) are, so a rate near the threshold does not flap.
    SalesVelocity {
        window_hours: i64,
        min_units: i64,
        clear_below: i64,
    },
    /// Units sold in the last `window_hours` are at least `drop_percent` % of the stock there was
    /// at the start of the window (available now + sold in the window); resolves only once they
    /// are under `clear_below_percent` (≤ drop_percent).
    StockDrop {
        window_hours: i64,
        drop_percent: i64,
        clear_below_percent: i64,
    },
    /// available ÷ average daily sales over the last `lookback_days` ≤ `max_days`.
    DaysOfCover { lookback_days: i64, max_days: f64 },
    /// No sale for `days` while on_hand > 0 (dead stock). Evaluated on a clock.
    NoSale { days: i64 },
    /// No receipt for `days` while available ≤ `below`. Evaluated on a clock.
    NoReceipt { days: i64, below: i64 },
    /// Stock on hand and unchanged by receipts for `days` (stock age). Evaluated on a clock.
    StockAge { days: i64 },
    /// available + in_transit ≤ the level's reorder point (set daily by the replenishment run
    /// from its demand forecast); resolves once above it. Evaluated on stock changes, and by the
    /// clock's sweep, so a reorder point that rises overnight fires with no stock change.
    ReorderPoint,
    /// Held units a count found missing and cut from the newest holds, while any of those holds
    /// is open; resolves once every hold cut short is closed. Evaluated on stock changes.
    HoldsShort,
}

impl Condition {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::LowStock { .. } => "low_stock",
            Self::OutOfStock { .. } => "out_of_stock",
            Self::SalesVelocity { .. } => "sales_velocity",
            Self::StockDrop { .. } => "stock_drop",
            Self::DaysOfCover { .. } => "days_of_cover",
            Self::NoSale { .. } => "no_sale",
            Self::NoReceipt { .. } => "no_receipt",
            Self::StockAge { .. } => "stock_age",
            Self::ReorderPoint => "reorder_point",
            Self::HoldsShort => "holds_short",
        }
    }

    /// Whether the clock's sweep of every level evaluates this rule (time-based rules, and
    /// reorder points, which the replenishment run moves without a stock change).
    pub fn swept(&self) -> bool {
        !self.on_change() || matches!(self, Self::ReorderPoint)
    }

    /// Whether stock changes drive this rule (the stream evaluator) rather than a clock.
    pub fn on_change(&self) -> bool {
        !matches!(
            self,
            Self::NoSale { .. } | Self::NoReceipt { .. } | Self::StockAge { .. }
        )
    }
}

/// Which SKU and location a rule applies to. Empty: everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<AttributeMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeMatch {
    pub name: String,
    pub value: String,
}

impl Selector {
    /// Whether the selector needs the SKU's catalogue attributes to decide.
    pub fn needs_attributes(&self) -> bool {
        self.attribute.is_some()
    }

    /// Whether a level of `sku` at `location` is selected; `attributes` are the SKU's.
    pub fn selects(
        &self,
        sku: &str,
        location: &str,
        attributes: Option<&std::collections::BTreeMap<String, String>>,
    ) -> bool {
        self.sku.as_deref().is_none_or(|s| s == sku)
            && self
                .sku_prefix
                .as_deref()
                .is_none_or(|p| sku.starts_with(p))
            && self.location.as_deref().is_none_or(|l| l == location)
            && self
                .attribute
                .as_ref()
                .is_none_or(|a| attributes.and_then(|m| m.get(&a.name)) == Some(&a.value))
    }
}

/// Where notifications go. Recipients come only from rules an admin set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    /// Publish to the ops SNS topic (SMS and other subscribers).
    #[serde(default)]
    pub sms: bool,
    /// Email through SES to these recipients.
    #[serde(default)]
    pub email: Vec<String>,
    /// Show in the admin console's inbox (always recorded; this flag is for the console).
    #[serde(default = "yes")]
    pub inbox: bool,
}

fn yes() -> bool {
    true
}

impl Default for Channels {
    fn default() -> Self {
        Self {
            sms: false,
            email: Vec::new(),
            inbox: true,
        }
    }
}

/// Hours (UTC) during which SMS and email wait; the inbox still gets the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// Hour of day, 0–23, UTC.
    pub start_hour: u8,
    /// Hour of day, 0–23, UTC; may be before `start_hour` (overnight).
    pub end_hour: u8,
}

impl QuietHours {
    /// Whether `unix_secs` falls in the quiet period.
    pub fn contains(self, unix_secs: i64) -> bool {
        let hour = (unix_secs.div_euclid(3600)).rem_euclid(24) as u8;
        if self.start_hour <= self.end_hour {
            (self.start_hour..self.end_hour).contains(&hour)
        } else {
            hour >= self.start_hour || hour < self.end_hour
        }
    }
}

/// A validated alert rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub rule_id: String,
    pub name: String,
    #[serde(flatten)]
    pub condition: Condition,
    pub selector: Selector,
    pub severity: Severity,
    pub channels: Channels,
    /// Minutes between reminders while an alert stays firing and unacknowledged; none when absent.
    pub repeat_minutes: Option<i64>,
    pub notify_on_resolve: bool,
    pub enabled: bool,
    pub quiet_hours: Option<QuietHours>,
    pub created_at: String,
    pub updated_at: String,
}

/// A rule as a client sends it. Unknown fields are refused; parameters that do not belong to the
/// rule's kind are refused by name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub threshold: Option<i64>,
    #[serde(default)]
    pub clear_at: Option<i64>,
    #[serde(default)]
    pub window_hours: Option<i64>,
    #[serde(default)]
    pub min_units: Option<i64>,
    #[serde(default)]
    pub drop_percent: Option<i64>,
    /// sales_velocity: resolves once fewer units than this are sold in the window.
    #[serde(default)]
    pub clear_below: Option<i64>,
    /// stock_drop: resolves once the units sold are under this percentage.
    #[serde(default)]
    pub clear_below_percent: Option<i64>,
    #[serde(default)]
    pub lookback_days: Option<i64>,
    #[serde(default)]
    pub max_days: Option<f64>,
    #[serde(default)]
    pub days: Option<i64>,
    #[serde(default)]
    pub below: Option<i64>,
    #[serde(default)]
    pub selector: Selector,
    pub severity: Severity,
    #[serde(default)]
    pub channels: Channels,
    #[serde(default)]
    pub repeat_minutes: Option<i64>,
    #[serde(default)]
    pub notify_on_resolve: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
}

/// Rule kinds the API accepts.
pub const KINDS: &[&str] = &[
    "low_stock",
    "out_of_stock",
    "sales_velocity",
    "stock_drop",
    "days_of_cover",
    "no_sale",
    "no_receipt",
    "stock_age",
    "reorder_point",
    "holds_short",
];
pub const MAX_RECIPIENTS: usize = 10;
pub const MAX_STOCK_THRESHOLD: i64 = 1_000_000_000;

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.chars().all(|c| c.is_ascii_graphic())
        && !e.contains(['<', '>', ',', ';', '"', '\\'])
}

impl RuleBody {
    /// Validates into the rule's parts (id and times are added by the caller).
    pub fn validate(&self) -> Result<(String, Condition, Selector), Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = parse_text("name", &self.name)
            .map_err(|e| errors.push(e))
            .ok();

        let params: [(&str, bool); 11] = [
            ("threshold", self.threshold.is_some()),
            ("clear_at", self.clear_at.is_some()),
            ("window_hours", self.window_hours.is_some()),
            ("min_units", self.min_units.is_some()),
            ("drop_percent", self.drop_percent.is_some()),
            ("clear_below", self.clear_below.is_some()),
            ("clear_below_percent", self.clear_below_percent.is_some()),
            ("lookback_days", self.lookback_days.is_some()),
            ("max_days", self.max_days.is_some()),
            ("days", self.days.is_some()),
            ("below", self.below.is_some()),
        ];
        let allowed: &[&str] = match self.kind.as_str() {
            "low_stock" => &["threshold", "clear_at"],
            "out_of_stock" => &["clear_at"],
            "sales_velocity" => &["window_hours", "min_units", "clear_below"],
            "stock_drop" => &["window_hours", "drop_percent", "clear_below_percent"],
            "days_of_cover" => &["lookback_days", "max_days"],
            "no_sale" | "stock_age" => &["days"],
            "no_receipt" => &["days", "below"],
            "reorder_point" | "holds_short" => &[],
            _ => {
                errors.push(FieldError::new(
                    "kind",
                    format!("must be one of {}", KINDS.join(", ")),
                ));
                &[]
            }
        };
        if KINDS.contains(&self.kind.as_str()) {
            for (param, present) in params {
                if present && !allowed.contains(&param) {
                    errors.push(FieldError::new(
                        param,
                        format!("does not apply to a {} rule", self.kind),
                    ));
                }
            }
        }
        let mut int = |field: &str, v: Option<i64>, min: i64, max: i64| -> Option<i64> {
            match v {
                None => {
                    errors.push(FieldError::new(field, "is required for this kind"));
                    None
                }
                Some(v) if v < min || v > max => {
                    errors.push(FieldError::new(
                        field,
                        format!("must be an integer from {min} to {max}"),
                    ));
                    None
                }
                Some(v) => Some(v),
            }
        };
        let condition = match self.kind.as_str() {
            "low_stock" => {
                let threshold = int("threshold", self.threshold, 0, MAX_STOCK_THRESHOLD);
                let clear_at = match (threshold, self.clear_at) {
                    (Some(t), None) => Some(t + 1),
                    // clear_at is optional: a bad threshold is the only error to report.
                    (None, None) => None,
                    (_, c) => int("clear_at", c, 1, MAX_STOCK_THRESHOLD + 1),
                };
                match (threshold, clear_at) {
                    (Some(t), Some(c)) if c <= t => {
                        errors.push(FieldError::new(
                            "clear_at",
                            "must be above threshold, so an alert cannot flap",
                        ));
                        None
                    }
                    (Some(threshold), Some(clear_at)) => Some(Condition::LowStock {
                        threshold,
                        clear_at,
                    }),
                    _ => None,
                }
            }
            "out_of_stock" => {
                let clear_at = match self.clear_at {
                    None => Some(1),
                    c => int("clear_at", c, 1, MAX_STOCK_THRESHOLD),
                };
                clear_at.map(|clear_at| Condition::OutOfStock { clear_at })
            }
            "sales_velocity" => {
                let w = int("window_hours", self.window_hours, 1, HOURLY_RETENTION);
                let m = int("min_units", self.min_units, 1, MAX_STOCK_THRESHOLD);
                // Resolves under half the threshold by default.
                let c = match (m, self.clear_below) {
                    (Some(m), None) => Some((m + 1) / 2),
                    (None, None) => None,
                    (m, c) => int("clear_below", c, 1, m.unwrap_or(MAX_STOCK_THRESHOLD)),
                };
                w.zip(m)
                    .zip(c)
                    .map(
                        |((window_hours, min_units), clear_below)| Condition::SalesVelocity {
                            window_hours,
                            min_units,
                            clear_below,
                        },
                    )
            }
            "stock_drop" => {
                let w = int("window_hours", self.window_hours, 1, HOURLY_RETENTION);
                let p = int("drop_percent", self.drop_percent, 1, 100);
                let c = match (p, self.clear_below_percent) {
                    (Some(p), None) => Some((p + 1) / 2),
                    (None, None) => None,
                    (p, c) => int("clear_below_percent", c, 1, p.unwrap_or(100)),
                };
                w.zip(p)
                    .zip(c)
                    .map(|((window_hours, drop_percent), clear_below_percent)| {
                        Condition::StockDrop {
                            window_hours,
                            drop_percent,
                            clear_below_percent,
                        }
                    })
            }
            "days_of_cover" => {
                let l = int("lookback_days", self.lookback_days, 1, DAILY_RETENTION - 1);
                let d = match self.max_days {
                    Some(d) if d.is_finite() && d > 0.0 && d <= 365.0 => Some(d),
                    Some(_) => {
                        errors.push(FieldError::new(
                            "max_days",
                            "must be above 0 and at most 365",
                        ));
                        None
                    }
                    None => {
                        errors.push(FieldError::new("max_days", "is required for this kind"));
                        None
                    }
                };
                l.zip(d)
                    .map(|(lookback_days, max_days)| Condition::DaysOfCover {
                        lookback_days,
                        max_days,
                    })
            }
            "no_sale" => int("days", self.days, 1, 3650).map(|days| Condition::NoSale { days }),
            "stock_age" => int("days", self.days, 1, 3650).map(|days| Condition::StockAge { days }),
            "no_receipt" => {
                let d = int("days", self.days, 1, 3650);
                let b = int("below", self.below, 0, MAX_STOCK_THRESHOLD);
                d.zip(b)
                    .map(|(days, below)| Condition::NoReceipt { days, below })
            }
            "reorder_point" => Some(Condition::ReorderPoint),
            "holds_short" => Some(Condition::HoldsShort),
            _ => None,
        };

        let sel = &self.selector;
        let narrowing = [
            sel.sku.is_some(),
            sel.sku_prefix.is_some(),
            sel.attribute.is_some(),
        ];
        if narrowing.iter().filter(|x| **x).count() > 1 {
            errors.push(FieldError::new(
                "selector",
                "choose at most one of sku, sku_prefix and attribute",
            ));
        }
        if let Some(s) = &sel.sku {
            if let Err(mut e) = SkuId::parse("selector.sku", s) {
                e.field = "selector.sku".into();
                errors.push(e);
            }
        }
        if let Some(p) = &sel.sku_prefix {
            let ok = !p.is_empty()
                && p.len() < SkuId::MAX_LEN
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || SkuId::EXTRA_CHARS.contains(c));
            if !ok {
                errors.push(FieldError::new(
                    "selector.sku_prefix",
                    "must be the start of a SKU id",
                ));
            }
        }
        if let Some(l) = &sel.location {
            if let Err(e) = LocationId::parse("selector.location", l) {
                errors.push(e);
            }
        }
        if let Some(a) = &sel.attribute {
            if a.name.is_empty() || a.name.len() > 64 {
                errors.push(FieldError::new(
                    "selector.attribute.name",
                    "must be 1 to 64 characters",
                ));
            }
            if let Err(e) = parse_text("selector.attribute.value", &a.value) {
                errors.push(e);
            }
        }

        if self.channels.email.len() > MAX_RECIPIENTS {
            errors.push(FieldError::new(
                "channels.email",
                format!("at most {MAX_RECIPIENTS} recipients"),
            ));
        }
        for (i, e) in self.channels.email.iter().enumerate() {
            if !valid_email(e) {
                errors.push(FieldError::new(
                    format!("channels.email[{i}]"),
                    "must be an email address",
                ));
            }
        }
        if let Some(r) = self.repeat_minutes {
            if !(5..=10_080).contains(&r) {
                errors.push(FieldError::new(
                    "repeat_minutes",
                    "must be an integer from 5 to 10080 (a week)",
                ));
            }
        }
        if let Some(q) = self.quiet_hours {
            if q.start_hour > 23 || q.end_hour > 23 || q.start_hour == q.end_hour {
                errors.push(FieldError::new(
                    "quiet_hours",
                    "start_hour and end_hour are different hours from 0 to 23 (UTC)",
                ));
            }
        }
        match (name, condition) {
            (Some(name), Some(condition)) if errors.is_empty() => {
                Ok((name, condition, sel.clone()))
            }
            _ => {
                if errors.is_empty() {
                    errors.push(FieldError::new("body", "invalid rule"));
                }
                Err(errors)
            }
        }
    }

    /// The validated rule with its identity and times.
    pub fn into_rule(
        &self,
        rule_id: String,
        created_at: String,
        updated_at: String,
    ) -> Result<Rule, Vec<FieldError>> {
        let (name, condition, selector) = self.validate()?;
        Ok(Rule {
            rule_id,
            name,
            condition,
            selector,
            severity: self.severity,
            channels: self.channels.clone(),
            repeat_minutes: self.repeat_minutes,
            notify_on_resolve: self.notify_on_resolve,
            enabled: self.enabled,
            quiet_hours: self.quiet_hours,
            created_at,
            updated_at,
        })
    }
}

/// What an episode's meaning depends on: the rule's kind, parameters and selector, and the rule
/// itself (its creation time: a rule deleted and created again under the same id, from the same
/// Idempotency-Key, is another rule). A rule replaced with other values of these closes its open
/// episodes.
pub fn fingerprint(rule: &Rule) -> String {
    use sha2::{Digest, Sha256};
    let text = serde_json::json!({ "condition": rule.condition, "selector": rule.selector,
                                   "created_at": rule.created_at });
    hex::encode(&Sha256::digest(text.to_string().as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> RuleBody {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn low_stock_needs_a_clear_level_above_its_threshold() {
        let ok = body(
            serde_json::json!({"name": "low", "kind": "low_stock", "threshold": 5, "clear_at": 10, "severity": "warning"}),
        );
        assert_eq!(
            ok.validate().unwrap().1,
            Condition::LowStock {
                threshold: 5,
                clear_at: 10
            }
        );
        let flappy = body(
            serde_json::json!({"name": "low", "kind": "low_stock", "threshold": 5, "clear_at": 5, "severity": "warning"}),
        );
        assert_eq!(flappy.validate().unwrap_err()[0].field, "clear_at");
        let missing =
            body(serde_json::json!({"name": "low", "kind": "low_stock", "severity": "warning"}));
        assert_eq!(missing.validate().unwrap_err()[0].field, "threshold");
    }

    #[test]
    fn a_reorder_point_rule_takes_no_parameters() {
        let ok = body(
            serde_json::json!({"name": "rop", "kind": "reorder_point", "severity": "warning"}),
        );
        let (_, condition, _) = ok.validate().unwrap();
        assert_eq!(condition, Condition::ReorderPoint);
        assert!(condition.on_change() && condition.swept());
        let with = body(
            serde_json::json!({"name": "rop", "kind": "reorder_point", "threshold": 5, "severity": "warning"}),
        );
        assert_eq!(with.validate().unwrap_err()[0].field, "threshold");
    }

    #[test]
    fn parameters_of_another_kind_and_bad_channels_are_named() {
        let b = body(serde_json::json!({
            "name": "v", "kind": "sales_velocity", "window_hours": 100, "min_units": 3, "threshold": 2,
            "severity": "info", "channels": {"email": ["not-an-address"]}, "repeat_minutes": 1,
            "selector": {"sku": "A", "sku_prefix": "B"}
        }));
        let fields: Vec<_> = b
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "threshold",
                "window_hours",
                "selector",
                "channels.email[0]",
                "repeat_minutes"
            ]
        );
    }

    #[test]
    fn selectors_match_sku_prefix_attribute_and_location() {
        let attrs: std::collections::BTreeMap<String, String> =
            [("brand".to_owned(), "Acme".to_owned())].into();
        let all = Selector::default();
        assert!(all.selects("X", "WH1", None));
        let prefix = Selector {
            sku_prefix: Some("CAP-".into()),
            location: Some("WH1".into()),
            ..Selector::default()
        };
        assert!(prefix.selects("CAP-BLUE", "WH1", None));
        assert!(!prefix.selects("CAP-BLUE", "WH2", None));
        assert!(!prefix.selects("MUG", "WH1", None));
        let brand = Selector {
            attribute: Some(AttributeMatch {
                name: "brand".into(),
                value: "Acme".into(),
            }),
            ..Selector::default()
        };
        assert!(brand.selects("MUG", "WH1", Some(&attrs)));
        assert!(!brand.selects("MUG", "WH1", None));
    }

    #[test]
    fn quiet_hours_wrap_over_midnight() {
        let q = QuietHours {
            start_hour: 22,
            end_hour: 7,
        };
        let at = |h: i64| h * 3600;
        assert!(
            q.contains(at(23)) && q.contains(at(3)) && !q.contains(at(7)) && !q.contains(at(12))
        );
        let day = QuietHours {
            start_hour: 9,
            end_hour: 17,
        };
        assert!(day.contains(at(9)) && !day.contains(at(17)));
    }
}
