//! The whole system on the emulators: the resources of template.yaml (table on DynamoDB Local; ops
//! topic, sender identity and reports bucket on moto), the API behind the gateway emulation, and
//! the table stream's two readers behind their pollers: the projector (ledger, listing,
//! replenishment list, stocktake imports) and the alert evaluator. Used by the local stack and the
//! tests.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use shared::{
    alerts::{clock::AlertClock, evaluator::Evaluator},
    api::ReportsBucket,
    clock::Clock,
    config::{evaluator_from_sdk, EvaluatorConfig, ReportConfig},
    store::{RequestCounter, Store},
};

use crate::{
    gateway::{Gateway, GatewayHandle},
    jwt::JwtKey,
    project_root,
    streams::{StreamPoller, StreamReader},
    template::Template,
    Endpoints,
};

/// The address alerts are sent from locally (verified in the emulator's SES).
pub const LOCAL_SENDER: &str = "alerts@inventory.local";

/// What to start.
pub struct Options {
    /// Table and topic names (unique per test).
    pub name: String,
    pub listen: SocketAddr,
    pub key: JwtKey,
    /// How long the evaluator reuses loaded rules (0: reload for every batch).
    pub rule_cache: Duration,
    /// The first backoff of the evaluator's SNS and SES retries (short in tests).
    pub notify_backoff: Duration,
    /// How long one SNS or SES attempt may take (short in tests that make them hang).
    pub notify_timeout: Duration,
    pub clock: Clock,
    /// When set, `clock` reads the system time plus this offset (seconds) and the gateway serves
    /// `POST /_local/clock` to move it (the local stack).
    pub clock_offset: Option<Arc<std::sync::atomic::AtomicI64>>,
    /// Counts the API's DynamoDB requests.
    pub counter: Option<RequestCounter>,
    /// Serves the admin console (`console/` of the project) under `/console/`, with this value as
    /// its `config.json`.
    pub console: Option<serde_json::Value>,
}

impl Options {
    pub fn new(name: impl Into<String>, listen: SocketAddr, key: JwtKey) -> Self {
        Self {
            name: name.into(),
            listen,
            key,
            rule_cache: Duration::from_secs(0),
            notify_backoff: shared::config::NOTIFY_BACKOFF,
            notify_timeout: shared::config::NOTIFY_TIMEOUT,
            clock: Clock::system(),
            clock_offset: None,
            counter: None,
            console: None,
        }
    }

    /// As [`new`](Self::new), listening on a free port of the loopback interface.
    pub fn loopback(name: impl Into<String>, key: JwtKey) -> Self {
        Self::new(name, SocketAddr::from(([127, 0, 0, 1], 0)), key)
    }
}

/// A running system.
pub struct System {
    pub gateway: GatewayHandle,
    /// The alert evaluator's stream mapping (stock levels).
    pub poller: StreamPoller,
    /// The stream projector's mapping (stock levels and queued stocktake imports).
    pub projector_poller: StreamPoller,
    pub evaluator: Arc<Evaluator>,
    /// The alert clock's work (the local stack runs it on a ticker).
    pub alert_clock: Arc<AlertClock>,
    /// The reservation-expiry function's work (the local stack runs it on a ticker).
    pub expiry: Arc<shared::reservations::expiry::ExpirySweep>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sdk: aws_config::SdkConfig,
    pub endpoints: Endpoints,
    pub table: String,
    pub topic_arn: String,
    pub bucket: String,
    /// The report writer: coordinator, task queue and worker (the local stack runs it on a
    /// ticker and on demand).
    pub reports: Arc<crate::batch::Reports>,
    /// The reconciler: coordinator, task queue and worker (the local stack runs it with the
    /// reports).
    pub reconciliation: Arc<crate::batch::Reconciliation>,
    /// The replenishment function: coordinator, task queue and worker (the local stack runs it
    /// with the reports).
    pub replenishment: Arc<crate::batch::Replenishment>,
}

impl System {
    /// Hands everything on the stream to both its readers, the projector first (as Lambda would,
    /// in whatever order; the tests and benchmarks want the projections written before they look).
    pub async fn drain_stream(&mut self) -> anyhow::Result<usize> {
        self.projector_poller.drain().await?;
        self.poller.drain().await
    }

