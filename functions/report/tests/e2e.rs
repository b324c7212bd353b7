//! `report` against the simulated fleet: the product's commands run, fail the way real instances
//! do, and the report names the instance and the cause; the digest adds the fleet up.

use livepatch_shared::config::Env;
use livepatch_testkit::{sqs_batch, LocalAws};
use report::{handle, Clients, ReportOutcome, Settings};
use serde_json::{json, Value};

const COMMAND_STATUS: &str = "EC2 Command Status-change Notification";
const WEB: &str = "i-0a1b2c3d4e5f60001";
const API: &str = "i-0a1b2c3d4e5f60002";

fn sdk_clients(aws: &LocalAws, binary: &str) -> (aws_sdk_ssm::Client, aws_sdk_sns::Client) {
    let sdk = aws.sdk_config_for(binary);
    (
        aws_sdk_ssm::Client::new(&sdk),
        aws_sdk_sns::Client::new(&sdk),
    )
}

fn clients(aws: &LocalAws) -> Clients {
    let (ssm, sns) = sdk_clients(aws, "report");
    Clients { ssm, sns }
}

fn settings(aws: &LocalAws) -> Settings {
    Settings::from_env(&Env(
        aws.env_lookup("report", &[("INVOCATION_GRACE_MILLIS", "50")])
    ))
    .expect("deployed settings are valid")
}

fn scheduled(id: &str, time: &str) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/scheduled-scan.json")).unwrap();
    event["id"] = json!(id);
    event["time"] = json!(time);
    event
}

/// Runs the product's scan at `time`; returns the events the fleet emitted meanwhile.
async fn scan(aws: &LocalAws, id: &str, time: &str) -> Vec<Value> {
    aws.set_clock(time);
    let before = aws.events().len();
    let (ssm, sns) = sdk_clients(aws, "scan");
    let settings = scan::Settings::from_env(&Env(aws.env_lookup("scan", &[]))).unwrap();
    scan::handle(&scan::Clients { ssm, sns }, &settings, &scheduled(id, time))
        .await
        .unwrap();
    aws.run_agents();
    aws.events().into_iter().skip(before).collect()
}

/// Runs the product's install on the non-compliance events among `events`; returns the events
/// the fleet emitted while the installs ran.
async fn install(aws: &LocalAws, events: &[Value]) -> Vec<Value> {
    let non_compliant: Vec<Value> = events
        .iter()
        .filter(|e| e["detail"]["compliance-status"] == "non_compliant")
        .cloned()
        .collect();
    let (ssm, sns) = sdk_clients(aws, "install");
    let settings = install::Settings::from_env(&Env(aws.env_lookup("install", &[]))).unwrap();
    let before = aws.events().len();
    install::handle(
        &install::Clients { ssm, sns },
        &settings,
        &sqs_batch(&non_compliant),
    )
    .await
    .unwrap();
    aws.run_agents();
    aws.events().into_iter().skip(before).collect()
}

fn command_events<'a>(events: &'a [Value], operation: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| {
            e["detail-type"] == COMMAND_STATUS
                && e["detail"]["parameters"]["Operation"][0] == operation
        })
        .collect()
}

fn published(aws: &LocalAws) -> Vec<(String, Value, Value)> {
    aws.notifications()
        .iter()
        .filter(|n| n["notification"]["message_attributes"]["event_type"]["StringValue"] != "scan")
        .map(|n| {
            let message: Value =
                serde_json::from_str(n["notification"]["message"].as_str().unwrap()).unwrap();
            let card: Value = serde_json::from_str(message["https"].as_str().unwrap()).unwrap();
            (
                n["notification"]["subject"].as_str().unwrap().to_owned(),
                message,
                card,
            )
        })
        .collect()
}

fn report_messages(aws: &LocalAws) -> Vec<(String, Value, Value)> {
    published(aws)
        .into_iter()
        .filter(|(_, _, card)| {
            let kind = card["metadata"]["eventType"].as_str().unwrap_or_default();
            kind.starts_with("command.") || kind == "digest" || kind.starts_with("window")
        })
        .collect()
}

