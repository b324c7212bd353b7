//! Lambda entry point: settings and clients once per cold start, then one `handle` per event.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    livepatch_shared::function::run(scan::Settings::from_env, scan::handle).await
}
