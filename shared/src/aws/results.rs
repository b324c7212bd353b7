//! Systems Manager reads for reports: what a command did on each instance, and the fleet-wide
//! state a digest summarises (kernel facts, patch states, missing patches).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ssm::types::CommandFilter;
use aws_sdk_ssm::Client;
use jiff::Timestamp;
use livepatch_domain::facts::KernelFacts;
use livepatch_domain::outcome::InvocationResult;
use livepatch_domain::{InstanceId, PatchState};

use super::{to_timestamp, AwsError};

/// A command as `ListCommands` shows it, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandInfo {
    pub command_id: String,
    pub document: String,
    pub comment: String,
    pub status: String,
    pub parameters: BTreeMap<String, Vec<String>>,
    pub requested: Option<Timestamp>,
    pub target_count: i32,
}

/// The command `command_id`, `None` when this account and region have no such command.
pub async fn command(ssm: &Client, command_id: &str) -> Result<Option<CommandInfo>, AwsError> {
    let output = match ssm.list_commands().command_id(command_id).send().await {
        Ok(output) => output,
        Err(err) => {
            let err = AwsError::from_sdk("ListCommands", err);
            return match err.code.as_deref() {
                Some("InvalidCommandId") => Ok(None),
                _ => Err(err),
            };
        }
    };
    Ok(output.commands().first().map(|c| CommandInfo {
        command_id: c.command_id().unwrap_or_default().to_owned(),
        document: c.document_name().unwrap_or_default().to_owned(),
        comment: c.comment().unwrap_or_default().to_owned(),
        status: c
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        parameters: c
            .parameters()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        requested: c.requested_date_time().and_then(to_timestamp),
        target_count: c.target_count(),
    }))
}

/// The name of maintenance window `window_id`, `None` when it no longer exists.
pub async fn window_name(ssm: &Client, window_id: &str) -> Result<Option<String>, AwsError> {
    match ssm
        .get_maintenance_window()
        .window_id(window_id)
        .send()
        .await
    {
        Ok(output) => Ok(Some(output.name().unwrap_or_default().to_owned())),
        Err(err) => {
            let err = AwsError::from_sdk("GetMaintenanceWindow", err);
            match err.code.as_deref() {
                Some("DoesNotExistException") => Ok(None),
                _ => Err(err),
            }
        }
    }
}

/// Every instance's result of `command_id`, with its output. Right after a command finishes SSM
/// may not list the invocations yet (`InvocationDoesNotExist`, or an empty list): retried briefly.
pub async fn invocation_results(
    ssm: &Client,
    command_id: &str,
    expected: usize,
    grace: Duration,
) -> Result<Vec<InvocationResult>, AwsError> {
    let mut attempt = 0;
    loop {
        let results = list_results(ssm, Some(command_id), None, Vec::new()).await;
        // `expected` 0: the caller does not know how many; an empty listing is an answer.
        let retry = match &results {
            Ok(found) => found.len() < expected,
            Err(err) => err.code.as_deref() == Some("InvocationDoesNotExist"),
        };
        if !retry || attempt >= 3 {
            return results.map(|found| found.into_iter().map(|(_, _, r)| r).collect());
        }
        attempt += 1;
        tokio::time::sleep(grace).await;
    }
}

/// The newest invocation on `instance` of `document` sent by the product (comment starting with
/// `comment_prefix`) before `before`, with its output: to tell a repeated failure from a new one.
pub async fn previous_result(
    ssm: &Client,
    instance: &str,
    document: &str,
    comment_prefix: &str,
    before: Timestamp,
) -> Result<Option<InvocationResult>, AwsError> {
    let filter = |key, value: String| {
        CommandFilter::builder()
            .key(key)
            .value(value)
            .build()
            .expect("key and value are set")
    };
    // Only the last week counts: an older failure is not "the previous run" any more.
    let since = before - jiff::SignedDuration::from_hours(PREVIOUS_RUN_WINDOW_HOURS);
    let filters = vec![
        filter(
            aws_sdk_ssm::types::CommandFilterKey::DocumentName,
            document.to_owned(),
        ),
        filter(
            aws_sdk_ssm::types::CommandFilterKey::InvokedAfter,
            since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ),
    ];
    let listed = list_results(ssm, None, Some(instance), filters).await?;
    Ok(listed
        .into_iter()
        .filter(|(comment, requested, _)| {
            comment.starts_with(comment_prefix) && requested.is_some_and(|t| t < before)
        })
        .max_by_key(|(_, requested, _)| *requested)
        .map(|(_, _, result)| result))
}

const PREVIOUS_RUN_WINDOW_HOURS: i64 = 7 * 24;

type Listed = (String, Option<Timestamp>, InvocationResult);

async fn list_results(
    ssm: &Client,
    command_id: Option<&str>,
    instance: Option<&str>,
    filters: Vec<CommandFilter>,
) -> Result<Vec<Listed>, AwsError> {
    let mut pages = ssm
        .list_command_invocations()
        .set_command_id(command_id.map(str::to_owned))
        .set_instance_id(instance.map(str::to_owned))
        .set_filters((!filters.is_empty()).then_some(filters))
        .details(true)
        .into_paginator()
        .send();
    let mut results = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ListCommandInvocations", e))?;
        for invocation in page.command_invocations() {
            let output = invocation
                .command_plugins()
                .iter()
                .filter_map(|p| p.output())
                .collect::<Vec<_>>()
                .join("\n");
            results.push((
                invocation.comment().unwrap_or_default().to_owned(),
                invocation.requested_date_time().and_then(to_timestamp),
                InvocationResult {
                    instance_id: invocation.instance_id().unwrap_or_default().to_owned(),
                    status: invocation
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    status_details: invocation.status_details().unwrap_or_default().to_owned(),
                    output,
                },
            ));
        }
    }
    Ok(results)
}

