//! Rule evaluation and the alert episode state machine: given a stock level as the stream shows
//! it, decide whether a rule fires, holds or clears, and what (if anything) to send. Pure.

use serde::Serialize;

use super::rules::{Condition, Rule};
use crate::domain::Quantities;

pub use crate::counters::{LevelSnapshot, RecentReceipts};

/// What a rule says about a level right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// The condition holds: an episode should be open.
    Firing(Observation),
    /// Between the firing and the clear level: keep whatever state the episode is in.
    Hold,
    /// Clear: an open episode resolves.
    Clear,
    /// Not evaluated on stock changes (time-based rules), or the rule is disabled.
    NotApplicable,
}

/// The measured value that made a rule fire, for the message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    pub available: i64,
    /// Units sold in the rule's window (velocity, drop) or per day (days of cover).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_of_cover: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_days: Option<i64>,
    /// available + in_transit, and the reorder point it was compared with (reorder_point rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reorder_point: Option<i64>,
    /// Held units a count cut short, their holds still open (holds_short rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_units: Option<i64>,
}

impl Observation {
    fn of(level: &LevelSnapshot) -> Self {
        Self {
            available: level.quantities.available,
            sold: None,
            days_of_cover: None,
            idle_days: None,
            position: None,
            reorder_point: None,
            short_units: None,
        }
    }
}

/// Reorder point: the stock position (available + in_transit) at or below the level's reorder
/// point fires; above it, or with no reorder point yet, clears.
fn reorder_verdict(level: &LevelSnapshot, q: &Quantities, obs: Observation) -> Verdict {
    let position = q.available + q.in_transit;
    match level.reorder_point {
        Some(rop) if position <= rop => Verdict::Firing(Observation {
            position: Some(position),
            reorder_point: Some(rop),
            ..obs
        }),
        _ => Verdict::Clear,
    }
}

/// What a rule measures on a level now (whatever its verdict), for messages.
pub fn observation_of(rule: &Rule, level: &LevelSnapshot, now: i64) -> Observation {
    match (
        evaluate_change(rule, level, now),
        evaluate_clock(rule, level, now),
    ) {
        (Verdict::Firing(o), _) | (_, Verdict::Firing(o)) => o,
        _ => Observation::of(level),
    }
}

/// Days of cover: available ÷ average daily sales over `lookback_days` (None without sales).
pub fn days_of_cover(
    level: &LevelSnapshot,
    available: i64,
    now: i64,
    lookback_days: i64,
) -> Option<f64> {
    let per_day = level.sold_in_days(now, lookback_days) / lookback_days as f64;
    (per_day > 0.0).then(|| available.max(0) as f64 / per_day)
}

/// A level's state as a rule reads it: its quantities and the held units counts cut short.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct State<'a> {
    pub quantities: &'a Quantities,
    pub short_units: i64,
}

/// Evaluates a rule on stock changes.
pub fn evaluate_change(rule: &Rule, level: &LevelSnapshot, now: i64) -> Verdict {
    let state = State {
        quantities: &level.quantities,
        short_units: level.short_units,
    };
    evaluate_at(rule, level, state, now)
}

