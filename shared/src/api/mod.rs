//! The HTTP API: routes, scopes, request parsing and responses. Each Lambda function serves a
//! subset of [`ROUTES`] (its [`Function`]); the handlers are the same code locally and on AWS.

mod alerts;
mod levels;
pub mod problem;
mod replenishment;
mod reports;
pub mod requests;
mod reservations;
pub mod stocktakes;

use std::collections::BTreeMap;

use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{request::RequestContext, Body, Request, RequestExt, Response};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

pub use self::problem::ApiError;
use self::requests::*;
use crate::{
    domain::{FieldError, IdempotencyKey, LocationId, Movement, MovementKind, SkuId},
    movements::{Actor, Channel, RecordError, Recorded},
    store::{Page, Store},
};

/// Request bodies above this size are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Page sizes for listings.
pub const DEFAULT_PAGE: i32 = 25;
pub const MAX_PAGE: i32 = 100;

/// OAuth scopes the routes require (space-separated `scope` claim or the authorizer's `scopes`).
pub mod scope {
    /// Read stock, SKUs, locations and ledgers.
    pub const READ: &str = "inventory/read";
    /// Storefront writes: sales, orders, refunds.
    pub const SELL: &str = "inventory/sell";
    /// Ops and admin writes: receipts, incoming, adjustments, transfers, SKUs and locations.
    pub const ADMIN: &str = "inventory/admin";
}

/// The Lambda functions the API is split into, each with its own IAM policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// Every write: movements and catalogue changes (conditional writes, no scans).
    StockCommand,
    /// Every read (GetItem and Query only).
    StockQuery,
    /// Alert rules, the alert inbox and silences.
    AlertsApi,
    /// The analysts' reports in S3: listing and presigned download URLs.
    ReportsApi,
}

impl Function {
    /// The logical id of this function in `template.yaml`.
    pub fn logical_id(self) -> &'static str {
        match self {
            Self::StockCommand => "StockCommandFunction",
            Self::StockQuery => "StockQueryFunction",
            Self::AlertsApi => "AlertsApiFunction",
            Self::ReportsApi => "ReportsApiFunction",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    PutSku,
    GetSku,
    ListSkus,
    GetLedger,
    GetDaily,
    ListLevels,
    PutLocation,
    ListLocations,
    Sale,
    Order,
    Refund,
    Receipt,
    Incoming,
    Adjustment,
    Transfer,
    ListRules,
    CreateRule,
    GetRule,
    ReplaceRule,
    DeleteRule,
    ListAlerts,
    GetAlert,
    AcknowledgeAlert,
    ResolveAlert,
    BulkAlerts,
    ListSilences,
    CreateSilence,
    DeleteSilence,
    ListReports,
    GetReport,
    UploadStocktake,
    GetStocktake,
    GetStocktakeResult,
    GetAvailability,
    ListReplenishment,
    CreateReservation,
    GetReservation,
    ExtendReservation,
    ReleaseReservation,
    CommitReservation,
    ListSkuReservations,
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub scope: &'static str,
    /// A second scope that also opens the route (the edge lets either through).
    pub or_scope: Option<&'static str>,
    pub function: Function,
    pub operation: Operation,
}

impl Route {
    /// The scopes of which a token needs one (`AuthorizationScopes` in the template).
    pub fn scopes(&self) -> Vec<&'static str> {
        std::iter::once(self.scope).chain(self.or_scope).collect()
    }

    /// How a movement sent by this route came, for its idempotent record.
    pub fn channel(&self) -> Channel<'static> {
        Channel {
            path: self.path,
            opens_order: self.operation == Operation::Order,
        }
    }
}

const fn route(
    method: &'static str,
    path: &'static str,
    scope: &'static str,
    function: Function,
    operation: Operation,
) -> Route {
    Route {
        method,
        path,
        scope,
        or_scope: None,
        function,
        operation,
    }
}

