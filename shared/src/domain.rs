//! The inventory domain: validated identifiers and quantities, stock levels and the movements that
//! change them. Pure Rust over plain types; no AWS client appears here.
//!
//! The stock rule is `stock(t+1) = stock(t) − sold + received + refunded` (a write-off takes out
//! like a sale, counted apart), applied per SKU and location. [`StockLevel::apply`] is the reference
//! semantics of every movement; the DynamoDB store encodes the same arithmetic and guards in its
//! conditional update expressions.

use serde::{Deserialize, Serialize};

pub use crate::fields::*;

/// The kind of place stock is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Warehouse,
    Country,
}

impl LocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warehouse => "warehouse",
            Self::Country => "country",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "warehouse" => Some(Self::Warehouse),
            "country" => Some(Self::Country),
            _ => None,
        }
    }
}

/// Why stock left the shop without a sale: a write-off's reason, which a stocktake count may give
/// too (shrinkage found at the shelf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    Damaged,
    Expired,
    Lost,
    Theft,
    Other,
}

impl ReasonCode {
    pub const ALL: [Self; 5] = [
        Self::Damaged,
        Self::Expired,
        Self::Lost,
        Self::Theft,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Damaged => "damaged",
            Self::Expired => "expired",
            Self::Lost => "lost",
            Self::Theft => "theft",
            Self::Other => "other",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == raw)
            .ok_or_else(|| {
                FieldError::new(field, "must be one of damaged, expired, lost, theft, other")
            })
    }
}

/// The quantities held for one SKU at one location.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Quantities {
    pub on_hand: i64,
    pub reserved: i64,
    pub in_transit: i64,
    /// Always `on_hand − reserved`; stored as its own attribute so a condition can test it.
    pub available: i64,
}

impl Quantities {
    pub fn add(&mut self, other: &Quantities) {
        self.on_hand += other.on_hand;
        self.reserved += other.reserved;
        self.in_transit += other.in_transit;
        self.available += other.available;
    }
}

/// A stock level: one SKU at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLevel {
    pub location: LocationId,
    #[serde(flatten)]
    pub quantities: Quantities,
    pub version: u64,
    pub updated_at: String,
    /// When the shelf was last counted, of the counts applied (absent: never counted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_counted_at: Option<String>,
}

/// The kind of one ledger line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    Sale,
    Receipt,
    Incoming,
    Refund,
    Adjustment,
    TransferOut,
    TransferIn,
    /// Stock held for a cart (a reservation's line): reserved rises, available falls.
    Hold,
    /// A hold's expiry moved (no quantity changes).
    HoldExtend,
    /// A hold given back before it expired (the cart was abandoned, or the rest of a commit).
    HoldRelease,
    /// A hold given back because its time ran out.
    HoldExpire,
    /// Stock taken out of on_hand as lost to the shop (damaged, expired, lost, stolen), with a
    /// [`ReasonCode`].
    WriteOff,
}

impl MovementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sale => "sale",
            Self::Receipt => "receipt",
            Self::Incoming => "incoming",
            Self::Refund => "refund",
            Self::Adjustment => "adjustment",
            Self::TransferOut => "transfer_out",
            Self::TransferIn => "transfer_in",
            Self::Hold => "hold",
            Self::HoldExtend => "hold_extend",
            Self::HoldRelease => "hold_release",
            Self::HoldExpire => "hold_expire",
            Self::WriteOff => "write_off",
        }
    }

    pub fn from_stored(s: &str) -> Option<Self> {
        Some(match s {
            "sale" => Self::Sale,
            "receipt" => Self::Receipt,
            "incoming" => Self::Incoming,
            "refund" => Self::Refund,
            "adjustment" => Self::Adjustment,
            "transfer_out" => Self::TransferOut,
            "transfer_in" => Self::TransferIn,
            "hold" => Self::Hold,
            "hold_extend" => Self::HoldExtend,
            "hold_release" => Self::HoldRelease,
            "hold_expire" => Self::HoldExpire,
            "write_off" => Self::WriteOff,
            _ => return None,
        })
    }
}

