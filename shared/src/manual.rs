//! Manual requests: people turn live patching on, or off, for instances they name, by sending an
//! EventBridge event (`source` [`MANUAL_SOURCE`], `detail-type` [`MANUAL_REQUEST`]):
//!
//! ```json
//! {"action": "enable", "instance-ids": ["i-0123456789abcdef0"]}
//! {"action": "disable", "instance-ids": ["i-0123456789abcdef0", "i-0123456789abcdef1"],
//!  "confirm": "DISABLE LIVE PATCHING ON 2 INSTANCES", "now": false, "window-start": "2026-12-06T03:00:00Z"}
//! ```
//!
//! A disable must carry `confirm` spelled exactly as [`confirmation_phrase`] gives it for the
//! number of instances named, so that it is never sent by accident (an edited enable request, a
//! list changed after confirming). Unknown fields are refused, so a typo never silently drops an option.

use jiff::Timestamp;
use livepatch_domain::enable::check_window_start;
use livepatch_domain::InstanceId;
use serde::Deserialize;
use serde_json::Value;

use crate::events::{parse_envelope, Envelope, EventError};

pub const MANUAL_SOURCE: &str = "livepatch-autopilot.manual";
pub const MANUAL_REQUEST: &str = "Live Patching Request";
/// A request names at most this many instances (one Run Command call).
pub const MAX_INSTANCES: usize = 50;
/// A refusal lists at most this many offending entries, each cut to [`MAX_ENTRY_CHARS`], so that a
/// huge bad event never makes a message beyond what SNS (and a reader) takes.
pub const MAX_LISTED: usize = 10;
pub const MAX_ENTRY_CHARS: usize = 64;

/// `text` cut to `max` characters, marked with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// At most [`MAX_LISTED`] entries, each cut to `max` characters, then "and N more".
fn listed(entries: &[String], separator: &str, max: usize) -> String {
    let mut text = entries
        .iter()
        .take(MAX_LISTED)
        .map(|e| cut(e, max))
        .collect::<Vec<_>>()
        .join(separator);
    if entries.len() > MAX_LISTED {
        text.push_str(&format!(" and {} more", entries.len() - MAX_LISTED));
    }
    text
}

/// What a disable request's `confirm` must say for `count` instances.
pub fn confirmation_phrase(count: usize) -> String {
    let plural = if count == 1 { "" } else { "S" };
    format!("DISABLE LIVE PATCHING ON {count} INSTANCE{plural}")
}

/// What was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualAction {
    Enable,
    /// `now`: AL2's reboot may happen at once; otherwise AL2 instances are booked into a window
    /// starting at `window_start` (or the next default slot).
    Disable {
        now: bool,
        window_start: Option<Timestamp>,
    },
}

/// A valid request: the action and the distinct instances it names, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualRequest {
    pub action: ManualAction,
    pub instance_ids: Vec<InstanceId>,
}

