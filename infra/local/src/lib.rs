//! The system without AWS: a serialised moto emulator, the resources of `template.yaml` created in
//! it, and an API Gateway emulation (JWT validation, HTTP API v2 events) that invokes the same
//! handlers Lambda runs. Used by the local stack, the integration tests and the benchmarks.

pub mod client;
pub mod gateway;
pub mod jwt;
pub mod moto;
pub mod runtime_api;
pub mod streams;
pub mod system;
pub mod template;

use std::path::PathBuf;

use aws_credential_types::Credentials;

/// The repository root (where `template.yaml` lives).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// SDK configuration for the emulator: its endpoint, dummy static credentials, us-east-1.
pub fn emulator_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "emulator",
            )),
        )
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}
