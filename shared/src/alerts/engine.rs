//! The alert engine's state, built once at init and shared by every trigger: the stores, the
//! notifier, the cached rules and silences, the one clock, and who this process is when it
//! claims a notice. The stream reader ([`super::evaluator`]), the episode driver
//! ([`super::driver`]), the clock ([`super::clock`]) and the sweep ([`super::sweep`]) are its
//! methods and callers, each in its own room above this one.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Mutex;

use super::{
    evaluate::RuleSet,
    notify::Notifier,
    store::{AlertStore, Silence},
};
use crate::{clock::Clock, store::StoreError};

/// A name for this process among the senders of notices: its host, process id and a random part
/// (a Lambda sandbox's pid is often the same in every sandbox).
fn sender_id() -> String {
    let host = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Why one record could not be processed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("malformed stream record: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct RuleCache {
    loaded: Instant,
    rules: Arc<RuleSet>,
    silences: Arc<Vec<Silence>>,
}

/// The evaluator: built once at init, shared by every invocation.
pub struct Evaluator {
    pub(super) store: AlertStore,
    /// Reads stock levels as they are now (the clock's view of a level).
    pub(super) levels: crate::store::Store,
    pub(super) notifier: Notifier,
    refresh: Duration,
    pub(super) clock: Clock,
    cache: Mutex<Option<RuleCache>>,
    /// Who this process is when it claims a notice (see [`super::driver::LEASE_SECONDS`]).
    pub(super) owner: String,
}

impl Evaluator {
    pub fn new(store: AlertStore, notifier: Notifier, refresh: Duration, clock: Clock) -> Self {
        Self {
            levels: crate::store::Store::new(store.client().clone(), store.table()),
            store,
            notifier,
            refresh,
            clock,
            cache: Mutex::new(None),
            owner: sender_id(),
        }
    }

    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    /// Rules and silences, reloaded at most every `refresh` (one query each), never per record.
    pub(super) async fn rules(&self) -> Result<(Arc<RuleSet>, Arc<Vec<Silence>>), StoreError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if c.loaded.elapsed() < self.refresh {
                return Ok((c.rules.clone(), c.silences.clone()));
            }
        }
        let (rules, silences) = self.store.load_rules_and_silences(self.clock.now()).await?;
        let rules = RuleSet::new(rules);
        let entry = RuleCache {
            loaded: Instant::now(),
            rules: Arc::new(rules),
            silences: Arc::new(silences),
        };
        let out = (entry.rules.clone(), entry.silences.clone());
        *cache = Some(entry);
        Ok(out)
    }

    /// The evaluator's clock time (seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
