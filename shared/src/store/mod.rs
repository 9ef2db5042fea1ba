//! The DynamoDB adapter for stock: one table, every movement one conditional
//! `TransactWriteItems` (the level changes and the movement's lines, `MOV#…/LINE#nn`, which are
//! its audit and idempotency record). Its rooms: `transaction` builds a movement's transaction
//! (pure), `execute` runs it and explains a cancellation, `catalogue` keeps SKUs and locations,
//! `ledger` each SKU's ledger (`LEDGER#<sku>`, newest first, written by the stream projector with
//! the level's exact before and after: [`ledger_entry`]), `paging` index pages, cursors and batch
//! writes. SDK errors stop here; callers see [`StoreError`] and [`MovementError`].

mod catalogue;
mod count;
mod execute;
mod ledger;
mod paging;
mod transaction;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, Select,
        TransactWriteItem, Update,
    },
    Client,
};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{context::BeforeTransmitInterceptorContextRef, Intercept},
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use crate::domain::{
    order_line_key, CountedAt, HoldCut, LevelChange, LocationId, LocationKind, Movement,
    MovementKind, MovementLine, Quantities, Refusal, SkuId, StockLevel,
};

pub use crate::schema::Item;

use crate::schema::{
    decode, LedgerEntryItem, LevelItem, LocationItem, OrderItem, QuantitiesItem, SkuItem, Stored,
};
pub use crate::schema::{entity, keys};

pub(crate) use self::count::releasing_short;
pub use self::{catalogue::*, execute::*, ledger::*, paging::*, transaction::*};

/// The one secondary index: SKU and location listings, and each SKU's ledger newest first.
pub const INDEX: &str = "gsi1";

/// Counts the HTTP requests a DynamoDB client sends (every attempt), so benchmarks report
/// requests per operation as measured rather than assumed.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Failures of the table itself, as opposed to refusals of a movement.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, conflicts and timeouts that outlasted the retries: the caller may try again.
    #[error("the inventory table is busy: {0}")]
    Busy(String),
    /// A pagination cursor that this store did not issue.
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("inventory table request failed: {0}")]
    Failed(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy(_))
    }

    pub(crate) fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
        let message = aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string();
        match (&err, code.as_deref()) {
            (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_), _)
            | (
                _,
                Some(
                    "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "TransactionInProgressException",
                ),
            ) => Self::Busy(message),
            _ => Self::Failed(message),
        }
    }
}

/// A conditional write's outcome: what it returned, or `None` when its condition did not hold
/// (nothing was written); any other failure is an error.
pub(crate) fn unless_condition_failed<O, E, R>(
    result: Result<O, SdkError<E, R>>,
) -> Result<Option<O>, StoreError>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(e) => Err(StoreError::from_sdk(e)),
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn corrupt(e: crate::schema::Malformed) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The inventory table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

/// Retries a transaction only for conflicts between concurrent transactions on the same items.
/// Attempts of a movement's transaction when DynamoDB cancels it for a conflict with another
/// transaction on the same items; after that the caller gets 503 `busy` and retries with its key.
pub(crate) const TRANSACTION_ATTEMPTS: u32 = 5;

