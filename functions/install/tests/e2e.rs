//! `install` against the simulated fleet: compliance changes in, installs with NoReboot out.

use std::collections::BTreeMap;

use install::{handle, Clients, InstallOutcome, Settings};
use livepatch_shared::config::Env;
use livepatch_testkit::{fleet, sqs_batch, LocalAws};
use serde_json::{json, Value};

const NON_COMPLIANT: &str = "Configuration Compliance State Change";

fn clients(aws: &LocalAws) -> Clients {
    let sdk = aws.sdk_config_for("install");
    Clients {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
    }
}

fn settings(aws: &LocalAws) -> Settings {
    settings_with(aws, &[])
}

fn settings_with(aws: &LocalAws, overrides: &[(&str, &str)]) -> Settings {
    Settings::from_env(&Env(aws.env_lookup("install", overrides)))
        .expect("deployed settings are valid")
}

fn scheduled(id: &str, time: &str) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/scheduled-scan.json")).unwrap();
    event["id"] = json!(id);
    event["time"] = json!(time);
    event
}

/// Runs the product's own scan at `time` and lets the agents answer; returns the non-compliance events.
async fn scan(aws: &LocalAws, id: &str, time: &str) -> Vec<Value> {
    aws.set_clock(time);
    let before = aws.events().len();
    let sdk = aws.sdk_config_for("scan");
    let scan_clients = scan::Clients {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
    };
    let settings = scan::Settings::from_env(&Env(aws.env_lookup("scan", &[]))).unwrap();
    scan::handle(&scan_clients, &settings, &scheduled(id, time))
        .await
        .unwrap();
    aws.run_agents();
    aws.events()
        .into_iter()
        .skip(before)
        .filter(|e| {
            e["detail-type"] == NON_COMPLIANT && e["detail"]["compliance-status"] == "non_compliant"
        })
        .collect()
}

/// The compliance change of `instance` among `events`.
fn event_of(events: &[Value], instance: &str) -> Value {
    events
        .iter()
        .find(|e| e["detail"]["resource-id"] == instance)
        .unwrap_or_else(|| panic!("{instance} did not turn non-compliant"))
        .clone()
}

/// Sends an Install/NoReboot as another invocation of the product would (its comment says whose).
async fn send_install(clients: &Clients, instances: &[&str], comment: &str) -> String {
    clients
        .ssm
        .send_command()
        .document_name("AWS-RunPatchBaseline")
        .set_instance_ids(Some(instances.iter().map(|i| i.to_string()).collect()))
        .parameters("Operation", vec!["Install".into()])
        .parameters("RebootOption", vec!["NoReboot".into()])
        .comment(comment)
        .send()
        .await
        .unwrap()
        .command()
        .unwrap()
        .command_id()
        .unwrap()
        .to_owned()
}

fn installs(aws: &LocalAws) -> Vec<Value> {
    aws.commands()
        .into_iter()
        .filter(|c| {
            c["document_name"] == "AWS-RunPatchBaseline"
                && c["parameters"]["Operation"] == json!(["Install"])
        })
        .collect()
}

