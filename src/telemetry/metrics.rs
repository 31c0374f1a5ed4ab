//! Metrics in CloudWatch Embedded Metric Format (EMF): the request's log
//! line, extended with an `_aws` directive, becomes metrics in CloudWatch
//! with no API call and no extra permission. `template.yaml`'s alarms and
//! dashboard read these names: change them together.
//!
//! [`RequestMetrics`] holds what one request measured; [`emf_record`] turns
//! it and the log fields into one EMF JSON object. Dimensions are few and
//! bounded (`Outcome`, `AuthMethod`, `Dependency`): never a log id, message
//! id, client id or principal. This module owns the format only; it does no
//! I/O and reads no clock.

use serde_json::{Map, Value, json};

/// Default CloudWatch namespace (`REDOX_METRICS_NAMESPACE`).
pub const DEFAULT_NAMESPACE: &str = "RedoxDestination";

/// The service whose failure made a request fail with a 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Sqs,
    S3,
    SecretsManager,
    Jwks,
    /// Google's token-info endpoint (the `google` method's access tokens).
    GoogleTokenInfo,
    /// The local spool folder (local server only).
    Spool,
}

impl Dependency {
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Sqs => "SQS",
            Dependency::S3 => "S3",
            Dependency::SecretsManager => "SecretsManager",
            Dependency::Jwks => "JWKS",
            Dependency::GoogleTokenInfo => "GoogleTokenInfo",
            Dependency::Spool => "Spool",
        }
    }
}

/// What one request measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMetrics<'a> {
    /// `queued`, `verified`, `token_issued`, `jwks_served`, or the refusal code.
    pub outcome: &'a str,
    pub status: u16,
    pub auth_method: Option<&'a str>,
    /// Set for 5xx answers caused by a dependency.
    pub dependency: Option<Dependency>,
    pub latency_ms: f64,
    pub body_bytes: usize,
    pub offloaded: bool,
}

/// The metrics every record declares, with their units.
const METRICS: [(&str, &str); 6] = [
    ("Requests", "Count"),
    ("Latency", "Milliseconds"),
    ("BodyBytes", "Bytes"),
    ("Offloaded", "Count"),
    // The function's own 4xx and 5xx answers: the template's alarms subtract
    // them from the Function URL's counts to see what AWS refused itself.
    ("ClientErrors", "Count"),
    ("ServerErrors", "Count"),
];

/// One EMF record: `fields` (the log line's own fields) plus the metric
/// values, the dimension values and the `_aws` directive. Dimension sets:
/// none (totals), `Outcome`, and `AuthMethod` / `Dependency` when known, so
/// every declared dimension is present at the root.
pub fn emf_record(
    namespace: &str,
    timestamp_ms: u64,
    metrics: &RequestMetrics<'_>,
    mut fields: Map<String, Value>,
) -> Value {
    let mut dimension_sets: Vec<Value> = vec![json!([]), json!(["Outcome"])];
    fields.insert("Outcome".into(), metrics.outcome.into());
    if let Some(method) = metrics.auth_method {
        fields.insert("AuthMethod".into(), method.into());
        dimension_sets.push(json!(["AuthMethod"]));
    }
    if let Some(dependency) = metrics.dependency {
        fields.insert("Dependency".into(), dependency.as_str().into());
        dimension_sets.push(json!(["Dependency"]));
    }
    // 501 is a refusal of the request, not a failure of ours.
    let server_error = metrics.status >= 500 && metrics.status != 501;
    fields.insert("Requests".into(), 1.into());
    fields.insert("Latency".into(), json!(metrics.latency_ms));
    fields.insert("BodyBytes".into(), metrics.body_bytes.into());
    fields.insert("Offloaded".into(), u8::from(metrics.offloaded).into());
    fields.insert("ServerErrors".into(), u8::from(server_error).into());
    let client_error = (400..500).contains(&metrics.status);
    fields.insert("ClientErrors".into(), u8::from(client_error).into());
    let declared: Vec<Value> = METRICS
        .iter()
        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    fields.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": dimension_sets,
                "Metrics": declared,
            }],
        }),
    );
    Value::Object(fields)
}

