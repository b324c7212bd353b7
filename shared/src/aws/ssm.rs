//! Systems Manager: the fleet as SSM sees it, and Run Command.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ssm::types::{
    CommandFilter, CommandFilterKey, InstanceInformationStringFilter, ResultAttribute,
};
use aws_sdk_ssm::Client;
use jiff::Timestamp;
use livepatch_domain::fleet::{ManagedInstance, PingStatus, RunCommand};
use livepatch_domain::install::{InstallAttempt, InvocationStatus, PatchRecord};
use livepatch_domain::{InstanceId, PatchState, Platform};

use super::{to_timestamp, AwsError};

/// The custom inventory type that holds each instance's kernel facts.
pub use livepatch_domain::facts::KERNEL_FACTS_TYPE;

/// Registered instances carrying every tag in `tags` (key → accepted values); all of them when empty.
///
/// Entries whose id is not a valid instance id are returned in the second list, to be reported.
pub async fn managed_instances(
    ssm: &Client,
    tags: &BTreeMap<String, Vec<String>>,
) -> Result<(Vec<ManagedInstance>, Vec<String>), AwsError> {
    let filters = tags
        .iter()
        .map(|(key, values)| {
            InstanceInformationStringFilter::builder()
                .key(format!("tag:{key}"))
                .set_values(Some(values.clone()))
                .build()
                .expect("key and values are set")
        })
        .collect();
    describe(ssm, filters).await
}

/// Ids of registered instances that carry the tag key `key` (any value).
pub async fn instances_with_tag_key(
    ssm: &Client,
    key: &str,
) -> Result<BTreeSet<InstanceId>, AwsError> {
    let filter = InstanceInformationStringFilter::builder()
        .key("tag-key")
        .values(key)
        .build()
        .expect("key and values are set");
    let (instances, _) = describe(ssm, vec![filter]).await?;
    Ok(instances.into_iter().map(|i| i.id).collect())
}

/// A hybrid (`mi-`) instance's tags (`ListTagsForResource`, ResourceType `ManagedInstance`, which
/// refuses EC2 `i-` ids with `InvalidResourceId`; read those with [`super::tags`]).
pub async fn instance_tags(
    ssm: &Client,
    id: &InstanceId,
) -> Result<BTreeMap<String, String>, AwsError> {
    let output = ssm
        .list_tags_for_resource()
        .resource_type(aws_sdk_ssm::types::ResourceTypeForTagging::ManagedInstance)
        .resource_id(id.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListTagsForResource", e))?;
    Ok(output
        .tag_list()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect())
}

async fn describe(
    ssm: &Client,
    filters: Vec<InstanceInformationStringFilter>,
) -> Result<(Vec<ManagedInstance>, Vec<String>), AwsError> {
    let mut pages = ssm
        .describe_instance_information()
        .set_filters((!filters.is_empty()).then_some(filters))
        .max_results(50)
        .into_paginator()
        .send();
    let mut instances = Vec::new();
    let mut invalid = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeInstanceInformation", e))?;
        for info in page.instance_information_list() {
            let raw_id = info.instance_id().unwrap_or_default();
            let Ok(id) = raw_id.parse::<InstanceId>() else {
                invalid.push(raw_id.to_owned());
                continue;
            };
            let name = info.platform_name().unwrap_or_default();
            let version = info.platform_version().unwrap_or_default();
            instances.push(ManagedInstance {
                id,
                ping: PingStatus::parse(
                    info.ping_status().map(|p| p.as_str()).unwrap_or("Unknown"),
                ),
                platform: Platform::from_ssm(name, version),
                platform_label: format!("{name} {version}").trim().to_owned(),
                computer_name: info.computer_name().map(str::to_owned),
            });
        }
    }
    Ok((instances, invalid))
}

/// Instances that have kernel facts in inventory, from earlier runs.
pub async fn instances_with_kernel_facts(ssm: &Client) -> Result<BTreeSet<InstanceId>, AwsError> {
    Ok(fleet_kernel_facts(ssm).await?.into_keys().collect())
}

