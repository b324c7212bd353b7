//! Lambda entry point: settings and clients once per cold start, then one `handle` per event.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    livepatch_shared::function::run(enable::Settings::from_env, enable::handle).await
}
