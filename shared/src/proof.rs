//! Proving one level against its ledger (pure): from a start (an empty level, or a checkpoint
//! proved before), the ledger's entries in the order they changed the level must chain (each
//! starts where the one before ended) and add up to the level as it is. Any difference is drift:
//! a level edited outside the API, an entry lost or written twice, an entry missing for the
//! level's last change.

use serde::Serialize;

use crate::domain::Quantities;

/// How long a level's last change may wait for its ledger entry (written from the stream) before
/// the missing entry counts as drift.
pub const LEDGER_GRACE_MS: i64 = 5 * 60_000;

/// One ledger entry of a level, as reconciliation reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerStep {
    /// The entry's sort key in its SKU's ledger (`<at>#<movement>#<line>`).
    pub sort: String,
    pub movement_id: String,
    pub kind: String,
    pub at: String,
    /// The level's version after the entry (absent on entries written before versions were).
    pub version: Option<i64>,
    /// The movement line the level named (`last_movement`) when it made this change.
    pub movement: Option<String>,
    pub before: Quantities,
    pub after: Quantities,
}

/// The level as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelNow {
    pub quantities: Quantities,
    pub version: i64,
    pub last_movement: String,
    pub updated_ms: i64,
}

/// Where a level's proof starts: an empty level, or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Start {
    pub quantities: Quantities,
    pub version: i64,
    /// The sort key of the last entry proved (empty: from the ledger's beginning).
    pub sort: String,
}

/// Where an entry does not start where the level stood before it: an entry lost in between, or
/// the level changed outside the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub movement_id: String,
    pub kind: String,
    pub at: String,
    pub version: Option<i64>,
    /// Where the level stood after the entry before it (or at the start).
    pub expected_before: Quantities,
    /// Where this entry says it started.
    pub before: Quantities,
}

/// What the proof of one level found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Finding {
    /// The ledger adds up to the level: the level's new checkpoint.
    Clean {
        #[serde(skip)]
        checkpoint: Start,
        entries: usize,
    },
    /// The level's last change has no ledger entry yet (the stream is a moment behind).
    Behind {
        version: i64,
    },
    Drift(Drift),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub level: Quantities,
    /// What the ledger adds up to.
    pub ledger: Quantities,
    /// level − ledger.
    pub difference: Quantities,
    pub entries: usize,
    pub gaps: Vec<Gap>,
    /// The level's last change (its `version`) has no ledger entry, long past the grace.
    pub missing_last_entry: bool,
}

fn plus(a: Quantities, b: Quantities) -> Quantities {
    Quantities {
        on_hand: a.on_hand + b.on_hand,
        reserved: a.reserved + b.reserved,
        in_transit: a.in_transit + b.in_transit,
        available: a.available + b.available,
    }
}

fn minus(a: Quantities, b: Quantities) -> Quantities {
    Quantities {
        on_hand: a.on_hand - b.on_hand,
        reserved: a.reserved - b.reserved,
        in_transit: a.in_transit - b.in_transit,
        available: a.available - b.available,
    }
}

