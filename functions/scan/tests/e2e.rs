//! `scan` against the simulated fleet (`tests/fleets/demo.json`): what reaches SSM and SNS.

use livepatch_shared::config::Env;
use livepatch_testkit::LocalAws;
use scan::{handle, Clients, ScanError, Settings};
use serde_json::{json, Value};

const AMAZON_LINUX_ONLINE: [&str; 11] = [
    "i-0f3a9c2e41b7d5a01",
    "i-0f3a9c2e41b7d5a02",
    "i-0f3a9c2e41b7d5a03",
    "i-0f3a9c2e41b7d5a04",
    "i-0f3a9c2e41b7d5a05",
    "i-0f3a9c2e41b7d5a06",
    "i-0f3a9c2e41b7d5a07",
    "i-0f3a9c2e41b7d5a08",
    "i-0f3a9c2e41b7d5a0c",
    "i-0f3a9c2e41b7d5a0e",
    "mi-0c2d4e6f8a0b1c2d3",
];

fn clients(aws: &LocalAws) -> Clients {
    let sdk = aws.sdk_config_for("scan");
    Clients {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
    }
}

fn settings(aws: &LocalAws, overrides: &[(&str, &str)]) -> Settings {
    Settings::from_env(&Env(aws.env_lookup("scan", overrides)))
        .expect("deployed settings are valid")
}

fn event() -> Value {
    serde_json::from_str(include_str!("../../../events/scheduled-scan.json")).unwrap()
}

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn scan_and_facts_reach_every_online_amazon_linux_instance_and_one_summary_is_published() {
    let aws = LocalAws::start("demo.json");
    let outcome = handle(&clients(&aws), &settings(&aws, &[]), &event())
        .await
        .unwrap();

    let commands = aws.commands();
    assert_eq!(commands.len(), 2, "{commands:#?}");
    let (scan, facts) = (&commands[0], &commands[1]);
    assert_eq!(scan["document_name"], "AWS-RunPatchBaseline");
    assert_eq!(
        scan["parameters"],
        json!({"Operation": ["Scan"], "RebootOption": ["NoReboot"], "SnapshotId": [outcome.snapshot_id]})
    );
    assert_eq!(ids(&scan["instance_ids"]), AMAZON_LINUX_ONLINE);
    assert_eq!(ids(&scan["resolved_instance_ids"]), AMAZON_LINUX_ONLINE);
    assert!(scan["targets"].as_array().is_none_or(|t| t.is_empty()));
    assert_eq!(scan["max_concurrency"], "25%");
    assert_eq!(scan["max_errors"], "100%");
    assert_eq!(
        scan["comment"],
        format!(
            "livepatch-autopilot scan {} 1/1",
            event()["id"].as_str().unwrap()
        )
    );
    assert_eq!(facts["document_name"], "LivePatchAutopilot-KernelFacts");
    assert_eq!(ids(&facts["instance_ids"]), AMAZON_LINUX_ONLINE);

    let skipped: Vec<(String, String)> = outcome
        .skipped
        .iter()
        .map(|s| (s.instance_id.clone(), s.reason.clone()))
        .collect();
    assert_eq!(
        skipped,
        vec![
            (
                "i-0f3a9c2e41b7d5a09".to_owned(),
                "not Amazon Linux (Ubuntu 22.04)".to_owned()
            ),
            (
                "i-0f3a9c2e41b7d5a0b".to_owned(),
                "not registered with Systems Manager now (stopped, terminated, or agent stopped); kernel facts are from an earlier scan".to_owned()
            ),
            (
                "i-0f3a9c2e41b7d5a0d".to_owned(),
                "SSM agent not reachable (ping status ConnectionLost)".to_owned()
            ),
        ]
    );

    let notes = aws.notifications();
    assert_eq!(notes.len(), 1);
    let note = &notes[0]["notification"];
    assert_eq!(
        note["topic_arn"].as_str(),
        aws.function_env("scan", "NOTIFY_TOPIC_ARN").as_deref()
    );
    assert_eq!(
        note["subject"],
        "[livepatch-autopilot] Patch scan started on 11 instances"
    );
    assert_eq!(note["message_structure"], "json");
    assert_eq!(
        note["message_attributes"]["event_type"]["StringValue"],
        "scan.started"
    );
    let body = &note["message_by_protocol"];
    let email = body["email"].as_str().unwrap();
    for expected in [
        scan["command_id"].as_str().unwrap(),
        facts["command_id"].as_str().unwrap(),
        "i-0f3a9c2e41b7d5a09: not Amazon Linux (Ubuntu 22.04)",
        "i-0f3a9c2e41b7d5a0d: SSM agent not reachable",
        "i-0f3a9c2e41b7d5a0b: not registered with Systems Manager now",
    ] {
        assert!(
            email.contains(expected),
            "email lacks {expected:?}:\n{email}"
        );
    }
    let card: Value = serde_json::from_str(body["https"].as_str().unwrap()).unwrap();
    assert_eq!(card["version"], "1.0");
    assert_eq!(card["source"], "custom");
    assert_eq!(
        card["content"]["title"],
        "Patch scan started on 11 instances"
    );
    assert_eq!(card["metadata"]["threadId"], "scan-2026-12-03");
}

