//! The forecast items: written by the run, read back by the next run and listed by the API.

use std::collections::HashMap;

use aws_sdk_dynamodb::{error::ProvideErrorMetadata, types::AttributeValue, Client};

use super::{Demand, Plan};
use crate::{
    counters::LevelSnapshot,
    domain::Quantities,
    schema::{self, entity, keys, ForecastItem, Item, Malformed, Stored},
    store::StoreError,
};

/// The key of the forecast item of a level.
pub fn key(sku: &str, location: &str) -> Item {
    keys::key(keys::forecast(sku), keys::location(location))
}

/// The forecast item of a level: its demand history and plan. A level that needs an order
/// carries the replenishment list's index keys, so the list reads only those.
pub fn to_item(demand: &Demand, plan: &Plan) -> Item {
    let record = ForecastItem {
        demand: demand.daily.clone(),
        demand_day: demand.last_day,
        plan: plan.clone(),
    };
    let mut item = record.to_item();
    let sort = keys::replenishment_sort(plan.supplier.as_deref(), &plan.location, &plan.sku);
    if plan.suggested > 0 {
        item.insert(
            keys::INDEX_PARTITION.into(),
            AttributeValue::S(keys::REPLENISHMENT_LIST.into()),
        );
        item.insert(keys::INDEX_SORT.into(), AttributeValue::S(sort.clone()));
    }
    // Kept so a stock change can put the item in the list (or take it out) in one update.
    item.insert(LIST_SORT.into(), AttributeValue::S(sort));
    item
}

/// Sets a level's reorder point to `wanted` (none: removes it) when it differs, under a condition
/// on the level's existence and on the value (the level's stock is not touched). True when it
/// was written; false when it was already so, or the level is gone.
pub async fn set_reorder_point(
    client: &Client,
    table: &str,
    sku: &str,
    location: &str,
    wanted: Option<i64>,
) -> Result<bool, StoreError> {
    let update = client
        .update_item()
        .table_name(table)
        .set_key(Some(keys::key(keys::sku(sku), keys::location(location))))
        .expression_attribute_names("#r", "reorder_point");
    let update = match wanted {
        Some(r) => update
            .update_expression("SET #r = :r")
            .condition_expression(format!(
                "{} AND (attribute_not_exists(#r) OR #r <> :r)",
                keys::PRESENT
            ))
            .expression_attribute_values(":r", AttributeValue::N(r.to_string())),
        None => update
            .update_expression("REMOVE #r")
            .condition_expression(format!("{} AND attribute_exists(#r)", keys::PRESENT)),
    };
    Ok(crate::store::unless_condition_failed(update.send().await)?.is_some())
}

/// The attribute holding the item's place in the list while it is out of it.
const LIST_SORT: &str = "repl_sk";
/// The level version a plan was made from, and the level version whose change last put the item
/// in the list or took it out: of the two, the newer decides whether the item is listed.
const PLANNED_VERSION: &str = "planned_version";
const LISTED_VERSION: &str = "listed_version";
/// The run that wrote the item's plan ([`crate::fanout`]): a task of that run redone after a
/// failure finds the level planned and writes nothing again.
const PLANNED_RUN: &str = "planned_run";

/// The run that wrote this forecast item's plan, when it says.
pub fn planned_run(item: &Item) -> Option<&str> {
    item.get(PLANNED_RUN)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// Writes a level's forecast item, planned from the level at `version`. A stock change newer
/// than that level may have put the item in the list, or taken it out, while the plan was
/// made: then that decision stands (the item is written listed as the change left it), never
/// the plan's, which was made from older stock.
pub async fn put_forecast(
    client: &Client,
    table: &str,
    mut item: Item,
    version: i64,
    run: &str,
) -> Result<(), StoreError> {
    item.insert(PLANNED_RUN.into(), AttributeValue::S(run.into()));
    item.insert(
        PLANNED_VERSION.into(),
        AttributeValue::N(version.to_string()),
    );
    let mut condition = "attribute_not_exists(#lv) OR #lv <= :v".to_owned();
    let mut listed: Option<AttributeValue> = None;
    for _ in 0..4 {
        let mut put = client
            .put_item()
            .table_name(table)
            .set_item(Some(item.clone()))
            .condition_expression(&condition)
            .expression_attribute_names("#lv", LISTED_VERSION)
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            );
        put = match &listed {
            Some(lv) => put.expression_attribute_values(":lv", lv.clone()),
            None => put.expression_attribute_values(":v", AttributeValue::N(version.to_string())),
        };
        let err = match put.send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let old = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e)) => {
                e.item().cloned().unwrap_or_default()
            }
            _ => return Err(StoreError::from_sdk(err)),
        };
        // A newer change decided: keep the item listed (or not) as it left it.
        for k in [keys::INDEX_PARTITION, keys::INDEX_SORT] {
            match old.get(k) {
                Some(v) => item.insert(k.into(), v.clone()),
                None => item.remove(k),
            };
        }
        let Some(lv) = old.get(LISTED_VERSION).cloned() else {
            continue;
        };
        item.insert(LISTED_VERSION.into(), lv.clone());
        condition = "#lv = :lv".to_owned();
        listed = Some(lv);
    }
    Err(StoreError::Busy(
        "the level's list entry kept changing while its plan was written".into(),
    ))
}

