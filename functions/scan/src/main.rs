//! Lambda entry point: settings and clients once per cold start, then one `handle` per event.

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use livepatch_shared::{aws, config};
use scan::{handle, Clients, Settings};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env(&config::process_env()).inspect_err(|e| {
        tracing::error!(error = %e, "refusing to start");
    })?;
    let sdk = aws::sdk_config(5).await;
    let clients = Clients {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (clients, settings) = (&clients, &settings);
        async move {
            let outcome = handle(clients, settings, &event.payload).await.map_err(|e| {
                tracing::error!(request_id = %event.context.request_id, error = %e, "invocation failed");
                Diagnostic::from(e)
            })?;
            serde_json::to_value(outcome).map_err(|e| Diagnostic::from(e.to_string()))
        }
    }))
    .await
}
