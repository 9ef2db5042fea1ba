//! The alerts-api Lambda: alert rules, the alert inbox (acknowledge, resolve) and silences.
//! Wires configuration and the DynamoDB client once at init; the handler lives in `shared::api`.

use lambda_http::{run, service_fn, Error, Request};
use shared::{
    api::{App, Function},
    config::{init_tracing, store_from_env, StockApiConfig},
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = StockApiConfig::from_env()?;
    let app = App::for_function(store_from_env(&config).await, Function::AlertsApi);
    let app = &app;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(app.handle(req).await)
    }))
    .await
}
