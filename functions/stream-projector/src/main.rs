//! The stream-projector Lambda: the table stream's first reader. Writes what must never be lost
//! of every stock change (ledger entry, listing band, replenishment list) and runs the stocktake
//! imports queued on the stream; it touches DynamoDB alone. The work lives in
//! `shared::projections`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_stream_projector().await
}
