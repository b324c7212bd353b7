//! Resource Groups Tagging API: EC2 instance tag values for the whole fleet in a few calls.
//!
//! SSM `ListTagsForResource` (ResourceType `ManagedInstance`) accepts only hybrid `mi-` ids, so
//! tag values of EC2 `i-` instances are read here, with `GetResources`, without the EC2 SDK.

use std::collections::BTreeMap;

use aws_sdk_resourcegroupstagging::types::TagFilter;
pub use aws_sdk_resourcegroupstagging::Client;
use livepatch_domain::InstanceId;

use super::AwsError;

/// The resource type filter for EC2 instances.
const EC2_INSTANCE: &str = "ec2:instance";

/// Values of the tags `keys` on every EC2 instance of the account and region that carries at
/// least one of them: instance → key → value. One paginated `GetResources` per key (several
/// `TagFilters` would require every key at once). Instances without any of the keys are absent.
pub async fn instance_tag_values(
    client: &Client,
    keys: &[&str],
) -> Result<BTreeMap<InstanceId, BTreeMap<String, String>>, AwsError> {
    let mut values: BTreeMap<InstanceId, BTreeMap<String, String>> = BTreeMap::new();
    for key in keys {
        let mut pages = client
            .get_resources()
            .resource_type_filters(EC2_INSTANCE)
            .tag_filters(TagFilter::builder().key(*key).build())
            .resources_per_page(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("GetResources", e))?;
            for mapping in page.resource_tag_mapping_list() {
                let arn = mapping.resource_arn().unwrap_or_default();
                let Some(id) = instance_id_of(arn) else {
                    tracing::warn!(
                        arn,
                        "GetResources listed an ARN that is not an EC2 instance's; ignored"
                    );
                    continue;
                };
                let tags = values.entry(id).or_default();
                for tag in mapping.tags() {
                    if keys.contains(&tag.key()) {
                        tags.insert(tag.key().to_owned(), tag.value().to_owned());
                    }
                }
            }
        }
    }
    Ok(values)
}

/// The instance id in `arn:<partition>:ec2:<region>:<account>:instance/<id>`.
fn instance_id_of(arn: &str) -> Option<InstanceId> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("ec2"), Some(_), Some(_), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    resource.strip_prefix("instance/")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
    use aws_sdk_resourcegroupstagging::types::{ResourceTagMapping, Tag};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[test]
    fn instance_ids_come_from_instance_arns_only() {
        let id = |arn| instance_id_of(arn).map(|i| i.to_string());
        assert_eq!(
            id("arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0").as_deref(),
            Some("i-0123456789abcdef0")
        );
        assert_eq!(
            id("arn:aws-cn:ec2:cn-north-1:123456789012:instance/i-12345678").as_deref(),
            Some("i-12345678")
        );
        assert_eq!(
            id("arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0"),
            None
        );
        assert_eq!(
            id("arn:aws:ssm:us-east-1:123456789012:managed-instance/mi-0123456789abcdef0"),
            None
        );
        assert_eq!(id("arn:aws:ec2:us-east-1:123456789012:instance/oops"), None);
        assert_eq!(id("i-0123456789abcdef0"), None);
    }

    fn mapping(id: &str, tags: &[(&str, &str)]) -> ResourceTagMapping {
        let mut m = ResourceTagMapping::builder()
            .resource_arn(format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}"));
        for (k, v) in tags {
            m = m.tags(Tag::builder().key(*k).value(*v).build().unwrap());
        }
        m.build()
    }

    #[tokio::test]
    async fn values_of_each_key_are_merged_across_pages_and_keys() {
        let window_1 = mock!(Client::get_resources)
            .match_requests(|r| {
                r.tag_filters()[0].key() == Some("window")
                    && r.resource_type_filters() == ["ec2:instance"]
                    && r.pagination_token().is_none()
            })
            .then_output(|| {
                GetResourcesOutput::builder()
                    .resource_tag_mapping_list(mapping(
                        "i-0123456789abcdef0",
                        &[("window", "SAT 01:00-02:00 UTC"), ("Name", "a")],
                    ))
                    .pagination_token("next")
                    .build()
            });
        let window_2 = mock!(Client::get_resources)
            .match_requests(|r| r.pagination_token() == Some("next"))
            .then_output(|| {
                GetResourcesOutput::builder()
                    .resource_tag_mapping_list(mapping(
                        "i-0123456789abcdef1",
                        &[("window", "SUN 01:00-02:00 UTC"), ("group", "web")],
                    ))
                    .pagination_token("")
                    .build()
            });
        let group = mock!(Client::get_resources)
            .match_requests(|r| r.tag_filters()[0].key() == Some("group"))
            .then_output(|| {
                GetResourcesOutput::builder()
                    .resource_tag_mapping_list(mapping(
                        "i-0123456789abcdef0",
                        &[("group", "api"), ("window", "SAT 01:00-02:00 UTC")],
                    ))
                    .resource_tag_mapping_list(mapping(
                        "i-0123456789abcdef1",
                        &[("window", "SUN 01:00-02:00 UTC"), ("group", "web")],
                    ))
                    .build()
            });
        let client = mock_client!(
            aws_sdk_resourcegroupstagging,
            RuleMode::MatchAny,
            [&window_1, &window_2, &group]
        );
        let values = instance_tag_values(&client, &["window", "group"])
            .await
            .unwrap();
        let of = |id: &str| values[&id.parse::<InstanceId>().unwrap()].clone();
        assert_eq!(values.len(), 2);
        assert_eq!(
            of("i-0123456789abcdef0"),
            BTreeMap::from([
                ("window".to_owned(), "SAT 01:00-02:00 UTC".to_owned()),
                ("group".to_owned(), "api".to_owned()),
            ])
        );
        assert_eq!(of("i-0123456789abcdef1")["group"], "web");
        assert_eq!(window_2.num_calls(), 1);
    }
}
