//! Error paths the simulated fleet cannot aim at one call, against mocked SDK clients.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_ssm::config::retry::RetryConfig;
use aws_sdk_ssm::operation::create_maintenance_window::CreateMaintenanceWindowOutput;
use aws_sdk_ssm::operation::delete_maintenance_window::DeleteMaintenanceWindowOutput;
use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
use aws_sdk_ssm::operation::describe_maintenance_windows::DescribeMaintenanceWindowsOutput;
use aws_sdk_ssm::operation::get_inventory::GetInventoryOutput;
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathOutput;
use aws_sdk_ssm::operation::list_command_invocations::ListCommandInvocationsOutput;
use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
use aws_sdk_ssm::operation::send_command::SendCommandOutput;
use aws_sdk_ssm::types::{
    Command, InstanceInformation, InventoryResultEntity, InventoryResultItem, PingStatus,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use enable::{handle, Clients, Settings};
use livepatch_shared::config::Env;
use serde_json::{json, Value};

const A: &str = "i-0a0000000000000a1";
const B: &str = "i-0a0000000000000a2";

fn settings() -> Settings {
    let env = Env(|name: &str| {
        (name == "NOTIFY_TOPIC_ARN").then(|| "arn:aws:sns:us-east-1:123456789012:t".to_owned())
    });
    Settings::from_env(&env).unwrap()
}

fn scheduled() -> Value {
    serde_json::from_str(include_str!("../../../events/scheduled-enable.json")).unwrap()
}

fn al2023(id: &str) -> InstanceInformation {
    InstanceInformation::builder()
        .instance_id(id)
        .ping_status(PingStatus::Online)
        .platform_name("Amazon Linux")
        .platform_version("2023")
        .build()
}

/// Both instances registered (any listing but the opt-out tag's, which finds none).
fn fleet() -> Rule {
    mock!(aws_sdk_ssm::Client::describe_instance_information).then_compute_output(|req| {
        let opt_out = req.filters().iter().any(|f| f.key() == "tag-key");
        let list = if opt_out {
            vec![]
        } else {
            vec![al2023(A), al2023(B)]
        };
        DescribeInstanceInformationOutput::builder()
            .set_instance_information_list(Some(list))
            .build()
    })
}

/// Kernel facts: live patching off on both.
fn facts_off() -> Rule {
    facts(false)
}

/// Kernel facts: live patching on (plugin installed, `kpatch.service` enabled) or off on both.
fn facts(on: bool) -> Rule {
    mock!(aws_sdk_ssm::Client::get_inventory).then_output(move || {
        let entity = |id: &str| {
            let mut content = HashMap::from([
                (
                    "KernelRelease".to_owned(),
                    "6.1.115-126.197.amzn2023.x86_64".to_owned(),
                ),
                ("Arch".to_owned(), "x86_64".to_owned()),
                ("LivePatchPlugin".to_owned(), "absent".to_owned()),
                ("CollectedAt".to_owned(), "2026-12-03T01:00:00Z".to_owned()),
            ]);
            if on {
                content.insert("LivePatchPlugin".to_owned(), "installed".to_owned());
                content.insert("KpatchServiceEnabled".to_owned(), "enabled".to_owned());
                content.insert("KpatchServiceActive".to_owned(), "active".to_owned());
            }
            InventoryResultEntity::builder()
                .id(id)
                .data(
                    "Custom:KernelLivePatch",
                    InventoryResultItem::builder()
                        .type_name("Custom:KernelLivePatch")
                        .schema_version("1.0")
                        .content(content)
                        .build()
                        .unwrap(),
                )
                .build()
        };
        GetInventoryOutput::builder()
            .entities(entity(A))
            .entities(entity(B))
            .build()
    })
}

fn no_history() -> Rule {
    mock!(aws_sdk_ssm::Client::list_command_invocations)
        .then_output(|| ListCommandInvocationsOutput::builder().build())
}

/// No maintenance windows (the daily run looks for finished disable windows to remove).
fn no_windows() -> Rule {
    mock!(aws_sdk_ssm::Client::describe_maintenance_windows)
        .then_output(|| DescribeMaintenanceWindowsOutput::builder().build())
}

/// No instance disabled on request.
fn no_records() -> Rule {
    mock!(aws_sdk_ssm::Client::get_parameters_by_path)
        .then_output(|| GetParametersByPathOutput::builder().build())
}

fn no_commands() -> Rule {
    mock!(aws_sdk_ssm::Client::list_commands).then_output(|| ListCommandsOutput::builder().build())
}

fn ssm_error(code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"simulated {code}"}}"#
        )),
    )
}

fn sent(id: &'static str) -> SendCommandOutput {
    SendCommandOutput::builder()
        .command(Command::builder().command_id(id).build())
        .build()
}

fn published() -> Rule {
    mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("m-1").build())
}

/// Standard retries, three attempts, with a backoff short enough for a test.
fn quick_retries(c: aws_sdk_ssm::config::Builder) -> aws_sdk_ssm::config::Builder {
    c.retry_config(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1)),
    )
}

