//! `enable` against the simulated fleet: the product's own scan collects kernel facts, the function
//! decides from them, the simulated agents run what it sent, and the fleet shows the result.

use enable::{handle, Clients, EnableOutcome, Settings};
use livepatch_shared::config::Env;
use livepatch_testkit::{fleet, LocalAws};
use serde_json::{json, Value};

const AL2_510: &str = "i-0e1a2b3c4d5e60001"; // AL2 5.10, live patching off
const AL2_414_OLD: &str = "i-0e1a2b3c4d5e60002"; // AL2 4.14.152, below the minimum, off
const AL2023: &str = "i-0e1a2b3c4d5e60003"; // AL2023 6.1, off
const UBUNTU: &str = "i-0e1a2b3c4d5e60004";
const KPATCH_OFF: &str = "i-0e1a2b3c4d5e60005"; // AL2 5.10, on, kpatch.service disabled, 1.0-1 installed
const AL2_ON: &str = "i-0e1a2b3c4d5e60006"; // AL2 5.10, on and loaded
const AL2023_DOC: &str = "LivePatchAutopilot-ConfigureKernelLivePatching";
const AWS_DOC: &str = "AWS-ConfigureKernelLivePatching";

/// The demo fleet's kernel catalogue with one instance per case.
fn cases() -> Value {
    let mut fleet = fleet("demo.json");
    let instance = |id: &str, name: &str, platform: &str, kernel: &str, livepatch: Value| {
        json!({"id": id, "name": name, "platform": platform, "kernel": kernel,
               "tags": {"Name": name, "Environment": "production"}, "livepatch": livepatch})
    };
    let mut ubuntu = instance(UBUNTU, "tools", "Ubuntu", "5.15.0-1072-aws", json!({}));
    ubuntu["platform_version"] = json!("22.04");
    ubuntu.as_object_mut().unwrap().remove("livepatch");
    fleet["instances"] = json!([
        instance(
            AL2_510,
            "web",
            "AL2",
            "5.10.227-219.884.amzn2.x86_64",
            json!({"plugin": false})
        ),
        instance(
            AL2_414_OLD,
            "legacy",
            "AL2",
            "4.14.152-124.171.amzn2.x86_64",
            json!({"plugin": false})
        ),
        instance(
            AL2023,
            "api",
            "AL2023",
            "6.1.115-126.197.amzn2023.x86_64",
            json!({"plugin": false})
        ),
        ubuntu,
        instance(
            KPATCH_OFF,
            "batch",
            "AL2",
            "5.10.227-219.884.amzn2.x86_64",
            json!({"plugin": true, "kpatch_service": "disabled",
                   "installed": "kernel-livepatch-5.10.227-219.884-1.0-1.amzn2.x86_64"})
        ),
        instance(
            AL2_ON,
            "cache",
            "AL2",
            "5.10.227-219.884.amzn2.x86_64",
            json!({"plugin": true, "kpatch_service": "enabled"})
        ),
    ]);
    fleet
}

fn clients(aws: &LocalAws) -> Clients {
    let sdk = aws.sdk_config_for("enable");
    Clients {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
    }
}

fn settings(aws: &LocalAws, overrides: &[(&str, &str)]) -> Settings {
    Settings::from_env(&Env(aws.env_lookup("enable", overrides)))
        .expect("deployed settings are valid")
}

fn scheduled(id: &str, time: &str) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/scheduled-enable.json")).unwrap();
    event["id"] = json!(id);
    event["time"] = json!(time);
    event
}

fn request(id: &str, time: &str, detail: Value) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/manual-enable.json")).unwrap();
    event["id"] = json!(id);
    event["time"] = json!(time);
    event["detail"] = detail;
    event
}

/// The product's scan at `time` (kernel facts), answered by the agents.
async fn scan(aws: &LocalAws, time: &str) {
    aws.set_clock(time);
    let sdk = aws.sdk_config_for("scan");
    let scan_clients = scan::Clients {
        ssm: aws_sdk_ssm::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
    };
    let settings = scan::Settings::from_env(&Env(aws.env_lookup("scan", &[]))).unwrap();
    let event = json!({"version": "0", "id": format!("scan-{time}"), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": time, "region": "us-east-1",
        "resources": [], "detail": {}});
    scan::handle(&scan_clients, &settings, &event)
        .await
        .unwrap();
    aws.run_agents();
}

async fn run(aws: &LocalAws, event: &Value, overrides: &[(&str, &str)]) -> EnableOutcome {
    aws.set_clock(event["time"].as_str().unwrap());
    handle(&clients(aws), &settings(aws, overrides), event)
        .await
        .unwrap()
}

/// Commands of the two live patching documents, in order.
fn switches(aws: &LocalAws) -> Vec<Value> {
    aws.commands()
        .into_iter()
        .filter(|c| c["document_name"] == AWS_DOC || c["document_name"] == AL2023_DOC)
        .collect()
}

