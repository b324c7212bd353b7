//! Lambda entry point: settings and clients once per cold start, then one `handle` per event.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    livepatch_shared::function::run(plan_reboots::Settings::from_env, plan_reboots::handle).await
}
