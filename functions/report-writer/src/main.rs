//! The report-writer Lambda: on its EventBridge schedule (00:15 UTC) it writes the reports of the
//! day that just ended (reports only: the alert clock evaluates the time-based rules). Invoked with
//! `{"day": "YYYY-MM-DD"}` it (re)writes that day instead. On its morning schedule (01:00 UTC,
//! `{"check": true}`) it only checks that the night's report is committed, and says so in the
//! `ReportMissing` metric its alarm watches. Wires configuration and clients once at init; the
//! work lives in `shared::report_writer`.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use shared::{
    clock::Clock,
    config::{init_tracing, load_or_report, report_writer_from_sdk, ReportConfig},
    report_writer::ReportWriter,
};

/// The day an event asks for: `day` (on demand), else the day before the scheduled `time`.
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

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = load_or_report(ReportConfig::from_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clock = Clock::system();
    let writer = report_writer_from_sdk(&sdk, &config);
    let (writer, clock) = (&writer, &clock);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = clock.now();
        let day = requested_day(&event.payload, now)?;
        if event.payload.get("check").and_then(Value::as_bool) == Some(true) {
            let committed = writer.check(day).await?;
            return Ok(json!({ "dt": shared::reports::date_of_day(day), "committed": committed }));
        }
        if day > ReportWriter::day_of(now) {
            return Err(Error::from(format!(
                "{} has not begun: a day is written once it has",
                shared::reports::date_of_day(day)
            )));
        }
        let manifest = writer.run(day, now).await?;
        Ok::<Value, Error>(json!(manifest))
    }))
    .await
}
