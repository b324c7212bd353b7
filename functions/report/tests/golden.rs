//! Golden files: the email text and the chat card of every message kind the report function
//! sends, byte for byte. A change to wording shows up in review as a diff of `tests/golden/`.
//! What is compared is what is published (`Notification::render()`), checked by
//! `livepatch_testkit::golden`: a valid chat card, a short subject, the attributes, the size.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p report --test golden`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use livepatch_shared::domain::digest::{
    digest, BookedReboot, DigestInstance, LivePatchGap, PatchView, RecentFailure,
};
use livepatch_shared::domain::facts::KernelFacts;
use livepatch_shared::domain::outcome::{FailureCause, InstanceFailure, InvocationResult};
use livepatch_shared::domain::{InstanceId, Platform, Severity};
use livepatch_shared::notify::Notification;
use livepatch_testkit::golden;
use report::command::{Action, CommandReport, WindowPurpose, WindowRun};

fn check(name: &str, notification: &Notification) {
    golden::check(env!("CARGO_MANIFEST_DIR"), name, notification);
}

fn result(instance: &str, status: &str, details: &str, output: &str) -> InvocationResult {
    InvocationResult {
        instance_id: instance.into(),
        status: status.into(),
        status_details: details.into(),
        output: output.into(),
    }
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
        .collect()
}

const LOCK: &str = "ERROR: yum lock held by another process; giving up after 600 seconds\n";

fn command(
    action: Action,
    status: &str,
    results: Vec<InvocationResult>,
    repeated: &[&str],
) -> CommandReport {
    let failures = results
        .iter()
        .filter_map(|r| {
            r.failure().map(|cause| InstanceFailure {
                instance_id: r.instance_id.clone(),
                cause,
                repeated: repeated.contains(&r.instance_id.as_str()),
            })
        })
        .collect();
    CommandReport {
        command_id: "0b7a3c2e-1f4d-4e8a-9c6b-5d2e1f0a9b8c".into(),
        document: "AWS-RunPatchBaseline".into(),
        action,
        status: status.into(),
        results,
        failures,
        window: None,
    }
}

#[test]
fn install_with_failures() {
    let report = command(
        Action::Install,
        "Failed",
        vec![
            result("i-0a1b2c3d4e5f60001", "Failed", "Failed", LOCK),
            result("i-0a1b2c3d4e5f60002", "Success", "Success", ""),
            result(
                "i-0a1b2c3d4e5f60004",
                "Failed",
                "Failed",
                "[Errno 28] No space left on device",
            ),
            result("i-0a1b2c3d4e5f60005", "TimedOut", "DeliveryTimedOut", ""),
            result("i-0a1b2c3d4e5f60006", "Failed", "Failed", LOCK),
        ],
        &["i-0a1b2c3d4e5f60006"],
    );
    check("command-install-failed", &report.notification().unwrap());
}

#[test]
fn install_succeeded() {
    let report = command(
        Action::Install,
        "Success",
        vec![
            result("i-0a1b2c3d4e5f60001", "Success", "Success", ""),
            result("i-0a1b2c3d4e5f60002", "Success", "Success", ""),
        ],
        &[],
    );
    check("command-install-succeeded", &report.notification().unwrap());
}

#[test]
fn scan_failed_on_an_offline_agent_and_a_stalled_kpatch() {
    let mut report = command(
        Action::Scan,
        "Failed",
        vec![
            result("i-0a1b2c3d4e5f60001", "Success", "Success", ""),
            result("i-0a1b2c3d4e5f60003", "Undeliverable", "Undeliverable", ""),
        ],
        &[],
    );
    report.document = "AWS-RunPatchBaseline".into();
    check("command-scan-failed", &report.notification().unwrap());
    let kpatch = command(
        Action::Install,
        "Failed",
        vec![result(
            "i-0a1b2c3d4e5f60007",
            "Failed",
            "Failed",
            "kpatch: error: failed to load module livepatch_CVE_2026_21017: patch transition has stalled!",
        )],
        &[],
    );
    check("command-install-kpatch", &kpatch.notification().unwrap());
}

#[test]
fn reboot_window_with_a_failure() {
    let mut report = command(
        Action::Reboot,
        "FAILED",
        vec![
            result("i-0c5e1a7b9d3f20003", "Success", "Success", ""),
            result(
                "i-0c5e1a7b9d3f20004",
                "Failed",
                "Failed",
                "[Errno 28] No space left on device: '/boot'",
            ),
        ],
        &[],
    );
    report.command_id = "14bea65d-5ccc-462d-a2f3-e99c8c1d2e3f".into();
    report.window = Some(WindowRun {
        window_id: "mw-0c50858d01a1b2c3d".into(),
        name: "livepatch-autopilot-reboot-20261220T0300-0500-utc".into(),
        key: "20261220T0300-0500-utc".into(),
        purpose: WindowPurpose::Reboot,
    });
    check("window-reboot-failed", &report.notification().unwrap());
}

