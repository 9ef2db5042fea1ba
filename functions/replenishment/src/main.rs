//! The replenishment Lambda: on its EventBridge schedule (01:30 UTC) it forecasts every level's
//! demand from its sales history up to the day that just ended, writes each level's plan
//! (reorder point, suggested order) and the day's replenishment dataset to S3. It fails when a
//! shard or a level could not be planned, so its alarm and the retry see it (a rerun the same
//! day is safe). The work lives in `shared::replenishment`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_replenishment().await
}
