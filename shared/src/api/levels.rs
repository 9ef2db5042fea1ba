//! `GET /v1/levels` (the stock listing with its filters, as JSON or CSV) and
//! `GET /v1/skus/{sku}/daily` (a SKU's daily counters per location).

use http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::json;

use super::{csv_response, is_page_parameter, json_response, ApiError, Query};
use crate::{
    domain::{FieldError, LocationId, SkuId},
    listing::{Filter, Listing, Row, DEFAULT_LIMIT, MAX_EXPORT_LIMIT, MAX_LIMIT},
    store::{Store, StoreError},
};

const FILTERS: &[&str] = &[
    "location",
    "available_max",
    "below_threshold",
    "sku_prefix",
    "attribute",
    "q",
    "format",
];

/// The listing's query parameters, validated: the filter, the page size, the cursor and whether
/// CSV was asked for.
fn parse(query: &Query) -> Result<(Filter, usize, Option<String>, bool), ApiError> {
    let mut errors = Vec::new();
    query.refuse_unknown(&mut errors, |k| {
        is_page_parameter(k) || FILTERS.contains(&k)
    });
    let csv = match query.get("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            errors.push(FieldError::new("format", "must be json or csv"));
            false
        }
    };
    let max = if csv { MAX_EXPORT_LIMIT } else { MAX_LIMIT };
    let limit = query.number("limit", DEFAULT_LIMIT.min(max), max, &mut errors);
    let mut filter = Filter::default();
    if let Some(l) = query.get("location") {
        match LocationId::parse("location", l) {
            Ok(l) => filter.location = Some(l.to_string()),
            Err(e) => errors.push(e),
        }
    }
    if let Some(v) = query.get("available_max") {
        match v.parse::<i64>() {
            Ok(n) if (0..=1_000_000_000).contains(&n) => filter.available_max = Some(n),
            _ => errors.push(FieldError::new(
                "available_max",
                "must be an integer from 0 to 1000000000",
            )),
        }
    }
    match query.get("below_threshold") {
        None | Some("false") => {}
        Some("true") => filter.below_threshold = true,
        Some(_) => errors.push(FieldError::new("below_threshold", "must be true or false")),
    }
    if let Some(p) = query.get("sku_prefix") {
        let valid = !p.is_empty()
            && p.len() <= 64
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if valid {
            filter.sku_prefix = Some(p.to_owned());
        } else {
            errors.push(FieldError::new(
                "sku_prefix",
                "must be 1 to 64 of the characters a SKU id holds ([A-Za-z0-9._-])",
            ));
        }
    }
    if let Some(a) = query.get("attribute") {
        match a.split_once(':') {
            Some((k, v)) if !k.is_empty() && k.len() <= 64 && v.len() <= 256 => {
                filter.attribute = Some((k.to_owned(), v.to_owned()));
            }
            _ => errors.push(FieldError::new(
                "attribute",
                "must be name:value (a name of 1 to 64 characters)",
            )),
        }
    }
    if let Some(q) = query.get("q") {
        let q = q.trim().to_lowercase();
        if q.is_empty() || q.chars().count() > 100 || q.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "q",
                "must be 1 to 100 characters of text to look for in SKU ids and names",
            ));
        } else {
            filter.text = Some(q);
            filter.text_as_typed = query.get("q").map(|t| t.trim().to_owned());
        }
    }
    let cursor = query.cursor(&mut errors).map(str::to_owned);
    if errors.is_empty() {
        Ok((filter, limit, cursor, csv))
    } else {
        Err(ApiError::InvalidParameter(errors))
    }
}

/// The columns of the CSV export, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "sku",
    "name",
    "location",
    "on_hand",
    "reserved",
    "in_transit",
    "available",
    "alert_threshold",
    "below_threshold",
    "updated_at",
];

