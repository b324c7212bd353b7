//! Golden files: the email text and the chat card of every message the enable function sends, as
//! published (checked by `livepatch_testkit::golden`). A change to wording shows up in review as a
//! diff of `tests/golden/`. Regenerate with `UPDATE_GOLDEN=1 cargo test -p enable --test golden`.

use enable::report::summary;
use enable::{Booked, EnableOutcome, Failed, Finding, Switching};
use jiff::Timestamp;
use livepatch_shared::domain::enable::{EnableSkip, NotInEffect, CONFIGURE_KLP};
use livepatch_shared::manual::{confirmation_phrase, Refusal};
use livepatch_shared::notify::{Level, Notification};
use livepatch_testkit::golden;

const OPT_OUT_TAG: &str = "livepatch-autopilot:opt-out";
const AL2023_DOCUMENT: &str = "LivePatchAutopilot-ConfigureKernelLivePatching";
const RUN: &str = "5c1f7a2e-8d3b-4f6a-9e0c-2b7d4a1c3e5f";

fn now() -> Timestamp {
    "2026-12-03T02:00:00Z".parse().unwrap()
}

fn check(name: &str, outcome: &EnableOutcome) -> Notification {
    let n = summary(outcome, OPT_OUT_TAG, now()).unwrap_or_else(|| panic!("{name}: no message"));
    golden::check(env!("CARGO_MANIFEST_DIR"), name, &n);
    n
}

fn finding(instance: &str, reason: &str) -> Finding {
    Finding {
        instance_id: instance.into(),
        reason: reason.into(),
        command_id: None,
    }
}

fn switching(
    instance: &str,
    action: &str,
    document: &str,
    command_id: Option<&str>,
    reboots: bool,
    note: &str,
) -> Switching {
    Switching {
        instance_id: instance.into(),
        action: action.into(),
        document: document.into(),
        command_id: command_id.map(str::to_owned),
        reboots,
        note: note.into(),
    }
}

fn scheduled() -> EnableOutcome {
    EnableOutcome {
        trigger: "schedule".into(),
        run: "0e1d2c3b-4a59-4687-b766-5a4b3c2d1e0f".into(),
        ..EnableOutcome::default()
    }
}

const DEFERRED: &str = "kernel 4.14.152-124.171.amzn2.x86_64 is below 4.14.165-131.185: enabling installs a newer kernel and reboots; reboot booked Sunday 2026-12-13 03:00 UTC (window livepatch-autopilot-reboot-20261213T0300-0500-utc)";
const DEFERRED_UNBOOKED: &str = "kernel 4.14.146-119.123.amzn2.x86_64 is below 4.14.165-131.185: enabling installs a newer kernel and reboots; plan-reboots books its reboot on its next run";

fn not_in_effect() -> String {
    NotInEffect {
        service_enabled: "disabled".into(),
        service_active: "inactive".into(),
        unloaded: vec!["livepatch_CVE_2026_21017".into()],
    }
    .to_string()
}

fn not_verified() -> Finding {
    Finding {
        instance_id: "i-0f3a9c2e41b7d5a05".into(),
        reason: "enable command 3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f succeeded at 2026-12-02T02:00:41Z, but kernel facts collected at 2026-12-03T01:00:12Z still show live patching off".into(),
        command_id: Some("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f".into()),
    }
}

fn stuck() -> Finding {
    Finding {
        instance_id: "i-0f3a9c2e41b7d5a06".into(),
        reason: "enabling failed 3 times in a row (last command 7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b); the schedule stops retrying for a week".into(),
        command_id: Some("7e8f9a0b-1c2d-4e3f-9a4b-5c6d7e8f9a0b".into()),
    }
}