fn instance_ids(command: &Value) -> Vec<String> {
    command["instance_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// A fleet of `count` AL2 5.10 instances with live patching on, from the small fleet's catalogue.
fn many(count: usize) -> Value {
    let mut fleet = fleet("small.json");
    let template = fleet["instances"][0].clone();
    fleet["instances"] = (0..count)
        .map(|n| {
            let mut instance = template.clone();
            instance["id"] = json!(format!("i-{:017x}", 0x100 + n));
            instance["name"] = json!(format!("web-{n}"));
            instance["tags"] = json!({"Name": format!("web-{n}")});
            instance
        })
        .collect();
    fleet
}

async fn deliver(aws: &LocalAws, events: &[Value]) -> Vec<InstallOutcome> {
    let (clients, settings) = (clients(aws), settings(aws));
    let mut outcomes = Vec::new();
    for batch in events.chunks(50) {
        outcomes.push(
            handle(&clients, &settings, &sqs_batch(batch))
                .await
                .unwrap(),
        );
    }
    outcomes
}

async fn one_instance_gets_one_install_and_its_patches_load(spelling: &str) {
    let mut small = fleet("small.json");
    small["state_spelling"] = json!(spelling);
    let aws = LocalAws::start_with(&small);
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000001",
        "2026-12-03T01:00:00Z",
    )
    .await;
    let web = events
        .iter()
        .find(|e| e["detail"]["resource-id"] == "i-0a1b2c3d4e5f60001")
        .expect("web-1 turns non-compliant");

    let outcome = &deliver(&aws, std::slice::from_ref(web)).await[0];
    assert!(outcome.batch_item_failures.is_empty());
    let sent = installs(&aws);
    assert_eq!(sent.len(), 1);
    assert_eq!(instance_ids(&sent[0]), ["i-0a1b2c3d4e5f60001"]);
    assert_eq!(sent[0]["parameters"]["RebootOption"], json!(["NoReboot"]));
    assert_eq!(
        sent[0]["parameters"]["SnapshotId"],
        json!([outcome.snapshot_id])
    );
    assert_eq!(
        outcome.installing[0].live_patches,
        ["kernel-livepatch-5.10.227-219.884.x86_64:0:1.0-2.amzn2"]
    );

    aws.run_agents();
    let instance = aws.get("instances/i-0a1b2c3d4e5f60001");
    let installed = instance["livepatch"]["installed_modules"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(installed, 2, "{instance:#}");
    assert_eq!(
        instance["livepatch"]["loaded_modules"],
        instance["livepatch"]["installed_modules"]
    );
    let note = aws.notifications().last().unwrap()["notification"].clone();
    assert_eq!(
        note["subject"],
        "[livepatch-autopilot] Installing live patches on 1 instance"
    );
}

#[tokio::test]
async fn a_non_compliant_instance_gets_one_no_reboot_install_and_its_live_patches_load() {
    one_instance_gets_one_install_and_its_patches_load("documentation").await;
}

#[tokio::test]
async fn patch_states_in_the_api_spelling_work_the_same() {
    one_instance_gets_one_install_and_its_patches_load("api").await;
}

#[tokio::test]
async fn a_hundred_and_twenty_non_compliant_instances_take_exactly_three_sends() {
    let aws = LocalAws::start_with(&many(120));
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000002",
        "2026-12-03T01:00:00Z",
    )
    .await;
    assert_eq!(events.len(), 120);
    let outcomes = deliver(&aws, &events).await;
    assert_eq!(outcomes.len(), 3);
    let sent = installs(&aws);
    assert_eq!(sent.len(), 3);
    let sizes: Vec<usize> = sent.iter().map(|c| instance_ids(c).len()).collect();
    assert_eq!(sizes, [50, 50, 20]);
}

#[tokio::test]
async fn the_same_events_delivered_three_times_in_any_order_install_each_instance_once() {
    let aws = LocalAws::start_with(&many(30));
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000003",
        "2026-12-03T01:00:00Z",
    )
    .await;
    assert_eq!(events.len(), 30);
    let mut tripled: Vec<Value> = events
        .iter()
        .chain(&events)
        .chain(&events)
        .cloned()
        .collect();
    // A fixed shuffle, so a failure reproduces.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..tripled.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tripled.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    deliver(&aws, &tripled).await;
    aws.run_agents();
    // A late redelivery after the installs finished changes nothing either.
    deliver(&aws, &events[..10]).await;

    let mut per_instance: BTreeMap<String, usize> = BTreeMap::new();
    for command in installs(&aws) {
        for id in instance_ids(&command) {
            *per_instance.entry(id).or_default() += 1;
        }
    }
    assert_eq!(per_instance.len(), 30);
    assert!(per_instance.values().all(|&n| n == 1), "{per_instance:?}");
}

