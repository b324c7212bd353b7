//! The `report` function: tells people what the product did, what failed and why, and what it
//! will do, in one SNS publish per message (email text and chat card).
//!
//! - `EC2 Command Status-change Notification` for the product's documents in a final state: reads
//!   each instance's result and output, names the cause of every failure, and stays quiet when
//!   nothing changed or a failure only repeats the previous run's.
//! - `Maintenance Window Execution State-change Notification` for the product's reboot windows:
//!   the same for the window's reboot command.
//! - A schedule: the daily digest of the fleet.

pub mod command;
pub mod digest;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use livepatch_shared::aws::{self, results, ssm, AwsError};
use livepatch_shared::config::{ConfigError, Env};
use livepatch_shared::domain::digest::{
    BookedReboot, DigestInstance, LivePatchGap, PatchView, RecentFailure,
};
use livepatch_shared::domain::fleet::PingStatus;
use livepatch_shared::domain::outcome::InstanceFailure;
use livepatch_shared::domain::{InstanceId, Platform, Severity};
use livepatch_shared::events::{self, EventError};
use livepatch_shared::notify::Notification;
pub use livepatch_shared::Clients;
use serde::Serialize;
use serde_json::Value;

use crate::command::{
    run_by_a_window, Action, CommandReport, WindowPurpose, WindowRun, PRODUCT_COMMENT_PREFIX,
};

/// Everything the function reads from its environment, validated before the first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub topic_arn: String,
    pub target_tags: BTreeMap<String, Vec<String>>,
    pub opt_out_tag: String,
    pub facts_document: String,
    /// Wait between reads while SSM has not listed a command's invocations yet.
    pub invocation_grace: Duration,
}

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: env.topic_arn("NOTIFY_TOPIC_ARN")?,
            target_tags: env.tag_filters("TARGET_TAGS")?,
            opt_out_tag: env.string_or("OPT_OUT_TAG", "livepatch-autopilot:opt-out"),
            facts_document: env.string_or("FACTS_DOCUMENT", "LivePatchAutopilot-KernelFacts"),
            invocation_grace: Duration::from_millis(env.int_in_or(
                "INVOCATION_GRACE_MILLIS",
                0..=10_000,
                2_000,
            )? as u64),
        })
    }
}

/// Why an invocation failed as a whole (`RefusedEvent`, `FleetUnreadable`).
pub type ReportError = livepatch_shared::function::InvocationError;

/// The invocation's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReportOutcome {
    /// `command`, `window` or `digest`.
    pub kind: String,
    /// Why nothing was published, when nothing was.
    pub quiet_because: Option<String>,
    pub published: Option<PublishedMessage>,
    pub notification_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedMessage {
    pub message_id: String,
    pub event_type: String,
    pub title: String,
}

/// Handles one event: a command or window status change, or the digest schedule.
pub async fn handle(
    clients: &Clients,
    settings: &Settings,
    raw: &Value,
) -> Result<ReportOutcome, ReportError> {
    match events::detail_type(raw) {
        Some(events::COMMAND_STATUS_CHANGE) => {
            let event = match events::parse_command_status(raw) {
                Err(EventError::Irrelevant(why)) => return Ok(quiet("command", why)),
                other => other?,
            };
            let report = command_report(clients, settings, &event.detail).await?;
            let Some(report) = report else {
                return Ok(quiet(
                    "command",
                    format!(
                        "command {} was not sent by livepatch-autopilot",
                        event.detail.command_id
                    ),
                ));
            };
            publish(
                clients,
                settings,
                "command",
                report.notification(),
                event.time,
            )
            .await
        }
        Some(events::WINDOW_EXECUTION_CHANGE) => {
            let event = match events::parse_window_execution(raw) {
                Err(EventError::Irrelevant(why)) => return Ok(quiet("window", why)),
                other => other?,
            };
            let notification = window_report(clients, settings, &event.detail).await?;
            publish(clients, settings, "window", notification, event.time).await
        }
        _ => {
            let event = events::parse_scheduled(raw)?;
            let (digest, names) = gather_digest(clients, settings, event.time).await?;
            let notification = digest::notification(&digest, &names, event.time);
            publish(clients, settings, "digest", Some(notification), event.time).await
        }
    }
}

fn quiet(kind: &str, why: String) -> ReportOutcome {
    tracing::info!(kind, reason = %why, "nothing to report");
    ReportOutcome {
        kind: kind.into(),
        quiet_because: Some(why),
        ..ReportOutcome::default()
    }
}

async fn publish(
    clients: &Clients,
    settings: &Settings,
    kind: &str,
    notification: Option<Notification>,
    now: Timestamp,
) -> Result<ReportOutcome, ReportError> {
    let Some(notification) = notification else {
        return Ok(quiet(
            kind,
            "nothing new: every instance succeeded and nothing changed, or failures repeat the last run's".into(),
        ));
    };
    let mut outcome = ReportOutcome {
        kind: kind.into(),
        ..ReportOutcome::default()
    };
    let published = aws::sns::publish(&clients.sns, &settings.topic_arn, &notification).await;
    livepatch_shared::telemetry::emit_metrics(
        "report",
        now,
        &[
            ("MessagesPublished", u64::from(published.is_ok())),
            ("NotificationsFailed", u64::from(published.is_err())),
        ],
    );
    match published {
        Ok(message_id) => {
            outcome.published = Some(PublishedMessage {
                message_id,
                event_type: notification.event_type,
                title: notification.title,
            })
        }
        // Nothing else was written: failing lets Lambda retry the event, then its failure
        // destination keeps it.
        Err(err) => return Err(ReportError::Gather(err)),
    }
    Ok(outcome)
}