/// Evaluates a rule with `state` in place of the level's own (the state before a change: the
/// sales counters only grow with the sale, so the new counters stand in for the old ones
/// wherever the new state is clear).
fn evaluate_at(rule: &Rule, level: &LevelSnapshot, state: State<'_>, now: i64) -> Verdict {
    let quantities = state.quantities;
    let available = quantities.available;
    if !rule.enabled || !rule.condition.on_change() {
        return Verdict::NotApplicable;
    }
    let obs = Observation {
        available,
        ..Observation::of(level)
    };
    match rule.condition {
        Condition::LowStock {
            threshold,
            clear_at,
        } => {
            if available <= threshold {
                Verdict::Firing(obs)
            } else if available >= clear_at {
                Verdict::Clear
            } else {
                Verdict::Hold
            }
        }
        Condition::OutOfStock { clear_at } => {
            if available <= 0 {
                Verdict::Firing(obs)
            } else if available >= clear_at {
                Verdict::Clear
            } else {
                Verdict::Hold
            }
        }
        Condition::SalesVelocity {
            window_hours,
            min_units,
            clear_below,
        } => {
            let sold = level.sold_in_hours(now, window_hours);
            if sold >= min_units as f64 {
                Verdict::Firing(Observation {
                    sold: Some(sold),
                    ..obs
                })
            } else if sold < clear_below as f64 {
                Verdict::Clear
            } else {
                Verdict::Hold
            }
        }
        Condition::StockDrop {
            window_hours,
            drop_percent,
            clear_below_percent,
        } => {
            let sold = level.sold_in_hours(now, window_hours);
            // The stock the window opened with: what is available, plus what was sold since,
            // less what was received since (a receipt inside the window does not hide a drop).
            // A receipt its index does not show yet: nothing is decided until it does.
            let Some(received) = level.received_in_hours(now, window_hours) else {
                return Verdict::Hold;
            };
            let through = available.max(0) as f64 + sold;
            let opening = through - received as f64;
            // Nothing on hand when the window opened (stocked within it): against what went
            // through the level.
            let start = if opening > 0.0 { opening } else { through };
            let percent = if start > 0.0 {
                sold * 100.0 / start
            } else {
                0.0
            };
            if sold > 0.0 && percent >= drop_percent as f64 {
                Verdict::Firing(Observation {
                    sold: Some(sold),
                    ..obs
                })
            } else if percent < clear_below_percent as f64 {
                Verdict::Clear
            } else {
                Verdict::Hold
            }
        }
        Condition::DaysOfCover {
            lookback_days,
            max_days,
        } => match days_of_cover(level, available, now, lookback_days) {
            Some(cover) if cover <= max_days => Verdict::Firing(Observation {
                days_of_cover: Some(cover),
                sold: Some(level.sold_in_days(now, lookback_days) / lookback_days as f64),
                ..obs
            }),
            _ => Verdict::Clear,
        },
        Condition::ReorderPoint => reorder_verdict(level, quantities, obs),
        // Held units a count found missing, until every hold cut short is closed.
        Condition::HoldsShort if state.short_units > 0 => Verdict::Firing(Observation {
            short_units: Some(state.short_units),
            ..obs
        }),
        Condition::HoldsShort => Verdict::Clear,
        Condition::NoSale { .. } | Condition::NoReceipt { .. } | Condition::StockAge { .. } => {
            Verdict::NotApplicable
        }
    }
}

/// Evaluates a time-based rule on a clock (the scheduled function); stock-change rules give
/// `NotApplicable` here.
pub fn evaluate_clock(rule: &Rule, level: &LevelSnapshot, now: i64) -> Verdict {
    if !rule.enabled {
        return Verdict::NotApplicable;
    }
    let days_since = |t: Option<i64>| t.or(level.created_at).map(|t| (now - t).div_euclid(86_400));
    let obs = Observation::of(level);
    let q = level.quantities;
    match rule.condition {
        Condition::NoSale { days } => match days_since(level.last_sale_at) {
            Some(idle) if q.on_hand > 0 && idle >= days => Verdict::Firing(Observation {
                idle_days: Some(idle),
                ..obs
            }),
            _ => Verdict::Clear,
        },
        Condition::NoReceipt { days, below } => match days_since(level.last_receipt_at) {
            Some(idle) if q.available <= below && idle >= days => Verdict::Firing(Observation {
                idle_days: Some(idle),
                ..obs
            }),
            _ => Verdict::Clear,
        },
        Condition::StockAge { days } => match days_since(level.last_receipt_at) {
            Some(age) if q.on_hand > 0 && age >= days => Verdict::Firing(Observation {
                idle_days: Some(age),
                ..obs
            }),
            _ => Verdict::Clear,
        },
        Condition::ReorderPoint => reorder_verdict(level, &q, obs),
        _ => Verdict::NotApplicable,
    }
}

/// Stock-change rules indexed so a record is matched without scanning every rule: SKU-specific
/// rules by SKU, the rest (prefix, attribute, location, everything) in one list.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    by_sku: std::collections::HashMap<String, Vec<usize>>,
    general: Vec<usize>,
}

