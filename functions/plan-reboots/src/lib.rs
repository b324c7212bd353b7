//! The `plan-reboots` function: daily, book a reboot into a newer kernel for every live patched
//! instance whose kernel's live patch support ends soon, as SSM maintenance windows the product
//! owns, and tell people at once and again the day before.
//!
//! Gather (instances, tags, kernel facts, the product's windows) → decide ([`plan_reboots`]) →
//! act (create, extend, shrink and delete windows; skipped in dry run) → report (SNS).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use livepatch_shared::aws::windows::{self, BookedWindow, RebootTask};
use livepatch_shared::aws::{self, results, ssm, tags, AwsError};
use livepatch_shared::config::{ConfigError, Env};
use livepatch_shared::domain::reboot::{
    local_time, plan_reboots, withdraw_unseen, Booking, RebootCandidate, RebootDecision,
    RebootPlan, RebootPolicy, RebootPolicyError, RebootWindow, Slot, SupportFact, Urgency,
    Withdrawal,
};
use livepatch_shared::domain::InstanceId;
use livepatch_shared::events;
use livepatch_shared::function::FromSdkConfig;
use livepatch_shared::notify::{count, Level, Notification, Section};
use serde::Serialize;
use serde_json::Value;

/// The clients `plan-reboots` uses: SSM and SNS like every function, and the Resource Groups
/// Tagging API for EC2 instances' tag values (SSM reads tags of hybrid `mi-` instances only).
#[derive(Debug, Clone)]
pub struct Clients {
    pub ssm: aws_sdk_ssm::Client,
    pub sns: aws_sdk_sns::Client,
    pub tagging: tags::Client,
}

impl Clients {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            ssm: aws_sdk_ssm::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            tagging: tags::Client::new(sdk),
        }
    }
}

impl FromSdkConfig for Clients {
    fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(sdk)
    }
}

/// Why an invocation failed as a whole (`RefusedEvent`, `FleetUnreadable`).
pub type PlanError = livepatch_shared::function::InvocationError;

/// Everything the function reads from its environment, validated before the first event.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub topic_arn: String,
    pub target_tags: BTreeMap<String, Vec<String>>,
    pub opt_out_tag: String,
    pub dry_run: bool,
    /// Instance tag naming another reboot window than `REBOOT_WINDOW`.
    pub window_tag: String,
    /// Instance tag whose value is the group the fraction cap applies to.
    pub group_tag: String,
    pub policy: RebootPolicy,
    pub task: RebootTask,
    /// `ENABLE_ALLOW_REBOOT`: `enable` turns live patching on at once where that reboots, so
    /// those instances need no booked reboot first.
    pub enable_allow_reboot: bool,
    /// Parameter holding the day and fingerprint of the last warning about instances that cannot
    /// be planned: an unchanged list is told once a day, not every hour.
    pub warning_parameter: String,
}

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let window: RebootWindow = env
            .string_or("REBOOT_WINDOW", "SUN 03:00-05:00 UTC")
            .parse()
            .map_err(
                |e: livepatch_shared::domain::RebootWindowError| ConfigError {
                    var: "REBOOT_WINDOW",
                    problem: e.to_string(),
                },
            )?;
        let max_per_slot = env.int_in_or(
            "REBOOT_MAX_PER_SLOT",
            1..=windows::MAX_INSTANCES_PER_BOOKING as i64,
            10,
        )?;
        let fraction = env.float_in_or("REBOOT_MAX_GROUP_FRACTION", 0.0, 1.0, 0.5)?;
        let policy = RebootPolicy {
            lead_days: env.int_in_or("REBOOT_LEAD_DAYS", 1..=365, 21)? as u32,
            margin_days: env.int_in_or("REBOOT_MARGIN_DAYS", 0..=364, 3)? as u32,
            notice_days: env.int_in_or("REBOOT_NOTICE_DAYS", 0..=60, 7)? as u32,
            default_window: window,
            max_per_slot: max_per_slot as u32,
            max_group_fraction: fraction,
        };
        policy.validate().map_err(|e| ConfigError {
            var: match e {
                RebootPolicyError::MaxPerSlot(_) => "REBOOT_MAX_PER_SLOT",
                RebootPolicyError::GroupFraction(_) => "REBOOT_MAX_GROUP_FRACTION",
                RebootPolicyError::MarginNotBelowLead { .. } => "REBOOT_MARGIN_DAYS",
            },
            problem: e.to_string(),
        })?;
        Ok(Self {
            topic_arn: env.topic_arn("NOTIFY_TOPIC_ARN")?,
            target_tags: env.tag_filters("TARGET_TAGS")?,
            opt_out_tag: env.string_or("OPT_OUT_TAG", "livepatch-autopilot:opt-out"),
            dry_run: env.bool_or("DRY_RUN", false)?,
            window_tag: env.string_or("REBOOT_WINDOW_TAG", "livepatch-autopilot:reboot-window"),
            group_tag: env.string_or("REBOOT_GROUP_TAG", "aws:autoscaling:groupName"),
            policy,
            enable_allow_reboot: env.bool_or("ENABLE_ALLOW_REBOOT", false)?,
            warning_parameter: env.parameter_path_or(
                "WARNING_STATE_PARAMETER",
                "/livepatch-autopilot/plan-reboots/last-warning",
            )?,
            task: RebootTask {
                max_concurrency: env.rate_or("REBOOT_MAX_CONCURRENCY", "20%", false)?,
                max_errors: env.rate_or("REBOOT_MAX_ERRORS", "1", true)?,
                timeout_seconds: env.int_in_or("COMMAND_TIMEOUT_SECONDS", 30..=2_592_000, 3600)?
                    as i32,
                service_role_arn: env.role_arn_optional("WINDOW_TASK_ROLE_ARN")?,
            },
        })
    }
}

