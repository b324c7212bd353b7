//! Systems Manager maintenance windows that book reboots (DOMAIN.md §6).
//!
//! A booking is one maintenance window of the product: named `livepatch-autopilot-reboot-<slot key>`,
//! tagged `livepatch-autopilot:booking=reboot`, scheduled once (`at(...)` in the slot's time zone),
//! with one window target listing its instance ids and one RUN_COMMAND task running
//! `AWS-RunPatchBaseline` `Install` + `RebootIfNeeded`. The window's tags carry what the planner
//! needs to read it back: the slot key and end, the kernel each instance ran when booked, and
//! whether the reminder went out. The tags are written with the window in one call, so a window
//! whose target or task registration failed still says what it was meant to hold, and
//! [`repair_booking`] completes it on the next run.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_ssm::types::{
    MaintenanceWindowExecutionStatus, MaintenanceWindowResourceType,
    MaintenanceWindowRunCommandParameters, MaintenanceWindowTaskInvocationParameters,
    MaintenanceWindowTaskType, ResourceTypeForTagging, Tag, Target,
};
use aws_sdk_ssm::Client;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use livepatch_domain::reboot::{BookedInstance, Booking, BookingState, NewBooking};
use livepatch_domain::InstanceId;

use super::{to_timestamp, AwsError};

/// Every window of the product starts with this name.
pub const WINDOW_NAME_PREFIX: &str = "livepatch-autopilot-reboot-";
/// Tag key (value [`BOOKING_TAG_VALUE`]) that marks a window as a reboot booking of the product.
pub const BOOKING_TAG: &str = "livepatch-autopilot:booking";
pub const BOOKING_TAG_VALUE: &str = "reboot";
/// Tag key holding the slot key.
pub const SLOT_TAG: &str = "livepatch-autopilot:slot";
/// Tag key holding the slot's end (RFC 3339): the window's `Duration` is rounded up to hours.
pub const SLOT_END_TAG: &str = "livepatch-autopilot:slot-end";
/// Tag key set once the day-before reminder was published.
pub const REMINDED_TAG: &str = "livepatch-autopilot:reminded";
/// Tag key prefix, followed by the instance id, holding the kernel the instance ran when booked.
pub const KERNEL_TAG_PREFIX: &str = "livepatch-autopilot:kernel:";
/// The window task's Run Command comment starts with this: how reports recognise window commands.
pub const COMMAND_COMMENT_PREFIX: &str = "livepatch-autopilot reboot";
/// The document the window task runs.
pub const REBOOT_DOCUMENT: &str = "AWS-RunPatchBaseline";
/// Tags one window may carry (an AWS limit): the fixed tags plus one kernel tag per instance.
pub const MAX_TAGS: usize = 50;
/// Instances one booking may hold, so its tags stay within [`MAX_TAGS`]; also ≤ 50 ids a target.
pub const MAX_INSTANCES_PER_BOOKING: usize = 40;
const NAME_MAX: usize = 128;
const COMMENT_MAX: usize = 100;

/// How the window task runs `AWS-RunPatchBaseline`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebootTask {
    pub max_concurrency: String,
    pub max_errors: String,
    pub timeout_seconds: i32,
    /// The role Systems Manager assumes to run the task (the stack's `WindowTaskRole`, which may
    /// send only `AWS-RunPatchBaseline`, to instances in scope); `None`: its service-linked role.
    pub service_role_arn: Option<String>,
}

/// One reboot window of the product as read back from SSM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedWindow {
    pub window_id: String,
    pub name: String,
    /// `at(2027-01-10T03:00:00)`.
    pub schedule: String,
    /// `ScheduleTimezone`; UTC when the window has none.
    pub time_zone: String,
    /// What the planner reads: key, start, end, instances (with their booked kernels) and
    /// whether the window ran (an execution that finished: `Executed` with its end).
    pub booking: Booking,
    /// Registered window targets and the instances each lists.
    pub targets: Vec<(String, Vec<String>)>,
    pub task_ids: Vec<String>,
    /// The instances its kernel tags name: what the booking was meant to hold.
    pub tagged: Vec<BookedInstance>,
    pub reminded: bool,
}