#[tokio::test]
async fn the_simulated_agents_answer_with_patch_states_and_kernel_facts() {
    let aws = LocalAws::start("demo.json");
    let clients = clients(&aws);
    handle(&clients, &settings(&aws, &[]), &event())
        .await
        .unwrap();
    aws.run_agents();

    let reader = aws.ssm_reader();
    let facts = reader
        .list_inventory_entries()
        .instance_id("i-0f3a9c2e41b7d5a03")
        .type_name("Custom:KernelLivePatch")
        .send()
        .await
        .unwrap();
    let entry = &facts.entries()[0];
    assert_eq!(entry["KernelRelease"], "5.10.227-219.884.amzn2.x86_64");
    assert_eq!(entry["LivePatchPlugin"], "installed");
    let states = reader
        .describe_instance_patch_states()
        .set_instance_ids(Some(
            AMAZON_LINUX_ONLINE.iter().map(|s| s.to_string()).collect(),
        ))
        .send()
        .await
        .unwrap();
    // The instance with a held yum lock fails its scan and so has no patch state.
    assert_eq!(
        states.instance_patch_states().len(),
        AMAZON_LINUX_ONLINE.len() - 1
    );
    assert!(states
        .instance_patch_states()
        .iter()
        .all(|s| s.operation().as_str() == "Scan"));
}

