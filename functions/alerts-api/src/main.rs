//! The alerts-api Lambda: alert rules, the alert inbox (acknowledge, resolve) and silences.
//! The handler lives in `shared::api`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_alerts_api().await
}
