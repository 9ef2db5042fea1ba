//! The alert-clock Lambda: on its EventBridge schedule (every minute by default) it does what is
//! owed because time passed, with no stock change: deliveries that came due, reminders, window
//! rules resolving, episodes of changed rules closing, and its share of the time-rule sweep.
//! Wires configuration and clients once at
//! init; the work lives in `shared::alerts::clock`.

use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::{
    alerts::clock::AlertClock,
    clock::Clock,
    config::{
        evaluator_from_sdk, init_tracing, load_or_report, sweep_hours_from_env, EvaluatorConfig,
    },
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = load_or_report(EvaluatorConfig::for_clock_from_env)?;
    let sweep_hours = load_or_report(sweep_hours_from_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let evaluator = Arc::new(evaluator_from_sdk(&sdk, &config, Clock::system()));
    let clock = AlertClock::new(evaluator).with_sweep_hours(sweep_hours);
    let clock = &clock;
    run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let report = clock.tick().await?;
        tracing::info!(
            episodes = report.episodes,
            closed = report.closed_for_rule_change,
            failed = report.failed,
            swept_levels = report.sweep.levels,
            opened_by_sweep = report.sweep.opened,
            "alert clock tick"
        );
        Ok::<Value, Error>(json!(report))
    }))
    .await
}
