//! The reservation transactions on the table (see the module's documentation).

mod closing;

pub use self::closing::*;

mod reads;

pub use self::reads::*;

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        AttributeValue, CancellationReason, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
        Update,
    },
    Client,
};

use super::{
    ledger, ledger_ref, Caller, Event, HoldLine, HoldRequest, Reservation, ReservedLine, Status,
    Take, KEEP_CLOSED_SECONDS, MAX_HOLD_LIFETIME_MINUTES,
};
use crate::{
    clock::rfc3339_millis,
    domain::{FieldError, LevelChange, LocationId, MovementKind, MovementLine, Quantity, SkuId},
    schema::{entity, keys, Item, OrderItem, Stored},
    store::{
        conflict_backoff, hour_of, level_write, n, put, releasing_short, s, CounterShape,
        MovementError, Store, StoreError, TRANSACTION_ATTEMPTS,
    },
};

/// Why a reservation step was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ReservationError {
    #[error("unknown reservation {0}")]
    NotFound(String),
    #[error("reservation {id} expired at {expires_at}")]
    Expired { id: String, expires_at: String },
    #[error("reservation {id} is {status:?}")]
    Closed { id: String, status: Status },
    #[error("the Idempotency-Key was used for another hold")]
    KeyReused,
    #[error("reservation {id}, made at {created_at}, can be held until {latest} at the latest")]
    LifetimeExceeded {
        id: String,
        created_at: String,
        latest: String,
    },
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Movement(#[from] MovementError),
}

impl From<StoreError> for ReservationError {
    fn from(e: StoreError) -> Self {
        Self::Movement(MovementError::Store(e))
    }
}

/// The result of a step: the reservation after it, and whether it was done before (a replay).
pub type Outcome = Result<(Reservation, bool), ReservationError>;

/// The reservations of one table.
#[derive(Debug, Clone)]
pub struct Reservations {
    store: Store,
}

fn failed(r: &CancellationReason) -> bool {
    r.code() == Some("ConditionalCheckFailed")
}

fn lines_attr(lines: &[ReservedLine]) -> AttributeValue {
    AttributeValue::L(
        lines
            .iter()
            .map(|l| {
                let mut m = HashMap::from([
                    ("sku".to_owned(), s(&l.sku)),
                    ("location".to_owned(), s(&l.location)),
                    ("quantity".to_owned(), n(l.quantity)),
                ]);
                if let Some(t) = l.taken {
                    m.insert("taken".into(), n(t));
                }
                if let Some(c) = l.short {
                    m.insert("short".into(), n(c));
                }
                AttributeValue::M(m)
            })
            .collect(),
    )
}

/// A held line as the level transaction takes it.
fn movement_line(
    l: &ReservedLine,
    kind: MovementKind,
    change: LevelChange,
) -> Option<MovementLine> {
    Some(MovementLine {
        kind,
        sku: SkuId::parse("sku", &l.sku).ok()?,
        location: LocationId::parse("location", &l.location).ok()?,
        change,
    })
}

/// The level lines that give every held unit back (a release or an expiry).
fn giving_back(
    lines: &[ReservedLine],
    kind: MovementKind,
) -> Result<Vec<MovementLine>, StoreError> {
    lines
        .iter()
        .map(|l| {
            // A line a count cut to nothing gives nothing back: its level is only checked.
            let change = match l.quantity {
                0 => LevelChange::Record,
                _ => LevelChange::Unreserve(held(l)?),
            };
            movement_line(l, kind, change)
                .ok_or_else(|| StoreError::Corrupt("reservation line".into()))
        })
        .collect()
}

fn held(l: &ReservedLine) -> Result<Quantity, StoreError> {
    Quantity::parse("quantity", l.quantity)
        .map_err(|_| StoreError::Corrupt(format!("held quantity {}", l.quantity)))
}

impl Reservations {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn client(&self) -> &Client {
        self.store.client()
    }

    fn table(&self) -> &str {
        self.store.table()
    }

