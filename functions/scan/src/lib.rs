//! The `scan` function: on a schedule, send `AWS-RunPatchBaseline` Scan and the kernel facts document
//! to every managed Amazon Linux instance in scope, and tell people what was sent and what was skipped.
//!
//! Gather (SSM) → decide ([`plan_scan`]) → act (`SendCommand`, skipped in dry run) → report (SNS).

use std::collections::{BTreeMap, BTreeSet};

use livepatch_shared::aws::{self, ssm};
use livepatch_shared::config::{ConfigError, Env};
use livepatch_shared::domain::fleet::RunCommand;
use livepatch_shared::domain::scan::{plan_scan, ScanPlan, ScanSettings};
use livepatch_shared::events;
use livepatch_shared::notify::{count, Level, Notification, Section};
pub use livepatch_shared::Clients;
use serde::Serialize;
use serde_json::Value;

/// Everything the function reads from its environment, validated before the first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub topic_arn: String,
    pub target_tags: BTreeMap<String, Vec<String>>,
    pub dry_run: bool,
    pub scan: ScanSettings,
}

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: env.topic_arn("NOTIFY_TOPIC_ARN")?,
            target_tags: env.tag_filters("TARGET_TAGS")?,
            dry_run: env.bool_or("DRY_RUN", false)?,
            scan: ScanSettings {
                facts_document: env.string_or("FACTS_DOCUMENT", "LivePatchAutopilot-KernelFacts"),
                opt_out_tag: env.string_or("OPT_OUT_TAG", "livepatch-autopilot:opt-out"),
                max_concurrency: env.rate_or("SCAN_MAX_CONCURRENCY", "25%", false)?,
                max_errors: env.rate_or("SCAN_MAX_ERRORS", "100%", true)?,
                timeout_seconds: env.int_in_or("COMMAND_TIMEOUT_SECONDS", 30..=2_592_000, 3600)?
                    as i32,
            },
        })
    }
}

/// Why an invocation failed as a whole (`RefusedEvent`, `FleetUnreadable`).
pub type ScanError = livepatch_shared::function::InvocationError;

