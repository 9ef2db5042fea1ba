//! The stocktake-import Lambda: started by a new import on the table's stream (filtered to
//! imports by the event source mapping), applies its lines as stocktake adjustments. Wires
//! configuration and clients once at init; the work lives in `shared::stocktake`.

use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::{
    clock::Clock,
    config::{init_tracing, load_or_report, store_from_env, StockApiConfig},
    stocktake::ImportWorker,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = load_or_report(StockApiConfig::from_env)?;
    let worker = ImportWorker::new(store_from_env(&config).await, Clock::system());
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<DynamoDbEventResponse, Error>(worker.handle_json(event.payload).await)
    }))
    .await
}
