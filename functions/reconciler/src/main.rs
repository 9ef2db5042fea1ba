//! The reconciler Lambda: on its EventBridge schedule (02:30 UTC) it proves every stock level
//! against its ledger from the level's checkpoint, moves the checkpoints of clean levels on, and
//! counts, logs and alarms on drift (`LedgerDrift`). The work lives in `shared::reconcile`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_reconciler().await
}
