//! Adapter paths the simulated fleet cannot produce on demand, against mocked SDK clients.

use aws_sdk_ssm::operation::create_maintenance_window::CreateMaintenanceWindowOutput;
use aws_sdk_ssm::operation::describe_maintenance_window_execution_task_invocations::DescribeMaintenanceWindowExecutionTaskInvocationsOutput;
use aws_sdk_ssm::operation::describe_maintenance_window_execution_tasks::DescribeMaintenanceWindowExecutionTasksOutput;
use aws_sdk_ssm::operation::describe_maintenance_windows::DescribeMaintenanceWindowsOutput;
use aws_sdk_ssm::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_ssm::operation::register_target_with_maintenance_window::RegisterTargetWithMaintenanceWindowOutput;
use aws_sdk_ssm::types::{
    MaintenanceWindowExecutionTaskIdentity, MaintenanceWindowExecutionTaskInvocationIdentity,
    MaintenanceWindowIdentity, MaintenanceWindowTaskType, Tag,
};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use livepatch_shared::aws::windows::{self, RebootTask};
use livepatch_shared::domain::reboot::{BookedInstance, NewBooking, RebootWindow};

fn no_retries(c: aws_sdk_ssm::config::Builder) -> aws_sdk_ssm::config::Builder {
    c.retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
}

fn ssm_error(code: &'static str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"simulated {code}"}}"#
        )),
    )
}

#[tokio::test]
async fn window_command_ids_follow_tasks_to_their_invocations() {
    let tasks = mock!(aws_sdk_ssm::Client::describe_maintenance_window_execution_tasks)
        .then_output(|| {
            DescribeMaintenanceWindowExecutionTasksOutput::builder()
                .window_execution_task_identities(
                    MaintenanceWindowExecutionTaskIdentity::builder()
                        .task_execution_id("task-1")
                        .task_type(MaintenanceWindowTaskType::RunCommand)
                        .build(),
                )
                .window_execution_task_identities(
                    MaintenanceWindowExecutionTaskIdentity::builder()
                        .task_execution_id("task-lambda")
                        .task_type(MaintenanceWindowTaskType::Lambda)
                        .build(),
                )
                .build()
        });
    let invocations =
        mock!(aws_sdk_ssm::Client::describe_maintenance_window_execution_task_invocations)
            .match_requests(|r| r.task_id() == Some("task-1"))
            .then_output(|| {
                let invocation = |id: &str| {
                    MaintenanceWindowExecutionTaskInvocationIdentity::builder()
                        .execution_id(id)
                        .build()
                };
                DescribeMaintenanceWindowExecutionTaskInvocationsOutput::builder()
                    .window_execution_task_invocation_identities(invocation("cmd-1"))
                    .window_execution_task_invocation_identities(invocation("cmd-2"))
                    .window_execution_task_invocation_identities(invocation("cmd-1"))
                    .build()
            });
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&tasks, &invocations],
        no_retries
    );
    let ids = windows::window_command_ids(&ssm, "exec-1").await.unwrap();
    assert_eq!(ids, ["cmd-1", "cmd-2"]);
    assert_eq!(
        invocations.num_calls(),
        1,
        "only RUN_COMMAND tasks have command ids"
    );
}

#[tokio::test]
async fn windows_without_the_booking_tag_are_not_the_products() {
    let list = mock!(aws_sdk_ssm::Client::describe_maintenance_windows).then_output(|| {
        DescribeMaintenanceWindowsOutput::builder()
            .window_identities(
                MaintenanceWindowIdentity::builder()
                    .window_id("mw-0000000000000001")
                    .name("livepatch-autopilot-reboot-lookalike")
                    .schedule("at(2027-01-10T03:00:00)")
                    .build(),
            )
            .window_identities(
                MaintenanceWindowIdentity::builder()
                    .window_id("mw-0000000000000002")
                    .name("someone-elses-window")
                    .build(),
            )
            .build()
    });
    let tags = mock!(aws_sdk_ssm::Client::list_tags_for_resource).then_output(|| {
        ListTagsForResourceOutput::builder()
            .tag_list(Tag::builder().key("team").value("db").build().unwrap())
            .build()
    });
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&list, &tags], no_retries);
    assert!(windows::booked_reboots(&ssm).await.unwrap().is_empty());
    assert_eq!(
        tags.num_calls(),
        1,
        "only the name prefix is looked at further"
    );
}

#[tokio::test]
async fn a_failed_task_registration_is_reported_and_leaves_a_tagged_window() {
    let window: RebootWindow = "SUN 03:00-05:00 UTC".parse().unwrap();
    let slot = window
        .slots_between(
            "2027-01-01T00:00:00Z".parse().unwrap(),
            "2027-01-20T00:00:00Z".parse().unwrap(),
        )
        .next()
        .unwrap();
    let booking = NewBooking {
        key: slot.key(),
        slot,
        instances: vec![BookedInstance {
            instance: "i-0123456789abcdef0".parse().unwrap(),
            kernel: Some("5.10.241-239.962.amzn2.x86_64".into()),
        }],
    };
    let create = mock!(aws_sdk_ssm::Client::create_maintenance_window)
        .match_requests(|r| {
            r.tags().iter().any(|t| {
                t.key() == "livepatch-autopilot:kernel:i-0123456789abcdef0"
                    && t.value() == "5.10.241-239.962.amzn2.x86_64"
            }) && r.client_token().is_some()
                && r.allow_unassociated_targets() == Some(false)
        })
        .then_output(|| {
            CreateMaintenanceWindowOutput::builder()
                .window_id("mw-0000000000000003")
                .build()
        });
    let target =
        mock!(aws_sdk_ssm::Client::register_target_with_maintenance_window).then_output(|| {
            RegisterTargetWithMaintenanceWindowOutput::builder()
                .window_target_id("target-1")
                .build()
        });
    let task = mock!(aws_sdk_ssm::Client::register_task_with_maintenance_window)
        .then_http_response(|| ssm_error("ResourceLimitExceededException"));
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&create, &target, &task],
        no_retries
    );
    let reboot = RebootTask {
        max_concurrency: "20%".into(),
        max_errors: "1".into(),
        timeout_seconds: 3600,
        service_role_arn: None,
    };
    let err = windows::create_booking(
        &ssm,
        &booking,
        &reboot,
        "2027-01-01T06:30:00Z".parse().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.operation, "RegisterTaskWithMaintenanceWindow");
    assert_eq!(err.code.as_deref(), Some("ResourceLimitExceededException"));
    assert_eq!(
        (create.num_calls(), target.num_calls(), task.num_calls()),
        (1, 1, 1)
    );
}