#[tokio::test]
async fn a_throttled_send_is_retried_with_backoff_and_goes_through() {
    let send = mock!(aws_sdk_ssm::Client::send_command)
        .sequence()
        .http_response(|| ssm_error("ThrottlingException"))
        .times(2)
        .output(|| sent("c-1"))
        .build();
    let rules = [
        fleet(),
        facts_off(),
        no_history(),
        no_commands(),
        no_windows(),
        no_records(),
    ];
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&rules[0], &rules[1], &rules[2], &rules[3], &rules[4], &rules[5], &send],
        quick_retries
    );
    let publish = published();
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let outcome = handle(&Clients { ssm, sns }, &settings(), &scheduled())
        .await
        .unwrap();
    assert_eq!(send.num_calls(), 3);
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let enabled: Vec<(&str, Option<&str>)> = outcome
        .switching
        .iter()
        .map(|s| (s.instance_id.as_str(), s.command_id.as_deref()))
        .collect();
    assert_eq!(enabled, [(A, Some("c-1")), (B, Some("c-1"))]);
    assert_eq!(publish.num_calls(), 1);
}

#[tokio::test]
async fn a_send_that_stays_throttled_is_reported_not_sent_and_the_run_completes() {
    let send = mock!(aws_sdk_ssm::Client::send_command)
        .then_http_response(|| ssm_error("ThrottlingException"));
    let rules = [
        fleet(),
        facts_off(),
        no_history(),
        no_commands(),
        no_windows(),
        no_records(),
    ];
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&rules[0], &rules[1], &rules[2], &rules[3], &rules[4], &rules[5], &send],
        quick_retries
    );
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.subject()
                .is_some_and(|s| s.contains("Live patching commands not sent to 2 instances"))
        })
        .then_output(|| PublishOutput::builder().message_id("m-1").build());
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let outcome = handle(&Clients { ssm, sns }, &settings(), &scheduled())
        .await
        .unwrap();
    assert_eq!(send.num_calls(), 3, "the SDK's retries, then given up");
    assert!(outcome.switching.is_empty());
    assert_eq!(outcome.failed.len(), 1);
    assert_eq!(outcome.failed[0].instance_ids, [A, B]);
    assert!(
        outcome.failed[0].error.contains("ThrottlingException"),
        "{}",
        outcome.failed[0].error
    );
    assert_eq!(publish.num_calls(), 1);
}

#[tokio::test]
async fn an_instance_ssm_refuses_is_sent_alone_so_the_other_still_goes() {
    let send = mock!(aws_sdk_ssm::Client::send_command).then_compute_response(|req| {
        if req.instance_ids().contains(&B.to_owned()) {
            aws_smithy_mocks::MockResponse::Http(ssm_error("InvalidInstanceId"))
        } else {
            aws_smithy_mocks::MockResponse::Output(sent("c-2"))
        }
    });
    let rules = [
        fleet(),
        facts_off(),
        no_history(),
        no_commands(),
        no_windows(),
        no_records(),
    ];
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&rules[0], &rules[1], &rules[2], &rules[3], &rules[4], &rules[5], &send],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let publish = published();
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let outcome = handle(&Clients { ssm, sns }, &settings(), &scheduled())
        .await
        .unwrap();
    assert_eq!(send.num_calls(), 3, "the batch, then each instance alone");
    assert_eq!(outcome.switching.len(), 1);
    assert_eq!(outcome.switching[0].instance_id, A);
    assert_eq!(outcome.failed[0].instance_ids, [B]);
    assert!(outcome.failed[0].error.contains("InvalidInstanceId"));
}

#[tokio::test]
async fn an_unreadable_fleet_fails_the_invocation_before_any_send() {
    let listing = mock!(aws_sdk_ssm::Client::describe_instance_information)
        .then_http_response(|| ssm_error("AccessDeniedException"));
    let send = mock!(aws_sdk_ssm::Client::send_command).then_output(|| sent("never"));
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&listing, &send], |c| c
        .retry_config(RetryConfig::disabled()));
    let sns = mock_client!(aws_sdk_sns, [&published()]);
    let err = handle(&Clients { ssm, sns }, &settings(), &scheduled())
        .await
        .unwrap_err();
    use livepatch_shared::function::Failure;
    assert_eq!(err.kind(), "FleetUnreadable");
    assert!(err.to_string().contains("AccessDeniedException"), "{err}");
    assert_eq!(send.num_calls(), 0);
}

