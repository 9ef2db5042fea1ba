//! `GET /v1/replenishment`: what to order, from the latest daily plans ([`crate::replenishment`]),
//! by supplier, location and SKU. Each plan's order is worked out again at the stock as it is
//! now (a receipt or an accepted order since the plan shrinks or removes it).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

use super::{json_response, ApiError, Query};
use crate::{
    domain::{FieldError, LocationId, OrderId, Quantities},
    levels,
    replenishment::store,
    schema::keys,
    store::{Store, StoreError},
};

fn encode_cursor(key: &HashMap<String, AttributeValue>) -> Option<String> {
    let part = |k: &str| key.get(k).and_then(|v| v.as_s().ok()).cloned();
    let parts = [part("pk")?, part("sk")?, part("gsi1pk")?, part("gsi1sk")?];
    Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&parts).ok()?))
}

fn decode_cursor(raw: &str, prefix: &str) -> Result<HashMap<String, AttributeValue>, ApiError> {
    let invalid = || ApiError::from(StoreError::InvalidCursor);
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let [pk, sk, gp, gs]: [String; 4] = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    // The cursor must be of this list, and inside the supplier's (and location's) part of it.
    if gp != keys::REPLENISHMENT_LIST || !gs.starts_with(prefix) || !pk.starts_with("FCST#") {
        return Err(invalid());
    }
    let s = AttributeValue::S;
    Ok(HashMap::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(sk)),
        ("gsi1pk".to_owned(), s(gp)),
        ("gsi1sk".to_owned(), s(gs)),
    ]))
}

/// `GET /v1/replenishment?supplier=&location=&limit=&cursor=`.
pub(super) async fn list(store: &Store, query: &Query) -> Result<Response<Body>, ApiError> {
    let (limit, cursor) = query.page_with(&["supplier", "location"])?;
    let mut errors = Vec::new();
    let supplier = query.get("supplier").and_then(|raw| {
        OrderId::parse("supplier", raw)
            .map(|_| raw.to_owned())
            .map_err(|_| {
                errors.push(FieldError::new(
                    "supplier",
                    "a supplier id is 1 to 64 of letters, digits and ._:- starting with a \
                     letter or digit",
                ))
            })
            .ok()
    });
    let location = query.get("location").and_then(|raw| {
        LocationId::parse("location", raw)
            .map(|l| l.to_string())
            .map_err(|e| errors.push(e))
            .ok()
    });
    if !errors.is_empty() {
        return Err(ApiError::InvalidParameter(errors));
    }
    let prefix = match (&supplier, &location) {
        (Some(s), Some(l)) => format!("{s}#{l}#"),
        (Some(s), None) => format!("{s}#"),
        _ => String::new(),
    };
    let start = cursor.map(|c| decode_cursor(c, &prefix)).transpose()?;
    let page = store::list(
        store.client(),
        store.table(),
        supplier.as_deref(),
        location.as_deref(),
        limit,
        start,
    )
    .await?;
    // The stock now, for each plan's level.
    let wanted = page
        .plans
        .iter()
        .map(|(_, p)| keys::key(keys::sku(&p.sku), keys::location(&p.location)))
        .collect::<Vec<_>>();
    let mut now: HashMap<(String, String), Quantities> = HashMap::new();
    for chunk in wanted.chunks(levels::BATCH) {
        for item in levels::batch_get(store.client(), store.table(), chunk.to_vec()).await? {
            if let Ok(l) = levels::decode(&item) {
                now.insert((l.snapshot.sku, l.snapshot.location), l.snapshot.quantities);
            }
        }
    }
    let mut items: Vec<Value> = Vec::new();
    for (demand, plan) in page.plans {
        // A level gone since the plan needs no order.
        let Some(q) = now.get(&(plan.sku.clone(), plan.location.clone())) else {
            continue;
        };
        let position = q.available + q.in_transit;
        let suggested = plan.suggested_at(position);
        if suggested == 0 {
            continue;
        }
        let mut item = serde_json::to_value(&plan).unwrap_or_default();
        item["planned"] = json!({
            "available": plan.available,
            "in_transit": plan.in_transit,
            "suggested": plan.suggested,
        });
        item["available"] = json!(q.available);
        item["in_transit"] = json!(q.in_transit);
        item["position"] = json!(position);
        item["suggested"] = json!(suggested);
        item["history"] = json!(demand.daily);
        item["history_last_day"] = json!(crate::reports::date_of_day(demand.last_day));
        items.push(item);
    }
    let next_cursor = page.last_key.as_ref().and_then(encode_cursor);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": next_cursor }),
    ))
}
