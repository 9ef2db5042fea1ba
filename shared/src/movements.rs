//! Recording a stock movement: the use case every change path shares (the API's movement routes
//! and the stocktake import). It takes an [`Actor`], whoever records the movement, never an HTTP
//! principal: the HTTP layer and the import each say who acts, and this room derives the
//! movement's idempotent record, writes it through the store and tells a first write from a replay.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{
    domain::{
        parse_count, parse_text, CountedAt, FieldError, FieldErrors, IdempotencyKey, LevelChange,
        LocationId, MovedSince, Movement, MovementKind, MovementLine, ReasonCode, Refusal, SkuId,
    },
    store::{MovementError, MovementOutcome, MovementRecord, Store, StoreError},
};

/// The path counts come by (`POST /v1/adjustments`): part of each count's request hash, for the
/// API's adjustments and the stocktake import's lines alike.
pub const ADJUSTMENTS_PATH: &str = "/v1/adjustments";

/// Who records a movement: its subject is written on the ledger and scopes its idempotency keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub subject: String,
    /// The client whose orders it opens, and whose orders it may refund.
    pub owner: String,
    /// Whether it may refund any client's order (the admin scope).
    pub any_owner: bool,
}

impl Actor {
    /// An actor acting on everything as `subject` (the stocktake import, the bench).
    pub fn system(subject: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            owner: subject.to_owned(),
            any_owner: true,
        }
    }
}

/// How a movement came: the path whose requests share its idempotency, and whether it opens an
/// order (an order is a sale that the response names as such).
#[derive(Debug, Clone, Copy)]
pub struct Channel<'a> {
    pub path: &'a str,
    pub opens_order: bool,
}

/// A count of one level (`POST /v1/adjustments`, and each line of a stocktake import).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentBody {
    pub sku: String,
    pub location: String,
    /// The counted on-hand quantity.
    pub counted: i64,
    /// The on-hand value the counter saw; the adjustment is refused if stock moved since.
    #[serde(default)]
    pub expected: Option<i64>,
    pub reason: String,
    /// Why the count differs, when it is shrinkage: one of [`ReasonCode`]'s codes. Left out of
    /// the body (and so of its request hash) when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// When the shelf was counted (RFC 3339); the request's time when not given. Movements
    /// after it are kept on top of the count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_at: Option<String>,
}

/// How far back a count may have been taken: the movements after it are read from the ledger.
pub const MAX_COUNT_AGE_DAYS: i64 = 30;
/// How far ahead of the receiving clock a count's time may be (the counter's clock runs fast).
const COUNT_CLOCK_SKEW_MS: i64 = 60_000;

/// When a count was taken: `raw` (RFC 3339) or `now_ms` when not given; neither in the future
/// nor older than [`MAX_COUNT_AGE_DAYS`].
pub fn counted_at(field: &str, raw: Option<&str>, now_ms: i64) -> Result<i64, FieldError> {
    let Some(raw) = raw else { return Ok(now_ms) };
    let at = crate::clock::millis_of(raw).ok_or_else(|| {
        FieldError::new(
            field,
            "must be an RFC 3339 time, such as 2026-12-07T08:00:00Z",
        )
    })?;
    if at > now_ms + COUNT_CLOCK_SKEW_MS {
        return Err(FieldError::new(field, "must not be in the future"));
    }
    if at < now_ms - MAX_COUNT_AGE_DAYS * 86_400_000 {
        return Err(FieldError::new(
            field,
            format!("must be within the last {MAX_COUNT_AGE_DAYS} days"),
        ));
    }
    Ok(at)
}

impl AdjustmentBody {
    /// The count as a movement; `now_ms` is when it was received (its time when it gives none).
    pub fn validate(&self, now_ms: i64) -> Result<Movement, Vec<FieldError>> {
        let mut e = FieldErrors::default();
        let sku = e.take(SkuId::parse("sku", &self.sku));
        let location = e.take(LocationId::parse("location", &self.location));
        let counted = e.take(parse_count("counted", self.counted));
        let expected = match self.expected {
            None => Some(None),
            Some(x) => e.take(parse_count("expected", x)).map(Some),
        };
        let reason = e.take(parse_text("reason", &self.reason));
        let reason_code = match &self.reason_code {
            None => Some(None),
            Some(c) => e.take(ReasonCode::parse("reason_code", c)).map(Some),
        };
        let at = e.take(counted_at("counted_at", self.counted_at.as_deref(), now_ms));
        e.finish(|| {
            Some(Movement {
                kind: MovementKind::Adjustment,
                lines: vec![MovementLine {
                    kind: MovementKind::Adjustment,
                    sku: sku?,
                    location: location?,
                    change: LevelChange::Count {
                        counted: counted?,
                        expected: expected?,
                        at: Some(CountedAt {
                            at_ms: at?,
                            moved: None,
                        }),
                    },
                }],
                new_order: None,
                order_claim: None,
                reference: None,
                reason: Some(reason?),
                reason_code: reason_code?,
                holds_cut: Vec::new(),
            })
        })
    }
}