/// Every route the API serves. The OpenAPI document and `template.yaml` are tested against it.
pub const ROUTES: &[Route] = {
    use Function::*;
    use Operation::*;
    &[
        route("GET", "/v1/skus", scope::READ, StockQuery, ListSkus),
        route("GET", "/v1/skus/{sku}", scope::READ, StockQuery, GetSku),
        route("PUT", "/v1/skus/{sku}", scope::ADMIN, StockCommand, PutSku),
        route(
            "GET",
            "/v1/skus/{sku}/ledger",
            scope::READ,
            StockQuery,
            GetLedger,
        ),
        route(
            "GET",
            "/v1/skus/{sku}/daily",
            scope::READ,
            StockQuery,
            GetDaily,
        ),
        route("GET", "/v1/levels", scope::READ, StockQuery, ListLevels),
        route(
            "GET",
            "/v1/locations",
            scope::READ,
            StockQuery,
            ListLocations,
        ),
        route(
            "PUT",
            "/v1/locations/{location}",
            scope::ADMIN,
            StockCommand,
            PutLocation,
        ),
        route("POST", "/v1/sales", scope::SELL, StockCommand, Sale),
        route("POST", "/v1/orders", scope::SELL, StockCommand, Order),
        // Storefronts refund against their orders; ops may also restock without one.
        Route {
            or_scope: Some(scope::ADMIN),
            ..route("POST", "/v1/refunds", scope::SELL, StockCommand, Refund)
        },
        route("POST", "/v1/receipts", scope::ADMIN, StockCommand, Receipt),
        route("POST", "/v1/incoming", scope::ADMIN, StockCommand, Incoming),
        route(
            "POST",
            crate::movements::ADJUSTMENTS_PATH,
            scope::ADMIN,
            StockCommand,
            Adjustment,
        ),
        route(
            "POST",
            "/v1/transfers",
            scope::ADMIN,
            StockCommand,
            Transfer,
        ),
        route(
            "POST",
            "/v1/stocktakes",
            scope::ADMIN,
            StockCommand,
            UploadStocktake,
        ),
        route(
            "GET",
            "/v1/stocktakes/{import_id}",
            scope::READ,
            StockQuery,
            GetStocktake,
        ),
        route(
            "GET",
            "/v1/stocktakes/{import_id}/result",
            scope::READ,
            StockQuery,
            GetStocktakeResult,
        ),
        route(
            "GET",
            "/v1/availability",
            scope::READ,
            StockQuery,
            GetAvailability,
        ),
        route(
            "GET",
            "/v1/replenishment",
            scope::READ,
            StockQuery,
            ListReplenishment,
        ),
        route(
            "POST",
            "/v1/reservations",
            scope::SELL,
            StockCommand,
            CreateReservation,
        ),
        route(
            "GET",
            "/v1/reservations/{reservation_id}",
            scope::READ,
            StockQuery,
            GetReservation,
        ),
        route(
            "POST",
            "/v1/reservations/{reservation_id}/extend",
            scope::SELL,
            StockCommand,
            ExtendReservation,
        ),
        // Storefronts release abandoned carts; ops may release a hold that is stuck.
        Route {
            or_scope: Some(scope::ADMIN),
            ..route(
                "POST",
                "/v1/reservations/{reservation_id}/release",
                scope::SELL,
                StockCommand,
                ReleaseReservation,
            )
        },
        route(
            "POST",
            "/v1/reservations/{reservation_id}/commit",
            scope::SELL,
            StockCommand,
            CommitReservation,
        ),
        route(
            "GET",
            "/v1/skus/{sku}/reservations",
            scope::READ,
            StockQuery,
            ListSkuReservations,
        ),
        route("GET", "/v1/rules", scope::READ, AlertsApi, ListRules),
        route("POST", "/v1/rules", scope::ADMIN, AlertsApi, CreateRule),
        route(
            "GET",
            "/v1/rules/{rule_id}",
            scope::READ,
            AlertsApi,
            GetRule,
        ),
        route(
            "PUT",
            "/v1/rules/{rule_id}",
            scope::ADMIN,
            AlertsApi,
            ReplaceRule,
        ),
        route(
            "DELETE",
            "/v1/rules/{rule_id}",
            scope::ADMIN,
            AlertsApi,
            DeleteRule,
        ),
        route("GET", "/v1/alerts", scope::READ, AlertsApi, ListAlerts),
        route(
            "POST",
            "/v1/alerts/bulk",
            scope::ADMIN,
            AlertsApi,
            BulkAlerts,
        ),
        route(
            "GET",
            "/v1/alerts/{alert_id}",
            scope::READ,
            AlertsApi,
            GetAlert,
        ),
        route(
            "POST",
            "/v1/alerts/{alert_id}/acknowledge",
            scope::ADMIN,
            AlertsApi,
            AcknowledgeAlert,
        ),
        route(
            "POST",
            "/v1/alerts/{alert_id}/resolve",
            scope::ADMIN,
            AlertsApi,
            ResolveAlert,
        ),
        route("GET", "/v1/silences", scope::READ, AlertsApi, ListSilences),
        route(
            "POST",
            "/v1/silences",
            scope::ADMIN,
            AlertsApi,
            CreateSilence,
        ),
        route(
            "DELETE",
            "/v1/silences/{silence_id}",
            scope::ADMIN,
            AlertsApi,
            DeleteSilence,
        ),
        route("GET", "/v1/reports", scope::READ, ReportsApi, ListReports),
        route(
            "GET",
            "/v1/reports/{dt}",
            scope::READ,
            ReportsApi,
            GetReport,
        ),
    ]
};

