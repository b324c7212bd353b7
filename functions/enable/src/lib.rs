//! The `enable` function: turns kernel live patching on where the kernel facts say it is off (a
//! daily schedule, and manual requests naming instances), checks that earlier enables took, reports
//! live patches that are not in effect, and turns live patching off only on a confirmed manual request.
//!
//! Gather (SSM: registration, tags, kernel facts, command history) → decide
//! ([`decide_enable`], [`decide_disable`]) → act (`SendCommand`, or a booked maintenance window for
//! an AL2 disable; nothing in dry run) → report (SNS).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use livepatch_shared::aws::{self, livepatching, ssm, windows, AwsError};
use livepatch_shared::config::{ConfigError, Env};
use livepatch_shared::domain::enable::{
    decide_disable, decide_enable, disable_window, live_patching_commands, next_window_start,
    window_over, Action, DisableDecision, DisabledRecord, EnableDecision, EnableFacts,
    EnableSettings, EnableSkip, LivePatchingFacts, PendingDisable, Request, Route, CONFIGURE_KLP,
    HISTORY,
};
use livepatch_shared::domain::fleet::{ManagedInstance, RunCommand};
use livepatch_shared::domain::reboot::local_time;
use livepatch_shared::domain::InstanceId;
use livepatch_shared::events;
use livepatch_shared::manual::{self, ManualAction, ManualRequest, Refusal};
pub use livepatch_shared::Clients;
use serde::Serialize;
use serde_json::Value;

pub mod report;

/// The product's AL2023 document, as `template.yaml` names it.
pub const DEFAULT_AL2023_DOCUMENT: &str = "LivePatchAutopilot-ConfigureKernelLivePatching";

/// Everything the function reads from its environment, validated before the first event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub topic_arn: String,
    pub target_tags: BTreeMap<String, Vec<String>>,
    pub opt_out_tag: String,
    pub dry_run: bool,
    pub enable: EnableSettings,
    /// Hour (UTC) of the window booked for an AL2 disable that names no time.
    pub disable_window_hour: i8,
    /// Parameter Store path of the records of manual disables (one parameter per instance).
    pub disabled_path: String,
}

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            topic_arn: env.topic_arn("NOTIFY_TOPIC_ARN")?,
            target_tags: env.tag_filters("TARGET_TAGS")?,
            opt_out_tag: env.string_or("OPT_OUT_TAG", "livepatch-autopilot:opt-out"),
            dry_run: env.bool_or("DRY_RUN", false)?,
            enable: EnableSettings {
                allow_reboot: env.bool_or("ENABLE_ALLOW_REBOOT", false)?,
                al2023_document: env
                    .string_or("AL2023_LIVEPATCH_DOCUMENT", DEFAULT_AL2023_DOCUMENT),
                max_concurrency: env.rate_or("ENABLE_MAX_CONCURRENCY", "10%", false)?,
                max_errors: env.rate_or("ENABLE_MAX_ERRORS", "25%", true)?,
                timeout_seconds: env.int_in_or("COMMAND_TIMEOUT_SECONDS", 30..=2_592_000, 3600)?
                    as i32,
                window_task_role: env.role_arn_optional("WINDOW_TASK_ROLE_ARN")?,
            },
            disable_window_hour: env.int_in_or("DISABLE_WINDOW_HOUR", 0..=23, 3)? as i8,
            disabled_path: env.parameter_path_or(
                "DISABLED_RECORDS_PATH",
                "/livepatch-autopilot/live-patching-disabled",
            )?,
        })
    }
}

/// Why an invocation failed as a whole (`RefusedEvent`, `FleetUnreadable`). A manual request that
/// is well formed as an event but refused (no confirmation, bad ids, out of scope) is answered with
/// a notification and [`EnableOutcome::refused`] instead: retrying it would change nothing.
pub type EnableError = livepatch_shared::function::InvocationError;

