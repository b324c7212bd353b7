//! Systems Manager for switching live patching: the fleet's kernel facts in one query, the history
//! of the enable/disable documents, and the one-time maintenance window a deferred disable runs in.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{
    CommandFilter, CommandFilterKey, MaintenanceWindowExecutionStatus, MaintenanceWindowFilter,
    MaintenanceWindowResourceType, MaintenanceWindowRunCommandParameters,
    MaintenanceWindowTaskInvocationParameters, MaintenanceWindowTaskType, ResourceTypeForTagging,
    Tag, Target,
};
use aws_sdk_ssm::Client;
use jiff::Timestamp;
use livepatch_domain::enable::{
    one_time_start, Action, DisableWindow, DisabledRecord, LivePatchingRun, DISABLE_WINDOW_PREFIX,
};
use livepatch_domain::install::InvocationStatus;
use livepatch_domain::InstanceId;

use super::{to_timestamp, AwsError};

/// Tag of the maintenance windows the product books, and its value for disable windows.
pub const WINDOW_PURPOSE_TAG: &str = "livepatch-autopilot:purpose";
pub const DISABLE_PURPOSE: &str = "disable-live-patching";

pub use super::ssm::fleet_kernel_facts;

/// The patch runs (`AWS-RunPatchBaseline`) still executing, per instance: the command id.
pub async fn active_patch_runs(ssm: &Client) -> Result<BTreeMap<InstanceId, String>, AwsError> {
    let filters = [
        (CommandFilterKey::DocumentName, "AWS-RunPatchBaseline"),
        (CommandFilterKey::ExecutionStage, "Executing"),
    ]
    .into_iter()
    .map(|(key, value)| {
        CommandFilter::builder()
            .key(key)
            .value(value)
            .build()
            .expect("key and value are set")
    })
    .collect();
    let mut pages = ssm
        .list_command_invocations()
        .set_filters(Some(filters))
        .max_results(50)
        .into_paginator()
        .send();
    let mut runs = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ListCommandInvocations", e))?;
        for invocation in page.command_invocations() {
            let status = InvocationStatus::with_details(
                invocation.status().map(|s| s.as_str()).unwrap_or("Unknown"),
                invocation.status_details().unwrap_or_default(),
            );
            let id = invocation.instance_id().and_then(|i| i.parse().ok());
            if let (Some(id), Some(command), true) =
                (id, invocation.command_id(), status.is_active())
            {
                runs.insert(id, command.to_owned());
            }
        }
    }
    Ok(runs)
}

/// One of the product's disable windows (named [`DISABLE_WINDOW_PREFIX`]... and tagged
/// [`WINDOW_PURPOSE_TAG`]=[`DISABLE_PURPOSE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnDisableWindow {
    pub window_id: String,
    pub name: String,
    /// `None` when the schedule is not the one-time `at(...)` the product books.
    pub start: Option<Timestamp>,
    pub duration_hours: i32,
    pub instance_ids: Vec<InstanceId>,
}

/// The product's disable windows, with the instances their targets name.
pub async fn own_disable_windows(ssm: &Client) -> Result<Vec<OwnDisableWindow>, AwsError> {
    let mut pages = ssm
        .describe_maintenance_windows()
        .max_results(50)
        .into_paginator()
        .send();
    let mut windows = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindows", e))?;
        for identity in page.window_identities() {
            let (Some(window_id), Some(name)) = (identity.window_id(), identity.name()) else {
                continue;
            };
            if !name.starts_with(DISABLE_WINDOW_PREFIX) {
                continue;
            }
            let tags = ssm
                .list_tags_for_resource()
                .resource_type(ResourceTypeForTagging::MaintenanceWindow)
                .resource_id(window_id)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
            let ours = tags
                .tag_list()
                .iter()
                .any(|t| t.key() == WINDOW_PURPOSE_TAG && t.value() == DISABLE_PURPOSE);
            if !ours {
                continue;
            }
            let instance_ids = window_instances(ssm, window_id).await?;
            windows.push(OwnDisableWindow {
                window_id: window_id.to_owned(),
                name: name.to_owned(),
                start: identity.schedule().and_then(one_time_start),
                duration_hours: identity.duration().unwrap_or(0),
                instance_ids,
            });
        }
    }
    Ok(windows)
}