/// What a movement does to one stock level. Each variant carries the guard DynamoDB checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelChange {
    /// Sale or transfer out: on_hand and available fall; refused when available is short.
    Withdraw(Quantity),
    /// Receipt or transfer in: on_hand and available rise; the level is created on first receipt.
    /// With `from_in_transit`, the quantity also leaves in_transit (refused when in_transit is short).
    Receive {
        quantity: Quantity,
        from_in_transit: bool,
    },
    /// A shipment on its way: in_transit rises.
    Expect(Quantity),
    /// Refund or return put back on the shelf: on_hand and available rise. The level must exist.
    Restock(Quantity),
    /// Refund not restocked (damaged, never returned): recorded, no quantity changes.
    Record,
    /// Stocktake: on_hand becomes `counted`, plus what moved after the count was taken (`at`);
    /// with `expected`, refused unless on_hand (as it was when counted) equals it.
    Count {
        counted: u32,
        expected: Option<u32>,
        at: Option<CountedAt>,
    },
    /// A hold: reserved rises and available falls; refused when available is short.
    Reserve(Quantity),
    /// A hold given back: reserved falls and available rises.
    Unreserve(Quantity),
    /// A hold turned into a sale: `take` units leave on_hand, the whole `held` leaves reserved,
    /// and what was held but not taken becomes available again.
    Commit { take: u32, held: Quantity },
}

/// When a count was taken, and how the level moved after it: the count applies as
/// `counted + moved` only while the level is as it was when `moved` was worked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedAt {
    /// When the shelf was counted (milliseconds since the epoch).
    pub at_ms: i64,
    /// None: nothing is known to have moved, and the level must not have changed since `at_ms`.
    /// Some: the level's on-hand moved by `on_hand` after `at_ms`, as its ledger showed at
    /// `version`, and the level must still be at that version.
    pub moved: Option<MovedSince>,
}

/// What the ledger shows of a level's movements after a count was taken, and what its holds
/// keep once a count below them has cut the newest short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MovedSince {
    pub version: i64,
    pub on_hand: i64,
    /// The level's reserved units after the count, when it cuts holds ([`Movement::holds_cut`]).
    pub reserved: Option<i64>,
    /// The held units the count cuts short (0 when it cuts none).
    pub cut: i64,
}

/// A held line cut short by a count that found fewer units than its level's holds keep: line
/// `line` of reservation `reservation_id` (at its `version`) holds `held` of the `was` it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldCut {
    pub reservation_id: String,
    pub version: i64,
    pub line: usize,
    pub was: i64,
    pub held: i64,
    /// Units cut from this line by earlier counts.
    pub short_before: i64,
}

impl CountedAt {
    /// The on-hand change after the count (0 when nothing moved).
    pub fn moved_on_hand(self) -> i64 {
        self.moved.map_or(0, |m| m.on_hand)
    }
}

/// Why a movement could not be applied to a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    InsufficientAvailable {
        available: i64,
    },
    InsufficientInTransit {
        in_transit: i64,
    },
    StaleCount {
        expected: u32,
        on_hand: i64,
    },
    CountBelowReserved {
        counted: u32,
        reserved: i64,
    },
    /// Less is reserved than a hold gives back (the level was changed by hand).
    InsufficientReserved {
        reserved: i64,
    },
    /// A count below what the level's holds keep: the newest holds are cut short to fit (the
    /// level as it is: `version`, `reserved`).
    ShortUnderHolds {
        version: i64,
        reserved: i64,
    },
    /// A hold the count was cutting changed meanwhile: the cuts are worked out again.
    HoldsMoved,
    /// A newer count of the level was applied (`latest_ms`, when it was taken).
    CountSuperseded {
        latest_ms: i64,
    },
    /// The level changed after the count was taken, or since its movements were summed: they
    /// are summed again (never seen by a caller unless the level keeps moving).
    LevelMoved {
        version: i64,
        last_movement: String,
        /// When the level's only change since was a count taken at the same moment (a recount,
        /// or a file's second line of one level): what moved after that moment, as that count
        /// found it. No ledger need be read.
        recount: Option<i64>,
    },
    NoLevel,
}

impl LevelChange {
    /// The on-hand a count sets: what was counted plus what moved after it was taken (a
    /// shelf cannot hold fewer than none: sales after the count of units it did not have
    /// leave it at 0). None for any other change.
    pub fn count_target(self) -> Option<i64> {
        match self {
            Self::Count { counted, at, .. } => {
                Some((i64::from(counted) + at.map_or(0, CountedAt::moved_on_hand)).max(0))
            }
            _ => None,
        }
    }

