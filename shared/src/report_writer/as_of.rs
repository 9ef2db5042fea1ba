//! Figures as they were at the end of the report's day, so re-running a day gives the same
//! files whatever happened since.
//!
//! A level that has not changed since the day ended is read as it is. One that has is put back
//! from its ledger: the newest entry of that location before the next day holds the level's exact
//! quantities after it (`after`), and the newest sale and receipt before then give the last sale
//! and receipt. The per-day counters need no correction: a day's slot never changes once the day
//! is over (while it is in the ring, see [`crate::counters`]). An alert's acknowledgement and
//! resolution after the day are left out.

use aws_sdk_dynamodb::{types::AttributeValue, Client};

use crate::{
    domain::MovementKind,
    levels::{unix, DecodedLevel},
    reports::{self, LevelHistory, SECONDS_PER_DAY},
    schema::{self, entity, keys, AlertItem, LedgerEntryItem},
    store::StoreError,
};

/// The level as it was at the end of `day`, or `None` when it did not exist yet.
pub(super) async fn level(
    client: &Client,
    table: &str,
    level: DecodedLevel,
    day: i64,
) -> Result<Option<LevelHistory>, StoreError> {
    let end = (day + 1) * SECONDS_PER_DAY;
    if level.created_at >= end {
        return Ok(None);
    }
    let mut h = level.history;
    if level.updated_at < end {
        return Ok(Some(h));
    }
    let mut need_sale = h.last_sale_at.is_some_and(|t| t >= end);
    let mut need_receipt = h.last_receipt_at.is_some_and(|t| t >= end);
    if need_sale {
        h.last_sale_at = None;
    }
    if need_receipt {
        h.last_receipt_at = None;
    }
    let mut quantities = None;
    // Entries sort by time first; every entry of a later day sorts after the next day's date.
    let mut pages = client
        .query()
        .table_name(table)
        .key_condition_expression("pk = :p AND sk < :next")
        .filter_expression("#l = :l")
        .expression_attribute_names("#l", "location")
        .expression_attribute_values(":p", AttributeValue::S(keys::ledger(&h.sku)))
        .expression_attribute_values(":next", AttributeValue::S(reports::date_of_day(day + 1)))
        .expression_attribute_values(":l", AttributeValue::S(h.location.clone()))
        .scan_index_forward(false)
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
        if quantities.is_none() {
            quantities = entry.after;
        }
        if need_sale && entry.kind == MovementKind::Sale {
            h.last_sale_at = unix(Some(&entry.at));
            need_sale = false;
        }
        if need_receipt && entry.kind == MovementKind::Receipt {
            h.last_receipt_at = unix(Some(&entry.at));
            need_receipt = false;
        }
        if quantities.is_some() && !need_sale && !need_receipt {
            break;
        }
    }
    match quantities {
        Some(q) => {
            h.quantities = q.into();
            Ok(Some(h))
        }
        None => {
            // Its ledger has no entry of the day yet (the stream is far behind): left out, and
            // said, rather than written with figures of another day.
            tracing::error!(sku = %h.sku, location = %h.location,
                "report: level changed after the day but its ledger has nothing up to it; left out");
            Ok(None)
        }
    }
}

/// An alert of `day` as it stood at the end of the day.
pub(super) fn alert(mut a: AlertItem, day: i64) -> AlertItem {
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