/// The page as CSV (formula-like cells neutralised), with the header only on a first page.
fn csv_body(rows: &[Row], header: bool) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::from(StoreError::Failed(e.to_string()));
    if header {
        w.write_record(CSV_COLUMNS).map_err(fail)?;
    }
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in rows {
        let q = r.quantities;
        w.write_record([
            crate::reports::neutralise(&r.sku).into_owned(),
            crate::reports::neutralise(&r.name).into_owned(),
            r.location.clone().unwrap_or_default(),
            n(q.map(|q| q.on_hand)),
            n(q.map(|q| q.reserved)),
            n(q.map(|q| q.in_transit)),
            n(q.map(|q| q.available)),
            n(r.alert_threshold),
            if r.location.is_some() {
                r.below_threshold.to_string()
            } else {
                String::new()
            },
            r.updated_at.clone().unwrap_or_default(),
        ])
        .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| ApiError::from(StoreError::Failed(e.to_string())))
}

/// `GET /v1/levels`.
pub(super) async fn list(
    store: &Store,
    alerts: &crate::alerts::store::AlertStore,
    query: &Query,
    path: &str,
    now: i64,
) -> Result<Response<Body>, ApiError> {
    let (filter, limit, cursor, csv) = parse(query)?;
    let (locations, (rules, _)) = tokio::try_join!(
        store.all_location_ids(),
        alerts.load_rules_and_silences(now)
    )?;
    let listing = Listing {
        client: store.client(),
        table: store.table(),
        locations: &locations,
        rules: &rules,
    };
    let page = listing.page(&filter, limit, cursor.as_deref()).await?;
    if !csv {
        return Ok(json_response(
            StatusCode::OK,
            &json!({ "items": page.items, "next_cursor": page.next_cursor, "order": page.order }),
        ));
    }
    let body = csv_body(&page.items, cursor.is_none())?;
    let mut response = csv_response(body, "stock.csv");
    // The next page of the export, for a client that follows links.
    if let Some(next) = &page.next_cursor {
        let mut params: Vec<String> = query
            .0
            .iter()
            .filter(|(k, _)| k.as_str() != "cursor")
            .map(|(k, v)| format!("{}={}", k, urlencode(v)))
            .collect();
        params.push(format!("cursor={next}"));
        if let Ok(v) =
            HeaderValue::from_str(&format!("<{path}?{}>; rel=\"next\"", params.join("&")))
        {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(response)
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /v1/skus/{sku}/daily?days=N` (1 to 32, default 28): units sold, received, refunded and
/// written off per UTC day, per location and in total, oldest day first, from the counters each
/// level keeps (no ledger read).
pub(super) async fn daily(
    store: &Store,
    sku: &SkuId,
    query: &Query,
    now: i64,
) -> Result<Response<Body>, ApiError> {
    let mut errors = Vec::new();
    query.refuse_unknown(&mut errors, |k| k == "days");
    let days: i64 = query.number("days", 28, crate::counters::DAYS, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::InvalidParameter(errors));
    }
    let Some(items) = store.sku_level_items(sku).await? else {
        return Err(ApiError::SkuNotFound(sku.to_string()));
    };
    let today = now.div_euclid(86_400);
    let first = today - days + 1;
    let mut totals = vec![[0i64; 4]; days as usize];
    let mut locations = Vec::new();
    for item in &items {
        let level = crate::levels::decode(item)
            .map_err(|e| ApiError::from(StoreError::Failed(e.to_string())))?;
        let h = &level.history;
        let mut series = Vec::with_capacity(days as usize);
        for (i, day) in (first..=today).enumerate() {
            let v = [
                h.sold.get(&day).copied().unwrap_or(0),
                h.received.get(&day).copied().unwrap_or(0),
                h.refunded.get(&day).copied().unwrap_or(0),
                h.written_off.get(&day).copied().unwrap_or(0),
            ];
            for (t, x) in totals[i].iter_mut().zip(v) {
                *t += x;
            }
            series.push(day_json(day, v));
        }
        locations.push(json!({ "location": h.location, "days": series }));
    }
    let total: Vec<_> = (first..=today)
        .zip(&totals)
        .map(|(d, v)| day_json(d, *v))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "sku": sku.as_str(), "days": total, "locations": locations }),
    ))
}

fn day_json(day: i64, [sold, received, refunded, written_off]: [i64; 4]) -> serde_json::Value {
    json!({
        "day": crate::reports::date_of_day(day),
        "sold": sold,
        "received": received,
        "refunded": refunded,
        "written_off": written_off,
    })
}
