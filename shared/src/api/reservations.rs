//! The checkout-hold routes (see [`crate::reservations`]): hold, read, extend, release and
//! commit a reservation, list a SKU's active holds, and read availability for a listing page.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{
    idempotency_key, json_response, parse_body, raw_json_response,
    requests::{CommitBody, ExtendBody, HoldBody},
    ApiError, Operation, Principal, Query, Route,
};
use crate::{
    domain::{FieldError, LocationId, SkuId},
    reservations::{availability, Reservation, Reservations, Status},
    schema::keys,
    store::{get_s, Store, StoreError},
};

/// Most (SKU, location) pairs, or SKUs, one availability request names.
pub const MAX_AVAILABILITY_PAIRS: usize = 100;
/// Most levels one availability request reads (SKUs × locations).
pub const MAX_AVAILABILITY_KEYS: usize = 1000;

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Counts a refused or accepted step, by its kind (`hold`, `commit`, …).
fn counted<T>(kind: &str, result: Result<T, ApiError>) -> Result<T, ApiError> {
    match &result {
        Ok(_) => crate::metrics::count("MovementsAccepted", ("Kind", kind)),
        Err(e) => crate::metrics::emit(
            &[("Kind", kind), ("Reason", e.slug())],
            &[("MovementsRefused", 1.0, crate::metrics::Unit::Count)],
        ),
    }
    result
}

fn id_param(raw: &str) -> Result<&str, ApiError> {
    if crate::reservations::valid_reservation_id(raw) {
        Ok(raw)
    } else {
        Err(ApiError::InvalidParameter(vec![FieldError::new(
            "reservation_id",
            "not a reservation id this API issues",
        )]))
    }
}

fn view(r: &Reservation, now_ms: i64) -> Value {
    let mut v = r.view(now_ms);
    let base = format!("/v1/reservations/{}", r.id);
    v["links"] = json!({ "self": base });
    if r.status_at(now_ms) == Status::Active {
        v["links"]["extend"] = json!(format!("{base}/extend"));
        v["links"]["release"] = json!(format!("{base}/release"));
        v["links"]["commit"] = json!(format!("{base}/commit"));
    }
    v
}

fn answer(status: StatusCode, r: &Reservation, replayed: bool, now_ms: i64) -> Response<Body> {
    raw_json_response(status, view(r, now_ms).to_string(), replayed)
}

/// `POST /v1/reservations`.
pub(super) async fn hold(
    store: &Store,
    req: &Request,
    route: &Route,
    principal: &Principal,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    counted(
        "hold",
        async {
            let key = idempotency_key(req.headers())?;
            let body: HoldBody = parse_body(req)?;
            let request = body.validate().map_err(ApiError::Validation)?;
            // The reservation id comes from the caller and its key, so a replay finds its hold.
            let scope = hex_sha256(&[principal.subject.as_bytes(), key.as_str().as_bytes()]);
            let id = format!("rs_{}", &scope[..24]);
            let request_hash = hex_sha256(&[
                route.path.as_bytes(),
                &serde_json::to_vec(&body).unwrap_or_default(),
            ]);
            let (r, replayed) = Reservations::new(store.clone())
                .hold(&id, &request, &request_hash, &principal.subject, now_ms)
                .await?;
            Ok(answer(StatusCode::CREATED, &r, replayed, now_ms))
        }
        .await,
    )
}

/// `GET /v1/reservations/{id}`.
pub(super) async fn get(store: &Store, raw: &str, now_ms: i64) -> Result<Response<Body>, ApiError> {
    let id = id_param(raw)?;
    match Reservations::new(store.clone()).get(id).await? {
        Some(r) => Ok(json_response(StatusCode::OK, &view(&r, now_ms))),
        None => Err(ApiError::ReservationNotFound(id.to_owned())),
    }
}