impl BookedWindow {
    /// Created whole: a target and the reboot task. A partial creation is repaired by
    /// [`repair_booking`] (or removed once its slot has passed).
    pub fn is_complete(&self) -> bool {
        !self.targets.is_empty() && !self.task_ids.is_empty()
    }
}

/// The window name of a slot: `livepatch-autopilot-reboot-<key>`, in the characters and length SSM takes.
pub fn window_name(key: &str) -> String {
    let name: String = format!("{WINDOW_NAME_PREFIX}{key}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.chars().take(NAME_MAX).collect()
}

/// The task's Run Command comment: `livepatch-autopilot reboot <key>` (at most 100 characters).
pub fn command_comment(key: &str) -> String {
    format!("{COMMAND_COMMENT_PREFIX} {key}")
        .chars()
        .take(COMMENT_MAX)
        .collect()
}

/// The `ClientToken` of a booking's `CreateMaintenanceWindow`: the same booking on the same day
/// gives the same token, so a retried call cannot make a second window, while another booking of
/// the same slot (other instances, another day) is a new request.
pub fn client_token(booking: &NewBooking, now: Timestamp) -> String {
    let day = now.strftime("%Y-%m-%d");
    let instances: Vec<String> = booking
        .instances
        .iter()
        .map(|i| format!("{}={}", i.instance, i.kernel.as_deref().unwrap_or("")))
        .collect();
    let seed = format!(
        "livepatch-autopilot reboot {} {day} {}",
        booking.key,
        instances.join(",")
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, seed.as_bytes()).to_string()
}

fn kernel_tag(instance: &InstanceId) -> String {
    format!("{KERNEL_TAG_PREFIX}{instance}")
}

fn tag(key: impl Into<String>, value: impl Into<String>) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("key and value are set")
}

fn invalid(operation: &'static str, message: String) -> AwsError {
    AwsError {
        operation,
        code: Some("ValidationException".into()),
        message,
    }
}

/// The product's reboot windows: named with [`WINDOW_NAME_PREFIX`] **and** tagged
/// [`BOOKING_TAG`]=[`BOOKING_TAG_VALUE`], each with its targets, tasks, tags and executions.
pub async fn booked_reboots(ssm: &Client) -> Result<Vec<BookedWindow>, AwsError> {
    let mut identities = Vec::new();
    let mut pages = ssm
        .describe_maintenance_windows()
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindows", e))?;
        identities.extend(
            page.window_identities()
                .iter()
                .filter(|w| w.name().is_some_and(|n| n.starts_with(WINDOW_NAME_PREFIX)))
                .cloned(),
        );
    }
    let mut windows = Vec::new();
    for identity in identities {
        let Some(window_id) = identity.window_id() else {
            continue;
        };
        let tags = window_tags(ssm, window_id).await?;
        if tags.get(BOOKING_TAG).map(String::as_str) != Some(BOOKING_TAG_VALUE) {
            continue; // someone else's window with a similar name
        }
        let name = identity.name().unwrap_or_default().to_owned();
        let schedule = identity.schedule().unwrap_or_default().to_owned();
        let time_zone = identity.schedule_timezone().unwrap_or("UTC").to_owned();
        let Some(start) = start_of(&schedule, &time_zone) else {
            tracing::warn!(
                window_id,
                schedule,
                time_zone,
                "reboot window with a schedule the product did not write; ignored"
            );
            continue;
        };
        let hours = i64::from(identity.duration().unwrap_or(1));
        let end = tags
            .get(SLOT_END_TAG)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or(start + SignedDuration::from_hours(hours));
        let key = tags
            .get(SLOT_TAG)
            .cloned()
            .unwrap_or_else(|| name.trim_start_matches(WINDOW_NAME_PREFIX).to_owned());
        let kernels: BTreeMap<String, String> = tags
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(KERNEL_TAG_PREFIX)?.to_owned(), v.clone())))
            .collect();
        let targets = window_targets(ssm, window_id).await?;
        let task_ids = window_tasks(ssm, window_id).await?;
        let tagged: Vec<BookedInstance> = kernels
            .iter()
            .filter_map(|(id, kernel)| {
                Some(BookedInstance {
                    instance: id.parse().ok()?,
                    kernel: Some(kernel.clone()),
                })
            })
            .collect();
        let instances = if targets.is_empty() {
            tagged.clone()
        } else {
            let ids: BTreeSet<&str> = targets
                .iter()
                .flat_map(|(_, ids)| ids.iter().map(String::as_str))
                .collect();
            ids.into_iter()
                .filter_map(|id| {
                    Some(BookedInstance {
                        instance: id.parse().ok()?,
                        kernel: kernels.get(id).cloned(),
                    })
                })
                .collect()
        };
        let state = match executed_at(ssm, window_id).await? {
            Some(ended_at) => BookingState::Executed { ended_at },
            None => BookingState::Booked,
        };
        windows.push(BookedWindow {
            window_id: window_id.to_owned(),
            name,
            schedule,
            time_zone,
            booking: Booking {
                key,
                start,
                end,
                instances,
                state,
            },
            targets,
            task_ids,
            tagged,
            reminded: tags.contains_key(REMINDED_TAG),
        });
    }
    windows.sort_by(|a, b| (&a.booking.key, &a.window_id).cmp(&(&b.booking.key, &b.window_id)));
    Ok(windows)
}