#[test]
fn a_scheduled_run_with_every_finding() {
    let mut outcome = scheduled();
    outcome.switching = vec![
        switching(
            "i-0f3a9c2e41b7d5a01",
            "enable",
            CONFIGURE_KLP,
            Some("1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"),
            false,
            "no reboot",
        ),
        switching(
            "i-0f3a9c2e41b7d5a08",
            "enable",
            AL2023_DOCUMENT,
            Some("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"),
            false,
            "live patches were not in effect: enabling again enables kpatch.service",
        ),
    ];
    outcome.deferred = vec![
        finding("i-0f3a9c2e41b7d5a02", DEFERRED),
        finding("i-0f3a9c2e41b7d5a03", DEFERRED_UNBOOKED),
    ];
    outcome.unsupported = vec![
        finding("i-0f3a9c2e41b7d5a09", "Ubuntu 22.04 does not offer kernel live patching"),
        finding(
            "i-0f3a9c2e41b7d5a0a",
            "no live patches for kernel series 5.15 (5.15.167-112.166.amzn2.x86_64); move to kernel 5.10 (amazon-linux-extras install kernel-5.10) and reboot",
        ),
    ];
    outcome.not_in_effect = vec![finding("i-0f3a9c2e41b7d5a04", &not_in_effect())];
    outcome.not_verified = vec![not_verified()];
    outcome.stuck = vec![stuck()];
    outcome.skipped = vec![finding(
        "i-0f3a9c2e41b7d5a07",
        &EnableSkip::AlreadyOn.to_string(),
    )];
    outcome.removed_windows = vec![format!(
        "mw-0a9b8c7d6e5f40312 (livepatch-autopilot-disable-{RUN})"
    )];
    let n = check("enable-scheduled", &outcome);
    assert_eq!(n.event_type, "enable.started");
    assert_eq!(n.level, Level::Warning);
    let text = golden::published("enable-scheduled", &n).email;
    assert!(
        !text.contains("live patching is already on"),
        "the daily run keeps routine skips to the log"
    );
}

#[test]
fn a_scheduled_run_that_only_defers() {
    let mut outcome = scheduled();
    outcome.deferred = vec![finding("i-0f3a9c2e41b7d5a02", DEFERRED)];
    outcome.unsupported = vec![finding(
        "i-0f3a9c2e41b7d5a09",
        "Ubuntu 22.04 does not offer kernel live patching",
    )];
    let n = check("enable-deferred", &outcome);
    assert_eq!(n.event_type, "enable.findings");
}

#[test]
fn a_scheduled_run_that_finds_live_patches_not_in_effect() {
    let mut outcome = scheduled();
    outcome.not_in_effect = vec![finding("i-0f3a9c2e41b7d5a04", &not_in_effect())];
    check("enable-not-in-effect", &outcome);
}

#[test]
fn a_scheduled_run_where_enabling_did_not_take() {
    let mut outcome = scheduled();
    outcome.not_verified = vec![not_verified()];
    outcome.stuck = vec![stuck()];
    check("enable-not-verified", &outcome);
}

#[test]
fn a_scheduled_run_that_could_not_send() {
    let mut outcome = scheduled();
    outcome.failed = vec![Failed {
        instance_ids: vec!["i-0f3a9c2e41b7d5a01".into(), "i-0f3a9c2e41b7d5a0b".into()],
        error: "SendCommand failed (ThrottlingException): Rate exceeded".into(),
    }];
    check("enable-not-sent", &outcome);
}

#[test]
fn enabling_that_reboots_when_reboots_are_allowed() {
    let mut outcome = scheduled();
    outcome.switching = vec![switching(
        "i-0f3a9c2e41b7d5a02",
        "enable",
        CONFIGURE_KLP,
        Some("4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a"),
        true,
        "kernel 4.14.152-124.171.amzn2.x86_64 is below 4.14.165-131.185: enabling installs a newer kernel and reboots (reboots are allowed: ENABLE_ALLOW_REBOOT)",
    )];
    let n = check("enable-reboots", &outcome);
    assert_eq!(n.level, Level::Warning);
}

