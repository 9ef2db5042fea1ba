//! The alert-evaluator Lambda: receives stock-level changes from the table's stream (filtered to
//! stock levels by the event source mapping), drives alert episodes and sends notifications.
//! The handler lives in `shared::alerts`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_alert_evaluator().await
}
