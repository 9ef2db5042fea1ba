//! One entry point per function binary: configuration and clients built once at init, then the
//! Lambda runtime serving the function's handler. Each `functions/*/src/main.rs` calls one.

use std::{future::Future, sync::Arc, time::Duration};

use aws_config::SdkConfig;
use aws_lambda_events::streams::DynamoDbEventResponse;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

use crate::{
    alerts::clock::AlertClock,
    api::{App, Function, ReportsBucket},
    clock::Clock,
    config::{
        evaluator_from_sdk, init_tracing, load_or_report, projector, report_writer_from_sdk,
        s3_client, store_from_sdk, sweep_hours_from_env, ConfigError, EvaluatorConfig,
        FanoutConfig, ReportConfig, ReportsApiConfig, StockApiConfig,
    },
    report_writer::ReportWriter,
    reports::date_of_day,
    reservations::expiry::ExpirySweep,
    store::Store,
    stream::StreamBatch,
};

/// The error a function's handler or start-up ends with (the runtime reports it).
pub use lambda_runtime::Error;

/// Start-up common to every function: logs, then its configuration (a failure is reported to the
/// runtime), then the AWS SDK configuration of its environment.
async fn start<C>(load: impl FnOnce() -> Result<C, ConfigError>) -> Result<(C, SdkConfig), Error> {
    init_tracing();
    let config = load_or_report(load)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok((config, sdk))
}

/// Serves every invocation's event payload to `handle`; its answer is the invocation's result.
async fn serve<E, R, F>(handle: impl Fn(E) -> F) -> Result<(), Error>
where
    E: DeserializeOwned,
    R: Serialize,
    F: Future<Output = Result<R, Error>>,
{
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<E>| handle(event.payload),
    ))
    .await
}

/// Serves every HTTP request through [`App::handle`].
async fn serve_http(app: App) -> Result<(), Error> {
    let app = &app;
    lambda_http::run(lambda_http::service_fn(
        move |req: lambda_http::Request| async move { Ok::<_, Error>(app.handle(req).await) },
    ))
    .await
}

/// An API function on the stock table: every request through [`App::handle`].
async fn run_table_api(function: Function) -> Result<(), Error> {
    let (config, sdk) = start(StockApiConfig::from_env).await?;
    serve_http(App::for_function(store_from_sdk(&sdk, &config), function)).await
}

/// stock-command: every write (movements and catalogue changes).
pub async fn run_stock_command() -> Result<(), Error> {
    run_table_api(Function::StockCommand).await
}

/// stock-query: every read of SKUs, levels, locations and ledgers.
pub async fn run_stock_query() -> Result<(), Error> {
    run_table_api(Function::StockQuery).await
}

/// alerts-api: alert rules, the alert inbox and silences.
pub async fn run_alerts_api() -> Result<(), Error> {
    run_table_api(Function::AlertsApi).await
}

/// reports-api: the reports bucket only.
pub async fn run_reports_api() -> Result<(), Error> {
    let (config, sdk) = start(ReportsApiConfig::from_env).await?;
    // The reports routes never touch the table; the store is only the shape App expects.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), "unused");
    let reports = ReportsBucket::new(s3_client(&sdk), config.bucket);
    serve_http(App::for_function(store, Function::ReportsApi).with_reports(reports)).await
}

/// alert-evaluator: stock-level changes from the table's stream, a partial batch failure for the
/// records it could not handle.
pub async fn run_alert_evaluator() -> Result<(), Error> {
    let (config, sdk) = start(EvaluatorConfig::from_env).await?;
    let evaluator = evaluator_from_sdk(&sdk, &config, Clock::system());
    let evaluator = &evaluator;
    serve(|batch: StreamBatch| async move {
        Ok::<DynamoDbEventResponse, Error>(evaluator.handle(batch).await)
    })
    .await
}

/// stream-projector: the table stream's first reader.
pub async fn run_stream_projector() -> Result<(), Error> {
    let (config, sdk) = start(StockApiConfig::from_env).await?;
    let projector = projector(store_from_sdk(&sdk, &config), Clock::system());
    let projector = &projector;
    serve(|batch: StreamBatch| async move {
        Ok::<DynamoDbEventResponse, Error>(projector.handle(batch).await)
    })
    .await
}

/// alert-clock: one tick per scheduled event.
pub async fn run_alert_clock() -> Result<(), Error> {
    let load = || {
        Ok((
            EvaluatorConfig::for_clock_from_env()?,
            sweep_hours_from_env()?,
        ))
    };
    let ((config, sweep_hours), sdk) = start(load).await?;
    let evaluator = Arc::new(evaluator_from_sdk(&sdk, &config, Clock::system()));
    let clock = AlertClock::new(evaluator).with_sweep_hours(sweep_hours);
    let clock = &clock;
    serve(|_event: Value| async move {
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
    })
    .await
}

