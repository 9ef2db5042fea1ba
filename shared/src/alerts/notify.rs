//! Delivery adapters: one SNS publish to the ops topic (with a short SMS text and a full text per
//! protocol, and message attributes subscribers filter on) and one SES email per alert event.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message as EmailMessage};
use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::json;

use super::evaluate::Message;

/// A delivery that failed after the SDK's retries (throttling and 5xx are retried with backoff
/// there).
#[derive(Debug, thiserror::Error)]
#[error("{channel} delivery failed: {message}")]
pub struct NotifyError {
    pub channel: &'static str,
    pub message: String,
    /// The provider refused it for good: retrying never helps (a non-throttling 4xx).
    pub permanent: bool,
}

impl NotifyError {
    /// A send on `channel` that failed as the SDK says.
    fn of<E, R>(
        channel: &'static str,
        err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> Self
    where
        E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: HttpStatus + std::fmt::Debug,
    {
        Self {
            channel,
            permanent: permanent(err),
            message: aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
        }
    }
}

/// Error codes that mean "slow down", whatever their HTTP status.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "SlowDown",
];

/// Whether an SDK error is the provider refusing the request for good: a 4xx that is not
/// throttling. Timeouts, connection failures, throttling and 5xx may pass.
fn permanent<E, R>(err: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> bool
where
    E: aws_sdk_sns::error::ProvideErrorMetadata,
    R: HttpStatus,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let status = e.raw().status_code();
            let throttled = e.err().code().is_some_and(|c| THROTTLING.contains(&c));
            (400..500).contains(&status) && status != 429 && !throttled
        }
        _ => false,
    }
}

/// The HTTP status of a raw response (a trait so the rule above is testable without the SDK's
/// response type).
trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// What subscribers can filter on.
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    pub severity: &'a str,
    pub sku: &'a str,
    pub location: &'a str,
    pub kind: &'a str,
    pub event: &'a str,
}

/// Sends alert messages. Built once at init.
#[derive(Debug, Clone)]
pub struct Notifier {
    sns: aws_sdk_sns::Client,
    topic_arn: String,
    ses: aws_sdk_sesv2::Client,
    sender: String,
}

fn attr(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .expect("data type is set")
}

impl Notifier {
    pub fn new(
        sns: aws_sdk_sns::Client,
        topic_arn: impl Into<String>,
        ses: aws_sdk_sesv2::Client,
        sender: impl Into<String>,
    ) -> Self {
        Self {
            sns,
            topic_arn: topic_arn.into(),
            ses,
            sender: sender.into(),
        }
    }

    /// One publish to the ops topic: SMS subscribers get the short text, email and HTTP
    /// subscribers the full one.
    pub async fn publish(&self, message: &Message, a: Attributes<'_>) -> Result<(), NotifyError> {
        let structured = json!({
            "default": message.body,
            "sms": message.sms,
            "email": message.body,
            "email-json": message.body,
            "http": message.body,
            "https": message.body,
            "sqs": message.body,
        });
        let mut subject: String = message.subject.chars().take(99).collect();
        subject.retain(|c| !c.is_control());
        self.sns
            .publish()
            .topic_arn(&self.topic_arn)
            .message_structure("json")
            .message(structured.to_string())
            .subject(subject)
            .message_attributes("severity", attr(a.severity))
            .message_attributes("sku", attr(a.sku))
            .message_attributes("location", attr(a.location))
            .message_attributes("kind", attr(a.kind))
            .message_attributes("event", attr(a.event))
            .send()
            .await
            .map_err(|e| NotifyError::of("sns", &e))?;
        Ok(())
    }

    /// One email to the rule's recipients.
    pub async fn email(&self, recipients: &[String], message: &Message) -> Result<(), NotifyError> {
        if recipients.is_empty() {
            return Ok(());
        }
        let content = |text: &str| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .expect("data is set")
        };
        self.ses
            .send_email()
            .from_email_address(&self.sender)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(recipients.to_vec()))
                    .build(),
            )
            .content(
                EmailContent::builder()
                    .simple(
                        EmailMessage::builder()
                            .subject(content(&message.subject))
                            .body(Body::builder().text(content(&message.body)).build())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| NotifyError::of("ses", &e))?;
        Ok(())
    }
}
