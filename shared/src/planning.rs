//! The reorder plan of one level, pure: its demand history, the forecast, the reorder point and
//! the order to place (see [`crate::replenishment`] for how the nightly run keeps and writes them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    domain::{Quantities, SupplyFacts},
    forecast::{self, Forecast, Method, Supply},
};

/// Days of demand a forecast item keeps.
pub const HISTORY_DAYS: usize = 180;
/// Days forecast ahead.
pub const HORIZON: usize = 28;
/// The lead time of a SKU without one.
pub const DEFAULT_LEAD_DAYS: u32 = 7;
/// Days between orders (the suggestion covers them beyond the lead time).
pub const REVIEW_DAYS: u32 = 7;
/// The share of lead times that should not run out.
pub const SERVICE_LEVEL: f64 = 0.95;

/// A level's daily demand, oldest first, the last value on `last_day`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Demand {
    pub daily: Vec<i64>,
    pub last_day: i64,
}

impl Demand {
    /// `stored` extended with the complete days after it up to `through` (yesterday), from the
    /// level's daily sales ring (`sold`: day → units, the ring's newest day `ring_head`, holding
    /// [`crate::counters::DAYS`] days; days after the head sold nothing). Days before
    /// `first_day` (the level's creation) are left out. When the days after `stored` go back
    /// further than the ring does (the run was missed for over a month), the history starts
    /// again from the ring rather than count the unknown days as zero.
    pub fn extend(
        stored: Option<&Demand>,
        sold: &BTreeMap<i64, i64>,
        ring_head: i64,
        first_day: i64,
        through: i64,
    ) -> Demand {
        let ring_start = ring_head - crate::counters::DAYS + 1;
        let (mut daily, from) = match stored {
            Some(d) if d.last_day >= through => return d.clone(),
            Some(d) if d.last_day + 1 >= ring_start => (d.daily.clone(), d.last_day + 1),
            _ => (Vec::new(), ring_start.max(first_day)),
        };
        for day in from..=through {
            daily.push(if day > ring_head {
                0
            } else {
                sold.get(&day).copied().unwrap_or(0)
            });
        }
        if daily.len() > HISTORY_DAYS {
            daily.drain(..daily.len() - HISTORY_DAYS);
        }
        Demand {
            daily,
            last_day: through.max(from - 1),
        }
    }
}

/// A level's forecast and reorder plan, as the run writes it (forecast item, S3 dataset) and the
/// API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub sku: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    /// The day planned (`YYYY-MM-DD`): its history ends the day before.
    pub dt: String,
    pub lead_time_days: u32,
    pub review_days: u32,
    pub pack_size: u32,
    pub min_order_qty: u32,
    pub service_level: f64,
    /// The forecasting method chosen by hold-out error (`fallback` for a short history).
    pub method: Method,
    /// Why this method, in words (a new SKU's fallback says so).
    pub method_note: String,
    pub history_days: usize,
    /// Mean forecast units a day over the horizon.
    pub demand_per_day: f64,
    /// Forecast units per day for the next [`HORIZON`] days, and a band around each (the
    /// service level's z × the one-day error, not below 0).
    pub forecast: Vec<f64>,
    pub band_low: Vec<f64>,
    pub band_high: Vec<f64>,
    pub reorder_point: i64,
    pub safety_stock: f64,
    /// The order-up-to level.
    pub target: f64,
    /// The stock position when planned (available + in_transit) and the order it called for.
    pub available: i64,
    pub in_transit: i64,
    pub suggested: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_mae: Option<f64>,
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The supply terms of a level: the SKU's facts where it has them, else the defaults.
pub fn supply_of(facts: Option<&SupplyFacts>, location: &str) -> Supply {
    Supply {
        lead_days: facts
            .and_then(|f| f.lead_time_at(location))
            .unwrap_or(DEFAULT_LEAD_DAYS),
        review_days: REVIEW_DAYS,
        min_order: facts.and_then(|f| f.min_order_qty).unwrap_or(1),
        pack_size: facts.and_then(|f| f.pack_size).unwrap_or(1),
        service_level: SERVICE_LEVEL,
    }
}

/// The plan of a level from its demand, supply facts and quantities now.
pub fn plan(
    sku: &str,
    location: &str,
    facts: Option<&SupplyFacts>,
    demand: &Demand,
    quantities: &Quantities,
    dt: &str,
) -> Plan {
    let history: Vec<f64> = demand.daily.iter().map(|v| *v as f64).collect();
    let f: Forecast = forecast::forecast(&history, HORIZON);
    let supply = supply_of(facts, location);
    let r = forecast::reorder(&f, &supply, quantities.available, quantities.in_transit);
    let z = forecast::z_for(supply.service_level);
    let method_note = match f.method {
        Method::Fallback if history.is_empty() => {
            "no complete day of sales history yet: no demand is forecast".to_owned()
        }
        Method::Fallback => format!(
            "only {} days of sales history (fewer than {}): the mean of those days",
            history.len(),
            forecast::MIN_HISTORY
        ),
        m => format!(
            "{} had the lowest error on the last {} days held out",
            serde_json::to_value(m)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            forecast::holdout(history.len())
        ),
    };
    Plan {
        sku: sku.to_owned(),
        location: location.to_owned(),
        supplier: facts.and_then(|f| f.supplier.clone()),
        dt: dt.to_owned(),
        lead_time_days: supply.lead_days,
        review_days: supply.review_days,
        pack_size: supply.pack_size,
        min_order_qty: supply.min_order,
        service_level: supply.service_level,
        method: f.method,
        method_note,
        history_days: history.len(),
        demand_per_day: round2(f.mean.iter().sum::<f64>() / f.mean.len().max(1) as f64),
        forecast: f.mean.iter().map(|v| round2(*v)).collect(),
        band_low: f
            .mean
            .iter()
            .map(|v| round2((v - z * f.sigma).max(0.0)))
            .collect(),
        band_high: f.mean.iter().map(|v| round2(v + z * f.sigma)).collect(),
        reorder_point: r.reorder_point.ceil() as i64,
        safety_stock: round2(r.safety_stock),
        target: round2(r.target),
        available: quantities.available,
        in_transit: quantities.in_transit,
        suggested: r.suggested,
        holdout_mae: f.holdout_mae.map(round2),
    }
}

