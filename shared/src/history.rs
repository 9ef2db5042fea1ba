//! Stock levels and alerts as they were at the end of a day, read back from the ledger and the
//! receipts index (what the daily report writes, so a rerun writes the same files).
//!
//! A level that has not changed since the day ended is read as it is. One that has is put back
//! from its ledger: the newest entry of that location before the next day holds the level's exact
//! quantities after it (`after`), and the newest sale and receipt before then give the last sale
//! and receipt. The per-day counters need no correction: a day's slot never changes once the day
//! is over (while it is in the ring, see [`crate::counters`]). An alert's acknowledgement and
//! resolution after the day are left out.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::{types::AttributeValue, Client};

use crate::{
    domain::MovementKind,
    levels::{self, unix, DecodedLevel},
    reports::{self, LevelHistory, SECONDS_PER_DAY, SERIES_DAYS},
    schema::{self, entity, keys, AlertDayItem, LedgerEntryItem},
    store::StoreError,
};

/// The level as it was at the end of `day`, with its end-of-day on_hand series and whether its
/// ledger was read for it, or `None` when it did not exist yet.
pub(crate) async fn level(
    client: &Client,
    table: &str,
    level: DecodedLevel,
    day: i64,
) -> Result<Option<(LevelHistory, bool)>, StoreError> {
    let end = (day + 1) * SECONDS_PER_DAY;
    if level.created_at >= end {
        return Ok(None);
    }
    let mut h = level.history;
    let changed = level.updated_at >= end;
    let window_start = day - SERIES_DAYS + 1;
    // A stocktake or transfer in the window (or after it: an earlier one may hide behind it):
    // the counters cannot put that stock back, the ledger can.
    let series_from_ledger = h.uncounted_day.is_some_and(|d| d >= window_start);
    if !changed && !series_from_ledger {
        h.on_hand_by_day = reports::on_hand_series_from_counters(&h, day);
        return Ok(Some((h, false)));
    }
    let mut need_quantities = changed;
    let mut need_sale = changed && h.last_sale_at.is_some_and(|t| t >= end);
    let mut need_receipt = changed && h.last_receipt_at.is_some_and(|t| t >= end);
    if need_sale {
        h.last_sale_at = None;
    }
    if need_receipt {
        h.last_receipt_at = None;
    }
    let mut quantities = None;
    // The on_hand before the oldest entry of each day of the window: the previous day's end.
    let mut opening: BTreeMap<i64, i64> = BTreeMap::new();
    // Entries sort by time first; every entry of a later day sorts after the next day's date.
    // No entry of the level is older than the level: the walk stops there at the latest.
    let mut pages = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :p AND sk BETWEEN :from AND :next")
        .filter_expression("#l = :l")
        .expression_attribute_names("#l", "location")
        .expression_attribute_values(":p", AttributeValue::S(keys::ledger(&h.sku)))
        .expression_attribute_values(":from", AttributeValue::S(level.created_at_text))
        .expression_attribute_values(":next", AttributeValue::S(reports::date_of_day(day + 1)))
        .expression_attribute_values(":l", AttributeValue::S(h.location.clone()))
        .scan_index_forward(false)
        // The filter applies after the read, and a SKU's partition holds every location's
        // entries: small pages read only as far back as the answer (the paginator goes on).
        .limit(if series_from_ledger { 100 } else { 16 })
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.map_err(StoreError::from_sdk)?;
        let entry: LedgerEntryItem = match schema::decode(entity::LEDGER_ENTRY, &item) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, sku = %h.sku, "report: ledger entry unreadable, skipped");
                continue;
            }
        };
        let Some(at) = unix(Some(&entry.at)) else {
            tracing::error!(sku = %h.sku, at = %entry.at, "report: ledger entry time unreadable, skipped");
            continue;
        };
        let entry_day = at.div_euclid(SECONDS_PER_DAY);
        if need_quantities && entry.after.is_some() {
            quantities = entry.after;
            need_quantities = false;
        }
        if need_sale && entry.kind == MovementKind::Sale {
            h.last_sale_at = Some(at);
            need_sale = false;
        }
        // The same rule as the level's `last_receipt_at`: stock that arrived from outside
        // in-transit (a receipt) or from another location (a transfer's arrival).
        let arrival = match entry.kind {
            MovementKind::Receipt => entry.d_in_transit.unwrap_or(0) == 0,
            MovementKind::TransferIn => true,
            _ => false,
        };
        if need_receipt && arrival {
            h.last_receipt_at = Some(at);
            need_receipt = false;
        }
        if series_from_ledger && entry_day >= window_start {
            match (entry.before, entry.after) {
                (Some(b), _) => {
                    opening.insert(entry_day, b.on_hand);
                }
                // The line that created the level: nothing before it.
                (None, Some(_)) => {
                    opening.insert(entry_day, 0);
                }
                (None, None) => {}
            }
        }
        let series_done = !series_from_ledger || entry_day < window_start;
        if !need_quantities && !need_sale && !need_receipt && series_done {
            break;
        }
    }
    if changed {
        match quantities {
            Some(q) => h.quantities = q.into(),
            None => {
                // Its ledger has no entry of the day yet (the stream is far behind): left out,
                // and said, rather than written with figures of another day.
                tracing::error!(sku = %h.sku, location = %h.location,
                    "report: level changed after the day but its ledger has nothing up to it; left out");
                return Ok(None);
            }
        }
    }
    h.on_hand_by_day = if series_from_ledger {
        let mut series = BTreeMap::new();
        let mut on_hand = h.quantities.on_hand;
        for d in (window_start..=day).rev() {
            series.insert(d, on_hand);
            if let Some(open) = opening.get(&d) {
                on_hand = *open;
            }
        }
        series
    } else {
        reports::on_hand_series_from_counters(&h, day)
    };
    Ok(Some((h, true)))
}

