//! The alerts-api Lambda: alert rules, the alert inbox (acknowledge, resolve) and silences.
//! The handler and its wiring live in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::serve_api(shared::api::Function::AlertsApi).await
}
