//! The reports-api Lambda: the days that have analyst reports, and one day's manifest with
//! short-lived presigned download URLs. Reads the reports bucket only (no table access).
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_reports_api().await
}