#[tokio::test]
async fn a_held_yum_lock_is_reported_with_the_instance_and_the_cause() {
    let aws = LocalAws::start("small.json");
    let (clients, settings) = (clients(&aws), settings(&aws));
    let scanned = scan(
        &aws,
        "22222222-0000-4000-8000-000000000001",
        "2026-12-03T01:00:00Z",
    )
    .await;
    // The lock is taken after the scan, as when another yum run starts between the two.
    aws.post(&format!("instances/{WEB}"), &json!({"failure": "yum_lock"}));

    // A scan where every instance succeeded says nothing.
    for event in command_events(&scanned, "Scan") {
        let outcome = handle(&clients, &settings, event).await.unwrap();
        assert!(outcome.published.is_none(), "{outcome:?}");
        assert!(outcome.quiet_because.is_some());
    }

    let installed = install(&aws, &scanned).await;
    let install_events = command_events(&installed, "Install");
    assert_eq!(
        install_events.len(),
        1,
        "one install command for web-1 and api-1"
    );
    let outcome: ReportOutcome = handle(&clients, &settings, install_events[0])
        .await
        .unwrap();
    let message = outcome.published.expect("a failed install is news");
    assert_eq!(message.event_type, "command.install");

    let messages = report_messages(&aws);
    assert_eq!(messages.len(), 1);
    let (subject, body, card) = &messages[0];
    assert!(
        subject.contains("Live patch install failed on 1 of 3 instances"),
        "{subject}"
    );
    let email = body["email"].as_str().unwrap();
    assert!(
        email.contains(&format!("  - {WEB}: yum/dnf lock held by another process")),
        "{email}"
    );
    assert!(email.contains(&format!("Succeeded:\n  - {API}")), "{email}");
    assert!(
        email.contains("Find what holds the yum/dnf lock"),
        "{email}"
    );
    assert_eq!(
        card["metadata"]["threadId"],
        format!(
            "command-{}",
            install_events[0]["detail"]["command-id"].as_str().unwrap()
        )
    );
    assert!(card["content"]["description"]
        .as_str()
        .unwrap()
        .contains("yum/dnf lock held"));
    livepatch_shared::notify::validate_chat_card(card).expect("valid chat card");
}