/// Reads a finished command; `None` when it is not the product's, or a reboot window's (reported
/// with its window).
async fn command_report(
    clients: &Clients,
    settings: &Settings,
    detail: &events::CommandStatusDetail,
) -> Result<Option<CommandReport>, ReportError> {
    let Some(info) = results::command(&clients.ssm, &detail.command_id)
        .await
        .map_err(ReportError::Gather)?
    else {
        return Ok(None);
    };
    if !info.comment.starts_with(PRODUCT_COMMENT_PREFIX) || run_by_a_window(&info.comment) {
        return Ok(None);
    }
    let action = Action::of(
        &info.document,
        &info.parameters,
        &info.comment,
        &settings.facts_document,
    );
    let results = results::invocation_results(
        &clients.ssm,
        &info.command_id,
        usize::try_from(info.target_count).unwrap_or(0),
        settings.invocation_grace,
    )
    .await
    .map_err(ReportError::Gather)?;
    let kind_prefix = comment_kind(&info.comment);
    let mut failures = Vec::new();
    for result in &results {
        let Some(cause) = result.failure() else {
            continue;
        };
        let previous = match info.requested {
            // A history that cannot be read makes the failure new: better said twice than lost.
            Some(requested) => results::previous_result(
                &clients.ssm,
                &result.instance_id,
                &info.document,
                &kind_prefix,
                requested,
            )
            .await
            .inspect_err(|e| tracing::warn!(instance_id = %result.instance_id, error = %e, "previous run unreadable; failure reported as new"))
            .ok()
            .flatten(),
            None => None,
        };
        let repeated = previous
            .and_then(|p| p.failure())
            .is_some_and(|before| cause.repeats(&before));
        failures.push(InstanceFailure {
            instance_id: result.instance_id.clone(),
            cause,
            repeated,
        });
    }
    Ok(Some(CommandReport {
        command_id: info.command_id,
        document: info.document,
        action,
        status: detail.status.clone(),
        results,
        failures,
        window: None,
    }))
}