async fn window_instances(ssm: &Client, window_id: &str) -> Result<Vec<InstanceId>, AwsError> {
    let targets = ssm
        .describe_maintenance_window_targets()
        .window_id(window_id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindowTargets", e))?;
    let mut ids: Vec<InstanceId> = targets
        .targets()
        .iter()
        .flat_map(|t| t.targets())
        .filter(|t| t.key() == Some("InstanceIds"))
        .flat_map(|t| t.values())
        .filter_map(|v| v.parse().ok())
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Whether every execution of the window has ended (none pending or running).
pub async fn window_executions_finished(ssm: &Client, window_id: &str) -> Result<bool, AwsError> {
    let mut pages = ssm
        .describe_maintenance_window_executions()
        .window_id(window_id)
        .max_results(10)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindowExecutions", e))?;
        let running = page.window_executions().iter().any(|e| {
            matches!(
                e.status(),
                Some(MaintenanceWindowExecutionStatus::Pending)
                    | Some(MaintenanceWindowExecutionStatus::InProgress)
                    | Some(MaintenanceWindowExecutionStatus::Cancelling)
            )
        });
        if running {
            return Ok(false);
        }
    }
    Ok(true)
}

// -- disabled on request: one parameter per instance under a path --------------------------------

/// The product's records of manual disables under `path` (`/…/live-patching-disabled`), per
/// instance. A parameter whose name is not an instance id is logged and left out; one whose value
/// does not parse (written by hand) still counts, dated by the parameter: leaving it out would let
/// the daily run turn live patching back on against a person's wish.
pub async fn disabled_records(
    ssm: &Client,
    path: &str,
) -> Result<BTreeMap<InstanceId, DisabledRecord>, AwsError> {
    let mut records = BTreeMap::new();
    let mut pages = ssm
        .get_parameters_by_path()
        .path(path)
        .recursive(false)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("GetParametersByPath", e))?;
        for parameter in page.parameters() {
            let name = parameter.name().unwrap_or_default();
            let Ok(id) = name
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .parse::<InstanceId>()
            else {
                tracing::warn!(parameter = name, "not named after an instance; ignored");
                continue;
            };
            // A record written by hand (any value) keeps the instance off all the same: what it
            // says is a person's wish, and the parameter's date stands in for the request's.
            let record =
                serde_json::from_str::<DisabledRecord>(parameter.value().unwrap_or_default())
                    .unwrap_or_else(|_| DisabledRecord {
                        request: format!("parameter {name}"),
                        requested: parameter
                            .last_modified_date()
                            .and_then(to_timestamp)
                            .unwrap_or(Timestamp::UNIX_EPOCH),
                    });
            records.insert(id, record);
        }
    }
    Ok(records)
}

/// Records that `instance` was disabled on request (overwriting an older record).
pub async fn record_disabled(
    ssm: &Client,
    path: &str,
    instance: &InstanceId,
    record: &DisabledRecord,
) -> Result<(), AwsError> {
    let value = serde_json::to_string(record).expect("a record serialises");
    super::params::put(
        ssm,
        &format!("{path}/{instance}"),
        &value,
        "livepatch-autopilot: live patching disabled on request; the daily enable run leaves this instance off",
    )
    .await
}

/// Forgets the disable record of `instance`; `Ok` when there was none.
pub async fn forget_disabled(
    ssm: &Client,
    path: &str,
    instance: &InstanceId,
) -> Result<(), AwsError> {
    super::params::delete(ssm, &format!("{path}/{instance}")).await
}

/// Deletes one of the product's windows.
pub async fn delete_window(ssm: &Client, window_id: &str) -> Result<(), AwsError> {
    ssm.delete_maintenance_window()
        .window_id(window_id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteMaintenanceWindow", e))?;
    Ok(())
}

/// Every invocation of `documents` requested after `since`, per instance; the product's own are
/// recognised by their comment.
pub async fn live_patching_history(
    ssm: &Client,
    documents: &[&str],
    since: Timestamp,
) -> Result<BTreeMap<InstanceId, Vec<LivePatchingRun>>, AwsError> {
    let mut history: BTreeMap<InstanceId, Vec<LivePatchingRun>> = BTreeMap::new();
    for document in documents {
        let filters = [
            (
                CommandFilterKey::InvokedAfter,
                since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ),
            (CommandFilterKey::DocumentName, (*document).to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| {
            CommandFilter::builder()
                .key(key)
                .value(value)
                .build()
                .expect("key and value are set")
        })
        .collect();
        let mut pages = ssm
            .list_command_invocations()
            .set_filters(Some(filters))
            .max_results(50)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("ListCommandInvocations", e))?;
            for invocation in page.command_invocations() {
                let id = invocation.instance_id().and_then(|i| i.parse().ok());
                let requested = invocation.requested_date_time().and_then(to_timestamp);
                let (Some(id), Some(requested)) = (id, requested) else {
                    continue;
                };
                history.entry(id).or_default().push(LivePatchingRun {
                    command_id: invocation.command_id().unwrap_or_default().to_owned(),
                    document: invocation.document_name().unwrap_or(document).to_owned(),
                    requested,
                    status: InvocationStatus::with_details(
                        invocation.status().map(|s| s.as_str()).unwrap_or("Unknown"),
                        invocation.status_details().unwrap_or_default(),
                    ),
                    by_us: Action::of_comment(invocation.comment().unwrap_or_default()),
                });
            }
        }
    }
    Ok(history)
}

/// A booked window: its id, and whether this call created it (a redelivered request finds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedWindow {
    pub window_id: String,
    pub created: bool,
}