#[test]
fn a_manual_disable_booked_in_a_window() {
    let mut outcome = EnableOutcome {
        trigger: "manual-disable".into(),
        run: RUN.into(),
        ..EnableOutcome::default()
    };
    outcome.switching = vec![switching(
        "i-0f3a9c2e41b7d5a08",
        "disable",
        AL2023_DOCUMENT,
        Some("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"),
        false,
        "kpatch.service disabled, the plugin removed; no reboot (loaded live patches stay in effect until the next reboot)",
    )];
    outcome.booked = vec![Booked {
        instance_ids: vec!["i-0f3a9c2e41b7d5a01".into(), "i-0f3a9c2e41b7d5a03".into()],
        window_id: Some("mw-0d61f2a9c3b4e5f60".into()),
        window_name: format!("livepatch-autopilot-disable-{RUN}"),
        starts: "2026-12-04T03:00:00Z".into(),
    }];
    outcome.skipped = vec![finding(
        "i-0f3a9c2e41b7d5a07",
        &EnableSkip::AlreadyOff.to_string(),
    )];
    let n = check("disable-booked", &outcome);
    assert_eq!(n.event_type, "disable.started");

    let mut dry = outcome.clone();
    dry.dry_run = true;
    dry.switching[0].command_id = None;
    dry.booked[0].window_id = None;
    check("disable-dry-run", &dry);
}

#[test]
fn a_manual_disable_that_reboots_now() {
    let mut outcome = EnableOutcome {
        trigger: "manual-disable".into(),
        run: RUN.into(),
        ..EnableOutcome::default()
    };
    outcome.switching = vec![switching(
        "i-0f3a9c2e41b7d5a01",
        "disable",
        CONFIGURE_KLP,
        Some("6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c"),
        true,
        "the instance reboots now (AWS-ConfigureKernelLivePatching Disable removes the plugin and the live patches)",
    )];
    check("disable-now", &outcome);
}

#[test]
fn refused_manual_requests() {
    let missing = EnableOutcome {
        trigger: "manual".into(),
        run: RUN.into(),
        refused: Some(
            Refusal::MissingConfirmation {
                expected: confirmation_phrase(2),
            }
            .to_string(),
        ),
        ..EnableOutcome::default()
    };
    let n = check("enable-refused-confirmation", &missing);
    assert_eq!(n.event_type, "enable.refused");

    let out_of_scope = EnableOutcome {
        trigger: "manual-enable".into(),
        run: "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a".into(),
        refused: Some(
            Refusal::OutOfScope(vec![
                "i-0f3a9c2e41b7d5a0c: not registered with Systems Manager (unknown, stopped, or unmanaged)".into(),
                format!("i-0f3a9c2e41b7d5a0d: carries the opt-out tag {OPT_OUT_TAG}; remove it to enable"),
            ])
            .to_string(),
        ),
        ..EnableOutcome::default()
    };
    check("enable-refused-out-of-scope", &out_of_scope);
}

#[test]
fn a_manual_enable_with_nothing_to_change() {
    let mut outcome = EnableOutcome {
        trigger: "manual-enable".into(),
        run: "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a".into(),
        ..EnableOutcome::default()
    };
    outcome.skipped = vec![finding(
        "i-0f3a9c2e41b7d5a01",
        &EnableSkip::AlreadyOn.to_string(),
    )];
    check("enable-manual-nothing", &outcome);
}

#[test]
fn a_quiet_day_is_no_message() {
    let mut outcome = scheduled();
    assert!(summary(&outcome, OPT_OUT_TAG, now()).is_none());
    outcome.unsupported = vec![finding(
        "i-0f3a9c2e41b7d5a09",
        "Ubuntu 22.04 does not offer kernel live patching",
    )];
    outcome.skipped = vec![finding(
        "i-0f3a9c2e41b7d5a07",
        &EnableSkip::AlreadyOn.to_string(),
    )];
    assert!(summary(&outcome, OPT_OUT_TAG, now()).is_none());
}
