//! The optional queue consumer in `template.yaml`: off by default, built
//! like the destination, fed by the queue with partial batch failures, a
//! batch that fits its timeout, a visibility timeout that follows AWS's
//! guidance, and read-only access to exactly the queue and the payload
//! prefix.

mod support;

use serde_json::{Value, json};
use support::template::template;

fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    let resource = &template["Resources"][name];
    assert!(resource.is_object(), "template.yaml has no {name}");
    resource
}

fn number(value: &Value, what: &str) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

#[test]
fn the_consumer_is_optional_and_off_by_default() {
    let template = template();
    let parameter = &template["Parameters"]["EnableConsumer"];
    assert_eq!(parameter["Default"], "false");
    assert_eq!(parameter["AllowedValues"], json!(["true", "false"]));
    assert_eq!(
        template["Conditions"]["HasConsumer"],
        json!({"Fn::Equals": [{"Ref": "EnableConsumer"}, "true"]})
    );
    for name in [
        "RedoxConsumerFunction",
        "RedoxConsumerQueueMapping",
        "RedoxConsumerLogGroup",
    ] {
        assert_eq!(
            resource(&template, name)["Condition"],
            "HasConsumer",
            "{name} must exist only when the consumer is enabled"
        );
    }
}

#[test]
fn the_consumer_is_built_and_run_like_the_destination() {
    let template = template();
    let consumer = resource(&template, "RedoxConsumerFunction");
    let destination = resource(&template, "RedoxDestinationFunction");
    assert_eq!(consumer["Type"], "AWS::Serverless::Function");
    assert_eq!(
        consumer["Metadata"],
        json!({"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "redox-consumer"}})
    );
    assert_eq!(
        consumer["Metadata"]["BuildMethod"],
        destination["Metadata"]["BuildMethod"]
    );
    for property in ["CodeUri", "Handler", "Runtime", "Architectures"] {
        assert_eq!(
            consumer["Properties"][property], destination["Properties"][property],
            "{property}"
        );
    }
    assert_eq!(
        consumer["Properties"]["Environment"]["Variables"]["REDOX_PAYLOAD_BUCKET"],
        json!({"Ref": "PayloadBucket"})
    );
    // A SAM SQS event would attach AWSLambdaSQSQueueExecutionRole (every queue).
    assert!(consumer["Properties"]["Events"].is_null());
}

#[test]
fn the_mapping_reports_partial_failures_and_its_batch_fits_the_timeout() {
    let template = template();
    let consumer = &resource(&template, "RedoxConsumerFunction")["Properties"];
    let mapping = resource(&template, "RedoxConsumerQueueMapping");
    assert_eq!(mapping["Type"], "AWS::Lambda::EventSourceMapping");
    let properties = &mapping["Properties"];
    assert_eq!(
        properties["EventSourceArn"],
        json!({"Fn::GetAtt": ["RedoxQueue", "Arn"]})
    );
    assert_eq!(
        properties["FunctionName"],
        json!({"Ref": "RedoxConsumerFunction"})
    );
    assert_eq!(
        properties["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );

    let timeout = number(&consumer["Timeout"], "Timeout");
    let batch = number(&properties["BatchSize"], "BatchSize");
    let window = number(
        &properties["MaximumBatchingWindowInSeconds"],
        "MaximumBatchingWindowInSeconds",
    );
    let fetch_ms = number(
        &consumer["Environment"]["Variables"]["REDOX_AWS_TIMEOUT_MS"],
        "REDOX_AWS_TIMEOUT_MS",
    );
    assert!(
        batch * fetch_ms < timeout * 1000,
        "{batch} records at up to {fetch_ms} ms each do not fit a {timeout} s timeout"
    );

    // AWS: the source queue's visibility timeout at least six times the
    // function's timeout plus the batching window; the queue keeps SQS's
    // default when the consumer is off.
    let visibility = &resource(&template, "RedoxQueue")["Properties"]["VisibilityTimeout"];
    let when_on = &visibility["Fn::If"];
    assert_eq!(when_on[0], "HasConsumer");
    assert_eq!(when_on[2], json!({"Ref": "AWS::NoValue"}));
    let seconds = number(&when_on[1], "VisibilityTimeout");
    assert!(
        seconds >= 6 * timeout + window,
        "visibility timeout {seconds} s is under 6 x {timeout} + {window} s"
    );
}

#[test]
fn the_consumer_may_only_read_the_queue_and_the_payload_prefix() {
    let template = template();
    let policies = &resource(&template, "RedoxConsumerFunction")["Properties"]["Policies"];
    let statements: Vec<&Value> = policies
        .as_array()
        .expect("inline policies")
        .iter()
        .flat_map(|p| p["Statement"].as_array().expect("statements"))
        .collect();
    let actions = |statement: &Value| -> Vec<String> {
        match &statement["Action"] {
            Value::String(one) => vec![one.clone()],
            many => many
                .as_array()
                .expect("actions")
                .iter()
                .map(|a| a.as_str().expect("action").to_owned())
                .collect(),
        }
    };
    assert_eq!(statements.len(), 2, "{statements:?}");
    for statement in &statements {
        assert_eq!(statement["Effect"], "Allow");
        let actions = actions(statement);
        if actions.iter().all(|a| a.starts_with("sqs:")) {
            assert_eq!(
                actions,
                [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes"
                ]
            );
            assert_eq!(
                statement["Resource"],
                json!({"Fn::GetAtt": ["RedoxQueue", "Arn"]})
            );
        } else {
            assert_eq!(actions, ["s3:GetObject"]);
            assert_eq!(
                statement["Resource"],
                json!({"Fn::Sub": "${PayloadBucket.Arn}/redox/*"})
            );
        }
    }
    // No KMS permission is needed only while neither store uses a KMS key.
    let queue = &resource(&template, "RedoxQueue")["Properties"];
    assert_eq!(queue["SqsManagedSseEnabled"], true);
    assert!(queue["KmsMasterKeyId"].is_null());
    let encryption = &resource(&template, "PayloadBucket")["Properties"]["BucketEncryption"];
    assert_eq!(
        encryption["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "AES256"
    );
}

#[test]
fn the_consumer_follows_pointers_only_where_the_destination_writes_them() {
    let template = template();
    let consumer = &resource(&template, "RedoxConsumerFunction")["Properties"];
    let destination = &resource(&template, "RedoxDestinationFunction")["Properties"];
    let consumer_env = &consumer["Environment"]["Variables"];
    let destination_env = &destination["Environment"]["Variables"];
    for variable in ["REDOX_PAYLOAD_BUCKET", "REDOX_PAYLOAD_PREFIX"] {
        assert!(
            !consumer_env[variable].is_null(),
            "the consumer has no {variable}"
        );
        assert_eq!(
            consumer_env[variable], destination_env[variable],
            "{variable} differs between the destination and the consumer"
        );
    }
    // Its role reads exactly that prefix.
    let prefix = consumer_env["REDOX_PAYLOAD_PREFIX"]
        .as_str()
        .expect("a literal prefix");
    let reads = consumer["Policies"]
        .as_array()
        .expect("inline policies")
        .iter()
        .flat_map(|p| p["Statement"].as_array().expect("statements"))
        .find(|statement| statement["Action"] == "s3:GetObject")
        .expect("an s3:GetObject statement");
    assert_eq!(
        reads["Resource"],
        json!({"Fn::Sub": format!("${{PayloadBucket.Arn}}/{prefix}*")})
    );
    // A batch is answered before the function's timeout.
    let margin_ms = number(
        &consumer_env["REDOX_DEADLINE_MARGIN_MS"],
        "REDOX_DEADLINE_MARGIN_MS",
    );
    let timeout = number(&consumer["Timeout"], "Timeout");
    assert!(0 < margin_ms && margin_ms < timeout * 1000);
}