/// The invocation's result: what was booked, changed, skipped and failed.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PlanOutcome {
    pub event_id: String,
    pub dry_run: bool,
    pub now: String,
    /// Live patched instances the planner judged.
    pub candidates: usize,
    /// New bookings (in a new window or added to one), each announced in this run's message.
    pub booked: Vec<BookedReboot>,
    pub already_booked: Vec<ExistingBooking>,
    pub created: Vec<WindowChange>,
    pub extended: Vec<WindowChange>,
    pub withdrawn: Vec<Withdrawn>,
    pub removed: Vec<WindowChange>,
    /// Windows found half-created by an earlier run and completed.
    pub repaired: Vec<WindowChange>,
    /// Windows whose day-before reminder this run published.
    pub reminded: Vec<WindowChange>,
    pub out_of_support: Vec<String>,
    pub opted_out: Vec<String>,
    pub unplannable: Vec<InstanceReason>,
    /// The instances that cannot be planned make a message of their own in this run: the list is
    /// new or changed, or was last told on an earlier day.
    pub warn_unplannable: bool,
    /// Instances in scope without kernel facts yet (not Amazon Linux, or never scanned).
    pub without_facts: Vec<String>,
    pub failed: Vec<FailedAction>,
    pub notification_ids: Vec<String>,
    pub notification_errors: Vec<String>,
    /// Nothing was published: nothing changed, no reminder was due, nothing needs attention.
    pub quiet: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BookedReboot {
    pub instance_id: String,
    pub name: String,
    pub kernel: String,
    pub support_end: Option<String>,
    pub key: String,
    pub window_name: String,
    pub window_id: Option<String>,
    pub start: Timestamp,
    pub end: Timestamp,
    /// `Sunday 2027-01-10 03:00 Europe/Berlin`.
    pub start_local: String,
    pub fallback_local: Option<String>,
    pub urgency: Urgency,
    /// The window that ran while the instance kept its kernel.
    pub previous: Option<String>,
    /// Booked so that live patching can be enabled without a reboot afterwards: why.
    pub to_enable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistingBooking {
    pub instance_id: String,
    pub key: String,
    pub start: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowChange {
    pub key: String,
    pub window_id: Option<String>,
    pub instance_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Withdrawn {
    pub key: String,
    pub instance_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceReason {
    pub instance_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedAction {
    /// `create`, `extend`, `withdraw`, `remove`, `repair`, `remind`.
    pub action: String,
    pub key: String,
    pub instance_ids: Vec<String>,
    pub error: String,
}

/// Handles one scheduled event.
pub async fn handle(
    clients: &Clients,
    settings: &Settings,
    raw: &Value,
) -> Result<PlanOutcome, PlanError> {
    let event = events::parse_scheduled(raw)?;
    let now = event.time;
    let mut outcome = PlanOutcome {
        event_id: event.id.clone(),
        dry_run: settings.dry_run,
        now: now.to_string(),
        ..PlanOutcome::default()
    };

    let fleet = gather(clients, settings, &mut outcome)
        .await
        .map_err(PlanError::Gather)?;
    let mut booked_windows = fleet.windows;
    if !settings.dry_run && booked_windows.iter().any(|w| !w.is_complete()) {
        repair(clients, settings, now, &booked_windows, &mut outcome).await;
        // Withdrawals and extensions below act on the targets: read what the repair made.
        booked_windows = windows::booked_reboots(&clients.ssm)
            .await
            .map_err(PlanError::Gather)?;
    }
    let bookings: Vec<Booking> = booked_windows.iter().map(|w| w.booking.clone()).collect();
    let mut plan = plan_reboots(&fleet.candidates, &bookings, &settings.policy, now);
    // Instances no longer in scope or without facts leave windows that have not started.
    plan.add_withdrawals(
        withdraw_unseen(&fleet.candidates, &bookings, now),
        &bookings,
        now,
    );
    outcome.candidates = fleet.candidates.len();
    record_decisions(&plan, &fleet.candidates, &mut outcome);
    announce_repaired(
        &booked_windows,
        &fleet.candidates,
        &settings.policy,
        now,
        &mut outcome,
    );

    if !settings.dry_run {
        act(
            clients,
            settings,
            now,
            &plan,
            &mut booked_windows,
            &mut outcome,
        )
        .await;
    }

    // The day-before reminder: windows starting within 24 hours whose reminder has not gone out.
    let due: Vec<&BookedWindow> = booked_windows
        .iter()
        .filter(|w| plan.reminders.contains(&w.booking.key) && !w.reminded)
        .collect();

    let warning = warning_state(&outcome.unplannable, now);
    let told = match aws::params::get(&clients.ssm, &settings.warning_parameter).await {
        Ok(told) => told,
        Err(err) => {
            // Unknown: better told twice than not at all.
            tracing::warn!(error = %err, "last warning not readable");
            None
        }
    };
    outcome.warn_unplannable = warning.is_some() && told != warning;
    let mut published_any = false;
    if let Some(message) = announcement(&outcome, now) {
        published_any = true;
        let sent = publish(clients, settings, &message, &mut outcome).await;
        if sent && !settings.dry_run && !outcome.unplannable.is_empty() {
            remember_warning(clients, settings, warning.as_deref()).await;
        }
    }
    if warning.is_none() && told.is_some() && !settings.dry_run {
        remember_warning(clients, settings, None).await;
    }
    if !due.is_empty() {
        published_any = true;
        let message = reminder(&due, &fleet.names, &outcome, now);
        if publish(clients, settings, &message, &mut outcome).await && !settings.dry_run {
            for window in &due {
                let change = change_of(window);
                match windows::mark_reminded(&clients.ssm, &window.window_id, now).await {
                    Ok(()) => outcome.reminded.push(change),
                    Err(err) => failed(&mut outcome, "remind", &change, &err),
                }
            }
        }
    }
    outcome.quiet = !published_any;
    emit(&outcome, now);
    Ok(outcome)
}

struct Fleet {
    candidates: Vec<RebootCandidate>,
    windows: Vec<BookedWindow>,
    names: BTreeMap<String, String>,
}

async fn gather(
    clients: &Clients,
    settings: &Settings,
    outcome: &mut PlanOutcome,
) -> Result<Fleet, AwsError> {
    let (in_scope, invalid) = ssm::managed_instances(&clients.ssm, &settings.target_tags).await?;
    for id in invalid {
        tracing::warn!(instance_id = %id, "Systems Manager listed an id that is not an instance id; ignored");
    }
    let opted_out = ssm::instances_with_tag_key(&clients.ssm, &settings.opt_out_tag).await?;
    // Tag values are read only for instances that carry the tag: DescribeInstanceInformation
    // tells which; the value comes from the Resource Groups Tagging API for EC2 instances (one
    // GetResources per key for the whole fleet), from ListTagsForResource for hybrid `mi-` ones.
    let with_window = ssm::instances_with_tag_key(&clients.ssm, &settings.window_tag).await?;
    let with_group = ssm::instances_with_tag_key(&clients.ssm, &settings.group_tag).await?;
    let carries_tags = |id: &InstanceId| with_window.contains(id) || with_group.contains(id);
    let ec2_tags = if in_scope
        .iter()
        .any(|i| !i.id.is_managed_instance() && carries_tags(&i.id))
    {
        let keys = [settings.window_tag.as_str(), settings.group_tag.as_str()];
        tags::instance_tag_values(&clients.tagging, &keys).await
    } else {
        Ok(BTreeMap::new())
    };
    let facts = results::all_kernel_facts(&clients.ssm).await?;
    let windows = windows::booked_reboots(&clients.ssm).await?;

    let mut candidates = Vec::new();
    let mut names = BTreeMap::new();
    for instance in &in_scope {
        let name = instance
            .computer_name
            .clone()
            .unwrap_or_else(|| instance.id.to_string());
        names.insert(instance.id.to_string(), name.clone());
        let Some(facts) = facts.get(&instance.id) else {
            outcome.without_facts.push(instance.id.to_string());
            continue;
        };
        let tags = if !carries_tags(&instance.id) {
            None
        } else if instance.id.is_managed_instance() {
            Some(
                ssm::instance_tags(&clients.ssm, &instance.id)
                    .await
                    .map_err(|e| e.to_string()),
            )
        } else {
            Some(match &ec2_tags {
                Ok(all) => Ok(all.get(&instance.id).cloned().unwrap_or_default()),
                Err(err) => Err(err.to_string()),
            })
        };
        let (window_override, group) = match &tags {
            None => (None, None),
            Some(Ok(tags)) => (
                tags.get(&settings.window_tag)
                    .map(|w| w.parse::<RebootWindow>().map_err(|e| e.to_string())),
                tags.get(&settings.group_tag).cloned(),
            ),
            // Without the tag's value the window or group cap is unknown: no booking, not a guess.
            Some(Err(err)) => (
                Some(Err(format!(
                    "cannot read its tags {} / {}: {err}",
                    settings.window_tag, settings.group_tag
                ))),
                None,
            ),
        };
        candidates.push(RebootCandidate {
            instance: instance.id.clone(),
            name,
            kernel: facts.kernel_release.clone(),
            support: SupportFact::of(&instance.platform, facts, settings.enable_allow_reboot),
            facts_at: facts.collected_at.parse().unwrap_or(Timestamp::UNIX_EPOCH),
            group,
            window_override,
            opted_out: opted_out.contains(&instance.id),
            live_patching: facts.live_patching_on(),
        });
    }
    Ok(Fleet {
        candidates,
        windows,
        names,
    })
}

async fn repair(
    clients: &Clients,
    settings: &Settings,
    now: Timestamp,
    booked: &[BookedWindow],
    outcome: &mut PlanOutcome,
) {
    for window in booked
        .iter()
        .filter(|w| !w.is_complete() && w.booking.start > now)
    {
        let change = change_of(window);
        tracing::warn!(window_id = %window.window_id, key = %window.booking.key, "reboot window was left incomplete; repairing");
        match windows::repair_booking(&clients.ssm, window, &settings.task).await {
            Ok(()) => outcome.repaired.push(change),
            Err(err) => failed(outcome, "repair", &change, &err),
        }
    }
}

fn change_of(window: &BookedWindow) -> WindowChange {
    WindowChange {
        key: window.booking.key.clone(),
        window_id: Some(window.window_id.clone()),
        instance_ids: window
            .booking
            .instances
            .iter()
            .map(|i| i.instance.to_string())
            .collect(),
    }
}

fn failed(outcome: &mut PlanOutcome, action: &str, change: &WindowChange, err: &AwsError) {
    tracing::error!(action, key = %change.key, instances = ?change.instance_ids, error = %err, "reboot booking change failed");
    outcome.failed.push(FailedAction {
        action: action.to_owned(),
        key: change.key.clone(),
        instance_ids: change.instance_ids.clone(),
        error: err.to_string(),
    });
}

fn slot_local(slot: &Slot) -> String {
    local_time(slot.start, slot.window.zone())
}

fn record_decisions(plan: &RebootPlan, candidates: &[RebootCandidate], outcome: &mut PlanOutcome) {
    let by_id: BTreeMap<&InstanceId, &RebootCandidate> =
        candidates.iter().map(|c| (&c.instance, c)).collect();
    for d in &plan.decisions {
        let id = d.instance.to_string();
        let candidate = by_id.get(&d.instance);
        match &d.decision {
            RebootDecision::Booked {
                slot,
                fallback,
                urgency,
                previous,
            } => {
                let support = candidate.map(|c| &c.support);
                let support_end = support
                    .and_then(SupportFact::window)
                    .map(|s| s.ends.to_string());
                let enable_reason = candidate.and_then(|c| to_enable(c));
                if *urgency == Urgency::PastCutoff {
                    outcome.out_of_support.push(id.clone());
                }
                let key = slot.key();
                outcome.booked.push(BookedReboot {
                    instance_id: id,
                    name: d.name.clone(),
                    kernel: candidate.map(|c| c.kernel.clone()).unwrap_or_default(),
                    support_end,
                    window_name: windows::window_name(&key),
                    key,
                    window_id: None,
                    start: slot.start,
                    end: slot.end,
                    start_local: slot_local(slot),
                    fallback_local: fallback.as_ref().map(slot_local),
                    urgency: *urgency,
                    previous: previous.clone(),
                    to_enable: enable_reason,
                });
            }
            RebootDecision::AlreadyBooked { key, start } => {
                outcome.already_booked.push(ExistingBooking {
                    instance_id: id,
                    key: key.clone(),
                    start: *start,
                })
            }
            RebootDecision::OptedOut => outcome.opted_out.push(id),
            RebootDecision::Unplannable { reason } => {
                tracing::warn!(instance_id = %id, reason, "no reboot booked");
                outcome.unplannable.push(InstanceReason {
                    instance_id: id,
                    reason: reason.clone(),
                })
            }
            RebootDecision::NotLivePatched
            | RebootDecision::NotDue { .. }
            | RebootDecision::AwaitingFacts { .. } => {}
        }
    }
}

/// A window completed by this run was never announced (its creation failed half-way): its
/// instances are announced now, as bookings.
fn announce_repaired(
    booked: &[BookedWindow],
    candidates: &[RebootCandidate],
    policy: &RebootPolicy,
    now: Timestamp,
    outcome: &mut PlanOutcome,
) {
    let notice = now + SignedDuration::from_hours(24 * i64::from(policy.notice_days));
    for change in outcome.repaired.clone() {
        let Some(window) = booked
            .iter()
            .find(|w| Some(&w.window_id) == change.window_id.as_ref())
        else {
            continue;
        };
        for i in &window.booking.instances {
            let id = i.instance.to_string();
            let candidate = candidates.iter().find(|c| c.instance == i.instance);
            let support = candidate.and_then(|c| c.support.window());
            let urgency = match support {
                Some(s) if s.ended_at() <= now => Urgency::PastCutoff,
                _ if window.booking.start >= notice => Urgency::InTime,
                _ => Urgency::ShortNotice,
            };
            outcome.already_booked.retain(|b| b.instance_id != id);
            outcome.booked.push(BookedReboot {
                instance_id: id.clone(),
                name: candidate.map(|c| c.name.clone()).unwrap_or(id),
                kernel: i.kernel.clone().unwrap_or_default(),
                support_end: support.map(|s| s.ends.to_string()),
                key: window.booking.key.clone(),
                window_name: window.name.clone(),
                window_id: Some(window.window_id.clone()),
                start: window.booking.start,
                end: window.booking.end,
                start_local: local_time(window.booking.start, &window.time_zone),
                fallback_local: None,
                urgency,
                previous: None,
                to_enable: candidate.and_then(to_enable),
            });
        }
    }
}

/// Why a reboot lets live patching be enabled, if that is what it is booked for.
fn to_enable(candidate: &RebootCandidate) -> Option<String> {
    match &candidate.support {
        SupportFact::RebootToEnable(why) => Some(why.clone()),
        SupportFact::Ends(_) | SupportFact::Unknown(_) => None,
    }
}

fn window_for_mut<'a>(
    booked: &'a mut [BookedWindow],
    key: &str,
    now: Timestamp,
) -> Option<&'a mut BookedWindow> {
    booked
        .iter_mut()
        .find(|w| w.booking.key == key && w.booking.over_at(now).is_none())
}

async fn act(
    clients: &Clients,
    settings: &Settings,
    now: Timestamp,
    plan: &RebootPlan,
    booked: &mut Vec<BookedWindow>,
    outcome: &mut PlanOutcome,
) {
    let ids_of = |n: &livepatch_shared::domain::NewBooking| -> Vec<String> {
        n.instances.iter().map(|i| i.instance.to_string()).collect()
    };
    // Change the windows kept, then delete: both free room in the quota of 50 windows before any
    // is created. Withdrawals from and additions to one window are one step, so an instance
    // withdrawn is never put back by an addition read from the same listing.
    let mut keys: Vec<&str> = plan.withdrawals_to_make().map(|w| w.key.as_str()).collect();
    keys.extend(plan.extend.iter().map(|e| e.key.as_str()));
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let withdrawals: Vec<&livepatch_shared::domain::Withdrawal> = plan
            .withdrawals_to_make()
            .filter(|w| w.key == key)
            .collect();
        let extra: Vec<&livepatch_shared::domain::NewBooking> =
            plan.extend.iter().filter(|e| e.key == key).collect();
        let mut removing: Vec<InstanceId> =
            withdrawals.iter().map(|w| w.instance.clone()).collect();
        let adding: Vec<livepatch_shared::domain::reboot::BookedInstance> = extra
            .iter()
            .flat_map(|e| e.instances.iter().cloned())
            .collect();
        let result = match window_for_mut(booked, key, now) {
            Some(window) => windows::retarget(&clients.ssm, window, &removing, &adding)
                .await
                .map(|()| window.window_id.clone()),
            // Nothing left to withdraw from.
            None if extra.is_empty() => continue,
            // The additions have nowhere to go; withdrawals from a window that is gone are moot.
            None => {
                removing.clear();
                Err(AwsError {
                    operation: "DescribeMaintenanceWindows",
                    code: None,
                    message: format!("window {key} is gone"),
                })
            }
        };
        let window_id = result.as_ref().ok().cloned();
        let change = |instance_ids: Vec<String>| WindowChange {
            key: key.to_owned(),
            window_id: window_id.clone(),
            instance_ids,
        };
        match result {
            Ok(_) => {
                outcome
                    .withdrawn
                    .extend(withdrawals.iter().map(|w| withdrawn(plan, w)));
                for e in &extra {
                    outcome.extended.push(change(ids_of(e)));
                }
            }
            Err(err) => {
                if !removing.is_empty() {
                    let ids = removing.iter().map(ToString::to_string).collect();
                    failed(outcome, "withdraw", &change(ids), &err);
                }
                for e in &extra {
                    failed(outcome, "extend", &change(ids_of(e)), &err);
                }
            }
        }
    }
    for key in &plan.remove {
        for window in booked.iter().filter(|w| &w.booking.key == key) {
            let change = change_of(window);
            match windows::remove_booking(&clients.ssm, &window.window_id).await {
                Ok(()) => {
                    // A window deleted before it started cancels the reboot of each instance
                    // withdrawn from it.
                    let gone = plan.withdraw.iter().filter(|w| &w.key == key);
                    outcome.withdrawn.extend(gone.map(|w| withdrawn(plan, w)));
                    outcome.removed.push(change)
                }
                Err(err) => failed(outcome, "remove", &change, &err),
            }
        }
    }
    booked.retain(|w| !plan.remove.contains(&w.booking.key));
    for new in &plan.create {
        let mut change = WindowChange {
            key: new.key.clone(),
            window_id: None,
            instance_ids: ids_of(new),
        };
        match windows::create_booking(&clients.ssm, new, &settings.task, now).await {
            Ok(window_id) => {
                tracing::info!(window_id, key = %new.key, instances = ?change.instance_ids, "reboot window booked");
                change.window_id = Some(window_id);
                outcome.created.push(change);
            }
            Err(err) => failed(outcome, "create", &change, &err),
        }
    }
    // A booking is announced only once its window holds it.
    let failed_instances: BTreeSet<(String, String)> = outcome
        .failed
        .iter()
        .filter(|f| f.action == "create" || f.action == "extend")
        .flat_map(|f| f.instance_ids.iter().map(|i| (f.key.clone(), i.clone())))
        .collect();
    let window_ids: BTreeMap<String, String> = outcome
        .created
        .iter()
        .chain(&outcome.extended)
        .filter_map(|c| Some((c.key.clone(), c.window_id.clone()?)))
        .collect();
    let (kept, lost): (Vec<_>, Vec<_>) = std::mem::take(&mut outcome.booked)
        .into_iter()
        .partition(|b| !failed_instances.contains(&(b.key.clone(), b.instance_id.clone())));
    outcome.booked = kept;
    for b in &mut outcome.booked {
        if let Some(id) = window_ids.get(&b.key) {
            b.window_id = Some(id.clone());
        }
    }
    for b in &lost {
        tracing::warn!(instance_id = %b.instance_id, key = %b.key, "booking not made; retried next run");
    }
}

/// A cancelled reboot, with the planner's reason.
fn withdrawn(plan: &RebootPlan, w: &Withdrawal) -> Withdrawn {
    let reason = plan
        .decisions
        .iter()
        .find(|d| d.instance == w.instance)
        .map(|d| d.decision.to_string())
        .unwrap_or_else(|| {
            "no longer seen: out of scope, without kernel facts, or no longer registered with Systems Manager".to_owned()
        });
    Withdrawn {
        key: w.key.clone(),
        instance_id: w.instance.to_string(),
        reason,
    }
}

/// What the last warning about unplannable instances is remembered by: the UTC day and a
/// fingerprint of the sorted instance/reason lines; `None` when every instance can be planned.
pub fn warning_state(unplannable: &[InstanceReason], now: Timestamp) -> Option<String> {
    if unplannable.is_empty() {
        return None;
    }
    let mut lines: Vec<String> = unplannable
        .iter()
        .map(|u| format!("{} {}", u.instance_id, u.reason))
        .collect();
    lines.sort();
    // FNV-1a, 64 bits: stable across builds and platforms (unlike std's hasher).
    let hash = lines
        .join("\n")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    Some(format!("{} {hash:016x}", now.strftime("%Y-%m-%d")))
}

/// Stores (or, with `None`, deletes) the last warning's state. A failure is logged: the next run
/// tells the same list once more.
async fn remember_warning(clients: &Clients, settings: &Settings, state: Option<&str>) {
    let written = match state {
        Some(state) => {
            aws::params::put(
                &clients.ssm,
                &settings.warning_parameter,
                state,
                "livepatch-autopilot plan-reboots: day and fingerprint of the last warning about instances it cannot book",
            )
            .await
        }
        None => aws::params::delete(&clients.ssm, &settings.warning_parameter).await,
    };
    if let Err(err) = written {
        tracing::warn!(error = %err, "last warning not remembered");
    }
}

async fn publish(
    clients: &Clients,
    settings: &Settings,
    message: &Notification,
    outcome: &mut PlanOutcome,
) -> bool {
    match aws::sns::publish(&clients.sns, &settings.topic_arn, message).await {
        Ok(id) => {
            outcome.notification_ids.push(id);
            true
        }
        Err(err) => {
            tracing::error!(error = %err, event_type = %message.event_type, "notification not published");
            outcome.notification_errors.push(err.to_string());
            false
        }
    }
}

fn emit(outcome: &PlanOutcome, now: Timestamp) {
    livepatch_shared::telemetry::emit_metrics(
        "plan-reboots",
        now,
        &[
            ("InstancesPlanned", outcome.candidates as u64),
            ("RebootsBooked", outcome.booked.len() as u64),
            ("RebootWindowsCreated", outcome.created.len() as u64),
            ("RebootWindowsRemoved", outcome.removed.len() as u64),
            ("InstancesOutOfSupport", outcome.out_of_support.len() as u64),
            ("InstancesUnplannable", outcome.unplannable.len() as u64),
            ("BookingChangesFailed", outcome.failed.len() as u64),
            (
                "NotificationsFailed",
                outcome.notification_errors.len() as u64,
            ),
        ],
    );
}

fn urgency_note(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::InTime => "",
        Urgency::ShortNotice => " (short notice: no later slot with room before the cutoff)",
        Urgency::NoSlotBeforeCutoff => " (LATE: no slot with room before support ends)",
        Urgency::PastCutoff => " (OUT OF SUPPORT: live patches have already stopped)",
    }
}

/// One line per booking: `i-…, kernel 5.10.x, support ends 2027-01-20, reboot booked Sunday
/// 2027-01-10 03:00 Europe/Berlin`.
pub fn booking_line(b: &BookedReboot) -> String {
    let name = if b.name != b.instance_id {
        format!(" ({})", b.name)
    } else {
        String::new()
    };
    let mut line = match &b.to_enable {
        Some(why) => format!(
            "{}{name}, kernel {}, live patching off: reboot booked {}{} so that it can be enabled (kernel {why})",
            b.instance_id,
            b.kernel,
            b.start_local,
            urgency_note(b.urgency)
        ),
        None => format!(
            "{}{name}, kernel {}, support ends {}, reboot booked {}{}",
            b.instance_id,
            b.kernel,
            b.support_end.as_deref().unwrap_or("unknown"),
            b.start_local,
            urgency_note(b.urgency)
        ),
    };
    if let Some(fallback) = &b.fallback_local {
        line.push_str(&format!("; fallback {fallback}"));
    }
    line
}

/// The run's message: new bookings, cancellations, failures and what needs attention; `None`
/// when there is nothing new to say.
pub fn announcement(outcome: &PlanOutcome, now: Timestamp) -> Option<Notification> {
    // Instances that cannot be planned are listed whenever a message goes out; alone they make
    // one when the list changed or was last told on an earlier day (runs are hourly).
    let attention = !outcome.failed.is_empty() || outcome.warn_unplannable;
    if outcome.booked.is_empty() && outcome.withdrawn.is_empty() && !attention {
        return None;
    }
    let dry = if outcome.dry_run {
        " (dry run: nothing booked)"
    } else {
        ""
    };
    let mut sections = Vec::new();
    let mut push = |heading: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            sections.push(Section {
                heading: heading.into(),
                lines,
            });
        }
    };
    push(
        "Reboots booked",
        outcome.booked.iter().map(booking_line).collect(),
    );
    push(
        "Still on the old kernel after their window, booked again",
        outcome
            .booked
            .iter()
            .filter_map(|b| {
                let previous = b.previous.as_ref()?;
                Some(format!(
                    "{}: window {previous} ran but it still runs kernel {}; booked again {}",
                    b.instance_id, b.kernel, b.start_local
                ))
            })
            .collect(),
    );
    push(
        "Out of live patch support",
        outcome
            .booked
            .iter()
            .filter(|b| b.urgency == Urgency::PastCutoff)
            .map(|b| {
                format!(
                    "{}: kernel {} stopped receiving live patches after {}; reboot at the earliest slot, {}",
                    b.instance_id,
                    b.kernel,
                    b.support_end.as_deref().unwrap_or("?"),
                    b.start_local
                )
            })
            .collect(),
    );
    push(
        "Reboots cancelled",
        outcome
            .withdrawn
            .iter()
            .map(|w| format!("{} from window {}: {}", w.instance_id, w.key, w.reason))
            .collect(),
    );
    push(
        "Not booked: support unknown or no slot (never guessed)",
        outcome
            .unplannable
            .iter()
            .map(|u| format!("{}: {}", u.instance_id, u.reason))
            .collect(),
    );
    push(
        "Booking changes that failed",
        outcome
            .failed
            .iter()
            .map(|f| {
                format!(
                    "{} {} ({}): {}",
                    f.action,
                    f.key,
                    f.instance_ids.join(", "),
                    f.error
                )
            })
            .collect(),
    );
    // An opted-out instance whose withdrawal failed is still in its window: it is listed with
    // the failures, never as safe.
    let still_booked: BTreeSet<&str> = outcome
        .failed
        .iter()
        .filter(|f| f.action == "withdraw")
        .flat_map(|f| f.instance_ids.iter().map(String::as_str))
        .collect();
    push(
        "Opted out (never rebooted by the product)",
        outcome
            .opted_out
            .iter()
            .filter(|id| !still_booked.contains(id.as_str()))
            .cloned()
            .collect(),
    );
    push(
        "Still booked: taking them out of their window failed (retried next run)",
        still_booked
            .iter()
            .map(|id| format!("{id} will reboot in its window unless the next run withdraws it"))
            .collect(),
    );

    let booked = outcome.booked.len();
    let title = if booked > 0 {
        format!(
            "Reboots booked for {}{dry}",
            count(booked, "instance", "instances")
        )
    } else if !outcome.withdrawn.is_empty() {
        format!(
            "Reboots cancelled for {}{dry}",
            count(outcome.withdrawn.len(), "instance", "instances")
        )
    } else {
        let instances: BTreeSet<&str> = (outcome.failed.iter())
            .flat_map(|f| f.instance_ids.iter().map(String::as_str))
            .chain(outcome.unplannable.iter().map(|u| u.instance_id.as_str()))
            .collect();
        format!(
            "Reboot bookings need attention for {}{dry}",
            count(instances.len(), "instance", "instances")
        )
    };
    let to_enable = outcome
        .booked
        .iter()
        .filter(|b| b.to_enable.is_some())
        .count();
    let late = outcome
        .booked
        .iter()
        .filter(|b| matches!(b.urgency, Urgency::NoSlotBeforeCutoff | Urgency::PastCutoff))
        .count();
    let will = if outcome.dry_run {
        "would be"
    } else {
        "will be"
    };
    let mut summary = Vec::new();
    if booked > to_enable + late {
        summary.push(format!(
            "{} {will} rebooted into a newer kernel (AWS-RunPatchBaseline Install, RebootIfNeeded) in a maintenance window before their live patch support ends.",
            count(booked - to_enable - late, "instance", "instances")
        ));
    }
    if late > 0 {
        summary.push(format!(
            "{} {will} rebooted in the earliest window with room, after (or past) the end of their live patch support.",
            count(late, "instance", "instances")
        ));
    }
    if to_enable > 0 {
        summary.push(format!(
            "{} {will} rebooted into a newer kernel in a maintenance window so that live patching can be enabled without another reboot; the daily enable run turns it on after the window.",
            count(to_enable, "instance", "instances")
        ));
    }
    if booked == 0 {
        summary.push("No new reboot was booked.".to_owned());
    }
    let counts = [
        (
            outcome.out_of_support.len(),
            "already out of live patch support",
        ),
        (outcome.unplannable.len(), "could not be planned"),
        (outcome.failed.len(), "booking change(s) failed"),
    ];
    for (n, what) in counts.into_iter().filter(|(n, _)| *n > 0) {
        summary.push(format!("{n} {what}."));
    }
    let summary = summary.join(" ");
    let mut next_steps = Vec::new();
    if booked > 0 {
        next_steps.push(
            "To keep an instance from being rebooted, tag it with the opt-out tag at least one plan-reboots run (hourly by default) before its window; a reminder goes out the day before."
                .to_owned(),
        );
    }
    if !outcome.unplannable.is_empty() {
        next_steps.push("Fix the kernel facts or the reboot window tag of the instances not booked, or reboot them by hand into a newer kernel.".into());
    }
    if !outcome.failed.is_empty() {
        next_steps.push(
            "Check the function's log; the next run retries and repairs half-created windows."
                .into(),
        );
    }
    let keys: BTreeSet<&str> = outcome.booked.iter().map(|b| b.key.as_str()).collect();
    let thread_id = match keys.iter().collect::<Vec<_>>()[..] {
        [key] => format!("reboot-{key}"),
        _ => format!("reboots-{}", now.strftime("%Y-%m-%d")),
    };
    let event_type = if booked > 0 {
        "reboots.booked"
    } else if !outcome.withdrawn.is_empty() {
        "reboots.cancelled"
    } else {
        "reboots.warning"
    };
    let level = if attention || !outcome.out_of_support.is_empty() {
        Level::Warning
    } else {
        Level::Info
    };
    let mut related: Vec<String> = outcome
        .booked
        .iter()
        .map(|b| b.instance_id.clone())
        .collect();
    related.extend(outcome.unplannable.iter().map(|u| u.instance_id.clone()));
    Some(Notification {
        id: format!("plan-reboots-{}", outcome.event_id),
        event_type: event_type.into(),
        level,
        title,
        summary,
        sections,
        next_steps,
        keywords: vec!["reboot".into(), "livepatch".into()],
        thread_id,
        related_resources: related,
    })
}