/// `at(2027-01-10T03:00:00)` in `zone` as an instant.
fn start_of(schedule: &str, zone: &str) -> Option<Timestamp> {
    let local = schedule.strip_prefix("at(")?.strip_suffix(')')?;
    let local: DateTime = local.parse().ok()?;
    let tz = TimeZone::get(zone).ok()?;
    tz.to_ambiguous_timestamp(local).compatible().ok()
}

async fn window_tags(ssm: &Client, window_id: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let output = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id(window_id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
    Ok(output
        .tag_list()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect())
}

async fn window_targets(
    ssm: &Client,
    window_id: &str,
) -> Result<Vec<(String, Vec<String>)>, AwsError> {
    let mut pages = ssm
        .describe_maintenance_window_targets()
        .window_id(window_id)
        .max_results(100)
        .into_paginator()
        .send();
    let mut targets = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindowTargets", e))?;
        for target in page.targets() {
            let ids = target
                .targets()
                .iter()
                .filter(|t| t.key() == Some("InstanceIds"))
                .flat_map(|t| t.values().iter().cloned())
                .collect();
            targets.push((
                target.window_target_id().unwrap_or_default().to_owned(),
                ids,
            ));
        }
    }
    Ok(targets)
}

async fn window_tasks(ssm: &Client, window_id: &str) -> Result<Vec<String>, AwsError> {
    let mut pages = ssm
        .describe_maintenance_window_tasks()
        .window_id(window_id)
        .max_results(100)
        .into_paginator()
        .send();
    let mut tasks = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindowTasks", e))?;
        tasks.extend(
            page.tasks()
                .iter()
                .filter_map(|t| t.window_task_id().map(str::to_owned)),
        );
    }
    Ok(tasks)
}

/// When the window's latest finished execution ended; `None` while none has finished.
async fn executed_at(ssm: &Client, window_id: &str) -> Result<Option<Timestamp>, AwsError> {
    let mut pages = ssm
        .describe_maintenance_window_executions()
        .window_id(window_id)
        .max_results(100)
        .into_paginator()
        .send();
    let mut ended = None;
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindowExecutions", e))?;
        for execution in page.window_executions() {
            let running = matches!(
                execution.status(),
                None | Some(
                    MaintenanceWindowExecutionStatus::Pending
                        | MaintenanceWindowExecutionStatus::InProgress
                        | MaintenanceWindowExecutionStatus::Cancelling
                )
            );
            let end = execution.end_time().and_then(to_timestamp);
            if let (false, Some(end)) = (running, end) {
                ended = ended.max(Some(end));
            }
        }
    }
    Ok(ended)
}

