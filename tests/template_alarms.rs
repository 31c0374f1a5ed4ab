//! The operator's signals in `template.yaml`: every alarm issue 14 names
//! exists, watches the right metric of the right resource, and notifies the
//! alarm topic; the function publishes its metrics in the namespace the
//! alarms read; the dashboard covers the function, the queue and the DLQ.
//!
//! The template is decoded by cfn-lint's own parser ([`support::template`]).

mod support;

use serde_json::{Value, json};
use support::template::template;

fn alarm<'a>(template: &'a Value, name: &str) -> &'a Value {
    let resource = &template["Resources"][name];
    assert_eq!(
        resource["Type"], "AWS::CloudWatch::Alarm",
        "{name} is not an alarm"
    );
    let properties = &resource["Properties"];
    assert_eq!(
        properties["AlarmActions"],
        json!([{"Ref": "AlarmTopic"}]),
        "{name} must notify the alarm topic"
    );
    let description = properties["AlarmDescription"].to_string();
    assert!(
        description.len() > 80,
        "{name} needs a description that says what it means and what to do"
    );
    properties
}

/// The single-metric alarm's namespace, metric and dimensions.
fn watches(properties: &Value, namespace: Value, metric: &str, dimensions: Value) {
    assert_eq!(properties["Namespace"], namespace);
    assert_eq!(properties["MetricName"], metric);
    assert_eq!(properties["Dimensions"], dimensions);
}

fn function_dimension() -> Value {
    json!([{"Name": "FunctionName", "Value": {"Ref": "RedoxDestinationFunction"}}])
}

fn queue_dimension(queue: &str) -> Value {
    json!([{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}])
}

#[test]
fn every_alarm_watches_its_metric_and_notifies_the_topic() {
    let template = template();
    let own = json!({"Ref": "MetricsNamespace"});

    let dlq = alarm(&template, "DeadLetterQueueAlarm");
    watches(
        dlq,
        json!("AWS/SQS"),
        "ApproximateNumberOfMessagesVisible",
        queue_dimension("RedoxDeadLetterQueue"),
    );
    assert_eq!(dlq["Threshold"], 0);
    assert_eq!(dlq["ComparisonOperator"], "GreaterThanThreshold");

    let age = alarm(&template, "OldestMessageAgeAlarm");
    watches(
        age,
        json!("AWS/SQS"),
        "ApproximateAgeOfOldestMessage",
        queue_dimension("RedoxQueue"),
    );
    assert_eq!(age["Threshold"], json!({"Ref": "QueueAgeAlarmSeconds"}));

    for (name, metric) in [
        ("FunctionErrorsAlarm", "Errors"),
        ("FunctionThrottlesAlarm", "Throttles"),
    ] {
        let properties = alarm(&template, name);
        watches(
            properties,
            json!("AWS/Lambda"),
            metric,
            function_dimension(),
        );
    }

    for (name, url_metric, own_metric) in [
        ("UrlClientErrorsAlarm", "Url4xxCount", "ClientErrors"),
        ("UrlServerErrorsAlarm", "Url5xxCount", "ServerErrors"),
    ] {
        let properties = alarm(&template, name);
        let metrics = properties["Metrics"].as_array().expect("metric math");
        let stat = |id: &str| {
            metrics
                .iter()
                .find(|m| m["Id"] == id)
                .unwrap_or_else(|| panic!("{name} has no {id} metric"))["MetricStat"]["Metric"]
                .clone()
        };
        assert_eq!(
            stat("url"),
            json!({"Namespace": "AWS/Lambda", "MetricName": url_metric,
                   "Dimensions": function_dimension()})
        );
        assert_eq!(
            stat("own"),
            json!({"Namespace": own, "MetricName": own_metric})
        );
        let returned: Vec<&Value> = metrics.iter().filter(|m| m["ReturnData"] == true).collect();
        assert_eq!(returned.len(), 1, "{name} alarms on one expression");
        assert_eq!(returned[0]["Expression"], "FILL(url, 0) - FILL(own, 0)");
    }

    let unauthorized = alarm(&template, "UnauthorizedSpikeAlarm");
    watches(
        unauthorized,
        own.clone(),
        "Requests",
        json!([{"Name": "Outcome", "Value": "unauthorized"}]),
    );
    assert_eq!(
        unauthorized["Threshold"],
        json!({"Ref": "UnauthorizedAlarmThreshold"})
    );

    let outage = alarm(&template, "DependencyOutageAlarm");
    assert_eq!(outage["Namespace"], own);
    assert_eq!(outage["MetricName"], "ServerErrors");
    assert_eq!(outage["EvaluationPeriods"], 5);
    assert_eq!(outage["DatapointsToAlarm"], 5);
    assert_eq!(outage["Period"], 60);
}

#[test]
fn the_function_publishes_emf_in_the_namespace_the_alarms_read() {
    let template = template();
    let variables = &template["Resources"]["RedoxDestinationFunction"]["Properties"]["Environment"]
        ["Variables"];
    assert_eq!(variables["REDOX_METRICS"], "emf");
    assert_eq!(
        variables["REDOX_METRICS_NAMESPACE"],
        json!({"Ref": "MetricsNamespace"})
    );
    // EMF needs no permission beyond writing logs: no cloudwatch:PutMetricData.
    let policies =
        template["Resources"]["RedoxDestinationFunction"]["Properties"]["Policies"].to_string();
    assert!(!policies.contains("cloudwatch:"), "{policies}");
}

#[test]
fn the_topic_takes_an_optional_email_and_the_dashboard_covers_every_signal() {
    let template = template();
    let resources = &template["Resources"];
    assert_eq!(resources["AlarmTopic"]["Type"], "AWS::SNS::Topic");
    let subscription = &resources["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"], "HasAlarmEmail");
    assert_eq!(
        subscription["Properties"]["TopicArn"],
        json!({"Ref": "AlarmTopic"})
    );
    assert_eq!(template["Parameters"]["AlarmEmail"]["Default"], "");

    let body = resources["Dashboard"]["Properties"]["DashboardBody"].to_string();
    for metric in [
        "Requests",
        "Outcome",
        "AuthMethod",
        "Dependency",
        "Latency",
        "BodyBytes",
        "Offloaded",
        "Url4xxCount",
        "Url5xxCount",
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",
        "${DeadLetterQueue}",
    ] {
        assert!(
            body.contains(metric),
            "the dashboard does not show {metric}"
        );
    }
}
