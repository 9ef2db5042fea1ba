//! The alert engine: rules (what to watch), evaluation and the episode state machine (pure),
//! and the adapters that store episodes and deliver notifications.

pub mod clock;
pub mod deliveries;
pub mod driver;
pub mod engine;
pub mod evaluate;
pub mod evaluator;
pub mod notify;
pub mod outage;
pub mod rules;
pub mod store;
pub mod sweep;