    /// Whether this change may create a level that does not exist yet.
    pub fn creates_level(self) -> bool {
        match self {
            Self::Receive {
                from_in_transit, ..
            } => !from_in_transit,
            Self::Expect(_) => true,
            Self::Count { expected, .. } => matches!(expected, None | Some(0)),
            Self::Withdraw(_)
            | Self::Restock(_)
            | Self::Record
            | Self::Reserve(_)
            | Self::Unreserve(_)
            | Self::Commit { .. } => false,
        }
    }

    /// The signed change to each quantity, when it is known without reading the level.
    /// A stocktake without an expected value has no known delta.
    pub fn delta(self) -> Option<Quantities> {
        let q = |q: Quantity| i64::from(q.get());
        Some(match self {
            Self::Withdraw(n) => Quantities {
                on_hand: -q(n),
                available: -q(n),
                ..Quantities::default()
            },
            Self::Receive {
                quantity,
                from_in_transit,
            } => Quantities {
                on_hand: q(quantity),
                available: q(quantity),
                in_transit: if from_in_transit { -q(quantity) } else { 0 },
                reserved: 0,
            },
            Self::Expect(n) => Quantities {
                in_transit: q(n),
                ..Quantities::default()
            },
            Self::Restock(n) => Quantities {
                on_hand: q(n),
                available: q(n),
                ..Quantities::default()
            },
            Self::Record => Quantities::default(),
            Self::Count {
                counted,
                expected: Some(expected),
                at: None,
            } => {
                let d = i64::from(counted) - i64::from(expected);
                Quantities {
                    on_hand: d,
                    available: d,
                    ..Quantities::default()
                }
            }
            Self::Count { .. } => return None,
            Self::Reserve(n) => Quantities {
                reserved: q(n),
                available: -q(n),
                ..Quantities::default()
            },
            Self::Unreserve(n) => Quantities {
                reserved: -q(n),
                available: q(n),
                ..Quantities::default()
            },
            Self::Commit { take, held } => Quantities {
                on_hand: -i64::from(take),
                reserved: -q(held),
                available: q(held) - i64::from(take),
                in_transit: 0,
            },
        })
    }

    /// Applies the change to a level (`None` when the level does not exist yet): the reference
    /// semantics that the store's conditional update expressions implement.
    pub fn apply(self, level: Option<Quantities>) -> Result<Quantities, Refusal> {
        let Some(mut l) = level.or(self.creates_level().then(Quantities::default)) else {
            return Err(Refusal::NoLevel);
        };
        match self {
            Self::Withdraw(n) => {
                let n = i64::from(n.get());
                if l.available < n {
                    return Err(Refusal::InsufficientAvailable {
                        available: l.available,
                    });
                }
                l.on_hand -= n;
                l.available -= n;
            }
            Self::Receive {
                quantity,
                from_in_transit,
            } => {
                let n = i64::from(quantity.get());
                if from_in_transit {
                    if l.in_transit < n {
                        return Err(Refusal::InsufficientInTransit {
                            in_transit: l.in_transit,
                        });
                    }
                    l.in_transit -= n;
                }
                l.on_hand += n;
                l.available += n;
            }
            Self::Expect(n) => l.in_transit += i64::from(n.get()),
            Self::Restock(n) => {
                l.on_hand += i64::from(n.get());
                l.available += i64::from(n.get());
            }
            Self::Record => {}
            Self::Count {
                counted,
                expected,
                at,
            } => {
                let moved = at.map_or(0, CountedAt::moved_on_hand);
                if let Some(expected) = expected {
                    // What the counter saw was on hand when counting, before what moved since.
                    if l.on_hand - moved != i64::from(expected) {
                        return Err(Refusal::StaleCount {
                            expected,
                            on_hand: l.on_hand - moved,
                        });
                    }
                }
                let target = self.count_target().unwrap_or(0);
                // Holds cut short to fit the count keep what it leaves them.
                if let Some(reserved) = at.and_then(|a| a.moved).and_then(|m| m.reserved) {
                    l.reserved = reserved;
                }
                if l.reserved > target {
                    return Err(Refusal::CountBelowReserved {
                        counted,
                        reserved: l.reserved,
                    });
                }
                l.on_hand = target;
                l.available = l.on_hand - l.reserved;
            }
            Self::Reserve(n) => {
                let n = i64::from(n.get());
                if l.available < n {
                    return Err(Refusal::InsufficientAvailable {
                        available: l.available,
                    });
                }
                l.reserved += n;
                l.available -= n;
            }
            Self::Unreserve(n) | Self::Commit { held: n, .. }
                if l.reserved < i64::from(n.get()) =>
            {
                return Err(Refusal::InsufficientReserved {
                    reserved: l.reserved,
                });
            }
            Self::Unreserve(n) => {
                l.reserved -= i64::from(n.get());
                l.available += i64::from(n.get());
            }
            Self::Commit { take, held } => {
                let (take, held) = (i64::from(take), i64::from(held.get()));
                l.on_hand -= take;
                l.reserved -= held;
                l.available += held - take;
            }
        }
        Ok(l)
    }
}

