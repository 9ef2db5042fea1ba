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

/// The store on the configured table, with a client built from `sdk` (once, at init).
pub fn store_from_sdk(sdk: &aws_config::SdkConfig, config: &StockApiConfig) -> Store {
    Store::new(Client::new(sdk), &config.table_name)
}

/// The stream projector, its stocktake imports describing refused lines as the API would.
pub fn projector(store: Store, clock: crate::clock::Clock) -> crate::projections::Projector {
    crate::projections::Projector::new(store, clock, crate::api::stocktakes::describe_refusal)
}

/// JSON logs for CloudWatch, level from `RUST_LOG` (default info).
pub fn init_tracing() {
    let filter = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .without_time();
    let _ = if text {
        builder.try_init()
    } else {
        builder.json().try_init()
    };
}

/// The log filter: Lambda's application log level (`AWS_LAMBDA_LOG_LEVEL`, set by the function's
/// `LoggingConfig`) wins, then `RUST_LOG`, then `info`.
pub fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    let lambda = lambda_level.map(|l| match l.to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    });
    match (lambda, rust_log.filter(|r| !r.trim().is_empty())) {
        (Some(level), _) => level.to_owned(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => "info".to_owned(),
    }
}

/// Every environment variable the alert evaluator reads (and `template.yaml` declares).
pub const EVALUATOR_ENV: &[&str] = &[
    "TABLE_NAME",
    "ALERT_TOPIC_ARN",
    "SENDER_EMAIL",
    "RULE_CACHE_SECONDS",
];

/// Every environment variable the alert clock reads (and `template.yaml` declares).
pub const ALERT_CLOCK_ENV: &[&str] = &[
    "TABLE_NAME",
    "ALERT_TOPIC_ARN",
    "SENDER_EMAIL",
    "TIME_RULE_SWEEP_HOURS",
];

/// How many hours the alert clock's time-rule sweep takes to check every stock level once
/// (`TIME_RULE_SWEEP_HOURS`, 1 to 24).
pub fn sweep_hours_from_env() -> Result<u32, ConfigError> {
    required("TIME_RULE_SWEEP_HOURS")?
        .parse()
        .ok()
        .filter(|h| (1..=24).contains(h))
        .ok_or_else(|| ConfigError::Invalid {
            name: "TIME_RULE_SWEEP_HOURS",
            reason: "not a whole number of hours from 1 to 24".into(),
        })
}

/// The alert evaluator's configuration.
#[derive(Debug, Clone)]
pub struct EvaluatorConfig {
    pub table_name: String,
    pub topic_arn: String,
    pub sender_email: String,
    /// How long loaded rules and silences are reused before the next query.
    pub rule_cache: std::time::Duration,
    /// The first backoff of SNS and SES retries (throttling, 5xx), doubled up to 5 attempts.
    pub notify_backoff: std::time::Duration,
    /// How long one SNS or SES attempt may take before it counts as failed (a provider that
    /// hangs); all attempts of one notice together get three times this.
    pub notify_timeout: std::time::Duration,
}

/// SNS and SES retries start at this backoff on Lambda (the SDK's standard).
pub const NOTIFY_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// One SNS or SES attempt gives up after this; a notice's attempts together after three times
/// it (well inside the claim's lease, [`crate::alerts::driver::LEASE_SECONDS`]).
pub const NOTIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl EvaluatorConfig {
    /// The alert clock's: the evaluator's without a rule cache (each tick loads the rules once).
    pub fn for_clock_from_env() -> Result<Self, ConfigError> {
        Self::with_rule_cache(std::time::Duration::ZERO)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let seconds: u64 =
            required("RULE_CACHE_SECONDS")?
                .parse()
                .map_err(|_| ConfigError::Invalid {
                    name: "RULE_CACHE_SECONDS",
                    reason: "not a whole number of seconds".into(),
                })?;
        Self::with_rule_cache(std::time::Duration::from_secs(seconds))
    }

    fn with_rule_cache(rule_cache: std::time::Duration) -> Result<Self, ConfigError> {
        let table_name = StockApiConfig::from_env()?.table_name;
        let topic_arn = required("ALERT_TOPIC_ARN")?;
        if !topic_arn.starts_with("arn:") {
            return Err(ConfigError::Invalid {
                name: "ALERT_TOPIC_ARN",
                reason: "not an SNS topic ARN".into(),
            });
        }
        let sender_email = required("SENDER_EMAIL")?;
        if !sender_email.contains('@') {
            return Err(ConfigError::Invalid {
                name: "SENDER_EMAIL",
                reason: "not an email address".into(),
            });
        }
        Ok(Self {
            table_name,
            topic_arn,
            sender_email,
            rule_cache,
            notify_backoff: NOTIFY_BACKOFF,
            notify_timeout: NOTIFY_TIMEOUT,
        })
    }
}

