//! Configuration read from the environment variables that `template.yaml` declares, once, at
//! start-up. A missing or malformed variable stops the function with a message naming it.

use aws_sdk_dynamodb::Client;

use crate::store::Store;

/// Every environment variable a stock API function reads (and `template.yaml` declares).
pub const STOCK_API_ENV: &[&str] = &["TABLE_NAME"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Reads a required variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    let value = std::env::var(name).map_err(|_| ConfigError::Missing(name))?;
    if value.trim().is_empty() {
        return Err(ConfigError::Invalid {
            name,
            reason: "empty".into(),
        });
    }
    Ok(value)
}

/// The stock API functions' configuration.
#[derive(Debug, Clone)]
pub struct StockApiConfig {
    pub table_name: String,
}

impl StockApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let table_name = required("TABLE_NAME")?;
        // DynamoDB table names: 3-255 of [A-Za-z0-9_.-].
        let valid = (3..=255).contains(&table_name.len())
            && table_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            return Err(ConfigError::Invalid {
                name: "TABLE_NAME",
                reason: "not a DynamoDB table name".into(),
            });
        }
        Ok(Self { table_name })
    }
}

/// Builds the store from the AWS environment of the function (region, credentials, and
/// `AWS_ENDPOINT_URL` when set) once, at init.
pub async fn store_from_env(config: &StockApiConfig) -> Store {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Store::new(Client::new(&sdk), &config.table_name)
}

/// JSON logs for CloudWatch, level from `RUST_LOG` (default info).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .without_time()
        .try_init();
}