/// Every instance's kernel facts inventory entry (field → value), from one paginated query.
/// Instances with an empty entry are left out.
pub async fn fleet_kernel_facts(
    ssm: &Client,
) -> Result<BTreeMap<InstanceId, BTreeMap<String, String>>, AwsError> {
    let mut pages = ssm
        .get_inventory()
        .result_attributes(
            ResultAttribute::builder()
                .type_name(KERNEL_FACTS_TYPE)
                .build()
                .expect("type name is set"),
        )
        .into_paginator()
        .send();
    let mut facts = BTreeMap::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("GetInventory", e))?;
        for entity in page.entities() {
            let content = entity
                .data()
                .and_then(|data| data.get(KERNEL_FACTS_TYPE))
                .and_then(|item| item.content().first());
            let id = entity.id().and_then(|id| id.parse::<InstanceId>().ok());
            if let (Some(id), Some(content)) = (id, content) {
                let entry = content
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                facts.insert(id, entry);
            }
        }
    }
    Ok(facts)
}

/// Sends one command; returns its command id.
pub async fn send_command(ssm: &Client, command: &RunCommand) -> Result<String, AwsError> {
    let output = ssm
        .send_command()
        .document_name(&command.document)
        .set_instance_ids(Some(
            command
                .instance_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
        ))
        .set_parameters((!command.parameters.is_empty()).then(|| {
            command
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
        .comment(&command.comment)
        .max_concurrency(&command.max_concurrency)
        .max_errors(&command.max_errors)
        .timeout_seconds(command.timeout_seconds)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("SendCommand", e))?;
    output
        .command()
        .and_then(|c| c.command_id())
        .map(str::to_owned)
        .ok_or_else(|| AwsError {
            operation: "SendCommand",
            code: None,
            message: "response carried no command id".into(),
        })
}

/// A command the product sent earlier, as `ListCommands` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCommand {
    pub command_id: String,
    pub document: String,
    pub comment: String,
    pub status: String,
    /// The instance ids it was sent to (empty for a tag-targeted command).
    pub instance_ids: Vec<String>,
    pub requested: Option<Timestamp>,
}

/// Commands (of `document`, or of any) requested after `after`, newest first as SSM lists them.
pub async fn commands_since(
    ssm: &Client,
    document: Option<&str>,
    after: Timestamp,
) -> Result<Vec<SentCommand>, AwsError> {
    let filters = command_filters(document, after);
    let mut pages = ssm
        .list_commands()
        .set_filters(Some(filters))
        .into_paginator()
        .send();
    let mut commands = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ListCommands", e))?;
        for command in page.commands() {
            commands.push(SentCommand {
                command_id: command.command_id().unwrap_or_default().to_owned(),
                document: command.document_name().unwrap_or_default().to_owned(),
                comment: command.comment().unwrap_or_default().to_owned(),
                status: command
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                instance_ids: command.instance_ids().to_vec(),
                requested: command.requested_date_time().and_then(to_timestamp),
            });
        }
    }
    Ok(commands)
}

/// Registered instances among `ids`, looked up 50 at a time; ids SSM does not list are simply absent.
pub async fn managed_instances_by_id(
    ssm: &Client,
    ids: &[InstanceId],
) -> Result<Vec<ManagedInstance>, AwsError> {
    let mut found = Vec::new();
    for batch in ids.chunks(50) {
        let filter = InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .set_values(Some(batch.iter().map(ToString::to_string).collect()))
            .build()
            .expect("key and values are set");
        found.extend(describe(ssm, vec![filter]).await?.0);
    }
    Ok(found)
}

/// The instance's kernel facts (custom inventory), `None` when none were collected yet.
pub async fn kernel_facts(
    ssm: &Client,
    id: &InstanceId,
) -> Result<Option<BTreeMap<String, String>>, AwsError> {
    let output = ssm
        .list_inventory_entries()
        .instance_id(id.as_str())
        .type_name(KERNEL_FACTS_TYPE)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListInventoryEntries", e))?;
    Ok(output
        .entries()
        .first()
        .map(|entry| entry.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
}

/// Every patch Patch Manager reports for the instance. States come in either spelling and are
/// parsed by the domain, so no server-side state filter is used.
pub async fn instance_patches(ssm: &Client, id: &InstanceId) -> Result<Vec<PatchRecord>, AwsError> {
    let mut pages = ssm
        .describe_instance_patches()
        .instance_id(id.as_str())
        .max_results(100)
        .into_paginator()
        .send();
    let mut patches = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeInstancePatches", e))?;
        patches.extend(page.patches().iter().map(|p| PatchRecord {
            title: p.title().to_owned(),
            kb_id: p.kb_id().to_owned(),
            state: PatchState::parse(p.state().as_str()),
        }));
    }
    Ok(patches)
}

/// Every invocation of `document` on `id` since `since`; those whose comment starts with
/// `comment_prefix` are the product's own.
pub async fn attempts_on(
    ssm: &Client,
    id: &InstanceId,
    document: &str,
    comment_prefix: &str,
    since: Timestamp,
) -> Result<Vec<InstallAttempt>, AwsError> {
    let filters = command_filters(Some(document), since);
    let mut pages = ssm
        .list_command_invocations()
        .instance_id(id.as_str())
        .set_filters(Some(filters))
        .into_paginator()
        .send();
    let mut attempts = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ListCommandInvocations", e))?;
        for invocation in page.command_invocations() {
            let by_us = invocation
                .comment()
                .unwrap_or_default()
                .starts_with(comment_prefix);
            let Some(requested) = invocation.requested_date_time().and_then(to_timestamp) else {
                continue;
            };
            attempts.push(InstallAttempt {
                command_id: invocation.command_id().unwrap_or_default().to_owned(),
                requested,
                status: InvocationStatus::with_details(
                    invocation.status().map(|s| s.as_str()).unwrap_or("Unknown"),
                    invocation.status_details().unwrap_or_default(),
                ),
                by_us,
            });
        }
    }
    Ok(attempts)
}

