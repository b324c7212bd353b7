//! What every function's `main` does: logging set up, settings validated before the first event,
//! clients built once per cold start, then the Lambda runtime loop over the crate's `handle`.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

use crate::config::{process_env, ConfigError, Env, Lookup};

/// The AWS clients every function uses.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ssm: aws_sdk_ssm::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            ssm: aws_sdk_ssm::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
        }
    }
}

/// The clients a function's `handle` takes, built once per cold start from the shared SDK
/// configuration: [`Clients`], or a function's own set when it needs one more service.
pub trait FromSdkConfig {
    fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self;
}

impl FromSdkConfig for Clients {
    fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(sdk)
    }
}

/// Why an invocation failed as a whole. Nothing was written when the event was refused.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("refused event: {0}")]
    Event(#[from] crate::events::EventError),
    #[error("could not read the fleet: {0}")]
    Gather(crate::aws::AwsError),
}

impl Failure for InvocationError {
    fn kind(&self) -> &'static str {
        match self {
            Self::Event(_) => "RefusedEvent",
            Self::Gather(_) => "FleetUnreadable",
        }
    }
}

/// A failure a function reports as a failed invocation; `kind` becomes the Lambda `errorType`,
/// for alarms and log queries.
pub trait Failure: std::fmt::Display {
    fn kind(&self) -> &'static str;
}

/// Runs a function: refuses to start on a bad setting (the error names the variable), then serves
/// every event with `handle`, returning its result as JSON or its failure with its kind.
pub async fn run<C, S, R, E, F, H>(settings: F, handle: H) -> Result<(), lambda_runtime::Error>
where
    C: FromSdkConfig,
    F: FnOnce(&Env<Lookup>) -> Result<S, ConfigError>,
    H: AsyncFn(&C, &S, &Value) -> Result<R, E>,
    R: Serialize,
    E: Failure,
{
    lambda_runtime::tracing::init_default_subscriber();
    let settings = settings(&process_env())
        .inspect_err(|e| tracing::error!(error = %e, "refusing to start"))?;
    let clients = C::from_sdk_config(&crate::aws::sdk_config(5).await);
    let (clients, settings, handle) = (&clients, &settings, &handle);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let outcome = handle(clients, settings, &event.payload).await.map_err(|e| {
            tracing::error!(request_id = %event.context.request_id, error = %e, "invocation failed");
            Diagnostic {
                error_type: e.kind().to_owned(),
                error_message: e.to_string(),
            }
        })?;
        serde_json::to_value(outcome).map_err(|e| Diagnostic::from(e.to_string()))
    }))
    .await
}
