//! The `install` function: installs missing live patches with `AWS-RunPatchBaseline` `Install` +
//! `NoReboot` as soon as an instance turns non-compliant (compliance-change events, buffered in SQS),
//! and on a sweep schedule for instances still missing them (a failed install changes no state, so no
//! new event comes).
//!
//! Gather (SSM: registration, kernel facts, patches, earlier attempts) → decide ([`decide_install`])
//! → act (`SendCommand`, 50 instances a call, skipped in dry run) → report (SNS).

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt};
use jiff::{SignedDuration, Timestamp};
use livepatch_shared::aws::{self, ssm, AwsError};
use livepatch_shared::config::{ConfigError, Env};
use livepatch_shared::domain::install::{
    decide_install, install_commands, InstallDecision, InstallFacts, InstallPolicy,
    InstallSettings, InstallSkip, InvocationStatus, INSTALL_COMMENT_PREFIX,
};
use livepatch_shared::domain::scan::RUN_PATCH_BASELINE;
use livepatch_shared::domain::InstanceId;
use livepatch_shared::events::{self, EventError};
pub use livepatch_shared::Clients;
use serde::Serialize;
use serde_json::Value;

pub mod report;

/// Everything the function reads from its environment, validated before the first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub topic_arn: String,
    pub target_tags: BTreeMap<String, Vec<String>>,
    pub opt_out_tag: String,
    pub dry_run: bool,
    pub install: InstallSettings,
}

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let policy = env.string_or("INSTALL_POLICY", "live-patches");
        let policy = policy
            .parse::<InstallPolicy>()
            .map_err(|problem| ConfigError {
                var: "INSTALL_POLICY",
                problem,
            })?;
        Ok(Self {
            topic_arn: env.topic_arn("NOTIFY_TOPIC_ARN")?,
            target_tags: env.tag_filters("TARGET_TAGS")?,
            opt_out_tag: env.string_or("OPT_OUT_TAG", "livepatch-autopilot:opt-out"),
            dry_run: env.bool_or("DRY_RUN", false)?,
            install: InstallSettings {
                policy,
                cooldown: SignedDuration::from_mins(env.int_in_or(
                    "INSTALL_COOLDOWN_MINUTES",
                    0..=10_080,
                    60,
                )?),
                retry_limit: env.int_in_or("INSTALL_RETRY_LIMIT", 1..=100, 3)? as u32,
                retry_window: SignedDuration::from_hours(
                    24 * env.int_in_or("INSTALL_RETRY_WINDOW_DAYS", 1..=30, 7)?,
                ),
                max_concurrency: env.rate_or("INSTALL_MAX_CONCURRENCY", "50%", false)?,
                max_errors: env.rate_or("INSTALL_MAX_ERRORS", "100%", true)?,
                timeout_seconds: env.int_in_or("COMMAND_TIMEOUT_SECONDS", 30..=2_592_000, 3600)?
                    as i32,
            },
        })
    }
}

/// Why an invocation failed as a whole (`RefusedEvent`, `FleetUnreadable`).
pub type InstallError = livepatch_shared::function::InvocationError;

