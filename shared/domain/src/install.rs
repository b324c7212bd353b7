//! Whether to install missing live patches on an instance now, and the commands that do it.
//!
//! Live patches are installed by `AWS-RunPatchBaseline` `Install` with `NoReboot`: with
//! `RebootIfNeeded` Patch Manager skips the live patch logic entirely (DOMAIN.md §2).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::fleet::{
    command_comment, ManagedInstance, PingStatus, RunCommand, SEND_COMMAND_MAX_INSTANCES,
};
use crate::scan::RUN_PATCH_BASELINE;
use crate::{InstanceId, LivePatchPackage, PatchState, Platform};

/// Comment prefix of every install the product sends; how it recognises its own attempts.
pub const INSTALL_COMMENT_PREFIX: &str = "livepatch-autopilot install";

/// What to install on a non-compliant instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallPolicy {
    /// Install when a live patch is missing (the default: no reboot, no surprise).
    LivePatches,
    /// Install when any approved patch is missing; ordinary packages then wait for a reboot.
    AllApprovedMissing,
}

impl std::str::FromStr for InstallPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live-patches" => Ok(Self::LivePatches),
            "all-approved-missing" => Ok(Self::AllApprovedMissing),
            other => Err(format!(
                "{other:?} is not live-patches or all-approved-missing"
            )),
        }
    }
}

/// One patch as `DescribeInstancePatches` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchRecord {
    pub title: String,
    pub kb_id: String,
    pub state: PatchState,
}

impl PatchRecord {
    pub fn is_live_patch(&self) -> bool {
        LivePatchPackage::parse(&self.title).is_ok() || self.kb_id.starts_with("kernel-livepatch-")
    }

    /// Missing, or failed at the last attempt: what an install would (re)try.
    fn wanted(&self) -> bool {
        matches!(self.state, PatchState::Missing | PatchState::Failed)
    }
}

/// The status of one Run Command invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvocationStatus {
    Pending,
    InProgress,
    Delayed,
    Success,
    Cancelled,
    Cancelling,
    Failed,
    TimedOut,
    /// Never reached the instance (`DeliveryTimedOut`, `Undeliverable`): nothing ran, nothing failed.
    NotDelivered(String),
    Other(String),
}

impl InvocationStatus {
    /// The status with its details: `TimedOut` is only a failure when the command ran
    /// (`ExecutionTimedOut`), not when it never reached the instance (`DeliveryTimedOut`).
    pub fn with_details(status: &str, details: &str) -> Self {
        let normalised: String = details
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match normalised.as_str() {
            "deliverytimedout" | "undeliverable" => Self::NotDelivered(details.to_owned()),
            _ if status == "Undeliverable" => Self::NotDelivered(status.to_owned()),
            _ => Self::parse(status),
        }
    }

    pub fn parse(raw: &str) -> Self {
        match raw {
            "Pending" => Self::Pending,
            "InProgress" => Self::InProgress,
            "Delayed" => Self::Delayed,
            "Success" => Self::Success,
            "Cancelled" => Self::Cancelled,
            "Cancelling" => Self::Cancelling,
            "Failed" => Self::Failed,
            "TimedOut" => Self::TimedOut,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Still running or waiting to run: a second install now would race it.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            Self::Pending | Self::InProgress | Self::Delayed | Self::Cancelling
        )
    }

    /// Ended without installing: counts toward the retry limit.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed | Self::TimedOut | Self::Other(_))
    }
}

impl std::fmt::Display for InvocationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Delayed => "Delayed",
            Self::Success => "Success",
            Self::Cancelled => "Cancelled",
            Self::Cancelling => "Cancelling",
            Self::Failed => "Failed",
            Self::TimedOut => "TimedOut",
            Self::NotDelivered(details) => details,
            Self::Other(other) => other,
        };
        f.write_str(text)
    }
}

