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
    GetReconciliation,
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

/// The scope a route needs, and a second one that also opens it.
type Scopes = (&'static str, Option<&'static str>);

/// Every route the API serves. The OpenAPI document and `template.yaml` are tested against it.
// One route a line, in columns: a table reads better than rustfmt's one argument a line.
#[rustfmt::skip]
pub const ROUTES: &[Route] = {
    const READ: Scopes = (scope::READ, None);
    const SELL: Scopes = (scope::SELL, None);
    const ADMIN: Scopes = (scope::ADMIN, None);
    const SELL_OR_ADMIN: Scopes = (scope::SELL, Some(scope::ADMIN));
    use Function::*;
    use Operation::*;
    &[
        route("GET",    "/v1/skus",                                  READ,          StockQuery,   ListSkus),
        route("GET",    "/v1/skus/{sku}",                            READ,          StockQuery,   GetSku),
        route("PUT",    "/v1/skus/{sku}",                            ADMIN,         StockCommand, PutSku),
        route("GET",    "/v1/skus/{sku}/ledger",                     READ,          StockQuery,   GetLedger),
        route("GET",    "/v1/skus/{sku}/daily",                      READ,          StockQuery,   GetDaily),
        route("GET",    "/v1/skus/{sku}/reconciliation",             ADMIN,         StockQuery,   GetReconciliation),
        route("GET",    "/v1/levels",                                READ,          StockQuery,   ListLevels),
        route("GET",    "/v1/locations",                             READ,          StockQuery,   ListLocations),
        route("PUT",    "/v1/locations/{location}",                  ADMIN,         StockCommand, PutLocation),
        route("POST",   "/v1/sales",                                 SELL,          StockCommand, Sale),
        route("POST",   "/v1/orders",                                SELL,          StockCommand, Order),
        // Storefronts refund against their orders; ops may also restock without one.
        route("POST",   "/v1/refunds",                               SELL_OR_ADMIN, StockCommand, Refund),
        route("POST",   "/v1/receipts",                              ADMIN,         StockCommand, Receipt),
        route("POST",   "/v1/incoming",                              ADMIN,         StockCommand, Incoming),
        route("POST",   crate::movements::ADJUSTMENTS_PATH,          ADMIN,         StockCommand, Adjustment),
        route("POST",   "/v1/transfers",                             ADMIN,         StockCommand, Transfer),
        route("POST",   "/v1/writeoffs",                             ADMIN,         StockCommand, WriteOff),
        route("POST",   "/v1/stocktakes",                            ADMIN,         StockCommand, UploadStocktake),
        route("GET",    "/v1/stocktakes/{import_id}",                READ,          StockQuery,   GetStocktake),
        route("GET",    "/v1/stocktakes/{import_id}/result",         READ,          StockQuery,   GetStocktakeResult),
        route("GET",    "/v1/availability",                          READ,          StockQuery,   GetAvailability),
        route("GET",    "/v1/replenishment",                         READ,          StockQuery,   ListReplenishment),
        route("POST",   "/v1/reservations",                          SELL,          StockCommand, CreateReservation),
        route("GET",    "/v1/reservations/{reservation_id}",         READ,          StockQuery,   GetReservation),
        route("POST",   "/v1/reservations/{reservation_id}/extend",  SELL,          StockCommand, ExtendReservation),
        // Storefronts release abandoned carts; ops may release a hold that is stuck.
        route("POST",   "/v1/reservations/{reservation_id}/release", SELL_OR_ADMIN, StockCommand, ReleaseReservation),
        route("POST",   "/v1/reservations/{reservation_id}/commit",  SELL,          StockCommand, CommitReservation),
        route("GET",    "/v1/skus/{sku}/reservations",               READ,          StockQuery,   ListSkuReservations),
        route("GET",    "/v1/rules",                                 READ,          AlertsApi,    ListRules),
        route("POST",   "/v1/rules",                                 ADMIN,         AlertsApi,    CreateRule),
        route("GET",    "/v1/rules/{rule_id}",                       READ,          AlertsApi,    GetRule),
        route("PUT",    "/v1/rules/{rule_id}",                       ADMIN,         AlertsApi,    ReplaceRule),
        route("DELETE", "/v1/rules/{rule_id}",                       ADMIN,         AlertsApi,    DeleteRule),
        route("GET",    "/v1/alerts",                                READ,          AlertsApi,    ListAlerts),
        route("POST",   "/v1/alerts/bulk",                           ADMIN,         AlertsApi,    BulkAlerts),
        route("GET",    "/v1/alerts/{alert_id}",                     READ,          AlertsApi,    GetAlert),
        route("POST",   "/v1/alerts/{alert_id}/acknowledge",         ADMIN,         AlertsApi,    AcknowledgeAlert),
        route("POST",   "/v1/alerts/{alert_id}/resolve",             ADMIN,         AlertsApi,    ResolveAlert),
        route("GET",    "/v1/silences",                              READ,          AlertsApi,    ListSilences),
        route("POST",   "/v1/silences",                              ADMIN,         AlertsApi,    CreateSilence),
        route("DELETE", "/v1/silences/{silence_id}",                 ADMIN,         AlertsApi,    DeleteSilence),
        route("GET",    "/v1/reports",                               READ,          ReportsApi,   ListReports),
        route("GET",    "/v1/reports/{dt}",                          READ,          ReportsApi,   GetReport),
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