/// The invocation's result. `batchItemFailures` is what the SQS event source reads: those records
/// come back later (and end in the dead-letter queue if they keep failing); the rest are done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct InstallOutcome {
    pub batch_item_failures: Vec<BatchItemFailure>,
    pub trigger: String,
    /// Names this invocation's work: in the install comments, the snapshot id and the message id.
    pub run: String,
    pub dry_run: bool,
    pub snapshot_id: String,
    pub installing: Vec<Installing>,
    pub skipped: Vec<Skipped>,
    pub stuck: Vec<Stuck>,
    pub failed: Vec<Failed>,
    pub notification_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Installing {
    pub instance_id: String,
    pub command_id: Option<String>,
    /// The missing live patches: they load without a reboot.
    pub live_patches: Vec<String>,
    /// Other approved missing patches the same install brings; they wait for a reboot.
    pub other_patches: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// The instance, when the event named a valid one.
    pub instance_id: Option<String>,
    /// The SQS record, for queue deliveries.
    pub message_id: Option<String>,
    pub reason: String,
    /// Worth telling people (an instance that cannot be patched), not routine (nothing missing).
    #[serde(skip)]
    pub noteworthy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stuck {
    pub instance_id: String,
    pub failures: u32,
    pub last_command_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failed {
    pub instance_ids: Vec<String>,
    pub error: String,
    /// Whether the work comes back (SQS redelivery, or the next sweep).
    pub retried: bool,
}

/// Handles an SQS batch of compliance changes, a single compliance change delivered directly
/// (a rule targeting the function, or `cargo lambda invoke` with a sample), or a scheduled sweep.
pub async fn handle(
    clients: &Clients,
    settings: &Settings,
    raw: &Value,
) -> Result<InstallOutcome, InstallError> {
    if let Some(records) = events::as_queue_batch(raw) {
        return handle_batch(clients, settings, records?).await;
    }
    if raw.get("detail-type").and_then(Value::as_str) == Some(events::COMPLIANCE_CHANGE) {
        // Delivered directly, not through SQS: nobody reads batchItemFailures, so a bad event or
        // work left undone must fail the invocation (Lambda retries it; the alarms see it).
        let event = events::parse_patch_non_compliance(raw)?;
        let record = events::QueueRecord {
            message_id: event.id,
            body: Some(raw.to_string()),
        };
        let outcome = handle_batch(clients, settings, vec![record]).await?;
        if let Some(failed) = outcome.failed.iter().find(|f| f.retried) {
            return Err(InstallError::Gather(AwsError {
                operation: "install",
                code: None,
                message: failed.error.clone(),
            }));
        }
        return Ok(outcome);
    }
    let event = events::parse_scheduled(raw)?;
    sweep(clients, settings, &event.id, event.time).await
}

async fn handle_batch(
    clients: &Clients,
    settings: &Settings,
    records: Vec<events::QueueRecord>,
) -> Result<InstallOutcome, InstallError> {
    let mut outcome = InstallOutcome {
        trigger: "queue".into(),
        ..InstallOutcome::default()
    };
    let mut records_of: BTreeMap<InstanceId, Vec<String>> = BTreeMap::new();
    let mut now: Option<Timestamp> = None;
    for record in &records {
        let parsed = record
            .body
            .as_deref()
            .ok_or(EventError::MissingField("body"))
            .and_then(|body| {
                serde_json::from_str::<Value>(body)
                    .map_err(|e| EventError::Malformed(format!("body is not JSON: {e}")))
            })
            .and_then(|body| events::parse_patch_non_compliance(&body));
        match parsed {
            Ok(event) => {
                now = now.max(Some(event.time));
                records_of
                    .entry(event.detail.instance_id)
                    .or_default()
                    .push(record.message_id.clone());
            }
            Err(err) => {
                tracing::warn!(message_id = %record.message_id, error = %err, "record skipped");
                outcome.skipped.push(Skipped {
                    instance_id: None,
                    message_id: Some(record.message_id.clone()),
                    reason: err.to_string(),
                    noteworthy: true,
                });
            }
        }
    }
    let Some(now) = now else {
        // Nothing valid to act on; still say what was refused.
        let now = Timestamp::now();
        outcome.run = format!("queue {}", now.strftime("%Y-%m-%dT%H:%M:%SZ"));
        finish(clients, settings, &mut outcome, now).await;
        return Ok(outcome);
    };
    let ids: Vec<InstanceId> = records_of.keys().cloned().collect();
    let run = format!("queue {}", now.strftime("%Y-%m-%dT%H:%M:%SZ"));
    outcome.run = run.clone();
    // Compliance changes arrive for every instance in the account; only those in scope are touched.
    let result = match target_scope(clients, settings).await {
        Ok(scope) => {
            decide_and_act(
                clients,
                settings,
                &ids,
                scope.as_ref(),
                now,
                &run,
                &mut outcome,
            )
            .await
        }
        Err(err) => Err(err),
    };
    // Instances whose install could not be read or sent: their records come back through SQS.
    let retry: BTreeSet<String> = match result {
        Ok(retry) => retry.into_iter().map(|id| id.to_string()).collect(),
        Err(err) => {
            tracing::error!(error = %err, "fleet unreadable; the whole batch will be retried");
            outcome.failed.push(Failed {
                instance_ids: ids.iter().map(ToString::to_string).collect(),
                error: err.to_string(),
                retried: true,
            });
            ids.iter().map(ToString::to_string).collect()
        }
    };
    for (id, message_ids) in &records_of {
        if retry.contains(id.as_str()) {
            outcome
                .batch_item_failures
                .extend(message_ids.iter().map(|m| BatchItemFailure {
                    item_identifier: m.clone(),
                }));
        }
    }
    finish(clients, settings, &mut outcome, now).await;
    Ok(outcome)
}

async fn sweep(
    clients: &Clients,
    settings: &Settings,
    event_id: &str,
    now: Timestamp,
) -> Result<InstallOutcome, InstallError> {
    let mut outcome = InstallOutcome {
        trigger: "sweep".into(),
        ..InstallOutcome::default()
    };
    let (in_scope, _) = ssm::managed_instances(&clients.ssm, &settings.target_tags)
        .await
        .map_err(InstallError::Gather)?;
    let ids: Vec<InstanceId> = in_scope.into_iter().map(|i| i.id).collect();
    let candidates = ssm::instances_missing_patches(&clients.ssm, &ids)
        .await
        .map_err(InstallError::Gather)?;
    let run = format!("sweep {event_id}");
    outcome.run = run.clone();
    // The candidates come from the in-scope listing above: no second scope lookup.
    let retry = decide_and_act(
        clients,
        settings,
        &candidates,
        None,
        now,
        &run,
        &mut outcome,
    )
    .await
    .map_err(InstallError::Gather)?;
    if !retry.is_empty() {
        tracing::warn!(instances = ?retry, "could not be handled this sweep; the next sweep retries");
    }
    finish(clients, settings, &mut outcome, now).await;
    Ok(outcome)
}

/// The instances the target tags select, `None` when no tags are configured (everything is in scope).
async fn target_scope(
    clients: &Clients,
    settings: &Settings,
) -> Result<Option<BTreeSet<InstanceId>>, AwsError> {
    if settings.target_tags.is_empty() {
        return Ok(None);
    }
    let (in_scope, _) = ssm::managed_instances(&clients.ssm, &settings.target_tags).await?;
    Ok(Some(in_scope.into_iter().map(|i| i.id).collect()))
}

/// How many instances are read at once: keeps a large batch quick without tripping SSM's rate limits.
const GATHER_CONCURRENCY: usize = 8;

/// Gathers, decides and sends for `ids`. Returns the instances to retry later (their facts could not
/// be read, or their install could not be sent); fails only when the fleet itself cannot be read.
async fn decide_and_act(
    clients: &Clients,
    settings: &Settings,
    ids: &[InstanceId],
    scope: Option<&BTreeSet<InstanceId>>,
    now: Timestamp,
    run: &str,
    outcome: &mut InstallOutcome,
) -> Result<Vec<InstanceId>, AwsError> {
    let registered: BTreeMap<InstanceId, _> = ssm::managed_instances_by_id(&clients.ssm, ids)
        .await?
        .into_iter()
        .map(|i| (i.id.clone(), i))
        .collect();
    let opted_out = ssm::instances_with_tag_key(&clients.ssm, &settings.opt_out_tag).await?;
    let since = now - settings.install.retry_window.max(settings.install.cooldown);
    let gathered: Vec<(InstanceId, Result<InstallFacts, AwsError>)> =
        stream::iter(ids.iter().cloned())
            .map(|id| {
                let instance = registered.get(&id).cloned();
                let opted_out = opted_out.contains(&id);
                let in_scope = scope.is_none_or(|scope| scope.contains(&id));
                async move {
                    let facts =
                        gather_one(&clients.ssm, &id, instance, in_scope, opted_out, since).await;
                    (id, facts)
                }
            })
            .buffered(GATHER_CONCURRENCY)
            .collect()
            .await;

    let mut retry = Vec::new();
    let mut to_install: BTreeMap<InstanceId, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (id, facts) in gathered {
        let facts = match facts {
            Ok(facts) => facts,
            Err(err) => {
                tracing::error!(instance_id = %id, error = %err, "could not read the instance's state");
                outcome.failed.push(Failed {
                    instance_ids: vec![id.to_string()],
                    error: err.to_string(),
                    retried: true,
                });
                retry.push(id);
                continue;
            }
        };
        match decide_install(&facts, &settings.install, now) {
            InstallDecision::Install {
                live_patches,
                other,
            } => {
                tracing::info!(instance_id = %id, live_patches = ?live_patches, other = ?other, "install");
                to_install.insert(id, (live_patches, other));
            }
            InstallDecision::Skip(reason) => {
                tracing::info!(instance_id = %id, reason = %reason, "skipped");
                outcome.skipped.push(Skipped {
                    instance_id: Some(id.to_string()),
                    message_id: None,
                    noteworthy: noteworthy(&reason),
                    reason: reason.to_string(),
                });
            }
            InstallDecision::Stuck {
                failures,
                last_command_id,
            } => {
                tracing::warn!(instance_id = %id, failures, last_command_id = %last_command_id, "stuck");
                outcome.stuck.push(Stuck {
                    instance_id: id.to_string(),
                    failures,
                    last_command_id,
                });
            }
        }
    }

    let snapshot_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, run.as_bytes()).to_string();
    outcome.snapshot_id = snapshot_id.clone();
    outcome.dry_run = settings.dry_run;
    let ids: Vec<InstanceId> = to_install.keys().cloned().collect();
    for command in install_commands(&ids, &settings.install, &snapshot_id, run) {
        let parts = if settings.dry_run {
            vec![ssm::Sent {
                instance_ids: command.instance_ids.clone(),
                result: Ok(String::new()),
            }]
        } else {
            ssm::send_command_splitting(&clients.ssm, &command).await
        };
        for part in parts {
            match part.result {
                Ok(command_id) => outcome
                    .installing
                    .extend(part.instance_ids.iter().map(|id| {
                        let (live_patches, other_patches) = to_install[id].clone();
                        Installing {
                            instance_id: id.to_string(),
                            command_id: (!command_id.is_empty()).then(|| command_id.clone()),
                            live_patches,
                            other_patches,
                        }
                    })),
                Err(err) => {
                    tracing::error!(instances = ?part.instance_ids, error = %err, "install not sent");
                    // An id SSM refuses will not become valid by retrying the record.
                    let retried = err.code.as_deref() != Some("InvalidInstanceId");
                    outcome.failed.push(Failed {
                        instance_ids: part.instance_ids.iter().map(ToString::to_string).collect(),
                        error: err.to_string(),
                        retried,
                    });
                    if retried {
                        retry.extend(part.instance_ids);
                    }
                }
            }
        }
    }
    if !settings.dry_run {
        let sent: Vec<(InstanceId, String)> = outcome
            .installing
            .iter()
            .filter_map(|i| Some((i.instance_id.parse().ok()?, i.command_id.clone()?)))
            .collect();
        // Failing to check leaves at worst a second install, which waits for or loses the package
        // manager's lock; the sends stand either way.
        let cancelled = cancel_duplicates(clients, &sent, now - settings.install.cooldown)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "could not check for duplicate installs");
                Vec::new()
            });
        outcome
            .installing
            .retain(|i| !cancelled.contains(&i.instance_id));
        for id in cancelled {
            outcome.skipped.push(Skipped {
                instance_id: Some(id),
                message_id: None,
                reason: "another invocation sent an install to it at the same moment; this one was cancelled".into(),
                noteworthy: false,
            });
        }
    }
    Ok(retry)
}

