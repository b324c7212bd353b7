//! Systems Manager Parameter Store: the little state the product keeps between runs (which
//! instances were disabled on request, which warnings went out today).

use aws_sdk_ssm::types::ParameterType;
use aws_sdk_ssm::Client;

use super::AwsError;

/// The value of parameter `name`, `None` when there is none.
pub async fn get(ssm: &Client, name: &str) -> Result<Option<String>, AwsError> {
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => Ok(out.parameter().and_then(|p| p.value()).map(str::to_owned)),
        Err(e) => not_found_is_none(AwsError::from_sdk("GetParameter", e)),
    }
}

/// Writes `value` to parameter `name` (a plain `String`, overwritten).
pub async fn put(ssm: &Client, name: &str, value: &str, description: &str) -> Result<(), AwsError> {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(true)
        .description(description)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutParameter", e))?;
    Ok(())
}

/// Deletes parameter `name`; `Ok` when there was none.
pub async fn delete(ssm: &Client, name: &str) -> Result<(), AwsError> {
    match ssm.delete_parameter().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) => not_found_is_none::<()>(AwsError::from_sdk("DeleteParameter", e)).map(|_| ()),
    }
}

fn not_found_is_none<T>(err: AwsError) -> Result<Option<T>, AwsError> {
    if err.code.as_deref() == Some("ParameterNotFound") {
        Ok(None)
    } else {
        Err(err)
    }
}
