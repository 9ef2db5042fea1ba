//! The stream-projector Lambda: the table stream's first reader. Writes what must never be lost
//! of every stock change (ledger entry, listing band, replenishment list) and runs the stocktake
//! imports queued on the stream; it touches DynamoDB alone. Wires configuration and clients once
//! at init; the work lives in `shared::projections`.

use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::{
    clock::Clock,
    config::{init_tracing, load_or_report, projector, store_from_env, StockApiConfig},
    stream::StreamBatch,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = load_or_report(StockApiConfig::from_env)?;
    let projector = projector(store_from_env(&config).await, Clock::system());
    let projector = &projector;
    run(service_fn(
        move |event: LambdaEvent<StreamBatch>| async move {
            Ok::<DynamoDbEventResponse, Error>(projector.handle(event.payload).await)
        },
    ))
    .await
}