/// How long one reservation-expiry run watches for holds falling due, by default.
const WINDOW_SECONDS: u64 = 55;

/// reservation-expiry: `{"window_seconds": N}` sets how long one run watches (at most 60).
pub async fn run_reservation_expiry() -> Result<(), Error> {
    let sweep = start_on_table(|store| ExpirySweep::new(store, Clock::system())).await?;
    let sweep = &sweep;
    serve(|event: Value| async move {
        let window = event
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
    })
    .await
}

/// reconciler: on its schedule, the coordinator (records the night's run, queues one task per
/// level shard; with `check`, the morning check: `RunLate`, and a late run resumed); on its
/// queue's messages, the worker (the last task done commits). Drift is not a failure of a task:
/// it is counted (`LedgerDrift`), logged with the entries involved and alarmed.
pub async fn run_reconciler() -> Result<(), Error> {
    let (fanout, sdk) = start(FanoutConfig::from_env).await?;
    let store = store_from_sdk(
        &sdk,
        &StockApiConfig {
            table_name: fanout.table_name.clone(),
        },
    );
    let reconciler = crate::reconcile::Reconciler::new(store, Clock::system());
    let (coordinator, worker) = crate::config::fanout(&sdk, &fanout, Clock::system(), reconciler);
    let (coordinator, worker) = (&coordinator, &worker);
    serve(|event: Value| {
        let job = crate::fanout::Job::Reconciliation;
        let answer: Answer<'_> = Box::pin(start_or_work(coordinator, worker, job, event));
        answer
    })
    .await
}

/// A fanned-out function's answer, boxed: its future, nested in the runtime's, would pass the
/// compiler's query depth limit otherwise (seen on a clean build).
type Answer<'a> = std::pin::Pin<Box<dyn Future<Output = Result<Value, Error>> + Send + 'a>>;

/// A fanned-out function's answer to one event: its queue's (the worker's partial batch
/// failures), else its schedule's (the coordinator's start, or with `check` its morning check).
async fn start_or_work<J: crate::fanout::ShardJob>(
    coordinator: &crate::fanout::Coordinator,
    worker: &crate::fanout::Worker<J>,
    job: crate::fanout::Job,
    event: Value,
) -> Result<Value, Error> {
    if crate::fanout::is_queue_event(&event) {
        let batch = serde_json::from_value(event)?;
        return Ok(json!(worker.handle(batch).await));
    }
    let now = Clock::system().now();
    let (run, parts) = crate::fanout::requested_run(&event, now)?;
    let started = if event.get("check").and_then(Value::as_bool) == Some(true) {
        coordinator.check(job, &run, now, parts).await?
    } else {
        coordinator.start(job, &run, now, parts).await?
    };
    tracing::info!(
        job = job.name(),
        run = %started.run,
        tasks = started.tasks,
        sent = started.sent,
        resumed = started.resumed,
        committed = started.committed,
        "run started"
    );
    Ok(json!(started))
}

/// upgrade: brings the table's data up to this release ([`crate::upgrade`]), for up to 14 minutes
/// an invocation (its timeout is 15); answers `complete: false` when there is more, and the deploy
/// invokes it again. Fails when the table could not be read or written past its retries.
pub async fn run_upgrade() -> Result<(), Error> {
    let upgrader =
        start_on_table(|store| crate::upgrade::Upgrader::new(store, Clock::system())).await?;
    let upgrader = &upgrader;
    serve(|_event: Value| async move {
        let budget = crate::upgrade::Budget::time(std::time::Duration::from_secs(840));
        let report = upgrader.run(budget).await.map_err(Error::from)?;
        tracing::info!(
            from_version = report.from_version,
            version = report.version,
            complete = report.complete,
            pages = report.pages,
            levels_sharded = report.levels_sharded,
            levels_listed = report.levels_listed,
            receipts_indexed = report.receipts_indexed,
            skus_indexed = report.skus_indexed,
            "data upgrade run"
        );
        Ok::<Value, Error>(json!(report))
    })
    .await
}

/// The table's scheduled functions' start-up: their work built on the table alone.
async fn start_on_table<T>(build: impl FnOnce(crate::store::Store) -> T) -> Result<T, Error> {
    let (config, sdk) = start(StockApiConfig::from_env).await?;
    Ok(build(store_from_sdk(&sdk, &config)))
}

