//! The alert-clock Lambda: on its EventBridge schedule (every minute by default) it does what is
//! owed because time passed, with no stock change: deliveries that came due, reminders, window
//! rules resolving, episodes of changed rules closing, and its share of the time-rule sweep.
//! The work lives in `shared::alerts::clock`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_alert_clock().await
}