/// What recording a movement came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Written now; the response body it stored.
    New(String),
    /// Written before under the same key and request; the response the first write stored.
    Replayed(String),
}

/// Why a movement was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The idempotency key was used before for another request.
    #[error("idempotency key reused with a different request")]
    KeyReused,
    /// A count taken before its level's last change, whose ledger (written from the stream)
    /// has not caught up with the level: nothing was written; try again shortly.
    #[error("the level's ledger has not caught up with its last change yet")]
    LedgerBehind,
    #[error(transparent)]
    Movement(#[from] MovementError),
}

/// Derives everything the movement's write needs (pure: no I/O). The idempotency key is scoped to
/// the actor, so two storefronts cannot collide.
pub fn prepare<B: Serialize>(
    channel: Channel<'_>,
    actor: &Actor,
    key: &IdempotencyKey,
    body: &B,
    movement: &Movement,
    at: String,
) -> MovementRecord {
    let scope_hash = Sha256::new()
        .chain_update(actor.subject.as_bytes())
        .chain_update([0u8])
        .chain_update(key.as_str().as_bytes())
        .finalize();
    let scope_hex = hex::encode(scope_hash);
    let request_hash = hex::encode(
        Sha256::new()
            .chain_update(channel.path.as_bytes())
            .chain_update([0u8])
            .chain_update(serde_json::to_vec(body).unwrap_or_default())
            .finalize(),
    );
    let movement_id = format!("mv_{}", &scope_hex[..24]);
    let response = response(
        movement,
        channel.opens_order,
        &movement_id,
        &actor.subject,
        &at,
    );
    MovementRecord {
        partition: crate::schema::keys::movement(&scope_hex[..40]),
        movement_id,
        actor: actor.subject.clone(),
        owner: actor.owner.clone(),
        any_owner: actor.any_owner,
        at,
        request_hash,
        response,
    }
}

/// Times a count is worked out again because its level or its holds moved, or its ledger or
/// holds index was behind (waiting 0.1, 0.2, 0.4, 0.8 s ... for the stream).
const COUNT_ATTEMPTS: u32 = 6;
/// The most holds one count cuts short (a transaction holds at most 100 items).
const MAX_HOLDS_CUT: usize = 90;

/// Why a count is worked out again.
enum Again {
    /// The level changed after the count was taken: sum what moved since, at this version
    /// (known already when its only change since was a count of the same moment).
    Moved {
        version: i64,
        last_movement: String,
        recount: Option<i64>,
    },
    /// The count is below what the level's holds keep: cut the newest short.
    Short { version: i64, reserved: i64 },
    /// A hold being cut changed: work the cuts out again.
    HoldsMoved,
}

fn again(outcome: &Result<Recorded, RecordError>) -> Option<Again> {
    let Err(RecordError::Movement(MovementError::Refused { refusal, .. })) = outcome else {
        return None;
    };
    Some(match refusal {
        Refusal::LevelMoved {
            version,
            last_movement,
            recount,
        } => Again::Moved {
            version: *version,
            last_movement: last_movement.clone(),
            recount: *recount,
        },
        Refusal::ShortUnderHolds { version, reserved } => Again::Short {
            version: *version,
            reserved: *reserved,
        },
        Refusal::HoldsMoved => Again::HoldsMoved,
        _ => return None,
    })
}

/// Writes a prepared movement: new, a replay of the same request, or refused. A count taken
/// earlier than its level's last change is applied on top of what moved since: the level's
/// ledger after the count is summed (once it has caught up with the level) and the count
/// written against the level's version, worked out again if the level moved meanwhile. A count
/// below what the level's holds keep cuts the newest holds short, in the same transaction.
pub async fn record(
    store: &Store,
    movement: &Movement,
    record: &MovementRecord,
) -> Result<Recorded, RecordError> {
    record_with(store, movement, record, Patience::WaitForStream).await
}

/// Whether a count whose level's ledger (or holds index) is behind waits for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// Up to about 3 s (an API request).
    WaitForStream,
    /// Not at all: [`RecordError::LedgerBehind`] at once (the stocktake import, which runs on
    /// that stream and defers the line instead).
    NoWait,
}

