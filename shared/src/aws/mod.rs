//! Thin adapters over the AWS SDK: pagination, batching, retries and error mapping. No decisions.

pub mod livepatching;
pub mod params;
pub mod results;
pub mod sns;
pub mod ssm;
pub mod tags;
pub mod windows;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_ssm::error::ProvideErrorMetadata;

/// Shared SDK configuration: region, credentials and endpoint from the environment (so
/// `AWS_ENDPOINT_URL` points every client at the local AWS), and standard retries with backoff,
/// which cover throttling.
pub async fn sdk_config(max_attempts: u32) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(max_attempts))
        .load()
        .await
}

/// An SDK date as a `jiff` timestamp (`None` outside jiff's range).
pub(crate) fn to_timestamp(time: &aws_smithy_types::DateTime) -> Option<jiff::Timestamp> {
    jiff::Timestamp::new(time.secs(), time.subsec_nanos() as i32).ok()
}

/// An AWS call that failed after the SDK's retries.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    /// The service's error code (`InvalidInstanceId`, `ThrottlingException`...), when it sent one.
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub(crate) fn from_sdk<E, R>(
        operation: &'static str,
        err: aws_sdk_ssm::error::SdkError<E, R>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
        let message = match err.message() {
            Some(message) => message.to_owned(),
            None => aws_sdk_ssm::error::DisplayErrorContext(&err).to_string(),
        };
        Self {
            operation,
            code,
            message,
        }
    }

    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "ThrottlingException"
                    | "ThrottledException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
            )
        )
    }
}