/// The invocation's result: what was done, found, skipped and failed, per instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EnableOutcome {
    /// `schedule`, `manual-enable` or `manual-disable`.
    pub trigger: String,
    /// The event id: in every command comment and window name of this run.
    pub run: String,
    pub dry_run: bool,
    /// Why a manual request was refused; nothing was sent then.
    pub refused: Option<String>,
    /// Enables and disables sent now (or that would be, in dry run).
    pub switching: Vec<Switching>,
    /// AL2 disables booked into a maintenance window.
    pub booked: Vec<Booked>,
    /// Enabling needs a reboot: left to a maintenance window (the reboot planner).
    pub deferred: Vec<Finding>,
    pub unsupported: Vec<Finding>,
    pub not_in_effect: Vec<Finding>,
    /// Enabled earlier; facts collected since still show live patching off.
    pub not_verified: Vec<Finding>,
    pub stuck: Vec<Finding>,
    pub skipped: Vec<Finding>,
    /// Commands of this run found already sent (a redelivered event), not sent again.
    pub already_sent: Vec<String>,
    /// The product's disable windows that are over (start + duration passed, executions ended),
    /// deleted by the daily run so they do not count against the 50-windows quota.
    pub removed_windows: Vec<String>,
    /// Instances whose disable record could not be written or deleted.
    pub unrecorded: Vec<Finding>,
    pub failed: Vec<Failed>,
    pub notification_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Switching {
    pub instance_id: String,
    /// `enable` or `disable`.
    pub action: String,
    pub document: String,
    pub command_id: Option<String>,
    /// The command reboots the instance.
    pub reboots: bool,
    /// Why, in words: the reboot's reason, or a repair.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Booked {
    pub instance_ids: Vec<String>,
    pub window_id: Option<String>,
    pub window_name: String,
    pub starts: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub instance_id: String,
    pub reason: String,
    /// The command a finding is about (not verified, stuck), for the next step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Failed {
    pub instance_ids: Vec<String>,
    pub error: String,
}

/// Handles the daily schedule's event or a manual request.
pub async fn handle(
    clients: &Clients,
    settings: &Settings,
    raw: &Value,
) -> Result<EnableOutcome, EnableError> {
    if manual::is_manual(raw) {
        let event = manual::parse_manual(raw)?;
        let mut outcome = EnableOutcome {
            trigger: "manual".into(),
            run: event.id.clone(),
            dry_run: settings.dry_run,
            ..EnableOutcome::default()
        };
        match manual::manual_request(&event.detail, event.time) {
            Ok(request) => {
                Box::pin(manual_run(
                    clients,
                    settings,
                    &request,
                    event.time,
                    &mut outcome,
                ))
                .await?
            }
            Err(refusal) => refuse(&mut outcome, refusal),
        }
        Box::pin(finish(clients, settings, &mut outcome, event.time)).await;
        return Ok(outcome);
    }
    let event = events::parse_scheduled(raw)?;
    let mut outcome = EnableOutcome {
        trigger: "schedule".into(),
        run: event.id.clone(),
        dry_run: settings.dry_run,
        ..EnableOutcome::default()
    };
    Box::pin(scheduled_run(clients, settings, event.time, &mut outcome)).await?;
    Box::pin(finish(clients, settings, &mut outcome, event.time)).await;
    Ok(outcome)
}

fn refuse(outcome: &mut EnableOutcome, refusal: Refusal) {
    tracing::warn!(run = %outcome.run, refusal = %refusal, "manual request refused; nothing sent");
    outcome.refused = Some(refusal.to_string());
}

/// What the decisions need besides the instance list.
struct Fleet {
    opted_out: BTreeSet<InstanceId>,
    facts: BTreeMap<InstanceId, BTreeMap<String, String>>,
    history: BTreeMap<InstanceId, Vec<livepatch_shared::domain::enable::LivePatchingRun>>,
    patch_runs: BTreeMap<InstanceId, String>,
    /// The product's records of manual disables.
    disabled: BTreeMap<InstanceId, DisabledRecord>,
    /// Disable windows not over yet, except the one this run books (a redelivery finds it).
    pending: Vec<livepatching::OwnDisableWindow>,
}

