//! Systems Manager: the fleet as SSM sees it, and Run Command.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ssm::types::{
    CommandFilter, CommandFilterKey, InstanceInformationStringFilter, ResultAttribute,
};
use aws_sdk_ssm::Client;
use jiff::Timestamp;
use livepatch_domain::fleet::{ManagedInstance, PingStatus, RunCommand};
use livepatch_domain::{InstanceId, Platform};

use super::AwsError;

/// The custom inventory type that holds each instance's kernel facts.
pub const KERNEL_FACTS_TYPE: &str = "Custom:KernelLivePatch";

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
    let mut known = BTreeSet::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("GetInventory", e))?;
        for entity in page.entities() {
            let has_facts = entity
                .data()
                .and_then(|data| data.get(KERNEL_FACTS_TYPE))
                .is_some_and(|item| !item.content().is_empty());
            if let Some(id) = entity
                .id()
                .and_then(|id| id.parse().ok())
                .filter(|_| has_facts)
            {
                known.insert(id);
            }
        }
    }
    Ok(known)
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
}

/// Commands (of `document`, or of any) requested after `after`, newest first as SSM lists them.
pub async fn commands_since(
    ssm: &Client,
    document: Option<&str>,
    after: Timestamp,
) -> Result<Vec<SentCommand>, AwsError> {
    let after = (
        CommandFilterKey::InvokedAfter,
        after.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let document = document.map(|d| (CommandFilterKey::DocumentName, d.to_owned()));
    let filters = std::iter::once(after)
        .chain(document)
        .map(|(key, value)| {
            CommandFilter::builder()
                .key(key)
                .value(value)
                .build()
                .expect("key and value are set")
        })
        .collect();
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
            });
        }
    }
    Ok(commands)
}