/// One line of a movement: a change to one stock level, recorded as one ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementLine {
    pub kind: MovementKind,
    pub sku: SkuId,
    pub location: LocationId,
    pub change: LevelChange,
}

impl MovementLine {
    /// The quantity recorded in the ledger (the counted value for a stocktake).
    pub fn quantity(&self) -> u32 {
        match self.change {
            LevelChange::Withdraw(q)
            | LevelChange::Expect(q)
            | LevelChange::Restock(q)
            | LevelChange::Receive { quantity: q, .. }
            | LevelChange::Reserve(q)
            | LevelChange::Unreserve(q) => q.get(),
            LevelChange::Commit { take, .. } => take,
            LevelChange::Record => 0,
            LevelChange::Count { counted, .. } => counted,
        }
    }
}

/// A refund's claim against a recorded order: it may never exceed what that order sold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderClaim {
    pub order_id: OrderId,
    pub sku: SkuId,
    pub location: LocationId,
    pub quantity: Quantity,
}

/// A validated movement request: every line is applied, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub kind: MovementKind,
    pub lines: Vec<MovementLine>,
    /// Set for a multi-line order: the order is recorded so refunds can be checked against it.
    pub new_order: Option<OrderId>,
    /// Set for a refund against a recorded order.
    pub order_claim: Option<OrderClaim>,
    pub reference: Option<String>,
    pub reason: Option<String>,
    /// A write-off's reason, or a count's when it gives one.
    pub reason_code: Option<ReasonCode>,
    /// A count's: the holds it cuts short, written with it (empty for every other movement).
    pub holds_cut: Vec<HoldCut>,
}

impl Movement {
    /// A movement of `kind` made of `lines`, with nothing else recorded.
    pub fn of(kind: MovementKind, lines: Vec<MovementLine>) -> Self {
        Self {
            kind,
            lines,
            new_order: None,
            order_claim: None,
            reference: None,
            reason: None,
            reason_code: None,
            holds_cut: Vec::new(),
        }
    }
}