async fn read_fleet(
    clients: &Clients,
    settings: &Settings,
    now: Timestamp,
) -> Result<Fleet, AwsError> {
    let documents = [CONFIGURE_KLP, settings.enable.al2023_document.as_str()];
    Ok(Fleet {
        opted_out: ssm::instances_with_tag_key(&clients.ssm, &settings.opt_out_tag).await?,
        facts: livepatching::fleet_kernel_facts(&clients.ssm).await?,
        history: livepatching::live_patching_history(&clients.ssm, &documents, now - HISTORY)
            .await?,
        patch_runs: livepatching::active_patch_runs(&clients.ssm).await?,
        disabled: livepatching::disabled_records(&clients.ssm, &settings.disabled_path).await?,
        pending: Vec::new(),
    })
}

/// The product's disable windows still to run at `now`, except `own` (this request's window).
async fn pending_disable_windows(
    clients: &Clients,
    now: Timestamp,
    own: &str,
) -> Result<Vec<livepatching::OwnDisableWindow>, AwsError> {
    Ok(livepatching::own_disable_windows(&clients.ssm)
        .await?
        .into_iter()
        .filter(|w| w.name != own)
        .filter(|w| {
            w.start
                .is_some_and(|s| !window_over(s, w.duration_hours, now))
        })
        .collect())
}

/// Deletes the product's disable windows that are over and whose executions ended.
async fn remove_finished_windows(
    clients: &Clients,
    settings: &Settings,
    now: Timestamp,
    outcome: &mut EnableOutcome,
) {
    let windows = match livepatching::own_disable_windows(&clients.ssm).await {
        Ok(windows) => windows,
        Err(err) => {
            tracing::warn!(error = %err, "could not list disable windows; none removed");
            return;
        }
    };
    for window in windows {
        let Some(start) = window.start else { continue };
        if !window_over(start, window.duration_hours, now) {
            continue;
        }
        match livepatching::window_executions_finished(&clients.ssm, &window.window_id).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(err) => {
                tracing::warn!(window_id = %window.window_id, error = %err, "could not read window executions; kept");
                continue;
            }
        }
        let removed = if settings.dry_run {
            Ok(())
        } else {
            livepatching::delete_window(&clients.ssm, &window.window_id).await
        };
        match removed {
            Ok(()) => {
                tracing::info!(window_id = %window.window_id, name = %window.name, dry_run = settings.dry_run, "finished disable window removed");
                outcome
                    .removed_windows
                    .push(format!("{} ({})", window.window_id, window.name));
            }
            Err(err) => {
                tracing::warn!(window_id = %window.window_id, error = %err, "finished disable window not removed")
            }
        }
    }
}

impl Fleet {
    fn facts_of(&self, instance: &ManagedInstance, in_scope: bool) -> EnableFacts {
        EnableFacts {
            instance: Some(instance.clone()),
            in_scope,
            opted_out: self.opted_out.contains(&instance.id),
            facts: self
                .facts
                .get(&instance.id)
                .map(LivePatchingFacts::from_inventory),
            history: self.history.get(&instance.id).cloned().unwrap_or_default(),
            patch_run: self.patch_runs.get(&instance.id).cloned(),
            disabled_record: self.disabled.get(&instance.id).cloned(),
            pending_disable: self
                .pending
                .iter()
                .find(|w| w.instance_ids.contains(&instance.id))
                .and_then(|w| {
                    Some(PendingDisable {
                        window_id: w.window_id.clone(),
                        window_name: w.name.clone(),
                        start: w.start?,
                    })
                }),
        }
    }
}

/// Instances to switch: id → (route, reboot reason or repair note).
type Plan = BTreeMap<InstanceId, (Route, bool, String)>;

