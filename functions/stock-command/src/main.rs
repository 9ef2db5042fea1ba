//! The stock-command Lambda: every write: movements (sales, orders, refunds, receipts, incoming,
//! adjustments, transfers) and catalogue changes.
//! The handler and its wiring live in `shared::api`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::config::serve_api(shared::api::Function::StockCommand).await
}
