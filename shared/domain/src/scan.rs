//! Which instances a scheduled scan covers, and the commands it sends.

use std::collections::{BTreeMap, BTreeSet};

use crate::fleet::{
    command_comment, ManagedInstance, PingStatus, RunCommand, SEND_COMMAND_MAX_INSTANCES,
};
use crate::{InstanceId, Platform};

/// The AWS-owned patching document.
pub const RUN_PATCH_BASELINE: &str = "AWS-RunPatchBaseline";

/// Why an instance is left out of a scan. Every skip is reported with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    NotAmazonLinux {
        platform: String,
    },
    AgentNotOnline {
        ping: PingStatus,
    },
    OptedOut {
        tag: String,
    },
    /// Known from earlier kernel facts but no longer registered: stopped, terminated, or agent gone.
    NotRegistered,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAmazonLinux { platform } => write!(f, "not Amazon Linux ({platform})"),
            Self::AgentNotOnline { ping } => {
                write!(f, "SSM agent not reachable (ping status {ping})")
            }
            Self::OptedOut { tag } => write!(f, "opted out by tag {tag}"),
            Self::NotRegistered => write!(
                f,
                "not registered with Systems Manager now (stopped, terminated, or agent stopped); kernel facts are from an earlier scan"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub id: InstanceId,
    pub reason: SkipReason,
}

/// The instances a scan will cover and those it leaves out, both in id order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanPlan {
    pub targets: Vec<InstanceId>,
    pub skipped: Vec<Skipped>,
}

/// What a scan run needs to know besides the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSettings {
    pub facts_document: String,
    pub opt_out_tag: String,
    pub max_concurrency: String,
    pub max_errors: String,
    pub timeout_seconds: i32,
}

/// Decides which instances to scan.
///
/// `in_scope` are the registered instances matching the target tags; `opted_out` carry the opt-out
/// tag; `previously_known` have kernel facts from earlier runs, so their absence from `in_scope` is news.
pub fn plan_scan(
    in_scope: &[ManagedInstance],
    opted_out: &BTreeSet<InstanceId>,
    previously_known: &BTreeSet<InstanceId>,
    opt_out_tag: &str,
) -> ScanPlan {
    let mut plan = ScanPlan::default();
    let mut seen = BTreeSet::new();
    let mut sorted: Vec<&ManagedInstance> = in_scope.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for instance in sorted {
        if !seen.insert(instance.id.clone()) {
            continue;
        }
        let reason = if opted_out.contains(&instance.id) {
            Some(SkipReason::OptedOut {
                tag: opt_out_tag.to_owned(),
            })
        } else if !matches!(
            instance.platform,
            Platform::AmazonLinux2 | Platform::AmazonLinux2023
        ) {
            Some(SkipReason::NotAmazonLinux {
                platform: instance.platform_label.clone(),
            })
        } else if instance.ping != PingStatus::Online {
            Some(SkipReason::AgentNotOnline {
                ping: instance.ping.clone(),
            })
        } else {
            None
        };
        match reason {
            Some(reason) => plan.skipped.push(Skipped {
                id: instance.id.clone(),
                reason,
            }),
            None => plan.targets.push(instance.id.clone()),
        }
    }
    for id in previously_known.difference(&seen) {
        if !opted_out.contains(id) {
            plan.skipped.push(Skipped {
                id: id.clone(),
                reason: SkipReason::NotRegistered,
            });
        }
    }
    plan.skipped.sort_by(|a, b| a.id.cmp(&b.id));
    plan
}