#[tokio::test]
async fn the_same_failure_again_is_left_to_the_digest_which_counts_it() {
    let aws = LocalAws::start("small.json");
    let (clients, settings) = (clients(&aws), settings(&aws));
    let scanned = scan(
        &aws,
        "22222222-0000-4000-8000-000000000002",
        "2026-12-03T01:00:00Z",
    )
    .await;
    // The lock is taken after the scan, as when another yum run starts between the two.
    aws.post(&format!("instances/{WEB}"), &json!({"failure": "yum_lock"}));
    let first = install(&aws, &scanned).await;
    let outcome = handle(&clients, &settings, command_events(&first, "Install")[0])
        .await
        .unwrap();
    assert!(outcome.published.is_some());

    // The sweep retries web-1 two hours later; it fails the same way.
    aws.set_clock("2026-12-03T03:00:00Z");
    let (ssm, sns) = sdk_clients(&aws, "install");
    let install_settings =
        install::Settings::from_env(&Env(aws.env_lookup("install", &[]))).unwrap();
    let before = aws.events().len();
    install::handle(
        &install::Clients { ssm, sns },
        &install_settings,
        &scheduled("sweep-1", "2026-12-03T03:00:00Z"),
    )
    .await
    .unwrap();
    aws.run_agents();
    let again: Vec<Value> = aws.events().into_iter().skip(before).collect();
    let retry = command_events(&again, "Install");
    assert_eq!(retry.len(), 1);
    let outcome = handle(&clients, &settings, retry[0]).await.unwrap();
    assert!(outcome.published.is_none(), "{outcome:?}");
    assert_eq!(report_messages(&aws).len(), 1, "no second message");

    // The digest says it once, with the count.
    let outcome = handle(
        &clients,
        &settings,
        &scheduled("digest-1", "2026-12-03T07:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(outcome.published.unwrap().event_type, "digest");
    let messages = report_messages(&aws);
    let (_, body, card) = messages.last().unwrap();
    let email = body["email"].as_str().unwrap();
    assert!(
        email.contains(&format!(
            "  - {WEB} install: yum/dnf lock held by another process (2 times, last 03:00 UTC)"
        )),
        "{email}"
    );
    livepatch_shared::notify::validate_chat_card(card).expect("valid chat card");
}

#[tokio::test]
async fn the_digest_adds_up_the_demo_fleet() {
    let aws = LocalAws::start("demo.json");
    let (clients, settings) = (clients(&aws), settings(&aws));
    scan(
        &aws,
        "22222222-0000-4000-8000-000000000003",
        "2026-12-03T01:00:00Z",
    )
    .await;
    let outcome = handle(
        &clients,
        &settings,
        &scheduled("digest-demo", "2026-12-03T07:00:00Z"),
    )
    .await
    .unwrap();
    assert_eq!(outcome.published.unwrap().event_type, "digest");
    let messages = report_messages(&aws);
    let (subject, body, card) = messages.last().unwrap();
    let email = body["email"].as_str().unwrap();
    println!("{subject}\n{email}");
    livepatch_shared::notify::validate_chat_card(card).expect("valid chat card");
    let expected = expected_demo_counts(&aws);
    for fragment in expected {
        assert!(
            email.contains(&fragment),
            "missing {fragment:?} in\n{email}"
        );
    }
}

/// What the demo fleet file says the digest must count, derived from the fleet file itself.
/// What the digest must say, worked out from the simulated fleet's own view of itself (not from
/// what the product reads through SSM): scope, reachability, compliance, live patching, support.
fn expected_demo_counts(aws: &LocalAws) -> Vec<String> {
    let view = aws.get("fleet");
    let all = view["instances"].as_array().unwrap();
    let registered: Vec<&Value> = all
        .iter()
        .filter(|i| i["managed"] != false && i["state"] == "running")
        .filter(|i| i["platform"] == "AL2" || i["platform"] == "AL2023")
        .collect();
    let opted_out = registered
        .iter()
        .filter(|i| i["tags"].get("livepatch-autopilot:opt-out").is_some())
        .count();
    let in_scope: Vec<&Value> = registered
        .iter()
        .copied()
        .filter(|i| i["tags"].get("livepatch-autopilot:opt-out").is_none())
        .collect();
    let count = |f: &dyn Fn(&Value) -> bool| in_scope.iter().filter(|i| f(i)).count();
    let offline = count(&|i| i["agent"] != "Online");
    let with_facts = |i: &Value| {
        let id = i["id"].as_str().unwrap();
        aws.get(&format!("inventory/{id}"))["items"]
            .get("Custom:KernelLivePatch")
            .is_some()
    };
    let plugin = |i: &Value| i["livepatch"]["plugin"] == true;
    let on = count(&|i| with_facts(i) && plugin(i));
    let off = count(&|i| with_facts(i) && !plugin(i));
    let no_facts = count(&|i| !with_facts(i));
    let status = |s: &'static str| move |i: &Value| i["patch_compliance"]["status"] == s;
    let (compliant, non_compliant, not_scanned) = (
        count(&status("compliant")),
        count(&status("non_compliant")),
        count(&status("not_scanned")),
    );
    let out_of_support: Vec<&str> = in_scope
        .iter()
        .filter(|i| with_facts(i) && plugin(i) && i["support_ended"] == true)
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let al2 = count(&|i| i["platform"] == "AL2");

    assert!(offline > 0 && off > 0 && !out_of_support.is_empty() && non_compliant > 0);
    let mut expected = vec![
        format!(
            "{} instances in scope ({opted_out} opted out, {offline} offline). Live patching on {on}, off {off}, no facts yet {no_facts}. Patch compliance: {compliant} compliant, {non_compliant} non-compliant, {not_scanned} never scanned.",
            in_scope.len()
        ),
        format!("live patches, {} out of support", out_of_support.len()),
        format!("Amazon Linux 2: ended 2026-06-30, {al2} instances"),
    ];
    expected.extend(out_of_support.iter().map(|id| {
        format!("Out of live patch support: running kernel gets no more fixes:\n  - {id}")
    }));
    expected
}

#[tokio::test]
async fn bad_and_foreign_events_change_nothing() {
    let aws = LocalAws::start("small.json");
    let (clients, settings) = (clients(&aws), settings(&aws));
    let sample: Value =
        serde_json::from_str(include_str!("../../../events/command-status-failed.json")).unwrap();

    // A command this account never ran (or someone else's): quiet.
    let outcome = handle(&clients, &settings, &sample).await.unwrap();
    assert!(outcome
        .quiet_because
        .unwrap()
        .contains("not sent by livepatch-autopilot"));

    // Not final yet: quiet.
    let mut running = sample.clone();
    running["detail"]["status"] = json!("InProgress");
    let outcome = handle(&clients, &settings, &running).await.unwrap();
    assert!(outcome.quiet_because.unwrap().contains("not final"));

    // Malformed: refused with the reason.
    let mut broken = sample.clone();
    broken["detail"]["parameters"] = json!({"Operation": "Install"});
    let err = handle(&clients, &settings, &broken).await.unwrap_err();
    assert!(err.to_string().contains("refused event"), "{err}");
    let err = handle(&clients, &settings, &json!({"hello": 1}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused event"), "{err}");

    assert!(report_messages(&aws).is_empty());
    assert!(aws.commands().is_empty());
}

#[tokio::test]
async fn a_reboot_window_is_reported_once_with_its_instances_and_the_digest_lists_bookings() {
    let aws = LocalAws::start("reboots.json");
    let (clients, settings) = (clients(&aws), settings(&aws));
    let plan_settings = plan_reboots::Settings::from_env(&Env(
        aws.env_lookup("plan-reboots", &[("REBOOT_LEAD_DAYS", "28")])
    ))
    .unwrap();
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/scheduled-plan-reboots.json")).unwrap();
    event["id"] = json!("plan-1");
    event["time"] = json!("2026-12-03T06:30:00Z");
    aws.set_clock("2026-12-03T06:30:00Z");
    let outcome = plan_reboots::handle(
        &plan_reboots::Clients::new(&aws.sdk_config_for("plan-reboots")),
        &plan_settings,
        &event,
    )
    .await
    .unwrap();
    let booked = serde_json::to_value(&outcome).unwrap();
    assert!(
        booked.to_string().contains("i-0c5e1a7b9d3f20001"),
        "{booked}"
    );

    // The digest lists what is booked, in the slot's own zone.
    handle(
        &clients,
        &settings,
        &scheduled("digest-windows", "2026-12-03T07:00:00Z"),
    )
    .await
    .unwrap();
    let digest = report_messages(&aws);
    let email = digest.last().unwrap().1["email"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(email.contains("Reboots booked:"), "{email}");
    assert!(email.contains("i-0c5e1a7b9d3f20001"), "{email}");
    assert!(email.contains(" UTC"), "{email}");

    // Let the first window run.
    let before = aws.events().len();
    aws.post(
        "clock/advance",
        &json!({"to": "2026-12-07T06:00:00Z", "step_minutes": 60, "run_agents": true}),
    );
    let events: Vec<Value> = aws.events().into_iter().skip(before).collect();
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["detail-type"] == "Maintenance Window Execution State-change Notification"
                && e["detail"]["status"] != "IN_PROGRESS"
                && e["detail"]["status"] != "PENDING"
        })
        .collect();
    assert!(!finished.is_empty(), "a window ran: {events:?}");

    // The window's own commands are left to the window's report.
    for command in events.iter().filter(|e| e["detail-type"] == COMMAND_STATUS) {
        let outcome = handle(&clients, &settings, command).await.unwrap();
        assert!(outcome.published.is_none(), "{outcome:?}");
    }
    let before = report_messages(&aws).len();
    let outcome = handle(&clients, &settings, finished[0]).await.unwrap();
    let message = outcome.published.expect("a window run is news");
    assert_eq!(message.event_type, "window.reboot");
    let messages = report_messages(&aws);
    assert_eq!(messages.len(), before + 1);
    let (_, body, card) = messages.last().unwrap();
    let email = body["email"].as_str().unwrap();
    assert!(email.contains("Reboot window "), "{email}");
    assert!(
        email.contains("Succeeded:\n  - i-0c5e1a7b9d3f2000"),
        "{email}"
    );
    assert!(card["metadata"]["threadId"]
        .as_str()
        .unwrap()
        .starts_with("reboot-"));
    livepatch_shared::notify::validate_chat_card(card).expect("valid chat card");

    // Someone else's window: quiet.
    let mut foreign = finished[0].clone();
    foreign["detail"]["window-id"] = json!("mw-0123456789abcdef0");
    let outcome = handle(&clients, &settings, &foreign).await.unwrap();
    assert!(outcome.published.is_none());
}

#[tokio::test]
async fn a_booked_disable_window_is_reported_once_as_a_disable_not_as_a_reboot() {
    let aws = LocalAws::start("reboots.json");
    let (clients, settings) = (clients(&aws), settings(&aws));
    const TARGET: &str = "i-0c5e1a7b9d3f20001"; // AL2 5.10, live patching on
    let mut request: Value =
        serde_json::from_str(include_str!("../../../events/manual-disable.json")).unwrap();
    request["time"] = json!("2026-12-03T06:30:00Z");
    request["detail"] = json!({"action": "disable", "instance-ids": [TARGET],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE"});
    aws.set_clock("2026-12-03T06:30:00Z");
    let enable_settings = enable::Settings::from_env(&Env(aws.env_lookup("enable", &[]))).unwrap();
    let (ssm, sns) = sdk_clients(&aws, "enable");
    let outcome = enable::handle(&enable::Clients { ssm, sns }, &enable_settings, &request)
        .await
        .unwrap();
    assert_eq!(outcome.booked.len(), 1, "{outcome:?}");

    let before = aws.events().len();
    aws.post(
        "clock/advance",
        &json!({"to": "2026-12-04T06:00:00Z", "step_minutes": 60, "run_agents": true}),
    );
    let events: Vec<Value> = aws.events().into_iter().skip(before).collect();
    let commands: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["detail-type"] == COMMAND_STATUS
                && e["detail"]["document-name"] == "AWS-ConfigureKernelLivePatching"
        })
        .collect();
    assert!(
        !commands.is_empty(),
        "the window ran the disable: {events:?}"
    );
    for command in commands {
        let outcome = handle(&clients, &settings, command).await.unwrap();
        assert!(
            outcome.published.is_none(),
            "left to the window: {outcome:?}"
        );
    }
    let finished = events
        .iter()
        .find(|e| {
            e["detail-type"] == "Maintenance Window Execution State-change Notification"
                && e["detail"]["status"] == "SUCCESS"
        })
        .expect("the window finished");
    let outcome = handle(&clients, &settings, finished).await.unwrap();
    assert_eq!(outcome.published.unwrap().event_type, "window.disable");
    let messages = report_messages(&aws);
    assert_eq!(messages.len(), 1, "one message for the window");
    let (subject, body, card) = &messages[0];
    let email = body["email"].as_str().unwrap();
    assert!(subject.contains("] Disable window "), "{subject}");
    assert!(subject.ends_with("succeeded on 1 instance"), "{subject}");
    assert!(
        email.contains("Live patching is off on the instances that succeeded"),
        "{email}"
    );
    assert!(!email.contains("newest kernel"), "{email}");
    assert!(
        email.contains(&format!("Succeeded:\n  - {TARGET}")),
        "{email}"
    );
    let thread = card["metadata"]["threadId"].as_str().unwrap();
    assert!(thread.starts_with("disable-"), "{thread}");
    livepatch_shared::notify::validate_chat_card(card).expect("valid chat card");
}