#[tokio::test]
async fn a_redelivered_event_sends_nothing_twice() {
    let aws = LocalAws::start("demo.json");
    let clients = clients(&aws);
    let settings = settings(&aws, &[]);
    let first = handle(&clients, &settings, &event()).await.unwrap();
    let again = handle(&clients, &settings, &event()).await.unwrap();
    assert_eq!(first.sent.len(), 2);
    assert!(again.sent.is_empty());
    let ids = |commands: &[scan::SentCommand]| {
        commands
            .iter()
            .map(|c| c.command_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(ids(&again.already_sent), ids(&first.sent));
    assert_eq!(aws.commands().len(), 2);
    assert_eq!(
        aws.notifications().len(),
        1,
        "a redelivery publishes nothing"
    );
}

#[tokio::test]
async fn a_redelivery_after_the_fleet_changed_sends_only_to_instances_not_yet_reached() {
    let aws = LocalAws::start("demo.json");
    let clients = clients(&aws);
    let settings = settings(&aws, &[]);
    handle(&clients, &settings, &event()).await.unwrap();
    // Since the first delivery: one instance stopped, one agent came back online.
    aws.post(
        "instances/i-0f3a9c2e41b7d5a03",
        &json!({"state": "stopped"}),
    );
    aws.post("instances/i-0f3a9c2e41b7d5a0d", &json!({"agent": "Online"}));
    let again = handle(&clients, &settings, &event()).await.unwrap();
    let commands = aws.commands();
    assert_eq!(commands.len(), 4, "{commands:#?}");
    for command in &commands[2..] {
        assert_eq!(ids(&command["instance_ids"]), ["i-0f3a9c2e41b7d5a0d"]);
    }
    assert_eq!(again.sent.len(), 2);
    assert_eq!(again.already_sent.len(), 2);
}

#[tokio::test]
async fn tag_filters_narrow_the_scan_and_the_opt_out_tag_wins() {
    let aws = LocalAws::start("demo.json");
    aws.post(
        "instances/i-0f3a9c2e41b7d5a08",
        &json!({"tags": {"livepatch-autopilot:opt-out": "true"}}),
    );
    let settings = settings(
        &aws,
        &[("TARGET_TAGS", "Environment=staging,Service=api|batch")],
    );
    let outcome = handle(&clients(&aws), &settings, &event()).await.unwrap();
    assert_eq!(outcome.targets, ["i-0f3a9c2e41b7d5a05"]);
    assert_eq!(outcome.skipped.len(), 1);
    assert_eq!(outcome.skipped[0].instance_id, "i-0f3a9c2e41b7d5a08");
    assert!(
        outcome.skipped[0].reason.contains("opted out"),
        "{:?}",
        outcome.skipped
    );
    assert_eq!(
        ids(&aws.commands()[0]["instance_ids"]),
        ["i-0f3a9c2e41b7d5a05"]
    );
}

#[tokio::test]
async fn dry_run_reports_the_plan_and_sends_no_command() {
    let aws = LocalAws::start("demo.json");
    let outcome = handle(
        &clients(&aws),
        &settings(&aws, &[("DRY_RUN", "true")]),
        &event(),
    )
    .await
    .unwrap();
    assert!(aws.commands().is_empty());
    assert_eq!(outcome.sent.len(), 2);
    assert!(outcome.sent.iter().all(|c| c.command_id.is_none()));
    let notes = aws.notifications();
    assert_eq!(
        notes[0]["notification"]["subject"],
        "[livepatch-autopilot] Patch scan planned on 11 instances (dry run: nothing sent)"
    );
}

#[tokio::test]
async fn throttled_sends_are_retried_with_backoff() {
    let aws = LocalAws::start("demo.json");
    aws.post(
        "faults",
        &json!({"operation": "SendCommand", "error": "ThrottlingException", "count": 2}),
    );
    let outcome = handle(&clients(&aws), &settings(&aws, &[]), &event())
        .await
        .unwrap();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    assert_eq!(outcome.sent.len(), 2);
    assert_eq!(
        aws.get("faults")["faults"].as_array().map_or(0, Vec::len),
        0
    );
}

#[tokio::test]
async fn an_instance_known_from_its_facts_but_gone_from_ssm_is_reported() {
    let aws = LocalAws::start("demo.json");
    let clients = clients(&aws);
    let settings = settings(&aws, &[]);
    handle(&clients, &settings, &event()).await.unwrap();
    aws.run_agents();
    aws.post(
        "instances/i-0f3a9c2e41b7d5a06",
        &json!({"state": "stopped"}),
    );
    let mut next = event();
    next["id"] = json!("5c3f3f1e-0000-4000-8000-000000000002");
    next["time"] = json!("2026-12-04T01:00:00Z");
    let outcome = handle(&clients, &settings, &next).await.unwrap();
    assert!(!outcome.targets.contains(&"i-0f3a9c2e41b7d5a06".to_owned()));
    let gone = outcome
        .skipped
        .iter()
        .find(|s| s.instance_id == "i-0f3a9c2e41b7d5a06")
        .unwrap();
    assert!(
        gone.reason
            .starts_with("not registered with Systems Manager now"),
        "{}",
        gone.reason
    );
}

#[tokio::test]
async fn bad_events_are_refused_before_any_aws_write() {
    let aws = LocalAws::start("demo.json");
    let clients = clients(&aws);
    let settings = settings(&aws, &[]);
    let mut no_time = event();
    no_time.as_object_mut().unwrap().remove("time");
    let mut wrong_source = event();
    wrong_source["source"] = json!("aws.ssm");
    for (bad, expected) in [
        (json!("scan please"), "not a JSON object"),
        (no_time, "\"time\""),
        (
            wrong_source,
            "expects \"Scheduled Event\" from \"aws.events\"",
        ),
    ] {
        let err = handle(&clients, &settings, &bad).await.unwrap_err();
        assert!(matches!(err, ScanError::Event(_)));
        assert!(err.to_string().contains(expected), "{err}");
    }
    assert!(aws.commands().is_empty());
    assert!(aws.notifications().is_empty());
}

#[test]
fn missing_or_invalid_settings_name_the_variable() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        Env(move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let err = Settings::from_env(&env(&[])).unwrap_err();
    assert_eq!(err.var, "NOTIFY_TOPIC_ARN");
    let err = Settings::from_env(&env(&[
        ("NOTIFY_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
        ("SCAN_MAX_CONCURRENCY", "0"),
    ]))
    .unwrap_err();
    assert_eq!(err.var, "SCAN_MAX_CONCURRENCY");
    let err = Settings::from_env(&env(&[
        ("NOTIFY_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
        ("TARGET_TAGS", "Environment"),
    ]))
    .unwrap_err();
    assert_eq!(err.var, "TARGET_TAGS");
}

#[tokio::test]
async fn a_scan_that_reaches_the_same_instances_as_the_last_one_is_quiet() {
    let aws = LocalAws::start("demo.json");
    let (clients, settings) = (clients(&aws), settings(&aws, &[]));
    let on = |day: &str, id: &str| {
        let mut e = event();
        e["id"] = json!(id);
        e["time"] = json!(format!("2026-12-0{day}T01:00:00Z"));
        e
    };
    handle(&clients, &settings, &event()).await.unwrap();
    assert_eq!(aws.notifications().len(), 1, "the first scan is news");

    aws.set_clock("2026-12-04T01:00:00Z");
    let next = handle(&clients, &settings, &on("4", "scan-day-2"))
        .await
        .unwrap();
    assert_eq!(next.sent.len(), 2, "the scan itself still runs");
    assert!(next.quiet);
    assert_eq!(aws.notifications().len(), 1, "nothing changed: no message");

    // An instance loses its agent: the fleet changed, so the scan says so.
    aws.post(
        "instances/i-0f3a9c2e41b7d5a03",
        &json!({"agent": "ConnectionLost"}),
    );
    aws.set_clock("2026-12-05T01:00:00Z");
    let changed = handle(&clients, &settings, &on("5", "scan-day-3"))
        .await
        .unwrap();
    assert!(!changed.quiet);
    let notes = aws.notifications();
    assert_eq!(notes.len(), 2);
    let email = notes[1]["notification"]["message_by_protocol"]["email"]
        .as_str()
        .unwrap();
    assert!(
        email.contains("i-0f3a9c2e41b7d5a03: SSM agent not reachable"),
        "{email}"
    );
}