/// Creates the window of `booking` with its tags, its target and its reboot task; returns the
/// window id. Idempotent for the day (see [`client_token`]). When a later step fails the window
/// stays, tagged with its instances: [`booked_reboots`] reports it incomplete and
/// [`repair_booking`] completes it.
pub async fn create_booking(
    ssm: &Client,
    booking: &NewBooking,
    task: &RebootTask,
    now: Timestamp,
) -> Result<String, AwsError> {
    if booking.instances.is_empty() || booking.instances.len() > MAX_INSTANCES_PER_BOOKING {
        return Err(invalid(
            "CreateMaintenanceWindow",
            format!(
                "a booking holds 1 to {MAX_INSTANCES_PER_BOOKING} instances, not {}",
                booking.instances.len()
            ),
        ));
    }
    let slot = &booking.slot;
    let mut tags = vec![
        tag(BOOKING_TAG, BOOKING_TAG_VALUE),
        tag(SLOT_TAG, &booking.key),
        tag(SLOT_END_TAG, slot.end.to_string()),
    ];
    tags.extend(booking.instances.iter().map(|i| {
        tag(
            kernel_tag(&i.instance),
            i.kernel.clone().unwrap_or_default(),
        )
    }));
    debug_assert!(tags.len() < MAX_TAGS, "room for the reminder tag");
    let description = format!(
        "livepatch-autopilot: reboot {} instance(s) into a newer kernel before live patch support ends",
        booking.instances.len()
    );
    let window_id = ssm
        .create_maintenance_window()
        .name(window_name(&booking.key))
        .description(description.chars().take(128).collect::<String>())
        .schedule(slot.schedule())
        .schedule_timezone(slot.window.zone())
        .duration(i32::from(slot.duration_hours()))
        .cutoff(i32::from(slot.cutoff_hours()))
        .allow_unassociated_targets(false)
        .client_token(client_token(booking, now))
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateMaintenanceWindow", e))?
        .window_id()
        .map(str::to_owned)
        .ok_or_else(|| AwsError {
            operation: "CreateMaintenanceWindow",
            code: None,
            message: "response carried no window id".into(),
        })?;
    let ids: Vec<String> = booking
        .instances
        .iter()
        .map(|i| i.instance.to_string())
        .collect();
    let target_id = register_target(ssm, &window_id, &ids).await?;
    register_task(ssm, &window_id, &booking.key, &target_id, task).await?;
    Ok(window_id)
}

async fn register_target(
    ssm: &Client,
    window_id: &str,
    ids: &[String],
) -> Result<String, AwsError> {
    let token = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("livepatch-autopilot target {window_id} {}", ids.join(",")).as_bytes(),
    );
    ssm.register_target_with_maintenance_window()
        .window_id(window_id)
        .resource_type(MaintenanceWindowResourceType::Instance)
        .targets(
            Target::builder()
                .key("InstanceIds")
                .set_values(Some(ids.to_vec()))
                .build(),
        )
        .name("livepatch-autopilot-reboot-instances")
        .client_token(token.to_string())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RegisterTargetWithMaintenanceWindow", e))?
        .window_target_id()
        .map(str::to_owned)
        .ok_or_else(|| AwsError {
            operation: "RegisterTargetWithMaintenanceWindow",
            code: None,
            message: "response carried no window target id".into(),
        })
}