#[tokio::test]
async fn a_disable_window_that_cannot_be_completed_is_removed_and_reported() {
    let on = mock!(aws_sdk_ssm::Client::get_inventory).then_output(|| {
        let content = HashMap::from([
            (
                "KernelRelease".to_owned(),
                "5.10.227-219.884.amzn2.x86_64".to_owned(),
            ),
            ("LivePatchPlugin".to_owned(), "installed".to_owned()),
            ("KpatchServiceEnabled".to_owned(), "enabled".to_owned()),
        ]);
        GetInventoryOutput::builder()
            .entities(
                InventoryResultEntity::builder()
                    .id(A)
                    .data(
                        "Custom:KernelLivePatch",
                        InventoryResultItem::builder()
                            .type_name("Custom:KernelLivePatch")
                            .schema_version("1.0")
                            .content(content)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
    });
    let al2 =
        mock!(aws_sdk_ssm::Client::describe_instance_information).then_compute_output(|req| {
            let opt_out = req.filters().iter().any(|f| f.key() == "tag-key");
            let info = InstanceInformation::builder()
                .instance_id(A)
                .ping_status(PingStatus::Online)
                .platform_name("Amazon Linux")
                .platform_version("2")
                .build();
            DescribeInstanceInformationOutput::builder()
                .set_instance_information_list(Some(if opt_out { vec![] } else { vec![info] }))
                .build()
        });
    let none = mock!(aws_sdk_ssm::Client::describe_maintenance_windows)
        .then_output(|| DescribeMaintenanceWindowsOutput::builder().build());
    let create = mock!(aws_sdk_ssm::Client::create_maintenance_window).then_output(|| {
        CreateMaintenanceWindowOutput::builder()
            .window_id("mw-0123456789abcdef0")
            .build()
    });
    let target = mock!(aws_sdk_ssm::Client::register_target_with_maintenance_window)
        .then_http_response(|| ssm_error("ResourceLimitExceededException"));
    let delete = mock!(aws_sdk_ssm::Client::delete_maintenance_window)
        .match_requests(|r| r.window_id() == Some("mw-0123456789abcdef0"))
        .then_output(|| DeleteMaintenanceWindowOutput::builder().build());
    let send = mock!(aws_sdk_ssm::Client::send_command).then_output(|| sent("never"));
    let history = no_history();
    let records = no_records();
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&al2, &on, &history, &records, &none, &create, &target, &delete, &send],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let publish = published();
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/manual-disable.json")).unwrap();
    event["detail"] = json!({"action": "disable", "instance-ids": [A],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE"});
    let outcome = handle(&Clients { ssm, sns }, &settings(), &event)
        .await
        .unwrap();
    assert_eq!(delete.num_calls(), 1, "the half-made window is removed");
    assert_eq!(send.num_calls(), 0);
    assert!(outcome.booked.is_empty());
    assert_eq!(outcome.failed[0].instance_ids, [A]);
    assert!(outcome.failed[0]
        .error
        .contains("RegisterTargetWithMaintenanceWindow"));
}

#[tokio::test]
async fn a_disable_that_cannot_be_recorded_is_reported_with_what_to_do() {
    let put = mock!(aws_sdk_ssm::Client::put_parameter)
        .then_http_response(|| ssm_error("AccessDeniedException"));
    let send = mock!(aws_sdk_ssm::Client::send_command).then_output(|| sent("c-off"));
    let rules = [
        fleet(),
        facts(true),
        no_history(),
        no_commands(),
        no_windows(),
        no_records(),
    ];
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&rules[0], &rules[1], &rules[2], &rules[3], &rules[4], &rules[5], &put, &send],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            r.message().is_some_and(|m| {
                m.contains("Not remembered (disable record not updated)")
                    && m.contains("AccessDeniedException")
            })
        })
        .then_output(|| PublishOutput::builder().message_id("m-1").build());
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/manual-disable.json")).unwrap();
    event["detail"] = json!({"action": "disable", "instance-ids": [A],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE"});
    let outcome = handle(&Clients { ssm, sns }, &settings(), &event)
        .await
        .unwrap();
    assert_eq!(send.num_calls(), 1, "the disable itself goes out");
    assert_eq!(put.num_calls(), 1);
    assert_eq!(outcome.switching.len(), 1, "{outcome:?}");
    let unrecorded: Vec<&str> = outcome
        .unrecorded
        .iter()
        .map(|f| f.instance_id.as_str())
        .collect();
    assert_eq!(unrecorded, [A]);
    assert!(outcome.unrecorded[0].reason.contains("opt-out tag"));
    assert_eq!(publish.num_calls(), 1, "the message names the failure");
}

#[test]
fn bad_settings_name_their_variable() {
    for (var, value) in [
        ("ENABLE_ALLOW_REBOOT", "sometimes"),
        ("DISABLE_WINDOW_HOUR", "24"),
        ("ENABLE_MAX_CONCURRENCY", "0"),
        ("COMMAND_TIMEOUT_SECONDS", "5"),
        ("DISABLED_RECORDS_PATH", "/aws/reserved"),
    ] {
        let env = Env(move |name: &str| match name {
            "NOTIFY_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:t".to_owned()),
            n if n == var => Some(value.to_owned()),
            _ => None,
        });
        let err = Settings::from_env(&env).unwrap_err();
        assert_eq!(err.var, var);
    }
    let defaults = settings();
    assert!(!defaults.enable.allow_reboot);
    assert_eq!(
        defaults.enable.al2023_document,
        "LivePatchAutopilot-ConfigureKernelLivePatching"
    );
    assert_eq!(defaults.disable_window_hour, 3);
}