impl Plan {
    /// The order this plan calls for at stock `position` now (the stock may have moved since it
    /// was planned).
    pub fn suggested_at(&self, position: i64) -> u64 {
        let supply = Supply {
            lead_days: self.lead_time_days,
            review_days: self.review_days,
            min_order: self.min_order_qty,
            pack_size: self.pack_size,
            service_level: self.service_level,
        };
        forecast::suggest(
            self.reorder_point as f64,
            self.target,
            position as f64,
            &supply,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_appends_only_new_complete_days_and_a_rerun_changes_nothing() {
        // The ring's head is day 100 (the last sale); it sold 5 on 99, 3 on 100.
        let sold = BTreeMap::from([(99, 5), (100, 3)]);
        // A level created on day 97, planned on day 103 (through 102).
        let first = Demand::extend(None, &sold, 100, 97, 102);
        assert_eq!(first.daily, vec![0, 0, 5, 3, 0, 0]);
        assert_eq!(first.last_day, 102);
        assert_eq!(Demand::extend(Some(&first), &sold, 100, 97, 102), first);
        // The next day: one more day, a sale on 103.
        let sold = BTreeMap::from([(99, 5), (100, 3), (103, 7)]);
        let next = Demand::extend(Some(&first), &sold, 103, 97, 103);
        assert_eq!(next.daily, vec![0, 0, 5, 3, 0, 0, 7]);
        // Runs missed for longer than the ring: the history restarts from the ring.
        let later = Demand::extend(Some(&first), &BTreeMap::from([(150, 2)]), 150, 97, 151);
        // The ring's 32 days (119..=150) and the day after it.
        assert_eq!(later.daily.len(), 33);
        assert_eq!(later.daily[31..], [2, 0]);
        // Never more than 180 days.
        let mut long = first.clone();
        for day in 103..400 {
            long = Demand::extend(Some(&long), &BTreeMap::from([(day, 1)]), day, 97, day);
        }
        assert_eq!(long.daily.len(), HISTORY_DAYS);
        assert_eq!(long.last_day, 399);
    }

    #[test]
    fn a_plan_orders_whole_packs_when_the_position_reaches_the_reorder_point() {
        let demand = Demand {
            daily: vec![10; 60],
            last_day: 59,
        };
        let facts = SupplyFacts {
            supplier: Some("acme".into()),
            lead_time_days: Some(5),
            min_order_qty: Some(50),
            pack_size: Some(12),
            lead_time_by_location: BTreeMap::from([("FAR".into(), 9)]),
        };
        let q = |available, in_transit| Quantities {
            on_hand: available,
            available,
            in_transit,
            reserved: 0,
        };
        let p = plan("A", "WH1", Some(&facts), &demand, &q(40, 0), "2026-12-01");
        // Steady 10 a day: 6 days of protection (5 lead + 1 check) = 60, no error → no safety.
        assert_eq!(p.method, Method::Ses);
        assert_eq!(p.reorder_point, 60);
        assert_eq!(p.demand_per_day, 10.0);
        // Up to 12 days' demand (5 lead + 7 review) = 120, less 40 = 80 → 7 packs of 12 = 84.
        assert_eq!(p.suggested, 84);
        assert_eq!(p.suggested_at(40), 84);
        // With 30 in transit the position is 70, above the reorder point: nothing to order.
        assert_eq!(p.suggested_at(70), 0);
        // A location's own lead time.
        let far = plan("A", "FAR", Some(&facts), &demand, &q(40, 0), "2026-12-01");
        assert_eq!((far.lead_time_days, far.reorder_point), (9, 100));
        // A new SKU says what it fell back to.
        let new = Demand {
            daily: vec![2, 4],
            last_day: 1,
        };
        let p = plan("B", "WH1", None, &new, &q(1, 0), "2026-12-01");
        assert_eq!(p.method, Method::Fallback);
        assert!(p.method_note.contains("only 2 days"), "{}", p.method_note);
        assert_eq!(p.demand_per_day, 3.0);
        let none = plan("C", "WH1", None, &Demand::default(), &q(0, 0), "2026-12-01");
        assert_eq!((none.demand_per_day, none.suggested), (0.0, 0));
    }
}