async fn scheduled_run(
    clients: &Clients,
    settings: &Settings,
    now: Timestamp,
    outcome: &mut EnableOutcome,
) -> Result<(), EnableError> {
    let gather = EnableError::Gather;
    let (in_scope, invalid) = ssm::managed_instances(&clients.ssm, &settings.target_tags)
        .await
        .map_err(gather)?;
    for id in invalid {
        tracing::warn!(instance_id = %id, "Systems Manager listed an id that is not an instance id; ignored");
    }
    let fleet = read_fleet(clients, settings, now).await.map_err(gather)?;
    let mut instances = in_scope;
    instances.sort_by(|a, b| a.id.cmp(&b.id));
    instances.dedup_by(|a, b| a.id == b.id);
    let mut plan = Plan::new();
    for instance in &instances {
        let decision = decide_enable(
            &fleet.facts_of(instance, true),
            &settings.enable,
            Request::Scheduled,
            now,
        );
        record_enable(&instance.id, decision, &mut plan, outcome);
    }
    name_reboot_bookings(clients, now, outcome).await;
    send(clients, settings, Action::Enable, &plan, now, outcome).await;
    remove_finished_windows(clients, settings, now, outcome).await;
    Ok(())
}

/// Tells, for each instance left to a reboot window, the reboot `plan-reboots` booked for it
/// (or that it books one on its next run). Only a note: a failed read is logged, not an error.
async fn name_reboot_bookings(clients: &Clients, now: Timestamp, outcome: &mut EnableOutcome) {
    if outcome.deferred.is_empty() {
        return;
    }
    let booked = match windows::booked_reboots(&clients.ssm).await {
        Ok(booked) => booked,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the reboot bookings");
            return;
        }
    };
    for finding in &mut outcome.deferred {
        let window = booked.iter().find(|w| {
            w.booking.start > now
                && (w.booking.instances.iter()).any(|i| i.instance.as_str() == finding.instance_id)
        });
        finding.reason.push_str(&match window {
            Some(w) => format!(
                "; reboot booked {} (window {})",
                local_time(w.booking.start, &w.time_zone),
                w.name
            ),
            None => "; plan-reboots books its reboot on its next run".to_owned(),
        });
    }
}

