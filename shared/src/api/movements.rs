//! The movement routes (sales, orders, refunds, receipts, incoming, adjustments, transfers,
//! write-offs): a body parsed and validated, the caller's policy checked, then the movements use
//! case.

use super::*;

/// The movement kind a route records (what its refusals are counted under before the body is
/// read).
pub(super) fn route_movement_kind(operation: Operation) -> &'static str {
    match operation {
        Operation::Sale | Operation::Order => MovementKind::Sale.as_str(),
        Operation::Refund => MovementKind::Refund.as_str(),
        Operation::Receipt => MovementKind::Receipt.as_str(),
        Operation::Incoming => MovementKind::Incoming.as_str(),
        Operation::Adjustment => MovementKind::Adjustment.as_str(),
        Operation::WriteOff => MovementKind::WriteOff.as_str(),
        _ => MovementKind::TransferOut.as_str(),
    }
}

/// The body of a movement route: validated into a movement, and who may send it.
pub(super) trait MovementBody: DeserializeOwned + Serialize {
    /// The validated movement; `now_ms` is when the request came (a count's time by default).
    fn movement(&self, now_ms: i64) -> Result<Movement, Vec<FieldError>>;

    /// Refuses a caller the body's policy does not allow; any caller with the route's scope by
    /// default.
    fn authorize(&self, _principal: &Principal) -> Result<(), ApiError> {
        Ok(())
    }
}

/// Bodies any caller with the route's scope may send.
macro_rules! open_to_the_scope {
    ($($body:ty),*) => {$(
        impl MovementBody for $body {
            fn movement(&self, _now_ms: i64) -> Result<Movement, Vec<FieldError>> {
                self.validate()
            }
        }
    )*};
}
open_to_the_scope!(
    SaleBody,
    OrderBody,
    ReceiptBody,
    IncomingBody,
    TransferBody,
    WriteOffBody
);

/// A count is taken when its body says, or when it arrives.
impl MovementBody for AdjustmentBody {
    fn movement(&self, now_ms: i64) -> Result<Movement, Vec<FieldError>> {
        self.validate(now_ms)
    }
}

/// Who may refund what: a restocking refund without its order needs the admin scope
/// ([`RefundBody::needs_admin`]).
impl MovementBody for RefundBody {
    fn movement(&self, _now_ms: i64) -> Result<Movement, Vec<FieldError>> {
        self.validate()
    }

    fn authorize(&self, principal: &Principal) -> Result<(), ApiError> {
        if self.needs_admin() && !principal.has(scope::ADMIN) {
            return Err(ApiError::RefundNeedsOrder);
        }
        Ok(())
    }
}

impl App {
    /// Parses, validates and applies one movement under the caller's idempotency key.
    pub(super) async fn movement<B: MovementBody>(
        &self,
        req: &Request,
        route: &Route,
        principal: &Principal,
    ) -> Result<Response<Body>, ApiError> {
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
        body.authorize(principal)
            .map_err(|e| refused(e, route_kind))?;
        let movement = body
            .movement(self.clock.now_millis())
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
            Err(RecordError::LedgerBehind) => Err(refused(
                ApiError::from(crate::store::StoreError::Busy(
                    "the level's ledger has not caught up with its last change yet".into(),
                )),
                kind,
            )),
            Err(RecordError::Movement(e)) => Err(refused(ApiError::from(e), kind)),
        }
    }
}