fn ids(command: &Value) -> Vec<&str> {
    command["instance_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn livepatch(aws: &LocalAws, id: &str) -> (bool, String, Value) {
    let view = aws.get(&format!("instances/{id}"));
    (
        view["livepatch"]["plugin"].as_bool().unwrap(),
        view["livepatch"]["kpatch_service"]
            .as_str()
            .unwrap()
            .to_owned(),
        view,
    )
}

fn email(aws: &LocalAws) -> String {
    let note = aws.notifications().last().cloned().expect("a notification");
    note["notification"]["message_by_protocol"]["email"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn reasons(findings: &[enable::Finding]) -> Vec<(&str, &str)> {
    findings
        .iter()
        .map(|f| (f.instance_id.as_str(), f.reason.as_str()))
        .collect()
}

#[tokio::test]
async fn the_daily_run_enables_al2_510_at_once_and_al2023_with_the_products_document() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let before = livepatch(&aws, AL2_510).2;
    let before_al2023 = livepatch(&aws, AL2023).2;
    let outcome = run(&aws, &scheduled("e-0001", "2026-12-03T02:00:00Z"), &[]).await;

    let sent = switches(&aws);
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(sent[0]["document_name"], AWS_DOC);
    assert_eq!(
        sent[0]["parameters"],
        json!({"EnableOrDisable": ["Enable"]})
    );
    assert_eq!(ids(&sent[0]), [AL2_510]);
    assert_eq!(sent[1]["document_name"], AL2023_DOC);
    assert_eq!(sent[1]["parameters"], json!({"Action": ["Enable"]}));
    assert_eq!(ids(&sent[1]), [AL2023]);
    assert_eq!(sent[0]["comment"], "livepatch-autopilot enable e-0001");
    assert_eq!(sent[0]["max_concurrency"], "10%");
    assert!(outcome.switching.iter().all(|s| !s.reboots));

    aws.run_agents();
    for id in [AL2_510, AL2023] {
        let (plugin, service, view) = livepatch(&aws, id);
        assert_eq!((plugin, service.as_str()), (true, "enabled"), "{id}");
        let before = if id == AL2_510 {
            &before
        } else {
            &before_al2023
        };
        assert_eq!(view["booted"], before["booted"], "{id}: no reboot");
        assert_eq!(view["kernel"], before["kernel"], "{id}");
    }
    assert!(aws.get("reboots")["reboots"].as_array().unwrap().is_empty());
    let text = email(&aws);
    assert!(
        text.starts_with("Turning on live patching on 2 instances; 1 needs a reboot window"),
        "{text}"
    );

    // The next facts confirm it: nothing is sent again, both are simply on.
    scan(&aws, "2026-12-04T01:00:00Z").await;
    let next = run(&aws, &scheduled("e-0002", "2026-12-04T02:00:00Z"), &[]).await;
    assert_eq!(switches(&aws).len(), 2);
    for id in [AL2_510, AL2023, AL2_ON] {
        assert!(
            reasons(&next.skipped).contains(&(id, "live patching is already on")),
            "{id}: {:?}",
            next.skipped
        );
    }
    assert!(next.not_verified.is_empty());
}

#[tokio::test]
async fn al2_414_below_the_minimum_is_handed_to_the_reboot_planner_and_not_rebooted() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let outcome = run(&aws, &scheduled("e-0101", "2026-12-03T02:00:00Z"), &[]).await;
    assert!(switches(&aws)
        .iter()
        .all(|c| !ids(c).contains(&AL2_414_OLD)));
    assert_eq!(
        reasons(&outcome.deferred),
        [(
            AL2_414_OLD,
            "kernel 4.14.152-124.171.amzn2.x86_64 is below 4.14.165-131.185: enabling installs a newer kernel and reboots; plan-reboots books its reboot on its next run"
        )]
    );
    aws.run_agents();
    let (plugin, _, view) = livepatch(&aws, AL2_414_OLD);
    assert!(!plugin);
    assert_eq!(view["kernel"], "4.14.152-124.171.amzn2.x86_64");
    let text = email(&aws);
    assert!(
        text.contains("Needs a reboot window to enable (handed to the reboot planner):\n  - i-0e1a2b3c4d5e60002: kernel 4.14.152-124.171.amzn2.x86_64 is below 4.14.165-131.185"),
        "{text}"
    );
}

/// `plan-reboots` at `time`, as deployed.
async fn plan_reboots(
    aws: &LocalAws,
    time: &str,
    overrides: &[(&str, &str)],
) -> plan_reboots::PlanOutcome {
    aws.set_clock(time);
    let settings =
        plan_reboots::Settings::from_env(&Env(aws.env_lookup("plan-reboots", overrides))).unwrap();
    let mut event: Value =
        serde_json::from_str(include_str!("../../../events/scheduled-plan-reboots.json")).unwrap();
    event["id"] = json!(format!("plan-{time}"));
    event["time"] = json!(time);
    plan_reboots::handle(
        &plan_reboots::Clients::new(&aws.sdk_config_for("plan-reboots")),
        &settings,
        &event,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_reboot_planner_books_the_old_al2_kernel_and_enable_turns_live_patching_on_after_it() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let first = run(&aws, &scheduled("e-0201", "2026-12-03T02:00:00Z"), &[]).await;
    assert_eq!(
        reasons(&first.deferred)[0].1,
        "kernel 4.14.152-124.171.amzn2.x86_64 is below 4.14.165-131.185: enabling installs a newer kernel and reboots; plan-reboots books its reboot on its next run"
    );

    // The planner books it with a week's notice (2026-12-03 is a Thursday), and says why.
    let planned = plan_reboots(&aws, "2026-12-03T03:00:00Z", &[]).await;
    let booked: Vec<_> = planned
        .booked
        .iter()
        .filter(|b| b.instance_id == AL2_414_OLD)
        .collect();
    assert_eq!(booked.len(), 1, "{planned:?}");
    assert_eq!(booked[0].start, "2026-12-13T03:00:00Z".parse().unwrap());
    assert!(booked[0].to_enable.is_some());
    let announced = aws
        .notifications()
        .into_iter()
        .map(|n| n["notification"]["message_by_protocol"]["email"].clone())
        .filter_map(|e| e.as_str().map(str::to_owned))
        .find(|e| e.contains("Reboots booked"))
        .expect("the booking is announced");
    assert!(
        announced.contains("i-0e1a2b3c4d5e60002 (ip-10-0-0-11.ec2.internal), kernel 4.14.152-124.171.amzn2.x86_64, live patching off: reboot booked Sunday 2026-12-13 03:00 UTC so that it can be enabled (kernel below 4.14.165-131.185, the oldest kernel on which live patching is enabled without a reboot); fallback Sunday 2026-12-20 03:00 UTC"),
        "{announced}"
    );

    // The next daily enable names the booking, and still sends nothing to it.
    scan(&aws, "2026-12-04T01:00:00Z").await;
    let next = run(&aws, &scheduled("e-0202", "2026-12-04T02:00:00Z"), &[]).await;
    assert!(
        reasons(&next.deferred)[0].1.ends_with(
            "; reboot booked Sunday 2026-12-13 03:00 UTC (window livepatch-autopilot-reboot-20261213T0300-0500-utc)"
        ),
        "{:?}",
        next.deferred
    );
    assert!(switches(&aws)
        .iter()
        .all(|c| !ids(c).contains(&AL2_414_OLD)));

    // The window runs at its time: Install + RebootIfNeeded reboots into a newer 4.14 kernel.
    aws.post(
        "clock/advance",
        &json!({"to": "2026-12-13T06:00:00Z", "step_minutes": 60, "run_agents": true}),
    );
    let (plugin, _, view) = livepatch(&aws, AL2_414_OLD);
    assert!(!plugin, "the reboot window does not enable live patching");
    let kernel = view["kernel"].as_str().unwrap().to_owned();
    assert_ne!(kernel, "4.14.152-124.171.amzn2.x86_64");

    // After the next scan, enable turns it on without a reboot; the window is cleaned up.
    scan(&aws, "2026-12-14T01:00:00Z").await;
    let after = run(&aws, &scheduled("e-0203", "2026-12-14T02:00:00Z"), &[]).await;
    assert!(after.deferred.is_empty(), "{:?}", after.deferred);
    let enabled: Vec<_> = after
        .switching
        .iter()
        .filter(|s| s.instance_id == AL2_414_OLD)
        .collect();
    assert_eq!(enabled.len(), 1);
    assert_eq!(enabled[0].document, AWS_DOC);
    assert!(!enabled[0].reboots);
    aws.run_agents();
    let (plugin, _, view) = livepatch(&aws, AL2_414_OLD);
    assert!(plugin);
    assert_eq!(view["kernel"], kernel.as_str(), "enabled without a reboot");
    let cleaned = plan_reboots(&aws, "2026-12-14T03:00:00Z", &[]).await;
    assert_eq!(cleaned.removed.len(), 1, "{cleaned:?}");
    assert!(cleaned.booked.is_empty());
}

#[tokio::test]
async fn allowing_reboots_enables_old_al2_at_once_through_a_reboot_into_a_newer_kernel() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let outcome = run(
        &aws,
        &scheduled("e-0201", "2026-12-03T02:00:00Z"),
        &[("ENABLE_ALLOW_REBOOT", "true")],
    )
    .await;
    assert!(outcome.deferred.is_empty());
    // With reboots allowed, the reboot planner leaves it to enable: no second reboot.
    let planned = plan_reboots(
        &aws,
        "2026-12-03T02:30:00Z",
        &[("ENABLE_ALLOW_REBOOT", "true")],
    )
    .await;
    assert!(planned.booked.iter().all(|b| b.instance_id != AL2_414_OLD));
    let legacy = outcome
        .switching
        .iter()
        .find(|s| s.instance_id == AL2_414_OLD)
        .expect("sent");
    assert!(legacy.reboots);
    assert!(
        legacy.note.contains("below 4.14.165-131.185"),
        "{}",
        legacy.note
    );
    aws.run_agents();
    aws.run_agents(); // the rebooting invocation finishes once the instance is back
    let (plugin, service, view) = livepatch(&aws, AL2_414_OLD);
    assert_eq!((plugin, service.as_str()), (true, "enabled"));
    assert_eq!(view["kernel"], "4.14.356-276.571.amzn2.x86_64");
    assert!(email(&aws).contains("REBOOTS: kernel 4.14.152-124.171.amzn2.x86_64 is below"));
}

#[tokio::test]
async fn ubuntu_is_reported_unsupported_and_never_touched() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let outcome = run(&aws, &scheduled("e-0301", "2026-12-03T02:00:00Z"), &[]).await;
    assert_eq!(
        reasons(&outcome.unsupported),
        [(UBUNTU, "not Amazon Linux (Ubuntu 22.04)")]
    );
    assert!(switches(&aws).iter().all(|c| !ids(c).contains(&UBUNTU)));
    assert!(email(&aws).contains(
        "Not supported (left alone):\n  - i-0e1a2b3c4d5e60004: not Amazon Linux (Ubuntu 22.04)"
    ));
}

