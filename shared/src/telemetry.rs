//! Metrics as CloudWatch Embedded Metric Format lines (logging is set up by `lambda_runtime::tracing`).

use jiff::Timestamp;
use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric the product emits.
pub const METRICS_NAMESPACE: &str = "LivepatchAutopilot";

/// One EMF line: counts for `function`, which CloudWatch turns into metrics without an API call.
pub fn metrics_line(function: &str, now: Timestamp, counts: &[(&str, u64)]) -> String {
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.as_millisecond(),
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": counts.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        }),
    );
    root.insert("Function".into(), Value::from(function));
    for (name, value) in counts {
        root.insert((*name).into(), Value::from(*value));
    }
    Value::Object(root).to_string()
}

/// Prints the EMF line on stdout, where Lambda's log capture picks it up.
pub fn emit_metrics(function: &str, now: Timestamp, counts: &[(&str, u64)]) {
    println!("{}", metrics_line(function, now, counts));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_each_count() {
        let now: Timestamp = "2026-12-03T01:00:00Z".parse().unwrap();
        let line: Value = serde_json::from_str(&metrics_line(
            "scan",
            now,
            &[("InstancesScanned", 9), ("InstancesSkipped", 3)],
        ))
        .unwrap();
        assert_eq!(line["_aws"]["Timestamp"], 1_796_259_600_000i64);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            METRICS_NAMESPACE
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Name"],
            "InstancesSkipped"
        );
        assert_eq!(line["Function"], "scan");
        assert_eq!(line["InstancesScanned"], 9);
    }
}