async fn register_task(
    ssm: &Client,
    window_id: &str,
    key: &str,
    target_id: &str,
    task: &RebootTask,
) -> Result<String, AwsError> {
    let parameters: HashMap<String, Vec<String>> = [
        ("Operation".to_owned(), vec!["Install".to_owned()]),
        ("RebootOption".to_owned(), vec!["RebootIfNeeded".to_owned()]),
    ]
    .into();
    let run_command = MaintenanceWindowRunCommandParameters::builder()
        .comment(command_comment(key))
        .set_parameters(Some(parameters))
        .timeout_seconds(task.timeout_seconds)
        .build();
    let token = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("livepatch-autopilot task {window_id} {target_id}").as_bytes(),
    );
    // Without a ServiceRoleArn Systems Manager runs the task with its service-linked role
    // AWSServiceRoleForAmazonSSM, which may run anything anywhere. No SnapshotId inside a window
    // (DOMAIN.md §2).
    ssm.register_task_with_maintenance_window()
        .set_service_role_arn(task.service_role_arn.clone())
        .window_id(window_id)
        .task_type(MaintenanceWindowTaskType::RunCommand)
        .task_arn(REBOOT_DOCUMENT)
        .targets(
            Target::builder()
                .key("WindowTargetIds")
                .values(target_id)
                .build(),
        )
        .task_invocation_parameters(
            MaintenanceWindowTaskInvocationParameters::builder()
                .run_command(run_command)
                .build(),
        )
        .max_concurrency(&task.max_concurrency)
        .max_errors(&task.max_errors)
        // At the cutoff, invocations not started yet are cancelled (the default, CONTINUE_TASK,
        // would keep starting reboots after the allowed window).
        .cutoff_behavior(aws_sdk_ssm::types::MaintenanceWindowTaskCutoffBehavior::CancelTask)
        .priority(1)
        .name("livepatch-autopilot-reboot")
        .description("AWS-RunPatchBaseline Install with RebootIfNeeded")
        .client_token(token.to_string())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RegisterTaskWithMaintenanceWindow", e))?
        .window_task_id()
        .map(str::to_owned)
        .ok_or_else(|| AwsError {
            operation: "RegisterTaskWithMaintenanceWindow",
            code: None,
            message: "response carried no window task id".into(),
        })
}

/// Completes a window whose creation stopped half-way: registers the target (the instances of
/// its kernel tags) and the reboot task, whichever is missing.
pub async fn repair_booking(
    ssm: &Client,
    window: &BookedWindow,
    task: &RebootTask,
) -> Result<(), AwsError> {
    let target_id = match window.targets.first() {
        Some((id, _)) => id.clone(),
        None => {
            let ids: Vec<String> = window
                .tagged
                .iter()
                .map(|i| i.instance.to_string())
                .collect();
            if ids.is_empty() {
                return Err(invalid(
                    "RegisterTargetWithMaintenanceWindow",
                    format!("window {} names no instance in its tags", window.window_id),
                ));
            }
            register_target(ssm, &window.window_id, &ids).await?
        }
    };
    if window.task_ids.is_empty() {
        register_task(
            ssm,
            &window.window_id,
            &window.booking.key,
            &target_id,
            task,
        )
        .await?;
    }
    Ok(())
}

