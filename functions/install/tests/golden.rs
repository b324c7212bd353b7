//! Golden files: the email text and the chat card of every message the install function sends, as
//! published (checked by `livepatch_testkit::golden`). A change to wording shows up in review as a
//! diff of `tests/golden/`. Regenerate with `UPDATE_GOLDEN=1 cargo test -p install --test golden`.

use install::report::summary;
use install::{Failed, InstallOutcome, Installing, Skipped, Stuck};
use jiff::Timestamp;
use livepatch_shared::domain::install::InstallSkip;
use livepatch_shared::notify::Level;
use livepatch_testkit::golden;

fn now() -> Timestamp {
    "2026-12-03T13:05:00Z".parse().unwrap()
}

fn check(name: &str, outcome: &InstallOutcome) -> livepatch_shared::notify::Notification {
    let n = summary(outcome, now()).unwrap_or_else(|| panic!("{name}: no message"));
    golden::check(env!("CARGO_MANIFEST_DIR"), name, &n);
    n
}

fn skipped(instance: &str, reason: InstallSkip, noteworthy: bool) -> Skipped {
    Skipped {
        instance_id: Some(instance.into()),
        message_id: None,
        reason: reason.to_string(),
        noteworthy,
    }
}

const LIVE_5_10: &str = "kernel-livepatch-5.10.227-219.884.x86_64:0:1.0-2.amzn2";
const LIVE_6_1: &str = "kernel-livepatch-6.1.115-126.197.x86_64:0:1.0-1.amzn2023";

fn queue(run: &str) -> InstallOutcome {
    InstallOutcome {
        trigger: "queue".into(),
        run: run.into(),
        snapshot_id: "b3a2c1d0-e9f8-5a7b-8c6d-5e4f3a2b1c0d".into(),
        ..InstallOutcome::default()
    }
}

fn sweep() -> InstallOutcome {
    InstallOutcome {
        trigger: "sweep".into(),
        run: "sweep 6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d".into(),
        snapshot_id: "c4b3d2e1-f0a9-5b8c-9d7e-6f5a4b3c2d1e".into(),
        ..InstallOutcome::default()
    }
}

#[test]
fn installing_with_packages_pending_a_reboot_and_skips() {
    let mut outcome = queue("queue 2026-12-03T13:04:58Z");
    outcome.installing = vec![
        Installing {
            instance_id: "i-0a1b2c3d4e5f60001".into(),
            command_id: Some("8e7d6c5b-4a3f-4e2d-9c1b-0a9f8e7d6c5b".into()),
            live_patches: vec![LIVE_5_10.into()],
            other_patches: [
                "kernel-5.10.228-219.884.amzn2.x86_64:0:5.10.228-219.884.amzn2",
                "openssl-libs.x86_64:1:1.0.2k-24.amzn2.0.14",
                "glibc.x86_64:0:2.26-64.amzn2.0.3",
                "glibc-common.x86_64:0:2.26-64.amzn2.0.3",
                "systemd.x86_64:0:219-78.amzn2.0.23",
                "systemd-libs.x86_64:0:219-78.amzn2.0.23",
                "curl.x86_64:0:8.3.0-1.amzn2.0.6",
            ]
            .map(String::from)
            .to_vec(),
        },
        Installing {
            instance_id: "i-0a1b2c3d4e5f60004".into(),
            command_id: Some("8e7d6c5b-4a3f-4e2d-9c1b-0a9f8e7d6c5b".into()),
            live_patches: vec![LIVE_6_1.into()],
            other_patches: vec![],
        },
    ];
    outcome.skipped = vec![
        skipped(
            "i-0a1b2c3d4e5f60005",
            InstallSkip::LivePatchingOff,
            true,
        ),
        skipped(
            "i-0a1b2c3d4e5f60006",
            InstallSkip::NotAmazonLinux {
                platform: "Ubuntu 22.04".into(),
            },
            true,
        ),
        skipped("i-0a1b2c3d4e5f60002", InstallSkip::NothingMissing, false),
        Skipped {
            instance_id: None,
            message_id: Some("4f3e2d1c-0b9a-4877-a665-5d4c3b2a1f0e".into()),
            reason: "event is not a well-formed EventBridge event: body is not JSON: expected value at line 1 column 1".into(),
            noteworthy: true,
        },
    ];
    let n = check("install-started", &outcome);
    assert_eq!(n.level, Level::Info);
    assert_eq!(n.event_type, "install.started");
}