/// An alert of `day` as it stood at the end of the day.
pub(crate) fn alert(mut a: AlertDayItem, day: i64) -> AlertDayItem {
    let end = (day + 1) * SECONDS_PER_DAY;
    let after = |t: &Option<String>| unix(t.as_deref()).is_some_and(|t| t >= end);
    let (resolved_later, acknowledged_later) = (after(&a.resolved_at), after(&a.acknowledged_at));
    if !resolved_later && !acknowledged_later {
        return a;
    }
    if resolved_later {
        a.resolved_at = None;
    }
    if acknowledged_later {
        a.acknowledged_at = None;
    }
    a.state = if a.resolved_at.is_some() {
        "resolved"
    } else if a.acknowledged_at.is_some() {
        "acknowledged"
    } else {
        "firing"
    }
    .to_owned();
    a
}

/// The level's units on hand at the end of `day` by age, first in first out. The daily counters
/// answer when the last 29 days' receipts cover the stock (all of it is then 0–30 days old);
/// otherwise the level's receipts are read from the receipts index, newest first, up to the day,
/// until they cover it.
pub(crate) async fn age(
    client: &Client,
    table: &str,
    h: &LevelHistory,
    day: i64,
) -> Result<reports::StockAge, StoreError> {
    let on_hand = h.quantities.on_hand;
    if on_hand <= 0 {
        return Ok(reports::StockAge::default());
    }
    let recent: i64 = h.received.range(day - 28..=day).map(|(_, v)| v).sum();
    if recent >= on_hand {
        return Ok(reports::StockAge {
            days_0_30: on_hand,
            ..Default::default()
        });
    }
    let mut receipts = Vec::new();
    let mut covered = 0;
    let mut pages = client
        .query()
        .table_name(table)
        .index_name(keys::RECEIPT_INDEX)
        .key_condition_expression("#p = :p AND #s < :next")
        .expression_attribute_names("#p", keys::RECEIPT_PARTITION_ATTRIBUTE)
        .expression_attribute_names("#s", keys::RECEIPT_SORT_ATTRIBUTE)
        .expression_attribute_values(":p", AttributeValue::S(keys::receipts(&h.sku, &h.location)))
        .expression_attribute_values(":next", AttributeValue::S(reports::date_of_day(day + 1)))
        .scan_index_forward(false)
        .limit(25)
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.map_err(StoreError::from_sdk)?;
        let at = match item.get(keys::RECEIPT_SORT_ATTRIBUTE) {
            Some(AttributeValue::S(sk)) => unix(sk.split('#').next()),
            _ => None,
        };
        let units = match item.get("quantity") {
            Some(AttributeValue::N(q)) => q.parse::<i64>().ok(),
            _ => None,
        };
        if let (Some(at), Some(units)) = (at, units) {
            receipts.push((at.div_euclid(SECONDS_PER_DAY), units));
            covered += units;
            if covered >= on_hand {
                break;
            }
        }
    }
    Ok(reports::fifo_age(on_hand, &receipts, day))
}

/// The unit cost in force on `date` (`YYYY-MM-DD`) by a SKU item's cost history (the entry of
/// the latest day at or before it; an entry without a cost: none), else its current cost.
fn cost_on(item: &schema::Item, date: &str) -> Option<(String, String)> {
    let text = |m: &HashMap<String, AttributeValue>, k: &str| match m.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let history = item.get("cost_history").and_then(|v| v.as_m().ok());
    let in_force = history.and_then(|h| {
        h.iter()
            .filter(|(day, _)| day.as_str() <= date)
            .max_by(|a, b| a.0.cmp(b.0))
            .map(|(_, e)| e.as_m().ok())
    });
    match in_force {
        Some(entry) => {
            let entry = entry?;
            Some((text(entry, "unit_cost")?, text(entry, "currency")?))
        }
        None => Some((text(item, "unit_cost")?, text(item, "currency")?)),
    }
}

