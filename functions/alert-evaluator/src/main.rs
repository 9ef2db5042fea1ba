//! The alert-evaluator Lambda: receives stock-level changes from the table's stream (filtered to
//! stock levels by the event source mapping), drives alert episodes and sends notifications.
//! Wires configuration and clients once at init; the handler lives in `shared::alerts`.

use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::{
    config::{evaluator_from_env, init_tracing, load_or_report, EvaluatorConfig},
    stream::StreamBatch,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = load_or_report(EvaluatorConfig::from_env)?;
    let evaluator = evaluator_from_env(&config).await;
    let evaluator = &evaluator;
    run(service_fn(
        move |event: LambdaEvent<StreamBatch>| async move {
            Ok::<DynamoDbEventResponse, Error>(evaluator.handle(event.payload).await)
        },
    ))
    .await
}