/// Why a manual request is refused. Nothing is sent for a refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the request's detail is malformed: {}", cut(.0, 200))]
    Malformed(String),
    #[error("action must be \"enable\" or \"disable\", not {}", cut(.0, MAX_ENTRY_CHARS))]
    UnknownAction(String),
    #[error("instance-ids must list at least one instance id")]
    NoInstances,
    #[error("instance-ids lists {0} instances; a request may name at most 50")]
    TooMany(usize),
    #[error("instance-ids has entries that are not instance ids: {}", listed(.0, ", ", MAX_ENTRY_CHARS))]
    InvalidIds(Vec<String>),
    #[error("a disable request must carry \"confirm\": {expected:?} (it reboots Amazon Linux 2 instances)")]
    MissingConfirmation { expected: String },
    #[error("confirm is {:?}; disabling these instances needs exactly {expected:?}", cut(.got, MAX_ENTRY_CHARS))]
    WrongConfirmation { expected: String, got: String },
    #[error("{0} applies to disable requests only")]
    NotForEnable(&'static str),
    #[error("{}", cut(.0, 200))]
    BadWindow(String),
    /// Entries are "id: why", written by the function: the reason may run longer than a bad id.
    #[error("instances out of scope, nothing was sent: {}", listed(.0, "; ", 2 * MAX_ENTRY_CHARS))]
    OutOfScope(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Detail {
    action: Option<Value>,
    instance_ids: Option<Value>,
    confirm: Option<String>,
    now: Option<bool>,
    window_start: Option<String>,
}

/// Whether `raw` claims to be a manual request (then [`parse_manual`] says whether it is one).
pub fn is_manual(raw: &Value) -> bool {
    raw.get("source").and_then(Value::as_str) == Some(MANUAL_SOURCE)
}

/// Checks the envelope; the detail is read by [`manual_request`].
pub fn parse_manual(raw: &Value) -> Result<Envelope<Value>, EventError> {
    parse_envelope(raw, MANUAL_REQUEST, MANUAL_SOURCE)
}

/// Reads and checks a request's detail; `now` is the event's time (for `window-start`).
pub fn manual_request(detail: &Value, now: Timestamp) -> Result<ManualRequest, Refusal> {
    let detail: Detail =
        serde_json::from_value(detail.clone()).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let disable = match &detail.action {
        Some(Value::String(a)) if a == "enable" => false,
        Some(Value::String(a)) if a == "disable" => true,
        Some(other) => return Err(Refusal::UnknownAction(other.to_string())),
        None => return Err(Refusal::UnknownAction("missing".into())),
    };
    let entries = match detail.instance_ids {
        None | Some(Value::Null) => return Err(Refusal::NoInstances),
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(Refusal::Malformed(format!(
                "instance-ids must be a list of instance ids, not {other}"
            )))
        }
    };
    let mut ids: Vec<InstanceId> = Vec::new();
    let mut invalid = Vec::new();
    for entry in &entries {
        match entry.as_str().map(str::parse::<InstanceId>) {
            Some(Ok(id)) if !ids.contains(&id) => ids.push(id),
            Some(Ok(_)) => {}
            _ => invalid.push(entry.to_string()),
        }
    }
    if !invalid.is_empty() {
        return Err(Refusal::InvalidIds(invalid));
    }
    if ids.is_empty() {
        return Err(Refusal::NoInstances);
    }
    if ids.len() > MAX_INSTANCES {
        return Err(Refusal::TooMany(ids.len()));
    }
    if !disable {
        for (field, present) in [
            ("confirm", detail.confirm.is_some()),
            ("now", detail.now.is_some()),
            ("window-start", detail.window_start.is_some()),
        ] {
            if present {
                return Err(Refusal::NotForEnable(field));
            }
        }
        return Ok(ManualRequest {
            action: ManualAction::Enable,
            instance_ids: ids,
        });
    }
    let expected = confirmation_phrase(ids.len());
    match detail.confirm {
        None => return Err(Refusal::MissingConfirmation { expected }),
        Some(got) if got != expected => return Err(Refusal::WrongConfirmation { expected, got }),
        Some(_) => {}
    }
    let now_flag = detail.now.unwrap_or(false);
    let window_start = match detail.window_start {
        None => None,
        Some(_) if now_flag => {
            return Err(Refusal::BadWindow(
                "window-start and \"now\": true contradict each other".into(),
            ))
        }
        Some(text) => {
            let start = text.parse::<Timestamp>().map_err(|_| {
                Refusal::BadWindow(format!(
                    "window-start {text:?} is not an RFC 3339 time such as 2026-12-06T03:00:00Z"
                ))
            })?;
            Some(check_window_start(now, start).map_err(Refusal::BadWindow)?)
        }
    };
    Ok(ManualRequest {
        action: ManualAction::Disable {
            now: now_flag,
            window_start,
        },
        instance_ids: ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-12-03T09:00:00Z".parse().unwrap()
    }

    fn sample(name: &str) -> Value {
        let text = match name {
            "enable" => include_str!("../../events/manual-enable.json"),
            _ => include_str!("../../events/manual-disable.json"),
        };
        serde_json::from_str(text).unwrap()
    }

    const A: &str = "i-0f3a9c2e41b7d5a08";
    const B: &str = "i-0f3a9c2e41b7d5a03";

    #[test]
    fn the_samples_are_valid_requests() {
        let enable = sample("enable");
        assert!(is_manual(&enable));
        let envelope = parse_manual(&enable).unwrap();
        let request = manual_request(&envelope.detail, envelope.time).unwrap();
        assert_eq!(request.action, ManualAction::Enable);
        assert_eq!(request.instance_ids[0].as_str(), A);
        let disable = sample("disable");
        let envelope = parse_manual(&disable).unwrap();
        let request = manual_request(&envelope.detail, envelope.time).unwrap();
        assert!(matches!(
            request.action,
            ManualAction::Disable { now: false, .. }
        ));
    }

    #[test]
    fn the_confirmation_counts_the_instances() {
        assert_eq!(
            confirmation_phrase(1),
            "DISABLE LIVE PATCHING ON 1 INSTANCE"
        );
        assert_eq!(
            confirmation_phrase(2),
            "DISABLE LIVE PATCHING ON 2 INSTANCES"
        );
        let ok = json!({"action": "disable", "instance-ids": [A, B, A], "confirm": "DISABLE LIVE PATCHING ON 2 INSTANCES", "now": true});
        let request = manual_request(&ok, now()).unwrap();
        assert_eq!(request.instance_ids.len(), 2, "duplicates count once");
        assert_eq!(
            request.action,
            ManualAction::Disable {
                now: true,
                window_start: None
            }
        );
    }

    #[test]
    fn a_disable_without_the_exact_confirmation_is_refused_naming_it() {
        let missing = json!({"action": "disable", "instance-ids": [A]});
        let err = manual_request(&missing, now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a disable request must carry \"confirm\": \"DISABLE LIVE PATCHING ON 1 INSTANCE\" (it reboots Amazon Linux 2 instances)"
        );
        for wrong in [
            "yes",
            "disable live patching on 1 instance",
            "DISABLE LIVE PATCHING ON 2 INSTANCES",
        ] {
            let request = json!({"action": "disable", "instance-ids": [A], "confirm": wrong});
            assert!(
                matches!(
                    manual_request(&request, now()),
                    Err(Refusal::WrongConfirmation { .. })
                ),
                "{wrong}"
            );
        }
    }

    #[test]
    fn empty_invalid_or_oversized_lists_are_refused() {
        for (detail, expected) in [
            (json!({"action": "enable"}), Refusal::NoInstances),
            (
                json!({"action": "enable", "instance-ids": []}),
                Refusal::NoInstances,
            ),
            (
                json!({"action": "enable", "instance-ids": null}),
                Refusal::NoInstances,
            ),
            (
                json!({"action": "enable", "instance-ids": [A, "i-XYZ", 7]}),
                Refusal::InvalidIds(vec!["\"i-XYZ\"".into(), "7".into()]),
            ),
        ] {
            assert_eq!(manual_request(&detail, now()), Err(expected), "{detail}");
        }
        let many: Vec<String> = (0..51).map(|n| format!("i-{n:017x}")).collect();
        assert_eq!(
            manual_request(&json!({"action": "enable", "instance-ids": many}), now()),
            Err(Refusal::TooMany(51))
        );
        let text = manual_request(
            &json!({"action": "enable", "instance-ids": "i-0f3a9c2e41b7d5a08"}),
            now(),
        )
        .unwrap_err()
        .to_string();
        assert!(text.contains("must be a list"), "{text}");
    }

    #[test]
    fn a_huge_bad_request_is_refused_with_a_short_message() {
        let long = "x".repeat(100_000);
        let mut entries: Vec<Value> = (0..40).map(|n| json!(format!("i-bad{n}{long}"))).collect();
        entries.push(json!({"nested": long}));
        let text = manual_request(&json!({"action": "enable", "instance-ids": entries}), now())
            .unwrap_err()
            .to_string();
        assert!(text.len() < 1000, "{} chars", text.len());
        assert!(
            text.ends_with(" and 31 more"),
            "{}",
            &text[text.len() - 40..]
        );
        assert_eq!(text.matches("i-bad").count(), 10);
        let ids: Vec<String> = (0..50).map(|n| format!("i-{n:017x}: {long}")).collect();
        let text = Refusal::OutOfScope(ids).to_string();
        assert!(
            text.len() < 2000 && text.ends_with(" and 40 more"),
            "{}",
            text.len()
        );
        for detail in [
            json!({"action": long, "instance-ids": [A]}),
            json!({"action": "disable", "instance-ids": [A], "confirm": long}),
            json!({"action": "enable", "instance-ids": [A], long.clone(): 1}),
            json!({"action": "disable", "instance-ids": [A], "confirm": confirmation_phrase(1), "window-start": long}),
        ] {
            let text = manual_request(&detail, now()).unwrap_err().to_string();
            assert!(text.len() < 400, "{} chars: {}", text.len(), &text[..100]);
        }
    }

    #[test]
    fn unknown_actions_fields_and_enable_options_are_refused() {
        for detail in [
            json!({"action": "toggle", "instance-ids": [A]}),
            json!({"action": 1, "instance-ids": [A]}),
            json!({"instance-ids": [A]}),
        ] {
            assert!(
                matches!(
                    manual_request(&detail, now()),
                    Err(Refusal::UnknownAction(_))
                ),
                "{detail}"
            );
        }
        let typo = json!({"action": "enable", "instance_ids": [A]});
        let err = manual_request(&typo, now()).unwrap_err().to_string();
        assert!(err.contains("instance_ids"), "{err}");
        for field in ["confirm", "now", "window-start"] {
            let mut detail = json!({"action": "enable", "instance-ids": [A]});
            detail[field] = if field == "now" {
                json!(true)
            } else {
                json!("x")
            };
            assert_eq!(
                manual_request(&detail, now()),
                Err(Refusal::NotForEnable(field))
            );
        }
    }

    #[test]
    fn a_window_start_must_be_readable_ahead_and_not_with_now() {
        let base = |start: &str, now_flag: bool| json!({"action": "disable", "instance-ids": [A], "confirm": confirmation_phrase(1), "window-start": start, "now": now_flag});
        let ok = manual_request(&base("2026-12-04T03:00:00Z", false), now()).unwrap();
        assert_eq!(
            ok.action,
            ManualAction::Disable {
                now: false,
                window_start: Some("2026-12-04T03:00:00Z".parse().unwrap())
            }
        );
        for (start, now_flag) in [
            ("tomorrow", false),
            ("2026-12-03T09:05:00Z", false),
            ("2026-12-04T03:00:00Z", true),
        ] {
            assert!(
                matches!(
                    manual_request(&base(start, now_flag), now()),
                    Err(Refusal::BadWindow(_))
                ),
                "{start}"
            );
        }
    }

    #[test]
    fn envelopes_of_other_kinds_are_not_manual_requests() {
        let mut event = sample("enable");
        event["detail-type"] = json!("Scheduled Event");
        assert!(matches!(
            parse_manual(&event),
            Err(EventError::WrongKind { .. })
        ));
        assert!(!is_manual(&json!({"source": "aws.events"})));
    }
}
