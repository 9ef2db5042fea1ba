//! The stock-query Lambda: every read: SKUs with their levels, locations, ledgers.
//! The handler and its wiring live in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::serve_api(shared::api::Function::StockQuery).await
}