/// The unit costs in force on `day` of the SKUs of a chunk of level keys (their SKU items, one
/// read each; the chunk is in key order, so a SKU's locations share it), from each SKU's cost
/// history, so a day written again after a price change values its stock as it was valued. A
/// SKU item that cannot be read as a cost leaves its levels without a value (logged).
pub(crate) async fn unit_costs(
    client: &Client,
    table: &str,
    order: &[(String, String)],
    day: i64,
) -> Result<std::collections::HashMap<String, crate::domain::UnitCost>, StoreError> {
    let date = reports::date_of_day(day);
    let mut partitions: Vec<&String> = order.iter().map(|(pk, _)| pk).collect();
    partitions.dedup();
    let keys: Vec<schema::Item> = partitions
        .into_iter()
        .map(|pk| keys::key(pk.as_str(), keys::META))
        .collect();
    let mut costs = std::collections::HashMap::new();
    for chunk in keys.chunks(levels::BATCH) {
        for item in levels::batch_get(client, table, chunk.to_vec()).await? {
            let sku = match item.get("sku") {
                Some(AttributeValue::S(v)) => Some(v.clone()),
                _ => None,
            };
            if let (Some(sku), Some((amount, currency))) = (sku, cost_on(&item, &date)) {
                match crate::domain::UnitCost::parse(&amount, &currency) {
                    Ok(cost) => {
                        costs.insert(sku, cost);
                    }
                    Err(_) => {
                        tracing::error!(%sku, %amount, %currency, "report: unit cost unreadable")
                    }
                }
            }
        }
    }
    Ok(costs)
}

/// The alerts fired during `day` (the alert list's index, by day), each as it stood at the end
/// of the day; an alert that cannot be read is left out (logged).
pub(crate) async fn alerts_fired_on(
    client: &Client,
    table: &str,
    day: i64,
) -> Result<Vec<AlertDayItem>, StoreError> {
    let date = reports::date_of_day(day);
    let mut alerts = Vec::new();
    // The day's own partition of the alerts-by-day index: alerts alone, and of them only what
    // the dataset shows.
    let mut pages = client
        .query()
        .table_name(table)
        .index_name(keys::ALERT_DAY_INDEX)
        .key_condition_expression("#p = :p")
        .expression_attribute_names("#p", keys::ALERT_DAY_PARTITION_ATTRIBUTE)
        .expression_attribute_values(":p", AttributeValue::S(keys::alert_day(&date)))
        .into_paginator()
        .items()
        .send();
    while let Some(item) = pages.next().await {
        let item = item.map_err(StoreError::from_sdk)?;
        match schema::decode::<AlertDayItem>(entity::ALERT, &item) {
            Ok(a) => alerts.push(alert(a, day)),
            Err(e) => tracing::error!(error = %e, "alert left out of the report"),
        }
    }
    Ok(alerts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cost: Option<(&str, &str)>) -> AttributeValue {
        AttributeValue::M(
            cost.map(|(a, c)| {
                HashMap::from([
                    ("unit_cost".to_owned(), AttributeValue::S(a.into())),
                    ("currency".to_owned(), AttributeValue::S(c.into())),
                ])
            })
            .unwrap_or_default(),
        )
    }

    #[test]
    fn a_day_is_valued_at_the_cost_in_force_that_day() {
        let s = |v: &str| AttributeValue::S(v.into());
        let mut item: schema::Item = HashMap::from([
            ("unit_cost".to_owned(), s("3")),
            ("currency".to_owned(), s("EUR")),
        ]);
        // Before any history: the current cost.
        assert_eq!(
            cost_on(&item, "2026-01-01"),
            Some(("3".into(), "EUR".into()))
        );
        item.insert(
            "cost_history".into(),
            AttributeValue::M(HashMap::from([
                ("0000-00-00".to_owned(), entry(None)),
                ("2026-03-01".to_owned(), entry(Some(("2", "EUR")))),
                ("2026-03-05".to_owned(), entry(Some(("3", "EUR")))),
            ])),
        );
        let cost = |date| cost_on(&item, date).map(|(a, _)| a);
        // No cost before the first one; then each day's until the next.
        assert_eq!(cost("2026-02-28"), None);
        assert_eq!(cost("2026-03-01").as_deref(), Some("2"));
        assert_eq!(cost("2026-03-04").as_deref(), Some("2"));
        assert_eq!(cost("2026-03-05").as_deref(), Some("3"));
    }
}
