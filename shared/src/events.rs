//! The events the functions accept.
//!
//! The EventBridge envelope comes from `aws_lambda_events`; the detail types are our own because the
//! crate's own SSM detail types are wrong about real payloads (DOMAIN.md §4). Every parser here turns a
//! raw JSON value into a typed event or an [`EventError`] that names the problem, before any AWS call.

use std::str::FromStr;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use jiff::Timestamp;
use livepatch_domain::{ComplianceStatus, InstanceId};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why an incoming event was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("event is not a JSON object (got {0})")]
    NotAnObject(&'static str),
    #[error("event is not a well-formed EventBridge event: {0}")]
    Malformed(String),
    #[error("event has detail-type {found:?} from source {source_name:?}, this function expects {expected_type:?} from {expected_source:?}")]
    WrongKind {
        found: String,
        source_name: String,
        expected_type: &'static str,
        expected_source: &'static str,
    },
    #[error("event lacks the required field {0:?}")]
    MissingField(&'static str),
    #[error("event does not concern this function: {0}")]
    Irrelevant(String),
}

/// The time and identity every handler takes from an EventBridge envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<D> {
    /// EventBridge's event id; stable across redeliveries of the same event, so it keys idempotency.
    pub id: String,
    /// "Now" for the handler: the envelope's `time`, so a simulated fleet can replay months.
    pub time: Timestamp,
    pub resources: Vec<String>,
    pub detail: D,
}

/// Detail of an EventBridge `Scheduled Event` (always `{}`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
pub struct ScheduledDetail {}

pub const SCHEDULED_EVENT: &str = "Scheduled Event";
pub const SCHEDULED_SOURCE: &str = "aws.events";

/// Parses an EventBridge schedule rule's event.
pub fn parse_scheduled(raw: &Value) -> Result<Envelope<ScheduledDetail>, EventError> {
    parse_envelope(raw, SCHEDULED_EVENT, SCHEDULED_SOURCE)
}

/// Parses an envelope of the given kind, checking kind before detail so a wrong event gets the
/// clearest message.
pub fn parse_envelope<D: DeserializeOwned + serde::Serialize>(
    raw: &Value,
    detail_type: &'static str,
    source: &'static str,
) -> Result<Envelope<D>, EventError> {
    let object = raw
        .as_object()
        .ok_or(EventError::NotAnObject(json_kind(raw)))?;
    for field in ["detail-type", "source", "detail"] {
        if !object.contains_key(field) {
            return Err(EventError::MissingField(field));
        }
    }
    let text = |value: &Value| {
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    };
    let (found_type, found_source) = (text(&object["detail-type"]), text(&object["source"]));
    if found_type != detail_type || found_source != source {
        return Err(EventError::WrongKind {
            found: found_type,
            source_name: found_source,
            expected_type: detail_type,
            expected_source: source,
        });
    }
    if let Some(time) = object.get("time") {
        let parsed = time.as_str().map(|t| t.parse::<Timestamp>());
        if !matches!(parsed, Some(Ok(_))) {
            return Err(EventError::Malformed(format!(
                "time {time} is not an RFC 3339 timestamp such as 2026-12-03T01:00:00Z"
            )));
        }
    }
    let event: EventBridgeEvent<D> =
        serde_json::from_value(raw.clone()).map_err(|e| EventError::Malformed(e.to_string()))?;
    let id = event
        .id
        .filter(|id| !id.is_empty())
        .ok_or(EventError::MissingField("id"))?;
    let time = event.time.ok_or(EventError::MissingField("time"))?;
    let time = Timestamp::new(time.timestamp(), time.timestamp_subsec_nanos() as i32)
        .map_err(|e| EventError::Malformed(format!("time out of range: {e}")))?;
    Ok(Envelope {
        id,
        time,
        resources: event.resources.unwrap_or_default(),
        detail: event.detail,
    })
}

/// Detail of `Configuration Compliance State Change` (source `aws.ssm`). Field names as AWS sends
/// them; `aws_lambda_events` misspells `severity`, hence our own type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ComplianceDetail {
    pub resource_type: String,
    pub resource_id: String,
    pub compliance_type: String,
    pub compliance_status: String,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub patch_baseline_id: Option<String>,
}

pub const COMPLIANCE_CHANGE: &str = "Configuration Compliance State Change";
pub const SSM_SOURCE: &str = "aws.ssm";