/// Checks a record against the EMF specification: the `_aws` object
/// with an integer `Timestamp` and a `CloudWatchMetrics` array of
/// directives, each with a `Namespace` string, `Dimensions` (arrays of
/// at most 30 dimension names, each a string value at the root) and
/// `Metrics` (at most 100, each `Name` a number at the root, `Unit` one
/// of CloudWatch's units). Returns the first violation.
pub fn check_emf(record: &Value) -> Result<(), String> {
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let root = record.as_object().ok_or("the record is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    aws.get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or("_aws.Timestamp is not a whole number of milliseconds")?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    if directives.is_empty() {
        return Err("no metric directive".into());
    }
    for directive in directives {
        let namespace = directive["Namespace"]
            .as_str()
            .ok_or("Namespace is not a string")?;
        if namespace.is_empty() || namespace.len() > 255 {
            return Err("Namespace must be 1-255 characters".into());
        }
        let sets = directive["Dimensions"]
            .as_array()
            .ok_or("Dimensions is not an array")?;
        for set in sets {
            let names = set.as_array().ok_or("a dimension set is not an array")?;
            if names.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for name in names {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                if !root.get(name).is_some_and(Value::is_string) {
                    return Err(format!("dimension {name} is not a string at the root"));
                }
            }
        }
        let metrics = directive["Metrics"]
            .as_array()
            .ok_or("Metrics is not an array")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err("Metrics must hold 1-100 definitions".into());
        }
        for metric in metrics {
            let name = metric["Name"].as_str().ok_or("a metric has no Name")?;
            if !root.get(name).is_some_and(Value::is_number) {
                return Err(format!("metric {name} is not a number at the root"));
            }
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().ok_or("a Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("unknown unit {unit}"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(outcome: &str, status: u16) -> RequestMetrics<'_> {
        RequestMetrics {
            outcome,
            status,
            auth_method: None,
            dependency: None,
            latency_ms: 1.25,
            body_bytes: 42,
            offloaded: false,
        }
    }

    #[test]
    fn every_kind_of_record_follows_the_specification() {
        let queued = RequestMetrics {
            auth_method: Some("token"),
            offloaded: true,
            ..metrics("queued", 200)
        };
        let failed = RequestMetrics {
            dependency: Some(Dependency::Sqs),
            ..metrics("queue_unavailable", 503)
        };
        for record in [
            emf_record(DEFAULT_NAMESPACE, 1, &queued, Map::new()),
            emf_record(DEFAULT_NAMESPACE, 1, &failed, Map::new()),
            emf_record("Custom/NS", 1, &metrics("unauthorized", 401), Map::new()),
        ] {
            check_emf(&record).unwrap_or_else(|why| panic!("{why}: {record}"));
        }
        let record = emf_record(DEFAULT_NAMESPACE, 7, &queued, Map::new());
        assert_eq!(record["Outcome"], "queued");
        assert_eq!(record["AuthMethod"], "token");
        assert_eq!(record["Offloaded"], 1);
        assert_eq!(record["ServerErrors"], 0);
        assert_eq!(record["_aws"]["Timestamp"], 7);
        let failed = emf_record(DEFAULT_NAMESPACE, 7, &failed, Map::new());
        assert_eq!(failed["Dependency"], "SQS");
        assert_eq!(failed["ServerErrors"], 1);
        assert_eq!(failed["ClientErrors"], 0);
        let refused = emf_record(
            DEFAULT_NAMESPACE,
            7,
            &metrics("unauthorized", 401),
            Map::new(),
        );
        assert_eq!(refused["ClientErrors"], 1);
        assert_eq!(
            failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[], ["Outcome"], ["Dependency"]])
        );
    }

    #[test]
    fn the_checker_refuses_a_dimension_missing_at_the_root() {
        let mut record = emf_record(DEFAULT_NAMESPACE, 1, &metrics("queued", 200), Map::new());
        record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([["AuthMethod"]]);
        assert!(check_emf(&record).is_err());
        let mut record = emf_record(DEFAULT_NAMESPACE, 1, &metrics("queued", 200), Map::new());
        record.as_object_mut().unwrap().remove("Latency");
        assert!(check_emf(&record).is_err());
    }

    #[test]
    fn the_log_fields_are_kept_and_a_501_is_not_a_server_error() {
        let mut fields = Map::new();
        fields.insert("redox_log_id".into(), "log-1".into());
        let record = emf_record(
            DEFAULT_NAMESPACE,
            1,
            &metrics("sync_query_not_supported", 501),
            fields,
        );
        assert_eq!(record["redox_log_id"], "log-1");
        assert_eq!(record["ServerErrors"], 0);
        let dimensions = record["_aws"]["CloudWatchMetrics"][0]["Dimensions"].to_string();
        assert!(!dimensions.contains("redox_log_id"));
    }
}