/// Builds the evaluator from an SDK configuration (once, at init; the local stack passes the
/// emulator's). SNS and SES throttling is retried with exponential backoff by the SDK (up to 5
/// attempts, each bounded by `notify_timeout`); a notice that still fails stays owed for the
/// alert clock.
pub fn evaluator_from_sdk(
    sdk: &aws_config::SdkConfig,
    config: &EvaluatorConfig,
    clock: crate::clock::Clock,
) -> crate::alerts::evaluator::Evaluator {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(config.notify_backoff);
    let timeout = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(config.notify_timeout)
        .operation_attempt_timeout(config.notify_timeout)
        .operation_timeout(config.notify_timeout * 3)
        .build();
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(sdk)
            .retry_config(retry.clone())
            .timeout_config(timeout.clone())
            .build(),
    );
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(sdk)
            .retry_config(retry)
            .timeout_config(timeout)
            .build(),
    );
    crate::alerts::evaluator::Evaluator::new(
        crate::alerts::store::AlertStore::new(Client::new(sdk), &config.table_name),
        crate::alerts::notify::Notifier::new(sns, &config.topic_arn, ses, &config.sender_email),
        config.rule_cache,
        clock,
    )
}

/// Reports a start-up failure to the Lambda Runtime API (`/runtime/init/error`), so the invoke
/// fails with a message naming the cause instead of a bare exit. Outside Lambda (no
/// `AWS_LAMBDA_RUNTIME_API`) it only logs.
pub fn report_init_error(error: &dyn std::fmt::Display) {
    tracing::error!(error = %error, "function failed to start");
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({
        "errorMessage": error.to_string(),
        "errorType": "Runtime.ConfigError",
    })
    .to_string();
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.ConfigError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    use std::io::{Read, Write};
    let sent = std::net::TcpStream::connect(&api).and_then(|mut stream| {
        stream.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        stream.write_all(request.as_bytes())?;
        let mut reply = [0u8; 256];
        let _ = stream.read(&mut reply)?;
        Ok(())
    });
    if let Err(e) = sent {
        tracing::error!(error = %e, "could not report the init error to the runtime API");
    }
}

/// Reads configuration at init; on failure reports it to the runtime and returns the error.
pub fn load_or_report<T>(load: impl FnOnce() -> Result<T, ConfigError>) -> Result<T, ConfigError> {
    load().inspect_err(|e| report_init_error(e))
}

/// Every environment variable the report writer reads (and `template.yaml` declares).
pub const REPORT_WRITER_ENV: &[&str] = &["TABLE_NAME", "REPORTS_BUCKET", "TASK_QUEUE_URL"];

/// The report writer's configuration.
#[derive(Debug, Clone)]
pub struct ReportConfig {
    pub table_name: String,
    pub bucket: String,
}

impl ReportConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let table_name = StockApiConfig::from_env()?.table_name;
        let bucket = required("REPORTS_BUCKET")?;
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid {
            return Err(ConfigError::Invalid {
                name: "REPORTS_BUCKET",
                reason: "not an S3 bucket name".into(),
            });
        }
        Ok(Self { table_name, bucket })
    }
}