impl ScanPlan {
    /// The `SendCommand` calls for this plan: per batch of 50, a patch Scan then the kernel facts.
    ///
    /// One `SnapshotId` serves every batch, so the whole run is judged against one baseline snapshot.
    /// Each batch's comment is `"{run} {batch}/{batches}"`: with the document, it identifies the call,
    /// so a redelivered event can tell which calls were already made.
    pub fn commands(
        &self,
        settings: &ScanSettings,
        snapshot_id: &str,
        run: &str,
    ) -> Vec<RunCommand> {
        let batches = self.targets.chunks(SEND_COMMAND_MAX_INSTANCES);
        let count = batches.len();
        let mut commands = Vec::new();
        for (index, batch) in batches.enumerate() {
            let comment = command_comment(&format!("{run} {}/{count}", index + 1));
            let scan = BTreeMap::from([
                ("Operation".to_owned(), vec!["Scan".to_owned()]),
                ("RebootOption".to_owned(), vec!["NoReboot".to_owned()]),
                ("SnapshotId".to_owned(), vec![snapshot_id.to_owned()]),
            ]);
            for (document, parameters) in [
                (RUN_PATCH_BASELINE.to_owned(), scan),
                (settings.facts_document.clone(), BTreeMap::new()),
            ] {
                commands.push(RunCommand {
                    document,
                    parameters,
                    instance_ids: batch.to_vec(),
                    comment: comment.clone(),
                    max_concurrency: settings.max_concurrency.clone(),
                    max_errors: settings.max_errors.clone(),
                    timeout_seconds: settings.timeout_seconds,
                });
            }
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> InstanceId {
        format!("i-{n:017x}").parse().unwrap()
    }

    fn instance(n: u32, platform: Platform, ping: PingStatus) -> ManagedInstance {
        let label = match &platform {
            Platform::AmazonLinux2 => "Amazon Linux 2".to_owned(),
            Platform::AmazonLinux2023 => "Amazon Linux 2023".to_owned(),
            Platform::Other(name) => name.clone(),
        };
        ManagedInstance {
            id: id(n),
            ping,
            platform,
            platform_label: label,
            computer_name: None,
        }
    }

    fn settings() -> ScanSettings {
        ScanSettings {
            facts_document: "LivePatchAutopilot-KernelFacts".into(),
            opt_out_tag: "livepatch-autopilot:opt-out".into(),
            max_concurrency: "25%".into(),
            max_errors: "100%".into(),
            timeout_seconds: 3600,
        }
    }

    const TAG: &str = "livepatch-autopilot:opt-out";

    #[test]
    fn amazon_linux_online_instances_are_targets_in_id_order() {
        let fleet = [
            instance(3, Platform::AmazonLinux2023, PingStatus::Online),
            instance(1, Platform::AmazonLinux2, PingStatus::Online),
        ];
        let plan = plan_scan(&fleet, &BTreeSet::new(), &BTreeSet::new(), TAG);
        assert_eq!(plan.targets, vec![id(1), id(3)]);
        assert!(plan.skipped.is_empty());
    }

    #[test]
    fn every_skip_has_its_reason() {
        let fleet = [
            instance(
                1,
                Platform::Other("Ubuntu 22.04".into()),
                PingStatus::Online,
            ),
            instance(2, Platform::AmazonLinux2, PingStatus::ConnectionLost),
            instance(3, Platform::AmazonLinux2, PingStatus::Online),
            instance(4, Platform::AmazonLinux2023, PingStatus::Online),
        ];
        let opted_out = BTreeSet::from([id(3)]);
        let known = BTreeSet::from([id(4), id(9)]);
        let plan = plan_scan(&fleet, &opted_out, &known, TAG);
        assert_eq!(plan.targets, vec![id(4)]);
        let reasons: Vec<(InstanceId, String)> = plan
            .skipped
            .iter()
            .map(|s| (s.id.clone(), s.reason.to_string()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (id(1), "not Amazon Linux (Ubuntu 22.04)".to_owned()),
                (
                    id(2),
                    "SSM agent not reachable (ping status ConnectionLost)".to_owned()
                ),
                (id(3), format!("opted out by tag {TAG}")),
                (id(9), SkipReason::NotRegistered.to_string()),
            ]
        );
    }

    #[test]
    fn opt_out_wins_over_every_other_reason_and_silences_unregistered() {
        let fleet = [instance(
            1,
            Platform::Other("Ubuntu".into()),
            PingStatus::Inactive,
        )];
        let opted_out = BTreeSet::from([id(1), id(2)]);
        let known = BTreeSet::from([id(2)]);
        let plan = plan_scan(&fleet, &opted_out, &known, TAG);
        assert_eq!(plan.skipped.len(), 1);
        assert!(matches!(
            plan.skipped[0].reason,
            SkipReason::OptedOut { .. }
        ));
    }

    #[test]
    fn duplicates_from_ssm_are_planned_once() {
        let fleet = [
            instance(1, Platform::AmazonLinux2, PingStatus::Online),
            instance(1, Platform::AmazonLinux2, PingStatus::Online),
        ];
        let plan = plan_scan(&fleet, &BTreeSet::new(), &BTreeSet::new(), TAG);
        assert_eq!(plan.targets, vec![id(1)]);
    }

    #[test]
    fn commands_batch_by_fifty_with_one_snapshot() {
        let fleet: Vec<_> = (0..120)
            .map(|n| instance(n, Platform::AmazonLinux2, PingStatus::Online))
            .collect();
        let plan = plan_scan(&fleet, &BTreeSet::new(), &BTreeSet::new(), TAG);
        let commands = plan.commands(&settings(), "snap-1", "livepatch-autopilot scan evt");
        assert_eq!(commands.len(), 6);
        let sizes: Vec<usize> = commands.iter().map(|c| c.instance_ids.len()).collect();
        assert_eq!(sizes, vec![50, 50, 50, 50, 20, 20]);
        assert_eq!(commands[0].document, RUN_PATCH_BASELINE);
        assert_eq!(commands[1].document, "LivePatchAutopilot-KernelFacts");
        assert_eq!(commands[0].parameters["Operation"], vec!["Scan"]);
        assert_eq!(commands[0].parameters["RebootOption"], vec!["NoReboot"]);
        assert!(commands
            .iter()
            .step_by(2)
            .all(|c| c.parameters["SnapshotId"] == vec!["snap-1"]));
        assert!(commands[1].parameters.is_empty());
        assert_eq!(commands[0].comment, "livepatch-autopilot scan evt 1/3");
        assert_eq!(commands[5].comment, "livepatch-autopilot scan evt 3/3");
        assert_eq!(commands[0].instance_ids, commands[1].instance_ids);
    }

    #[test]
    fn long_comments_are_cut_to_what_ssm_accepts() {
        let fleet = [instance(1, Platform::AmazonLinux2, PingStatus::Online)];
        let plan = plan_scan(&fleet, &BTreeSet::new(), &BTreeSet::new(), TAG);
        let run = "é".repeat(150);
        let commands = plan.commands(&settings(), "s", &run);
        assert_eq!(commands[0].comment.chars().count(), 100);
    }

    #[test]
    fn empty_fleet_sends_nothing() {
        let plan = plan_scan(&[], &BTreeSet::new(), &BTreeSet::new(), TAG);
        assert!(plan.commands(&settings(), "s", "r").is_empty());
    }

    #[test]
    fn ping_status_round_trips() {
        for raw in ["Online", "ConnectionLost", "Inactive", "Weird"] {
            assert_eq!(PingStatus::parse(raw).to_string(), raw);
        }
    }
}
