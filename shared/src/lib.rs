//! The inventory system's library: the pure domain, the DynamoDB store, the HTTP API handlers and
//! the configuration every function reads at start-up and each function's entry point.

pub mod alerts;
pub mod api;
pub mod bucket;
pub mod clock;
pub mod config;
pub mod counters;
pub mod domain;
pub mod fanout;
pub mod fields;
pub mod forecast;
pub mod history;
pub mod lambda;
pub mod levels;
pub mod listing;
pub mod metrics;
pub mod movements;
pub mod planning;
pub mod projections;
pub mod proof;
pub mod reconcile;
pub mod replenishment;
pub mod report_writer;
pub mod reports;
pub mod reservations;
pub mod schema;
pub mod stocktake;
pub mod store;
pub mod stream;
pub mod upgrade;
