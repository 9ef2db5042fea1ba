//! The route table: every route of the API with its scope, the function that serves it and its
//! operation; the OpenAPI document and `template.yaml` are tested against it.

use super::*;

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
    WriteOff,
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
            "/v1/writeoffs",
            scope::ADMIN,
            StockCommand,
            WriteOff,
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

/// The method of a route as an `http::Method`.
pub fn method_of(route: &Route) -> Method {
    Method::from_bytes(route.method.as_bytes()).unwrap_or(Method::GET)
}