#[test]
fn a_dry_run_of_approved_patches() {
    let mut outcome = queue("queue 2026-12-03T13:04:58Z");
    outcome.dry_run = true;
    outcome.installing = vec![Installing {
        instance_id: "i-0a1b2c3d4e5f60003".into(),
        command_id: None,
        live_patches: vec![],
        other_patches: vec!["openssl-libs.x86_64:1:1.0.2k-24.amzn2.0.14".into()],
    }];
    check("install-dry-run", &outcome);
}

#[test]
fn the_sweep_finds_instances_stuck() {
    let mut outcome = sweep();
    outcome.installing = vec![Installing {
        instance_id: "i-0a1b2c3d4e5f60004".into(),
        command_id: Some("0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f".into()),
        live_patches: vec![LIVE_6_1.into()],
        other_patches: vec![],
    }];
    outcome.stuck = vec![
        Stuck {
            instance_id: "i-0a1b2c3d4e5f60001".into(),
            failures: 3,
            last_command_id: "9f8e7d6c-5b4a-4f3e-8d2c-1b0a9f8e7d6c".into(),
        },
        Stuck {
            instance_id: "i-0a1b2c3d4e5f60007".into(),
            failures: 4,
            last_command_id: "1a2b3c4d-5e6f-4a7b-9c8d-0e1f2a3b4c5d".into(),
        },
    ];
    // The sweep does not repeat standing skips, noteworthy or not.
    outcome.skipped = vec![skipped(
        "i-0a1b2c3d4e5f60005",
        InstallSkip::LivePatchingOff,
        true,
    )];
    let n = check("install-stuck", &outcome);
    assert_eq!(n.event_type, "install.stuck");
    assert_eq!(n.level, Level::Warning);
    assert!(!golden::published("install-stuck", &n)
        .email
        .contains("live patching is off"));

    let mut only_stuck = sweep();
    only_stuck.stuck = outcome.stuck.clone();
    check("install-stuck-only", &only_stuck);
}

#[test]
fn installs_not_sent() {
    let mut outcome = queue("queue 2026-12-03T13:04:58Z");
    outcome.failed = vec![
        Failed {
            instance_ids: vec!["i-0a1b2c3d4e5f60001".into(), "i-0a1b2c3d4e5f60004".into()],
            error: "SendCommand failed (ThrottlingException): Rate exceeded".into(),
            retried: true,
        },
        Failed {
            instance_ids: vec!["i-0a1b2c3d4e5f60009".into()],
            error: "SendCommand failed (InvalidInstanceId): Instances [[i-0a1b2c3d4e5f60009]] not in a valid state for account 123456789012".into(),
            retried: false,
        },
    ];
    let n = check("install-not-sent", &outcome);
    assert_eq!(n.level, Level::Warning);
}

#[test]
fn compliance_changes_that_cannot_be_acted_on() {
    let mut outcome = queue("queue 2026-12-03T13:04:58Z");
    outcome.skipped = vec![
        skipped("i-0a1b2c3d4e5f60005", InstallSkip::LivePatchingOff, true),
        skipped("i-0a1b2c3d4e5f60008", InstallSkip::NoKernelFacts, true),
        skipped("i-0a1b2c3d4e5f60002", InstallSkip::OptedOut, false),
    ];
    check("install-skipped", &outcome);
}

#[test]
fn nothing_to_say_is_no_message() {
    assert!(summary(&queue("queue 2026-12-03T13:04:58Z"), now()).is_none());
    let mut routine = queue("queue 2026-12-03T13:04:58Z");
    routine.skipped = vec![
        skipped("i-0a1b2c3d4e5f60002", InstallSkip::NothingMissing, false),
        skipped("i-0a1b2c3d4e5f60003", InstallSkip::OnlyPendingReboot, false),
    ];
    assert!(summary(&routine, now()).is_none());
    // The sweep keeps standing skips, even noteworthy ones, to the log.
    let mut standing = sweep();
    standing.skipped = vec![skipped(
        "i-0a1b2c3d4e5f60005",
        InstallSkip::LivePatchingOff,
        true,
    )];
    assert!(summary(&standing, now()).is_none());
}