#[tokio::test]
async fn al2_414_on_arm64_is_reported_unsupported_and_never_touched() {
    const ARM_414: &str = "i-0e1a2b3c4d5e60007";
    let mut fleet = cases();
    fleet["kernels"].as_array_mut().unwrap().push(
        json!({"release": "4.14.355-275.570.amzn2.aarch64", "built": "2026-11-02T10:00:00Z"}),
    );
    fleet["instances"].as_array_mut().unwrap().push(json!({
        "id": ARM_414, "name": "arm-legacy", "platform": "AL2", "arch": "aarch64",
        "kernel": "4.14.355-275.570.amzn2.aarch64",
        "tags": {"Name": "arm-legacy", "Environment": "production"}, "livepatch": {"plugin": false}}));
    let aws = LocalAws::start_with(&fleet);
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let booted = livepatch(&aws, ARM_414).2["booted"].clone();
    let outcome = run(&aws, &scheduled("e-0302", "2026-12-03T02:00:00Z"), &[]).await;
    let unsupported = reasons(&outcome.unsupported);
    let (_, reason) = unsupported
        .iter()
        .find(|(id, _)| *id == ARM_414)
        .unwrap_or_else(|| panic!("{outcome:#?}"));
    assert!(
        reason.contains("arm64") || reason.contains("aarch64"),
        "{reason}"
    );
    assert!(outcome.deferred.iter().all(|d| d.instance_id != ARM_414));
    assert!(switches(&aws).iter().all(|c| !ids(c).contains(&ARM_414)));
    aws.run_agents();
    let (plugin, _, view) = livepatch(&aws, ARM_414);
    assert!(!plugin);
    assert_eq!(view["booted"], booted, "never rebooted");
}