/// Books `window`: a one-time maintenance window with the instances as its target and the disable
/// as its Run Command task. Found by name when it exists already (a redelivered request): then its
/// target and task are checked and registered again where missing (same client tokens, so a
/// registration that did go through is not doubled). A window created now is removed again if it
/// cannot be completed, so that a retry books it afresh.
pub async fn book_disable_window(
    ssm: &Client,
    window: &DisableWindow,
) -> Result<BookedWindow, AwsError> {
    let token = |part: &str| {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_URL,
            format!("{}/{part}", window.name).as_bytes(),
        )
        .to_string()
    };
    let existing = ssm
        .describe_maintenance_windows()
        .filters(
            MaintenanceWindowFilter::builder()
                .key("Name")
                .values(&window.name)
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindows", e))?;
    if let Some(found) = existing
        .window_identities()
        .iter()
        .find_map(|w| w.window_id())
    {
        register(ssm, found, window, &token, false).await?;
        return Ok(BookedWindow {
            window_id: found.to_owned(),
            created: false,
        });
    }
    let window_id = ssm
        .create_maintenance_window()
        .name(&window.name)
        .description(
            "Disables kernel live patching on request (livepatch-autopilot); the instances reboot.",
        )
        .schedule(window.schedule())
        .schedule_timezone("UTC")
        .duration(window.duration_hours)
        .cutoff(window.cutoff_hours)
        .allow_unassociated_targets(false)
        .client_token(token("window"))
        .tags(
            Tag::builder()
                .key(WINDOW_PURPOSE_TAG)
                .value(DISABLE_PURPOSE)
                .build()
                .expect("key and value are set"),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateMaintenanceWindow", e))?
        .window_id()
        .unwrap_or_default()
        .to_owned();
    match register(ssm, &window_id, window, &token, true).await {
        Ok(()) => Ok(BookedWindow {
            window_id,
            created: true,
        }),
        Err(err) => {
            if let Err(cleanup) = ssm
                .delete_maintenance_window()
                .window_id(&window_id)
                .send()
                .await
            {
                tracing::error!(window_id = %window_id, error = %AwsError::from_sdk("DeleteMaintenanceWindow", cleanup), "incomplete window left behind");
            }
            Err(err)
        }
    }
}

async fn register(
    ssm: &Client,
    window_id: &str,
    window: &DisableWindow,
    token: &impl Fn(&str) -> String,
    fresh: bool,
) -> Result<(), AwsError> {
    if fresh {
        let target_id = register_target(ssm, window_id, window, token).await?;
        return register_task(ssm, window_id, &target_id, window, token).await;
    }
    let targets = ssm
        .describe_maintenance_window_targets()
        .window_id(window_id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindowTargets", e))?;
    let registered_target = targets
        .targets()
        .iter()
        .find(|t| t.name() == Some("instances"))
        .and_then(|t| t.window_target_id())
        .map(str::to_owned);
    let target_id = match registered_target {
        Some(id) => id,
        None => register_target(ssm, window_id, window, token).await?,
    };
    let tasks = ssm
        .describe_maintenance_window_tasks()
        .window_id(window_id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeMaintenanceWindowTasks", e))?;
    let has_task = tasks.tasks().iter().any(|t| {
        t.name() == Some("disable-live-patching")
            && t.targets()
                .iter()
                .any(|target| target.values().contains(&target_id))
    });
    if has_task {
        return Ok(());
    }
    register_task(ssm, window_id, &target_id, window, token).await
}

async fn register_target(
    ssm: &Client,
    window_id: &str,
    window: &DisableWindow,
    token: &impl Fn(&str) -> String,
) -> Result<String, AwsError> {
    let task = &window.task;
    let target_id = ssm
        .register_target_with_maintenance_window()
        .window_id(window_id)
        .resource_type(MaintenanceWindowResourceType::Instance)
        .targets(
            Target::builder()
                .key("InstanceIds")
                .set_values(Some(
                    task.instance_ids.iter().map(ToString::to_string).collect(),
                ))
                .build(),
        )
        .name("instances")
        .client_token(token("target"))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RegisterTargetWithMaintenanceWindow", e))?
        .window_target_id()
        .unwrap_or_default()
        .to_owned();
    Ok(target_id)
}

async fn register_task(
    ssm: &Client,
    window_id: &str,
    target_id: &str,
    window: &DisableWindow,
    token: &impl Fn(&str) -> String,
) -> Result<(), AwsError> {
    let task = &window.task;
    let run_command = MaintenanceWindowRunCommandParameters::builder()
        .comment(&task.comment)
        .timeout_seconds(task.timeout_seconds)
        .set_parameters(Some(
            task.parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .build();
    ssm.register_task_with_maintenance_window()
        .set_service_role_arn(window.service_role_arn.clone())
        .window_id(window_id)
        .task_type(MaintenanceWindowTaskType::RunCommand)
        .task_arn(&task.document)
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
        .priority(1)
        .name("disable-live-patching")
        .client_token(token("task"))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RegisterTaskWithMaintenanceWindow", e))?;
    Ok(())
}
