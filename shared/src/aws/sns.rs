//! SNS: publish one rendered notification.

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use super::AwsError;
use crate::notify::Notification;

/// Publishes `notification` to `topic_arn` as one `MessageStructure=json` message; returns the message id.
pub async fn publish(
    sns: &Client,
    topic_arn: &str,
    notification: &Notification,
) -> Result<String, AwsError> {
    let rendered = notification.render();
    let mut request = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(rendered.subject)
        .message(rendered.message)
        .message_structure("json");
    for (name, value) in rendered.attributes {
        request = request.message_attributes(
            name,
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .expect("data type is set"),
        );
    }
    let output = request
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("Publish", e))?;
    Ok(output.message_id().unwrap_or_default().to_owned())
}