#[tokio::test]
async fn a_failing_install_is_retried_by_the_sweep_then_reported_stuck() {
    let aws = LocalAws::start("small.json");
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000004",
        "2026-12-03T01:00:00Z",
    )
    .await;
    let web = event_of(&events, "i-0a1b2c3d4e5f60001");
    aws.post(
        "instances/i-0a1b2c3d4e5f60001",
        &json!({"failure": "yum_lock"}),
    );
    let (clients, settings) = (clients(&aws), settings(&aws));

    handle(&clients, &settings, &sqs_batch(&[web]))
        .await
        .unwrap();
    aws.run_agents();
    let web_installs = |aws: &LocalAws| {
        installs(aws)
            .iter()
            .filter(|c| instance_ids(c).contains(&"i-0a1b2c3d4e5f60001".to_owned()))
            .count()
    };
    assert_eq!(web_installs(&aws), 1);

    for (n, time) in ["2026-12-03T03:00:00Z", "2026-12-03T05:00:00Z"]
        .iter()
        .enumerate()
    {
        aws.set_clock(time);
        let outcome = handle(&clients, &settings, &scheduled(&format!("sweep-{n}"), time))
            .await
            .unwrap();
        assert!(
            outcome
                .installing
                .iter()
                .any(|i| i.instance_id == "i-0a1b2c3d4e5f60001"),
            "{outcome:?}"
        );
        aws.run_agents();
    }
    assert_eq!(web_installs(&aws), 3);

    aws.set_clock("2026-12-03T07:00:00Z");
    let outcome = handle(
        &clients,
        &settings,
        &scheduled("sweep-3", "2026-12-03T07:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(web_installs(&aws), 3, "no fourth attempt");
    assert_eq!(outcome.stuck.len(), 1);
    assert_eq!(outcome.stuck[0].instance_id, "i-0a1b2c3d4e5f60001");
    assert_eq!(outcome.stuck[0].failures, 3);
    let note = aws.notifications().last().unwrap()["notification"].clone();
    assert_eq!(
        note["subject"],
        "[livepatch-autopilot] 1 instance stuck: live patch installs keep failing"
    );
    let email = note["message_by_protocol"]["email"].as_str().unwrap();
    assert!(
        email.contains("i-0a1b2c3d4e5f60001: 3 failed attempts"),
        "{email}"
    );
    assert!(email.contains("aws ssm get-command-invocation"), "{email}");
}

#[tokio::test]
async fn bad_records_are_skipped_with_reasons_and_the_rest_of_the_batch_proceeds() {
    let aws = LocalAws::start("demo.json");
    let good = scan(
        &aws,
        "11111111-0000-4000-8000-000000000005",
        "2026-12-03T01:00:00Z",
    )
    .await
    .into_iter()
    .find(|e| e["detail"]["resource-id"] == "i-0f3a9c2e41b7d5a03")
    .unwrap();
    let with_id = |id: &str| {
        let mut e = good.clone();
        e["detail"]["resource-id"] = json!(id);
        e
    };
    let mut wrong_kind = good.clone();
    wrong_kind["detail-type"] = json!("EC2 Command Status-change Notification");
    let mut batch = sqs_batch(&[
        good.clone(),
        wrong_kind,
        with_id("i-xyz"),
        with_id("i-0000000000000dead"),
        with_id("i-0f3a9c2e41b7d5a09"),
        with_id("i-0f3a9c2e41b7d5a0b"),
    ]);
    batch["Records"]
        .as_array_mut()
        .unwrap()
        .push(json!({"messageId": "not-json", "body": "{oops"}));
    let outcome = handle(&clients(&aws), &settings(&aws), &batch)
        .await
        .unwrap();

    assert!(outcome.batch_item_failures.is_empty());
    assert_eq!(outcome.installing.len(), 1);
    assert_eq!(outcome.installing[0].instance_id, "i-0f3a9c2e41b7d5a03");
    assert_eq!(instance_ids(&installs(&aws)[0]), ["i-0f3a9c2e41b7d5a03"]);
    let reasons: Vec<String> = outcome.skipped.iter().map(|s| s.reason.clone()).collect();
    assert_eq!(reasons.len(), 6, "{reasons:#?}");
    for expected in [
        "expects \"Configuration Compliance State Change\"",
        "\"i-xyz\"",
        "body is not JSON",
        "not Amazon Linux (Ubuntu 22.04)",
        "not registered with Systems Manager",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "no reason with {expected:?} in {reasons:#?}"
        );
    }
    assert_eq!(
        outcome
            .skipped
            .iter()
            .filter(|s| s.reason.contains("not registered"))
            .count(),
        2,
        "the unknown id and the stopped instance"
    );
}

#[tokio::test]
async fn a_send_that_keeps_failing_returns_its_records_to_the_queue() {
    let aws = LocalAws::start("small.json");
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000006",
        "2026-12-03T01:00:00Z",
    )
    .await;
    aws.post(
        "faults",
        &json!({"operation": "SendCommand", "error": "ThrottlingException", "count": 10}),
    );
    let batch = sqs_batch(&events);
    let outcome = handle(&clients(&aws), &settings(&aws), &batch)
        .await
        .unwrap();
    let expected: Vec<String> = batch["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["messageId"].as_str().unwrap().to_owned())
        .collect();
    let failed: Vec<String> = outcome
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, expected);
    assert!(
        installs(&aws).iter().all(|c| c.get("error").is_some()),
        "only refused sends were recorded"
    );
}