/// A managed instance that turned non-compliant for patches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonCompliantInstance {
    pub instance_id: InstanceId,
    pub severity: Option<String>,
    pub baseline_id: Option<String>,
}

/// Parses a compliance change and keeps it only when it says an instance is non-compliant for
/// patches; anything else is refused with the reason.
pub fn parse_patch_non_compliance(
    raw: &Value,
) -> Result<Envelope<NonCompliantInstance>, EventError> {
    let event: Envelope<ComplianceDetail> = parse_envelope(raw, COMPLIANCE_CHANGE, SSM_SOURCE)?;
    let detail = &event.detail;
    if detail.compliance_type != "Patch" {
        return Err(EventError::Irrelevant(format!(
            "compliance-type is {:?}, not Patch",
            detail.compliance_type
        )));
    }
    let status = ComplianceStatus::from_str(&detail.compliance_status)
        .map_err(|e| EventError::Malformed(e.to_string()))?;
    if status != ComplianceStatus::NonCompliant {
        return Err(EventError::Irrelevant(format!(
            "compliance-status is {:?}, nothing to install",
            detail.compliance_status
        )));
    }
    let instance_id = detail
        .resource_id
        .parse::<InstanceId>()
        .map_err(|e| EventError::Malformed(format!("resource-id: {e}")))?;
    Ok(Envelope {
        id: event.id,
        time: event.time,
        resources: event.resources,
        detail: NonCompliantInstance {
            instance_id,
            severity: event.detail.severity,
            baseline_id: event.detail.patch_baseline_id,
        },
    })
}

/// Detail of `EC2 Command Status-change Notification` (source `aws.ssm`). `parameters` is a map of
/// string **arrays** in real events (`aws_lambda_events` types it as a map of strings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommandStatusDetail {
    pub command_id: String,
    pub document_name: String,
    pub status: String,
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub requested_date_time: Option<String>,
    #[serde(default)]
    pub expire_after: Option<String>,
}

pub const COMMAND_STATUS_CHANGE: &str = "EC2 Command Status-change Notification";

/// Command statuses after which nothing more happens to the command.
pub const FINAL_COMMAND_STATUSES: [&str; 6] = [
    "Success",
    "Failed",
    "TimedOut",
    "Cancelled",
    "Incomplete",
    "RateExceeded",
];

/// Parses a command status change; a status that is not final is refused as irrelevant.
pub fn parse_command_status(raw: &Value) -> Result<Envelope<CommandStatusDetail>, EventError> {
    let event: Envelope<CommandStatusDetail> =
        parse_envelope(raw, COMMAND_STATUS_CHANGE, SSM_SOURCE)?;
    if event.detail.command_id.trim().is_empty() {
        return Err(EventError::MissingField("detail.command-id"));
    }
    if !FINAL_COMMAND_STATUSES.contains(&event.detail.status.as_str()) {
        return Err(EventError::Irrelevant(format!(
            "command status {:?} is not final",
            event.detail.status
        )));
    }
    Ok(event)
}

/// Detail of `Maintenance Window Execution State-change Notification` (source `aws.ssm`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WindowExecutionDetail {
    pub window_id: String,
    pub window_execution_id: String,
    pub status: String,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
}

pub const WINDOW_EXECUTION_CHANGE: &str = "Maintenance Window Execution State-change Notification";

/// Window execution statuses after which the execution is over (`CANCELLING` is not: `CANCELLED`
/// follows it, and reporting both would report one execution twice).
pub const FINAL_WINDOW_STATUSES: [&str; 5] = [
    "SUCCESS",
    "FAILED",
    "TIMED_OUT",
    "CANCELLED",
    "SKIPPED_OVERLAPPING",
];

/// Parses a window execution change; a status that is not final is refused as irrelevant.
pub fn parse_window_execution(raw: &Value) -> Result<Envelope<WindowExecutionDetail>, EventError> {
    let event: Envelope<WindowExecutionDetail> =
        parse_envelope(raw, WINDOW_EXECUTION_CHANGE, SSM_SOURCE)?;
    if event.detail.window_id.trim().is_empty() {
        return Err(EventError::MissingField("detail.window-id"));
    }
    if !FINAL_WINDOW_STATUSES.contains(&event.detail.status.as_str()) {
        return Err(EventError::Irrelevant(format!(
            "window execution status {:?} is not final",
            event.detail.status
        )));
    }
    Ok(event)
}

