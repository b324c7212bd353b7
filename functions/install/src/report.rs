//! What the install function tells people: only when it installed, found an instance stuck, could
//! not send, or met an instance it cannot patch. Routine "nothing to do" stays in the log.

use jiff::Timestamp;
use livepatch_shared::notify::{Level, Notification, Section};

use crate::InstallOutcome;

pub fn summary(outcome: &InstallOutcome, now: Timestamp) -> Option<Notification> {
    let noteworthy: Vec<_> = outcome.skipped.iter().filter(|s| s.noteworthy).collect();
    if outcome.installing.is_empty()
        && outcome.stuck.is_empty()
        && outcome.failed.is_empty()
        && noteworthy.is_empty()
    {
        return None;
    }
    let verb = if outcome.dry_run {
        "Would install"
    } else {
        "Installing"
    };
    let mut title = format!(
        "{verb} live patches on {} instances",
        outcome.installing.len()
    );
    if !outcome.stuck.is_empty() {
        title.push_str(&format!("; {} stuck", outcome.stuck.len()));
    }
    let summary = format!(
        "{} (AWS-RunPatchBaseline Install, NoReboot; no reboot happens) after {}: {} installing, {} stuck, {} not sent, {} skipped.",
        if outcome.dry_run { "Dry run, nothing sent" } else { "Live patch install" },
        if outcome.trigger == "sweep" { "the scheduled sweep" } else { "compliance changes" },
        outcome.installing.len(),
        outcome.stuck.len(),
        outcome.failed.len(),
        outcome.skipped.len(),
    );
    let mut sections = Vec::new();
    if !outcome.installing.is_empty() {
        sections.push(Section {
            heading: "Installing".into(),
            lines: outcome
                .installing
                .iter()
                .map(|i| {
                    format!(
                        "{}: {} (command {})",
                        i.instance_id,
                        i.patches.join(", "),
                        i.command_id.as_deref().unwrap_or("not sent")
                    )
                })
                .collect(),
        });
    }
    if !outcome.stuck.is_empty() {
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
    if !outcome.failed.is_empty() {
        sections.push(Section {
            heading: "Not sent (will be retried)".into(),
            lines: outcome
                .failed
                .iter()
                .map(|f| format!("{}: {}", f.instance_ids.join(", "), f.error))
                .collect(),
        });
    }
    if !noteworthy.is_empty() {
        sections.push(Section {
            heading: "Skipped".into(),
            lines: noteworthy
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
    for stuck in &outcome.stuck {
        next_steps.push(format!(
            "Read why: aws ssm get-command-invocation --command-id {} --instance-id {}",
            stuck.last_command_id, stuck.instance_id
        ));
    }
    if !outcome.stuck.is_empty() {
        next_steps.push(
            "Once fixed, the next sweep installs again when the retry window has passed.".into(),
        );
    }
    let mut related: Vec<String> = outcome
        .installing
        .iter()
        .map(|i| i.instance_id.clone())
        .collect();
    related.extend(outcome.stuck.iter().map(|s| s.instance_id.clone()));
    Some(Notification {
        event_type: if outcome.stuck.is_empty() {
            "install.started"
        } else {
            "install.stuck"
        }
        .into(),
        level: if !outcome.stuck.is_empty() || !outcome.failed.is_empty() {
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