/// [`record`], waiting for a stream that is behind as `patience` says.
pub async fn record_with(
    store: &Store,
    movement: &Movement,
    record: &MovementRecord,
    patience: Patience,
) -> Result<Recorded, RecordError> {
    let first = write(store, movement, record).await;
    let Some(mut next) = again(&first) else {
        return first;
    };
    let (mut movement, mut record) = (movement.clone(), record.clone());
    let now_ms = crate::clock::millis_of(&record.at).unwrap_or(0);
    let mut behind = false;
    for attempt in 0..COUNT_ATTEMPTS {
        let line = &mut movement.lines[0];
        let target = line.change.count_target().unwrap_or(0);
        let LevelChange::Count {
            at: Some(ref mut at),
            counted,
            ..
        } = line.change
        else {
            return first;
        };
        let ready = match &next {
            Again::Moved {
                version,
                last_movement,
                recount,
            } => {
                let level = (*version, last_movement.clone());
                let sum = match recount {
                    Some(moved) => Some(*moved),
                    None => store
                        .on_hand_moved_since(&line.sku, &line.location, at.at_ms, &level)
                        .await
                        .map_err(MovementError::from)?,
                };
                if let Some(on_hand) = sum {
                    at.moved = Some(MovedSince {
                        version: *version,
                        on_hand,
                        reserved: None,
                        cut: 0,
                    });
                    movement.holds_cut.clear();
                }
                sum.is_some()
            }
            Again::Short { version, reserved } => {
                let holds = crate::reservations::Reservations::new(store.clone())
                    .on_level(&line.sku, &line.location)
                    .await
                    .map_err(MovementError::from)?;
                let cuts = crate::reservations::cuts_for(
                    (&line.sku, &line.location),
                    reserved - target,
                    &holds,
                    now_ms,
                );
                match cuts {
                    // Not every hold is in the holds index yet.
                    None => false,
                    Some(cuts) if cuts.len() > MAX_HOLDS_CUT => {
                        return Err(MovementError::Refused {
                            line: 0,
                            sku: line.sku.clone(),
                            location: line.location.clone(),
                            refusal: Refusal::CountBelowReserved {
                                counted,
                                reserved: *reserved,
                            },
                        }
                        .into())
                    }
                    Some(cuts) => {
                        let cut: i64 = cuts.iter().map(|c| c.was - c.held).sum();
                        at.moved = Some(MovedSince {
                            version: *version,
                            on_hand: at.moved_on_hand(),
                            reserved: Some(reserved - cut),
                            cut,
                        });
                        movement.holds_cut = cuts;
                        true
                    }
                }
            }
            Again::HoldsMoved => {
                if let Some(m) = at.moved.as_mut() {
                    m.reserved = None;
                    m.cut = 0;
                }
                movement.holds_cut.clear();
                true
            }
        };
        if !ready {
            // The ledger (or the holds index) has not caught up with the level yet: wait for
            // the stream, unless the caller runs on it.
            if patience == Patience::NoWait {
                return Err(RecordError::LedgerBehind);
            }
            behind = true;
            tokio::time::sleep(std::time::Duration::from_millis(100 << attempt.min(3))).await;
            continue;
        }
        behind = false;
        record.response = response(
            &movement,
            false,
            &record.movement_id,
            &record.actor,
            &record.at,
        );
        let outcome = write(store, &movement, &record).await;
        match again(&outcome) {
            Some(a) => next = a,
            None => return outcome,
        }
    }
    if behind {
        return Err(RecordError::LedgerBehind);
    }
    Err(MovementError::Store(StoreError::Busy(
        "the level kept moving while its count was applied".into(),
    ))
    .into())
}

async fn write(
    store: &Store,
    movement: &Movement,
    record: &MovementRecord,
) -> Result<Recorded, RecordError> {
    match store.execute(movement, record).await? {
        MovementOutcome::Applied => Ok(Recorded::New(record.response.clone())),
        MovementOutcome::Replayed {
            request_hash,
            response,
        } if request_hash == record.request_hash => Ok(Recorded::Replayed(response)),
        MovementOutcome::Replayed { .. } => Err(RecordError::KeyReused),
    }
}

/// The response body a movement returns (stored with it, so a replay returns it unchanged).
fn response(movement: &Movement, order: bool, id: &str, actor: &str, at: &str) -> String {
    let lines: Vec<Value> = movement
        .lines
        .iter()
        .map(|l| {
            let mut line = json!({
                "kind": l.kind,
                "sku": l.sku,
                "location": l.location,
                "quantity": l.quantity(),
            });
            if let Some(d) = l.change.delta() {
                line["delta"] = json!({
                    "on_hand": d.on_hand,
                    "available": d.available,
                    "in_transit": d.in_transit,
                });
            }
            if let LevelChange::Count {
                counted,
                expected,
                at,
            } = l.change
            {
                line["counted"] = json!(counted);
                line["expected"] = json!(expected);
                if let Some(at) = at {
                    line["counted_at"] = json!(crate::clock::rfc3339_millis(at.at_ms));
                    line["moved_since"] = json!(at.moved_on_hand());
                    line["on_hand"] = json!(l.change.count_target());
                }
            }
            line
        })
        .collect();
    let kind = match movement.kind {
        MovementKind::TransferOut | MovementKind::TransferIn => "transfer",
        k if order && k == MovementKind::Sale => "order",
        k => k.as_str(),
    };
    let mut v = json!({
        "movement_id": id,
        "kind": kind,
        "recorded_at": at,
        "actor": actor,
        "lines": lines,
    });
    if let Some(r) = &movement.reference {
        v["reference"] = json!(r);
    }
    if let Some(r) = &movement.reason {
        v["reason"] = json!(r);
    }
    if let Some(c) = movement.reason_code {
        v["reason_code"] = json!(c.as_str());
    }
    if let Some(o) = &movement.new_order {
        v["order_id"] = json!(o);
    }
    if let Some(c) = &movement.order_claim {
        v["order_id"] = json!(c.order_id);
    }
    v.to_string()
}