#[test]
fn enable_succeeded() {
    let mut report = command(
        Action::Enable,
        "Success",
        vec![result("i-0a1b2c3d4e5f60003", "Success", "Success", "")],
        &[],
    );
    report.document = "AWS-ConfigureKernelLivePatching".into();
    let _ = params(&[]);
    check("command-enable-succeeded", &report.notification().unwrap());
}

fn instance(
    n: u32,
    name: &str,
    platform: Platform,
    facts: Option<KernelFacts>,
    patches: Option<PatchView>,
) -> DigestInstance {
    DigestInstance {
        id: format!("i-0a1b2c3d4e5f6{n:04}").parse().unwrap(),
        name: name.into(),
        platform,
        online: true,
        opted_out: false,
        facts,
        patches,
    }
}

fn facts(
    kernel: &str,
    version: &str,
    os: &str,
    on: bool,
    support: &str,
    kpatch: &str,
) -> KernelFacts {
    let entry: BTreeMap<String, String> = [
        ("KernelRelease", kernel),
        ("KernelVersion", version),
        ("OsId", "amzn"),
        ("OsVersion", os),
        ("LivePatchPlugin", if on { "installed" } else { "absent" }),
        (
            "KpatchServiceEnabled",
            if on { "enabled" } else { "disabled" },
        ),
        ("SupportOutput", support),
        ("KpatchList", kpatch),
        ("CollectedAt", "2026-12-03T01:00:00Z"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    KernelFacts::from_inventory(&entry)
}

#[test]
fn daily_digest() {
    let now: Timestamp = "2026-12-03T07:00:00Z".parse().unwrap();
    let al2 = "5.10.227-219.884.amzn2.x86_64";
    let old = "5.10.220-209.869.amzn2.x86_64";
    let al2023 = "6.1.115-126.197.amzn2023.x86_64";
    let recent = "#1 SMP Tue Oct 13 18:21:30 UTC 2026";
    let gap = |severity, cves: &[&str]| LivePatchGap {
        kb_id: "kernel-livepatch-5.10.227-219.884.x86_64".into(),
        severity,
        cve_ids: cves.iter().map(|c| (*c).to_owned()).collect(),
        advisory_ids: vec![
            "ALAS2LIVEPATCH-2026-031".into(),
            "ALAS2LIVEPATCH-2026-034".into(),
        ],
    };
    let not_loaded = "Loaded patch modules:\n\nInstalled patch modules:\nlivepatch_CVE_2026_21017 (5.10.227-219.884.amzn2.x86_64)\n";
    let mut instances = vec![
        instance(1, "web-1", Platform::AmazonLinux2, Some(facts(al2, recent, "2", true, "", "")), Some(PatchView { compliant: false, missing_live_patches: vec![gap(Some(Severity::Critical), &["CVE-2026-21017", "CVE-2026-21018"])] })),
        instance(2, "web-2", Platform::AmazonLinux2, Some(facts(al2, recent, "2", true, "", not_loaded)), Some(PatchView { compliant: true, missing_live_patches: vec![] })),
        instance(3, "batch-1", Platform::AmazonLinux2, Some(facts(old, "#1 SMP Thu Aug 20 10:00:00 UTC 2026", "2", true, "", "")), Some(PatchView { compliant: true, missing_live_patches: vec![] })),
        instance(4, "api-1", Platform::AmazonLinux2023, Some(facts(al2023, "#1 SMP PREEMPT_DYNAMIC Tue Nov 10 10:00:00 UTC 2026", "2023", true, "6.1.115-126.197.amzn2023.x86_64 will no longer receive live patches after 2027-02-10.", "")), Some(PatchView { compliant: true, missing_live_patches: vec![] })),
        instance(5, "legacy-1", Platform::AmazonLinux2, Some(facts("4.14.152-124.171.amzn2.x86_64", recent, "2", false, "", "")), None),
        instance(6, "ubuntu-1", Platform::Other("Ubuntu 22.04".into()), None, None),
    ];
    instances[5].online = true;
    let booked = ["i-0a1b2c3d4e5f60003", "i-0a1b2c3d4e5f60005"]
        .map(|id| BookedReboot {
            instance: id.parse::<InstanceId>().unwrap(),
            starts: "2026-12-06T02:00:00Z".parse().unwrap(),
            label: "Sun 2026-12-06 03:00 Europe/Berlin".into(),
        })
        .to_vec();
    let failures = vec![
        RecentFailure {
            instance: "i-0a1b2c3d4e5f60001".into(),
            action: "install".into(),
            cause: FailureCause::PackageLockHeld,
            at: "2026-12-02T13:00:00Z".parse().unwrap(),
        },
        RecentFailure {
            instance: "i-0a1b2c3d4e5f60001".into(),
            action: "install".into(),
            cause: FailureCause::PackageLockHeld,
            at: "2026-12-03T01:00:00Z".parse().unwrap(),
        },
    ];
    let d = digest(&instances, &booked, &failures, now);
    let names = instances
        .iter()
        .map(|i| (i.id.clone(), i.name.clone()))
        .collect();
    check("digest", &report::digest::notification(&d, &names, now));
}

#[test]
fn booked_disable_window_succeeded() {
    let mut report = command(
        Action::Disable,
        "SUCCESS",
        vec![
            result("i-0c5e1a7b9d3f20007", "Success", "Success", ""),
            result("i-0c5e1a7b9d3f20008", "Success", "Success", ""),
        ],
        &[],
    );
    report.command_id = "7d2f9a41-3c6e-4b8d-a1f0-5e9c2b7d4a63".into();
    report.document = "AWS-ConfigureKernelLivePatching".into();
    report.window = Some(WindowRun {
        window_id: "mw-0d61f2a9c3b4e5f60".into(),
        name: "livepatch-autopilot-disable-5c1f7a2e-8d3b-4f6a-9e0c-2b7d4a1c3e5f".into(),
        key: "5c1f7a2e-8d3b-4f6a-9e0c-2b7d4a1c3e5f".into(),
        purpose: WindowPurpose::Disable,
    });
    check("window-disable-succeeded", &report.notification().unwrap());
}

#[test]
fn windows_that_ran_no_command() {
    let mut reboot = command(Action::Reboot, "TIMED_OUT", vec![], &[]);
    reboot.command_id = "2b8e4c1d-9f7a-4e3b-8c6d-1a5f0e9b7c42".into();
    reboot.document = String::new();
    reboot.window = Some(WindowRun {
        window_id: "mw-0c50858d01a1b2c3d".into(),
        name: "livepatch-autopilot-reboot-20261220T0300-0500-utc".into(),
        key: "20261220T0300-0500-utc".into(),
        purpose: WindowPurpose::Reboot,
    });
    assert_eq!(
        reboot.notification(),
        None,
        "nothing ran: no command report"
    );
    check("window-reboot-empty", &reboot.empty_window().unwrap());

    let mut disable = command(Action::Disable, "SUCCESS", vec![], &[]);
    disable.command_id = "9a3c5e7f-1b2d-4f6a-8c0e-3d5f7a9b1c2e".into();
    disable.document = String::new();
    disable.window = Some(WindowRun {
        window_id: "mw-0d61f2a9c3b4e5f60".into(),
        name: "livepatch-autopilot-disable-5c1f7a2e-8d3b-4f6a-9e0c-2b7d4a1c3e5f".into(),
        key: "5c1f7a2e-8d3b-4f6a-9e0c-2b7d4a1c3e5f".into(),
        purpose: WindowPurpose::Disable,
    });
    check("window-disable-empty", &disable.empty_window().unwrap());
    // A command outside a window has no empty-window message.
    assert_eq!(
        command(Action::Scan, "Success", vec![], &[]).empty_window(),
        None
    );
}

#[test]
fn facts_collection_failed() {
    let denied =
        "An error occurred (AccessDeniedException) when calling the PutInventory operation: \
        User: arn:aws:sts::123456789012:assumed-role/web-instance-role/i-0a1b2c3d4e5f60002 is not \
        authorized to perform: ssm:PutInventory on resource: arn:aws:ssm:us-east-1:123456789012:*\n\
        put-inventory failed\nfailed to run commands: exit status 1\n";
    let no_python = "/bin/bash: line 35: : command not found\n\
        could not render the kernel facts\nfailed to run commands: exit status 1\n";
    let mut report = command(
        Action::Facts,
        "Failed",
        vec![
            result("i-0a1b2c3d4e5f60001", "Success", "Success", ""),
            result("i-0a1b2c3d4e5f60002", "Failed", "Failed", denied),
            result("i-0a1b2c3d4e5f60003", "Failed", "Failed", no_python),
            result("i-0a1b2c3d4e5f60004", "TimedOut", "DeliveryTimedOut", ""),
        ],
        &[],
    );
    report.command_id = "3e9d1b7a-5c2f-4a8e-9b6d-0f4c2a8e6d13".into();
    report.document = "LivePatchAutopilot-KernelFacts".into();
    check("command-facts-failed", &report.notification().unwrap());
    // The same failures already reported for the previous run: left to the digest.
    for failure in &mut report.failures {
        failure.repeated = true;
    }
    assert_eq!(report.notification(), None);
}
