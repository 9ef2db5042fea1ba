//! The stock-command Lambda: every write: movements (sales, orders, refunds, receipts, incoming,
//! adjustments, transfers) and catalogue changes. The handler lives in `shared::api`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_stock_command().await
}