/// Finds the route for a method and path, with the path's parameters in template order.
pub fn match_route<'p>(
    function: Option<Function>,
    method: &str,
    path: &'p str,
) -> Result<(&'static Route, Vec<&'p str>), ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut allowed: Vec<&'static str> = Vec::new();
    for r in ROUTES
        .iter()
        .filter(|r| function.is_none_or(|f| f == r.function))
    {
        let template: Vec<&str> = r.path.split('/').collect();
        if template.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = template.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                params.push(*s);
                !s.is_empty()
            } else {
                t == s
            }
        });
        if !matched {
            continue;
        }
        if r.method == method {
            return Ok((r, params));
        }
        allowed.push(r.method);
    }
    if allowed.is_empty() {
        Err(ApiError::RouteNotFound)
    } else {
        Err(ApiError::MethodNotAllowed(allowed))
    }
}

/// Who is calling, from the JWT claims the authorizer validated.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    pub scopes: Vec<String>,
}

impl Principal {
    /// Reads the principal from the API Gateway HTTP API JWT authorizer context.
    pub fn from_request(req: &Request) -> Option<Self> {
        let RequestContext::ApiGatewayV2(ctx) = req.request_context_ref()? else {
            return None;
        };
        let jwt = ctx.authorizer.as_ref()?.jwt.as_ref()?;
        let subject = jwt.claims.get("sub").filter(|s| !s.is_empty())?.to_owned();
        let mut scopes: Vec<String> = jwt.scopes.clone().unwrap_or_default();
        for name in ["scope", "scp"] {
            if let Some(claim) = jwt.claims.get(name) {
                scopes.extend(scope_claim(claim));
            }
        }
        Some(Self { subject, scopes })
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The principal as the actor of what it records.
    pub fn actor(&self) -> Actor {
        Actor {
            subject: self.subject.clone(),
        }
    }
}

/// API Gateway's id of the request (`requestContext.requestId`).
fn request_id(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        _ => None,
    }
}

