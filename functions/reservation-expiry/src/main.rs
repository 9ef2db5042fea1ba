//! The reservation-expiry Lambda: every minute (its EventBridge schedule) it gives back the
//! checkout holds whose time ran out, then waits for the holds due before its next start and
//! gives each back at its time, so no hold outlives its `expires_at` by more than seconds.
//! `{"window_seconds": N}` sets how long one run watches (default 55, at most 60; 0: one pass).
//! Wires configuration and clients once at init; the work lives in
//! `shared::reservations::expiry`.

use std::time::Duration;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::{
    clock::Clock,
    config::{init_tracing, load_or_report, store_from_env, StockApiConfig},
    reservations::expiry::ExpirySweep,
};

/// How long one run watches for holds falling due, by default.
const WINDOW_SECONDS: u64 = 55;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = load_or_report(StockApiConfig::from_env)?;
    let sweep = ExpirySweep::new(store_from_env(&config).await, Clock::system());
    let sweep = &sweep;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let window = event
            .payload
            .get("window_seconds")
            .and_then(Value::as_u64)
            .unwrap_or(WINDOW_SECONDS)
            .min(60);
        let report = sweep.run_for(Duration::from_secs(window)).await?;
        tracing::info!(
            passes = report.passes,
            due = report.due,
            expired = report.expired,
            skipped = report.skipped,
            failed = report.failed,
            deferred = report.deferred,
            "hold expiry run"
        );
        Ok::<Value, Error>(json!(report))
    }))
    .await
}