/// Instances among `ids` whose last patch operation left missing or failed patches, 50 ids a call.
pub async fn instances_missing_patches(
    ssm: &Client,
    ids: &[InstanceId],
) -> Result<Vec<InstanceId>, AwsError> {
    Ok(super::results::patch_counts(ssm, ids)
        .await?
        .into_iter()
        .filter(|(_, counts)| counts.missing + counts.failed > 0)
        .map(|(id, _)| id)
        .collect())
}

/// `ListCommands`/`ListCommandInvocations` filters: requested after `after`, of `document` if given.
fn command_filters(document: Option<&str>, after: Timestamp) -> Vec<CommandFilter> {
    let after = (
        CommandFilterKey::InvokedAfter,
        after.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let document = document.map(|d| (CommandFilterKey::DocumentName, d.to_owned()));
    std::iter::once(after)
        .chain(document)
        .map(|(key, value)| {
            CommandFilter::builder()
                .key(key)
                .value(value)
                .build()
                .expect("key and value are set")
        })
        .collect()
}

/// What became of the instances of one `SendCommand` (or of a part of it, after a split).
#[derive(Debug)]
pub struct Sent {
    pub instance_ids: Vec<InstanceId>,
    pub result: Result<String, AwsError>,
}

/// Sends `command`; when SSM refuses the whole batch for an invalid instance id (one instance stopped
/// or deregistered since it was listed), sends each instance alone, so one never stops the others.
pub async fn send_command_splitting(ssm: &Client, command: &RunCommand) -> Vec<Sent> {
    let result = send_command(ssm, command).await;
    match result {
        Err(err)
            if err.code.as_deref() == Some("InvalidInstanceId")
                && command.instance_ids.len() > 1 =>
        {
            tracing::warn!(document = %command.document, error = %err, "batch refused; sending one instance at a time");
            let mut parts = Vec::new();
            for id in &command.instance_ids {
                let single = RunCommand {
                    instance_ids: vec![id.clone()],
                    ..command.clone()
                };
                parts.push(Sent {
                    instance_ids: single.instance_ids.clone(),
                    result: send_command(ssm, &single).await,
                });
            }
            parts
        }
        result => vec![Sent {
            instance_ids: command.instance_ids.clone(),
            result,
        }],
    }
}

/// Cancels `command_id` on `instance_ids` (invocations that have not started yet stop for good).
pub async fn cancel_command(
    ssm: &Client,
    command_id: &str,
    instance_ids: &[InstanceId],
) -> Result<(), AwsError> {
    ssm.cancel_command()
        .command_id(command_id)
        .set_instance_ids(Some(instance_ids.iter().map(ToString::to_string).collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CancelCommand", e))?;
    Ok(())
}

/// The status of `command_id` on `instance`, `None` when SSM has no such invocation (yet).
pub async fn invocation_status(
    ssm: &Client,
    command_id: &str,
    instance: &InstanceId,
) -> Result<Option<InvocationStatus>, AwsError> {
    let output = ssm
        .list_command_invocations()
        .command_id(command_id)
        .instance_id(instance.as_str())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListCommandInvocations", e))?;
    Ok(output.command_invocations().first().map(|i| {
        InvocationStatus::with_details(
            i.status().map(|s| s.as_str()).unwrap_or("Unknown"),
            i.status_details().unwrap_or_default(),
        )
    }))
}