/// Proves `level` against its ledger `steps` from `start` (entries at or before the start's
/// version, or newer than the level as read, are left out).
pub fn check(start: &Start, steps: &[LedgerStep], level: &LevelNow, now_ms: i64) -> Finding {
    let mut steps: Vec<&LedgerStep> = steps
        .iter()
        .filter(|s| match s.version {
            Some(v) => v > start.version && v <= level.version,
            // Written before versions were: after the start's entry (a run reads a little
            // before its checkpoint again).
            None => s.sort > start.sort,
        })
        .collect();
    // In the order they changed the level: by version (entries without one, written before
    // versions were recorded, by time and before every versioned one).
    steps.sort_by(|a, b| {
        (a.version.is_some(), a.version, &a.sort).cmp(&(b.version.is_some(), b.version, &b.sort))
    });
    let caught_up = level.version == start.version
        || steps.iter().any(|s| {
            s.version == Some(level.version) || s.movement.as_deref() == Some(&level.last_movement)
        });
    if !caught_up && now_ms - level.updated_ms < LEDGER_GRACE_MS {
        return Finding::Behind {
            version: level.version,
        };
    }
    let mut running = start.quantities;
    let mut gaps = Vec::new();
    for s in &steps {
        // Entries written before versions chain by time only, which concurrent writers can
        // interleave: only versioned ones are held to the chain.
        if s.version.is_some() && s.before != running {
            gaps.push(Gap {
                movement_id: s.movement_id.clone(),
                kind: s.kind.clone(),
                at: s.at.clone(),
                version: s.version,
                expected_before: running,
                before: s.before,
            });
        }
        running = plus(running, minus(s.after, s.before));
    }
    let difference = minus(level.quantities, running);
    let clean = difference == Quantities::default() && gaps.is_empty() && caught_up;
    if clean {
        return Finding::Clean {
            checkpoint: Start {
                quantities: level.quantities,
                version: level.version,
                sort: steps
                    .iter()
                    .map(|s| s.sort.as_str())
                    .max()
                    .unwrap_or(&start.sort)
                    .to_owned(),
            },
            entries: steps.len(),
        };
    }
    Finding::Drift(Drift {
        level: level.quantities,
        ledger: running,
        difference,
        entries: steps.len(),
        gaps,
        missing_last_entry: !caught_up,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(on_hand: i64, reserved: i64) -> Quantities {
        Quantities {
            on_hand,
            reserved,
            in_transit: 0,
            available: on_hand - reserved,
        }
    }

    fn step(version: i64, before: Quantities, after: Quantities) -> LedgerStep {
        LedgerStep {
            sort: format!("2026-12-07T08:00:{version:02}.000Z#mv_{version}#00"),
            movement_id: format!("mv_{version}"),
            kind: "sale".into(),
            at: format!("2026-12-07T08:00:{version:02}.000Z"),
            version: Some(version),
            movement: Some(format!("MOV#{version}|LINE#00")),
            before,
            after,
        }
    }

    fn level(quantities: Quantities, version: i64) -> LevelNow {
        LevelNow {
            quantities,
            version,
            last_movement: format!("MOV#{version}|LINE#00"),
            updated_ms: 0,
        }
    }

    #[test]
    fn a_ledger_that_chains_to_the_level_is_clean_and_moves_the_checkpoint() {
        let steps = [
            step(2, q(10, 0), q(7, 0)),
            step(1, q(0, 0), q(10, 0)),
            step(3, q(7, 0), q(7, 2)),
        ];
        match check(&Start::default(), &steps, &level(q(7, 2), 3), 0) {
            Finding::Clean {
                checkpoint,
                entries,
            } => {
                assert_eq!(entries, 3);
                assert_eq!((checkpoint.version, checkpoint.quantities), (3, q(7, 2)));
                assert!(checkpoint.sort.contains("mv_3"));
                // From that checkpoint, nothing new is still clean.
                let again = check(&checkpoint, &steps, &level(q(7, 2), 3), 0);
                assert!(matches!(again, Finding::Clean { entries: 0, .. }));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_hand_edit_a_lost_entry_and_a_missing_last_entry_are_drift() {
        let steps = [step(1, q(0, 0), q(10, 0)), step(2, q(10, 0), q(7, 0))];
        // Edited by hand from 7 to 9: the level is 2 over what its ledger adds up to.
        let Finding::Drift(d) = check(&Start::default(), &steps, &level(q(9, 0), 2), 0) else {
            panic!("a hand edit is drift");
        };
        assert_eq!((d.difference.on_hand, d.gaps.len()), (2, 0));
        // The first entry lost: the second starts where nothing ended.
        let Finding::Drift(d) = check(&Start::default(), &steps[1..], &level(q(7, 0), 2), 0) else {
            panic!("a lost entry is drift");
        };
        assert_eq!(d.difference.on_hand, 10);
        assert_eq!(
            (d.gaps[0].movement_id.as_str(), d.gaps[0].expected_before),
            ("mv_2", q(0, 0))
        );
        // The last change's entry never came: behind within the grace, drift after it.
        let now = LEDGER_GRACE_MS - 1;
        let behind = check(&Start::default(), &steps[..1], &level(q(7, 0), 2), now);
        assert_eq!(behind, Finding::Behind { version: 2 });
        let Finding::Drift(d) = check(
            &Start::default(),
            &steps[..1],
            &level(q(7, 0), 2),
            LEDGER_GRACE_MS,
        ) else {
            panic!("a missing last entry is drift");
        };
        assert!(d.missing_last_entry);
    }
}