/// The day-before reminder for `due` windows.
pub fn reminder(
    due: &[&BookedWindow],
    names: &BTreeMap<String, String>,
    outcome: &PlanOutcome,
    now: Timestamp,
) -> Notification {
    let mut lines = Vec::new();
    let mut related = Vec::new();
    for window in due {
        let when = local_time(window.booking.start, &window.time_zone);
        for i in &window.booking.instances {
            let id = i.instance.to_string();
            let name = names
                .get(&id)
                .filter(|n| **n != id)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            lines.push(format!(
                "{id}{name}, kernel {}, reboot {when} (window {})",
                i.kernel.as_deref().unwrap_or("unknown"),
                window.name
            ));
            related.push(id);
        }
    }
    let instances = count(lines.len(), "instance", "instances");
    let windows = if due.len() == 1 { "window" } else { "windows" };
    let thread_id = match due {
        [one] => format!("reboot-{}", one.booking.key),
        _ => format!("reboots-{}", now.strftime("%Y-%m-%d")),
    };
    let dry = if outcome.dry_run { " (dry run)" } else { "" };
    Notification {
        id: format!("plan-reboots-reminder-{}", outcome.event_id),
        event_type: "reboots.reminder".into(),
        level: Level::Info,
        title: format!("Reminder: {instances} reboot within 24 hours{dry}"),
        summary: format!(
            "{instances} will be rebooted into a newer kernel in the maintenance {windows} below, within the next 24 hours."
        ),
        sections: vec![Section {
            heading: "Reboots within 24 hours".into(),
            lines,
        }],
        next_steps: vec!["To keep an instance from being rebooted, tag it with the opt-out tag and run plan-reboots again before the window starts.".into()],
        keywords: vec!["reboot".into(), "reminder".into()],
        thread_id,
        related_resources: related,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(id: &str, why: &str) -> InstanceReason {
        InstanceReason {
            instance_id: id.into(),
            reason: why.into(),
        }
    }

    #[test]
    fn a_warning_is_remembered_by_day_and_list_whatever_its_order() {
        let day = |s: &str| s.parse::<Timestamp>().unwrap();
        let a = reason("i-0123456789abcdef0", "support end unknown");
        let b = reason("i-0123456789abcdef1", "invalid window tag");
        assert_eq!(warning_state(&[], day("2026-12-03T06:00:00Z")), None);
        let one = warning_state(&[a.clone(), b.clone()], day("2026-12-03T06:00:00Z")).unwrap();
        assert!(one.starts_with("2026-12-03 "), "{one}");
        assert_eq!(
            Some(one.clone()),
            warning_state(&[b.clone(), a.clone()], day("2026-12-03T23:59:00Z")),
            "same day, same list in another order"
        );
        assert_ne!(
            Some(one.clone()),
            warning_state(&[a.clone(), b.clone()], day("2026-12-04T00:00:00Z")),
            "another day"
        );
        assert_ne!(
            Some(one.clone()),
            warning_state(std::slice::from_ref(&a), day("2026-12-03T06:00:00Z")),
            "another list"
        );
        let other_reason = reason("i-0123456789abcdef1", "no slot with room");
        assert_ne!(
            Some(one),
            warning_state(&[a, other_reason], day("2026-12-03T06:00:00Z")),
            "another reason"
        );
    }
}