/// An earlier install the product sent to this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallAttempt {
    pub command_id: String,
    pub requested: Timestamp,
    pub status: InvocationStatus,
    /// An install this product sent. Other `AWS-RunPatchBaseline` runs (scans, maintenance
    /// windows, patch policies) block an install while they run but never count as attempts.
    pub by_us: bool,
}

/// Everything known about one instance when deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallFacts {
    /// `None`: Systems Manager does not list it (unknown, stopped, or unmanaged).
    pub instance: Option<ManagedInstance>,
    /// Matches the configured target tags (always, when none are configured).
    pub in_scope: bool,
    pub opted_out: bool,
    /// From the kernel facts: `None` when no facts were collected yet.
    pub live_patching: Option<bool>,
    pub patches: Vec<PatchRecord>,
    pub attempts: Vec<InstallAttempt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSettings {
    pub policy: InstallPolicy,
    /// No second install this soon after the last one, whatever its result.
    pub cooldown: SignedDuration,
    /// Failed attempts (since the last success, within `retry_window`) before an instance is stuck.
    pub retry_limit: u32,
    pub retry_window: SignedDuration,
    pub max_concurrency: String,
    pub max_errors: String,
    pub timeout_seconds: i32,
}

/// Why no install is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallSkip {
    NotRegistered,
    OutOfScope,
    NotAmazonLinux {
        platform: String,
    },
    AgentNotOnline {
        ping: PingStatus,
    },
    OptedOut,
    NoKernelFacts,
    LivePatchingOff,
    NothingMissing,
    OnlyPendingReboot,
    InProgress {
        command_id: String,
    },
    CoolingDown {
        command_id: String,
        status: InvocationStatus,
        requested: Timestamp,
    },
}

impl std::fmt::Display for InstallSkip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotRegistered => {
                f.write_str("not registered with Systems Manager (unknown, stopped, or unmanaged)")
            }
            Self::OutOfScope => f.write_str("outside the configured target tags"),
            Self::NotAmazonLinux { platform } => write!(f, "not Amazon Linux ({platform})"),
            Self::AgentNotOnline { ping } => {
                write!(f, "SSM agent not reachable (ping status {ping})")
            }
            Self::OptedOut => f.write_str("opted out by tag"),
            Self::NoKernelFacts => f.write_str("no kernel facts yet; the next scan collects them"),
            Self::LivePatchingOff => f.write_str("live patching is off on this instance"),
            Self::NothingMissing => f.write_str("no missing patch that the policy installs"),
            Self::OnlyPendingReboot => {
                f.write_str("only patches pending a reboot; the reboot planner books it")
            }
            Self::InProgress { command_id } => write!(
                f,
                "AWS-RunPatchBaseline command {command_id} is still running on it"
            ),
            Self::CoolingDown {
                command_id,
                status,
                requested,
            } => {
                write!(f, "install {command_id} ({status}) was sent at {requested}; waiting out the cool-down")
            }
        }
    }
}

/// The decision for one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallDecision {
    /// Send an install. `AWS-RunPatchBaseline` installs every approved missing patch: the live
    /// patches load at once; the `other` packages wait for a reboot (`InstalledPendingReboot`).
    Install {
        live_patches: Vec<String>,
        other: Vec<String>,
    },
    Skip(InstallSkip),
    /// Failed `failures` times in a row: reported, not retried until someone looks.
    Stuck {
        failures: u32,
        last_command_id: String,
    },
}