#[tokio::test]
async fn kpatch_service_disabled_is_reported_not_in_effect_and_a_manual_request_repairs_it() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let outcome = run(&aws, &scheduled("e-0401", "2026-12-03T02:00:00Z"), &[]).await;
    assert_eq!(
        reasons(&outcome.not_in_effect),
        [(
            KPATCH_OFF,
            "live patches not in effect: kpatch.service is disabled (inactive); installed but not loaded: livepatch_CVE_2026_21001"
        )]
    );
    assert!(switches(&aws).iter().all(|c| !ids(c).contains(&KPATCH_OFF)));
    let text = email(&aws);
    assert!(
        text.contains("Live patches not in effect:\n  - i-0e1a2b3c4d5e60005"),
        "{text}"
    );
    assert!(
        text.contains("sudo systemctl enable --now kpatch.service"),
        "{text}"
    );

    aws.run_agents();
    let repair = run(
        &aws,
        &request(
            "r-0401",
            "2026-12-03T09:00:00Z",
            json!({"action": "enable", "instance-ids": [KPATCH_OFF]}),
        ),
        &[],
    )
    .await;
    assert_eq!(repair.trigger, "manual-enable");
    assert_eq!(repair.switching.len(), 1, "{repair:#?}");
    assert!(repair.switching[0].note.contains("not in effect"));
    aws.run_agents();
    let (_, service, view) = livepatch(&aws, KPATCH_OFF);
    assert_eq!(service, "enabled");
    assert_eq!(
        view["livepatch"]["loaded_modules"],
        json!(["livepatch_CVE_2026_21001"])
    );
}