/// "Full jitter" backoff before retry `attempt` (1-based): uniform in 0..=10 ms × 2^attempt, so
/// transactions that conflicted once do not collide again in lockstep.
pub(crate) fn conflict_backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let cap = 10u64 << attempt.min(8);
    Duration::from_millis(rand::rng().random_range(1..=cap))
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MovementLine, Quantity};

    fn record() -> MovementRecord {
        MovementRecord {
            partition: "MOV#abc".into(),
            movement_id: "mv_1".into(),
            actor: "shop".into(),
            owner: "shop".into(),
            any_owner: false,
            at: "2026-01-01T00:00:00.000Z".into(),
            request_hash: "h".into(),
            response: "{}".into(),
        }
    }

    fn line(change: LevelChange, kind: MovementKind, loc: &str) -> MovementLine {
        MovementLine {
            kind,
            sku: SkuId::parse("sku", "A").unwrap(),
            location: LocationId::parse("location", loc).unwrap(),
            change,
        }
    }

    /// A movement of one line of `kind` at WH1.
    fn one_line(kind: MovementKind, change: LevelChange) -> Movement {
        Movement::of(kind, vec![line(change, kind, "WH1")])
    }

    fn receipt_of(q: u32) -> Movement {
        one_line(
            MovementKind::Receipt,
            LevelChange::Receive {
                quantity: Quantity::parse("q", q.into()).unwrap(),
                from_in_transit: false,
            },
        )
    }

    #[test]
    fn sale_is_one_guarded_update_and_one_ledger_put() {
        let w = movement_write("t", &sale_of(2), &record());
        assert_eq!(w.items.len(), 2);
        let update = w.items[0].update().unwrap();
        // The stock guard, and the counters' head at the sale's hour.
        assert_eq!(
            update.condition_expression(),
            Some("attribute_exists(pk) AND #av >= :q AND #ch = :h")
        );
        let hour = hour_of(&record().at);
        let (hs, ds) = (hour.rem_euclid(48), hour.div_euclid(24).rem_euclid(32));
        let expr = update.update_expression();
        assert!(expr.contains("#av = #av - :q"));
        assert!(
            expr.contains(&format!("#sh[{hs}] = #sh[{hs}] + :q")),
            "{expr}"
        );
        assert!(
            expr.contains(&format!("#sd[{ds}] = #sd[{ds}] + :q")),
            "{expr}"
        );
        assert_eq!(update.expression_attribute_values().unwrap()[":h"], n(hour));
        let put = w.items[1].put().unwrap();
        assert_eq!(put.condition_expression(), Some(keys::ABSENT));
        assert_eq!(get_s(put.item(), "response"), Some("{}"));
    }

    fn sale_of(q: u32) -> Movement {
        one_line(
            MovementKind::Sale,
            LevelChange::Withdraw(Quantity::parse("q", q.into()).unwrap()),
        )
    }

    #[test]
    fn a_write_off_counts_in_its_own_ring_and_starts_one_on_a_level_without() {
        let mut m = one_line(
            MovementKind::WriteOff,
            LevelChange::Withdraw(Quantity::parse("q", 3).unwrap()),
        );
        m.reason_code = Some(crate::domain::ReasonCode::Damaged);
        let hour = hour_of(&record().at);
        let ds = hour.div_euclid(24).rem_euclid(32);
        let w = movement_write("t", &m, &record());
        let update = w.items[0].update().unwrap();
        let expr = update.update_expression();
        assert!(
            expr.contains(&format!("#wd[{ds}] = #wd[{ds}] + :q")),
            "{expr}"
        );
        assert!(
            !expr.contains("#sd[") && !expr.contains("#ls"),
            "not a sale: {expr}"
        );
        assert_eq!(
            update.condition_expression(),
            Some("attribute_exists(pk) AND #av >= :q AND #ch = :h AND attribute_exists(#wd)")
        );
        assert_eq!(
            get_s(w.items[1].put().unwrap().item(), "reason_code"),
            Some("damaged")
        );
        // A level from before write-offs (no ring) at the same hour: the whole ring is written,
        // the others are left as they are.
        let shape = CounterShape::RollFrom {
            head: Some(hour),
            written_off_ring: false,
        };
        let w = movement_write_shaped("t", &m, &record(), &[shape]);
        let update = w.items[0].update().unwrap();
        let expr = update.update_expression();
        assert!(expr.contains("#wd = :lwd"), "{expr}");
        assert!(!expr.contains("#sd") && !expr.contains("#rd"), "{expr}");
        let ring = update.expression_attribute_values().unwrap()[":lwd"]
            .as_l()
            .unwrap()
            .clone();
        assert_eq!(ring.len(), 32);
        assert_eq!(ring[ds as usize], n(3));
        // A sale on such a level rolling past a day leaves the missing ring alone.
        let shape = CounterShape::RollFrom {
            head: Some(hour - 30),
            written_off_ring: false,
        };
        let w = movement_write_shaped("t", &sale_of(1), &record(), &[shape]);
        let expr = w.items[0].update().unwrap().update_expression().to_owned();
        assert!(expr.contains("#sd[") && !expr.contains("#wd"), "{expr}");
    }

    #[test]
    fn a_sale_after_the_counters_head_empties_exactly_the_slots_it_rolls_past() {
        let hour = hour_of(&record().at);
        let shape = CounterShape::RollFrom {
            head: Some(hour - 3),
            written_off_ring: true,
        };
        let w = movement_write_shaped("t", &sale_of(2), &record(), &[shape]);
        let update = w.items[0].update().unwrap();
        let expr = update.update_expression();
        for back in 1..=2 {
            let s = (hour - back).rem_euclid(48);
            assert!(expr.contains(&format!("#sh[{s}] = :zero")), "{expr}");
        }
        let own = hour.rem_euclid(48);
        assert!(expr.contains(&format!("#sh[{own}] = :q")), "{expr}");
        // The hour before the old head stays, as does the old head itself.
        let kept = (hour - 3).rem_euclid(48);
        assert!(!expr.contains(&format!("#sh[{kept}] =")), "{expr}");
        assert!(expr.contains("#ch = :h"));
        assert_eq!(
            update.condition_expression(),
            Some("attribute_exists(pk) AND #av >= :q AND #ch = :oldh")
        );
        // Days later, every slot has rolled: whole rings are written.
        let shape = CounterShape::RollFrom {
            head: Some(hour - 24 * 40),
            written_off_ring: true,
        };
        let w = movement_write_shaped("t", &sale_of(2), &record(), &[shape]);
        let update = w.items[0].update().unwrap();
        let expr = update.update_expression();
        assert!(
            expr.contains("#sh = :lh") && expr.contains("#sd = :lsd"),
            "{expr}"
        );
        let values = update.expression_attribute_values().unwrap();
        let ring = values[":lh"].as_l().unwrap();
        assert_eq!(ring.len(), 48);
        assert_eq!(ring[own as usize], n(2));
        assert_eq!(ring.iter().filter(|v| **v == n(0)).count(), 47);
    }

    #[test]
    fn a_first_receipt_creates_the_level_with_its_counter_rings() {
        let m = receipt_of(7);
        let first = movement_write("t", &m, &record());
        assert_eq!(
            first.items[0].update().unwrap().condition_expression(),
            Some("attribute_exists(pk) AND #ch = :h")
        );
        let w = movement_write_shaped("t", &m, &record(), &[CounterShape::Create]);
        let update = w.items[0].update().unwrap();
        assert_eq!(update.condition_expression(), Some(keys::ABSENT));
        let values = update.expression_attribute_values().unwrap();
        let day = hour_of(&record().at).div_euclid(24);
        let received = values[":lrd"].as_l().unwrap();
        assert_eq!(received.len(), 32);
        assert_eq!(received[day.rem_euclid(32) as usize], n(7));
        assert!(values[":lsd"].as_l().unwrap().iter().all(|v| *v == n(0)));
        assert!(values[":lwd"].as_l().unwrap().iter().all(|v| *v == n(0)));
    }

    #[test]
    fn receipt_checks_that_sku_and_location_exist() {
        let w = movement_write("t", &receipt_of(2), &record());
        assert_eq!(
            w.roles,
            vec![
                Role::Level(0),
                Role::SkuExists(0),
                Role::LocationExists(0),
                Role::Ledger(0)
            ]
        );
    }

    #[test]
    fn expression_names_include_only_the_aliases_used() {
        let got = names("SET #oh = #oh - :q", "#av >= :q");
        assert_eq!(got.len(), 2);
        assert_eq!(got["#oh"], "on_hand");
        // "#loc" must not be picked up by "#lo…" style prefixes and vice versa.
        let got = names("SET #loc = :loc", "");
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["#loc"]);
    }

    #[test]
    fn conflict_backoff_is_jittered_within_a_doubling_cap() {
        for attempt in 1..=4 {
            let waits: std::collections::BTreeSet<_> =
                (0..200).map(|_| conflict_backoff(attempt)).collect();
            let cap = Duration::from_millis(10 << attempt);
            assert!(waits
                .iter()
                .all(|w| *w >= Duration::from_millis(1) && *w <= cap));
            assert!(
                waits.len() > 5,
                "attempt {attempt}: {waits:?} is not spread"
            );
        }
    }

    #[test]
    fn cursors_only_decode_for_their_own_partition() {
        let key: Item = HashMap::from([
            ("gsi1pk".to_owned(), s("LEDGER#A")),
            ("gsi1sk".to_owned(), s("t#m#00")),
            ("pk".to_owned(), s("MOV#x")),
            ("sk".to_owned(), s("LINE#00")),
        ]);
        let c = encode_cursor(&key).unwrap();
        assert_eq!(decode_cursor(&c, "LEDGER#A").unwrap(), key);
        assert!(matches!(
            decode_cursor(&c, "LEDGER#B"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(decode_cursor("not base64!", "LEDGER#A").is_err());
    }
}
