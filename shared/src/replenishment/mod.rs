//! Replenishment: from each level's daily demand, a forecast of the next [`HORIZON`] days
//! ([`crate::forecast`]), its reorder point and the order to place, per SKU and location.
//!
//! **History.** The level's daily sales ring keeps 32 days; the daily run ([`run`]) carries them
//! into the level's forecast item (`FCST#<sku>` / `LOC#<location>`), which keeps up to
//! [`HISTORY_DAYS`] complete days. Each run appends only the days after the item's last, so a
//! rerun changes nothing and a missed run (up to a month) loses nothing. Days before the level
//! existed are not demand and are not counted.
//!
//! **Plan.** Reorder point = forecast demand over the lead time (+ the day to the next check)
//! plus safety stock (z for the service level × the forecast's error spread over that time);
//! suggested order = up to the demand over lead time plus review period plus safety stock, less
//! available and in transit, in whole packs, at least the minimum order
//! ([`crate::forecast::reorder`]). The reorder point is written onto the level, where
//! `reorder_point` alert rules compare the stock position with it.

pub mod run;
pub mod store;

pub use crate::planning::*;