async fn manual_run(
    clients: &Clients,
    settings: &Settings,
    request: &ManualRequest,
    now: Timestamp,
    outcome: &mut EnableOutcome,
) -> Result<(), EnableError> {
    let gather = EnableError::Gather;
    let disable = matches!(request.action, ManualAction::Disable { .. });
    outcome.trigger = if disable {
        "manual-disable"
    } else {
        "manual-enable"
    }
    .into();
    let registered: BTreeMap<InstanceId, ManagedInstance> =
        ssm::managed_instances_by_id(&clients.ssm, &request.instance_ids)
            .await
            .map_err(gather)?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
    let scope: Option<BTreeSet<InstanceId>> = if settings.target_tags.is_empty() {
        None
    } else {
        let (in_scope, _) = ssm::managed_instances(&clients.ssm, &settings.target_tags)
            .await
            .map_err(gather)?;
        Some(in_scope.into_iter().map(|i| i.id).collect())
    };
    let mut fleet = read_fleet(clients, settings, now).await.map_err(gather)?;
    if disable {
        let own = disable_window(&request.instance_ids, now, &settings.enable, &outcome.run).name;
        fleet.pending = pending_disable_windows(clients, now, &own)
            .await
            .map_err(gather)?;
    }
    let out_of_scope: Vec<String> = request
        .instance_ids
        .iter()
        .filter_map(|id| {
            let why = if !registered.contains_key(id) {
                "not registered with Systems Manager (unknown, stopped, or unmanaged)".to_owned()
            } else if scope.as_ref().is_some_and(|s| !s.contains(id)) {
                "outside the target tags (TARGET_TAGS)".to_owned()
            } else if !disable && fleet.opted_out.contains(id) {
                format!(
                    "carries the opt-out tag {}; remove it to enable",
                    settings.opt_out_tag
                )
            } else {
                return None;
            };
            Some(format!("{id}: {why}"))
        })
        .collect();
    if !out_of_scope.is_empty() {
        refuse(outcome, Refusal::OutOfScope(out_of_scope));
        return Ok(());
    }
    let mut plan = Plan::new();
    let mut in_window: Vec<InstanceId> = Vec::new();
    let mut keep_off: Vec<InstanceId> = Vec::new();
    for id in &request.instance_ids {
        let facts = fleet.facts_of(&registered[id], true);
        match request.action {
            ManualAction::Enable => {
                let decision = decide_enable(&facts, &settings.enable, Request::Manual, now);
                record_enable(id, decision, &mut plan, outcome);
            }
            ManualAction::Disable { now: at_once, .. } => match decide_disable(&facts, at_once) {
                DisableDecision::Disable { route, reboots } => {
                    let note = if reboots {
                        "the instance reboots now (AWS-ConfigureKernelLivePatching Disable removes the plugin and the live patches)"
                    } else {
                        "kpatch.service disabled, the plugin removed; no reboot (loaded live patches stay in effect until the next reboot)"
                    };
                    plan.insert(id.clone(), (route, reboots, note.to_owned()));
                }
                DisableDecision::InWindow { .. } => in_window.push(id.clone()),
                DisableDecision::Unsupported(reason) => {
                    outcome.unsupported.push(finding(id, reason))
                }
                DisableDecision::Skip(skip) => {
                    // Off already, or on its way off: the person's wish is remembered all the
                    // same, or the daily run would turn it (back) on.
                    if matches!(
                        skip,
                        EnableSkip::AlreadyOff
                            | EnableSkip::AlreadyBooked(_)
                            | EnableSkip::AwaitingFacts {
                                action: Action::Disable,
                                ..
                            }
                    ) {
                        keep_off.push(id.clone());
                    }
                    outcome.skipped.push(finding(id, skip.to_string()))
                }
            },
        }
    }
    if let ManualAction::Disable { window_start, .. } = request.action {
        send(clients, settings, Action::Disable, &plan, now, outcome).await;
        if !in_window.is_empty() {
            let start = window_start
                .unwrap_or_else(|| next_window_start(now, settings.disable_window_hour));
            book(clients, settings, &in_window, start, outcome).await;
        }
        // Every instance sent the disable (now, or by an earlier delivery of this event), booked
        // for it, or found off already; not those whose command or window failed.
        let failed: BTreeSet<&str> = (outcome.failed.iter())
            .flat_map(|f| f.instance_ids.iter().map(String::as_str))
            .collect();
        let booked = outcome.booked.iter().flat_map(|b| &b.instance_ids);
        let disabled: Vec<InstanceId> = (plan.keys().cloned())
            .chain(booked.filter_map(|id| id.parse().ok()))
            .filter(|id| !failed.contains(id.as_str()))
            .chain(keep_off)
            .collect();
        remember(clients, settings, &disabled, Some(now), outcome).await;
    } else {
        name_reboot_bookings(clients, now, outcome).await;
        send(clients, settings, Action::Enable, &plan, now, outcome).await;
        // A person asked for live patching on: the daily run may keep it on from now on.
        let asked: Vec<InstanceId> = fleet
            .disabled
            .keys()
            .filter(|id| request.instance_ids.contains(id))
            .cloned()
            .collect();
        remember(clients, settings, &asked, None, outcome).await;
    }
    Ok(())
}

/// Records (`Some(requested)`) or forgets (`None`) that live patching was disabled on request on
/// `ids`, beyond the 30 days Run Command keeps the disable. Nothing in dry run. A failure is
/// reported, not fatal: what was sent stays sent.
async fn remember(
    clients: &Clients,
    settings: &Settings,
    ids: &[InstanceId],
    requested: Option<Timestamp>,
    outcome: &mut EnableOutcome,
) {
    if settings.dry_run {
        return;
    }
    for id in ids {
        let result = match requested {
            Some(requested) => {
                let record = DisabledRecord {
                    request: outcome.run.clone(),
                    requested,
                };
                livepatching::record_disabled(&clients.ssm, &settings.disabled_path, id, &record)
                    .await
            }
            None => livepatching::forget_disabled(&clients.ssm, &settings.disabled_path, id).await,
        };
        if let Err(err) = result {
            tracing::error!(instance_id = %id, error = %err, "disable record not updated");
            let why = if requested.is_some() {
                "disabled, but not recorded: after Run Command's 30 days of history the daily run may turn it back on; tag it with the opt-out tag or send the disable again"
            } else {
                "enabled, but its disable record stays: the daily run will not turn it back on by itself; send the enable again"
            };
            outcome
                .unrecorded
                .push(finding(id, format!("{why} ({err})")));
        }
    }
}