/// The scopes of a `scope` or `scp` claim as API Gateway hands it over: a space-separated string
/// (`"a b"`, the OAuth form; Cognito, Auth0), or an array, which HTTP APIs pass as `"[a b]"` (Okta
/// and Entra send `scp` as an array), or as JSON text (`["a","b"]`).
pub fn scope_claim(claim: &str) -> Vec<String> {
    let text = claim.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(text) {
        return list.into_iter().filter(|s| !s.is_empty()).collect();
    }
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    inner
        .split(|c: char| c.is_whitespace() || c == ',')
        .map(|s| s.trim_matches('"'))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The system time as recorded on writes (RFC 3339, UTC, milliseconds).
pub fn now_rfc3339() -> String {
    crate::clock::Clock::system().rfc3339()
}

/// What a handler needs: the store and which function it is.
#[derive(Debug, Clone)]
pub struct App {
    pub store: Store,
    pub alerts: crate::alerts::store::AlertStore,
    pub function: Option<Function>,
    /// The reports bucket, for the reports routes.
    pub reports: Option<ReportsBucket>,
    /// The time recorded on writes and used for silences.
    pub clock: crate::clock::Clock,
}

/// Where the reports are, and the client that signs their download URLs.
#[derive(Debug, Clone)]
pub struct ReportsBucket {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

impl App {
    /// An app serving only `function`'s routes (as on Lambda).
    pub fn for_function(store: Store, function: Function) -> Self {
        Self {
            alerts: crate::alerts::store::AlertStore::new(store.client().clone(), store.table()),
            store,
            function: Some(function),
            reports: None,
            clock: crate::clock::Clock::system(),
        }
    }

    /// Takes the time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Gives the reports routes their bucket.
    pub fn with_reports(mut self, reports: ReportsBucket) -> Self {
        self.reports = Some(reports);
        self
    }

    /// An app serving every route (benchmarks and in-process tools).
    pub fn all_routes(store: Store) -> Self {
        Self {
            alerts: crate::alerts::store::AlertStore::new(store.client().clone(), store.table()),
            store,
            function: None,
            reports: None,
            clock: crate::clock::Clock::system(),
        }
    }

    /// Handles one API Gateway request. Never fails: every error is a problem+json response.
    /// Each request logs one line (route, status, latency, actor, API Gateway's request id), and
    /// the request id goes back in `X-Request-Id` and as a problem's `instance`, so a client can
    /// quote the log line it caused.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let started = std::time::Instant::now();
        let request_id = request_id(&req);
        let matched = match_route(self.function, req.method().as_str(), req.uri().path());
        let principal = Principal::from_request(&req);
        let route = matched
            .as_ref()
            .map(|(r, _)| format!("{} {}", r.method, r.path))
            .unwrap_or_else(|_| format!("{} (no route)", req.method()));
        let mut response = match self.dispatch(&req, matched, principal.as_ref()).await {
            Ok(response) => response,
            Err(e) => e.into_response_for(request_id.as_deref()),
        };
        if let Some(id) = request_id
            .as_deref()
            .and_then(|i| HeaderValue::from_str(i).ok())
        {
            response.headers_mut().insert("x-request-id", id);
        }
        let status = response.status().as_u16();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let actor = principal.as_ref().map_or("-", |p| p.subject.as_str());
        let request_id = request_id.as_deref().unwrap_or("-");
        if status >= 500 {
            tracing::error!(route, status, latency_ms, actor, request_id, "request");
        } else {
            tracing::info!(route, status, latency_ms, actor, request_id, "request");
        }
        response
    }

    async fn dispatch(
        &self,
        req: &Request,
        matched: Result<(&'static Route, Vec<&str>), ApiError>,
        principal: Option<&Principal>,
    ) -> Result<Response<Body>, ApiError> {
        let (route, raw_params) = matched?;
        // Path parameters arrive as the client encoded them (`sku%3AABC` for `sku:ABC`).
        let decoded: Vec<String> = raw_params
            .iter()
            .map(|p| percent_decode(p, false))
            .collect();
        let params: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let principal = principal.ok_or(ApiError::Unauthenticated)?;
        if !route.scopes().iter().any(|s| principal.has(s)) {
            return Err(ApiError::Forbidden(route.scope));
        }
        let query = Query::parse(req.uri().query());
        use Operation::*;
        match route.operation {
            GetSku => self.get_sku(sku_param(params[0])?).await,
            ListSkus => {
                let (limit, cursor) = query.page()?;
                let page = self.store.list_skus(limit, cursor).await?;
                Ok(page_response(page))
            }
            GetLedger => {
                let sku = sku_param(params[0])?;
                let (limit, cursor) = query.page()?;
                let page = self.store.ledger(&sku, limit, cursor).await?;
                if page.items.is_empty() && cursor.is_none() && !self.store.sku_exists(&sku).await?
                {
                    return Err(ApiError::SkuNotFound(sku.to_string()));
                }
                Ok(page_response(page))
            }
            ListLevels => {
                levels::list(
                    &self.store,
                    &self.alerts,
                    &query,
                    req.uri().path(),
                    self.clock.now(),
                )
                .await
            }
            UploadStocktake => {
                stocktakes::upload(
                    &self.store,
                    req,
                    principal,
                    self.clock.now(),
                    &self.clock.rfc3339(),
                )
                .await
            }
            GetStocktake => stocktakes::get(&self.store, params[0]).await,
            GetStocktakeResult => stocktakes::result(&self.store, params[0]).await,
            GetDaily => {
                let sku = sku_param(params[0])?;
                levels::daily(&self.store, &sku, &query, self.clock.now()).await
            }
            ListLocations => {
                let (limit, cursor) = query.page()?;
                let page = self.store.list_locations(limit, cursor).await?;
                Ok(page_response(page))
            }
            PutSku => {
                let sku = sku_param(params[0])?;
                let body: SkuBody = parse_body(req)?;
                let input = body.validate().map_err(ApiError::Validation)?;
                let (sku, created) = self
                    .store
                    .put_sku(
                        &sku,
                        &input.name,
                        &input.attributes,
                        input.cost.as_ref(),
                        input.supply.as_ref(),
                        &self.clock.rfc3339(),
                    )
                    .await?;
                Ok(json_response(created_or_ok(created), &sku))
            }
            PutLocation => {
                let location = LocationId::parse("location", params[0])
                    .map_err(|e| ApiError::InvalidParameter(vec![e]))?;
                let body: LocationBody = parse_body(req)?;
                let (name, kind, country) = body.validate().map_err(ApiError::Validation)?;
                let (location, created) = self
                    .store
                    .put_location(
                        &location,
                        &name,
                        kind,
                        country.as_deref(),
                        &self.clock.rfc3339(),
                    )
                    .await?;
                Ok(json_response(created_or_ok(created), &location))
            }
            Sale => {
                self.movement::<SaleBody>(req, route, principal, SaleBody::validate, anyone)
                    .await
            }
            Order => {
                self.movement::<OrderBody>(req, route, principal, OrderBody::validate, anyone)
                    .await
            }
            Refund => {
                self.movement::<RefundBody>(
                    req,
                    route,
                    principal,
                    RefundBody::validate,
                    refund_policy,
                )
                .await
            }
            Receipt => {
                self.movement::<ReceiptBody>(req, route, principal, ReceiptBody::validate, anyone)
                    .await
            }
            Incoming => {
                self.movement::<IncomingBody>(req, route, principal, IncomingBody::validate, anyone)
                    .await
            }
            Adjustment => {
                self.movement::<AdjustmentBody>(
                    req,
                    route,
                    principal,
                    AdjustmentBody::validate,
                    anyone,
                )
                .await
            }
            Transfer => {
                self.movement::<TransferBody>(req, route, principal, TransferBody::validate, anyone)
                    .await
            }
            ListReports | GetReport => self.reports_route(route, &params, &query).await,
            GetAvailability => reservations::availability(&self.store, &query).await,
            ListReplenishment => replenishment::list(&self.store, &query).await,
            CreateReservation => {
                reservations::hold(&self.store, req, route, principal, self.clock.now_millis())
                    .await
            }
            GetReservation => {
                reservations::get(&self.store, params[0], self.clock.now_millis()).await
            }
            ExtendReservation => {
                reservations::extend(
                    &self.store,
                    req,
                    params[0],
                    principal,
                    self.clock.now_millis(),
                )
                .await
            }
            ReleaseReservation => {
                reservations::release(
                    &self.store,
                    req,
                    params[0],
                    principal,
                    self.clock.now_millis(),
                )
                .await
            }
            CommitReservation => {
                reservations::commit(
                    &self.store,
                    req,
                    params[0],
                    principal,
                    self.clock.now_millis(),
                )
                .await
            }
            ListSkuReservations => {
                let sku = sku_param(params[0])?;
                reservations::list_for_sku(&self.store, &sku, &query, self.clock.now_millis()).await
            }
            _ => {
                self.alerts_route(req, route, &params, principal, &query)
                    .await
            }
        }
    }

    async fn get_sku(&self, sku: SkuId) -> Result<Response<Body>, ApiError> {
        let Some((meta, mut levels)) = self.store.get_sku(&sku).await? else {
            return Err(ApiError::SkuNotFound(sku.to_string()));
        };
        levels.sort_by(|a, b| a.location.cmp(&b.location));
        let mut totals = crate::domain::Quantities::default();
        for l in &levels {
            totals.add(&l.quantities);
        }
        let mut body = serde_json::to_value(&meta).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut body {
            map.insert("levels".into(), json!(levels));
            map.insert("totals".into(), json!(totals));
        }
        Ok(json_response(StatusCode::OK, &body))
    }

    /// Parses, validates and applies one movement under the caller's idempotency key.
    async fn movement<B>(
        &self,
        req: &Request,
        route: &Route,
        principal: &Principal,
        validate: fn(&B) -> Result<Movement, Vec<FieldError>>,
        authorize: fn(&B, &Principal) -> Result<(), ApiError>,
    ) -> Result<Response<Body>, ApiError>
    where
        B: DeserializeOwned + Serialize,
    {
        // Every refusal is counted, the caller's (a bad body, a policy, a validation) as well as
        // the store's (insufficient stock, a stale count), by the route's movement kind.
        let refused = |e: ApiError, kind: &str| {
            crate::metrics::emit(
                &[("Kind", kind), ("Reason", e.slug())],
                &[("MovementsRefused", 1.0, crate::metrics::Unit::Count)],
            );
            e
        };
        let route_kind = route_movement_kind(route.operation);
        let key = idempotency_key(req.headers()).map_err(|e| refused(e, route_kind))?;
        let body: B = parse_body(req).map_err(|e| refused(e, route_kind))?;
        authorize(&body, principal).map_err(|e| refused(e, route_kind))?;
        let movement = validate(&body)
            .map_err(ApiError::Validation)
            .map_err(|e| refused(e, route_kind))?;
        let record = crate::movements::prepare(
            route.channel(),
            &principal.actor(),
            &key,
            &body,
            &movement,
            self.clock.rfc3339(),
        );
        let kind = movement.kind.as_str();
        match crate::movements::record(&self.store, &movement, &record).await {
            Ok(Recorded::New(response)) => {
                crate::metrics::count("MovementsAccepted", ("Kind", kind));
                Ok(raw_json_response(StatusCode::CREATED, response, false))
            }
            Ok(Recorded::Replayed(response)) => {
                Ok(raw_json_response(StatusCode::CREATED, response, true))
            }
            Err(RecordError::KeyReused) => Err(ApiError::IdempotencyKeyReused),
            Err(RecordError::Movement(e)) => Err(refused(ApiError::from(e), kind)),
        }
    }
}

/// The movement kind a route records (what its refusals are counted under before the body is
/// read).
fn route_movement_kind(operation: Operation) -> &'static str {
    match operation {
        Operation::Sale | Operation::Order => MovementKind::Sale.as_str(),
        Operation::Refund => MovementKind::Refund.as_str(),
        Operation::Receipt => MovementKind::Receipt.as_str(),
        Operation::Incoming => MovementKind::Incoming.as_str(),
        Operation::Adjustment => MovementKind::Adjustment.as_str(),
        _ => MovementKind::TransferOut.as_str(),
    }
}

/// A movement any caller with the route's scope may make.
fn anyone<B>(_: &B, _: &Principal) -> Result<(), ApiError> {
    Ok(())
}

/// Who may refund what: a restocking refund without its order needs the admin scope
/// ([`RefundBody::needs_admin`]).
fn refund_policy(body: &RefundBody, principal: &Principal) -> Result<(), ApiError> {
    if body.needs_admin() && !principal.has(scope::ADMIN) {
        return Err(ApiError::RefundNeedsOrder);
    }
    Ok(())
}

pub(crate) fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

pub(crate) fn sku_param(raw: &str) -> Result<SkuId, ApiError> {
    SkuId::parse("sku", raw).map_err(|e| ApiError::InvalidParameter(vec![e]))
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let raw = headers
        .get("idempotency-key")
        .ok_or(ApiError::IdempotencyKeyMissing)?;
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::IdempotencyKeyInvalid("not ASCII".into()))?;
    IdempotencyKey::parse("Idempotency-Key", raw)
        .map_err(|e| ApiError::IdempotencyKeyInvalid(e.message))
}