/// Decides for one instance. Checks run from "cannot" to "need not" to "should not yet".
pub fn decide_install(
    facts: &InstallFacts,
    settings: &InstallSettings,
    now: Timestamp,
) -> InstallDecision {
    use InstallDecision::Skip;
    let Some(instance) = &facts.instance else {
        return Skip(InstallSkip::NotRegistered);
    };
    if !facts.in_scope {
        return Skip(InstallSkip::OutOfScope);
    }
    if facts.opted_out {
        return Skip(InstallSkip::OptedOut);
    }
    if !matches!(
        instance.platform,
        Platform::AmazonLinux2 | Platform::AmazonLinux2023
    ) {
        return Skip(InstallSkip::NotAmazonLinux {
            platform: instance.platform_label.clone(),
        });
    }
    if instance.ping != PingStatus::Online {
        return Skip(InstallSkip::AgentNotOnline {
            ping: instance.ping.clone(),
        });
    }
    match facts.live_patching {
        None => return Skip(InstallSkip::NoKernelFacts),
        Some(false) => return Skip(InstallSkip::LivePatchingOff),
        Some(true) => {}
    }
    let (live_patches, other): (Vec<&PatchRecord>, Vec<&PatchRecord>) = facts
        .patches
        .iter()
        .filter(|p| p.wanted())
        .partition(|p| p.is_live_patch());
    let titles = |patches: Vec<&PatchRecord>| {
        patches
            .into_iter()
            .map(|p| p.title.clone())
            .collect::<Vec<_>>()
    };
    let (live_patches, other) = (titles(live_patches), titles(other));
    let triggered = match settings.policy {
        InstallPolicy::LivePatches => !live_patches.is_empty(),
        InstallPolicy::AllApprovedMissing => !live_patches.is_empty() || !other.is_empty(),
    };
    if !triggered {
        let pending = facts
            .patches
            .iter()
            .any(|p| p.state == PatchState::InstalledPendingReboot);
        return Skip(if pending {
            InstallSkip::OnlyPendingReboot
        } else {
            InstallSkip::NothingMissing
        });
    }
    // Another patch operation still running on the instance would fight ours for the yum/dnf lock.
    if let Some(active) = facts.attempts.iter().find(|a| a.status.is_active()) {
        return Skip(InstallSkip::InProgress {
            command_id: active.command_id.clone(),
        });
    }
    // "Now" is the triggering event's time, so the install an earlier delivery of the same event
    // caused can be newer than it: such attempts count as just made, never as absent.
    let mut ours: Vec<&InstallAttempt> = facts
        .attempts
        .iter()
        .filter(|a| {
            a.by_us
                && now.duration_since(a.requested) <= settings.retry_window.max(settings.cooldown)
        })
        .collect();
    ours.sort_by_key(|a| std::cmp::Reverse(a.requested));
    let recent_failures: Vec<&&InstallAttempt> = ours
        .iter()
        .filter(|a| now.duration_since(a.requested) <= settings.retry_window)
        .take_while(|a| a.status != InvocationStatus::Success)
        .filter(|a| a.status.is_failure())
        .collect();
    if recent_failures.len() as u32 >= settings.retry_limit {
        return InstallDecision::Stuck {
            failures: recent_failures.len() as u32,
            last_command_id: recent_failures[0].command_id.clone(),
        };
    }
    if let Some(last) = ours.first() {
        if now.duration_since(last.requested) < settings.cooldown {
            return Skip(InstallSkip::CoolingDown {
                command_id: last.command_id.clone(),
                status: last.status.clone(),
                requested: last.requested,
            });
        }
    }
    InstallDecision::Install {
        live_patches,
        other,
    }
}

