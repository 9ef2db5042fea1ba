//! The expiry sweep: every minute (its own schedule), every active hold whose time has come is
//! given back, without waiting for DynamoDB's TTL, which can lag by hours. It reads the sparse
//! `expiry` index shard by shard (`exp_sk` up to now), and expires each hold in its own
//! conditional transaction, so a hold committed or extended meanwhile is left alone and a hold
//! that fails (throttled) is taken again by the next pass. On Lambda one run also waits for the
//! holds due before its next start ([`ExpirySweep::run_for`]), so a hold is given back within
//! seconds of its time, not up to a minute after.

use std::time::Duration;

use futures_util::{future::join_all, stream, StreamExt};
use serde::Serialize;

use super::{Reservations, ReservedLine, EXPIRY_ACTOR};
use crate::{
    clock::Clock,
    schema::keys,
    store::{Store, StoreError},
};

/// Holds expired at once.
const CONCURRENCY: usize = 32;
/// Most holds one pass takes (the next pass takes the rest).
const MAX_PER_PASS: usize = 50_000;
/// How long after its window a run may still start expiries (the function's timeout is 70 s
/// for a 55 s window: 10 s to spare for the last transactions).
pub const RUN_GRACE: Duration = Duration::from_secs(5);

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Passes over the index.
    pub passes: u32,
    /// Holds found due.
    pub due: u64,
    /// Holds this run gave back.
    pub expired: u64,
    /// Holds closed or extended by someone else first.
    pub skipped: u64,
    /// Holds whose expiry failed (retried by the next pass).
    pub failed: u64,
    /// Holds left for the next run: the run's time was up.
    pub deferred: u64,
    /// Shards of the expiry index a pass could not read (their holds wait for the next pass).
    pub shards_failed: u32,
}

impl SweepReport {
    fn add(&mut self, other: &SweepReport) {
        self.passes += other.passes;
        self.due += other.due;
        self.expired += other.expired;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.deferred += other.deferred;
        self.shards_failed += other.shards_failed;
    }
}

/// The sweep over one table, on one clock.
#[derive(Debug, Clone)]
pub struct ExpirySweep {
    reservations: Reservations,
    clock: Clock,
}

impl ExpirySweep {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self {
            reservations: Reservations::new(store),
            clock,
        }
    }

    /// One pass: every hold due at the clock's time now.
    pub async fn sweep(&self) -> Result<SweepReport, StoreError> {
        self.pass(i64::MAX).await
    }

    /// One pass that starts no expiry after `deadline_ms` (the rest wait in the index for the
    /// next pass), so a run ends inside its Lambda timeout whatever the backlog.
    async fn pass(&self, deadline_ms: i64) -> Result<SweepReport, StoreError> {
        let now = self.clock.now_millis();
        let (due, shards_failed) = self.due(now).await?;
        let mut report = SweepReport {
            passes: 1,
            due: due.len() as u64,
            shards_failed,
            ..SweepReport::default()
        };
        let results: Vec<_> = stream::iter(due)
            .map(|(id, lines)| async move {
                if self.clock.now_millis() >= deadline_ms {
                    return Ok(None);
                }
                let r = self
                    .reservations
                    .expire(&id, &lines, EXPIRY_ACTOR, now)
                    .await;
                if let Err(e) = &r {
                    tracing::warn!(reservation = %id, error = %e, "hold expiry failed; the next pass retries it");
                }
                r.map(Some)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for r in results {
            match r {
                Ok(Some(true)) => report.expired += 1,
                Ok(Some(false)) => report.skipped += 1,
                Ok(None) => report.deferred += 1,
                Err(_) => report.failed += 1,
            }
        }
        crate::metrics::emit(
            &[("Function", "reservation-expiry")],
            &[
                (
                    "HoldsExpired",
                    report.expired as f64,
                    crate::metrics::Unit::Count,
                ),
                (
                    "HoldExpiriesFailed",
                    report.failed as f64,
                    crate::metrics::Unit::Count,
                ),
            ],
        );
        Ok(report)
    }

    /// Passes for `window`: one now, then one at each due time of a hold inside the window,
    /// so the holds that fall due before the next scheduled run are given back on time. No
    /// expiry starts later than [`RUN_GRACE`] after the window.
    pub async fn run_for(&self, window: Duration) -> Result<SweepReport, StoreError> {
        let end = self.clock.now_millis() + window.as_millis() as i64;
        let deadline = end + RUN_GRACE.as_millis() as i64;
        let mut report = SweepReport::default();
        loop {
            report.add(&self.pass(deadline).await?);
            let now = self.clock.now_millis();
            match self.next_due(now, end).await? {
                Some(at) if at < end => {
                    tokio::time::sleep(Duration::from_millis((at - now).max(0) as u64 + 20)).await
                }
                _ => return Ok(report),
            }
        }
    }

    /// The active holds due at `now_ms`, with their lines, from every shard of the index (and
    /// how many shards could not be read).
    async fn due(
        &self,
        now_ms: i64,
    ) -> Result<(Vec<(String, Vec<ReservedLine>)>, u32), StoreError> {
        let most = MAX_PER_PASS / keys::EXPIRY_SHARDS as usize;
        let shards = (0..keys::EXPIRY_SHARDS)
            .map(|shard| self.reservations.due_in_shard(shard, now_ms, most));
        // A shard that cannot be read is left to the next pass; the others go on.
        let mut due = Vec::new();
        let mut failed = 0;
        for shard in join_all(shards).await {
            match shard {
                Ok(d) => due.extend(d),
                Err(e) => {
                    failed += 1;
                    tracing::warn!(error = %e, "an expiry index shard could not be read; the next pass reads it");
                    if failed == keys::EXPIRY_SHARDS {
                        return Err(e);
                    }
                }
            }
        }
        Ok((due, failed))
    }

    /// The earliest expiry in `(after_ms, until_ms]` of any active hold.
    async fn next_due(&self, after_ms: i64, until_ms: i64) -> Result<Option<i64>, StoreError> {
        if after_ms >= until_ms {
            return Ok(None);
        }
        let shards = (0..keys::EXPIRY_SHARDS).map(|shard| {
            self.reservations
                .next_due_in_shard(shard, after_ms, until_ms)
        });
        let mut next: Option<i64> = None;
        for shard in join_all(shards).await {
            if let Some(at) = shard? {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        Ok(next)
    }
}