/// An S3 client for `sdk`: path-style URLs only against an emulator (an endpoint override is
/// set); on AWS, the default virtual-hosted style.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build(),
    )
}

/// Builds the report writer from an SDK configuration (once, at init).
pub fn report_writer_from_sdk(
    sdk: &aws_config::SdkConfig,
    config: &ReportConfig,
) -> crate::report_writer::ReportWriter {
    let s3 = s3_client(sdk);
    crate::report_writer::ReportWriter::new(
        Client::new(sdk),
        s3,
        &config.table_name,
        &config.bucket,
    )
}

/// The replenishment run, with its clients built from `sdk` (the same table and bucket as the
/// report writer's).
pub fn replenishment_from_sdk(
    sdk: &aws_config::SdkConfig,
    config: &ReportConfig,
) -> crate::replenishment::run::Run {
    crate::replenishment::run::Run {
        dynamodb: Client::new(sdk),
        table: config.table_name.clone(),
        s3: s3_client(sdk),
        bucket: config.bucket.clone(),
    }
}

/// Every environment variable the replenishment function reads (and `template.yaml` declares):
/// the report writer's (the table, the bucket, its task queue).
pub const REPLENISHMENT_ENV: &[&str] = REPORT_WRITER_ENV;
/// Every environment variable the reconciler reads: the table and its task queue.
pub const RECONCILER_ENV: &[&str] = &["TABLE_NAME", "TASK_QUEUE_URL"];

/// A fanned-out job's configuration: its table and the queue of its tasks.
#[derive(Debug, Clone)]
pub struct FanoutConfig {
    pub table_name: String,
    pub queue_url: String,
}

impl FanoutConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let table_name = StockApiConfig::from_env()?.table_name;
        let queue_url = required("TASK_QUEUE_URL")?;
        if !queue_url.starts_with("http") {
            return Err(ConfigError::Invalid {
                name: "TASK_QUEUE_URL",
                reason: "not a queue URL".into(),
            });
        }
        Ok(Self {
            table_name,
            queue_url,
        })
    }
}

/// A fanned-out job's coordinator and worker (of `job`), with clients built from `sdk`.
pub fn fanout<J: crate::fanout::ShardJob>(
    sdk: &aws_config::SdkConfig,
    config: &FanoutConfig,
    clock: crate::clock::Clock,
    job: J,
) -> (crate::fanout::Coordinator, crate::fanout::Worker<J>) {
    let runs = crate::fanout::Runs::new(Client::new(sdk), &config.table_name);
    let queue = crate::fanout::TaskQueue::new(aws_sdk_sqs::Client::new(sdk), &config.queue_url);
    (
        crate::fanout::Coordinator::new(runs.clone(), queue, clock.clone()),
        crate::fanout::Worker::new(job, runs, clock),
    )
}

/// Every environment variable the reports API reads (and `template.yaml` declares).
pub const REPORTS_API_ENV: &[&str] = &["REPORTS_BUCKET"];

/// The reports API's configuration.
#[derive(Debug, Clone)]
pub struct ReportsApiConfig {
    pub bucket: String,
}

impl ReportsApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let bucket = required("REPORTS_BUCKET")?;
        if bucket.len() < 3
            || bucket.len() > 63
            || bucket.contains(|c: char| c.is_ascii_uppercase() || c == '/')
        {
            return Err(ConfigError::Invalid {
                name: "REPORTS_BUCKET",
                reason: "not an S3 bucket name".into(),
            });
        }
        Ok(Self { bucket })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_log_level_wins_then_rust_log_then_info() {
        assert_eq!(log_filter(Some("DEBUG"), Some("warn")), "debug");
        assert_eq!(log_filter(Some("FATAL"), None), "error");
        assert_eq!(
            log_filter(None, Some("shared=debug,warn")),
            "shared=debug,warn"
        );
        assert_eq!(log_filter(None, Some(" ")), "info");
        assert_eq!(log_filter(None, None), "info");
    }
}
