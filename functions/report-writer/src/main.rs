//! The report-writer Lambda: on its EventBridge schedule (00:15 UTC) it writes the reports of the
//! day that just ended (reports only: the alert clock evaluates the time-based rules). Invoked with
//! `{"day": "YYYY-MM-DD"}` it (re)writes that day instead. On its morning schedule (01:00 UTC,
//! `{"check": true}`) it only checks that the night's report is committed, and says so in the
//! `ReportMissing` metric its alarm watches. The work lives in `shared::report_writer`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_report_writer().await
}
