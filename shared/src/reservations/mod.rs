//! Checkout holds: a reservation keeps stock for a cart while the shopper pays.
//!
//! A hold is one transaction: for each line `reserved` rises and `available` falls under the
//! condition `available >= quantity` (no read first), and the reservation item
//! (`RES#<id>`/`META`) is put under `attribute_not_exists`, which makes the caller's
//! `Idempotency-Key` good for exactly one hold. Every later step (extend, release, commit,
//! expiry) is one transaction conditioned on the reservation still being `active` and on which
//! side of its expiry the writer's clock is, so between an expiry and a commit that race exactly
//! one wins, and the levels change with it.
//!
//! The levels name the reservation (`RES#<id>|<event>#<line>`) as their `last_movement`, and the
//! stream evaluator writes each event's ledger entries from the reservation item
//! ([`ledger`]); an extension changes no level, so its entries are written in its transaction.
//! Active reservations are listed by expiry in the sparse `expiry` index, which the expiry
//! sweep ([`expiry`]) reads every minute; a SKU's active holds are listed by the `holds` index
//! of their ledger entries.

pub mod availability;
pub mod expiry;
pub mod ledger;
mod store;

use serde::Serialize;
use serde_json::{json, Value};

use crate::{
    domain::{HoldCut, LocationId, Quantity, SkuId},
    schema::{self, entity, HoldLineItem, Item, ReservationItem},
    store::StoreError,
};

pub use self::store::{
    taken, valid_id as valid_reservation_id, ReservationError, Reservations, SkuHold,
};

/// A hold's time to live, in minutes.
pub const MIN_TTL_MINUTES: i64 = 1;
pub const MAX_TTL_MINUTES: i64 = 1440;
pub const DEFAULT_TTL_MINUTES: i64 = 15;
/// The longest a hold can live from its creation, however often it is extended: the longest a
/// new hold can be made for. An extend past it is refused (409 `hold-lifetime-exceeded`).
pub const MAX_HOLD_LIFETIME_MINUTES: i64 = MAX_TTL_MINUTES;
/// Who the expiry sweep records as the actor of an expiry.
pub const EXPIRY_ACTOR: &str = "system:hold-expiry";
/// How long a closed reservation is kept (DynamoDB TTL removes it after): long enough for any
/// replay of its hold or commit.
pub const KEEP_CLOSED_SECONDS: i64 = 30 * 86_400;

/// How a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Committed,
    Released,
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "committed" => Self::Committed,
            "released" => Self::Released,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// The steps of a reservation that change levels, as named in a level's `last_movement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Hold,
    Commit,
    Release,
    Expire,
    /// Changes no level: its ledger entries are written with it.
    Extend,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hold => "hold",
            Self::Commit => "commit",
            Self::Release => "release",
            Self::Expire => "expire",
            Self::Extend => "extend",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hold" => Self::Hold,
            "commit" => Self::Commit,
            "release" => Self::Release,
            "expire" => Self::Expire,
            "extend" => Self::Extend,
            _ => return None,
        })
    }
}

/// `RES#<id>|<event>#<line>`: what a level's `last_movement` names for a reservation's step.
pub fn ledger_ref(reservation_id: &str, event: Event, line: usize) -> String {
    format!(
        "{}|{}#{line:02}",
        schema::keys::reservation(reservation_id),
        event.as_str()
    )
}

/// One line of a hold request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldLine {
    pub sku: SkuId,
    pub location: LocationId,
    pub quantity: Quantity,
}

/// A validated hold request.
#[derive(Debug, Clone)]
pub struct HoldRequest {
    pub lines: Vec<HoldLine>,
    pub ttl_minutes: i64,
    pub reference: Option<String>,
}

/// One line of a commit: how many of a held line the order takes (0 to what is held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Take {
    pub sku: SkuId,
    pub location: LocationId,
    pub quantity: u32,
}

/// One held line of a stored reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReservedLine {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    /// What the order took, once committed (the rest was released).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taken: Option<i64>,
    /// Units a count that found fewer on the shelf cut from this line (`quantity` is what it
    /// still holds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short: Option<i64>,
}