/// The request's media type (`Content-Type` without its parameters), in lower case.
pub(crate) fn media_type(req: &Request) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// Checks size and media type, then parses the JSON body, naming the field of any type error.
pub fn parse_body<B: DeserializeOwned + serde::Serialize>(req: &Request) -> Result<B, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let json_type =
        media_type(req).is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    if !json_type {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    // Every body is an object: an array is refused as one, before serde would read it
    // position by position (and name whichever element did not fit).
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<B, _> = serde_path_to_error::deserialize(de);
    match result {
        Ok(body) => {
            // serde reads a JSON array into a struct field by field (`"selector": []` would be a
            // selector of nothing, so of every SKU): wherever the body has an object, the input
            // must have had one.
            // (A body with no `[` has no array: the common single-line movement skips this.)
            let array = if bytes.contains(&b'[') {
                let input: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
                let shape = serde_json::to_value(&body).unwrap_or_default();
                array_for_object(&input, &shape, "")
            } else {
                None
            };
            match array {
                Some(field) => Err(ApiError::Validation(vec![FieldError::new(
                    if field.is_empty() {
                        "body".to_owned()
                    } else {
                        field
                    },
                    "must be a JSON object",
                )])),
                None => Ok(body),
            }
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() {
                let field = if path == "." { "body".to_owned() } else { path };
                Err(ApiError::Validation(vec![FieldError::new(
                    field,
                    strip_position(&inner.to_string()),
                )]))
            } else {
                Err(ApiError::MalformedJson(inner.to_string()))
            }
        }
    }
}