#[tokio::test]
async fn disable_is_refused_without_the_confirmation_and_done_with_it() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let unconfirmed = json!({"action": "disable", "instance-ids": [AL2_ON], "now": true});
    let refused = run(
        &aws,
        &request("r-0501", "2026-12-03T09:00:00Z", unconfirmed),
        &[],
    )
    .await;
    assert_eq!(
        refused.refused.as_deref(),
        Some("a disable request must carry \"confirm\": \"DISABLE LIVE PATCHING ON 1 INSTANCE\" (it reboots Amazon Linux 2 instances)")
    );
    assert!(switches(&aws).is_empty());
    let note = aws.notifications().last().unwrap()["notification"].clone();
    assert!(note["subject"].as_str().unwrap().starts_with(
        "[livepatch-autopilot] Live patching request refused: a disable request must carry"
    ));

    let confirmed = json!({"action": "disable", "instance-ids": [AL2_ON],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE", "now": true});
    let done = run(
        &aws,
        &request("r-0502", "2026-12-03T09:05:00Z", confirmed.clone()),
        &[],
    )
    .await;
    assert!(done.refused.is_none());
    let sent = switches(&aws);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["document_name"], AWS_DOC);
    assert_eq!(
        sent[0]["parameters"],
        json!({"EnableOrDisable": ["Disable"]})
    );
    assert_eq!(sent[0]["comment"], "livepatch-autopilot disable r-0502");
    assert!(done.switching[0].reboots);
    let text = email(&aws);
    assert!(text.contains("REBOOTS: the instance reboots now"), "{text}");

    // A redelivery of the same request sends nothing more.
    let again = run(
        &aws,
        &request("r-0502", "2026-12-03T09:05:00Z", confirmed),
        &[],
    )
    .await;
    assert_eq!(switches(&aws).len(), 1);
    assert!(again.switching.is_empty());

    let booted = livepatch(&aws, AL2_ON).2["booted"].clone();
    aws.run_agents();
    aws.run_agents();
    let (plugin, _, view) = livepatch(&aws, AL2_ON);
    assert!(!plugin, "disabled after its reboot");
    assert_ne!(view["booted"], booted, "AL2 reboots to disable");

    // The daily run does not turn back on what a person turned off.
    scan(&aws, "2026-12-04T01:00:00Z").await;
    let daily = run(&aws, &scheduled("e-0501", "2026-12-04T02:00:00Z"), &[]).await;
    assert!(daily.switching.iter().all(|s| s.instance_id != AL2_ON));
    let skip = daily
        .skipped
        .iter()
        .find(|s| s.instance_id == AL2_ON)
        .unwrap();
    assert!(
        skip.reason.contains("disabled on request"),
        "{}",
        skip.reason
    );
}

#[tokio::test]
async fn an_al2_disable_without_now_is_booked_in_a_window_and_al2023_is_disabled_at_once() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    run(&aws, &scheduled("e-0601", "2026-12-03T02:00:00Z"), &[]).await;
    aws.run_agents(); // AL2023 is now on
    scan(&aws, "2026-12-03T03:00:00Z").await;

    let detail = json!({"action": "disable", "instance-ids": [AL2_ON, AL2023],
        "confirm": "DISABLE LIVE PATCHING ON 2 INSTANCES"});
    let outcome = run(
        &aws,
        &request("r-0601", "2026-12-03T09:00:00Z", detail),
        &[],
    )
    .await;
    assert_eq!(outcome.trigger, "manual-disable");
    let sent: Vec<Value> = switches(&aws)
        .into_iter()
        .filter(|c| c["comment"] == "livepatch-autopilot disable r-0601")
        .collect();
    assert_eq!(sent.len(), 1, "only AL2023 is disabled at once");
    assert_eq!(sent[0]["document_name"], AL2023_DOC);
    assert_eq!(ids(&sent[0]), [AL2023]);
    assert_eq!(outcome.booked.len(), 1);
    assert_eq!(outcome.booked[0].instance_ids, [AL2_ON]);
    assert_eq!(outcome.booked[0].starts, "2026-12-04T03:00:00Z");

    let ssm = aws.ssm_reader();
    let windows = ssm.describe_maintenance_windows().send().await.unwrap();
    let window = windows
        .window_identities()
        .iter()
        .find(|w| w.name() == Some("livepatch-autopilot-disable-r-0601"))
        .expect("the window is booked");
    let window_id = window.window_id().unwrap();
    assert_eq!(outcome.booked[0].window_id.as_deref(), Some(window_id));
    let details = ssm
        .get_maintenance_window()
        .window_id(window_id)
        .send()
        .await
        .unwrap();
    assert_eq!(details.schedule(), Some("at(2026-12-04T03:00:00)"));
    let tasks = ssm
        .describe_maintenance_window_tasks()
        .window_id(window_id)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.tasks()[0].task_arn(), Some(AWS_DOC));
    assert_eq!(
        tasks.tasks()[0].service_role_arn(),
        Some("arn:aws:iam::123456789012:role/livepatch-autopilot-WindowTaskRole")
    );

    aws.run_agents();
    assert!(
        !livepatch(&aws, AL2023).0,
        "AL2023 is off, without a reboot"
    );
    assert!(livepatch(&aws, AL2_ON).0, "AL2 stays on until its window");
    let text = email(&aws);
    assert!(
        text.contains("delete-maintenance-window --window-id"),
        "{text}"
    );

    // Redelivered: the window is found, not booked twice.
    let detail = json!({"action": "disable", "instance-ids": [AL2_ON, AL2023],
        "confirm": "DISABLE LIVE PATCHING ON 2 INSTANCES"});
    let again = run(
        &aws,
        &request("r-0601", "2026-12-03T09:00:00Z", detail),
        &[],
    )
    .await;
    assert_eq!(again.booked[0].window_id.as_deref(), Some(window_id));
    let count = ssm
        .describe_maintenance_windows()
        .send()
        .await
        .unwrap()
        .window_identities()
        .iter()
        .filter(|w| w.name() == Some("livepatch-autopilot-disable-r-0601"))
        .count();
    assert_eq!(count, 1);
}

