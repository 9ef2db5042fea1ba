//! Executing a movement: its transaction, retried on conflicts, and a cancellation explained as
//! the refusal of one line (or a replay of its idempotency key).

use super::*;

/// Why a movement was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MovementError {
    #[error("line {line} refused: {refusal:?}")]
    Refused {
        line: usize,
        sku: SkuId,
        location: LocationId,
        refusal: Refusal,
    },
    #[error("unknown SKU {0}")]
    SkuNotFound(SkuId),
    #[error("unknown location {0}")]
    LocationNotFound(LocationId),
    #[error("order {0} is already recorded")]
    OrderExists(String),
    #[error("unknown order {0}")]
    OrderNotFound(String),
    #[error("order {order_id} sold no {sku} at {location}")]
    NotInOrder {
        order_id: String,
        sku: SkuId,
        location: LocationId,
    },
    #[error("refund exceeds what order {order_id} sold: {refundable} left to refund")]
    RefundExceedsOrder { order_id: String, refundable: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything a movement's ledger entries record besides its lines.
#[derive(Debug, Clone)]
pub struct MovementRecord {
    /// `MOV#…`: derived from the caller and its idempotency key, so a replay hits the same items.
    pub partition: String,
    pub movement_id: String,
    pub actor: String,
    /// The client whose order it opens; it may refund only its own orders unless `any_owner`.
    pub owner: String,
    pub any_owner: bool,
    pub at: String,
    pub request_hash: String,
    /// The response body of the first execution, returned as-is on replay.
    pub response: String,
}

/// What a cancelled transaction says.
pub(super) enum Explained {
    Outcome(MovementOutcome),
    /// These lines' counters must be written in another shape; nothing was refused.
    Reshape(Vec<(usize, CounterShape)>),
}

/// The result of executing a movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MovementOutcome {
    Applied,
    /// The idempotency key was used before: what the first execution stored.
    Replayed {
        request_hash: String,
        response: String,
    },
}

/// The quantities of a level item (as a cancellation returns it).
pub(super) fn quantities(item: &Item) -> Result<Quantities, StoreError> {
    decode::<QuantitiesItem>(entity::STOCK_LEVEL, item)
        .map(Into::into)
        .map_err(corrupt)
}