fn finding(id: &InstanceId, reason: impl Into<String>) -> Finding {
    Finding {
        instance_id: id.to_string(),
        reason: reason.into(),
        command_id: None,
    }
}

fn record_enable(
    id: &InstanceId,
    decision: EnableDecision,
    plan: &mut Plan,
    outcome: &mut EnableOutcome,
) {
    tracing::info!(instance_id = %id, decision = ?decision, "decided");
    match decision {
        EnableDecision::Enable {
            route,
            reboot,
            repair,
        } => {
            let note = match (&reboot, repair) {
                (Some(reason), _) => format!("{reason} (reboots are allowed: ENABLE_ALLOW_REBOOT)"),
                (None, true) => {
                    "live patches were not in effect: enabling again enables kpatch.service".into()
                }
                (None, false) => "no reboot".into(),
            };
            plan.insert(id.clone(), (route, reboot.is_some(), note));
        }
        // The message's heading says what this is; the finding says why.
        EnableDecision::DeferredToRebootWindow(reason) => {
            outcome.deferred.push(finding(id, reason.to_string()))
        }
        EnableDecision::Unsupported(reason) => outcome.unsupported.push(finding(id, reason)),
        EnableDecision::NotInEffect(n) => outcome.not_in_effect.push(finding(id, n.to_string())),
        EnableDecision::NotVerified {
            command_id,
            requested,
            collected_at,
        } => outcome.not_verified.push(Finding {
            instance_id: id.to_string(),
            reason: format!(
                "enable command {command_id} succeeded at {requested}, but kernel facts collected at {collected_at} still show live patching off"
            ),
            command_id: Some(command_id),
        }),
        EnableDecision::Stuck {
            failures,
            last_command_id,
        } => outcome.stuck.push(Finding {
            instance_id: id.to_string(),
            reason: format!(
                "enabling failed {failures} times in a row (last command {last_command_id}); the schedule stops retrying for a week"
            ),
            command_id: Some(last_command_id),
        }),
        EnableDecision::Skip(skip) => outcome.skipped.push(finding(id, skip.to_string())),
    }
}