    /// Writes `items` into the table with `BatchWriteItem`, 25 at a time, sending again whatever
    /// DynamoDB leaves unprocessed (benchmarks seed their data with it).
    pub async fn put_all(
        &self,
        items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
    ) -> anyhow::Result<()> {
        crate::seed::put_all(&self.dynamodb, &self.table, items).await
    }

    pub async fn start(endpoints: &Endpoints, options: Options) -> anyhow::Result<Self> {
        let sdk = endpoints.sdk_config();
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let template = Template::load(&project_root().join("template.yaml"))?;
        let table = options.name.clone();
        template
            .create_table(&dynamodb, "InventoryTable", &table)
            .await?;

        let topic_arn = aws_sdk_sns::Client::new(&sdk)
            .create_topic()
            .name(format!("{}-ops-alerts", options.name))
            .send()
            .await
            .context("CreateTopic")?
            .topic_arn
            .context("topic without ARN")?;
        aws_sdk_sesv2::Client::new(&sdk)
            .create_email_identity()
            .email_identity(LOCAL_SENDER)
            .send()
            .await
            .context("CreateEmailIdentity")?;

        let api_client = match &options.counter {
            Some(counter) => aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk)
                    .interceptor(counter.clone())
                    .build(),
            ),
            None => dynamodb.clone(),
        };
        let bucket = format!("{}-reports", options.name.to_ascii_lowercase());
        let s3 = crate::s3_client(&sdk);
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .context("CreateBucket")?;
        let mut gateway = Gateway::new(
            template.routes(),
            Store::new(api_client, &table),
            options.key,
        )
        .with_reports(ReportsBucket::new(s3, bucket.clone()))
        .with_clock(options.clock.clone());
        if let Some(config) = options.console {
            gateway = gateway.with_console(project_root().join("console"), config);
        }

        let report_config = ReportConfig {
            table_name: table.clone(),
            bucket: bucket.clone(),
        };
        let reports = Arc::new(
            crate::batch::reports(
                &sdk,
                &template,
                &report_config,
                options.clock.clone(),
                &options.name,
            )
            .await?,
        );
        let replenishment = Arc::new(
            crate::batch::replenishment(
                &sdk,
                &template,
                &report_config,
                options.clock.clone(),
                &options.name,
            )
            .await?,
        );
        let reconciliation = Arc::new(
            crate::batch::reconciliation(
                &sdk,
                &template,
                &report_config,
                options.clock.clone(),
                &options.name,
            )
            .await?,
        );
        let config = EvaluatorConfig {
            table_name: table.clone(),
            topic_arn: topic_arn.clone(),
            sender_email: LOCAL_SENDER.into(),
            rule_cache: options.rule_cache,
            notify_backoff: options.notify_backoff,
            notify_timeout: options.notify_timeout,
        };
        let evaluator = Arc::new(evaluator_from_sdk(&sdk, &config, options.clock.clone()));
        let alert_clock = Arc::new(AlertClock::new(evaluator.clone()));
        let expiry = Arc::new(shared::reservations::expiry::ExpirySweep::new(
            Store::new(dynamodb.clone(), &table),
            options.clock.clone(),
        ));
        let projector = Arc::new(shared::config::projector(
            shared::store::Store::new(dynamodb.clone(), &table),
            options.clock.clone(),
        ));
        if let Some(offset) = options.clock_offset {
            gateway = gateway.with_clock_control(offset, options.clock, alert_clock.clone());
        }
        let gateway = gateway
            .serve(options.listen)
            .await
            .with_context(|| format!("listening on {}", options.listen))?;
        let poller = StreamPoller::new(
            StreamReader::for_table(&sdk, &endpoints.dynamodb, &table).await?,
            evaluator.clone(),
            template.stream_mapping("AlertEvaluatorFunction")?,
        );
        let projector_handler: crate::streams::Handler = Arc::new(move |event| {
            let projector = projector.clone();
            Box::pin(async move { projector.handle_json(event).await })
        });
        let projector_poller = StreamPoller::with_handler(
            StreamReader::for_table(&sdk, &endpoints.dynamodb, &table).await?,
            projector_handler,
            template.stream_mapping("StreamProjectorFunction")?,
        );
        Ok(Self {
            gateway,
            poller,
            projector_poller,
            alert_clock,
            expiry,
            evaluator,
            dynamodb,
            sdk,
            endpoints: endpoints.clone(),
            table,
            topic_arn,
            bucket,
            reports,
            reconciliation,
            replenishment,
        })
    }
}
