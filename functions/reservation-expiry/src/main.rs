//! The reservation-expiry Lambda: every minute (its EventBridge schedule) it gives back the
//! checkout holds whose time ran out, then waits for the holds due before its next start and
//! gives each back at its time, so no hold outlives its `expires_at` by more than seconds.
//! `{"window_seconds": N}` sets how long one run watches (default 55, at most 60; 0: one pass).
//! The work lives in `shared::reservations::expiry`.
//! Configuration and clients are built once at init by `shared::lambda`.

#[tokio::main]
async fn main() -> Result<(), shared::lambda::Error> {
    shared::lambda::run_reservation_expiry().await
}