/// Settles a race: two invocations (a queue batch and the sweep, or two batches) that read the
/// fleet before either sent can both install on one instance. After sending, each looks at the
/// product's installs on its instances; where an earlier one (by request time, then command id)
/// is pending, running or succeeded there, it cancels its own, but only while its own has not
/// started: a running AWS-RunPatchBaseline is never interrupted mid-transaction. An earlier install
/// that already failed there suppresses nothing. Both racers see the same order, so at most one
/// install goes ahead where the cancel lands in time; otherwise the later one waits for the lock.
pub async fn cancel_duplicates(
    clients: &Clients,
    sent: &[(InstanceId, String)],
    since: Timestamp,
) -> Result<Vec<String>, AwsError> {
    if sent.is_empty() {
        return Ok(Vec::new());
    }
    let installs: Vec<ssm::SentCommand> =
        ssm::commands_since(&clients.ssm, Some(RUN_PATCH_BASELINE), since)
            .await?
            .into_iter()
            .filter(|c| c.comment.starts_with(INSTALL_COMMENT_PREFIX))
            .collect();
    let order = |c: &ssm::SentCommand| (c.requested, c.command_id.clone());
    let mut cancelled = Vec::new();
    for (instance, ours) in sent {
        let Some(mine) = installs.iter().find(|c| &c.command_id == ours) else {
            continue;
        };
        let mut earlier = installs.iter().filter(|other| {
            other.command_id != *ours
                && other.instance_ids.iter().any(|i| i == instance.as_str())
                && order(other) < order(mine)
        });
        let mut suppressed = false;
        for other in earlier.by_ref() {
            let status = ssm::invocation_status(&clients.ssm, &other.command_id, instance).await?;
            if status
                .as_ref()
                .is_some_and(|s| s.is_active() || *s == InvocationStatus::Success)
            {
                suppressed = true;
                break;
            }
        }
        if !suppressed {
            continue;
        }
        let own = ssm::invocation_status(&clients.ssm, ours, instance).await?;
        if own != Some(InvocationStatus::Pending) {
            tracing::warn!(command_id = %ours, instance_id = %instance, status = ?own, "duplicate install already started; left to run");
            continue;
        }
        match ssm::cancel_command(&clients.ssm, ours, std::slice::from_ref(instance)).await {
            Ok(()) => {
                tracing::warn!(command_id = %ours, instance_id = %instance, "duplicate install cancelled");
                cancelled.push(instance.to_string());
            }
            Err(err) => {
                tracing::warn!(command_id = %ours, instance_id = %instance, error = %err, "duplicate install not cancelled")
            }
        }
    }
    Ok(cancelled)
}