/// The `detail-type` of an event, to pick its parser; `None` when it has none.
pub fn detail_type(raw: &Value) -> Option<&str> {
    raw.get("detail-type").and_then(Value::as_str)
}

/// One record of an SQS batch as the Lambda SQS event source delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    pub message_id: String,
    /// `None` for a record without a body: it is refused alone, not with its whole batch.
    pub body: Option<String>,
}

/// Returns the records when `raw` is an SQS batch (`{"Records": [...]}` from `aws:sqs`).
pub fn as_queue_batch(raw: &Value) -> Option<Result<Vec<QueueRecord>, EventError>> {
    let records = raw.as_object()?.get("Records")?;
    let batch: Result<SqsEvent, _> =
        serde_json::from_value(serde_json::json!({ "Records": records }));
    Some(
        batch
            .map_err(|e| EventError::Malformed(format!("SQS batch: {e}")))
            .map(|batch| {
                batch
                    .records
                    .into_iter()
                    .enumerate()
                    .map(|(n, r)| QueueRecord {
                        message_id: r.message_id.unwrap_or_else(|| format!("record-{n}")),
                        body: r.body,
                    })
                    .collect()
            }),
    )
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scheduled() -> Value {
        serde_json::from_str(include_str!("../../events/scheduled-scan.json")).unwrap()
    }

    #[test]
    fn sample_scheduled_event_parses_with_its_time() {
        let event = parse_scheduled(&scheduled()).unwrap();
        assert_eq!(event.time.to_string(), "2026-12-03T01:00:00Z");
        assert_eq!(event.id, "7bf73129-1428-4cd3-a780-95db273d1602");
        assert_eq!(event.resources.len(), 1);
    }

    #[test]
    fn non_objects_are_refused_by_kind() {
        assert_eq!(
            parse_scheduled(&json!("hello")),
            Err(EventError::NotAnObject("a string"))
        );
        assert_eq!(
            parse_scheduled(&json!([1])),
            Err(EventError::NotAnObject("an array"))
        );
        assert_eq!(
            parse_scheduled(&Value::Null),
            Err(EventError::NotAnObject("null"))
        );
    }

    #[test]
    fn wrong_detail_type_is_named() {
        let mut event = scheduled();
        event["detail-type"] = json!("Configuration Compliance State Change");
        event["source"] = json!("aws.ssm");
        let err = parse_scheduled(&event).unwrap_err();
        assert!(matches!(err, EventError::WrongKind { .. }));
        let text = err.to_string();
        assert!(
            text.contains("Configuration Compliance State Change"),
            "{text}"
        );
        assert!(text.contains("Scheduled Event"), "{text}");
    }

    #[test]
    fn wrong_source_alone_is_refused() {
        let mut event = scheduled();
        event["source"] = json!("custom.app");
        assert!(matches!(
            parse_scheduled(&event),
            Err(EventError::WrongKind { .. })
        ));
    }

    #[test]
    fn missing_fields_are_named() {
        for field in ["detail-type", "source", "detail", "time", "id"] {
            let mut event = scheduled();
            event.as_object_mut().unwrap().remove(field);
            assert_eq!(
                parse_scheduled(&event),
                Err(EventError::MissingField(field)),
                "{field}"
            );
        }
    }

    fn compliance() -> Value {
        serde_json::from_str(include_str!("../../events/compliance-non-compliant.json")).unwrap()
    }

    #[test]
    fn sample_compliance_event_names_the_instance() {
        let event = parse_patch_non_compliance(&compliance()).unwrap();
        assert_eq!(event.detail.instance_id.as_str(), "i-0a1b2c3d4e5f60718");
        assert_eq!(event.detail.severity.as_deref(), Some("critical"));
        assert_eq!(event.time.to_string(), "2026-12-03T01:05:12Z");
    }

    #[test]
    fn compliance_events_that_ask_for_nothing_are_irrelevant() {
        let mut compliant = compliance();
        compliant["detail"]["compliance-status"] = json!("compliant");
        assert!(matches!(
            parse_patch_non_compliance(&compliant),
            Err(EventError::Irrelevant(_))
        ));
        let mut association = compliance();
        association["detail"]["compliance-type"] = json!("Association");
        assert!(matches!(
            parse_patch_non_compliance(&association),
            Err(EventError::Irrelevant(_))
        ));
    }

    #[test]
    fn compliance_events_with_bad_values_are_malformed_and_named() {
        let mut bad_id = compliance();
        bad_id["detail"]["resource-id"] = json!("i-xyz");
        let err = parse_patch_non_compliance(&bad_id).unwrap_err();
        assert!(err.to_string().contains("i-xyz"), "{err}");
        let mut bad_status = compliance();
        bad_status["detail"]["compliance-status"] = json!("sort of");
        assert!(matches!(
            parse_patch_non_compliance(&bad_status),
            Err(EventError::Malformed(_))
        ));
        let mut missing = compliance();
        missing["detail"]
            .as_object_mut()
            .unwrap()
            .remove("resource-id");
        assert!(matches!(
            parse_patch_non_compliance(&missing),
            Err(EventError::Malformed(_))
        ));
    }

    #[test]
    fn sqs_batches_are_recognised_and_other_events_are_not() {
        let batch: Value =
            serde_json::from_str(include_str!("../../events/sqs-compliance-batch.json")).unwrap();
        let records = as_queue_batch(&batch).unwrap().unwrap();
        assert_eq!(records.len(), 3);
        let first: Value = serde_json::from_str(records[0].body.as_deref().unwrap()).unwrap();
        assert!(parse_patch_non_compliance(&first).is_ok());
        assert!(as_queue_batch(&scheduled()).is_none());
        assert!(as_queue_batch(&json!({"Records": "nope"}))
            .unwrap()
            .is_err());
    }

    #[test]
    fn non_string_kinds_are_shown_as_json() {
        let mut event = scheduled();
        event["detail-type"] = json!(42);
        let err = parse_scheduled(&event).unwrap_err().to_string();
        assert!(err.contains("detail-type \"42\""), "{err}");
    }

    #[test]
    fn unparsable_time_is_malformed() {
        let mut event = scheduled();
        event["time"] = json!("yesterday");
        let err = parse_scheduled(&event).unwrap_err();
        assert!(matches!(err, EventError::Malformed(_)));
        assert!(
            err.to_string()
                .contains("time \"yesterday\" is not an RFC 3339 timestamp"),
            "{err}"
        );
        event["time"] = json!("2026-12-03T01:00:00");
        assert!(parse_scheduled(&event)
            .unwrap_err()
            .to_string()
            .contains("time"));
    }

    #[test]
    fn command_status_samples_parse_with_array_parameters() {
        let raw: Value =
            serde_json::from_str(include_str!("../../events/command-status-failed.json")).unwrap();
        let event = parse_command_status(&raw).unwrap();
        assert_eq!(event.detail.document_name, "AWS-RunPatchBaseline");
        assert_eq!(event.detail.status, "Failed");
        assert_eq!(
            event.detail.parameters["Operation"],
            vec!["Install".to_owned()]
        );
        assert_eq!(detail_type(&raw), Some(COMMAND_STATUS_CHANGE));
        let mut running = raw.clone();
        running["detail"]["status"] = json!("InProgress");
        assert!(matches!(
            parse_command_status(&running),
            Err(EventError::Irrelevant(_))
        ));
        let mut flat = raw.clone();
        flat["detail"]["parameters"] = json!({"Operation": "Install"});
        assert!(matches!(
            parse_command_status(&flat),
            Err(EventError::Malformed(_))
        ));
        let mut blank = raw;
        blank["detail"]["command-id"] = json!(" ");
        assert_eq!(
            parse_command_status(&blank),
            Err(EventError::MissingField("detail.command-id"))
        );
    }

    #[test]
    fn window_execution_sample_parses_and_non_final_is_irrelevant() {
        let raw: Value =
            serde_json::from_str(include_str!("../../events/window-execution.json")).unwrap();
        let event = parse_window_execution(&raw).unwrap();
        assert_eq!(event.detail.status, "SUCCESS");
        assert!(event.detail.window_id.starts_with("mw-"));
        // CANCELLING is followed by CANCELLED: only the latter is reported.
        for status in ["IN_PROGRESS", "PENDING", "CANCELLING"] {
            let mut started = raw.clone();
            started["detail"]["status"] = json!(status);
            assert!(
                matches!(
                    parse_window_execution(&started),
                    Err(EventError::Irrelevant(_))
                ),
                "{status}"
            );
        }
    }
}
