//! Applying an import: its lines as stocktake counts through the movements use case, levels side
//! by side and each level's lines in file order, a refused line reported and the rest applied.

use super::*;

/// Why a line was refused, in the terms of the movement it would have made.
#[derive(Debug)]
pub enum LineRefusal {
    /// The line's fields (each error names its field).
    Validation(Vec<FieldError>),
    /// The line's key was used before for another request (an adjustment sent by hand under it).
    KeyReused,
    /// The store refused the count (an unknown SKU or location, a stale `expected`, ...).
    Movement(MovementError),
}

/// A refused line as its problem `type` and `detail`: the HTTP layer's problem catalogue, handed
/// in by the wiring so that the import speaks of refusals as the API does.
pub type Describe = fn(LineRefusal) -> (String, String);

/// Runs an import may take waiting for its levels' ledgers before the lines still waiting fail.
pub(super) const MAX_RUNS: u64 = 10;

#[derive(Default)]
pub(super) struct Tally {
    pub(super) processed: u64,
    pub(super) applied: u64,
    pub(super) deferred: u64,
    pub(super) failures: Vec<Failure>,
}

impl Tally {
    fn progress(&self) -> crate::stocktake::store::Progress {
        crate::stocktake::store::Progress {
            processed: self.processed,
            applied: self.applied,
            failed: self.failures.len() as u64,
        }
    }
}

pub(super) enum LineError {
    /// Refused for this line alone.
    Refused(LineRefusal),
    /// Counted before its level's last change, whose ledger entry the stream has not written
    /// yet: applied by a later run (this one does not wait: the stream that writes the entry
    /// may be the one running the import).
    Deferred,
    /// The table, past its retries: the run stops and is tried again.
    Store(StoreError),
}

/// Applies one line as a stocktake adjustment, under the key of (import, line). A replay (the
/// line applied by an earlier run) counts as applied.
pub(super) async fn apply(
    store: &Store,
    import: &crate::stocktake::Import,
    actor: &Actor,
    line: &Line,
    now_text: &str,
) -> Result<(), LineError> {
    let refuse = |e: LineRefusal| LineError::Refused(e);
    if let Some(why) = &line.unreadable {
        return Err(refuse(LineRefusal::Validation(vec![FieldError::new(
            "line",
            why.clone(),
        )])));
    }
    let number = |field: &str, v: &str| {
        v.parse::<i64>()
            .map_err(|_| FieldError::new(field, "must be a whole number"))
    };
    let mut errors = Vec::new();
    let counted = number("counted", &line.counted)
        .map_err(|e| errors.push(e))
        .unwrap_or(0);
    let expected = match &line.expected {
        None => None,
        Some(v) => number("expected", v).map_err(|e| errors.push(e)).ok(),
    };
    let body = AdjustmentBody {
        sku: line.sku.clone(),
        location: line.location.clone(),
        counted,
        expected,
        reason: line
            .reason
            .clone()
            .unwrap_or_else(|| format!("stocktake import {}", import.import_id)),
        reason_code: line.reason_code.clone(),
        counted_at: line.counted_at.clone(),
    };
    // A line without a time was counted when the file was uploaded.
    let uploaded = crate::clock::millis_of(&import.created_at).unwrap_or(0);
    let movement = match body.validate(uploaded) {
        Ok(m) if errors.is_empty() => m,
        Ok(_) => return Err(refuse(LineRefusal::Validation(errors))),
        Err(mut more) => {
            errors.append(&mut more);
            return Err(refuse(LineRefusal::Validation(errors)));
        }
    };
    let key = IdempotencyKey::parse(
        "idempotency-key",
        &format!("stocktake.{}.{}", import.import_id, line.number),
    )
    .map_err(|e| refuse(LineRefusal::Validation(vec![e])))?;
    let channel = Channel {
        path: movements::ADJUSTMENTS_PATH,
        opens_order: false,
    };
    let record = movements::prepare(channel, actor, &key, &body, &movement, now_text.to_owned());
    let mut attempt = 0;
    loop {
        match movements::record_with(store, &movement, &record, Patience::NoWait).await {
            // Applied now, or by an earlier run of this import.
            Ok(_) => return Ok(()),
            Err(RecordError::KeyReused) => return Err(refuse(LineRefusal::KeyReused)),
            Err(RecordError::LedgerBehind) => return Err(LineError::Deferred),
            Err(RecordError::Movement(MovementError::Store(e)))
                if e.is_retryable() && attempt < 4 =>
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            Err(RecordError::Movement(MovementError::Store(e))) => return Err(LineError::Store(e)),
            Err(RecordError::Movement(e)) => return Err(refuse(LineRefusal::Movement(e))),
        }
    }
}

/// Runs the stocktake imports queued on the table's stream: the stream projector hands it each
/// record of a queued import (new, or queued again after it stopped).
pub struct ImportWorker {
    pub stocktakes: Stocktakes,
    pub store: Store,
    pub clock: crate::clock::Clock,
    describe: Describe,
}

