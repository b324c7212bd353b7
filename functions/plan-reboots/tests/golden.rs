//! Golden files: the email text and the chat card of every message plan-reboots sends (the
//! run's announcement and the day-before reminder), as published (checked by
//! `livepatch_testkit::golden`). A change to wording shows up in review as a diff of
//! `tests/golden/`. Regenerate with `UPDATE_GOLDEN=1 cargo test -p plan-reboots --test golden`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use livepatch_shared::aws::windows::{window_name, BookedWindow};
use livepatch_shared::domain::facts::KernelFacts;
use livepatch_shared::domain::reboot::{
    local_time, BookedInstance, Booking, BookingState, RebootWindow, SupportFact, Urgency,
};
use livepatch_shared::domain::Platform;
use livepatch_shared::notify::{Level, Notification};
use livepatch_testkit::golden;
use plan_reboots::{
    announcement, reminder, BookedReboot, FailedAction, InstanceReason, PlanOutcome, WindowChange,
    Withdrawn,
};

const BERLIN: &str = "Europe/Berlin";
const SUNDAY_BERLIN: &str = "20270110T0300-0500-europe-berlin";
const SUNDAY_UTC: &str = "20261206T0300-0500-utc";
const NEXT_SUNDAY_UTC: &str = "20261213T0300-0500-utc";

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn now() -> Timestamp {
    ts("2026-12-03T07:00:00Z")
}

fn check(name: &str, n: &Notification) {
    golden::check(env!("CARGO_MANIFEST_DIR"), name, n);
}

fn plan_outcome(event_id: &str) -> PlanOutcome {
    PlanOutcome {
        event_id: event_id.into(),
        now: now().to_string(),
        ..PlanOutcome::default()
    }
}

/// A booking into the slot `key` starting at `start` (UTC), two hours long, shown in `zone`.
fn booked(
    n: u32,
    name: &str,
    kernel: &str,
    support_end: Option<&str>,
    (key, start, zone): (&str, &str, &str),
    urgency: Urgency,
) -> BookedReboot {
    let start = ts(start);
    BookedReboot {
        instance_id: id(n),
        name: name.into(),
        kernel: kernel.into(),
        support_end: support_end.map(str::to_owned),
        key: key.into(),
        window_name: window_name(key),
        window_id: None,
        start,
        end: start + jiff::SignedDuration::from_hours(2),
        start_local: local_time(start, zone),
        fallback_local: None,
        urgency,
        previous: None,
        to_enable: None,
    }
}

fn id(n: u32) -> String {
    format!("i-0c5e1a7b9d3f2{n:04}")
}

fn berlin_slot() -> (&'static str, &'static str, &'static str) {
    (SUNDAY_BERLIN, "2027-01-10T02:00:00Z", BERLIN)
}

fn utc_slot() -> (&'static str, &'static str, &'static str) {
    (SUNDAY_UTC, "2026-12-06T03:00:00Z", "UTC")
}

fn next_utc_slot() -> (&'static str, &'static str, &'static str) {
    (NEXT_SUNDAY_UTC, "2026-12-13T03:00:00Z", "UTC")
}