impl RuleSet {
    /// Keeps the enabled rules that stock changes drive.
    pub fn new(rules: Vec<Rule>) -> Self {
        let rules: Vec<Rule> = rules
            .into_iter()
            .filter(|r| r.enabled && r.condition.on_change())
            .collect();
        let mut set = Self {
            by_sku: Default::default(),
            general: Vec::new(),
            rules: Vec::new(),
        };
        for (i, rule) in rules.iter().enumerate() {
            match &rule.selector.sku {
                Some(sku) => set.by_sku.entry(sku.clone()).or_default().push(i),
                None => set.general.push(i),
            }
        }
        set.rules = rules;
        set
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that need attention for a level change, with their verdict on the new state.
    /// Skipped: rules that do not select the level, verdicts that hold, and rules that were clear
    /// before and after (any episode resolved when the level first cleared). Rules selecting by
    /// attribute are returned for the caller to check against the SKU's attributes.
    /// The longest window of the `stock_drop` rules that may select `level` (what its receipts
    /// must reach back to); None when none may, so a level no such rule watches reads nothing.
    pub fn stock_drop_hours(&self, level: &LevelSnapshot) -> Option<i64> {
        self.candidates(level)
            .filter_map(|r| match r.condition {
                Condition::StockDrop { window_hours, .. } => Some(window_hours),
                _ => None,
            })
            .max()
    }

    /// The rules that may select `level` (those whose selector needs the SKU's attributes are
    /// decided later, by the one matcher).
    fn candidates<'a>(&'a self, level: &LevelSnapshot) -> impl Iterator<Item = &'a Rule> {
        let specific = self
            .by_sku
            .get(&level.sku)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let (sku, location) = (level.sku.clone(), level.location.clone());
        specific
            .iter()
            .chain(&self.general)
            .map(|&i| &self.rules[i])
            .filter(move |r| {
                r.selector.needs_attributes() || r.selector.selects(&sku, &location, None)
            })
    }

    pub fn due<'a>(
        &'a self,
        new: &LevelSnapshot,
        old: Option<State<'_>>,
        now: i64,
    ) -> Vec<(&'a Rule, Verdict)> {
        self.candidates(new)
            .filter_map(|rule| {
                let verdict = evaluate_change(rule, new, now);
                let skip = match verdict {
                    Verdict::NotApplicable | Verdict::Hold => true,
                    Verdict::Clear => {
                        old.is_none_or(|o| evaluate_at(rule, new, o, now) == Verdict::Clear)
                    }
                    Verdict::Firing(_) => false,
                };
                (!skip).then_some((rule, verdict))
            })
            .collect()
    }
}

/// The state of an alert episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "firing" => Some(Self::Firing),
            "acknowledged" => Some(Self::Acknowledged),
            "resolved" => Some(Self::Resolved),
            _ => None,
        }
    }
}

/// The open episode of a (rule, SKU, location), as far as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEpisode {
    pub alert_id: String,
    pub state: AlertState,
    /// When a notification (the first or a reminder) last went out; None while one is pending.
    pub last_notified_at: Option<i64>,
}

/// What to do for one rule and level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Nothing,
    /// Open a new episode and notify once.
    Fire(Observation),
    /// Close the open episode (and notify if the rule asks).
    Resolve,
    /// Remind: the episode is still firing, unacknowledged, and the repeat interval has passed.
    Remind(Observation),
}

/// The episode state machine: ok → firing → acknowledged → resolved. Notifies once per episode,
/// reminds only after the repeat interval, never per sale.
pub fn decide(rule: &Rule, verdict: Verdict, open: Option<&OpenEpisode>, now: i64) -> Decision {
    match (verdict, open) {
        (Verdict::Firing(obs), None) => Decision::Fire(obs),
        (Verdict::Firing(obs), Some(ep)) => {
            let due = match (rule.repeat_minutes, ep.state, ep.last_notified_at) {
                (Some(every), AlertState::Firing, Some(last)) => now - last >= every * 60,
                _ => false,
            };
            if due {
                Decision::Remind(obs)
            } else {
                Decision::Nothing
            }
        }
        (Verdict::Clear, Some(_)) => Decision::Resolve,
        _ => Decision::Nothing,
    }
}

/// Notification texts for one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// At most 160 characters, for SMS.
    pub sms: String,
    pub subject: String,
    /// The full text, for email and other subscribers.
    pub body: String,
}

/// What the alert is about, for its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    Fired,
    Reminder,
    Resolved,
}