/// The key under which an order remembers what it sold of one SKU at one location.
pub fn order_line_key(sku: &SkuId, location: &LocationId) -> String {
    // '@' is in neither id charset, so the key is unambiguous.
    format!("{sku}@{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: i64) -> Quantity {
        Quantity::parse("quantity", n).unwrap()
    }

    fn level(on_hand: i64, reserved: i64, in_transit: i64) -> Option<Quantities> {
        Some(Quantities {
            on_hand,
            reserved,
            in_transit,
            available: on_hand - reserved,
        })
    }

    #[test]
    fn sku_ids_follow_the_documented_charset_and_length() {
        assert!(SkuId::parse("sku", "TSHIRT-RED.L_2").is_ok());
        assert!(SkuId::parse("sku", &"A".repeat(64)).is_ok());
        for bad in [
            "",
            "-lead",
            "has space",
            "semi;colon",
            "émoji",
            &"A".repeat(65),
        ] {
            let err = SkuId::parse("sku", bad).unwrap_err();
            assert_eq!(err.field, "sku", "{bad:?}");
        }
        assert!(LocationId::parse("location", "WH-1").is_ok());
        assert!(LocationId::parse("location", "WH.1").is_err());
    }

    #[test]
    fn quantities_are_positive_and_bounded() {
        assert_eq!(q(1).get(), 1);
        assert_eq!(q(i64::from(MAX_QUANTITY)).get(), MAX_QUANTITY);
        assert!(Quantity::parse("quantity", 0).is_err());
        assert!(Quantity::parse("quantity", -3).is_err());
        assert!(Quantity::parse("quantity", i64::from(MAX_QUANTITY) + 1).is_err());
        assert!(parse_count("counted", 0).is_ok());
        assert!(parse_count("counted", -1).is_err());
    }

    #[test]
    fn text_is_trimmed_and_refuses_control_characters() {
        assert_eq!(parse_text("reason", "  damaged  ").unwrap(), "damaged");
        assert!(parse_text("reason", "   ").is_err());
        assert!(parse_text("reason", "a\u{7}b").is_err());
        assert!(parse_text("reason", &"x".repeat(MAX_TEXT + 1)).is_err());
    }

    #[test]
    fn stock_rule_sold_received_refunded() {
        // stock(t+1) = stock(t) − sold + received + refunded
        let start = level(10, 0, 0);
        let after_sale = LevelChange::Withdraw(q(3)).apply(start).unwrap();
        let after_receipt = LevelChange::Receive {
            quantity: q(5),
            from_in_transit: false,
        }
        .apply(Some(after_sale))
        .unwrap();
        let after_refund = LevelChange::Restock(q(2))
            .apply(Some(after_receipt))
            .unwrap();
        assert_eq!(after_refund.on_hand, 10 - 3 + 5 + 2);
        assert_eq!(after_refund.available, after_refund.on_hand);
    }

    #[test]
    fn sale_beyond_available_is_refused_with_what_is_available() {
        let err = LevelChange::Withdraw(q(4))
            .apply(level(5, 2, 0))
            .unwrap_err();
        assert_eq!(err, Refusal::InsufficientAvailable { available: 3 });
        assert_eq!(
            LevelChange::Withdraw(q(1)).apply(None).unwrap_err(),
            Refusal::NoLevel
        );
    }

    #[test]
    fn receipt_from_in_transit_moves_the_quantity_and_needs_enough_in_transit() {
        let change = LevelChange::Receive {
            quantity: q(4),
            from_in_transit: true,
        };
        let after = change.apply(level(1, 0, 6)).unwrap();
        assert_eq!(
            (after.on_hand, after.in_transit, after.available),
            (5, 2, 5)
        );
        assert_eq!(
            change.apply(level(1, 0, 3)).unwrap_err(),
            Refusal::InsufficientInTransit { in_transit: 3 }
        );
        assert_eq!(change.apply(None).unwrap_err(), Refusal::NoLevel);
    }

    #[test]
    fn first_receipt_and_incoming_create_the_level() {
        let after = LevelChange::Expect(q(7)).apply(None).unwrap();
        assert_eq!(after.in_transit, 7);
        assert_eq!(after.on_hand, 0);
    }

    #[test]
    fn refund_not_restocked_changes_no_quantity_but_needs_a_level() {
        assert_eq!(
            LevelChange::Record.apply(level(4, 1, 2)).unwrap(),
            level(4, 1, 2).unwrap()
        );
        assert_eq!(
            LevelChange::Record.apply(None).unwrap_err(),
            Refusal::NoLevel
        );
    }

    #[test]
    fn stocktake_is_compare_and_set() {
        let count = counting(8, Some(10), None);
        let after = count.apply(level(10, 3, 0)).unwrap();
        assert_eq!((after.on_hand, after.available), (8, 5));
        let stale = |expected, on_hand| Err(Refusal::StaleCount { expected, on_hand });
        assert_eq!(count.apply(level(9, 0, 0)), stale(10, 9));
        let below = counting(1, None, None);
        assert_eq!(
            below.apply(level(5, 2, 0)).unwrap_err(),
            Refusal::CountBelowReserved {
                counted: 1,
                reserved: 2
            }
        );
        assert_eq!(count.delta().unwrap().on_hand, -2);
        assert_eq!(below.delta(), None);
    }

    /// A count of `counted` (on-hand `expected` when counted) taken before `moved` more units
    /// came in (None: at once).
    fn counting(counted: u32, expected: Option<u32>, moved: Option<i64>) -> LevelChange {
        LevelChange::Count {
            counted,
            expected,
            at: moved.map(|on_hand| CountedAt {
                at_ms: 0,
                moved: Some(MovedSince {
                    version: 7,
                    on_hand,
                    reserved: None,
                    cut: 0,
                }),
            }),
        }
    }

    #[test]
    fn a_count_taken_earlier_keeps_what_moved_after_it() {
        // Counted 10 at 08:00; 3 sold and 5 received since: 12 on hand now.
        let count = counting(10, Some(9), Some(2));
        assert_eq!(count.count_target(), Some(12));
        let after = count.apply(level(11, 4, 0)).unwrap();
        assert_eq!((after.on_hand, after.available), (12, 8));
        // `expected` is what was on hand at the count: 11 - 2 moved = 9.
        let stale = count.apply(level(12, 0, 0));
        assert_eq!(
            stale,
            Err(Refusal::StaleCount {
                expected: 9,
                on_hand: 10
            })
        );
        // More sold after the count than it found: the shelf is empty, not negative.
        let oversold = counting(2, None, Some(-3));
        assert_eq!(oversold.count_target(), Some(0));
        assert_eq!(oversold.apply(level(0, 0, 0)).unwrap().on_hand, 0);
    }

    #[test]
    fn holds_move_units_between_available_and_reserved() {
        let start = level(10, 0, 0);
        let held = LevelChange::Reserve(q(4)).apply(start).unwrap();
        assert_eq!((held.on_hand, held.reserved, held.available), (10, 4, 6));
        assert_eq!(
            LevelChange::Reserve(q(7)).apply(Some(held)).unwrap_err(),
            Refusal::InsufficientAvailable { available: 6 }
        );
        // A sale cannot take held units; a commit of 3 of the 4 gives the fourth back.
        assert!(LevelChange::Withdraw(q(7)).apply(Some(held)).is_err());
        let committed = LevelChange::Commit {
            take: 3,
            held: q(4),
        }
        .apply(Some(held))
        .unwrap();
        assert_eq!(
            (committed.on_hand, committed.reserved, committed.available),
            (7, 0, 7)
        );
        assert_eq!(
            LevelChange::Unreserve(q(1))
                .apply(Some(committed))
                .unwrap_err(),
            Refusal::InsufficientReserved { reserved: 0 }
        );
        assert_eq!(
            LevelChange::Reserve(q(1)).apply(None).unwrap_err(),
            Refusal::NoLevel
        );
    }

    #[test]
    fn deltas_match_the_applied_change() {
        let start = level(20, 2, 9);
        for change in [
            LevelChange::Withdraw(q(3)),
            LevelChange::Receive {
                quantity: q(4),
                from_in_transit: true,
            },
            LevelChange::Expect(q(2)),
            LevelChange::Restock(q(1)),
            LevelChange::Record,
            LevelChange::Reserve(q(5)),
            LevelChange::Unreserve(q(2)),
            LevelChange::Commit {
                take: 1,
                held: q(2),
            },
        ] {
            let after = change.apply(start).unwrap();
            let d = change.delta().unwrap();
            let s = start.unwrap();
            assert_eq!(after.reserved - s.reserved, d.reserved, "{change:?}");
            assert_eq!(
                after.available,
                after.on_hand - after.reserved,
                "{change:?}"
            );
            assert_eq!(after.on_hand - s.on_hand, d.on_hand, "{change:?}");
            assert_eq!(after.available - s.available, d.available, "{change:?}");
            assert_eq!(after.in_transit - s.in_transit, d.in_transit, "{change:?}");
        }
    }
}

