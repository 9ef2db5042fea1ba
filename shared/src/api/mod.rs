//! The HTTP API: routes, scopes, request parsing and responses. Each Lambda function serves a
//! subset of [`ROUTES`] (its [`Function`]); the handlers are the same code locally and on AWS.

mod alerts;
mod auth;
mod extract;
mod levels;
mod movements;
pub mod problem;
mod replenishment;
mod reports;
pub mod requests;
mod reservations;
mod respond;
mod routes;
pub mod stocktakes;

pub use self::{auth::*, extract::*, respond::*, routes::*};

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

const fn route(
    method: &'static str,
    path: &'static str,
    (scope, or_scope): (&'static str, Option<&'static str>),
    function: Function,
    operation: Operation,
) -> Route {
    Route {
        method,
        path,
        scope,
        or_scope,
        function,
        operation,
    }
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
pub type ReportsBucket = crate::bucket::Bucket;

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
                Ok(page_response(self.store.list_skus(limit, cursor).await?))
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
            GetReconciliation => {
                let sku = sku_param(params[0])?;
                let mut errors = Vec::new();
                query.refuse_unknown(&mut errors, |_| false);
                if !errors.is_empty() {
                    return Err(ApiError::InvalidParameter(errors));
                }
                let reconciler =
                    crate::reconcile::Reconciler::new(self.store.clone(), self.clock.clone());
                match reconciler.sku(&sku).await? {
                    Some(proof) => Ok(json_response(StatusCode::OK, &proof)),
                    None => Err(ApiError::SkuNotFound(sku.to_string())),
                }
            }
            ListLocations => {
                let (limit, cursor) = query.page()?;
                Ok(page_response(
                    self.store.list_locations(limit, cursor).await?,
                ))
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
            Sale => self.movement::<SaleBody>(req, route, principal).await,
            Order => self.movement::<OrderBody>(req, route, principal).await,
            Refund => self.movement::<RefundBody>(req, route, principal).await,
            Receipt => self.movement::<ReceiptBody>(req, route, principal).await,
            Incoming => self.movement::<IncomingBody>(req, route, principal).await,
            Adjustment => self.movement::<AdjustmentBody>(req, route, principal).await,
            Transfer => self.movement::<TransferBody>(req, route, principal).await,
            WriteOff => self.movement::<WriteOffBody>(req, route, principal).await,
            ListReports | GetReport => self.reports_route(route, &params, &query).await,
            GetAvailability => reservations::availability(&self.store, &query).await,
            ListReplenishment => replenishment::list(&self.store, &query).await,
            CreateReservation => {
                reservations::hold(&self.store, req, route, principal, self.clock.now_millis())
                    .await
            }
            GetReservation => {
                let now = self.clock.now_millis();
                reservations::get(&self.store, params[0], principal, now).await
            }
            ExtendReservation | ReleaseReservation | CommitReservation => {
                let now = self.clock.now_millis();
                reservations::step(route.operation, &self.store, req, params[0], principal, now)
                    .await
            }
            ListSkuReservations => {
                let sku = sku_param(params[0])?;
                let now = self.clock.now_millis();
                reservations::list_for_sku(&self.store, &sku, &query, principal, now).await
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