async fn gather_one(
    ssm_client: &aws_sdk_ssm::Client,
    id: &InstanceId,
    instance: Option<livepatch_shared::domain::fleet::ManagedInstance>,
    in_scope: bool,
    opted_out: bool,
    since: Timestamp,
) -> Result<InstallFacts, AwsError> {
    let mut facts = InstallFacts {
        instance,
        in_scope,
        opted_out,
        live_patching: None,
        patches: Vec::new(),
        attempts: Vec::new(),
    };
    // Unregistered, out-of-scope or opted-out instances are decided without reading more.
    if facts.instance.is_none() || !in_scope || opted_out {
        return Ok(facts);
    }
    facts.live_patching = ssm::kernel_facts(ssm_client, id)
        .await?
        .map(|f| f.get("LivePatchPlugin").map(String::as_str) == Some("installed"));
    facts.patches = ssm::instance_patches(ssm_client, id).await?;
    facts.attempts = ssm::attempts_on(
        ssm_client,
        id,
        RUN_PATCH_BASELINE,
        INSTALL_COMMENT_PREFIX,
        since,
    )
    .await?;
    Ok(facts)
}

/// Routine skips (nothing to do, already in hand) stay in the log; the rest are reported.
fn noteworthy(reason: &InstallSkip) -> bool {
    !matches!(
        reason,
        InstallSkip::NothingMissing
            | InstallSkip::OutOfScope
            | InstallSkip::OnlyPendingReboot
            | InstallSkip::InProgress { .. }
            | InstallSkip::CoolingDown { .. }
            | InstallSkip::OptedOut
    )
}

/// Publishes the summary when there is something to say, and emits the metrics.
async fn finish(
    clients: &Clients,
    settings: &Settings,
    outcome: &mut InstallOutcome,
    now: Timestamp,
) {
    let mut notifications_failed = 0;
    if let Some(notification) = report::summary(outcome, now) {
        match aws::sns::publish(&clients.sns, &settings.topic_arn, &notification).await {
            Ok(id) => outcome.notification_id = Some(id),
            // The installs went out; a lost summary must not make SQS deliver the records again.
            Err(err) => {
                tracing::error!(error = %err, "summary not published");
                notifications_failed = 1;
            }
        }
    }
    livepatch_shared::telemetry::emit_metrics(
        "install",
        now,
        &[
            ("InstancesPatched", outcome.installing.len() as u64),
            ("InstancesSkipped", outcome.skipped.len() as u64),
            ("InstancesStuck", outcome.stuck.len() as u64),
            ("InstancesFailed", outcome.failed.len() as u64),
            ("NotificationsFailed", notifications_failed),
        ],
    );
}