/// Every instance's kernel facts, from one paginated inventory query.
pub async fn all_kernel_facts(ssm: &Client) -> Result<BTreeMap<InstanceId, KernelFacts>, AwsError> {
    Ok(super::ssm::fleet_kernel_facts(ssm)
        .await?
        .into_iter()
        .map(|(id, entry)| (id, KernelFacts::from_inventory(&entry)))
        .collect())
}

/// Patch Manager's counts for one instance (`DescribeInstancePatchStates`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchCounts {
    pub missing: i32,
    pub failed: i32,
    pub pending_reboot: i32,
    pub rejected: i32,
    pub critical_non_compliant: i32,
    pub security_non_compliant: i32,
    pub last_operation_end: Option<Timestamp>,
}

impl PatchCounts {
    pub fn compliant(&self) -> bool {
        self.missing + self.failed + self.pending_reboot + self.rejected == 0
    }
}

/// Patch counts of the instances among `ids` that Patch Manager has scanned, 50 ids a call.
pub async fn patch_counts(
    ssm: &Client,
    ids: &[InstanceId],
) -> Result<BTreeMap<InstanceId, PatchCounts>, AwsError> {
    let mut counts = BTreeMap::new();
    for batch in ids.chunks(50) {
        let mut pages = ssm
            .describe_instance_patch_states()
            .set_instance_ids(Some(batch.iter().map(ToString::to_string).collect()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("DescribeInstancePatchStates", e))?;
            for state in page.instance_patch_states() {
                let Ok(id) = state.instance_id().parse() else {
                    continue;
                };
                counts.insert(
                    id,
                    PatchCounts {
                        missing: state.missing_count(),
                        failed: state.failed_count(),
                        pending_reboot: state.installed_pending_reboot_count().unwrap_or(0),
                        rejected: state.installed_rejected_count().unwrap_or(0),
                        critical_non_compliant: state.critical_non_compliant_count().unwrap_or(0),
                        security_non_compliant: state.security_non_compliant_count().unwrap_or(0),
                        last_operation_end: to_timestamp(state.operation_end_time()),
                    },
                );
            }
        }
    }
    Ok(counts)
}

/// One patch an instance lacks, with what Patch Manager knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPatch {
    pub title: String,
    pub kb_id: String,
    pub classification: String,
    pub severity: String,
    pub state: PatchState,
    pub cve_ids: Vec<String>,
}

/// The instance's patches that are missing or failed (states in either spelling).
pub async fn missing_patches(ssm: &Client, id: &InstanceId) -> Result<Vec<MissingPatch>, AwsError> {
    let mut pages = ssm
        .describe_instance_patches()
        .instance_id(id.as_str())
        .max_results(100)
        .into_paginator()
        .send();
    let mut missing = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeInstancePatches", e))?;
        for patch in page.patches() {
            let state = PatchState::parse(patch.state().as_str());
            if !matches!(state, PatchState::Missing | PatchState::Failed) {
                continue;
            }
            missing.push(MissingPatch {
                title: patch.title().to_owned(),
                kb_id: patch.kb_id().to_owned(),
                classification: patch.classification().to_owned(),
                severity: patch.severity().to_owned(),
                state,
                cve_ids: patch
                    .cve_ids()
                    .map(|ids| {
                        ids.split([',', ' '])
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ssm::operation::list_command_invocations::ListCommandInvocationsOutput;
    use aws_sdk_ssm::types::{CommandInvocation, CommandInvocationStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn not_listed_yet() -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(r#"{"__type":"InvocationDoesNotExist","message":"not yet"}"#),
        )
    }

    fn listed(ids: &[&str]) -> ListCommandInvocationsOutput {
        ListCommandInvocationsOutput::builder()
            .set_command_invocations(Some(
                ids.iter()
                    .map(|id| {
                        CommandInvocation::builder()
                            .instance_id(*id)
                            .status(CommandInvocationStatus::Success)
                            .build()
                    })
                    .collect(),
            ))
            .build()
    }

    #[tokio::test]
    async fn a_finished_command_not_listed_yet_is_read_again() {
        let rule = mock!(Client::list_command_invocations)
            .sequence()
            .http_response(not_listed_yet)
            .output(|| listed(&["i-0123456789abcdef0"]))
            .output(|| listed(&["i-0123456789abcdef0", "i-0123456789abcdef1"]))
            .build();
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::Sequential, [&rule]);
        let results = invocation_results(&ssm, "c-1", 2, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 3, "not listed, one of two, both");
        assert_eq!(results.len(), 2);
    }

    #[tokio::test]
    async fn retries_stop_after_three_and_an_unknown_count_takes_an_empty_listing() {
        let rule = mock!(Client::list_command_invocations).then_http_response(not_listed_yet);
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&rule]);
        let err = invocation_results(&ssm, "c-1", 1, Duration::ZERO)
            .await
            .unwrap_err();
        assert_eq!(err.code.as_deref(), Some("InvocationDoesNotExist"));
        assert_eq!(rule.num_calls(), 4, "the first read and 3 retries");

        let empty = mock!(Client::list_command_invocations).then_output(|| listed(&[]));
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&empty]);
        let results = invocation_results(&ssm, "c-2", 0, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(results.is_empty());
        assert_eq!(empty.num_calls(), 1, "no waiting when nobody expects any");
    }
}
