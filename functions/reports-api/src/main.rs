//! The reports-api Lambda: the days that have analyst reports, and one day's manifest with
//! short-lived presigned download URLs. Reads the reports bucket only (no table access).

use lambda_http::{run, service_fn, Error, Request};
use shared::{
    api::{App, Function, ReportsBucket},
    config::{init_tracing, load_or_report, s3_client, ReportsApiConfig},
    store::Store,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = load_or_report(ReportsApiConfig::from_env)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let s3 = s3_client(&sdk);
    // The reports routes never touch the table; the store is only the shape App expects.
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), "unused");
    let app = App::for_function(store, Function::ReportsApi).with_reports(ReportsBucket {
        s3,
        bucket: config.bucket,
    });
    let app = &app;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(app.handle(req).await)
    }))
    .await
}
