//! Error paths the simulated fleet cannot produce on demand, against mocked SDK clients.

use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
use aws_sdk_ssm::operation::get_inventory::GetInventoryOutput;
use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
use aws_sdk_ssm::operation::send_command::SendCommandOutput;
use aws_sdk_ssm::types::{Command, InstanceInformation, PingStatus};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use livepatch_shared::config::Env;
use scan::{handle, Clients, ScanError, Settings};
use serde_json::Value;

fn settings() -> Settings {
    let env = Env(|name: &str| {
        (name == "NOTIFY_TOPIC_ARN").then(|| "arn:aws:sns:us-east-1:123456789012:t".to_owned())
    });
    Settings::from_env(&env).unwrap()
}

fn event() -> Value {
    serde_json::from_str(include_str!("../../../events/scheduled-scan.json")).unwrap()
}

fn id(n: u32) -> String {
    format!("i-{n:017x}")
}

fn al2(n: u32) -> InstanceInformation {
    InstanceInformation::builder()
        .instance_id(id(n))
        .ping_status(PingStatus::Online)
        .platform_name("Amazon Linux")
        .platform_version("2")
        .build()
}

fn fleet(n: u32) -> Rule {
    mock!(aws_sdk_ssm::Client::describe_instance_information)
        .match_requests(|r| r.filters().is_empty())
        .then_output(move || {
            DescribeInstanceInformationOutput::builder()
                .set_instance_information_list(Some((1..=n).map(al2).collect()))
                .build()
        })
}

fn opted_out_none() -> Rule {
    mock!(aws_sdk_ssm::Client::describe_instance_information)
        .match_requests(|r| !r.filters().is_empty())
        .then_output(|| DescribeInstanceInformationOutput::builder().build())
}

fn no_inventory() -> Rule {
    mock!(aws_sdk_ssm::Client::get_inventory).then_output(|| GetInventoryOutput::builder().build())
}

fn no_commands() -> Rule {
    mock!(aws_sdk_ssm::Client::list_commands).then_output(|| ListCommandsOutput::builder().build())
}

fn ssm_error(status: u16, code: &'static str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"simulated {code}"}}"#
        )),
    )
}

fn published() -> Rule {
    mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("m-1").build())
}

fn no_retries(c: aws_sdk_ssm::config::Builder) -> aws_sdk_ssm::config::Builder {
    c.retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
}

#[tokio::test]
async fn a_batch_refused_for_one_stopped_instance_is_sent_one_by_one() {
    let send = mock!(aws_sdk_ssm::Client::send_command).then_compute_response(|req| {
        use aws_smithy_mocks::MockResponse;
        if req.instance_ids().len() > 1 || req.instance_ids() == [id(2)] {
            MockResponse::Http(ssm_error(400, "InvalidInstanceId"))
        } else {
            MockResponse::Output(
                SendCommandOutput::builder()
                    .command(
                        Command::builder()
                            .command_id(format!("cmd-{}", req.instance_ids()[0]))
                            .build(),
                    )
                    .build(),
            )
        }
    });
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [
            &fleet(3),
            &opted_out_none(),
            &no_inventory(),
            &no_commands(),
            &send
        ],
        no_retries
    );
    let publish = published();
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let outcome = handle(&Clients { ssm, sns }, &settings(), &event())
        .await
        .unwrap();

    // Two documents: each batch of 3 refused, then 3 singles of which one refused.
    assert_eq!(send.num_calls(), 2 * (1 + 3));
    assert_eq!(outcome.sent.len(), 4);
    assert!(outcome
        .sent
        .iter()
        .all(|c| c.instance_ids.len() == 1 && c.instance_ids[0] != id(2)));
    assert_eq!(outcome.failed.len(), 2);
    assert!(outcome
        .failed
        .iter()
        .all(|f| f.instance_ids == [id(2)] && f.error.contains("InvalidInstanceId")));
    assert_eq!(publish.num_calls(), 1);
}

#[tokio::test]
async fn a_fleet_that_cannot_be_read_causes_no_write() {
    let describe = mock!(aws_sdk_ssm::Client::describe_instance_information)
        .then_http_response(|| ssm_error(400, "AccessDeniedException"));
    let send = mock!(aws_sdk_ssm::Client::send_command)
        .then_output(|| SendCommandOutput::builder().build());
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [&describe, &send],
        no_retries
    );
    let publish = published();
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let err = handle(&Clients { ssm, sns }, &settings(), &event())
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Gather(_)), "{err}");
    assert!(
        err.to_string().contains("DescribeInstanceInformation"),
        "{err}"
    );
    assert_eq!(send.num_calls(), 0);
    assert_eq!(publish.num_calls(), 0);
}

#[tokio::test]
async fn a_malformed_event_causes_no_aws_call_at_all() {
    let describe = fleet(1);
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&describe]);
    let publish = published();
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let clients = Clients { ssm, sns };
    let mut wrong = event();
    wrong["detail-type"] = "EC2 Command Status-change Notification".into();
    for bad in [
        Value::from("not an event"),
        serde_json::json!({"detail": {}}),
        wrong,
    ] {
        let err = handle(&clients, &settings(), &bad).await.unwrap_err();
        assert!(matches!(err, ScanError::Event(_)), "{err}");
    }
    assert_eq!(describe.num_calls(), 0);
    assert_eq!(publish.num_calls(), 0);
}

#[tokio::test]
async fn a_failed_publish_is_reported_in_the_result_not_as_a_failed_invocation() {
    let send = mock!(aws_sdk_ssm::Client::send_command).then_output(|| {
        SendCommandOutput::builder()
            .command(Command::builder().command_id("cmd").build())
            .build()
    });
    let ssm = mock_client!(
        aws_sdk_ssm,
        RuleMode::MatchAny,
        [
            &fleet(1),
            &opted_out_none(),
            &no_inventory(),
            &no_commands(),
            &send
        ],
        no_retries
    );
    let publish = mock!(aws_sdk_sns::Client::publish).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(403).unwrap(),
            SdkBody::from("<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>denied</Message></Error></ErrorResponse>"),
        )
    });
    let sns = mock_client!(aws_sdk_sns, [&publish]);
    let outcome = handle(&Clients { ssm, sns }, &settings(), &event())
        .await
        .expect("the commands went out, so the invocation succeeds");
    assert_eq!(send.num_calls(), 2);
    assert_eq!(outcome.sent.len(), 2);
    assert!(outcome.notification_id.is_none());
    assert!(
        outcome
            .notification_error
            .as_deref()
            .is_some_and(|e| e.contains("AuthorizationError")),
        "{:?}",
        outcome.notification_error
    );
}