/// What one unit of a SKU cost, for inventory value: an exact decimal amount (at most 4 decimal
/// places, 0 to 1,000,000,000) in an ISO 4217 currency.
/// Longest lead time a SKU's supply facts may give, in days.
pub const MAX_LEAD_DAYS: u32 = 365;

/// Where a SKU is bought and how: all optional. `lead_time_by_location` overrides the lead time
/// for a location (a warehouse further from the supplier).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_time_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_order_qty: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_size: Option<u32>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub lead_time_by_location: std::collections::BTreeMap<String, u32>,
}

impl SupplyFacts {
    /// The lead time at `location`: its override, else the SKU's.
    pub fn lead_time_at(&self, location: &str) -> Option<u32> {
        self.lead_time_by_location
            .get(location)
            .copied()
            .or(self.lead_time_days)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitCost {
    /// The amount in ten-thousandths.
    #[serde(skip)]
    pub ten_thousandths: i64,
    /// The amount as written (canonical: no exponent, no trailing zeros after the point).
    pub amount: String,
    pub currency: String,
}

/// Ten-thousandths in a unit.
const COST_SCALE: i64 = 10_000;
const MAX_COST_UNITS: i64 = 1_000_000_000;

impl UnitCost {
    /// Parses a decimal amount (`12`, `12.5`, `0.0125`) and a currency (`EUR`).
    pub fn parse(amount: &str, currency: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let ten_thousandths = Self::parse_amount(amount);
        if ten_thousandths.is_none() {
            errors.push(FieldError::new(
                "unit_cost",
                "must be a number from 0 to 1000000000 with at most 4 decimal places",
            ));
        }
        if !(currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase())) {
            errors.push(FieldError::new(
                "currency",
                "must be an ISO 4217 code such as EUR",
            ));
        }
        match ten_thousandths {
            Some(t) if errors.is_empty() => Ok(Self {
                ten_thousandths: t,
                amount: Self::format(i128::from(t), 4),
                currency: currency.to_owned(),
            }),
            _ => Err(errors),
        }
    }

    fn parse_amount(text: &str) -> Option<i64> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (text.contains('.') && !digits(fraction)) || fraction.len() > 4 {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        if whole > MAX_COST_UNITS {
            return None;
        }
        let fraction: i64 = format!("{fraction:0<4}").parse().ok()?;
        let t = whole * COST_SCALE + fraction;
        (t <= MAX_COST_UNITS * COST_SCALE).then_some(t)
    }

    /// `value` (in 10^-`places` units) as a decimal with no trailing zeros after the point.
    fn format(value: i128, places: u32) -> String {
        let scale = 10i128.pow(places);
        let (sign, v) = if value < 0 {
            ("-", -value)
        } else {
            ("", value)
        };
        let (whole, fraction) = (v / scale, v % scale);
        if fraction == 0 {
            return format!("{sign}{whole}");
        }
        let f = format!("{fraction:0width$}", width = places as usize);
        format!("{sign}{whole}.{}", f.trim_end_matches('0'))
    }

    /// The amount as a JSON number (exactly as written).
    pub fn amount_number(&self) -> serde_json::Number {
        self.amount
            .parse::<serde_json::Number>()
            .unwrap_or_else(|_| serde_json::Number::from(0))
    }

    /// An amount in ten-thousandths as a decimal.
    pub fn format_ten_thousandths(value: i128) -> String {
        Self::format(value, 4)
    }

    /// The value of `units` at this cost, exactly, as a decimal.
    pub fn value_of(&self, units: i64) -> String {
        Self::format(i128::from(units) * i128::from(self.ten_thousandths), 4)
    }
}

#[cfg(test)]
mod cost_tests {
    use super::UnitCost;