/// `livepatch-autopilot install <run> 1/2` → `livepatch-autopilot install`: runs of one kind.
fn comment_kind(comment: &str) -> String {
    comment
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reports a finished maintenance window of the product's (a reboot booking, or a booked disable);
/// `None` for anyone else's window.
async fn window_report(
    clients: &Clients,
    settings: &Settings,
    detail: &events::WindowExecutionDetail,
) -> Result<Option<Notification>, ReportError> {
    let Some(name) = results::window_name(&clients.ssm, &detail.window_id)
        .await
        .map_err(ReportError::Gather)?
    else {
        return Ok(None);
    };
    let Some((purpose, key)) = WindowPurpose::of_name(&name) else {
        return Ok(None);
    };
    let command_ids = aws::windows::window_command_ids(&clients.ssm, &detail.window_execution_id)
        .await
        .map_err(ReportError::Gather)?;
    let mut all = Vec::new();
    let mut document = String::new();
    let mut action = match purpose {
        WindowPurpose::Reboot => Action::Reboot,
        WindowPurpose::Disable => Action::Disable,
    };
    for command_id in &command_ids {
        if let Some(info) = results::command(&clients.ssm, command_id)
            .await
            .map_err(ReportError::Gather)?
        {
            action = Action::of(
                &info.document,
                &info.parameters,
                &info.comment,
                &settings.facts_document,
            );
            document = info.document;
        }
        all.extend(
            results::invocation_results(&clients.ssm, command_id, 1, settings.invocation_grace)
                .await
                .map_err(ReportError::Gather)?,
        );
    }
    // Every failure in a window is news: a window runs once, and a failed reboot is rebooked.
    let failures = all
        .iter()
        .filter_map(|r| {
            r.failure().map(|cause| InstanceFailure {
                instance_id: r.instance_id.clone(),
                cause,
                repeated: false,
            })
        })
        .collect();
    let report = CommandReport {
        command_id: detail.window_execution_id.clone(),
        document,
        action,
        status: detail.status.clone(),
        results: all,
        failures,
        window: Some(WindowRun {
            window_id: detail.window_id.clone(),
            name,
            key,
            purpose,
        }),
    };
    Ok(report.notification().or_else(|| report.empty_window()))
}

/// Reads the fleet for the digest.
async fn gather_digest(
    clients: &Clients,
    settings: &Settings,
    now: Timestamp,
) -> Result<
    (
        livepatch_shared::domain::digest::Digest,
        BTreeMap<InstanceId, String>,
    ),
    ReportError,
> {
    let gather = |e: AwsError| ReportError::Gather(e);
    let (instances, _) = ssm::managed_instances(&clients.ssm, &settings.target_tags)
        .await
        .map_err(gather)?;
    let opted_out = ssm::instances_with_tag_key(&clients.ssm, &settings.opt_out_tag)
        .await
        .map_err(gather)?;
    let mut facts = results::all_kernel_facts(&clients.ssm)
        .await
        .map_err(gather)?;
    let ids: Vec<InstanceId> = instances.iter().map(|i| i.id.clone()).collect();
    let counts = results::patch_counts(&clients.ssm, &ids)
        .await
        .map_err(gather)?;
    let mut view = Vec::new();
    let mut names = BTreeMap::new();
    for instance in &instances {
        if let Some(name) = &instance.computer_name {
            names.insert(instance.id.clone(), name.clone());
        }
        let patches = match counts.get(&instance.id) {
            None => None,
            Some(c) if c.compliant() || matches!(instance.platform, Platform::Other(_)) => {
                Some(PatchView {
                    compliant: c.compliant(),
                    missing_live_patches: Vec::new(),
                })
            }
            Some(_) => {
                let advisories = facts
                    .get(&instance.id)
                    .map(|f| f.livepatch_advisories())
                    .unwrap_or_default();
                // One unreadable patch list costs that instance's detail, not the digest.
                let missing = results::missing_patches(&clients.ssm, &instance.id)
                    .await
                    .inspect_err(|e| tracing::warn!(instance_id = %instance.id, error = %e, "patches unreadable; listed without detail"))
                    .unwrap_or_default();
                Some(PatchView {
                    compliant: false,
                    missing_live_patches: missing
                        .into_iter()
                        .filter(|p| p.kb_id.starts_with("kernel-livepatch"))
                        .map(|p| LivePatchGap {
                            advisory_ids: advisories.get(&p.kb_id).cloned().unwrap_or_default(),
                            kb_id: p.kb_id,
                            severity: p.severity.parse::<Severity>().ok(),
                            cve_ids: p.cve_ids,
                        })
                        .collect(),
                })
            }
        };
        view.push(DigestInstance {
            id: instance.id.clone(),
            name: instance.computer_name.clone().unwrap_or_default(),
            platform: instance.platform.clone(),
            online: instance.ping == PingStatus::Online,
            opted_out: opted_out.contains(&instance.id),
            facts: facts.remove(&instance.id),
            patches,
        });
    }
    let failures = recent_failures(clients, settings, now).await?;
    let booked: Vec<BookedReboot> = aws::windows::booked_reboots(&clients.ssm)
        .await
        .map_err(gather)?
        .into_iter()
        .filter(|w| w.booking.start > now)
        .flat_map(|w| {
            let label = slot_label(w.booking.start, &w.time_zone);
            w.booking
                .instances
                .iter()
                .map(move |i| BookedReboot {
                    instance: i.instance.clone(),
                    starts: w.booking.start,
                    label: label.clone(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    Ok((
        livepatch_shared::domain::digest::digest(&view, &booked, &failures, now),
        names,
    ))
}

/// "Sun 2027-01-10 03:00 Europe/Berlin": the slot as people in its zone read it.
fn slot_label(start: Timestamp, zone: &str) -> String {
    let zone_name = if zone.is_empty() { "UTC" } else { zone };
    match jiff::tz::TimeZone::get(zone_name) {
        Ok(tz) => format!(
            "{} {zone_name}",
            start.to_zoned_datetime(tz).strftime("%a %Y-%m-%d %H:%M")
        ),
        Err(_) => format!("{} UTC", start.strftime("%a %Y-%m-%d %H:%M")),
    }
}

/// The failed invocations of the product's commands in the 24 hours before `now`.
async fn recent_failures(
    clients: &Clients,
    settings: &Settings,
    now: Timestamp,
) -> Result<Vec<RecentFailure>, ReportError> {
    let since = now - SignedDuration::from_hours(24);
    let commands = ssm::commands_since(&clients.ssm, None, since)
        .await
        .map_err(ReportError::Gather)?;
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for command in commands
        .iter()
        .filter(|c| c.comment.starts_with(PRODUCT_COMMENT_PREFIX))
        // Every command, whatever its own status: a command is Success when its undeliverable
        // invocations do not count against MaxErrors, yet those instances did fail.
        .filter(|c| c.requested.is_some_and(|t| t <= now))
    {
        if !seen.insert(command.command_id.clone()) {
            continue;
        }
        let invocations = results::invocation_results(
            &clients.ssm,
            &command.command_id,
            0,
            settings.invocation_grace,
        )
        .await
        .map_err(ReportError::Gather)?;
        let action = comment_kind(&command.comment)
            .trim_start_matches(PRODUCT_COMMENT_PREFIX)
            .to_owned();
        for invocation in invocations {
            if let Some(cause) = invocation.failure() {
                failures.push(RecentFailure {
                    instance: invocation.instance_id,
                    action: action.clone(),
                    cause,
                    at: command.requested.unwrap_or(now),
                });
            }
        }
    }
    Ok(failures)
}