#[tokio::test]
async fn a_redelivery_after_the_install_went_out_sends_no_second_one() {
    let aws = LocalAws::start("small.json");
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000007",
        "2026-12-03T01:00:00Z",
    )
    .await;
    let web = event_of(&events, "i-0a1b2c3d4e5f60001");
    // SQS delivers after the event's time (batching window): the install is newer than the event.
    aws.set_clock("2026-12-03T01:00:30Z");
    deliver(&aws, std::slice::from_ref(&web)).await;
    aws.set_clock("2026-12-03T01:02:30Z");
    let again = &deliver(&aws, std::slice::from_ref(&web)).await[0];
    assert!(again.installing.is_empty(), "{again:?}");
    assert!(
        again.skipped[0].reason.contains("is still running"),
        "{:?}",
        again.skipped
    );
    aws.run_agents();
    aws.set_clock("2026-12-03T01:10:00Z");
    let late = &deliver(&aws, std::slice::from_ref(&web)).await[0];
    assert!(late.installing.is_empty());
    assert_eq!(
        late.skipped[0].reason,
        "no missing patch that the policy installs"
    );
    assert_eq!(installs(&aws).len(), 1);
}

#[tokio::test]
async fn compliance_changes_outside_the_target_tags_are_left_alone() {
    let aws = LocalAws::start("small.json");
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000008",
        "2026-12-03T01:00:00Z",
    )
    .await;
    assert!(events.len() >= 2, "{events:#?}");
    let settings = settings_with(&aws, &[("TARGET_TAGS", "Environment=staging")]);
    let outcome = handle(&clients(&aws), &settings, &sqs_batch(&events))
        .await
        .unwrap();
    assert!(
        outcome
            .installing
            .iter()
            .all(|i| i.instance_id == "i-0a1b2c3d4e5f60003"),
        "{outcome:?}"
    );
    let outside: Vec<&str> = outcome
        .skipped
        .iter()
        .filter(|s| s.reason == "outside the configured target tags")
        .filter_map(|s| s.instance_id.as_deref())
        .collect();
    assert!(outside.contains(&"i-0a1b2c3d4e5f60001"), "{outcome:?}");
    for command in installs(&aws) {
        assert_eq!(instance_ids(&command), ["i-0a1b2c3d4e5f60003"]);
    }
}

#[tokio::test]
async fn a_compliance_change_delivered_directly_is_handled_like_a_queued_one() {
    let aws = LocalAws::start("small.json");
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000009",
        "2026-12-03T01:00:00Z",
    )
    .await;
    let web = events
        .iter()
        .find(|e| e["detail"]["resource-id"] == "i-0a1b2c3d4e5f60001")
        .unwrap();
    let outcome = handle(&clients(&aws), &settings(&aws), web).await.unwrap();
    assert_eq!(outcome.installing.len(), 1);
    assert_eq!(instance_ids(&installs(&aws)[0]), ["i-0a1b2c3d4e5f60001"]);
}

#[tokio::test]
async fn a_batch_of_only_bad_records_is_still_reported() {
    let aws = LocalAws::start("small.json");
    let mut batch = sqs_batch(&[json!({"not": "an event"})]);
    batch["Records"]
        .as_array_mut()
        .unwrap()
        .push(json!({"messageId": "no-body"}));
    let outcome = handle(&clients(&aws), &settings(&aws), &batch)
        .await
        .unwrap();
    assert_eq!(outcome.skipped.len(), 2);
    assert!(
        outcome
            .skipped
            .iter()
            .any(|s| s.reason.contains("\"body\"")),
        "{:?}",
        outcome.skipped
    );
    assert!(aws.commands().is_empty());
    let note = aws.notifications().last().unwrap()["notification"].clone();
    assert_eq!(
        note["subject"],
        "[livepatch-autopilot] 2 compliance changes could not be acted on"
    );
}

#[tokio::test]
async fn a_patch_operation_someone_else_runs_blocks_the_install_until_it_ends() {
    let aws = LocalAws::start("small.json");
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000010",
        "2026-12-03T01:00:00Z",
    )
    .await;
    let web = event_of(&events, "i-0a1b2c3d4e5f60001");
    let clients = clients(&aws);
    let window = clients
        .ssm
        .send_command()
        .document_name("AWS-RunPatchBaseline")
        .instance_ids("i-0a1b2c3d4e5f60001")
        .parameters("Operation", vec!["Install".into()])
        .comment("maintenance window")
        .send()
        .await
        .unwrap();
    let window_id = window.command().unwrap().command_id().unwrap().to_owned();
    let outcome = handle(
        &clients,
        &settings(&aws),
        &sqs_batch(std::slice::from_ref(&web)),
    )
    .await
    .unwrap();
    assert!(outcome.installing.is_empty(), "{outcome:?}");
    assert_eq!(
        outcome.skipped[0].reason,
        format!("AWS-RunPatchBaseline command {window_id} is still running on it")
    );
    assert_eq!(installs(&aws).len(), 1, "only the window's own install");
}