/// A step of an open reservation by its owner: `extend`, `release` or `commit`.
pub(super) async fn step(
    operation: Operation,
    store: &Store,
    req: &Request,
    raw: &str,
    principal: &Principal,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    match operation {
        Operation::ExtendReservation => extend(store, req, raw, principal, now_ms).await,
        Operation::ReleaseReservation => release(store, req, raw, principal, now_ms).await,
        _ => commit(store, req, raw, principal, now_ms).await,
    }
}

/// `POST /v1/reservations/{id}/extend`.
async fn extend(
    store: &Store,
    req: &Request,
    raw: &str,
    principal: &Principal,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    counted(
        "hold_extend",
        async {
            let id = id_param(raw)?;
            let body: ExtendBody = parse_body(req)?;
            let ttl = body.validate().map_err(ApiError::Validation)?;
            let (r, _) = Reservations::new(store.clone())
                .extend(id, ttl, &principal.subject, now_ms)
                .await?;
            Ok(answer(StatusCode::OK, &r, false, now_ms))
        }
        .await,
    )
}

/// A release takes no fields: an empty body or `{}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {}

/// `POST /v1/reservations/{id}/release`.
async fn release(
    store: &Store,
    req: &Request,
    raw: &str,
    principal: &Principal,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    counted(
        "hold_release",
        async {
            let id = id_param(raw)?;
            if !req.body().as_ref().trim_ascii().is_empty() {
                let _: ReleaseBody = parse_body(req)?;
            }
            let (r, replayed) = Reservations::new(store.clone())
                .release(id, &principal.subject, now_ms)
                .await?;
            Ok(answer(StatusCode::OK, &r, replayed, now_ms))
        }
        .await,
    )
}

/// `POST /v1/reservations/{id}/commit`.
async fn commit(
    store: &Store,
    req: &Request,
    raw: &str,
    principal: &Principal,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    counted(
        "sale",
        async {
            let id = id_param(raw)?;
            let body: CommitBody = parse_body(req)?;
            let (order_id, takes) = body.validate().map_err(ApiError::Validation)?;
            // The same commit is the same order taking the same units, whatever the order of
            // its lines.
            let canonical = match &takes {
                None => "all".to_owned(),
                Some(t) => {
                    let mut lines: Vec<String> = t
                        .iter()
                        .map(|l| format!("{}@{}={}", l.sku, l.location, l.quantity))
                        .collect();
                    lines.sort();
                    lines.join(",")
                }
            };
            let request_hash = hex_sha256(&[
                b"commit",
                order_id.as_str().as_bytes(),
                canonical.as_bytes(),
            ]);
            let (r, replayed) = Reservations::new(store.clone())
                .commit(
                    id,
                    order_id.as_str(),
                    takes.as_deref(),
                    &request_hash,
                    &principal.subject,
                    now_ms,
                )
                .await?;
            Ok(answer(StatusCode::CREATED, &r, replayed, now_ms))
        }
        .await,
    )
}

/// The `holds` index position a page of a SKU's holds ended at.
fn encode_cursor(key: &HashMap<String, AttributeValue>) -> Option<String> {
    let part = |k: &str| key.get(k).and_then(|v| v.as_s().ok()).cloned();
    let parts = [
        part("pk")?,
        part("sk")?,
        part(keys::HOLD_PARTITION_ATTRIBUTE)?,
        part(keys::HOLD_SORT_ATTRIBUTE)?,
    ];
    Some(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&parts).ok()?))
}

fn decode_cursor(
    raw: &str,
    sku: &SkuId,
    location: Option<&LocationId>,
) -> Result<HashMap<String, AttributeValue>, ApiError> {
    let invalid = || ApiError::from(StoreError::InvalidCursor);
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let [pk, sk, hp, hs]: [String; 4] = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    // The cursor must be of this SKU's listing, and inside this location's part of it.
    let in_location = location.is_none_or(|l| hs.starts_with(&keys::hold_sort(l.as_str(), "")));
    if hp != keys::holds(sku.as_str()) || pk != keys::ledger(sku.as_str()) || !in_location {
        return Err(invalid());
    }
    Ok(HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk)),
        (
            keys::HOLD_PARTITION_ATTRIBUTE.to_owned(),
            AttributeValue::S(hp),
        ),
        (keys::HOLD_SORT_ATTRIBUTE.to_owned(), AttributeValue::S(hs)),
    ]))
}

