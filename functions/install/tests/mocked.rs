//! Error paths the simulated fleet cannot aim at one instance, against mocked SDK clients.

use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
use aws_sdk_ssm::operation::describe_instance_patches::DescribeInstancePatchesOutput;
use aws_sdk_ssm::operation::list_command_invocations::ListCommandInvocationsOutput;
use aws_sdk_ssm::operation::list_inventory_entries::ListInventoryEntriesOutput;
use aws_sdk_ssm::operation::send_command::SendCommandOutput;
use aws_sdk_ssm::types::{
    Command, InstanceInformation, PatchComplianceData, PatchComplianceDataState, PingStatus,
};
use aws_smithy_mocks::{mock, mock_client, MockResponse, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use install::{handle, Clients, Settings};
use livepatch_shared::config::Env;
use livepatch_testkit::sqs_batch;
use serde_json::{json, Value};
use std::collections::HashMap;

const GOOD: &str = "i-0a1b2c3d4e5f60001";
const UNREADABLE: &str = "i-0a1b2c3d4e5f60002";

fn settings() -> Settings {
    let env = Env(|name: &str| {
        (name == "NOTIFY_TOPIC_ARN").then(|| "arn:aws:sns:us-east-1:123456789012:t".to_owned())
    });
    Settings::from_env(&env).unwrap()
}

fn event_for(id: &str) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../events/compliance-non-compliant.json"
    ))
    .unwrap();
    event["detail"]["resource-id"] = json!(id);
    event
}

#[tokio::test]
async fn an_instance_whose_patches_cannot_be_read_is_retried_alone() {
    let registered =
        mock!(aws_sdk_ssm::Client::describe_instance_information).then_compute_output(|req| {
            let wants_ids = req.filters().iter().any(|f| f.key() == "InstanceIds");
            let list = if wants_ids {
                [GOOD, UNREADABLE]
                    .iter()
                    .map(|id| {
                        InstanceInformation::builder()
                            .instance_id(*id)
                            .ping_status(PingStatus::Online)
                            .platform_name("Amazon Linux")
                            .platform_version("2023")
                            .build()
                    })
                    .collect()
            } else {
                vec![]
            };
            DescribeInstanceInformationOutput::builder()
                .set_instance_information_list(Some(list))
                .build()
        });
    let facts = mock!(aws_sdk_ssm::Client::list_inventory_entries).then_output(|| {
        ListInventoryEntriesOutput::builder()
            .entries(HashMap::from([(
                "LivePatchPlugin".to_owned(),
                "installed".to_owned(),
            )]))
            .build()
    });
    let patches =
        mock!(aws_sdk_ssm::Client::describe_instance_patches).then_compute_response(|req| {
            if req.instance_id() == Some(UNREADABLE) {
                return MockResponse::Http(HttpResponse::new(
                    StatusCode::try_from(400).unwrap(),
                    SdkBody::from(r#"{"__type":"AccessDeniedException","message":"not allowed"}"#),
                ));
            }
            MockResponse::Output(
                DescribeInstancePatchesOutput::builder()
                    .patches(
                        PatchComplianceData::builder()
                            .title("kernel-livepatch-6.1.115-126.197.x86_64:0:1.0-1.amzn2023")
                            .kb_id("kernel-livepatch-6.1.115-126.197.x86_64")
                            .classification("Security")
                            .severity("Important")
                            .state(PatchComplianceDataState::from("Missing"))
                            .installed_time(aws_smithy_types::DateTime::from_secs(0))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
        });
    let commands = mock!(aws_sdk_ssm::Client::list_commands).then_output(|| {
        aws_sdk_ssm::operation::list_commands::ListCommandsOutput::builder().build()
    });
    let history = mock!(aws_sdk_ssm::Client::list_command_invocations)
        .then_output(|| ListCommandInvocationsOutput::builder().build());
    let send = mock!(aws_sdk_ssm::Client::send_command).then_output(|| {
        SendCommandOutput::builder()
            .command(Command::builder().command_id("cmd-1").build())
            .build()
    });
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&registered, &facts, &patches, &history, &commands, &send],
        |c| c.retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
    );
    let publish = mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("m").build());
    let sns = mock_client!(aws_sdk_sns, [&publish]);

    let batch = sqs_batch(&[event_for(GOOD), event_for(UNREADABLE)]);
    let outcome = handle(&Clients { ssm, sns }, &settings(), &batch)
        .await
        .unwrap();

    assert_eq!(send.num_calls(), 1);
    assert_eq!(outcome.installing.len(), 1);
    assert_eq!(outcome.installing[0].instance_id, GOOD);
    let failed: Vec<&str> = outcome
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, [batch["Records"][1]["messageId"].as_str().unwrap()]);
    assert!(
        outcome.failed[0].error.contains("DescribeInstancePatches"),
        "{:?}",
        outcome.failed
    );
    assert_eq!(publish.num_calls(), 1);
}

#[test]
fn an_unknown_policy_names_the_setting() {
    let env = Env(|name: &str| match name {
        "NOTIFY_TOPIC_ARN" => Some("arn:aws:sns:us-east-1:123456789012:t".to_owned()),
        "INSTALL_POLICY" => Some("everything".to_owned()),
        _ => None,
    });
    let err = Settings::from_env(&env).unwrap_err();
    assert_eq!(err.var, "INSTALL_POLICY");
    assert!(err.problem.contains("\"everything\""), "{err}");
}
