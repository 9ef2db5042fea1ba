//! RFC 9457 problem details: every error the API answers, its stable `type`, and its status, in
//! one place.

use http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::{json, Map, Value};

use crate::{
    domain::{FieldError, Refusal},
    store::{MovementError, StoreError},
};

/// Every way a request can fail. Each maps to one problem `type` and one status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    #[error("the token lacks scope {0}")]
    Forbidden(&'static str),
    #[error("a restocking refund without an order needs the admin scope")]
    RefundNeedsOrder,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
    #[error("body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("unsupported media type")]
    UnsupportedMediaType(&'static str),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("invalid query parameter")]
    InvalidParameter(Vec<FieldError>),
    #[error("Idempotency-Key header missing")]
    IdempotencyKeyMissing,
    #[error("Idempotency-Key invalid: {0}")]
    IdempotencyKeyInvalid(String),
    #[error("Idempotency-Key reused with a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Movement(#[from] MovementError),
    #[error("unknown SKU {0}")]
    SkuNotFound(String),
    #[error("unknown rule {0}")]
    RuleNotFound(String),
    #[error("unknown alert {0}")]
    AlertNotFound(String),
    #[error("unknown silence {0}")]
    SilenceNotFound(String),
    #[error("alert is {0}")]
    AlertStateConflict(&'static str),
    #[error("no report for {0}")]
    ReportNotFound(String),
    #[error("no import {0}")]
    ImportNotFound(String),
    #[error("unknown reservation {0}")]
    ReservationNotFound(String),
    #[error("reservation {id} expired")]
    ReservationExpired { id: String, expires_at: String },
    #[error("reservation {id} is {status}")]
    ReservationClosed { id: String, status: &'static str },
    #[error("reservation {id} can be held until {latest} at the latest")]
    HoldLifetimeExceeded {
        id: String,
        created_at: String,
        latest: String,
    },
    #[error("import {import_id} is not finished")]
    ImportNotFinished {
        import_id: String,
        processed: u64,
        lines: u64,
    },
}

impl From<crate::reservations::ReservationError> for ApiError {
    fn from(e: crate::reservations::ReservationError) -> Self {
        use crate::reservations::ReservationError as R;
        match e {
            R::NotFound(id) => Self::ReservationNotFound(id),
            R::Expired { id, expires_at } => Self::ReservationExpired { id, expires_at },
            R::Closed { id, status } => Self::ReservationClosed {
                id,
                status: status.as_str(),
            },
            R::KeyReused => Self::IdempotencyKeyReused,
            R::LifetimeExceeded {
                id,
                created_at,
                latest,
            } => Self::HoldLifetimeExceeded {
                id,
                created_at,
                latest,
            },
            R::Invalid(errors) => Self::Validation(errors),
            R::Movement(e) => Self::Movement(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::Movement(MovementError::Store(e))
    }
}

/// A problem type: its status, its stable slug (`type` is `/problems/<slug>`) and its title.
struct ProblemType {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
}

const fn problem(status: StatusCode, slug: &'static str, title: &'static str) -> ProblemType {
    ProblemType {
        status,
        slug,
        title,
    }
}

/// Every problem type the API answers with; OpenAPI's `Problem.type` and docs/api.md list the
/// same (a test reads its rows from this file, so the constructor is named for them alone).
/// Each type keeps one status and one title whatever the detail.
#[rustfmt::skip]
const TYPES: &[ProblemType] = {
    use StatusCode as S;
    &[
        problem(S::UNAUTHORIZED,           "unauthenticated",         "Authentication required"),
        problem(S::FORBIDDEN,              "forbidden",               "Insufficient scope"),
        problem(S::FORBIDDEN,              "refund-needs-order",      "Refund needs its order"),
        problem(S::NOT_FOUND,              "route-not-found",         "No such route"),
        problem(S::METHOD_NOT_ALLOWED,     "method-not-allowed",      "Method not allowed"),
        problem(S::PAYLOAD_TOO_LARGE,      "payload-too-large",       "Request body too large"),
        problem(S::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type",  "Unsupported media type"),
        problem(S::BAD_REQUEST,            "malformed-json",          "Malformed JSON"),
        problem(S::UNPROCESSABLE_ENTITY,   "validation",              "Invalid request"),
        problem(S::BAD_REQUEST,            "invalid-parameter",       "Invalid parameter"),
        problem(S::BAD_REQUEST,            "idempotency-key-missing", "Idempotency-Key required"),
        problem(S::BAD_REQUEST,            "idempotency-key-invalid", "Invalid Idempotency-Key"),
        problem(S::UNPROCESSABLE_ENTITY,   "idempotency-key-reused",  "Idempotency-Key reused"),
        problem(S::NOT_FOUND,              "sku-not-found",           "Unknown SKU"),
        problem(S::NOT_FOUND,              "rule-not-found",          "Unknown rule"),
        problem(S::NOT_FOUND,              "alert-not-found",         "Unknown alert"),
        problem(S::NOT_FOUND,              "silence-not-found",       "Unknown silence"),
        problem(S::CONFLICT,               "alert-state-conflict",    "Alert is not in a state that allows this"),
        problem(S::NOT_FOUND,              "import-not-found",        "Unknown import"),
        problem(S::CONFLICT,               "import-not-finished",     "Import still running"),
        problem(S::NOT_FOUND,              "report-not-found",        "No report for this day"),
        problem(S::NOT_FOUND,              "reservation-not-found",   "Unknown reservation"),
        problem(S::CONFLICT,               "reservation-expired",     "Reservation expired"),
        problem(S::CONFLICT,               "reservation-closed",      "Reservation closed"),
        problem(S::CONFLICT,               "hold-lifetime-exceeded",  "Hold cannot live that long"),
        problem(S::CONFLICT,               "insufficient-stock",      "Insufficient stock"),
        problem(S::CONFLICT,               "insufficient-in-transit", "Not that much in transit"),
        problem(S::CONFLICT,               "stale-count",             "Stock changed since it was counted"),
        problem(S::CONFLICT,               "count-below-reserved",    "Count below reserved"),
        problem(S::CONFLICT,               "insufficient-reserved",   "Less reserved than held"),
        problem(S::NOT_FOUND,              "stock-level-not-found",   "No stock at this location"),
        problem(S::NOT_FOUND,              "location-not-found",      "Unknown location"),
        problem(S::CONFLICT,               "order-exists",            "Order already recorded"),
        problem(S::NOT_FOUND,              "order-not-found",         "Unknown order"),
        problem(S::CONFLICT,               "refund-exceeds-order",    "Refund exceeds the order"),
        problem(S::SERVICE_UNAVAILABLE,    "busy",                    "Try again"),
        problem(S::SERVICE_UNAVAILABLE,    "store-unavailable",       "Inventory store unavailable"),
    ]
};

/// One answer: its type, what went wrong this time, and the fields a client can act on.
struct Problem {
    kind: &'static ProblemType,
    detail: String,
    extra: Map<String, Value>,
}

impl Problem {
    /// A problem of the type `slug` (one of [`TYPES`]).
    fn new(slug: &str, detail: impl Into<String>) -> Self {
        let kind = TYPES
            .iter()
            .find(|t| t.slug == slug)
            .expect("every problem the code answers with is in TYPES");
        Self {
            kind,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// The problem+json body; `instance` names the request.
    fn body(self, instance: Option<String>) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("{PROBLEM_BASE}{}", self.kind.slug)),
        );
        body.insert("title".into(), json!(self.kind.title));
        body.insert("status".into(), json!(self.kind.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        if let Some(instance) = instance {
            body.insert("instance".into(), json!(instance));
        }
        body.extend(self.extra);
        Value::Object(body)
    }
}

/// No `what` has the id `id` (also answered as the field `field`).
fn unknown(slug: &str, what: &str, field: &str, id: &str) -> Problem {
    Problem::new(slug, format!("There is no {what} {id}.")).with(field, json!(id))
}

/// Every invalid field, in the detail and as `errors`.
fn invalid(slug: &str, errors: &[FieldError]) -> Problem {
    Problem::new(slug, describe(errors)).with("errors", json!(errors))
}

/// Stable problem type URIs are `/problems/<slug>`; docs/api.md lists them all.
pub const PROBLEM_BASE: &str = "/problems/";

impl ApiError {
    fn answer(&self) -> Problem {
        match self {
            Self::Unauthenticated => Problem::new(
                "unauthenticated",
                "Send a valid bearer token in the Authorization header.",
            ),
            Self::Forbidden(scope) => Problem::new(
                "forbidden",
                format!("This route needs a token with the scope {scope}."),
            )
            .with("required_scope", json!(scope)),
            Self::RefundNeedsOrder => Problem::new(
                "refund-needs-order",
                "A storefront's restocking refund names the order it refunds (order_id) and \
                 stays within what that order sold. Record the sale with an order_id, or have \
                 ops (the admin scope) make the refund.",
            )
            .with("required_scope", json!(crate::api::scope::ADMIN)),
            Self::RouteNotFound => Problem::new(
                "route-not-found",
                "See the OpenAPI document for the routes this API serves.",
            ),
            Self::MethodNotAllowed(allowed) => Problem::new(
                "method-not-allowed",
                format!("This route accepts {}.", allowed.join(", ")),
            )
            .with("allowed", json!(allowed)),
            Self::PayloadTooLarge(limit) => Problem::new(
                "payload-too-large",
                format!("Request bodies are limited to {limit} bytes."),
            )
            .with("limit_bytes", json!(limit)),
            Self::UnsupportedMediaType(expected) => Problem::new(
                "unsupported-media-type",
                format!("Send the body as {expected}."),
            ),
            Self::MalformedJson(m) => Problem::new("malformed-json", m.clone()),
            Self::Validation(errors) => invalid("validation", errors),
            Self::InvalidParameter(errors) => invalid("invalid-parameter", errors),
            Self::IdempotencyKeyMissing => Problem::new(
                "idempotency-key-missing",
                "Every write needs an Idempotency-Key header, unique per intended change.",
            ),
            Self::IdempotencyKeyInvalid(m) => Problem::new("idempotency-key-invalid", m.clone()),
            Self::IdempotencyKeyReused => Problem::new(
                "idempotency-key-reused",
                "This Idempotency-Key was already used for a different request; nothing changed.",
            ),
            Self::SkuNotFound(sku) => unknown("sku-not-found", "SKU", "sku", sku),
            Self::RuleNotFound(id) => unknown("rule-not-found", "rule", "rule_id", id),
            Self::AlertNotFound(id) => unknown("alert-not-found", "alert", "alert_id", id),
            Self::SilenceNotFound(id) => Problem::new(
                "silence-not-found",
                format!("There is no silence {id} in force."),
            ),
            Self::AlertStateConflict(state) => Problem::new(
                "alert-state-conflict",
                format!("The alert is {state}; nothing changed."),
            )
            .with("state", json!(state)),
            Self::ImportNotFound(id) => {
                unknown("import-not-found", "stocktake import", "import_id", id)
            }
            Self::ImportNotFinished {
                import_id,
                processed,
                lines,
            } => Problem::new(
                "import-not-finished",
                format!(
                    "Import {import_id} has applied {processed} of {lines} lines; its result \
                     is ready once it is done."
                ),
            )
            .with("import_id", json!(import_id))
            .with("processed", json!(processed))
            .with("lines", json!(lines)),
            Self::ReportNotFound(dt) => Problem::new(
                "report-not-found",
                format!("No report has been written for {dt}."),
            )
            .with("dt", json!(dt)),
            Self::ReservationNotFound(id) => {
                unknown("reservation-not-found", "reservation", "reservation_id", id)
            }
            Self::ReservationExpired { id, expires_at } => Problem::new(
                "reservation-expired",
                format!("Reservation {id} ran out at {expires_at}; its stock is no longer held. Nothing changed; hold again to check out."),
            )
            .with("reservation_id", json!(id))
            .with("expires_at", json!(expires_at)),
            Self::ReservationClosed { id, status } => Problem::new(
                "reservation-closed",
                format!("Reservation {id} is already {status}; nothing changed."),
            )
            .with("reservation_id", json!(id))
            .with("reservation_status", json!(status)),
            Self::HoldLifetimeExceeded {
                id,
                created_at,
                latest,
            } => Problem::new(
                "hold-lifetime-exceeded",
                format!("Reservation {id} was made at {created_at} and can be held until {latest} at the latest ({} hours from its creation, however often it is extended); nothing changed.", crate::reservations::MAX_HOLD_LIFETIME_MINUTES / 60),
            )
            .with("reservation_id", json!(id))
            .with("created_at", json!(created_at))
            .with("latest_expires_at", json!(latest))
            .with("max_lifetime_minutes", json!(crate::reservations::MAX_HOLD_LIFETIME_MINUTES)),
            Self::Movement(e) => movement_answer(e),
        }
    }

    /// The problem+json response for this error.
    /// The problem type's stable name (`insufficient-stock`).
    pub fn slug(&self) -> &'static str {
        self.answer().kind.slug
    }

    /// The problem as a JSON object (`type`, `title`, `status`, `detail` and its extra fields),
    /// for an answer that reports one per item (bulk actions).
    pub fn as_json(&self) -> Value {
        self.answer().body(None)
    }

    pub fn into_response(self) -> Response<Body> {
        self.into_response_for(None)
    }

    /// The problem+json response; `instance` names the request (API Gateway's request id).
    pub fn into_response_for(self, request_id: Option<&str>) -> Response<Body> {
        if let Self::Movement(MovementError::Store(e)) = &self {
            tracing::error!(error = %e, "store failure");
        }
        let p = self.answer();
        let status = p.kind.status;
        let body = p.body(request_id.map(|id| format!("urn:request:{id}")));
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Self::MethodNotAllowed(allowed) = self {
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                headers.insert(header::ALLOW, v);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn movement_answer(e: &MovementError) -> Problem {
    match e {
        MovementError::Refused {
            line,
            sku,
            location,
            refusal,
        } => {
            let p = match refusal {
                Refusal::InsufficientAvailable { available } => Problem::new(
                    "insufficient-stock",
                    format!("Only {available} of {sku} available at {location}; nothing changed."),
                )
                .with("available", json!(available)),
                Refusal::InsufficientInTransit { in_transit } => Problem::new(
                    "insufficient-in-transit",
                    format!("Only {in_transit} of {sku} in transit to {location}; nothing changed."),
                )
                .with("in_transit", json!(in_transit)),
                Refusal::StaleCount { expected, on_hand } => Problem::new(
                    "stale-count",
                    format!(
                        "Expected on_hand {expected} for {sku} at {location} but it is {on_hand}; nothing changed."
                    ),
                )
                .with("expected", json!(expected))
                .with("on_hand", json!(on_hand)),
                Refusal::CountBelowReserved { counted, reserved } => Problem::new(
                    "count-below-reserved",
                    format!("{reserved} of {sku} are reserved at {location}; a count of {counted} would leave negative availability."),
                )
                .with("reserved", json!(reserved)),
                Refusal::InsufficientReserved { reserved } => Problem::new(
                    "insufficient-reserved",
                    format!("Only {reserved} of {sku} are reserved at {location}, less than the hold gives back; the level was changed outside its holds. Nothing changed."),
                )
                .with("reserved", json!(reserved)),
                Refusal::CountSuperseded { latest_ms } => Problem::new(
                    "stale-count",
                    format!(
                        "A count of {sku} at {location} taken later ({}) is applied already; this older one would undo it. Nothing changed.",
                        crate::clock::rfc3339_millis(*latest_ms)
                    ),
                )
                .with("latest_counted_at", json!(crate::clock::rfc3339_millis(*latest_ms))),
                // Worked out again by the movements use case; reaches no caller but as a busy
                // store.
                Refusal::LevelMoved { .. } | Refusal::ShortUnderHolds { .. } | Refusal::HoldsMoved => Problem::new(
                    "store-unavailable",
                    format!("{sku} at {location} kept changing while the count was applied; try again."),
                ),
                Refusal::NoLevel => Problem::new(
                    "stock-level-not-found",
                    format!("{sku} has never been stocked at {location}."),
                ),
            };
            p.with("sku", json!(sku))
                .with("location", json!(location))
                .with("line", json!(line))
        }
        MovementError::SkuNotFound(sku) => unknown("sku-not-found", "SKU", "sku", sku.as_str()),
        MovementError::LocationNotFound(loc) => {
            unknown("location-not-found", "location", "location", loc.as_str())
        }
        MovementError::OrderExists(id) => Problem::new(
            "order-exists",
            format!("Order {id} was recorded under another Idempotency-Key; nothing changed."),
        )
        .with("order_id", json!(id)),
        MovementError::OrderNotFound(id) => {
            unknown("order-not-found", "recorded order", "order_id", id)
        }
        MovementError::NotInOrder {
            order_id,
            sku,
            location,
        } => Problem::new(
            "refund-exceeds-order",
            format!("Order {order_id} sold no {sku} at {location}."),
        )
        .with("order_id", json!(order_id))
        .with("refundable", json!(0)),
        MovementError::RefundExceedsOrder {
            order_id,
            refundable,
        } => Problem::new(
            "refund-exceeds-order",
            format!("Only {refundable} more can be refunded against order {order_id}."),
        )
        .with("order_id", json!(order_id))
        .with("refundable", json!(refundable)),
        MovementError::Store(StoreError::InvalidCursor) => invalid(
            "invalid-parameter",
            &[FieldError::new(
                "cursor",
                "not a cursor this API issued for this listing",
            )],
        ),
        MovementError::Store(e) if e.is_retryable() => Problem::new(
            "busy",
            "The inventory table is busy; nothing changed. Retry with the same Idempotency-Key.",
        ),
        MovementError::Store(_) => Problem::new(
            "store-unavailable",
            "The inventory store failed; retry with the same Idempotency-Key.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::domain::{LocationId, SkuId};

    /// One error of every kind the API answers with.
    fn every_error() -> Vec<ApiError> {
        let sku = SkuId::parse("sku", "A").unwrap();
        let location = LocationId::parse("location", "WH1").unwrap();
        let refused = |refusal| {
            ApiError::Movement(MovementError::Refused {
                line: 1,
                sku: sku.clone(),
                location: location.clone(),
                refusal,
            })
        };
        let field = || vec![FieldError::new("sku", "not a SKU id")];
        let mut errors = vec![
            ApiError::Unauthenticated,
            ApiError::Forbidden(crate::api::scope::READ),
            ApiError::RefundNeedsOrder,
            ApiError::RouteNotFound,
            ApiError::MethodNotAllowed(vec!["GET", "PUT"]),
            ApiError::PayloadTooLarge(crate::api::MAX_BODY_BYTES),
            ApiError::UnsupportedMediaType("application/json"),
            ApiError::MalformedJson("EOF while parsing".into()),
            ApiError::Validation(field()),
            ApiError::InvalidParameter(field()),
            ApiError::IdempotencyKeyMissing,
            ApiError::IdempotencyKeyInvalid("not ASCII".into()),
            ApiError::IdempotencyKeyReused,
            ApiError::SkuNotFound("A".into()),
            ApiError::RuleNotFound("r-1".into()),
            ApiError::AlertNotFound("a-1".into()),
            ApiError::SilenceNotFound("sku:A".into()),
            ApiError::AlertStateConflict("resolved"),
            ApiError::ReportNotFound("2024-01-02".into()),
            ApiError::ImportNotFound("i-1".into()),
            ApiError::ImportNotFinished {
                import_id: "i-1".into(),
                processed: 2,
                lines: 5,
            },
            ApiError::ReservationNotFound("res-1".into()),
            ApiError::ReservationExpired {
                id: "res-1".into(),
                expires_at: "2024-01-02T00:00:00Z".into(),
            },
            ApiError::ReservationClosed {
                id: "res-1".into(),
                status: "committed",
            },
            ApiError::HoldLifetimeExceeded {
                id: "res-1".into(),
                created_at: "2024-01-02T00:00:00.000Z".into(),
                latest: "2024-01-03T00:00:00.000Z".into(),
            },
            refused(Refusal::InsufficientAvailable { available: 2 }),
            refused(Refusal::InsufficientInTransit { in_transit: 2 }),
            refused(Refusal::StaleCount {
                expected: 3,
                on_hand: 4,
            }),
            refused(Refusal::CountBelowReserved {
                counted: 1,
                reserved: 2,
            }),
            refused(Refusal::InsufficientReserved { reserved: 2 }),
            refused(Refusal::NoLevel),
        ];
        errors.extend(
            [
                MovementError::SkuNotFound(sku.clone()),
                MovementError::LocationNotFound(location.clone()),
                MovementError::OrderExists("o-1".into()),
                MovementError::OrderNotFound("o-1".into()),
                MovementError::NotInOrder {
                    order_id: "o-1".into(),
                    sku: sku.clone(),
                    location: location.clone(),
                },
                MovementError::RefundExceedsOrder {
                    order_id: "o-1".into(),
                    refundable: 1,
                },
                MovementError::Store(StoreError::InvalidCursor),
                MovementError::Store(StoreError::Busy("throttled".into())),
                MovementError::Store(StoreError::Failed("timeout".into())),
            ]
            .map(ApiError::Movement),
        );
        errors
    }

    #[test]
    fn the_catalogue_lists_exactly_the_problem_types_answered_each_once() {
        let answered: BTreeSet<&str> = every_error().iter().map(ApiError::slug).collect();
        let listed: BTreeSet<&str> = TYPES.iter().map(|t| t.slug).collect();
        assert_eq!(answered, listed);
        assert_eq!(listed.len(), TYPES.len());
    }

    #[test]
    fn a_problem_body_carries_its_type_status_title_and_fields() {
        let body = ApiError::Movement(MovementError::Store(StoreError::InvalidCursor)).as_json();
        assert_eq!(
            body,
            json!({
                "type": "/problems/invalid-parameter",
                "title": "Invalid parameter",
                "status": 400,
                "detail": "cursor: not a cursor this API issued for this listing",
                "errors": [{
                    "field": "cursor",
                    "message": "not a cursor this API issued for this listing",
                }],
            })
        );
    }
}