/// `GET /v1/skus/{sku}/reservations`: the SKU's active holds, by location, each read from its
/// reservation (so one closed a moment ago is not listed).
pub(super) async fn list_for_sku(
    store: &Store,
    sku: &SkuId,
    query: &Query,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    let (limit, cursor) = query.page_with(&["location"])?;
    let location = query
        .get("location")
        .map(|l| LocationId::parse("location", l))
        .transpose()
        .map_err(|e| ApiError::InvalidParameter(vec![e]))?;
    let start = cursor
        .map(|c| decode_cursor(c, sku, location.as_ref()))
        .transpose()?;
    let start_given = start.is_some();
    let mut q = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(keys::HOLD_INDEX)
        .expression_attribute_names("#p", keys::HOLD_PARTITION_ATTRIBUTE)
        .expression_attribute_values(":p", AttributeValue::S(keys::holds(sku.as_str())))
        .limit(limit)
        .set_exclusive_start_key(start);
    q = match &location {
        Some(l) => q
            .key_condition_expression("#p = :p AND begins_with(#s, :l)")
            .expression_attribute_names("#s", keys::HOLD_SORT_ATTRIBUTE)
            .expression_attribute_values(":l", AttributeValue::S(keys::hold_sort(l.as_str(), ""))),
        None => q.key_condition_expression("#p = :p"),
    };
    let out = q.send().await.map_err(|e| {
        // A start key DynamoDB will not take is a cursor this listing did not issue.
        if start_given && e.code() == Some("ValidationException") {
            StoreError::InvalidCursor
        } else {
            StoreError::from_sdk(e)
        }
    })?;
    let entries: Vec<(String, String)> = out
        .items()
        .iter()
        .filter_map(|i| get_s(i, keys::HOLD_SORT_ATTRIBUTE))
        .filter_map(|s| s.rsplit_once('#'))
        .map(|(l, id)| (l.to_owned(), id.to_owned()))
        .collect();
    let ids: BTreeSet<&str> = entries.iter().map(|(_, id)| id.as_str()).collect();
    let mut reservations: HashMap<String, Reservation> = HashMap::new();
    if !ids.is_empty() {
        let ka = KeysAndAttributes::builder()
            .set_keys(Some(
                ids.iter()
                    .map(|id| keys::key(keys::reservation(id), keys::META))
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        let mut request = HashMap::from([(store.table().to_owned(), ka)]);
        for round in 0..6 {
            let resp = store
                .client()
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in resp
                .responses
                .and_then(|mut r| r.remove(store.table()))
                .unwrap_or_default()
            {
                // One unreadable reservation is logged and left out, not the whole page.
                match Reservation::from_item(&item) {
                    Ok(r) => {
                        reservations.insert(r.id.clone(), r);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reservation unreadable; left out of the listing")
                    }
                }
            }
            request = resp.unprocessed_keys.unwrap_or_default();
            if request.values().all(|k| k.keys().is_empty()) {
                break;
            }
            if round == 5 {
                return Err(StoreError::Busy(
                    "the table kept reservations of the listing unprocessed".into(),
                )
                .into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
        }
    }
    let mut items = Vec::new();
    for (location, id) in &entries {
        let Some(r) = reservations.get(id) else {
            continue;
        };
        if r.status_at(now_ms) != Status::Active {
            continue;
        }
        let Some(line) = r
            .lines
            .iter()
            .find(|l| l.sku == sku.as_str() && &l.location == location)
        else {
            continue;
        };
        let mut item = json!({
            "reservation_id": r.id,
            "location": location,
            "quantity": line.quantity,
            "created_at": r.created_at,
            "created_by": r.created_by,
            "expires_at": r.expires_at,
            "expires_in_seconds": (r.expires_ms - now_ms).div_euclid(1000),
        });
        if let Some(reference) = &r.reference {
            item["reference"] = json!(reference);
        }
        items.push(item);
    }
    let next_cursor = out.last_evaluated_key().and_then(encode_cursor);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": next_cursor }),
    ))
}

fn list_param<T>(
    query: &Query,
    name: &str,
    parse: impl Fn(&str, &str) -> Result<T, FieldError>,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<T>> {
    let raw = query.get(name)?;
    let mut out = Vec::new();
    for (i, part) in raw.split(',').enumerate() {
        match parse(&format!("{name}[{i}]"), part.trim()) {
            Ok(v) => out.push(v),
            Err(e) => errors.push(e),
        }
    }
    Some(out)
}

/// `GET /v1/availability?items=SKU@LOC,…` or `?skus=A,B[&locations=WH1,WH2]`, with
/// `consistency=eventual` (the default, half the read cost) or `strong`.
pub(super) async fn availability(store: &Store, query: &Query) -> Result<Response<Body>, ApiError> {
    let mut errors = Vec::new();
    for k in query.keys() {
        if !["items", "skus", "locations", "consistency"].contains(&k) {
            errors.push(FieldError::new(k, "unknown query parameter"));
        }
    }
    let consistent = match query.get("consistency") {
        None | Some("eventual") => false,
        Some("strong") => true,
        Some(_) => {
            errors.push(FieldError::new("consistency", "must be eventual or strong"));
            false
        }
    };
    let pairs = list_param(
        query,
        "items",
        |field, raw| {
            let (sku, loc) = raw
                .split_once('@')
                .ok_or_else(|| FieldError::new(field, "must be SKU@LOCATION"))?;
            Ok((
                SkuId::parse(field, sku)?.to_string(),
                LocationId::parse(field, loc)?.to_string(),
            ))
        },
        &mut errors,
    );
    let skus = list_param(query, "skus", SkuId::parse, &mut errors);
    let locations = list_param(query, "locations", LocationId::parse, &mut errors);
    let too_many = |field: &str, n: usize| {
        FieldError::new(
            field,
            format!("names {n}; at most {MAX_AVAILABILITY_PAIRS} a request"),
        )
    };
    match (&pairs, &skus) {
        (Some(_), Some(_)) => errors.push(FieldError::new(
            "items",
            "name either items (SKU@LOCATION pairs) or skus, not both",
        )),
        (None, None) => errors.push(FieldError::new(
            "items",
            "name items (SKU@LOCATION pairs) or skus",
        )),
        (Some(p), None) if p.len() > MAX_AVAILABILITY_PAIRS => {
            errors.push(too_many("items", p.len()))
        }
        (None, Some(s)) if s.len() > MAX_AVAILABILITY_PAIRS => {
            errors.push(too_many("skus", s.len()))
        }
        _ => {}
    }
    if pairs.is_some() && locations.is_some() {
        errors.push(FieldError::new(
            "locations",
            "goes with skus; items name their locations",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::InvalidParameter(errors));
    }
    let (wanted, all_stocked) = match (pairs, skus.unwrap_or_default()) {
        (Some(p), _) => (dedup(p), false),
        (None, skus) => {
            let locations = match locations {
                Some(l) => l.iter().map(ToString::to_string).collect(),
                None => store.all_location_ids().await?,
            };
            let n = skus.len() * locations.len();
            if n > MAX_AVAILABILITY_KEYS {
                return Err(ApiError::InvalidParameter(vec![FieldError::new(
                    "skus",
                    format!("{} SKUs at {} locations are {n} levels; at most {MAX_AVAILABILITY_KEYS} a request (name the locations)", skus.len(), locations.len()),
                )]));
            }
            let mut p = Vec::with_capacity(n);
            for s in &skus {
                for l in &locations {
                    p.push((s.to_string(), l.clone()));
                }
            }
            (dedup(p), true)
        }
    };
    let answer = availability::read(store, &wanted, consistent, all_stocked).await?;
    Ok(json_response(StatusCode::OK, &answer))
}

fn dedup(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut seen = BTreeSet::new();
    pairs
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect()
}