/// The installs for `instance_ids` (deduplicated, in id order), at most 50 a call, one snapshot.
pub fn install_commands(
    instance_ids: &[InstanceId],
    settings: &InstallSettings,
    snapshot_id: &str,
    run: &str,
) -> Vec<RunCommand> {
    let mut ids = instance_ids.to_vec();
    ids.sort();
    ids.dedup();
    ids.chunks(SEND_COMMAND_MAX_INSTANCES)
        .map(|batch| RunCommand {
            document: RUN_PATCH_BASELINE.to_owned(),
            parameters: BTreeMap::from([
                ("Operation".to_owned(), vec!["Install".to_owned()]),
                ("RebootOption".to_owned(), vec!["NoReboot".to_owned()]),
                ("SnapshotId".to_owned(), vec![snapshot_id.to_owned()]),
            ]),
            instance_ids: batch.to_vec(),
            comment: command_comment(&format!("{INSTALL_COMMENT_PREFIX} {run}")),
            max_concurrency: settings.max_concurrency.clone(),
            max_errors: settings.max_errors.clone(),
            timeout_seconds: settings.timeout_seconds,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-03T01:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    fn ago(minutes: i64) -> Timestamp {
        now() - SignedDuration::from_mins(minutes)
    }

    fn settings() -> InstallSettings {
        InstallSettings {
            policy: InstallPolicy::LivePatches,
            cooldown: SignedDuration::from_mins(60),
            retry_limit: 3,
            retry_window: SignedDuration::from_hours(7 * 24),
            max_concurrency: "10%".into(),
            max_errors: "10%".into(),
            timeout_seconds: 3600,
        }
    }

    fn live_patch(state: PatchState) -> PatchRecord {
        PatchRecord {
            title: "kernel-livepatch-5.10.102-99.473.x86_64:0:1.0-2.amzn2".into(),
            kb_id: "kernel-livepatch-5.10.102-99.473.x86_64".into(),
            state,
        }
    }

    fn package(state: PatchState) -> PatchRecord {
        PatchRecord {
            title: "openssl.x86_64:1:1.0.2k-24.amzn2.0.14".into(),
            kb_id: "openssl.x86_64".into(),
            state,
        }
    }

    fn facts(patches: Vec<PatchRecord>) -> InstallFacts {
        InstallFacts {
            instance: Some(ManagedInstance {
                id: "i-0123456789abcdef0".parse().unwrap(),
                ping: PingStatus::Online,
                platform: Platform::AmazonLinux2,
                platform_label: "Amazon Linux 2".into(),
                computer_name: None,
            }),
            in_scope: true,
            opted_out: false,
            live_patching: Some(true),
            patches,
            attempts: vec![],
        }
    }

    fn attempt(id: &str, minutes_ago: i64, status: InvocationStatus) -> InstallAttempt {
        InstallAttempt {
            command_id: id.into(),
            requested: ago(minutes_ago),
            status,
            by_us: true,
        }
    }

    fn foreign(id: &str, minutes_ago: i64, status: InvocationStatus) -> InstallAttempt {
        InstallAttempt {
            by_us: false,
            ..attempt(id, minutes_ago, status)
        }
    }

    fn decide(f: &InstallFacts) -> InstallDecision {
        decide_install(f, &settings(), now())
    }

    #[test]
    fn a_missing_live_patch_is_installed() {
        let d = decide(&facts(vec![
            live_patch(PatchState::Missing),
            package(PatchState::Installed),
        ]));
        assert_eq!(
            d,
            InstallDecision::Install {
                live_patches: vec!["kernel-livepatch-5.10.102-99.473.x86_64:0:1.0-2.amzn2".into()],
                other: vec![],
            }
        );
        // The install also brings the other approved missing patches; the decision says so.
        let d = decide(&facts(vec![
            live_patch(PatchState::Missing),
            package(PatchState::Missing),
        ]));
        assert_eq!(
            d,
            InstallDecision::Install {
                live_patches: vec!["kernel-livepatch-5.10.102-99.473.x86_64:0:1.0-2.amzn2".into()],
                other: vec!["openssl.x86_64:1:1.0.2k-24.amzn2.0.14".into()],
            }
        );
    }

    #[test]
    fn a_failed_live_patch_is_retried_like_a_missing_one() {
        assert!(matches!(
            decide(&facts(vec![live_patch(PatchState::Failed)])),
            InstallDecision::Install { .. }
        ));
    }

    #[test]
    fn the_default_policy_ignores_ordinary_packages() {
        let f = facts(vec![
            package(PatchState::Missing),
            live_patch(PatchState::Installed),
        ]);
        assert_eq!(
            decide(&f),
            InstallDecision::Skip(InstallSkip::NothingMissing)
        );
        let all = InstallSettings {
            policy: InstallPolicy::AllApprovedMissing,
            ..settings()
        };
        assert_eq!(
            decide_install(&f, &all, now()),
            InstallDecision::Install {
                live_patches: vec![],
                other: vec!["openssl.x86_64:1:1.0.2k-24.amzn2.0.14".into()],
            }
        );
    }

    #[test]
    fn pending_reboot_alone_is_the_reboot_planners_job() {
        let f = facts(vec![
            package(PatchState::InstalledPendingReboot),
            live_patch(PatchState::Installed),
        ]);
        assert_eq!(
            decide(&f),
            InstallDecision::Skip(InstallSkip::OnlyPendingReboot)
        );
        let all = InstallSettings {
            policy: InstallPolicy::AllApprovedMissing,
            ..settings()
        };
        assert_eq!(
            decide_install(&f, &all, now()),
            InstallDecision::Skip(InstallSkip::OnlyPendingReboot)
        );
    }

    #[test]
    fn not_applicable_patches_never_trigger_an_install() {
        let f = facts(vec![
            live_patch(PatchState::NotApplicable),
            live_patch(PatchState::InstalledOther),
        ]);
        assert_eq!(
            decide(&f),
            InstallDecision::Skip(InstallSkip::NothingMissing)
        );
    }

    #[test]
    fn instances_that_cannot_take_an_install_are_skipped_with_reasons() {
        let base = facts(vec![live_patch(PatchState::Missing)]);
        let mut unknown = base.clone();
        unknown.instance = None;
        assert_eq!(
            decide(&unknown),
            InstallDecision::Skip(InstallSkip::NotRegistered)
        );
        let mut ubuntu = base.clone();
        if let Some(i) = ubuntu.instance.as_mut() {
            i.platform = Platform::Other("Ubuntu".into());
            i.platform_label = "Ubuntu 22.04".into();
        }
        assert_eq!(
            decide(&ubuntu),
            InstallDecision::Skip(InstallSkip::NotAmazonLinux {
                platform: "Ubuntu 22.04".into()
            })
        );
        let mut lost = base.clone();
        if let Some(i) = lost.instance.as_mut() {
            i.ping = PingStatus::ConnectionLost;
        }
        assert_eq!(
            decide(&lost),
            InstallDecision::Skip(InstallSkip::AgentNotOnline {
                ping: PingStatus::ConnectionLost
            })
        );
        let mut outside = base.clone();
        outside.in_scope = false;
        assert_eq!(
            decide(&outside),
            InstallDecision::Skip(InstallSkip::OutOfScope)
        );
        let mut opted = base.clone();
        opted.opted_out = true;
        assert_eq!(decide(&opted), InstallDecision::Skip(InstallSkip::OptedOut));
        let mut off = base.clone();
        off.live_patching = Some(false);
        assert_eq!(
            decide(&off),
            InstallDecision::Skip(InstallSkip::LivePatchingOff)
        );
        let mut no_facts = base;
        no_facts.live_patching = None;
        assert_eq!(
            decide(&no_facts),
            InstallDecision::Skip(InstallSkip::NoKernelFacts)
        );
    }

    #[test]
    fn a_running_install_blocks_a_second_one_whatever_its_age() {
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        for status in [
            InvocationStatus::Pending,
            InvocationStatus::InProgress,
            InvocationStatus::Delayed,
        ] {
            f.attempts = vec![
                attempt("old-fail", 600, InvocationStatus::Failed),
                attempt("c1", 300, status),
            ];
            assert_eq!(
                decide(&f),
                InstallDecision::Skip(InstallSkip::InProgress {
                    command_id: "c1".into()
                })
            );
        }
    }

    #[test]
    fn cool_down_boundaries() {
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        f.attempts = vec![attempt("c1", 59, InvocationStatus::Success)];
        assert!(matches!(
            decide(&f),
            InstallDecision::Skip(InstallSkip::CoolingDown { .. })
        ));
        f.attempts = vec![attempt("c1", 60, InvocationStatus::Success)];
        assert!(matches!(decide(&f), InstallDecision::Install { .. }));
        f.attempts = vec![attempt("c1", 10, InvocationStatus::Failed)];
        let d = decide(&f);
        assert!(
            matches!(
                &d,
                InstallDecision::Skip(InstallSkip::CoolingDown {
                    status: InvocationStatus::Failed,
                    ..
                })
            ),
            "{d:?}"
        );
        assert!(InstallSkip::CoolingDown {
            command_id: "c1".into(),
            status: InvocationStatus::Failed,
            requested: ago(10)
        }
        .to_string()
        .contains("c1 (Failed) was sent at 2026-12-03T00:50:00Z"));
    }

    #[test]
    fn attempts_made_after_the_triggering_event_block_a_second_install() {
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        let later = |minutes: i64| now() + SignedDuration::from_mins(minutes);
        for status in [
            InvocationStatus::Pending,
            InvocationStatus::Success,
            InvocationStatus::Failed,
        ] {
            f.attempts = vec![InstallAttempt {
                command_id: "c-after".into(),
                requested: later(2),
                status: status.clone(),
                by_us: true,
            }];
            let d = decide(&f);
            assert!(
                matches!(
                    d,
                    InstallDecision::Skip(
                        InstallSkip::InProgress { .. } | InstallSkip::CoolingDown { .. }
                    )
                ),
                "{status}: {d:?}"
            );
        }
    }

    #[test]
    fn another_patch_operation_in_flight_blocks_but_never_counts() {
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        f.attempts = vec![foreign("window-install", 5, InvocationStatus::InProgress)];
        assert_eq!(
            decide(&f),
            InstallDecision::Skip(InstallSkip::InProgress {
                command_id: "window-install".into()
            })
        );
        // Finished foreign operations neither cool down nor count toward the limit.
        f.attempts = (0..5)
            .map(|i| foreign(&format!("f{i}"), 10 + i, InvocationStatus::Failed))
            .collect();
        assert!(matches!(decide(&f), InstallDecision::Install { .. }));
    }

    #[test]
    fn undelivered_attempts_are_not_failures_and_stuck_names_the_last_failure() {
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        let not_delivered = InvocationStatus::with_details("TimedOut", "DeliveryTimedOut");
        assert_eq!(
            not_delivered,
            InvocationStatus::NotDelivered("DeliveryTimedOut".into())
        );
        assert_eq!(
            InvocationStatus::with_details("TimedOut", "ExecutionTimedOut"),
            InvocationStatus::TimedOut
        );
        for (status, details) in [
            ("Failed", "Undeliverable"),
            ("TimedOut", "Delivery Timed Out"),
            ("Undeliverable", ""),
        ] {
            assert!(
                !InvocationStatus::with_details(status, details).is_failure(),
                "{status}/{details}"
            );
        }
        f.attempts = (0..4)
            .map(|i| attempt(&format!("d{i}"), 100 + i * 100, not_delivered.clone()))
            .collect();
        assert!(matches!(decide(&f), InstallDecision::Install { .. }));
        f.attempts = vec![
            attempt("c1", 900, InvocationStatus::Failed),
            attempt("c2", 800, InvocationStatus::TimedOut),
            attempt("c3", 700, InvocationStatus::Failed),
            attempt("c4", 600, InvocationStatus::Cancelled),
        ];
        assert_eq!(
            decide(&f),
            InstallDecision::Stuck {
                failures: 3,
                last_command_id: "c3".into()
            }
        );
    }

    #[test]
    fn a_cool_down_longer_than_the_retry_window_still_holds() {
        let long = InstallSettings {
            cooldown: SignedDuration::from_hours(48),
            retry_window: SignedDuration::from_hours(24),
            ..settings()
        };
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        f.attempts = vec![attempt("c1", 25 * 60, InvocationStatus::Success)];
        assert!(matches!(
            decide_install(&f, &long, now()),
            InstallDecision::Skip(InstallSkip::CoolingDown { .. })
        ));
    }

    #[test]
    fn stuck_after_the_retry_limit_of_consecutive_failures() {
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        f.attempts = vec![
            attempt("c1", 3000, InvocationStatus::Failed),
            attempt("c2", 2000, InvocationStatus::TimedOut),
        ];
        assert!(matches!(decide(&f), InstallDecision::Install { .. }));
        f.attempts
            .push(attempt("c3", 1000, InvocationStatus::Failed));
        assert_eq!(
            decide(&f),
            InstallDecision::Stuck {
                failures: 3,
                last_command_id: "c3".into()
            }
        );
    }

    #[test]
    fn a_success_resets_the_failure_count_and_old_attempts_expire() {
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        f.attempts = vec![
            attempt("c1", 5000, InvocationStatus::Failed),
            attempt("c2", 4000, InvocationStatus::Failed),
            attempt("c3", 3000, InvocationStatus::Success),
            attempt("c4", 2000, InvocationStatus::Failed),
            attempt("c5", 1000, InvocationStatus::Failed),
        ];
        assert!(matches!(decide(&f), InstallDecision::Install { .. }));
        // Failures older than the retry window no longer count.
        let old = 7 * 24 * 60 + 1;
        f.attempts = vec![
            attempt("c1", old + 2, InvocationStatus::Failed),
            attempt("c2", old + 1, InvocationStatus::Failed),
            attempt("c3", old, InvocationStatus::Failed),
        ];
        assert!(matches!(decide(&f), InstallDecision::Install { .. }));
    }

    #[test]
    fn cancelled_attempts_neither_count_nor_block_beyond_the_cool_down() {
        let mut f = facts(vec![live_patch(PatchState::Missing)]);
        f.attempts = (0..5)
            .map(|i| attempt(&format!("c{i}"), 100 + i * 100, InvocationStatus::Cancelled))
            .collect();
        assert!(matches!(decide(&f), InstallDecision::Install { .. }));
    }

    #[test]
    fn install_commands_use_no_reboot_one_snapshot_and_batches_of_fifty() {
        let ids: Vec<InstanceId> = (0..120u32)
            .chain(0..10)
            .map(|n| format!("i-{n:017x}").parse().unwrap())
            .collect();
        let commands = install_commands(&ids, &settings(), "snap", "run-1");
        assert_eq!(
            commands
                .iter()
                .map(|c| c.instance_ids.len())
                .collect::<Vec<_>>(),
            vec![50, 50, 20]
        );
        for c in &commands {
            assert_eq!(c.document, "AWS-RunPatchBaseline");
            assert_eq!(c.parameters["Operation"], vec!["Install"]);
            assert_eq!(c.parameters["RebootOption"], vec!["NoReboot"]);
            assert_eq!(c.parameters["SnapshotId"], vec!["snap"]);
            assert_eq!(c.comment, "livepatch-autopilot install run-1");
        }
        assert!(install_commands(&[], &settings(), "snap", "r").is_empty());
    }

    #[test]
    fn policy_and_statuses_parse() {
        assert_eq!(
            "live-patches".parse::<InstallPolicy>(),
            Ok(InstallPolicy::LivePatches)
        );
        assert_eq!(
            "all-approved-missing".parse::<InstallPolicy>(),
            Ok(InstallPolicy::AllApprovedMissing)
        );
        assert!("everything".parse::<InstallPolicy>().is_err());
        for raw in [
            "Pending",
            "InProgress",
            "Delayed",
            "Success",
            "Cancelled",
            "Cancelling",
            "Failed",
            "TimedOut",
            "Undeliverable",
        ] {
            assert_eq!(InvocationStatus::parse(raw).to_string(), raw);
        }
        assert!(InvocationStatus::parse("Undeliverable").is_failure());
        assert!(!InvocationStatus::parse("Cancelled").is_failure());
    }
}