fn describe(rule: &Rule, obs: &Observation) -> (String, String) {
    match rule.condition {
        Condition::LowStock { threshold, clear_at } => (
            format!("low stock: {} available (threshold {threshold})", obs.available),
            format!(
                "Available stock is {} which is at or below the threshold of {threshold}. The alert \
                 resolves once available reaches {clear_at}.\nWhat to do: reorder or transfer stock \
                 from another location.",
                obs.available
            ),
        ),
        Condition::OutOfStock { .. } => (
            "out of stock".to_owned(),
            "Nothing is available to sell. Storefronts will refuse orders for this SKU at this \
             location.\nWhat to do: receive or transfer stock, or hide the product."
                .to_owned(),
        ),
        Condition::SalesVelocity {
            window_hours,
            min_units,
            clear_below,
        } => (
            format!(
                "selling fast: {} sold in {window_hours}h",
                obs.sold.unwrap_or(0.0)
            ),
            format!(
                "{} units sold in the last {window_hours} hours (rule: at least {min_units}); {} \
                 available. The alert resolves once fewer than {clear_below} are sold in the \
                 window.\nWhat to do: check stock cover and reorder early.",
                obs.sold.unwrap_or(0.0),
                obs.available
            ),
        ),
        Condition::StockDrop {
            window_hours,
            drop_percent,
            clear_below_percent,
        } => (
            format!("stock dropped {drop_percent}%+ in {window_hours}h"),
            format!(
                "{} units sold in the last {window_hours} hours, at least {drop_percent}% of the \
                 stock at the start of the window; {} available. The alert resolves once the \
                 units sold are under {clear_below_percent}% of it.\nWhat to do: check for a run \
                 on the product or a pricing error.",
                obs.sold.unwrap_or(0.0),
                obs.available
            ),
        ),
        Condition::DaysOfCover {
            lookback_days,
            max_days,
        } => {
            let cover = obs.days_of_cover.unwrap_or(0.0);
            (
                format!("{cover:.1} days of cover left"),
                format!(
                    "At the average of {:.1} units a day over the last {lookback_days} days, the {} \
                     available last {cover:.1} days (rule: {max_days} days or less).\nWhat to do: \
                     reorder now; the stock-out is predicted before it happens.",
                    obs.sold.unwrap_or(0.0),
                    obs.available
                ),
            )
        }
        Condition::NoSale { days } => (
            format!("no sale for {} days", obs.idle_days.unwrap_or(days)),
            format!(
                "No sale for {} days while {} units are on hand (rule: {days} days).\nWhat to do: \
                 consider a promotion or moving the stock.",
                obs.idle_days.unwrap_or(days),
                obs.available
            ),
        ),
        Condition::NoReceipt { days, below } => (
            format!("no receipt for {} days", obs.idle_days.unwrap_or(days)),
            format!(
                "No receipt for {} days while available is {} (rule: {days} days below {below}).\n\
                 What to do: chase the supplier.",
                obs.idle_days.unwrap_or(days),
                obs.available
            ),
        ),
        Condition::ReorderPoint => (
            format!(
                "at reorder point: {} available + on order, reorder at {}",
                obs.position.unwrap_or(obs.available),
                obs.reorder_point.unwrap_or(0)
            ),
            format!(
                "Available plus in transit is {}, at or below the reorder point of {} (the                  forecast demand over the lead time plus safety stock).
What to do: place the                  suggested order (GET /v1/replenishment, or the console's Replenishment page).",
                obs.position.unwrap_or(obs.available),
                obs.reorder_point.unwrap_or(0)
            ),
        ),
        Condition::HoldsShort => (
            format!(
                "holds cut short: {} held units are not on the shelf",
                obs.short_units.unwrap_or(0)
            ),
            format!(
                "A stocktake found fewer units than carts were holding: the newest holds were cut \
                 short by {} units in all, and those carts cannot have them ({} available). The \
                 alert resolves once every hold cut short is committed, released or expired.\n\
                 What to do: tell the shoppers or cancel those orders, and look for the missing \
                 stock.",
                obs.short_units.unwrap_or(0),
                obs.available
            ),
        ),
        Condition::StockAge { days } => (
            format!("stock {} days old", obs.idle_days.unwrap_or(days)),
            format!(
                "The stock on hand was last replenished {} days ago (rule: {days} days).\nWhat to \
                 do: check shelf life and rotate the stock.",
                obs.idle_days.unwrap_or(days)
            ),
        ),
    }
}

/// Builds the SMS, subject and body for an alert event.
pub fn message(
    rule: &Rule,
    event: Event,
    sku: &str,
    sku_name: Option<&str>,
    location: &str,
    obs: &Observation,
) -> Message {
    let (short, long) = describe(rule, obs);
    let severity = rule.severity.as_str().to_uppercase();
    let (tag, lead) = match event {
        Event::Fired => (severity.clone(), "Alert"),
        Event::Reminder => (format!("{severity} reminder"), "Still firing"),
        Event::Resolved => ("RESOLVED".to_owned(), "Resolved"),
    };
    let what = match event {
        Event::Resolved => format!("{} available, back to normal", obs.available),
        _ => short,
    };
    let mut sms = format!("[{tag}] {sku} @ {location}: {what}");
    if sms.chars().count() > 160 {
        sms = sms.chars().take(159).collect::<String>() + "…";
    }
    let name = sku_name.map(|n| format!(" ({n})")).unwrap_or_default();
    let subject = format!("[{tag}] {sku}{name} at {location}: {what}");
    let body = match event {
        Event::Resolved => format!(
            "{lead}: rule \"{}\" for SKU {sku}{name} at {location}.\n\nAvailable now: {}.\n",
            rule.name, obs.available
        ),
        _ => format!(
            "{lead}: rule \"{}\" ({}, severity {}) for SKU {sku}{name} at {location}.\n\n\
             Available now: {}.\n{long}\n\nAcknowledge it in the admin console's inbox to stop \
             reminders.\n",
            rule.name,
            rule.condition.kind(),
            rule.severity.as_str(),
            obs.available
        ),
    };
    Message { sms, subject, body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::{Channels, Selector, Severity};

    fn rule(condition: Condition) -> Rule {
        Rule {
            rule_id: "rl_1".into(),
            name: "test".into(),
            condition,
            selector: Selector::default(),
            severity: Severity::Warning,
            channels: Channels::default(),
            repeat_minutes: Some(60),
            notify_on_resolve: true,
            enabled: true,
            quiet_hours: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    /// Fires at 5 available or fewer, clears at 10 or more.
    const LOW_STOCK: Condition = Condition::LowStock {
        threshold: 5,
        clear_at: 10,
    };

    fn level(available: i64) -> LevelSnapshot {
        LevelSnapshot {
            sku: "A".into(),
            location: "WH1".into(),
            quantities: Quantities {
                on_hand: available,
                available,
                ..Quantities::default()
            },
            ..LevelSnapshot::default()
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn low_stock_fires_at_threshold_holds_between_and_clears_at_clear_level() {
        let r = rule(LOW_STOCK);
        assert!(matches!(
            evaluate_change(&r, &level(5), NOW),
            Verdict::Firing(_)
        ));
        assert_eq!(evaluate_change(&r, &level(7), NOW), Verdict::Hold);
        assert_eq!(evaluate_change(&r, &level(10), NOW), Verdict::Clear);
    }

    #[test]
    fn an_episode_notifies_once_reminds_after_the_interval_and_resolves() {
        let r = rule(LOW_STOCK);
        let firing = evaluate_change(&r, &level(3), NOW);
        assert!(matches!(decide(&r, firing, None, NOW), Decision::Fire(_)));
        let open = OpenEpisode {
            alert_id: "a".into(),
            state: AlertState::Firing,
            last_notified_at: Some(NOW),
        };
        // More sales below the threshold: nothing new until the repeat interval passes.
        assert_eq!(
            decide(&r, firing, Some(&open), NOW + 59 * 60),
            Decision::Nothing
        );
        assert!(matches!(
            decide(&r, firing, Some(&open), NOW + 3600),
            Decision::Remind(_)
        ));
        // Acknowledged episodes are not reminded.
        let acked = OpenEpisode {
            state: AlertState::Acknowledged,
            ..open.clone()
        };
        assert_eq!(
            decide(&r, firing, Some(&acked), NOW + 7200),
            Decision::Nothing
        );
        // Between threshold and clear level: hold.
        assert_eq!(
            decide(&r, Verdict::Hold, Some(&open), NOW),
            Decision::Nothing
        );
        assert_eq!(
            decide(&r, Verdict::Clear, Some(&open), NOW),
            Decision::Resolve
        );
        assert_eq!(decide(&r, Verdict::Clear, None, NOW), Decision::Nothing);
    }

    #[test]
    fn velocity_counts_only_the_window() {
        let r = rule(Condition::SalesVelocity {
            window_hours: 2,
            min_units: 10,
            clear_below: 5,
        });
        let hour = NOW / 3600;
        let mut l = level(50);
        l.sold_hourly = [(hour - 5, 100), (hour - 1, 4), (hour, 5)].into();
        // 9 in the window: under the threshold, not yet under the clear level.
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Hold);
        l.sold_hourly.insert(hour, 6);
        assert!(matches!(evaluate_change(&r, &l, NOW), Verdict::Firing(o) if o.sold == Some(10.0)));
        l.sold_hourly = [(hour - 5, 100), (hour, 4)].into();
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Clear);
    }

    #[test]
    fn days_of_cover_predicts_the_stock_out() {
        let r = rule(Condition::DaysOfCover {
            lookback_days: 7,
            max_days: 5.0,
        });
        let today = NOW / 86_400;
        let mut fast = level(20);
        fast.sold_daily = (0..7).map(|d| (today - d, 1)).collect(); // 1/day → 20 days
        assert_eq!(evaluate_change(&r, &fast, NOW), Verdict::Clear);
        fast.sold_daily = (0..7).map(|d| (today - d, 5)).collect(); // 5/day → 4 days
        match evaluate_change(&r, &fast, NOW) {
            Verdict::Firing(o) => assert_eq!(o.days_of_cover, Some(4.0)),
            other => panic!("{other:?}"),
        }
        // No sales: infinite cover, quiet.
        assert_eq!(evaluate_change(&r, &level(1), NOW), Verdict::Clear);
    }

    #[test]
    fn windows_slide_with_the_clock_and_midnight_does_not_empty_them() {
        let r = rule(Condition::DaysOfCover {
            lookback_days: 1,
            max_days: 10.0,
        });
        let midnight = (NOW / 86_400 + 1) * 86_400;
        let mut l = level(60);
        // 48 sold yesterday: an hour after midnight, 23/24 of that day is still inside.
        l.sold_daily = [(midnight / 86_400 - 1, 48)].into();
        assert_eq!(l.sold_in_days(midnight + 3600, 1), 46.0);
        match evaluate_change(&r, &l, midnight + 3600) {
            Verdict::Firing(o) => assert_eq!(o.sold, Some(46.0)),
            other => panic!("{other:?}"),
        }
        // A full day on, yesterday has left the window.
        assert_eq!(l.sold_in_days(midnight + 86_400, 1), 0.0);
        assert_eq!(evaluate_change(&r, &l, midnight + 86_400), Verdict::Clear);
        // Hours slide the same way: half past, half the oldest hour still counts.
        l.sold_hourly = [(NOW / 3600 - 1, 10), (NOW / 3600, 3)].into();
        assert_eq!(l.sold_in_hours(NOW + 1800, 1), 8.0);
        assert_eq!(l.sold_in_hours(NOW + 3600, 1), 3.0);
    }

    #[test]
    fn stock_drop_compares_sales_with_the_stock_at_the_window_start() {
        let r = rule(Condition::StockDrop {
            window_hours: 1,
            drop_percent: 50,
            clear_below_percent: 25,
        });
        let mut l = level(10);
        l.sold_hourly = [(NOW / 3600, 10)].into();
        assert!(matches!(evaluate_change(&r, &l, NOW), Verdict::Firing(_)));
        // 9 of 19 (47 %): between the clear level and the threshold, the alert holds.
        l.sold_hourly = [(NOW / 3600, 9)].into();
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Hold);
        l.sold_hourly = [(NOW / 3600, 3)].into();
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Clear);
    }

    #[test]
    fn a_receipt_inside_the_window_does_not_hide_a_drop() {
        // 100 in stock when the window opened, 100 received since, 30 sold: 30 % of the stock
        // the window opened with (against the 200 that went through the level it is 15 %).
        let r = rule(Condition::StockDrop {
            window_hours: 1,
            drop_percent: 30,
            clear_below_percent: 20,
        });
        let mut l = level(170);
        l.sold_hourly = [(NOW / 3600, 30)].into();
        l.last_receipt_at = Some(NOW - 600);
        // Its receipts not read (or their index behind the level): nothing is decided yet.
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Hold);
        let behind = RecentReceipts {
            since: NOW - 3600,
            entries: vec![(NOW - 7200, 100)],
        };
        l.recent_receipts = Some(behind);
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Hold);
        l.recent_receipts = Some(RecentReceipts {
            since: NOW - 3600,
            entries: vec![(NOW - 600, 100)],
        });
        assert_eq!(l.received_in_hours(NOW, 1), Some(100));
        assert!(matches!(evaluate_change(&r, &l, NOW), Verdict::Firing(o) if o.sold == Some(30.0)));
        // A receipt before the window opened changes nothing: 30 of 200, 15 %.
        l.last_receipt_at = Some(NOW - 7200);
        assert_eq!(l.received_in_hours(NOW, 1), Some(0));
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Clear);
        // Stocked within the window from nothing: against what went through the level.
        let mut fresh = level(0);
        fresh.sold_hourly = [(NOW / 3600, 30)].into();
        fresh.last_receipt_at = Some(NOW - 600);
        fresh.recent_receipts = Some(RecentReceipts {
            since: NOW - 3600,
            entries: vec![(NOW - 600, 30)],
        });
        assert!(matches!(
            evaluate_change(&r, &fresh, NOW),
            Verdict::Firing(_)
        ));
    }

    #[test]
    fn time_based_rules_are_for_the_clock() {
        let r = rule(Condition::NoSale { days: 30 });
        let mut l = level(4);
        l.last_sale_at = Some(NOW - 31 * 86_400);
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::NotApplicable);
        assert!(
            matches!(evaluate_clock(&r, &l, NOW), Verdict::Firing(o) if o.idle_days == Some(31))
        );
        l.last_sale_at = Some(NOW - 86_400);
        assert_eq!(evaluate_clock(&r, &l, NOW), Verdict::Clear);
    }

    #[test]
    fn a_reorder_point_counts_what_is_on_its_way_on_changes_and_on_the_clock() {
        let r = rule(Condition::ReorderPoint);
        let mut l = level(12);
        // No reorder point yet (the replenishment run has not planned the level): quiet.
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Clear);
        l.reorder_point = Some(20);
        match evaluate_change(&r, &l, NOW) {
            Verdict::Firing(o) => assert_eq!((o.position, o.reorder_point), (Some(12), Some(20))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(evaluate_clock(&r, &l, NOW), Verdict::Firing(_)));
        // An order on its way lifts the position above the reorder point.
        l.quantities.in_transit = 9;
        assert_eq!(evaluate_change(&r, &l, NOW), Verdict::Clear);
        assert_eq!(evaluate_clock(&r, &l, NOW), Verdict::Clear);
        // The change that brought the order in is due (it cleared an episode's condition).
        let set = RuleSet::new(vec![r.clone()]);
        let before = Quantities {
            in_transit: 0,
            ..l.quantities
        };
        let state = |quantities| State {
            quantities,
            short_units: 0,
        };
        assert_eq!(set.due(&l, Some(state(&before)), NOW).len(), 1);
        assert!(set.due(&l, Some(state(&l.quantities)), NOW).is_empty());
        let m = message(
            &r,
            Event::Fired,
            "A",
            None,
            "WH1",
            &Observation {
                position: Some(12),
                reorder_point: Some(20),
                ..Observation::of(&l)
            },
        );
        assert!(
            m.sms.contains("reorder at 20") && m.sms.chars().count() <= 160,
            "{}",
            m.sms
        );
    }

    #[test]
    fn sms_fits_160_characters_and_email_says_what_to_do() {
        let r = rule(LOW_STOCK);
        let long_sku = "S".repeat(64);
        let m = message(
            &r,
            Event::Fired,
            &long_sku,
            Some("Blue cap"),
            "WAREHOUSE-NUMBER-ONE-IN-BERLIN",
            &Observation::of(&level(3)),
        );
        assert!(m.sms.chars().count() <= 160, "{}", m.sms.len());
        assert!(m.subject.contains("WARNING") && m.subject.contains("Blue cap"));
        assert!(m.body.contains("What to do") && m.body.contains("threshold of 5"));
    }
}
