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

struct Problem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    extra: Map<String, Value>,
}

fn problem(status: StatusCode, slug: &'static str, title: &'static str, detail: String) -> Problem {
    Problem {
        status,
        slug,
        title,
        detail,
        extra: Map::new(),
    }
}

impl Problem {
    fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }
}

/// Stable problem type URIs are `/problems/<slug>`; docs/api.md lists them all.
pub const PROBLEM_BASE: &str = "/problems/";

impl ApiError {
    fn problem(&self) -> Problem {
        use StatusCode as S;
        match self {
            Self::Unauthenticated => problem(
                S::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
                "Send a valid bearer token in the Authorization header.".into(),
            ),
            Self::Forbidden(scope) => problem(
                S::FORBIDDEN,
                "forbidden",
                "Insufficient scope",
                format!("This route needs a token with the scope {scope}."),
            )
            .with("required_scope", json!(scope)),
            Self::RefundNeedsOrder => problem(
                S::FORBIDDEN,
                "refund-needs-order",
                "Refund needs its order",
                "A storefront's restocking refund names the order it refunds (order_id) and \
                 stays within what that order sold. Record the sale with an order_id, or have \
                 ops (the admin scope) make the refund."
                    .into(),
            )
            .with("required_scope", json!(crate::api::scope::ADMIN)),
            Self::RouteNotFound => problem(
                S::NOT_FOUND,
                "route-not-found",
                "No such route",
                "See the OpenAPI document for the routes this API serves.".into(),
            ),
            Self::MethodNotAllowed(allowed) => problem(
                S::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
                format!("This route accepts {}.", allowed.join(", ")),
            )
            .with("allowed", json!(allowed)),
            Self::PayloadTooLarge(limit) => problem(
                S::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
                format!("Request bodies are limited to {limit} bytes."),
            )
            .with("limit_bytes", json!(limit)),
            Self::UnsupportedMediaType(expected) => problem(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!("Send the body as {expected}."),
            ),
            Self::MalformedJson(m) => problem(
                S::BAD_REQUEST,
                "malformed-json",
                "Malformed JSON",
                m.clone(),
            ),
            Self::Validation(errors) => problem(
                S::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
                describe(errors),
            )
            .with("errors", json!(errors)),
            Self::InvalidParameter(errors) => problem(
                S::BAD_REQUEST,
                "invalid-parameter",
                "Invalid parameter",
                describe(errors),
            )
            .with("errors", json!(errors)),
            Self::IdempotencyKeyMissing => problem(
                S::BAD_REQUEST,
                "idempotency-key-missing",
                "Idempotency-Key required",
                "Every write needs an Idempotency-Key header, unique per intended change.".into(),
            ),
            Self::IdempotencyKeyInvalid(m) => problem(
                S::BAD_REQUEST,
                "idempotency-key-invalid",
                "Invalid Idempotency-Key",
                m.clone(),
            ),
            Self::IdempotencyKeyReused => problem(
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was already used for a different request; nothing changed."
                    .into(),
            ),
            Self::SkuNotFound(sku) => problem(
                S::NOT_FOUND,
                "sku-not-found",
                "Unknown SKU",
                format!("There is no SKU {sku}."),
            )
            .with("sku", json!(sku)),
            Self::RuleNotFound(id) => problem(
                S::NOT_FOUND,
                "rule-not-found",
                "Unknown rule",
                format!("There is no rule {id}."),
            )
            .with("rule_id", json!(id)),
            Self::AlertNotFound(id) => problem(
                S::NOT_FOUND,
                "alert-not-found",
                "Unknown alert",
                format!("There is no alert {id}."),
            )
            .with("alert_id", json!(id)),
            Self::SilenceNotFound(id) => problem(
                S::NOT_FOUND,
                "silence-not-found",
                "Unknown silence",
                format!("There is no silence {id} in force."),
            ),
            Self::AlertStateConflict(state) => problem(
                S::CONFLICT,
                "alert-state-conflict",
                "Alert is not in a state that allows this",
                format!("The alert is {state}; nothing changed."),
            )
            .with("state", json!(state)),
            Self::ImportNotFound(id) => problem(
                S::NOT_FOUND,
                "import-not-found",
                "Unknown import",
                format!("There is no stocktake import {id}."),
            )
            .with("import_id", json!(id)),
            Self::ImportNotFinished {
                import_id,
                processed,
                lines,
            } => problem(
                S::CONFLICT,
                "import-not-finished",
                "Import still running",
                format!(
                    "Import {import_id} has applied {processed} of {lines} lines; its result \
                     is ready once it is done."
                ),
            )
            .with("import_id", json!(import_id))
            .with("processed", json!(processed))
            .with("lines", json!(lines)),
            Self::ReportNotFound(dt) => problem(
                S::NOT_FOUND,
                "report-not-found",
                "No report for this day",
                format!("No report has been written for {dt}."),
            )
            .with("dt", json!(dt)),
            Self::ReservationNotFound(id) => problem(
                S::NOT_FOUND,
                "reservation-not-found",
                "Unknown reservation",
                format!("There is no reservation {id}."),
            )
            .with("reservation_id", json!(id)),
            Self::ReservationExpired { id, expires_at } => problem(
                S::CONFLICT,
                "reservation-expired",
                "Reservation expired",
                format!("Reservation {id} ran out at {expires_at}; its stock is no longer held. Nothing changed; hold again to check out."),
            )
            .with("reservation_id", json!(id))
            .with("expires_at", json!(expires_at)),
            Self::ReservationClosed { id, status } => problem(
                S::CONFLICT,
                "reservation-closed",
                "Reservation closed",
                format!("Reservation {id} is already {status}; nothing changed."),
            )
            .with("reservation_id", json!(id))
            .with("reservation_status", json!(status)),
            Self::Movement(e) => movement_problem(e),
        }
    }

