//! The upgrade Lambda: the deploy invokes it until it answers `complete`; it brings the data
//! earlier releases wrote up to what this release's indexes and reports need (a versioned,
//! resumable backfill). The work lives in `shared::upgrade`. Configuration and clients are built
//! once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_upgrade().await
}