/// The first place (`selector`, `lines[1]`; "" for the body itself) where `input` has an array
/// and `shape`, the body as read, an object.
fn array_for_object(
    input: &serde_json::Value,
    shape: &serde_json::Value,
    path: &str,
) -> Option<String> {
    use serde_json::Value;
    match (input, shape) {
        (Value::Array(_), Value::Object(_)) => Some(path.to_owned()),
        (Value::Object(given), Value::Object(read)) => read.iter().find_map(|(k, v)| {
            let field = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            given.get(k).and_then(|g| array_for_object(g, v, &field))
        }),
        (Value::Array(given), Value::Array(read)) => given
            .iter()
            .zip(read)
            .enumerate()
            .find_map(|(i, (g, r))| array_for_object(g, r, &format!("{path}[{i}]"))),
        _ => None,
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Query parameters of a listing.
pub(crate) struct Query(BTreeMap<String, String>);

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let mut map = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(percent_decode(k, true), percent_decode(v, true));
        }
        Self(map)
    }

    fn page(&self) -> Result<(i32, Option<&str>), ApiError> {
        self.page_with(&[])
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Page parameters, accepting also the listing's own filter parameters.
    pub(crate) fn page_with(&self, filters: &[&str]) -> Result<(i32, Option<&str>), ApiError> {
        let mut errors = Vec::new();
        for k in self.0.keys() {
            if k != "limit" && k != "cursor" && !filters.contains(&k.as_str()) {
                errors.push(FieldError::new(k, "unknown query parameter"));
            }
        }
        let limit = match self.0.get("limit") {
            None => DEFAULT_PAGE,
            Some(v) => match v.parse::<i32>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    errors.push(FieldError::new(
                        "limit",
                        format!("must be an integer from 1 to {MAX_PAGE}"),
                    ));
                    DEFAULT_PAGE
                }
            },
        };
        let cursor = self.0.get("cursor").map(String::as_str);
        if cursor.is_some_and(|c| c.is_empty() || c.len() > 4096) {
            errors.push(FieldError::new("cursor", "not a cursor this API issued"));
        }
        if errors.is_empty() {
            Ok((limit, cursor))
        } else {
            Err(ApiError::InvalidParameter(errors))
        }
    }
}