    /// The problem+json response for this error.
    /// The problem type's stable name (`insufficient-stock`).
    pub fn slug(&self) -> &'static str {
        self.problem().slug
    }

    /// The problem as a JSON object (`type`, `title`, `status`, `detail` and its extra fields),
    /// for an answer that reports one per item (bulk actions).
    pub fn as_json(&self) -> Value {
        let p = self.problem();
        let mut body = Map::new();
        body.insert("type".into(), json!(format!("{PROBLEM_BASE}{}", p.slug)));
        body.insert("title".into(), json!(p.title));
        body.insert("status".into(), json!(p.status.as_u16()));
        body.insert("detail".into(), json!(p.detail));
        body.extend(p.extra);
        Value::Object(body)
    }

    pub fn into_response(self) -> Response<Body> {
        self.into_response_for(None)
    }

    /// The problem+json response; `instance` names the request (API Gateway's request id).
    pub fn into_response_for(self, request_id: Option<&str>) -> Response<Body> {
        if let Self::Movement(MovementError::Store(e)) = &self {
            tracing::error!(error = %e, "store failure");
        }
        let p = self.problem();
        let mut body = Map::new();
        body.insert("type".into(), json!(format!("{PROBLEM_BASE}{}", p.slug)));
        body.insert("title".into(), json!(p.title));
        body.insert("status".into(), json!(p.status.as_u16()));
        body.insert("detail".into(), json!(p.detail));
        if let Some(id) = request_id {
            body.insert("instance".into(), json!(format!("urn:request:{id}")));
        }
        body.extend(p.extra);
        let mut response = Response::new(Body::from(Value::Object(body).to_string()));
        *response.status_mut() = p.status;
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
        if p.status == StatusCode::SERVICE_UNAVAILABLE {
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

fn movement_problem(e: &MovementError) -> Problem {
    use StatusCode as S;
    match e {
        MovementError::Refused {
            line,
            sku,
            location,
            refusal,
        } => {
            let p = match refusal {
                Refusal::InsufficientAvailable { available } => problem(
                    S::CONFLICT,
                    "insufficient-stock",
                    "Insufficient stock",
                    format!("Only {available} of {sku} available at {location}; nothing changed."),
                )
                .with("available", json!(available)),
                Refusal::InsufficientInTransit { in_transit } => problem(
                    S::CONFLICT,
                    "insufficient-in-transit",
                    "Not that much in transit",
                    format!("Only {in_transit} of {sku} in transit to {location}; nothing changed."),
                )
                .with("in_transit", json!(in_transit)),
                Refusal::StaleCount { expected, on_hand } => problem(
                    S::CONFLICT,
                    "stale-count",
                    "Stock changed since it was counted",
                    format!(
                        "Expected on_hand {expected} for {sku} at {location} but it is {on_hand}; nothing changed."
                    ),
                )
                .with("expected", json!(expected))
                .with("on_hand", json!(on_hand)),
                Refusal::CountBelowReserved { counted, reserved } => problem(
                    S::CONFLICT,
                    "count-below-reserved",
                    "Count below reserved",
                    format!("{reserved} of {sku} are reserved at {location}; a count of {counted} would leave negative availability."),
                )
                .with("reserved", json!(reserved)),
                Refusal::InsufficientReserved { reserved } => problem(
                    S::CONFLICT,
                    "insufficient-reserved",
                    "Less reserved than held",
                    format!("Only {reserved} of {sku} are reserved at {location}, less than the hold gives back; the level was changed outside its holds. Nothing changed."),
                )
                .with("reserved", json!(reserved)),
                Refusal::NoLevel => problem(
                    S::NOT_FOUND,
                    "stock-level-not-found",
                    "No stock at this location",
                    format!("{sku} has never been stocked at {location}."),
                ),
            };
            p.with("sku", json!(sku))
                .with("location", json!(location))
                .with("line", json!(line))
        }
        MovementError::SkuNotFound(sku) => problem(
            S::NOT_FOUND,
            "sku-not-found",
            "Unknown SKU",
            format!("There is no SKU {sku}."),
        )
        .with("sku", json!(sku)),
        MovementError::LocationNotFound(loc) => problem(
            S::NOT_FOUND,
            "location-not-found",
            "Unknown location",
            format!("There is no location {loc}."),
        )
        .with("location", json!(loc)),
        MovementError::OrderExists(id) => problem(
            S::CONFLICT,
            "order-exists",
            "Order already recorded",
            format!("Order {id} was recorded under another Idempotency-Key; nothing changed."),
        )
        .with("order_id", json!(id)),
        MovementError::OrderNotFound(id) => problem(
            S::NOT_FOUND,
            "order-not-found",
            "Unknown order",
            format!("There is no recorded order {id}."),
        )
        .with("order_id", json!(id)),
        MovementError::NotInOrder {
            order_id,
            sku,
            location,
        } => problem(
            S::CONFLICT,
            "refund-exceeds-order",
            "Refund exceeds the order",
            format!("Order {order_id} sold no {sku} at {location}."),
        )
        .with("order_id", json!(order_id))
        .with("refundable", json!(0)),
        MovementError::RefundExceedsOrder {
            order_id,
            refundable,
        } => problem(
            S::CONFLICT,
            "refund-exceeds-order",
            "Refund exceeds the order",
            format!("Only {refundable} more can be refunded against order {order_id}."),
        )
        .with("order_id", json!(order_id))
        .with("refundable", json!(refundable)),
        MovementError::Store(StoreError::InvalidCursor) => problem(
            S::BAD_REQUEST,
            "invalid-parameter",
            "Invalid parameter",
            "cursor: not a cursor this API issued for this listing".into(),
        )
        .with(
            "errors",
            json!([FieldError::new(
                "cursor",
                "not a cursor this API issued for this listing"
            )]),
        ),
        MovementError::Store(e) if e.is_retryable() => problem(
            S::SERVICE_UNAVAILABLE,
            "busy",
            "Try again",
            "The inventory table is busy; nothing changed. Retry with the same Idempotency-Key."
                .into(),
        ),
        MovementError::Store(_) => problem(
            S::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "Inventory store unavailable",
            "The inventory store failed; retry with the same Idempotency-Key.".into(),
        ),
    }
}