#[tokio::test]
async fn of_two_racing_installs_on_one_instance_the_later_cancels_itself() {
    let aws = LocalAws::start("small.json");
    aws.set_clock("2026-12-03T01:00:00Z");
    let clients = clients(&aws);
    let first = send_install(
        &clients,
        &["i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002"],
        "livepatch-autopilot install queue 2026-12-03T01:00:00Z",
    )
    .await;
    aws.set_clock("2026-12-03T01:00:05Z");
    let second = send_install(
        &clients,
        &["i-0a1b2c3d4e5f60001", "i-0a1b2c3d4e5f60002"],
        "livepatch-autopilot install sweep s-1",
    )
    .await;
    let web: livepatch_shared::domain::InstanceId = "i-0a1b2c3d4e5f60001".parse().unwrap();
    let since: jiff::Timestamp = "2026-12-03T00:00:00Z".parse().unwrap();

    let kept = install::cancel_duplicates(&clients, &[(web.clone(), first.clone())], since)
        .await
        .unwrap();
    assert!(kept.is_empty(), "the earlier install stays");
    let cancelled = install::cancel_duplicates(&clients, &[(web, second.clone())], since)
        .await
        .unwrap();
    assert_eq!(cancelled, ["i-0a1b2c3d4e5f60001"]);
    let invocation = clients
        .ssm
        .list_command_invocations()
        .command_id(&second)
        .instance_id("i-0a1b2c3d4e5f60001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        invocation.command_invocations()[0]
            .status()
            .unwrap()
            .as_str(),
        "Cancelled"
    );
    let other = clients
        .ssm
        .list_command_invocations()
        .command_id(&second)
        .instance_id("i-0a1b2c3d4e5f60002")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.command_invocations()[0].status().unwrap().as_str(),
        "Pending",
        "only the duplicated instance is cancelled"
    );
}

#[tokio::test]
async fn an_earlier_install_that_already_failed_does_not_suppress_a_retry() {
    let aws = LocalAws::start("small.json");
    aws.set_clock("2026-12-03T01:00:00Z");
    aws.post(
        "instances/i-0a1b2c3d4e5f60001",
        &json!({"failure": "yum_lock"}),
    );
    let clients = clients(&aws);
    send_install(
        &clients,
        &["i-0a1b2c3d4e5f60001"],
        "livepatch-autopilot install queue a",
    )
    .await;
    aws.run_agents();
    aws.set_clock("2026-12-03T01:00:05Z");
    let retry = send_install(
        &clients,
        &["i-0a1b2c3d4e5f60001"],
        "livepatch-autopilot install sweep b",
    )
    .await;
    let web: livepatch_shared::domain::InstanceId = "i-0a1b2c3d4e5f60001".parse().unwrap();
    let since: jiff::Timestamp = "2026-12-03T00:00:00Z".parse().unwrap();
    let cancelled = install::cancel_duplicates(&clients, &[(web, retry)], since)
        .await
        .unwrap();
    assert!(
        cancelled.is_empty(),
        "a failed earlier install suppresses nothing"
    );
}

#[tokio::test]
async fn a_direct_compliance_change_fails_the_invocation_when_it_cannot_be_handled() {
    let aws = LocalAws::start("small.json");
    let events = scan(
        &aws,
        "11111111-0000-4000-8000-000000000011",
        "2026-12-03T01:00:00Z",
    )
    .await;
    let web = event_of(&events, "i-0a1b2c3d4e5f60001");
    let (clients, settings) = (clients(&aws), settings(&aws));
    let mut no_time = web.clone();
    no_time.as_object_mut().unwrap().remove("time");
    let err = handle(&clients, &settings, &no_time).await.unwrap_err();
    assert_eq!(
        livepatch_shared::function::Failure::kind(&err),
        "RefusedEvent"
    );
    aws.post(
        "faults",
        &json!({"operation": "DescribeInstanceInformation", "error": "AccessDeniedException", "count": 10}),
    );
    let err = handle(&clients, &settings, &web).await.unwrap_err();
    assert_eq!(
        livepatch_shared::function::Failure::kind(&err),
        "FleetUnreadable"
    );
    assert!(err.to_string().contains("AccessDeniedException"), "{err}");
    assert!(installs(&aws).is_empty());
}