/// Decodes `%XX` escapes; `+` is a space only in a query string (`plus_is_space`).
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn page_response<T: Serialize>(page: Page<T>) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "items": page.items, "next_cursor": page.next_cursor }),
    )
}

pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    raw_json_response(
        status,
        serde_json::to_string(body).unwrap_or_else(|_| "null".into()),
        false,
    )
}

pub(crate) fn raw_json_response(
    status: StatusCode,
    body: String,
    replayed: bool,
) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The method of a route as an `http::Method`.
pub fn method_of(route: &Route) -> Method {
    Method::from_bytes(route.method.as_bytes()).unwrap_or(Method::GET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_claims_are_read_in_every_form_providers_send() {
        let both = vec!["inventory/read".to_owned(), "inventory/sell".to_owned()];
        assert_eq!(scope_claim("inventory/read inventory/sell"), both);
        assert_eq!(scope_claim("[inventory/read inventory/sell]"), both);
        assert_eq!(scope_claim(r#"["inventory/read","inventory/sell"]"#), both);
        assert_eq!(scope_claim(" [inventory/read, inventory/sell] "), both);
        assert_eq!(scope_claim("inventory/read"), both[..1].to_vec());
        assert!(scope_claim("").is_empty() && scope_claim("[]").is_empty());
    }

    #[test]
    fn routes_match_templates_and_report_allowed_methods() {
        let (r, params) = match_route(None, "GET", "/v1/skus/ABC/ledger").unwrap();
        assert_eq!(r.operation, Operation::GetLedger);
        assert_eq!(params, vec!["ABC"]);
        assert!(matches!(
            match_route(None, "DELETE", "/v1/skus/ABC"),
            Err(ApiError::MethodNotAllowed(m)) if m == ["GET", "PUT"]
        ));
        assert!(matches!(
            match_route(None, "GET", "/v1/nothing"),
            Err(ApiError::RouteNotFound)
        ));
        // A function only answers its own routes.
        assert!(match_route(Some(Function::StockQuery), "POST", "/v1/sales").is_err());
    }

    #[test]
    fn query_parameters_are_validated() {
        assert_eq!(Query::parse(Some("limit=5")).page().unwrap(), (5, None));
        assert!(Query::parse(Some("limit=0")).page().is_err());
        assert!(Query::parse(Some("limit=abc")).page().is_err());
        assert!(Query::parse(Some("colour=red")).page().is_err());
        assert_eq!(percent_decode("a%2Fb+c%", true), "a/b c%");
        assert_eq!(percent_decode("sku%3AAB+C", false), "sku:AB+C");
    }
}