/// The parameters under the deployed disable-record path: instance id → request id.
async fn disable_records(aws: &LocalAws) -> Vec<(String, String)> {
    let path = aws
        .function_env("enable", "DISABLED_RECORDS_PATH")
        .expect("deployed");
    let found = aws
        .ssm_reader()
        .get_parameters_by_path()
        .path(&path)
        .send()
        .await
        .unwrap();
    found
        .parameters()
        .iter()
        .map(|p| {
            let record: Value = serde_json::from_str(p.value().unwrap()).unwrap();
            (
                p.name().unwrap().rsplit('/').next().unwrap().to_owned(),
                record["request"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_disable_on_request_outlives_command_history_until_a_manual_enable() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    run(&aws, &scheduled("e-0701", "2026-12-03T02:00:00Z"), &[]).await;
    aws.run_agents(); // AL2023 is now on
    let detail = json!({"action": "disable", "instance-ids": [AL2023],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE"});
    let outcome = run(
        &aws,
        &request("r-0701", "2026-12-03T09:00:00Z", detail),
        &[],
    )
    .await;
    assert_eq!(outcome.switching.len(), 1, "{outcome:?}");
    assert!(outcome.unrecorded.is_empty(), "{outcome:?}");
    aws.run_agents();
    assert!(!livepatch(&aws, AL2023).0);
    assert_eq!(
        disable_records(&aws).await,
        [(AL2023.to_owned(), "r-0701".to_owned())]
    );

    // 40 days on, Run Command no longer shows the disable; the record still keeps it off.
    scan(&aws, "2027-01-12T01:00:00Z").await;
    let later = run(&aws, &scheduled("e-0702", "2027-01-12T02:00:00Z"), &[]).await;
    assert!(
        later.switching.iter().all(|s| s.instance_id != AL2023),
        "{later:?}"
    );
    let sent_before = switches(&aws).len();

    // A person asks for it on: enabled, and the record is gone.
    let detail = json!({"action": "enable", "instance-ids": [AL2023]});
    let enabled = run(
        &aws,
        &request("r-0702", "2027-01-12T09:00:00Z", detail),
        &[],
    )
    .await;
    assert_eq!(enabled.switching.len(), 1, "{enabled:?}");
    assert_eq!(switches(&aws).len(), sent_before + 1);
    assert!(disable_records(&aws).await.is_empty());
    aws.run_agents();
    assert!(livepatch(&aws, AL2023).0);

    // A dry-run disable records nothing.
    let detail = json!({"action": "disable", "instance-ids": [AL2023],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE"});
    run(
        &aws,
        &request("r-0703", "2027-01-12T10:00:00Z", detail),
        &[("DRY_RUN", "true")],
    )
    .await;
    assert!(disable_records(&aws).await.is_empty());
}

/// A disable asked for an instance that is off already is remembered all the same (else the daily
/// run would turn it on), and a record someone wrote by hand, whatever its value, keeps its
/// instance off too.
#[tokio::test]
async fn a_disable_of_an_instance_already_off_and_a_record_written_by_hand_keep_it_off() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let detail = json!({"action": "disable", "instance-ids": [AL2_510],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE"});
    let outcome = run(
        &aws,
        &request("r-0751", "2026-12-03T01:30:00Z", detail),
        &[],
    )
    .await;
    assert!(outcome.switching.is_empty(), "{outcome:?}");
    assert!(
        reasons(&outcome.skipped).contains(&(AL2_510, "live patching is already off")),
        "{:?}",
        outcome.skipped
    );
    assert_eq!(
        disable_records(&aws).await,
        [(AL2_510.to_owned(), "r-0751".to_owned())]
    );
    let path = aws
        .function_env("enable", "DISABLED_RECORDS_PATH")
        .expect("deployed");
    aws.ssm_reader()
        .put_parameter()
        .name(format!("{path}/{AL2023}"))
        .value("off, ticket OPS-42")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();

    let daily = run(&aws, &scheduled("e-0751", "2026-12-03T02:00:00Z"), &[]).await;
    assert!(switches(&aws).is_empty(), "{:#?}", switches(&aws));
    let skipped = reasons(&daily.skipped);
    for (id, reference) in [(AL2_510, "request r-0751"), (AL2023, "request parameter ")] {
        assert!(
            skipped.iter().any(|(i, why)| *i == id
                && why.starts_with("live patching was disabled on request")
                && why.contains(reference)),
            "{id}: {skipped:?}"
        );
    }
    for id in [AL2_510, AL2023] {
        assert!(!livepatch(&aws, id).0, "{id} stays off");
    }
}

#[tokio::test]
async fn bad_manual_requests_are_refused_with_a_message_and_change_nothing() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let cases = [
        (
            json!({"action": "enable", "instance-ids": []}),
            "instance-ids must list at least one instance id",
            vec![],
        ),
        (
            json!({"action": "enable", "instance-ids": [AL2_510, "i-nope"]}),
            "not instance ids: \"i-nope\"",
            vec![],
        ),
        (
            json!({"action": "enable", "instance-ids": ["i-0e1a2b3c4d5e6ffff"]}),
            "i-0e1a2b3c4d5e6ffff: not registered with Systems Manager",
            vec![],
        ),
        (
            json!({"action": "enable", "instance-ids": [AL2_510, AL2023]}),
            "i-0e1a2b3c4d5e60003: outside the target tags",
            vec![("TARGET_TAGS", "Name=web")],
        ),
        (
            json!({"action": "disable", "instance-ids": [AL2_ON], "confirm": "yes"}),
            "confirm is \"yes\"",
            vec![],
        ),
    ];
    for (n, (detail, expected, overrides)) in cases.into_iter().enumerate() {
        let event = request(&format!("r-07{n:02}"), "2026-12-03T09:00:00Z", detail);
        let outcome = run(&aws, &event, &overrides).await;
        let refused = outcome.refused.unwrap_or_default();
        assert!(refused.contains(expected), "{n}: {refused}");
        assert!(outcome.switching.is_empty() && outcome.booked.is_empty());
    }
    assert!(switches(&aws).is_empty());
    let windows = clients(&aws)
        .ssm
        .describe_maintenance_windows()
        .send()
        .await
        .unwrap();
    assert!(windows.window_identities().is_empty());
    let refusals = aws
        .notifications()
        .iter()
        .filter(|n| {
            n["notification"]["subject"]
                .as_str()
                .unwrap_or_default()
                .contains("request refused")
        })
        .count();
    assert_eq!(refusals, 5);
}

#[tokio::test]
async fn a_running_enable_is_not_sent_again_and_a_malformed_event_fails_before_any_call() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    run(&aws, &scheduled("e-0801", "2026-12-03T02:00:00Z"), &[]).await;
    assert_eq!(switches(&aws).len(), 2);
    // Before the agents answer: the same event redelivered, and the next firing.
    let again = run(&aws, &scheduled("e-0801", "2026-12-03T02:00:00Z"), &[]).await;
    let next = run(&aws, &scheduled("e-0802", "2026-12-03T02:30:00Z"), &[]).await;
    assert_eq!(switches(&aws).len(), 2, "nothing sent twice");
    assert!(again.switching.is_empty() && next.switching.is_empty());
    let running = next
        .skipped
        .iter()
        .find(|s| s.instance_id == AL2_510)
        .unwrap();
    assert!(
        running.reason.contains("is still running on it"),
        "{}",
        running.reason
    );

    let mut bad = scheduled("e-0803", "2026-12-03T03:00:00Z");
    bad.as_object_mut().unwrap().remove("time");
    let err = handle(&clients(&aws), &settings(&aws, &[]), &bad)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("\"time\""), "{err}");
    let mut not_manual = request("r-0801", "2026-12-03T09:00:00Z", json!({}));
    not_manual["detail-type"] = json!("Something Else");
    assert!(handle(&clients(&aws), &settings(&aws, &[]), &not_manual)
        .await
        .is_err());
    assert_eq!(switches(&aws).len(), 2);
}

#[tokio::test]
async fn an_enable_undone_by_someone_else_is_reported_not_verified() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    run(&aws, &scheduled("e-0901", "2026-12-03T02:00:00Z"), &[]).await;
    aws.run_agents();
    // Someone turns it off by hand (not through the product).
    clients(&aws)
        .ssm
        .send_command()
        .document_name(AL2023_DOC)
        .instance_ids(AL2023)
        .parameters("Action", vec!["Disable".into()])
        .comment("manual fiddling")
        .send()
        .await
        .unwrap();
    aws.run_agents();
    scan(&aws, "2026-12-04T01:00:00Z").await;
    let outcome = run(&aws, &scheduled("e-0902", "2026-12-04T02:00:00Z"), &[]).await;
    let (id, reason) = reasons(&outcome.not_verified)[0];
    assert_eq!(id, AL2023);
    assert!(reason.contains("still show live patching off"), "{reason}");
    assert!(outcome.switching.iter().all(|s| s.instance_id != AL2023));
    assert!(email(&aws).contains("get-command-invocation --command-id"));
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_sends_nothing() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let outcome = run(
        &aws,
        &scheduled("e-1001", "2026-12-03T02:00:00Z"),
        &[("DRY_RUN", "true")],
    )
    .await;
    assert!(outcome.dry_run);
    assert_eq!(outcome.switching.len(), 2);
    assert!(outcome.switching.iter().all(|s| s.command_id.is_none()));
    assert!(switches(&aws).is_empty());
    assert!(email(&aws).starts_with("Would turn on live patching on 2 instances"));
}

#[tokio::test]
async fn a_quiet_day_publishes_nothing() {
    let mut fleet = cases();
    fleet["instances"] = json!([fleet["instances"][5].clone(), fleet["instances"][3].clone()]);
    let aws = LocalAws::start_with(&fleet);
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let before = aws.notifications().len();
    let outcome = run(&aws, &scheduled("e-1101", "2026-12-03T02:00:00Z"), &[]).await;
    assert_eq!(outcome.unsupported.len(), 1);
    assert!(outcome.notification_id.is_none());
    assert_eq!(aws.notifications().len(), before);
}

/// Windows of the product's disable prefix.
async fn disable_windows(aws: &LocalAws) -> Vec<(String, String)> {
    clients(aws)
        .ssm
        .describe_maintenance_windows()
        .send()
        .await
        .unwrap()
        .window_identities()
        .iter()
        .filter(|w| {
            w.name()
                .unwrap_or_default()
                .starts_with("livepatch-autopilot-disable-")
        })
        .map(|w| {
            (
                w.window_id().unwrap().to_owned(),
                w.name().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_half_made_window_is_completed_a_second_request_is_told_it_is_booked_and_the_window_is_removed_when_over(
) {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    let ssm = aws.ssm_reader();
    // An earlier delivery created the window, then failed before its target and task.
    let half = ssm
        .create_maintenance_window()
        .name("livepatch-autopilot-disable-r-1201")
        .schedule("at(2026-12-04T03:00:00)")
        .schedule_timezone("UTC")
        .duration(2)
        .cutoff(1)
        .allow_unassociated_targets(false)
        .tags(
            aws_sdk_ssm::types::Tag::builder()
                .key("livepatch-autopilot:purpose")
                .value("disable-live-patching")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .window_id()
        .unwrap()
        .to_owned();
    let detail = json!({"action": "disable", "instance-ids": [AL2_ON],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE"});
    let first = run(
        &aws,
        &request("r-1201", "2026-12-03T09:00:00Z", detail.clone()),
        &[],
    )
    .await;
    assert_eq!(first.booked[0].window_id.as_deref(), Some(half.as_str()));
    let targets = ssm
        .describe_maintenance_window_targets()
        .window_id(&half)
        .send()
        .await
        .unwrap();
    assert_eq!(targets.targets().len(), 1, "the target is registered");
    let tasks = ssm
        .describe_maintenance_window_tasks()
        .window_id(&half)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.tasks().len(), 1, "the task is registered");
    assert_eq!(tasks.tasks()[0].task_arn(), Some(AWS_DOC));
    // Redelivered again: nothing doubled.
    run(
        &aws,
        &request("r-1201", "2026-12-03T09:00:00Z", detail.clone()),
        &[],
    )
    .await;
    let tasks = ssm
        .describe_maintenance_window_tasks()
        .window_id(&half)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.tasks().len(), 1);

    // Another request for the same instance: already booked, no second window.
    let second = run(
        &aws,
        &request("r-1202", "2026-12-03T10:00:00Z", detail),
        &[],
    )
    .await;
    assert!(second.booked.is_empty(), "{second:#?}");
    let (_, reason) = reasons(&second.skipped)[0];
    assert!(
        reason.starts_with(&format!(
            "already booked in {half} (livepatch-autopilot-disable-r-1201) at 2026-12-04T03:00:00Z"
        )),
        "{reason}"
    );
    assert_eq!(disable_windows(&aws).await.len(), 1);

    // The daily run after the window is over removes it.
    aws.set_clock("2026-12-04T04:30:00Z");
    aws.run_agents();
    let during = run(&aws, &scheduled("e-1201", "2026-12-04T04:30:00Z"), &[]).await;
    assert!(during.removed_windows.is_empty(), "not over yet");
    aws.set_clock("2026-12-04T06:00:00Z");
    aws.run_agents();
    let after = run(&aws, &scheduled("e-1202", "2026-12-05T02:00:00Z"), &[]).await;
    assert_eq!(
        after.removed_windows,
        [format!("{half} (livepatch-autopilot-disable-r-1201)")]
    );
    assert!(disable_windows(&aws).await.is_empty());
}

#[tokio::test]
async fn a_rebooting_disable_waits_for_a_running_patch_run() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    aws.set_clock("2026-12-03T08:59:00Z");
    let patch = clients(&aws)
        .ssm
        .send_command()
        .document_name("AWS-RunPatchBaseline")
        .instance_ids(AL2_ON)
        .parameters("Operation", vec!["Install".into()])
        .send()
        .await
        .unwrap();
    let patch_id = patch.command().unwrap().command_id().unwrap().to_owned();
    let detail = json!({"action": "disable", "instance-ids": [AL2_ON],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE", "now": true});
    let outcome = run(
        &aws,
        &request("r-1301", "2026-12-03T09:00:00Z", detail),
        &[],
    )
    .await;
    assert!(outcome.switching.is_empty(), "{outcome:#?}");
    assert_eq!(
        reasons(&outcome.skipped),
        [(
            AL2_ON,
            format!("patch run in progress: {patch_id}").as_str()
        )]
    );
    assert!(switches(&aws).is_empty());
    assert!(email(&aws).contains("0 turning off now"));
}

#[tokio::test]
async fn an_enable_after_the_products_own_disable_goes_by_the_command_not_the_older_facts() {
    let aws = LocalAws::start_with(&cases());
    scan(&aws, "2026-12-03T01:00:00Z").await;
    run(&aws, &scheduled("e-1401", "2026-12-03T02:00:00Z"), &[]).await;
    aws.run_agents();
    scan(&aws, "2026-12-03T03:00:00Z").await; // AL2023 on in the facts
    let off = json!({"action": "disable", "instance-ids": [AL2023],
        "confirm": "DISABLE LIVE PATCHING ON 1 INSTANCE"});
    run(&aws, &request("r-1401", "2026-12-03T09:00:00Z", off), &[]).await;
    aws.run_agents();
    assert!(!livepatch(&aws, AL2023).0);
    // No scan since: the facts still say on.
    let on = json!({"action": "enable", "instance-ids": [AL2023]});
    let outcome = run(&aws, &request("r-1402", "2026-12-03T10:00:00Z", on), &[]).await;
    assert_eq!(outcome.switching.len(), 1, "{outcome:#?}");
    assert_eq!(outcome.switching[0].instance_id, AL2023);
}
