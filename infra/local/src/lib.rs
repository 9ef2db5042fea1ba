//! The system without AWS: AWS's DynamoDB Local for DynamoDB and its streams, moto for SNS, SES
//! and S3, the resources of `template.yaml` created in them, and an API Gateway emulation (JWT
//! validation, HTTP API v2 events) that invokes the same handlers Lambda runs. Used by the local
//! stack, the integration tests and the benchmarks.

pub mod batch;
pub mod bench;
pub mod client;
pub mod dynamodb_local;
pub mod gateway;
mod http1;
pub mod jwt;
pub mod moto;
pub mod policy;
pub mod proxy;
pub mod queue;
pub mod runtime_api;
pub mod seed;
pub mod streams;
pub mod system;
pub mod template;

use std::path::PathBuf;

use aws_credential_types::Credentials;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::{dynamodb_local::DynamoDbLocal, moto::Moto};

/// The repository root (where `template.yaml` lives).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// Where the emulated AWS services answer: DynamoDB and DynamoDB Streams on DynamoDB Local, every
/// other service (SNS, SES, S3) on moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub dynamodb: String,
    pub moto: String,
}

impl Endpoints {
    /// The endpoint of the service with this SDK service id (`DynamoDB`, `SNS`, …).
    pub fn for_service(&self, service_id: &str) -> &str {
        match service_id {
            "DynamoDB" | "DynamoDB Streams" => &self.dynamodb,
            _ => &self.moto,
        }
    }

    /// The environment a function binary gets so that the SDK's own endpoint resolution
    /// (`AWS_ENDPOINT_URL` and the service-specific `AWS_ENDPOINT_URL_<SERVICE>`) reaches them.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.moto.clone()),
            ("AWS_ENDPOINT_URL_DYNAMODB".into(), self.dynamodb.clone()),
            (
                "AWS_ENDPOINT_URL_DYNAMODB_STREAMS".into(),
                self.dynamodb.clone(),
            ),
        ]
    }

    /// SDK configuration for the emulators: each client gets its service's endpoint (through the
    /// same service-config hook the SDK uses for `AWS_ENDPOINT_URL_<SERVICE>`), dummy static
    /// credentials, us-east-1.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .service_config(ServiceEndpoints(self.clone()))
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "test", "test", None, None, "emulator",
                )),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }
}

#[derive(Debug)]
struct ServiceEndpoints(Endpoints);

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        (key.profile() == "endpoint_url").then(|| self.0.for_service(key.service_id()).to_owned())
    }
}

/// Both emulators, started together and stopped together (when dropped).
pub struct Emulators {
    pub dynamodb: DynamoDbLocal,
    pub moto: Moto,
}

impl Emulators {
    pub fn start() -> anyhow::Result<Self> {
        let (dynamodb, moto) = std::thread::scope(|s| {
            let dynamodb = s.spawn(DynamoDbLocal::start);
            let moto = Moto::start(0);
            (
                dynamodb.join().expect("DynamoDB Local start-up thread"),
                moto,
            )
        });
        Ok(Self {
            dynamodb: dynamodb?,
            moto: moto?,
        })
    }

    pub fn endpoints(&self) -> Endpoints {
        Endpoints {
            dynamodb: self.dynamodb.endpoint(),
            moto: self.moto.endpoint(),
        }
    }
}

/// SDK configuration with every service at one endpoint (for clients that never call it).
pub fn emulator_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    Endpoints {
        dynamodb: endpoint.to_owned(),
        moto: endpoint.to_owned(),
    }
    .sdk_config()
}

/// An S3 client that addresses buckets by path, as moto serves them.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}