impl Store {
    /// Applies a movement in one conditional transaction: every line or none.
    pub async fn execute(
        &self,
        movement: &Movement,
        record: &MovementRecord,
    ) -> Result<MovementOutcome, MovementError> {
        let mut shapes = vec![CounterShape::Current; movement.lines.len()];
        let mut conflicts = 0;
        // Each reshaping attempt learns a level's counter head from DynamoDB's answer; a few
        // are enough even when other writers roll the same counters meanwhile.
        for _ in 0..TRANSACTION_ATTEMPTS + 4 {
            let write = movement_write_shaped(&self.table, movement, record, &shapes);
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(write.items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(MovementOutcome::Applied),
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    e.cancellation_reasons().to_vec()
                }
                _ => return Err(StoreError::from_sdk(err).into()),
            };
            match self.explain(movement, record, &write.roles, &reasons).await {
                Ok(Explained::Outcome(outcome)) => return Ok(outcome),
                Ok(Explained::Reshape(lines)) => {
                    for (i, shape) in lines {
                        shapes[i] = shape;
                    }
                }
                Err(MovementError::Store(StoreError::Busy(m)))
                    if conflicts + 1 < TRANSACTION_ATTEMPTS =>
                {
                    conflicts += 1;
                    tracing::warn!(attempt = conflicts, reason = %m, "transaction conflict, retrying");
                    tokio::time::sleep(conflict_backoff(conflicts)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Busy("the level's counters kept moving".into()).into())
    }

    /// What the failed condition of level line `i` means: the line fits and its counters must
    /// be written in another shape (Ok), or it is refused (Err), as DynamoDB's answer shows
    /// (`item`: the level as it was, None when it does not exist).
    pub(crate) async fn explain_level(
        &self,
        i: usize,
        line: &MovementLine,
        item: Option<&Item>,
    ) -> Result<CounterShape, MovementError> {
        let counts = Counter::of(line.kind, line.change).is_some();
        let refusal = match item {
            Some(item) => {
                let current = quantities(item)?;
                if let Some(refusal) = super::count::guard(line.change, item) {
                    return Err(MovementError::Refused {
                        line: i,
                        sku: line.sku.clone(),
                        location: line.location.clone(),
                        refusal,
                    });
                }
                match line.change.apply(Some(current)) {
                    Err(refusal) => refusal,
                    // The movement fits: the level's counters were not at the
                    // movement's hour. Roll them from where they are.
                    Ok(_) if counts => {
                        return Ok(CounterShape::RollFrom {
                            head: get_n(item, "ctr_hour"),
                            written_off_ring: item.contains_key("wo_d"),
                        });
                    }
                    // The guard failed on DynamoDB but not here: the level changed
                    // between the two evaluations. Report what the guard protects.
                    Ok(_) => Refusal::InsufficientAvailable {
                        available: current.available,
                    },
                }
            }
            None => {
                if !self.exists(keys::sku(line.sku.as_str())).await? {
                    return Err(MovementError::SkuNotFound(line.sku.clone()));
                }
                if !self.exists(keys::location(line.location.as_str())).await? {
                    return Err(MovementError::LocationNotFound(line.location.clone()));
                }
                if counts && line.change.creates_level() {
                    return Ok(CounterShape::Create);
                }
                match line.change {
                    // Known SKU and location, never stocked there: nothing available.
                    LevelChange::Withdraw(_) | LevelChange::Reserve(_) => {
                        Refusal::InsufficientAvailable { available: 0 }
                    }
                    LevelChange::Receive { .. } => Refusal::InsufficientInTransit { in_transit: 0 },
                    LevelChange::Count {
                        expected: Some(expected),
                        ..
                    } => Refusal::StaleCount {
                        expected,
                        on_hand: 0,
                    },
                    _ => Refusal::NoLevel,
                }
            }
        };
        Err(MovementError::Refused {
            line: i,
            sku: line.sku.clone(),
            location: line.location.clone(),
            refusal,
        })
    }

    /// Turns the cancellation reasons of a movement's transaction into its outcome.
    pub(super) async fn explain(
        &self,
        movement: &Movement,
        record: &MovementRecord,
        roles: &[Role],
        reasons: &[aws_sdk_dynamodb::types::CancellationReason],
    ) -> Result<Explained, MovementError> {
        let mut reshape = Vec::new();
        let failed = |r: &aws_sdk_dynamodb::types::CancellationReason| {
            r.code() == Some("ConditionalCheckFailed")
        };
        // A replay first: the ledger's first line exists, so the key was used before.
        for (role, reason) in roles.iter().zip(reasons) {
            if let (Role::Ledger(_), true) = (role, failed(reason)) {
                let item = reason.item().cloned().unwrap_or_default();
                return match (get_s(&item, "request_hash"), get_s(&item, "response")) {
                    (Some(h), Some(r)) => Ok(Explained::Outcome(MovementOutcome::Replayed {
                        request_hash: h.to_owned(),
                        response: r.to_owned(),
                    })),
                    // Only line 0 stores the response; any line's conflict means the same key.
                    _ => Err(StoreError::Corrupt("ledger entry without response".into()).into()),
                };
            }
        }
        for (role, reason) in roles.iter().zip(reasons) {
            if reason.code() == Some("TransactionConflict") {
                return Err(StoreError::Busy("transaction conflict".into()).into());
            }
            if !failed(reason) {
                continue;
            }
            let item = reason.item();
            match *role {
                Role::Level(i) => {
                    let shape = self.explain_level(i, &movement.lines[i], item).await?;
                    reshape.push((i, shape));
                    continue;
                }
                Role::SkuExists(i) => {
                    return Err(MovementError::SkuNotFound(movement.lines[i].sku.clone()))
                }
                Role::LocationExists(i) => {
                    return Err(MovementError::LocationNotFound(
                        movement.lines[i].location.clone(),
                    ))
                }
                Role::NewOrder => {
                    let id = movement.new_order.as_ref().map(|o| o.to_string());
                    return Err(MovementError::OrderExists(id.unwrap_or_default()));
                }
                Role::OrderClaim => {
                    let claim = movement
                        .order_claim
                        .as_ref()
                        .ok_or_else(|| StoreError::Corrupt("claim role without claim".into()))?;
                    let order_id = claim.order_id.to_string();
                    let Some(item) = item else {
                        return Err(MovementError::OrderNotFound(order_id));
                    };
                    // Another client's order is, to this caller, an order that does not exist.
                    let owner = item.get("owner").and_then(|v| v.as_s().ok());
                    if !record.any_owner && owner.is_some_and(|o| *o != record.owner) {
                        return Err(MovementError::OrderNotFound(order_id));
                    }
                    let line_key = order_line_key(&claim.sku, &claim.location);
                    let refundable = item
                        .get("refundable")
                        .and_then(|v| v.as_m().ok())
                        .and_then(|m| m.get(&line_key))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok());
                    return Err(match refundable {
                        None => MovementError::NotInOrder {
                            order_id,
                            sku: claim.sku.clone(),
                            location: claim.location.clone(),
                        },
                        Some(refundable) => MovementError::RefundExceedsOrder {
                            order_id,
                            refundable,
                        },
                    });
                }
                // A hold the count was cutting changed: the cuts are worked out again.
                Role::HoldCut(_) => {
                    return Err(MovementError::Refused {
                        line: 0,
                        sku: movement.lines[0].sku.clone(),
                        location: movement.lines[0].location.clone(),
                        refusal: Refusal::HoldsMoved,
                    })
                }
                Role::Ledger(_) | Role::LedgerEntry => {}
            }
        }
        if !reshape.is_empty() {
            return Ok(Explained::Reshape(reshape));
        }
        let codes: Vec<_> = reasons.iter().filter_map(|r| r.code()).collect();
        Err(StoreError::Failed(format!("transaction cancelled: {codes:?}")).into())
    }
}