/// Why the planner could not book: what the domain says for these inputs.
fn unplannable() -> Vec<InstanceReason> {
    let facts: BTreeMap<String, String> = [
        ("KernelRelease", "5.10.227-219.884.amzn2.x86_64"),
        ("KernelVersion", "#1 SMP"),
        ("OsId", "amzn"),
        ("OsVersion", "2"),
        ("LivePatchPlugin", "installed"),
        ("KpatchServiceEnabled", "enabled"),
        ("KpatchServiceActive", "active"),
        ("CollectedAt", "2026-12-03T01:00:00Z"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let unknown = match SupportFact::of(
        &Platform::AmazonLinux2,
        &KernelFacts::from_inventory(&facts),
        false,
    ) {
        SupportFact::Unknown(why) => why,
        other => panic!("expected an unknown support end, got {other:?}"),
    };
    let bad_tag = "SUN 03:00-04:30 Europe/Berlin"
        .parse::<RebootWindow>()
        .unwrap_err();
    vec![
        InstanceReason {
            instance_id: id(20),
            reason: format!("live patch support end unknown: {unknown}"),
        },
        InstanceReason {
            instance_id: id(21),
            reason: format!("invalid reboot window tag: {bad_tag}"),
        },
    ]
}

#[test]
fn reboots_booked() {
    let mut outcome = plan_outcome("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d");
    let mut in_time = booked(
        1,
        "web-1",
        "5.10.220-209.869.amzn2.x86_64",
        Some("2027-01-20"),
        berlin_slot(),
        Urgency::InTime,
    );
    in_time.window_id = Some("mw-0e1f2a3b4c5d6e7f8".into());
    in_time.fallback_local = Some(local_time(ts("2027-01-17T02:00:00Z"), BERLIN));
    let mut short = booked(
        2,
        "web-2",
        "5.10.219-208.866.amzn2.x86_64",
        Some("2026-12-10"),
        utc_slot(),
        Urgency::ShortNotice,
    );
    short.window_id = Some("mw-0a1b2c3d4e5f60718".into());
    let mut late = booked(
        3,
        "batch-1",
        "5.10.218-208.862.amzn2.x86_64",
        Some("2026-12-07"),
        utc_slot(),
        Urgency::NoSlotBeforeCutoff,
    );
    late.window_id = short.window_id.clone();
    let mut out = booked(
        4,
        "legacy-db",
        "5.10.210-201.852.amzn2.x86_64",
        Some("2026-11-30"),
        utc_slot(),
        Urgency::PastCutoff,
    );
    out.window_id = short.window_id.clone();
    let mut again = booked(
        5,
        "api-1",
        "6.1.112-122.189.amzn2023.x86_64",
        Some("2026-12-20"),
        utc_slot(),
        Urgency::InTime,
    );
    again.window_id = short.window_id.clone();
    again.previous = Some("20261129T0300-0500-utc".into());
    // The name is the id when the instance has no Name tag.
    let mut to_enable = booked(
        6,
        &id(6),
        "4.14.152-124.171.amzn2.x86_64",
        None,
        next_utc_slot(),
        Urgency::InTime,
    );
    to_enable.window_id = Some("mw-0b2c3d4e5f6071829".into());
    to_enable.to_enable = Some(
        "below 4.14.165-131.185, the oldest kernel on which live patching is enabled without a reboot"
            .into(),
    );
    outcome.booked = vec![in_time, short, late, out, again, to_enable];
    outcome.out_of_support = vec![id(4)];
    outcome.created = vec![WindowChange {
        key: SUNDAY_BERLIN.into(),
        window_id: Some("mw-0e1f2a3b4c5d6e7f8".into()),
        instance_ids: vec![id(1)],
    }];
    outcome.opted_out = vec![id(10)];
    outcome.unplannable = unplannable();
    outcome.candidates = 11;
    let n = announcement(&outcome, now()).unwrap();
    assert_eq!(n.event_type, "reboots.booked");
    assert_eq!(n.level, Level::Warning, "one is out of support");
    check("reboots-booked", &n);
}

#[test]
fn one_reboot_booked_in_time() {
    let mut outcome = plan_outcome("2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e");
    let mut b = booked(
        1,
        "web-1",
        "5.10.220-209.869.amzn2.x86_64",
        Some("2027-01-20"),
        berlin_slot(),
        Urgency::InTime,
    );
    b.window_id = Some("mw-0e1f2a3b4c5d6e7f8".into());
    b.fallback_local = Some(local_time(ts("2027-01-17T02:00:00Z"), BERLIN));
    outcome.booked = vec![b];
    let n = announcement(&outcome, now()).unwrap();
    assert_eq!(n.level, Level::Info);
    assert_eq!(n.thread_id, format!("reboot-{SUNDAY_BERLIN}"));
    check("reboots-booked-one", &n);

    outcome.dry_run = true;
    outcome.booked[0].window_id = None;
    check(
        "reboots-booked-dry-run",
        &announcement(&outcome, now()).unwrap(),
    );
}

#[test]
fn reboots_booked_to_enable_live_patching() {
    let mut outcome = plan_outcome("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f");
    let mut b = booked(
        6,
        "legacy-app",
        "4.14.152-124.171.amzn2.x86_64",
        None,
        next_utc_slot(),
        Urgency::InTime,
    );
    b.window_id = Some("mw-0b2c3d4e5f6071829".into());
    b.to_enable = Some(
        "below 4.14.165-131.185, the oldest kernel on which live patching is enabled without a reboot"
            .into(),
    );
    outcome.booked = vec![b];
    check(
        "reboots-booked-to-enable",
        &announcement(&outcome, now()).unwrap(),
    );
}

#[test]
fn reboots_cancelled() {
    let mut outcome = plan_outcome("4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a");
    outcome.withdrawn = vec![
        Withdrawn {
            key: SUNDAY_UTC.into(),
            instance_id: id(2),
            reason: "opted out by tag; never rebooted by the product".into(),
        },
        Withdrawn {
            key: SUNDAY_UTC.into(),
            instance_id: id(3),
            reason: "live patches until 2027-06-30; no reboot due".into(),
        },
        Withdrawn {
            key: SUNDAY_UTC.into(),
            instance_id: id(4),
            reason: "no longer seen: out of scope, without kernel facts, or no longer registered with Systems Manager".into(),
        },
    ];
    outcome.removed = vec![WindowChange {
        key: SUNDAY_UTC.into(),
        window_id: Some("mw-0a1b2c3d4e5f60718".into()),
        instance_ids: vec![id(2), id(3), id(4)],
    }];
    outcome.opted_out = vec![id(2)];
    let n = announcement(&outcome, now()).unwrap();
    assert_eq!(n.event_type, "reboots.cancelled");
    check("reboots-cancelled", &n);
}

#[test]
fn booking_changes_that_failed() {
    let mut outcome = plan_outcome("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b");
    outcome.failed = vec![FailedAction {
        action: "create".into(),
        key: SUNDAY_UTC.into(),
        instance_ids: vec![id(2), id(3)],
        error: "CreateMaintenanceWindow failed (ResourceLimitExceededException): You have reached the maximum number of maintenance windows (50)".into(),
    }];
    outcome.unplannable = unplannable();
    outcome.opted_out = vec![id(10)];
    let n = announcement(&outcome, now()).unwrap();
    assert_eq!(n.event_type, "reboots.warning");
    assert_eq!(n.level, Level::Warning);
    check("reboots-warning", &n);

    // A cancellation that failed: the instance is still in the window.
    let mut withdraw = plan_outcome("6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c");
    withdraw.failed = vec![FailedAction {
        action: "withdraw".into(),
        key: SUNDAY_UTC.into(),
        instance_ids: vec![id(2)],
        error: "DeregisterTargetFromMaintenanceWindow failed (ThrottlingException): Rate exceeded"
            .into(),
    }];
    withdraw.opted_out = vec![id(2)];
    check(
        "reboots-warning-withdraw",
        &announcement(&withdraw, now()).unwrap(),
    );
}

#[test]
fn nothing_new_is_no_announcement() {
    let mut outcome = plan_outcome("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d");
    assert!(announcement(&outcome, now()).is_none());
    // Instances that cannot be planned alone do not make a message (the digest lists them).
    outcome.unplannable = unplannable();
    outcome.opted_out = vec![id(10)];
    assert!(announcement(&outcome, now()).is_none());
}

fn window(
    window_id: &str,
    key: &str,
    start: &str,
    zone: &str,
    instances: &[(u32, Option<&str>)],
) -> BookedWindow {
    let start = ts(start);
    let local = jiff::tz::TimeZone::get(zone).unwrap().to_datetime(start);
    let instances: Vec<BookedInstance> = instances
        .iter()
        .map(|(n, kernel)| BookedInstance {
            instance: id(*n).parse().unwrap(),
            kernel: kernel.map(str::to_owned),
        })
        .collect();
    BookedWindow {
        window_id: window_id.into(),
        name: window_name(key),
        schedule: format!("at({})", local.strftime("%Y-%m-%dT%H:%M:%S")),
        time_zone: zone.into(),
        booking: Booking {
            key: key.into(),
            start,
            end: start + jiff::SignedDuration::from_hours(2),
            instances: instances.clone(),
            state: BookingState::Booked,
        },
        targets: vec![(
            "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b".into(),
            instances.iter().map(|i| i.instance.to_string()).collect(),
        )],
        task_ids: vec!["f2a3b4c5-d6e7-4f8a-9b0c-1d2e3f4a5b6c".into()],
        tagged: instances,
        reminded: false,
    }
}

fn names() -> BTreeMap<String, String> {
    [(1, "web-1"), (2, "web-2"), (3, "batch-1")]
        .into_iter()
        .map(|(n, name)| (id(n), name.to_owned()))
        .chain([(id(7), id(7))])
        .collect()
}

#[test]
fn reminder_for_one_window() {
    let now = ts("2027-01-09T03:00:00Z");
    let berlin = window(
        "mw-0e1f2a3b4c5d6e7f8",
        SUNDAY_BERLIN,
        "2027-01-10T02:00:00Z",
        BERLIN,
        &[(1, Some("5.10.220-209.869.amzn2.x86_64"))],
    );
    let outcome = PlanOutcome {
        event_id: "8b9c0d1e-2f3a-4b4c-9d5e-6f7a8b9c0d1e".into(),
        now: now.to_string(),
        ..PlanOutcome::default()
    };
    let n = reminder(&[&berlin], &names(), &outcome, now);
    assert_eq!(
        n.thread_id,
        format!("reboot-{SUNDAY_BERLIN}"),
        "joins the booking's thread"
    );
    check("reboots-reminder-one", &n);
}

#[test]
fn reminder_for_several_windows() {
    let now = ts("2026-12-05T04:00:00Z");
    let utc = window(
        "mw-0a1b2c3d4e5f60718",
        SUNDAY_UTC,
        "2026-12-06T03:00:00Z",
        "UTC",
        &[
            (2, Some("5.10.219-208.866.amzn2.x86_64")),
            (3, Some("5.10.218-208.862.amzn2.x86_64")),
            (7, None),
        ],
    );
    let berlin = window(
        "mw-0f1e2d3c4b5a69788",
        "20261206T0300-0500-europe-berlin",
        "2026-12-06T02:00:00Z",
        BERLIN,
        &[(1, Some("5.10.220-209.869.amzn2.x86_64"))],
    );
    let outcome = PlanOutcome {
        event_id: "9c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f".into(),
        now: now.to_string(),
        ..PlanOutcome::default()
    };
    let n = reminder(&[&berlin, &utc], &names(), &outcome, now);
    assert_eq!(n.thread_id, "reboots-2026-12-05");
    check("reboots-reminder-several", &n);
}
