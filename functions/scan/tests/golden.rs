//! Golden files: the email text and the chat card of every message the scan function sends, as
//! published (checked by `livepatch_testkit::golden`). A change to wording shows up in review as a
//! diff of `tests/golden/`. Regenerate with `UPDATE_GOLDEN=1 cargo test -p scan --test golden`.

use jiff::Timestamp;
use livepatch_shared::domain::fleet::PingStatus;
use livepatch_shared::domain::scan::SkipReason;
use livepatch_testkit::golden;
use scan::{summary, FailedCommand, ScanOutcome, SentCommand, SkippedInstance};

const OPT_OUT_TAG: &str = "livepatch-autopilot:opt-out";
const FACTS: &str = "LivePatchAutopilot-KernelFacts";
const BASELINE: &str = "AWS-RunPatchBaseline";

fn now() -> Timestamp {
    "2026-12-03T01:00:00Z".parse().unwrap()
}

fn id(n: u32) -> String {
    format!("i-0a1b2c3d4e5f6{n:04}")
}

fn ids(range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(id).collect()
}

fn skipped(n: u32, reason: SkipReason) -> SkippedInstance {
    SkippedInstance {
        instance_id: id(n),
        reason: reason.to_string(),
    }
}

fn sent(command_id: Option<&str>, document: &str, instance_ids: Vec<String>) -> SentCommand {
    SentCommand {
        command_id: command_id.map(str::to_owned),
        document: document.into(),
        instance_ids,
    }
}

/// The skips of a mixed fleet: one of each reason.
fn skips() -> Vec<SkippedInstance> {
    vec![
        skipped(
            11,
            SkipReason::NotAmazonLinux {
                platform: "Ubuntu 22.04".into(),
            },
        ),
        skipped(
            12,
            SkipReason::AgentNotOnline {
                ping: PingStatus::ConnectionLost,
            },
        ),
        skipped(
            13,
            SkipReason::OptedOut {
                tag: OPT_OUT_TAG.into(),
            },
        ),
        skipped(14, SkipReason::NotRegistered),
    ]
}

#[test]
fn a_run_with_skips() {
    let targets = ids(1..=6);
    let outcome = ScanOutcome {
        event_id: "8f2c6a1e-4b7d-4c9e-a3f5-0d1b2e3c4f5a".into(),
        snapshot_id: "4a1f0c2e-9b8d-5e7f-a6c3-1d2e3f4a5b6c".into(),
        targets: targets.clone(),
        skipped: skips(),
        sent: vec![
            sent(
                Some("1f0e2d3c-4b5a-4968-8778-6a5b4c3d2e1f"),
                BASELINE,
                targets.clone(),
            ),
            sent(Some("2a1b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"), FACTS, targets),
        ],
        ..ScanOutcome::default()
    };
    let n = summary(&outcome, &now());
    assert!(
        n.next_steps.iter().any(|s| s.contains("re-register")),
        "unreachable and vanished instances get a next step: {:?}",
        n.next_steps
    );
    golden::check(env!("CARGO_MANIFEST_DIR"), "scan-started", &n);
}

#[test]
fn a_run_where_a_send_failed() {
    let targets = ids(1..=3);
    let outcome = ScanOutcome {
        event_id: "c4d5e6f7-0a1b-4c2d-9e3f-5a6b7c8d9e0f".into(),
        snapshot_id: "7b6a5c4d-3e2f-5a1b-9c8d-7e6f5a4b3c2d".into(),
        targets: targets.clone(),
        skipped: vec![skipped(
            11,
            SkipReason::NotAmazonLinux {
                platform: "Microsoft Windows Server 2022 Datacenter".into(),
            },
        )],
        sent: vec![sent(
            Some("5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"),
            BASELINE,
            targets.clone(),
        )],
        failed: vec![FailedCommand {
            document: FACTS.into(),
            instance_ids: targets,
            error: "SendCommand failed (ThrottlingException): Rate exceeded".into(),
        }],
        ..ScanOutcome::default()
    };
    let n = summary(&outcome, &now());
    assert_eq!(n.level, livepatch_shared::notify::Level::Warning);
    golden::check(env!("CARGO_MANIFEST_DIR"), "scan-send-failed", &n);
}

#[test]
fn a_dry_run() {
    let targets = ids(1..=4);
    let outcome = ScanOutcome {
        event_id: "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b".into(),
        dry_run: true,
        snapshot_id: "0f9e8d7c-6b5a-5f4e-8d3c-2b1a0f9e8d7c".into(),
        targets: targets.clone(),
        skipped: vec![skipped(
            13,
            SkipReason::OptedOut {
                tag: OPT_OUT_TAG.into(),
            },
        )],
        sent: vec![
            sent(None, BASELINE, targets.clone()),
            sent(None, FACTS, targets),
        ],
        ..ScanOutcome::default()
    };
    golden::check(
        env!("CARGO_MANIFEST_DIR"),
        "scan-dry-run",
        &summary(&outcome, &now()),
    );
}

#[test]
fn a_redelivered_run_that_sent_the_rest() {
    let targets = ids(1..=3);
    let outcome = ScanOutcome {
        event_id: "8f2c6a1e-4b7d-4c9e-a3f5-0d1b2e3c4f5a".into(),
        snapshot_id: "4a1f0c2e-9b8d-5e7f-a6c3-1d2e3f4a5b6c".into(),
        targets: targets.clone(),
        already_sent: vec![sent(
            Some("1f0e2d3c-4b5a-4968-8778-6a5b4c3d2e1f"),
            BASELINE,
            targets.clone(),
        )],
        sent: vec![sent(
            Some("6e5d4c3b-2a1f-4e0d-9c8b-7a6f5e4d3c2b"),
            FACTS,
            targets,
        )],
        ..ScanOutcome::default()
    };
    golden::check(
        env!("CARGO_MANIFEST_DIR"),
        "scan-redelivered",
        &summary(&outcome, &now()),
    );
}