/// After a stock change, keeps the level's forecast item in the replenishment list exactly
/// while its stock position (available + in_transit) is at or below its reorder point: one
/// conditional update when the change crosses the reorder point, nothing otherwise.
pub async fn index_due(
    client: &Client,
    table: &str,
    level: &LevelSnapshot,
    old: Option<&Quantities>,
) -> Result<(), StoreError> {
    let Some(rop) = level.reorder_point else {
        return Ok(());
    };
    let due = |q: &Quantities| q.available + q.in_transit <= rop;
    let now_due = due(&level.quantities);
    if old.is_some_and(|o| due(o) == now_due) || (old.is_none() && !now_due) {
        return Ok(());
    }
    // Only a change newer than the level the plan was made from moves the item: a plan made
    // from newer stock decided already.
    let update = client
        .update_item()
        .table_name(table)
        .set_key(Some(key(&level.sku, &level.location)))
        .condition_expression("attribute_exists(#s) AND (attribute_not_exists(#pv) OR #pv < :v)")
        .expression_attribute_names("#s", LIST_SORT)
        .expression_attribute_names("#pv", PLANNED_VERSION)
        .expression_attribute_names("#lv", LISTED_VERSION)
        .expression_attribute_values(":v", AttributeValue::N(level.version.to_string()));
    let update = if now_due {
        update
            .update_expression("SET gsi1pk = :p, gsi1sk = #s, #lv = :v")
            .expression_attribute_values(":p", AttributeValue::S(keys::REPLENISHMENT_LIST.into()))
    } else {
        update.update_expression("SET #lv = :v REMOVE gsi1pk, gsi1sk")
    };
    match update.send().await {
        Ok(_) => Ok(()),
        // No forecast item (the level was never planned), or a plan newer than this change:
        // nothing to list.
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
        Err(e) => Err(StoreError::from_sdk(e)),
    }
}

/// A forecast item read back.
pub fn from_item(item: &Item) -> Result<(Demand, Plan), Malformed> {
    let record: ForecastItem = schema::decode(entity::FORECAST, item)?;
    Ok((
        Demand {
            daily: record.demand,
            last_day: record.demand_day,
        },
        record.plan,
    ))
}

/// A page of the replenishment list: plans that called for an order, by supplier, location and
/// SKU, from `start` (the last page's end).
pub struct ListPage {
    /// Each plan with the demand history it was made from.
    pub plans: Vec<(Demand, Plan)>,
    pub last_key: Option<HashMap<String, AttributeValue>>,
}

/// Where a page of the list starts: the cursor the last page ended with, accepted only if it is
/// of this list and inside the part of it being read (the supplier's, and the location's).
pub fn list_start(
    cursor: &str,
    supplier: Option<&str>,
    location: Option<&str>,
) -> Result<Item, StoreError> {
    let key = crate::store::decode_cursor(cursor, keys::REPLENISHMENT_LIST)?;
    let prefix = match (supplier, location) {
        (Some(s), Some(l)) => format!("{s}#{l}#"),
        (Some(s), None) => format!("{s}#"),
        _ => String::new(),
    };
    let sort = key.get(keys::INDEX_SORT).and_then(|v| v.as_s().ok());
    let within = sort.is_some_and(|s| s.starts_with(&prefix))
        && keys::of(&key).is_some_and(|(pk, _)| pk.starts_with(&keys::forecast("")));
    if within {
        Ok(key)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

/// Reads a page of the list. `supplier` narrows to one supplier (and `location` then to a
/// location of it, in the key); without a supplier, `location` filters.
pub async fn list(
    client: &Client,
    table: &str,
    supplier: Option<&str>,
    location: Option<&str>,
    limit: i32,
    start: Option<HashMap<String, AttributeValue>>,
) -> Result<ListPage, StoreError> {
    let mut q = client
        .query()
        .table_name(table)
        .index_name(crate::store::INDEX)
        .expression_attribute_values(":p", AttributeValue::S(keys::REPLENISHMENT_LIST.into()))
        .set_exclusive_start_key(start)
        .limit(limit);
    q = match (supplier, location) {
        (Some(s), Some(l)) => q
            .key_condition_expression("gsi1pk = :p AND begins_with(gsi1sk, :s)")
            .expression_attribute_values(":s", AttributeValue::S(format!("{s}#{l}#"))),
        (Some(s), None) => q
            .key_condition_expression("gsi1pk = :p AND begins_with(gsi1sk, :s)")
            .expression_attribute_values(":s", AttributeValue::S(format!("{s}#"))),
        (None, Some(l)) => q
            .key_condition_expression("gsi1pk = :p")
            .filter_expression("#l = :l")
            .expression_attribute_names("#l", "location")
            .expression_attribute_values(":l", AttributeValue::S(l.into())),
        (None, None) => q.key_condition_expression("gsi1pk = :p"),
    };
    let out = q.send().await.map_err(StoreError::from_sdk)?;
    let mut plans = Vec::new();
    for item in out.items() {
        match from_item(item) {
            Ok(read) => plans.push(read),
            // One unreadable item is logged and left out, not the page.
            Err(e) => tracing::error!(error = %e, "forecast item unreadable; left out of the list"),
        }
    }
    Ok(ListPage {
        plans,
        last_key: out.last_evaluated_key().cloned(),
    })
}