/// The invocation's result: what was done, skipped and failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ScanOutcome {
    pub event_id: String,
    pub dry_run: bool,
    pub snapshot_id: String,
    /// Instances the scan covers.
    pub targets: Vec<String>,
    pub skipped: Vec<SkippedInstance>,
    pub sent: Vec<SentCommand>,
    /// Commands found already sent for this event (a redelivery), not sent again.
    pub already_sent: Vec<SentCommand>,
    pub failed: Vec<FailedCommand>,
    pub notification_id: Option<String>,
    pub notification_error: Option<String>,
    /// Nothing was published: the scan reached the same instances as the previous one.
    pub quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedInstance {
    pub instance_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentCommand {
    pub command_id: Option<String>,
    pub document: String,
    pub instance_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedCommand {
    pub document: String,
    pub instance_ids: Vec<String>,
    pub error: String,
}

/// How far before the event's time a command of this run may have been recorded (clock skew).
const SKEW: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Handles one scheduled event.
pub async fn handle(
    clients: &Clients,
    settings: &Settings,
    raw: &Value,
) -> Result<ScanOutcome, ScanError> {
    let event = events::parse_scheduled(raw)?;
    let run = format!("livepatch-autopilot scan {}", event.id);
    let snapshot_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, run.as_bytes()).to_string();
    let mut outcome = ScanOutcome {
        event_id: event.id.clone(),
        dry_run: settings.dry_run,
        snapshot_id: snapshot_id.clone(),
        ..ScanOutcome::default()
    };

    let plan = gather_and_plan(clients, settings).await?;
    outcome.targets = plan.targets.iter().map(ToString::to_string).collect();
    outcome.skipped = plan
        .skipped
        .iter()
        .map(|s| SkippedInstance {
            instance_id: s.id.to_string(),
            reason: s.reason.to_string(),
        })
        .collect();
    let commands = plan.commands(&settings.scan, &snapshot_id, &run);

    if settings.dry_run {
        outcome.sent = commands.iter().map(|c| sent(None, c)).collect();
    } else {
        // What this run (the same event id, whatever its batches were then) already reached:
        // a redelivery sends only to the instances it did not, even if the fleet changed since.
        let earlier = ssm::commands_since(&clients.ssm, None, event.time - SKEW)
            .await
            .map_err(ScanError::Gather)?;
        let this_run = format!("{run} ");
        let mut reached: BTreeSet<(&str, &str)> = BTreeSet::new();
        for command in earlier.iter().filter(|c| c.comment.starts_with(&this_run)) {
            reached.extend(
                command
                    .instance_ids
                    .iter()
                    .map(|id| (command.document.as_str(), id.as_str())),
            );
            outcome.already_sent.push(SentCommand {
                command_id: Some(command.command_id.clone()),
                document: command.document.clone(),
                instance_ids: command.instance_ids.clone(),
            });
        }
        for command in &commands {
            let remaining: Vec<_> = command
                .instance_ids
                .iter()
                .filter(|id| !reached.contains(&(command.document.as_str(), id.as_str())))
                .cloned()
                .collect();
            if !remaining.is_empty() {
                let command = RunCommand {
                    instance_ids: remaining,
                    ..command.clone()
                };
                send(clients, &command, &mut outcome).await;
            }
        }
        if !outcome.already_sent.is_empty() && outcome.sent.is_empty() && outcome.failed.is_empty()
        {
            tracing::info!(event_id = %event.id, "every command of this run was already sent; redelivery ignored");
            return Ok(outcome);
        }
    }

    // Quiet by default: a scan that reached exactly the instances the previous scan did, with
    // every command sent, tells nobody anything new (results come from the report function).
    if !settings.dry_run && outcome.failed.is_empty() {
        let previous = previous_scan_targets(clients, &run, event.time)
            .await
            .map_err(ScanError::Gather)?;
        let now: BTreeSet<&str> = outcome.targets.iter().map(String::as_str).collect();
        if previous
            .as_ref()
            .is_some_and(|p| p.iter().map(String::as_str).eq(now.iter().copied()))
        {
            tracing::info!(event_id = %event.id, "same instances as the previous scan; nothing to report");
            outcome.quiet = true;
            emit(&outcome, event.time, false);
            return Ok(outcome);
        }
    }

    let notification = summary(&outcome, &event.time);
    // The commands went out: a lost summary must not fail the invocation, because its retry would
    // find the commands sent and stay quiet. The failure is logged and counted for an alarm.
    let published = aws::sns::publish(&clients.sns, &settings.topic_arn, &notification).await;
    match &published {
        Ok(message_id) => outcome.notification_id = Some(message_id.clone()),
        Err(err) => {
            tracing::error!(error = %err, "summary not published");
            outcome.notification_error = Some(err.to_string());
        }
    }
    emit(&outcome, event.time, published.is_err());
    Ok(outcome)
}

fn emit(outcome: &ScanOutcome, now: jiff::Timestamp, publish_failed: bool) {
    livepatch_shared::telemetry::emit_metrics(
        "scan",
        now,
        &[
            ("InstancesScanned", outcome.targets.len() as u64),
            ("InstancesSkipped", outcome.skipped.len() as u64),
            ("CommandsSent", outcome.sent.len() as u64),
            ("CommandsFailed", outcome.failed.len() as u64),
            ("NotificationsFailed", u64::from(publish_failed)),
        ],
    );
}

/// How far back the previous scan is looked for: a daily scan that missed a week reports again.
const PREVIOUS_SCAN_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(8 * 24);

/// The instances the newest earlier scan run (another event than `run`) sent its Scan to, or
/// `None` when there was none in the window.
async fn previous_scan_targets(
    clients: &Clients,
    run: &str,
    now: jiff::Timestamp,
) -> Result<Option<BTreeSet<String>>, livepatch_shared::aws::AwsError> {
    let commands = ssm::commands_since(
        &clients.ssm,
        Some(livepatch_shared::domain::scan::RUN_PATCH_BASELINE),
        now - PREVIOUS_SCAN_WINDOW,
    )
    .await?;
    let run_of = |comment: &str| -> Option<String> {
        let rest = comment.strip_prefix("livepatch-autopilot scan ")?;
        Some(rest.split_whitespace().next()?.to_owned())
    };
    let this = run_of(&format!("{run} ")).unwrap_or_default();
    let earlier = commands
        .iter()
        .filter_map(|c| run_of(&c.comment).map(|r| (r, c)))
        .filter(|(r, c)| *r != this && c.requested.is_some_and(|t| t <= now))
        .max_by_key(|(_, c)| c.requested);
    let Some((previous, _)) = earlier else {
        return Ok(None);
    };
    Ok(Some(
        commands
            .iter()
            .filter(|c| run_of(&c.comment).as_deref() == Some(previous.as_str()))
            .flat_map(|c| c.instance_ids.iter().cloned())
            .collect(),
    ))
}

async fn gather_and_plan(clients: &Clients, settings: &Settings) -> Result<ScanPlan, ScanError> {
    let (in_scope, invalid) = ssm::managed_instances(&clients.ssm, &settings.target_tags)
        .await
        .map_err(ScanError::Gather)?;
    for id in invalid {
        tracing::warn!(instance_id = %id, "Systems Manager listed an id that is not an instance id; ignored");
    }
    let opted_out = ssm::instances_with_tag_key(&clients.ssm, &settings.scan.opt_out_tag)
        .await
        .map_err(ScanError::Gather)?;
    // Inventory shows instances seen before; when a tag filter narrows the scope, only those in scope count.
    let known: BTreeSet<_> = if settings.target_tags.is_empty() {
        ssm::instances_with_kernel_facts(&clients.ssm)
            .await
            .map_err(ScanError::Gather)?
    } else {
        BTreeSet::new()
    };
    let plan = plan_scan(&in_scope, &opted_out, &known, &settings.scan.opt_out_tag);
    for skip in &plan.skipped {
        tracing::info!(instance_id = %skip.id, reason = %skip.reason, "skipped");
    }
    Ok(plan)
}

/// Sends one command, split per instance if SSM refuses the batch for one invalid instance id.
async fn send(clients: &Clients, command: &RunCommand, outcome: &mut ScanOutcome) {
    for part in ssm::send_command_splitting(&clients.ssm, command).await {
        let instance_ids: Vec<String> = part.instance_ids.iter().map(ToString::to_string).collect();
        match part.result {
            Ok(id) => {
                tracing::info!(command_id = %id, document = %command.document, instances = instance_ids.len(), "sent");
                outcome.sent.push(SentCommand {
                    command_id: Some(id),
                    document: command.document.clone(),
                    instance_ids,
                });
            }
            Err(err) => {
                tracing::error!(document = %command.document, instances = ?instance_ids, error = %err, "send failed");
                outcome.failed.push(FailedCommand {
                    document: command.document.clone(),
                    instance_ids,
                    error: err.to_string(),
                });
            }
        }
    }
}

fn sent(command_id: Option<String>, command: &RunCommand) -> SentCommand {
    SentCommand {
        command_id,
        document: command.document.clone(),
        instance_ids: command
            .instance_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}

/// The one message a scan run publishes.
pub fn summary(outcome: &ScanOutcome, now: &jiff::Timestamp) -> Notification {
    let scanned = outcome.targets.len();
    let dry = if outcome.dry_run {
        " (dry run: nothing sent)"
    } else {
        ""
    };
    let unsent: std::collections::BTreeSet<&str> = outcome
        .failed
        .iter()
        .flat_map(|f| f.instance_ids.iter().map(String::as_str))
        .collect();
    let mut title = format!(
        "Patch scan {} on {}{dry}",
        if outcome.dry_run {
            "planned"
        } else {
            "started"
        },
        count(scanned, "instance", "instances")
    );
    if !outcome.failed.is_empty() {
        title.push_str(&format!(
            "; {} not sent",
            count(outcome.failed.len(), "command", "commands")
        ));
    }
    let mut summary = format!(
        "Scan (AWS-RunPatchBaseline, NoReboot) and kernel facts {} to {scanned} managed Amazon Linux instances; {} skipped.",
        if outcome.dry_run { "would be sent" } else { "sent" },
        outcome.skipped.len()
    );
    if !outcome.failed.is_empty() {
        let documents: std::collections::BTreeSet<&str> =
            outcome.failed.iter().map(|f| f.document.as_str()).collect();
        summary.push_str(&format!(
            " Not sent: {} ({}) to {}; the next scheduled scan tries again.",
            count(outcome.failed.len(), "command", "commands"),
            documents.into_iter().collect::<Vec<_>>().join(", "),
            count(unsent.len(), "instance", "instances")
        ));
    }
    let mut sections = Vec::new();
    let commands: Vec<String> = outcome
        .sent
        .iter()
        .chain(&outcome.already_sent)
        .map(|c| {
            format!(
                "{} {} on {} instances",
                c.command_id.as_deref().unwrap_or("(not sent)"),
                c.document,
                c.instance_ids.len()
            )
        })
        .collect();
    if !commands.is_empty() {
        sections.push(Section {
            heading: "Commands".into(),
            lines: commands,
        });
    }
    if !outcome.failed.is_empty() {
        sections.push(Section {
            heading: "Not sent".into(),
            lines: outcome
                .failed
                .iter()
                .map(|f| {
                    format!(
                        "{} to {}: {}",
                        f.document,
                        f.instance_ids.join(", "),
                        f.error
                    )
                })
                .collect(),
        });
    }
    if !outcome.skipped.is_empty() {
        sections.push(Section {
            heading: "Skipped".into(),
            lines: outcome
                .skipped
                .iter()
                .map(|s| format!("{}: {}", s.instance_id, s.reason))
                .collect(),
        });
    }
    let mut next_steps = Vec::new();
    if !outcome.failed.is_empty() {
        next_steps.push(
            "Check the function's log for the SendCommand errors; the next scheduled scan retries."
                .into(),
        );
    }
    if outcome
        .skipped
        .iter()
        .any(|s| s.reason.contains("not registered") || s.reason.contains("not reachable"))
    {
        next_steps.push(
            "Start or re-register the unreachable instances, or they stop receiving live patches."
                .into(),
        );
    }
    Notification {
        id: format!("scan-{}", outcome.event_id),
        event_type: "scan.started".into(),
        level: if outcome.failed.is_empty() {
            Level::Info
        } else {
            Level::Warning
        },
        title,
        summary,
        sections,
        next_steps,
        keywords: vec!["scan".into(), "livepatch".into()],
        thread_id: format!("scan-{}", now.strftime("%Y-%m-%d")),
        related_resources: outcome.targets.clone(),
    }
}