/// How far before the event's time a command of this run may have been recorded (clock skew).
const SKEW: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// Sends the plan's commands (nothing in dry run), except to instances a command of this same run
/// already reached (a redelivered event).
async fn send(
    clients: &Clients,
    settings: &Settings,
    action: Action,
    plan: &Plan,
    now: Timestamp,
    outcome: &mut EnableOutcome,
) {
    if plan.is_empty() {
        return;
    }
    let targets: Vec<(InstanceId, Route)> = plan
        .iter()
        .map(|(id, (route, ..))| (id.clone(), *route))
        .collect();
    let commands = live_patching_commands(&targets, action, &settings.enable, &outcome.run);
    let mut reached: BTreeSet<(String, String)> = BTreeSet::new();
    if !settings.dry_run {
        match ssm::commands_since(&clients.ssm, None, now - SKEW).await {
            Ok(earlier) => {
                for command in earlier
                    .iter()
                    .filter(|c| commands.iter().any(|ours| ours.comment == c.comment))
                {
                    outcome.already_sent.push(command.command_id.clone());
                    for id in &command.instance_ids {
                        reached.insert((command.document.clone(), id.clone()));
                    }
                }
            }
            // Sending twice is safe (both documents are idempotent; a running one blocks the
            // package manager's lock), so an unreadable history does not stop the run.
            Err(err) => tracing::warn!(error = %err, "could not check for commands of this run"),
        }
    }
    for command in commands {
        let remaining: Vec<InstanceId> = command
            .instance_ids
            .iter()
            .filter(|id| !reached.contains(&(command.document.clone(), id.to_string())))
            .cloned()
            .collect();
        if remaining.is_empty() {
            continue;
        }
        let command = RunCommand {
            instance_ids: remaining,
            ..command
        };
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
                Ok(command_id) => {
                    tracing::info!(command_id = %command_id, document = %command.document, instances = ?part.instance_ids, action = action.as_str(), "sent");
                    for id in &part.instance_ids {
                        let (_, reboots, note) = &plan[id];
                        outcome.switching.push(Switching {
                            instance_id: id.to_string(),
                            action: action.as_str().to_ascii_lowercase(),
                            document: command.document.clone(),
                            command_id: (!command_id.is_empty()).then(|| command_id.clone()),
                            reboots: *reboots,
                            note: note.clone(),
                        });
                    }
                }
                Err(err) => {
                    tracing::error!(document = %command.document, instances = ?part.instance_ids, error = %err, "not sent");
                    outcome.failed.push(Failed {
                        instance_ids: part.instance_ids.iter().map(ToString::to_string).collect(),
                        error: err.to_string(),
                    });
                }
            }
        }
    }
}

/// Books the AL2 disables into one maintenance window (nothing in dry run).
async fn book(
    clients: &Clients,
    settings: &Settings,
    ids: &[InstanceId],
    start: Timestamp,
    outcome: &mut EnableOutcome,
) {
    let window = disable_window(ids, start, &settings.enable, &outcome.run);
    let mut booked = Booked {
        instance_ids: ids.iter().map(ToString::to_string).collect(),
        window_id: None,
        window_name: window.name.clone(),
        starts: start.to_string(),
    };
    if settings.dry_run {
        outcome.booked.push(booked);
        return;
    }
    match livepatching::book_disable_window(&clients.ssm, &window).await {
        Ok(found) => {
            tracing::info!(window_id = %found.window_id, created = found.created, instances = ?booked.instance_ids, "disable booked");
            booked.window_id = Some(found.window_id);
            outcome.booked.push(booked);
        }
        Err(err) => {
            tracing::error!(error = %err, instances = ?booked.instance_ids, "disable window not booked");
            outcome.failed.push(Failed {
                instance_ids: booked.instance_ids,
                error: err.to_string(),
            });
        }
    }
}

/// Publishes the summary when there is something to say, and emits the metrics.
async fn finish(
    clients: &Clients,
    settings: &Settings,
    outcome: &mut EnableOutcome,
    now: Timestamp,
) {
    let mut notifications_failed = 0;
    if let Some(notification) = report::summary(outcome, &settings.opt_out_tag, now) {
        match aws::sns::publish(&clients.sns, &settings.topic_arn, &notification).await {
            Ok(id) => outcome.notification_id = Some(id),
            // The commands went out; a retry would find them sent and say nothing new.
            Err(err) => {
                tracing::error!(error = %err, "summary not published");
                notifications_failed = 1;
            }
        }
    }
    let count = |action: &str| {
        outcome
            .switching
            .iter()
            .filter(|s| s.action == action)
            .count() as u64
    };
    livepatch_shared::telemetry::emit_metrics(
        "enable",
        now,
        &[
            ("InstancesEnabled", count("enable")),
            ("InstancesDisabled", count("disable")),
            ("InstancesDeferred", outcome.deferred.len() as u64),
            ("InstancesNotInEffect", outcome.not_in_effect.len() as u64),
            (
                "InstancesFailed",
                (outcome.failed.len() + outcome.stuck.len() + outcome.not_verified.len()) as u64,
            ),
            ("RequestsRefused", u64::from(outcome.refused.is_some())),
            ("NotificationsFailed", notifications_failed),
        ],
    );
}
