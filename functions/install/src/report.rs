//! What the install function tells people: when it installed, found an instance stuck, could not
//! send, or (for compliance changes) met an instance it cannot patch. Routine "nothing to do" stays
//! in the log, and the sweep does not repeat standing skips every few hours.

use jiff::Timestamp;
use livepatch_shared::notify::{count, Level, Notification, Section};

use crate::InstallOutcome;

pub fn summary(outcome: &InstallOutcome, now: Timestamp) -> Option<Notification> {
    let sweep = outcome.trigger == "sweep";
    let listed_skips: Vec<_> = outcome
        .skipped
        .iter()
        .filter(|s| s.noteworthy && !sweep)
        .collect();
    let unsent: std::collections::BTreeSet<&str> = outcome
        .failed
        .iter()
        .flat_map(|f| f.instance_ids.iter().map(String::as_str))
        .collect();
    let (installing, stuck, failed) = (outcome.installing.len(), outcome.stuck.len(), unsent.len());
    let instances = |n| count(n, "instance", "instances");
    if installing == 0 && stuck == 0 && failed == 0 && listed_skips.is_empty() {
        return None;
    }
    let title = match (installing, stuck, failed) {
        (0, 0, 0) => format!(
            "{} could not be acted on",
            count(
                listed_skips.len(),
                "compliance change",
                "compliance changes"
            )
        ),
        (0, 0, _) => format!("Live patch installs not sent to {}", instances(failed)),
        (0, _, _) => format!(
            "{} stuck: live patch installs keep failing",
            instances(stuck)
        ),
        _ => {
            let verb = if outcome.dry_run {
                "Would install"
            } else {
                "Installing"
            };
            let what = if outcome
                .installing
                .iter()
                .any(|i| !i.live_patches.is_empty())
            {
                "live patches"
            } else {
                "approved patches"
            };
            let mut title = format!("{verb} {what} on {}", instances(installing));
            if stuck > 0 {
                title.push_str(&format!("; {stuck} stuck"));
            }
            title
        }
    };
    let routine = outcome.skipped.len() - listed_skips.len();
    let summary = format!(
        "After {}: {installing} installing, {stuck} stuck, {failed} not sent, {} skipped{}. {}",
        if sweep {
            "the scheduled sweep"
        } else {
            "compliance changes"
        },
        outcome.skipped.len(),
        if routine > 0 && sweep {
            format!(" ({routine} not listed: a sweep does not repeat standing skips; see the log)")
        } else if routine > 0 {
            format!(" ({routine} with nothing to do now; see the log)")
        } else {
            String::new()
        },
        if outcome.dry_run {
            "Dry run: nothing was sent."
        } else {
            "Installs run AWS-RunPatchBaseline with NoReboot: live patches load now and nothing reboots."
        },
    );
    let mut sections = Vec::new();
    if installing > 0 {
        sections.push(Section {
            heading: "Installing".into(),
            lines: outcome.installing.iter().map(installing_line).collect(),
        });
    }
    if stuck > 0 {
        sections.push(Section {
            heading: "Stuck: install failed repeatedly, no longer retried".into(),
            lines: outcome
                .stuck
                .iter()
                .map(|s| {
                    format!(
                        "{}: {} failed attempts, last command {}",
                        s.instance_id, s.failures, s.last_command_id
                    )
                })
                .collect(),
        });
    }
    if failed > 0 {
        sections.push(Section {
            heading: "Not sent".into(),
            lines: outcome
                .failed
                .iter()
                .map(|f| {
                    let again = if f.retried {
                        "will be retried"
                    } else {
                        "not retried"
                    };
                    format!("{}: {} ({again})", f.instance_ids.join(", "), f.error)
                })
                .collect(),
        });
    }
    if !listed_skips.is_empty() {
        sections.push(Section {
            heading: "Skipped".into(),
            lines: listed_skips
                .iter()
                .map(|s| {
                    let who = s
                        .instance_id
                        .as_deref()
                        .or(s.message_id.as_deref())
                        .unwrap_or("?");
                    format!("{who}: {}", s.reason)
                })
                .collect(),
        });
    }
    let mut next_steps = Vec::new();
    if outcome.failed.iter().any(|f| !f.retried) {
        next_steps.push("Installs not sent and not retried by this invocation: the next sweep (SweepSchedule) picks these instances up again while they stay non-compliant.".to_owned());
    }
    for stuck in &outcome.stuck {
        next_steps.push(format!(
            "Read why: aws ssm get-command-invocation --command-id {} --instance-id {} --plugin-name PatchLinux",
            stuck.last_command_id, stuck.instance_id
        ));
    }
    if stuck > 0 {
        next_steps.push(
            "Once fixed, the sweep installs again when the failures leave the retry window.".into(),
        );
    }
    if outcome
        .installing
        .iter()
        .any(|i| !i.other_patches.is_empty())
    {
        next_steps.push(
            "The other approved patches stay InstalledPendingReboot until the instance reboots in a maintenance window."
                .into(),
        );
    }
    let mut related: Vec<String> = outcome
        .installing
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    related.extend(outcome.stuck.iter().map(|s| s.instance_id.clone()));
    Some(Notification {
        id: format!("install-{}", outcome.run.replace(' ', "-")),
        event_type: if stuck == 0 {
            "install.started"
        } else {
            "install.stuck"
        }
        .into(),
        level: if stuck > 0 || failed > 0 {
            Level::Warning
        } else {
            Level::Info
        },
        title,
        summary,
        sections,
        next_steps,
        keywords: vec!["install".into(), "livepatch".into()],
        thread_id: format!("install-{}", now.strftime("%Y-%m-%d")),
        related_resources: related,
    })
}

fn installing_line(i: &crate::Installing) -> String {
    let command = i.command_id.as_deref().unwrap_or("not sent");
    let mut line = format!(
        "{}: {} (command {command})",
        i.instance_id,
        i.live_patches.join(", ")
    );
    if i.live_patches.is_empty() {
        line = format!("{}: approved patches (command {command})", i.instance_id);
    }
    if !i.other_patches.is_empty() {
        const SHOWN: usize = 5;
        let names: Vec<&str> = i
            .other_patches
            .iter()
            .take(SHOWN)
            .map(|t| t.split(':').next().unwrap_or(t))
            .collect();
        let more = i.other_patches.len().saturating_sub(SHOWN);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        line.push_str(&format!(
            "; also {} other approved patches, pending a reboot: {}{more}",
            i.other_patches.len(),
            names.join(", ")
        ));
    }
    line
}