impl ImportWorker {
    pub fn new(store: Store, clock: crate::clock::Clock, describe: Describe) -> Self {
        Self {
            stocktakes: Stocktakes::new(&store),
            store,
            clock,
            describe,
        }
    }

    /// Applies the import a stream record queued; a record of anything else is passed over. An
    /// error (the table unavailable past its retries) leaves the import running: the record is
    /// retried, and the next run replays what was done and applies the rest.
    pub async fn run_queued(&self, record: &serde_json::Value) -> Result<(), StoreError> {
        let image = &record["dynamodb"]["NewImage"];
        if image["entity"]["S"] != entity::IMPORT || image["status"]["S"] != "queued" {
            return Ok(());
        }
        let Some(id) = image["import_id"]["S"].as_str() else {
            return Ok(());
        };
        let now = self.clock.now();
        let Some(import) = self.stocktakes.get(id).await? else {
            // Gone (expired, or removed by hand): nothing left to apply.
            tracing::warn!(import = id, "stocktake import is gone; skipped");
            return Ok(());
        };
        match self
            .stocktakes
            .apply_all(
                &self.store,
                self.describe,
                import,
                now,
                &self.clock.rfc3339(),
            )
            .await
        {
            Ok(done) => {
                tracing::info!(
                    import = id,
                    lines = done.lines,
                    applied = done.applied,
                    failed = done.failed,
                    "stocktake import done"
                );
                Ok(())
            }
            Err(e) => {
                tracing::error!(import = id, error = %e, "stocktake import stopped; retried");
                Err(e)
            }
        }
    }
}

impl Stocktakes {
    /// Applies an import's lines (see the module's notes); a finished import is left as it is.
    /// An error (the table unavailable past the retries) leaves the import running: the next
    /// run applies what is left and replays what was done.
    pub(super) async fn apply_all(
        &self,
        store: &Store,
        describe: Describe,
        import: Import,
        now: i64,
        now_text: &str,
    ) -> Result<Import, StoreError> {
        let id = import.import_id.as_str();
        if import.status == "done" {
            return Ok(import);
        }
        let lines: Vec<Line> = self.imports.lines(&import).await?;
        let mut tally = Tally::default();
        self.imports
            .progress(id, "running", tally.progress(), ("started_at", now_text))
            .await?;
        // Lines of one level in file order; levels side by side.
        let mut by_level: BTreeMap<(String, String), Vec<Line>> = BTreeMap::new();
        for line in lines {
            by_level
                .entry((line.sku.clone(), line.location.clone()))
                .or_default()
                .push(line);
        }
        let actor = Actor::system(&import.created_by);
        let mut outcomes = stream::iter(by_level.into_values())
            .map(|level: Vec<Line>| {
                let (actor, import) = (&actor, &import);
                async move {
                    let mut out = Vec::new();
                    let mut deferred = false;
                    for line in level {
                        // A level's lines keep their order: after a deferred one, the rest wait.
                        let outcome = if deferred {
                            Err(LineError::Deferred)
                        } else {
                            apply(store, import, actor, &line, now_text).await
                        };
                        deferred = matches!(outcome, Err(LineError::Deferred));
                        out.push((line, outcome));
                    }
                    out
                }
            })
            .buffer_unordered(AT_ONCE);
        let mut since = 0;
        while let Some(done) = outcomes.next().await {
            for (line, outcome) in done {
                tally.processed += 1;
                since += 1;
                let refusal = match outcome {
                    Ok(()) => {
                        tally.applied += 1;
                        continue;
                    }
                    Err(LineError::Deferred) if import.runs < MAX_RUNS => {
                        tally.deferred += 1;
                        continue;
                    }
                    Err(LineError::Store(e)) => return Err(e),
                    Err(LineError::Refused(refusal)) => refusal,
                    Err(LineError::Deferred) => LineRefusal::Movement(MovementError::Store(
                        StoreError::Busy(format!(
                            "the ledger of {} at {} stayed behind its stock through {MAX_RUNS} runs; upload the line again",
                            line.sku, line.location
                        )),
                    )),
                };
                let (problem, detail) = describe(refusal);
                tally.failures.push(Failure {
                    line: line.number,
                    sku: line.sku.clone(),
                    location: line.location.clone(),
                    problem,
                    detail,
                });
            }
            if since >= PROGRESS_EVERY {
                since = 0;
                self.imports
                    .progress(id, "running", tally.progress(), ("started_at", now_text))
                    .await?;
            }
        }
        if tally.deferred > 0 {
            // Queued again: the new run starts behind the stream records now waiting, so the
            // ledger has caught up by then; it replays the lines applied and applies the rest.
            tracing::info!(
                import = id,
                deferred = tally.deferred,
                "stocktake lines wait for their ledger; import queued again"
            );
            self.imports.requeue(id).await?;
            return self
                .get(id)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("import {id} vanished")));
        }
        tally.failures.sort_by_key(|f| f.line);
        self.imports
            .put_failures(id, &tally.failures, now + KEEP_SECONDS)
            .await?;
        self.imports
            .progress(id, "done", tally.progress(), ("finished_at", now_text))
            .await?;
        self.get(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("import {id} vanished")))
    }
}
