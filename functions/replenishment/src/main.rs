//! The replenishment Lambda: on its EventBridge schedule (01:30 UTC) it forecasts every level's
//! demand from its sales history up to the day that just ended, writes each level's plan
//! (reorder point, suggested order) and the day's replenishment dataset to S3. It fails when a
//! shard or a level could not be planned, so its alarm and the retry see it (a rerun the same
//! day is safe). Wires configuration and clients once at init; the work lives in
//! `shared::replenishment`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::{
    clock::Clock,
    config::{init_tracing, load_or_report, replenishment_from_sdk, ReportConfig},
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = load_or_report(ReportConfig::from_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clock = Clock::system();
    let runner = replenishment_from_sdk(&sdk, &config);
    let (runner, clock) = (&runner, &clock);
    run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let report = runner.run(clock.now()).await;
        tracing::info!(
            dt = %report.dt,
            levels = report.levels,
            planned = report.planned,
            to_order = report.to_order,
            failed = report.failed,
            shards_failed = report.shards_failed.len(),
            "replenishment run"
        );
        if report.failed > 0 || !report.shards_failed.is_empty() {
            return Err(Error::from(format!(
                "{} levels and {} shards not planned: {}",
                report.failed,
                report.shards_failed.len(),
                json!(report)
            )));
        }
        Ok::<Value, Error>(json!(report))
    }))
    .await
}
