//! The stock-query Lambda: every read: SKUs with their levels, locations, ledgers.
//! The handler lives in `shared::api`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_stock_query().await
}