impl From<HoldLineItem> for ReservedLine {
    fn from(l: HoldLineItem) -> Self {
        Self {
            sku: l.sku,
            location: l.location,
            quantity: l.quantity,
            taken: l.taken,
            short: l.short,
        }
    }
}

/// The holds a count of one level cuts short so that `need` fewer units stay reserved there:
/// holds past their expiry first (the sweep is about to give them back), then the newest
/// first, each line cut no further than it must. None when `holds` keep fewer than `need` on
/// the level (some are not listed yet).
pub fn cuts_for(
    level: (&SkuId, &LocationId),
    need: i64,
    holds: &[Reservation],
    now_ms: i64,
) -> Option<Vec<HoldCut>> {
    let mut order: Vec<&Reservation> = holds.iter().collect();
    order.sort_by(|a, b| {
        let expired = |r: &Reservation| r.status_at(now_ms) == Status::Expired;
        expired(b)
            .cmp(&expired(a))
            .then_with(|| b.created_at.cmp(&a.created_at))
            .then_with(|| b.id.cmp(&a.id))
    });
    let mut left = need;
    let mut cuts = Vec::new();
    for r in order {
        for (i, l) in r.lines.iter().enumerate() {
            let on_level = l.sku == level.0.as_str() && l.location == level.1.as_str();
            if left <= 0 || !on_level || l.quantity <= 0 {
                continue;
            }
            let cut = l.quantity.min(left);
            left -= cut;
            cuts.push(HoldCut {
                reservation_id: r.id.clone(),
                version: r.version,
                line: i,
                was: l.quantity,
                held: l.quantity - cut,
                short_before: l.short.unwrap_or(0),
            });
        }
    }
    (left <= 0).then_some(cuts)
}

/// Who asks for a step of a hold, and whose holds it may act on.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// Recorded as who did it (`created_by`, `closed_by`, the ledger's actor).
    pub subject: &'a str,
    /// The client the holds it makes belong to.
    pub owner: &'a str,
    /// Whether it may see and act on every client's holds (the admin scope).
    pub any_owner: bool,
}

impl Caller<'_> {
    /// Whether the caller may see and act on `r`: another client's hold is, to it, a hold that
    /// does not exist.
    pub fn may_act_on(&self, r: &Reservation) -> bool {
        self.any_owner || r.owner == self.owner
    }
}

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: String,
    pub status: Status,
    pub lines: Vec<ReservedLine>,
    pub created_at: String,
    pub created_by: String,
    /// The client whose hold it is ([`Caller::owner`]): only it, and admin, see and act on it.
    pub owner: String,
    pub expires_ms: i64,
    pub expires_at: String,
    pub request_hash: String,
    pub version: i64,
    pub reference: Option<String>,
    pub extended: i64,
    pub closed_at: Option<String>,
    pub closed_by: Option<String>,
    pub order_id: Option<String>,
    pub commit_hash: Option<String>,
    /// The last extend's key (scoped to its caller) and the `ttl_minutes` it asked for: a retry
    /// of that extend is answered as it was, and does not move the hold on again.
    pub extend_key: Option<String>,
    pub extend_ttl: Option<i64>,
}

impl Reservation {
    /// An active hold of `lines` until `expires_ms`, with nothing else known of it yet.
    pub fn active(id: &str, lines: Vec<ReservedLine>, expires_ms: i64) -> Self {
        Self {
            id: id.to_owned(),
            status: Status::Active,
            lines,
            created_at: String::new(),
            created_by: String::new(),
            owner: String::new(),
            expires_ms,
            expires_at: String::new(),
            request_hash: String::new(),
            version: 0,
            reference: None,
            extended: 0,
            closed_at: None,
            closed_by: None,
            order_id: None,
            commit_hash: None,
            extend_key: None,
            extend_ttl: None,
        }
    }