/// Changes which instances a booked window reboots, in one step per window: `remove` leave its
/// target and lose their kernel tags, `add` join it. The tags change first, removals before
/// additions (a window may carry 50 tags: a full window that swaps instances would pass the limit
/// if it added before it removed), and the target last, so a failure leaves the instances SSM
/// reboots (the target, which is what [`booked_reboots`] reads) as they were, and the next run
/// tries again. A removal and an addition in one run never bring the removed instance back. A
/// step that would empty one target while the window still holds instances in another is
/// refused before any call (the task may name only the emptied one); a window left with no
/// instance at all loses its target (the planner deletes such windows before they start). On
/// success the in-memory `window` is changed too, so later steps of the run (and the reminder)
/// see what SSM holds.
pub async fn retarget(
    ssm: &Client,
    window: &mut BookedWindow,
    remove: &[InstanceId],
    add: &[BookedInstance],
) -> Result<(), AwsError> {
    let removing = |id: &str| remove.iter().any(|r| r.as_str() == id);
    let joined: Vec<String> = add.iter().map(|i| i.instance.to_string()).collect();
    let will_hold = window
        .booking
        .instances
        .iter()
        .filter(|i| !removing(i.instance.as_str()))
        .count()
        + add
            .iter()
            .filter(|i| {
                !window
                    .booking
                    .instances
                    .iter()
                    .any(|b| b.instance == i.instance)
            })
            .count();
    if will_hold > MAX_INSTANCES_PER_BOOKING {
        return Err(invalid(
            "UpdateMaintenanceWindowTarget",
            format!(
                "window {} would hold {will_hold} instances, more than {MAX_INSTANCES_PER_BOOKING}",
                window.window_id
            ),
        ));
    }
    // A target emptied while the window keeps instances in another: the task may name only the
    // emptied one (the product registers one target a window; a second is someone else's doing).
    if will_hold > 0 {
        let emptied =
            window.targets.iter().enumerate().find(|(n, (_, ids))| {
                (*n > 0 || add.is_empty()) && ids.iter().all(|id| removing(id))
            });
        if let Some((_, (target_id, _))) = emptied {
            return Err(invalid(
                "DeregisterTargetFromMaintenanceWindow",
                format!(
                    "window {} would keep instances but lose target {target_id}, which its task may \
                     name; left unchanged",
                    window.window_id
                ),
            ));
        }
    }
    let joining = |id: &InstanceId| add.iter().any(|i| &i.instance == id);
    let untag: Vec<String> = (remove.iter().filter(|id| !joining(id)))
        .map(kernel_tag)
        .collect();
    if !untag.is_empty() {
        remove_window_tags(ssm, &window.window_id, untag).await?;
    }
    if !add.is_empty() {
        let tags = add.iter().map(|i| {
            tag(
                kernel_tag(&i.instance),
                i.kernel.clone().unwrap_or_default(),
            )
        });
        add_window_tags(ssm, &window.window_id, tags.collect()).await?;
    }
    let mut targets = Vec::new();
    for (n, (target_id, ids)) in window.targets.iter().enumerate() {
        let mut now_ids: BTreeSet<String> =
            ids.iter().filter(|id| !removing(id)).cloned().collect();
        if n == 0 {
            now_ids.extend(joined.iter().cloned());
        }
        let before: BTreeSet<String> = ids.iter().cloned().collect();
        if now_ids == before {
            targets.push((target_id.clone(), ids.clone()));
        } else if now_ids.is_empty() {
            ssm.deregister_target_from_maintenance_window()
                .window_id(&window.window_id)
                .window_target_id(target_id)
                .safe(false)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DeregisterTargetFromMaintenanceWindow", e))?;
        } else {
            let now_ids: Vec<String> = now_ids.into_iter().collect();
            update_target(ssm, &window.window_id, target_id, now_ids.clone()).await?;
            targets.push((target_id.clone(), now_ids));
        }
    }
    window.targets = targets;
    let keep = |i: &BookedInstance| !removing(i.instance.as_str());
    window.booking.instances.retain(keep);
    window.tagged.retain(keep);
    for i in add {
        if !window
            .booking
            .instances
            .iter()
            .any(|b| b.instance == i.instance)
        {
            window.booking.instances.push(i.clone());
        }
        if !window.tagged.iter().any(|b| b.instance == i.instance) {
            window.tagged.push(i.clone());
        }
    }
    Ok(())
}

async fn update_target(
    ssm: &Client,
    window_id: &str,
    target_id: &str,
    ids: Vec<String>,
) -> Result<(), AwsError> {
    ssm.update_maintenance_window_target()
        .window_id(window_id)
        .window_target_id(target_id)
        .targets(
            Target::builder()
                .key("InstanceIds")
                .set_values(Some(ids))
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateMaintenanceWindowTarget", e))?;
    Ok(())
}

/// Deletes a window (its targets and task go with it). A window already gone counts as removed.
pub async fn remove_booking(ssm: &Client, window_id: &str) -> Result<(), AwsError> {
    match ssm
        .delete_maintenance_window()
        .window_id(window_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) => {
            let err = AwsError::from_sdk("DeleteMaintenanceWindow", err);
            match err.code.as_deref() {
                Some("DoesNotExistException") => Ok(()),
                _ => Err(err),
            }
        }
    }
}

/// Records that the day-before reminder of the window went out.
pub async fn mark_reminded(ssm: &Client, window_id: &str, now: Timestamp) -> Result<(), AwsError> {
    add_window_tags(ssm, window_id, vec![tag(REMINDED_TAG, now.to_string())]).await
}

async fn add_window_tags(ssm: &Client, window_id: &str, tags: Vec<Tag>) -> Result<(), AwsError> {
    ssm.add_tags_to_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id(window_id)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("AddTagsToResource", e))?;
    Ok(())
}