/// replenishment: on its schedule, the coordinator (records the day's run and queues its tasks;
/// invoked again, it resumes); on its queue's messages, the worker (one task each, a partial
/// batch failure for those that failed; the last task done commits the run).
pub async fn run_replenishment() -> Result<(), Error> {
    let load = || Ok((ReportConfig::from_env()?, FanoutConfig::from_env()?));
    let ((config, fanout), sdk) = start(load).await?;
    let planner = crate::config::replenishment_from_sdk(&sdk, &config);
    let (coordinator, worker) = crate::config::fanout(&sdk, &fanout, Clock::system(), planner);
    let (coordinator, worker) = (&coordinator, &worker);
    serve(|event: Value| {
        let job = crate::fanout::Job::Replenishment;
        let answer: Answer<'_> = Box::pin(start_or_work(coordinator, worker, job, event));
        answer
    })
    .await
}

/// report-writer: on its schedule, the coordinator of the day the event asks for (records the
/// run, queues one task per level shard; with `check`, the morning check: is the day committed?
/// If not, its run is resumed); on its queue's messages, the worker (the last task done
/// commits the day).
pub async fn run_report_writer() -> Result<(), Error> {
    let load = || Ok((ReportConfig::from_env()?, FanoutConfig::from_env()?));
    let ((config, fanout), sdk) = start(load).await?;
    let writer = report_writer_from_sdk(&sdk, &config);
    let (coordinator, worker) = crate::config::fanout(&sdk, &fanout, Clock::system(), writer);
    let (coordinator, worker) = (&coordinator, &worker);
    serve(|event: Value| async move {
        if crate::fanout::is_queue_event(&event) {
            let batch = serde_json::from_value(event)?;
            return Ok::<Value, Error>(json!(worker.handle(batch).await));
        }
        let now = Clock::system().now();
        let day = requested_day(&event, now)?;
        // A run is named after its day (one run a day; invoked again, it resumes).
        let (run, _) = crate::fanout::requested_run(&event, ReportWriter::as_of(day) - 1)?;
        let job = crate::fanout::Job::Report;
        if event.get("check").and_then(Value::as_bool) == Some(true) {
            let committed = worker.job().check(day).await?;
            if !committed && ReportWriter::admit(day, now).is_ok() {
                coordinator
                    .start(job, &run, ReportWriter::as_of(day), 1)
                    .await?;
            }
            return Ok(json!({ "dt": date_of_day(day), "committed": committed }));
        }
        ReportWriter::admit(day, now)?;
        let started = coordinator
            .start(job, &run, ReportWriter::as_of(day), 1)
            .await?;
        tracing::info!(run = %started.run, sent = started.sent, resumed = started.resumed, "report run started");
        Ok(json!(started))
    })
    .await
}

/// The day a report-writer event asks for: `day` (on demand), else the day before the scheduled
/// `time`, else the day before `now`.
fn requested_day(event: &Value, now: i64) -> Result<i64, String> {
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp())
            .map_err(|_| format!("not an RFC 3339 time: {t}"))
    };
    match (
        event.get("day").and_then(Value::as_str),
        event.get("time").and_then(Value::as_str),
    ) {
        (Some(day), _) => parse(&format!("{day}T00:00:00Z")).map(ReportWriter::day_of),
        (None, Some(scheduled)) => parse(scheduled).map(|t| ReportWriter::day_of(t) - 1),
        (None, None) => Ok(ReportWriter::day_of(now) - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn a_requested_day_wins_over_the_scheduled_time() {
        let event = json!({ "day": "2024-03-10", "time": "2024-05-01T00:15:00Z" });
        assert_eq!(
            requested_day(&event, 0),
            Ok(ReportWriter::day_of(1_710_028_800))
        );
    }

    #[test]
    fn a_scheduled_event_asks_for_the_day_before_its_time() {
        let event = json!({ "time": "2024-03-11T00:15:00Z" });
        assert_eq!(requested_day(&event, 0), Ok(1_710_028_800 / DAY));
    }

    #[test]
    fn an_event_without_day_or_time_asks_for_the_day_before_now() {
        assert_eq!(requested_day(&json!({}), 10 * DAY + 5), Ok(9));
        assert_eq!(requested_day(&json!({ "check": true }), 10 * DAY), Ok(9));
    }

    #[test]
    fn a_day_or_time_that_is_not_rfc_3339_is_refused_with_its_text() {
        assert_eq!(
            requested_day(&json!({ "day": "10/03/2024" }), 0),
            Err("not an RFC 3339 time: 10/03/2024T00:00:00Z".to_owned())
        );
        assert!(requested_day(&json!({ "time": "yesterday" }), 0).is_err());
    }
}
