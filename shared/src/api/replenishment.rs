//! `GET /v1/replenishment`: what to order, from the latest daily plans ([`crate::replenishment`]),
//! by supplier, location and SKU. Each plan's order is worked out again at the stock as it is
//! now (a receipt or an accepted order since the plan shrinks or removes it).

use std::collections::HashMap;

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

use super::{json_response, ApiError, Query};
use crate::{
    domain::{FieldError, LocationId, OrderId, Quantities},
    levels,
    replenishment::store,
    schema::keys,
    store::{encode_cursor, Store},
};

/// `GET /v1/replenishment?supplier=&location=&limit=&cursor=`.
pub(super) async fn list(store: &Store, query: &Query) -> Result<Response<Body>, ApiError> {
    let (limit, cursor) = query.page_with(&["supplier", "location"])?;
    let mut errors = Vec::new();
    let supplier = query.param("supplier", &mut errors, |raw| {
        OrderId::parse("supplier", raw)
            .map(|_| raw.to_owned())
            .map_err(|_| {
                FieldError::new(
                    "supplier",
                    "a supplier id is 1 to 64 of letters, digits and ._:- starting with a \
                     letter or digit",
                )
            })
    });
    let location = query.param("location", &mut errors, |raw| {
        LocationId::parse("location", raw).map(|l| l.to_string())
    });
    if !errors.is_empty() {
        return Err(ApiError::InvalidParameter(errors));
    }
    let start = cursor
        .map(|c| store::list_start(c, supplier.as_deref(), location.as_deref()))
        .transpose()?;
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