async fn remove_window_tags(
    ssm: &Client,
    window_id: &str,
    keys: Vec<String>,
) -> Result<(), AwsError> {
    ssm.remove_tags_from_resource()
        .resource_type(ResourceTypeForTagging::MaintenanceWindow)
        .resource_id(window_id)
        .set_tag_keys(Some(keys))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RemoveTagsFromResource", e))?;
    Ok(())
}

/// The Run Command ids a window execution sent: for each of its tasks, each invocation's
/// `ExecutionId` (the command id of a RUN_COMMAND task), in the order SSM lists them.
pub async fn window_command_ids(
    ssm: &Client,
    window_execution_id: &str,
) -> Result<Vec<String>, AwsError> {
    let mut task_ids = Vec::new();
    let mut pages = ssm
        .describe_maintenance_window_execution_tasks()
        .window_execution_id(window_execution_id)
        .max_results(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindowExecutionTasks", e))?;
        task_ids.extend(
            page.window_execution_task_identities()
                .iter()
                .filter(|t| t.task_type() == Some(&MaintenanceWindowTaskType::RunCommand))
                .filter_map(|t| t.task_execution_id().map(str::to_owned)),
        );
    }
    let mut command_ids = Vec::new();
    for task_id in task_ids {
        let mut pages = ssm
            .describe_maintenance_window_execution_task_invocations()
            .window_execution_id(window_execution_id)
            .task_id(&task_id)
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::from_sdk("DescribeMaintenanceWindowExecutionTaskInvocations", e)
            })?;
            for invocation in page.window_execution_task_invocation_identities() {
                if let Some(id) = invocation.execution_id() {
                    if !command_ids.iter().any(|c| c == id) {
                        command_ids.push(id.to_owned());
                    }
                }
            }
        }
    }
    Ok(command_ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use livepatch_domain::reboot::RebootWindow;

    fn new_booking(ids: &[&str]) -> NewBooking {
        let window: RebootWindow = "SUN 03:00-05:00 Europe/Berlin".parse().unwrap();
        let slot = window
            .slots_between(
                "2027-01-01T00:00:00Z".parse().unwrap(),
                "2027-01-20T00:00:00Z".parse().unwrap(),
            )
            .next()
            .unwrap();
        NewBooking {
            key: slot.key(),
            slot,
            instances: ids
                .iter()
                .map(|id| BookedInstance {
                    instance: id.parse().unwrap(),
                    kernel: Some("6.1.115-126.197.amzn2023.x86_64".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn names_comments_and_tokens() {
        let b = new_booking(&["i-0123456789abcdef0"]);
        assert_eq!(
            window_name(&b.key),
            "livepatch-autopilot-reboot-20270103T0300-0500-europe-berlin"
        );
        assert_eq!(window_name("a/b+c").len(), WINDOW_NAME_PREFIX.len() + 5);
        assert!(window_name(&"x".repeat(300)).len() <= 128);
        assert_eq!(
            command_comment(&b.key),
            "livepatch-autopilot reboot 20270103T0300-0500-europe-berlin"
        );
        assert!(command_comment(&"k".repeat(200)).chars().count() <= 100);
        let now: Timestamp = "2027-01-01T06:30:00Z".parse().unwrap();
        let later = now + SignedDuration::from_hours(2);
        let tomorrow = now + SignedDuration::from_hours(24);
        assert_eq!(client_token(&b, now), client_token(&b, later));
        assert_ne!(client_token(&b, now), client_token(&b, tomorrow));
        let other = new_booking(&["i-0123456789abcdef1"]);
        assert_ne!(client_token(&b, now), client_token(&other, now));
        assert!(client_token(&b, now).len() <= 64);
    }

    #[test]
    fn schedules_read_back_in_their_zone() {
        assert_eq!(
            start_of("at(2027-01-10T03:00:00)", "Europe/Berlin"),
            Some("2027-01-10T02:00:00Z".parse().unwrap())
        );
        assert_eq!(
            start_of("at(2027-01-10T03:00:00)", "UTC"),
            Some("2027-01-10T03:00:00Z".parse().unwrap())
        );
        assert_eq!(start_of("cron(0 3 ? * SUN *)", "UTC"), None);
        assert_eq!(start_of("at(2027-01-10T03:00:00)", "Mars/Olympus"), None);
    }
}