    #[test]
    fn a_unit_cost_is_an_exact_decimal_and_values_stock_exactly() {
        let c = UnitCost::parse("12.5", "EUR").unwrap();
        assert_eq!((c.ten_thousandths, c.amount.as_str()), (125_000, "12.5"));
        assert_eq!(c.value_of(3), "37.5");
        assert_eq!(
            UnitCost::parse("0.0125", "USD").unwrap().value_of(7),
            "0.0875"
        );
        assert_eq!(UnitCost::parse("3", "JPY").unwrap().value_of(-2), "-6");
        // 0.1 × 3 is 0.3 exactly, not 0.30000000000000004.
        assert_eq!(UnitCost::parse("0.1", "EUR").unwrap().value_of(3), "0.3");
        assert_eq!(UnitCost::format_ten_thousandths(1_234_567), "123.4567");
        for bad in ["-1", "1.23456", "1e3", "", ".5", "5.", "1000000001", "abc"] {
            let e = UnitCost::parse(bad, "EUR").unwrap_err();
            assert_eq!(e[0].field, "unit_cost", "{bad}");
        }
        for bad in ["eur", "EURO", "E1R", ""] {
            let e = UnitCost::parse("1", bad).unwrap_err();
            assert_eq!(e[0].field, "currency", "{bad}");
        }
    }
}