    /// Sends one transaction: Ok(None) when it applied, Ok(Some(reasons)) when a condition
    /// cancelled it.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<CancellationReason>>, StoreError> {
        match self
            .client()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(None),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    Ok(Some(e.cancellation_reasons().to_vec()))
                }
                _ => Err(StoreError::from_sdk(err)),
            },
        }
    }

    /// The level writes of a step's `lines`, each with its counters in its shape and naming
    /// its ledger line; a closing step also gives back what counts cut from its held lines
    /// (`short`, per line: see [`releasing_short`]).
    fn level_writes(
        &self,
        (id, event): (&str, Event),
        lines: &[MovementLine],
        shapes: &[CounterShape],
        at: &str,
        short: &[i64],
    ) -> Vec<TransactWriteItem> {
        let hour = hour_of(at);
        lines
            .iter()
            .zip(shapes)
            .enumerate()
            .map(|(i, (line, shape))| {
                let line_ref = ledger_ref(id, event, i);
                let item = level_write(self.table(), line, *shape, hour, at, &line_ref);
                releasing_short(item, short.get(i).copied().unwrap_or(0))
            })
            .collect()
    }

    /// The reservation, read strongly consistent.
    pub async fn get(&self, id: &str) -> Result<Option<Reservation>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(keys::key(keys::reservation(id), keys::META)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item.as_ref().map(Reservation::from_item).transpose()
    }

    /// The reservation if `caller` may see and act on it: another client's hold is, to it, one
    /// that does not exist (nothing says that it does).
    pub async fn get_for(
        &self,
        id: &str,
        caller: Caller<'_>,
    ) -> Result<Option<Reservation>, StoreError> {
        Ok(self.get(id).await?.filter(|r| caller.may_act_on(r)))
    }

    /// Holds every line of `request` or none: one transaction, no read first. `id` and
    /// `request_hash` come from the caller and its Idempotency-Key; a replay with the same
    /// request answers the reservation as it now is.
    pub async fn hold(
        &self,
        id: &str,
        request: &HoldRequest,
        request_hash: &str,
        caller: Caller<'_>,
        now_ms: i64,
    ) -> Outcome {
        let actor = caller.subject;
        let at = rfc3339_millis(now_ms);
        let expires_ms = now_ms + request.ttl_minutes * 60_000;
        let lines: Vec<ReservedLine> = request
            .lines
            .iter()
            .map(|l| ReservedLine {
                sku: l.sku.to_string(),
                location: l.location.to_string(),
                quantity: i64::from(l.quantity.get()),
                taken: None,
                short: None,
            })
            .collect();
        let reservation = Reservation {
            created_at: at.clone(),
            created_by: actor.to_owned(),
            owner: caller.owner.to_owned(),
            expires_at: rfc3339_millis(expires_ms),
            request_hash: request_hash.to_owned(),
            version: 1,
            reference: request.reference.clone(),
            ..Reservation::active(id, lines.clone(), expires_ms)
        };
        let movement_lines: Vec<MovementLine> = request
            .lines
            .iter()
            .map(|l: &HoldLine| MovementLine {
                kind: MovementKind::Hold,
                sku: l.sku.clone(),
                location: l.location.clone(),
                change: LevelChange::Reserve(l.quantity),
            })
            .collect();
        let shapes = vec![CounterShape::Current; movement_lines.len()];
        let mut items = self.level_writes((id, Event::Hold), &movement_lines, &shapes, &at, &[]);
        let mut item: Item = keys::item(
            keys::reservation(id),
            keys::META,
            [
                ("entity", s(entity::RESERVATION)),
                ("reservation_id", s(id)),
                ("status", s(Status::Active.as_str())),
                ("lines", lines_attr(&lines)),
                ("created_at", s(&at)),
                ("created_by", s(actor)),
                ("owner", s(caller.owner)),
                ("hold_until_ms", n(expires_ms)),
                ("hold_until", s(&reservation.expires_at)),
                ("request_hash", s(request_hash)),
                ("version", n(1)),
                ("extended", n(0)),
                (keys::EXPIRY_PARTITION_ATTRIBUTE, s(keys::expiry_shard(id))),
                (
                    keys::EXPIRY_SORT_ATTRIBUTE,
                    s(keys::expiry_sort(expires_ms, id)),
                ),
            ],
        );
        if let Some(r) = &request.reference {
            item.insert("reference".into(), s(r));
        }
        items.push(put(self.table(), item, Some(keys::ABSENT), true));
        let record = movement_lines.len();
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let Some(reasons) = self.transact(items.clone()).await? else {
                return Ok((reservation, false));
            };
            // A replay first: the reservation exists.
            if let Some(r) = reasons.get(record).filter(|r| failed(r)) {
                let existing = Reservation::from_item(&r.item().cloned().unwrap_or_default())?;
                if existing.request_hash != request_hash || !caller.may_act_on(&existing) {
                    return Err(ReservationError::KeyReused);
                }
                return Ok((existing, true));
            }
            if let Some((i, r)) = reasons.iter().enumerate().find(|(_, r)| failed(r)) {
                // A hold counts nothing, so a failed level condition is always a refusal.
                self.store
                    .explain_level(i, &movement_lines[i], r.item())
                    .await?;
                return Err(StoreError::Corrupt("hold refused without a reason".into()).into());
            }
            if attempt < TRANSACTION_ATTEMPTS {
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
        }
        Err(StoreError::Busy("the held levels kept changing".into()).into())
    }

    /// Sets a hold to run out `ttl_minutes` from now. Refused once it expired or closed, and
    /// past [`MAX_HOLD_LIFETIME_MINUTES`] from its creation. With `key` (the caller-scoped
    /// Idempotency-Key), a retry of the last extend is answered as a replay and changes nothing.
    pub async fn extend(
        &self,
        id: &str,
        ttl_minutes: i64,
        key: Option<&str>,
        caller: Caller<'_>,
        now_ms: i64,
    ) -> Outcome {
        let actor = caller.subject;
        let at = rfc3339_millis(now_ms);
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let current = self.active(id, caller, now_ms).await?;
            if key.is_some() && current.extend_key.as_deref() == key {
                if current.extend_ttl != Some(ttl_minutes) {
                    return Err(ReservationError::KeyReused);
                }
                return Ok((current, true));
            }
            let expires_ms = now_ms + ttl_minutes * 60_000;
            let ends_ms = current.created_ms()? + MAX_HOLD_LIFETIME_MINUTES * 60_000;
            if expires_ms > ends_ms {
                return Err(ReservationError::LifetimeExceeded {
                    id: id.to_owned(),
                    created_at: current.created_at,
                    latest: rfc3339_millis(ends_ms),
                });
            }
            let expires_at = rfc3339_millis(expires_ms);
            let mut update = Update::builder()
                .table_name(self.table())
                .set_key(Some(keys::key(keys::reservation(id), keys::META)))
                .expression_attribute_names("#hu", "hold_until_ms")
                .expression_attribute_names("#ht", "hold_until")
                .expression_attribute_names("#xs", keys::EXPIRY_SORT_ATTRIBUTE)
                .expression_attribute_names("#x", "extended")
                .expression_attribute_names("#v", "version")
                .expression_attribute_names("#st", "status")
                .expression_attribute_names("#ek", "extend_key")
                .expression_attribute_names("#et", "extend_ttl")
                .expression_attribute_values(":hu", n(expires_ms))
                .expression_attribute_values(":ht", s(&expires_at))
                .expression_attribute_values(":xs", s(keys::expiry_sort(expires_ms, id)))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":active", s(Status::Active.as_str()))
                .expression_attribute_values(":now", n(now_ms));
            let moved = "SET #hu = :hu, #ht = :ht, #xs = :xs, #x = #x + :one, #v = #v + :one";
            let open = "#st = :active AND #hu > :now";
            update = match key {
                // A concurrent retry of the same extend finds it done.
                Some(k) => update
                    .update_expression(format!("{moved}, #ek = :ek, #et = :et"))
                    .condition_expression(format!(
                        "{open} AND (attribute_not_exists(#ek) OR #ek <> :ek)"
                    ))
                    .expression_attribute_values(":ek", s(k))
                    .expression_attribute_values(":et", n(ttl_minutes)),
                None => update
                    .update_expression(format!("{moved} REMOVE #ek, #et"))
                    .condition_expression(open),
            };
            let mut items = vec![TransactWriteItem::builder()
                .update(update.build().expect("table, key and expression are set"))
                .build()];
            for i in 0..current.lines.len() {
                let entry = ledger::entry(&current, Event::Extend, i, &at, actor, None, None)
                    .map(|mut e| {
                        e.insert("expires_at".into(), s(&expires_at));
                        e
                    })
                    .ok_or_else(|| StoreError::Corrupt("reservation line".into()))?;
                items.push(put(self.table(), entry, None, false));
            }
            match self.transact(items).await? {
                None => {
                    let mut r = current;
                    r.expires_ms = expires_ms;
                    r.expires_at = expires_at;
                    r.extended += 1;
                    r.version += 1;
                    r.extend_key = key.map(str::to_owned);
                    r.extend_ttl = key.map(|_| ttl_minutes);
                    return Ok((r, false));
                }
                // Closed or expired meanwhile: the next read says which.
                Some(reasons) if reasons.first().is_some_and(failed) => continue,
                Some(_) => tokio::time::sleep(conflict_backoff(attempt)).await,
            }
        }
        Err(StoreError::Busy("the reservation kept changing".into()).into())
    }
}

/// A reservation id as this API issues them (`rs_` and 24 hex digits).
pub fn valid_id(id: &str) -> bool {
    id.len() == 27
        && id.starts_with("rs_")
        && id[3..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}