    pub fn from_item(item: &Item) -> Result<Self, StoreError> {
        let i: ReservationItem = schema::decode(entity::RESERVATION, item)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let status = Status::parse(&i.status)
            .ok_or_else(|| StoreError::Corrupt(format!("reservation status {}", i.status)))?;
        Ok(Self {
            id: i.reservation_id,
            // A hold made before holds had owners belongs to the subject that made it.
            owner: i.owner.unwrap_or_else(|| i.created_by.clone()),
            status,
            lines: i.lines.into_iter().map(ReservedLine::from).collect(),
            created_at: i.created_at,
            created_by: i.created_by,
            expires_ms: i.hold_until_ms,
            expires_at: i.hold_until,
            request_hash: i.request_hash,
            version: i.version,
            reference: i.reference,
            extended: i.extended,
            closed_at: i.closed_at,
            closed_by: i.closed_by,
            order_id: i.order_id,
            commit_hash: i.commit_hash,
            extend_key: i.extend_key,
            extend_ttl: i.extend_ttl,
        })
    }

    /// When it was made, in ms since the epoch.
    pub fn created_ms(&self) -> Result<i64, StoreError> {
        time::OffsetDateTime::parse(
            &self.created_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| StoreError::Corrupt(format!("reservation created at {}", self.created_at)))
    }

    /// How it stands at `now_ms`: an active hold past its expiry is expired (the sweep gives
    /// its stock back within a minute; nothing can commit it meanwhile).
    pub fn status_at(&self, now_ms: i64) -> Status {
        match self.status {
            Status::Active if now_ms >= self.expires_ms => Status::Expired,
            s => s,
        }
    }

    /// The reservation as the API shows it at `now_ms`.
    pub fn view(&self, now_ms: i64) -> Value {
        let status = self.status_at(now_ms);
        let mut v = json!({
            "reservation_id": self.id,
            "status": status,
            "lines": self.lines,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "owner": self.owner,
            "expires_at": self.expires_at,
            "extensions": self.extended,
        });
        if let Some(r) = &self.reference {
            v["reference"] = json!(r);
        }
        if status == Status::Active {
            v["expires_in_seconds"] = json!((self.expires_ms - now_ms).div_euclid(1000));
        }
        if self.status == Status::Active && status == Status::Expired {
            // Past its time, and the sweep has not given the stock back yet.
            v["stock_released"] = json!(false);
        }
        if let Some(at) = &self.closed_at {
            v["closed_at"] = json!(at);
        }
        if let Some(by) = &self.closed_by {
            v["closed_by"] = json!(by);
        }
        if let Some(o) = &self.order_id {
            v["order_id"] = json!(o);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(id: &str, created_at: &str, expires_ms: i64, lines: &[(&str, i64)]) -> Reservation {
        let lines = lines
            .iter()
            .map(|(location, quantity)| ReservedLine {
                sku: "A".into(),
                location: (*location).into(),
                quantity: *quantity,
                taken: None,
                short: None,
            })
            .collect();
        Reservation {
            created_at: created_at.into(),
            version: 3,
            ..Reservation::active(id, lines, expires_ms)
        }
    }

    #[test]
    fn a_count_cuts_expired_holds_first_then_the_newest_and_no_further_than_it_must() {
        let level = (
            &SkuId::parse("sku", "A").unwrap(),
            &LocationId::parse("location", "WH1").unwrap(),
        );
        let holds = [
            hold("old", "2026-12-07T08:00:00.000Z", 10_000, &[("WH1", 4)]),
            hold(
                "new",
                "2026-12-07T09:00:00.000Z",
                10_000,
                &[("WH2", 9), ("WH1", 2)],
            ),
            hold("due", "2026-12-07T07:00:00.000Z", 500, &[("WH1", 1)]),
        ];
        let cuts = cuts_for(level, 4, &holds, 1_000).unwrap();
        let seen: Vec<_> = cuts
            .iter()
            .map(|c| (c.reservation_id.as_str(), c.line, c.was, c.held))
            .collect();
        // The hold past its time, then the newest (its WH1 line only), then 1 of the oldest 4.
        assert_eq!(seen, [("due", 0, 1, 0), ("new", 1, 2, 0), ("old", 0, 4, 3)]);
        assert!(cuts.iter().all(|c| c.version == 3));
        // Holds that keep fewer than the count needs cut: some are not listed yet.
        assert_eq!(cuts_for(level, 8, &holds, 1_000), None);
        assert_eq!(cuts_for(level, 0, &holds, 1_000), Some(Vec::new()));
    }
}
