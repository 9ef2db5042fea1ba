//! The checkout-hold routes (see [`crate::reservations`]): hold, read, extend, release and
//! commit a reservation, list a SKU's active holds, and read availability for a listing page.

use std::collections::BTreeSet;

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
    domain::{FieldError, LocationId, OrderId, SkuId},
    reservations::{availability, Reservation, Reservations, Status, Take},
    store::Store,
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
                .hold(&id, &request, &request_hash, principal.caller(), now_ms)
                .await?;
            Ok(answer(StatusCode::CREATED, &r, replayed, now_ms))
        }
        .await,
    )
}

/// `GET /v1/reservations/{id}`: the caller's own hold (admin: any).
pub(super) async fn get(
    store: &Store,
    raw: &str,
    principal: &Principal,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    let id = id_param(raw)?;
    let reservations = Reservations::new(store.clone());
    match reservations.get_for(id, principal.caller()).await? {
        Some(r) => Ok(json_response(StatusCode::OK, &view(&r, now_ms))),
        None => Err(ApiError::ReservationNotFound(id.to_owned())),
    }
}

/// A step of an open reservation by its owner: `POST /v1/reservations/{id}/extend`,
/// `…/release` or `…/commit`.
pub(super) async fn step(
    operation: Operation,
    store: &Store,
    req: &Request,
    raw: &str,
    principal: &Principal,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    let (kind, status) = match operation {
        Operation::ExtendReservation => ("hold_extend", StatusCode::OK),
        Operation::ReleaseReservation => ("hold_release", StatusCode::OK),
        _ => ("sale", StatusCode::CREATED),
    };
    counted(
        kind,
        async {
            let id = id_param(raw)?;
            let reservations = Reservations::new(store.clone());
            let caller = principal.caller();
            let (r, replayed) = match operation {
                Operation::ExtendReservation => {
                    let body: ExtendBody = parse_body(req)?;
                    let ttl = body.validate().map_err(ApiError::Validation)?;
                    // With an Idempotency-Key, a retried extend is answered as a replay and
                    // moves the hold on no further; without one, every extend moves it on.
                    let key = match req.headers().contains_key("idempotency-key") {
                        true => Some(idempotency_key(req.headers())?),
                        false => None,
                    };
                    let scoped = key.map(|k| {
                        hex_sha256(&[principal.subject.as_bytes(), k.as_str().as_bytes()])
                    });
                    reservations
                        .extend(id, ttl, scoped.as_deref(), caller, now_ms)
                        .await?
                }
                Operation::ReleaseReservation => {
                    if !req.body().as_ref().trim_ascii().is_empty() {
                        let _: ReleaseBody = parse_body(req)?;
                    }
                    reservations.release(id, caller, now_ms).await?
                }
                _ => {
                    let (order_id, takes, request_hash) = commit_request(req)?;
                    let takes = takes.as_deref();
                    reservations
                        .commit(id, order_id.as_str(), takes, &request_hash, caller, now_ms)
                        .await?
                }
            };
            Ok(answer(status, &r, replayed, now_ms))
        }
        .await,
    )
}

/// A release takes no fields: an empty body or `{}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {}

/// A commit's order, the units it takes (None: everything held) and the hash of the request.
fn commit_request(req: &Request) -> Result<(OrderId, Option<Vec<Take>>, String), ApiError> {
    let body: CommitBody = parse_body(req)?;
    let (order_id, takes) = body.validate().map_err(ApiError::Validation)?;
    // The same commit is the same order taking the same units, whatever the order of its lines.
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
    Ok((order_id, takes, request_hash))
}

/// `GET /v1/skus/{sku}/reservations`: the SKU's active holds, by location, each read from its
/// reservation (so one closed a moment ago is not listed). A storefront sees its own holds;
/// admin sees every client's (the units others hold show in the level's `reserved`).
pub(super) async fn list_for_sku(
    store: &Store,
    sku: &SkuId,
    query: &Query,
    principal: &Principal,
    now_ms: i64,
) -> Result<Response<Body>, ApiError> {
    let caller = principal.caller();
    let (limit, cursor) = query.page_with(&["location"])?;
    let location = query
        .get("location")
        .map(|l| LocationId::parse("location", l))
        .transpose()
        .map_err(|e| ApiError::InvalidParameter(vec![e]))?;
    let page = Reservations::new(store.clone())
        .of_sku(sku, location.as_ref(), limit, cursor, now_ms)
        .await?;
    let items: Vec<Value> = page
        .items
        .iter()
        .filter(|h| caller.may_act_on(&h.reservation))
        .map(|h| {
            let r = &h.reservation;
            let mut item = json!({
                "reservation_id": r.id,
                "location": h.location,
                "quantity": h.quantity,
                "created_at": r.created_at,
                "created_by": r.created_by,
                "owner": r.owner,
                "expires_at": r.expires_at,
                "expires_in_seconds": (r.expires_ms - now_ms).div_euclid(1000),
            });
            if let Some(reference) = &r.reference {
                item["reference"] = json!(reference);
            }
            item
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "items": items, "next_cursor": page.next_cursor }),
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
