//! The container front door, `deploy/container/template.yaml`: a Fargate
//! task that is read-only, non-root and logs EMF metrics as JSON; a service
//! that rolls back a failed deployment and scales on requests and CPU; an
//! internet-facing ALB that speaks HTTPS only (TLS 1.2+), drops invalid
//! headers, mitigates desync strictly, and times idle connections out before
//! the task does; a target group health-checked on `/healthz`; a task
//! reachable only from the ALB; a task role with exactly the Lambda's
//! permissions on the Lambda stack's own queue, bucket and secret (its
//! exports); and alarms on the Lambda stack's topic.
//!
//! Both templates are decoded by cfn-lint's own parser ([`support::template`]).

mod support;

use std::collections::BTreeMap;

use serde_json::{Value, json};
use support::template::{template, template_at};

const PATH: &str = "deploy/container/template.yaml";

fn container() -> Value {
    template_at(PATH)
}

fn resource<'a>(template: &'a Value, name: &str, kind: &str) -> &'a Value {
    let resource = &template["Resources"][name];
    assert_eq!(resource["Type"], kind, "{PATH} has no {kind} {name}");
    &resource["Properties"]
}

fn resources_of<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

fn import(export: &str) -> Value {
    json!({"Fn::ImportValue": {"Fn::Sub": format!("${{LambdaStackName}}-{export}")}})
}

fn the_container(template: &Value) -> &Value {
    let task = resource(template, "TaskDefinition", "AWS::ECS::TaskDefinition");
    let containers = task["ContainerDefinitions"].as_array().expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn environment(container: &Value) -> BTreeMap<String, Value> {
    container["Environment"]
        .as_array()
        .expect("Environment")
        .iter()
        .map(|e| {
            (
                e["Name"].as_str().expect("Name").to_string(),
                e["Value"].clone(),
            )
        })
        .collect()
}

fn attributes(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .expect("attributes")
        .iter()
        .map(|a| {
            (
                a["Key"].as_str().expect("Key").to_string(),
                a["Value"].as_str().expect("Value").to_string(),
            )
        })
        .collect()
}

#[test]
fn the_task_is_fargate_read_only_non_root_and_drains_before_it_is_killed() {
    let template = container();
    let task = resource(&template, "TaskDefinition", "AWS::ECS::TaskDefinition");
    assert_eq!(task["RequiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(task["NetworkMode"], "awsvpc");
    assert_eq!(task["Cpu"], json!({"Ref": "TaskCpu"}));
    assert_eq!(task["Memory"], json!({"Ref": "TaskMemory"}));
    assert_eq!(
        task["RuntimePlatform"]["CpuArchitecture"],
        json!({"Ref": "CpuArchitecture"})
    );
    assert_eq!(
        task["TaskRoleArn"],
        json!({"Fn::GetAtt": ["TaskRole", "Arn"]})
    );

    let container = the_container(&template);
    assert_eq!(container["Image"], json!({"Ref": "ImageUri"}));
    assert_eq!(container["ReadonlyRootFilesystem"], true);
    assert_eq!(container["User"], "65532:65532");
    assert_eq!(
        container["LinuxParameters"]["Capabilities"]["Drop"],
        json!(["ALL"])
    );
    assert!(container["Privileged"].is_null());
    assert_eq!(
        container["PortMappings"],
        json!([{"ContainerPort": 8080, "Protocol": "tcp"}])
    );
    let env = environment(container);
    let stop = number(&container["StopTimeout"]);
    let drain = number(&env["REDOX_DRAIN_TIMEOUT_SECS"]);
    assert!(
        drain < stop && stop <= 120,
        "SIGKILL ({stop} s after SIGTERM) must come after the drain ({drain} s), within Fargate's 120 s"
    );

    let logs = &container["LogConfiguration"];
    assert_eq!(logs["LogDriver"], "awslogs");
    assert_eq!(logs["Options"]["awslogs-group"], json!({"Ref": "LogGroup"}));
    assert_eq!(
        resource(&template, "LogGroup", "AWS::Logs::LogGroup")["RetentionInDays"],
        json!({"Ref": "LogRetentionDays"})
    );
}

#[test]
fn the_container_runs_server_mode_for_the_alb_with_the_lambda_stacks_resources() {
    let template = container();
    let env = environment(the_container(&template));
    for (name, value) in [
        ("REDOX_LISTEN", json!("0.0.0.0:8080")),
        ("REDOX_BEHIND_ALB", json!("true")),
        ("REDOX_MAX_BODY_BYTES", json!("47185920")),
        ("REDOX_REQUEST_TIMEOUT_MS", json!("60000")),
        ("REDOX_LOG_FORMAT", json!("json")),
        ("REDOX_METRICS", json!("emf")),
        (
            "REDOX_METRICS_NAMESPACE",
            json!({"Ref": "MetricsNamespace"}),
        ),
        ("REDOX_SECRET_ID", import("SecretArn")),
        ("REDOX_QUEUE_URL", import("QueueUrl")),
        ("REDOX_PAYLOAD_BUCKET", import("PayloadBucketName")),
        ("REDOX_AUTH_METHODS", json!({"Ref": "AuthMethods"})),
    ] {
        assert_eq!(env.get(name), Some(&value), "{name}");
    }
    // The issuer is the public HTTPS name, never `auto` (behind an ALB the
    // task would take it from the client's Host header).
    assert_eq!(
        env["REDOX_OAUTH_ISSUER"],
        json!({"Fn::If": ["HasOAuthTokenEndpoint", {"Fn::Sub": "https://${DomainName}"}, ""]})
    );
    assert!(!template.to_string().contains("\"auto\""));
    // An idle connection is closed by the ALB before the task closes it.
    let alb = attributes(
        &resource(
            &template,
            "LoadBalancer",
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
        )["LoadBalancerAttributes"],
    );
    let alb_idle: u64 = alb["idle_timeout.timeout_seconds"].parse().expect("idle");
    assert!(number(&env["REDOX_IDLE_TIMEOUT_SECS"]) > alb_idle);

    // Every setting the Lambda function has (but the Lambda-only ones), the
    // task has too, with the same value where it is not a parameter: the
    // two front doors must not drift apart.
    let lambda = template_lambda();
    let function = &lambda["Resources"]["RedoxDestinationFunction"]["Properties"];
    for (name, value) in function["Environment"]["Variables"]
        .as_object()
        .expect("function variables")
    {
        if ["REDOX_ALLOWED_PRINCIPALS", "REDOX_DEADLINE_MARGIN_MS"].contains(&name.as_str()) {
            continue; // the iam method and Lambda's invocation deadline
        }
        let ours = env
            .get(name)
            .unwrap_or_else(|| panic!("the task does not set {name}"));
        if value.is_string()
            && ![
                "REDOX_REQUEST_TIMEOUT_MS",
                "REDOX_AWS_TIMEOUT_MS",
                "REDOX_OAUTH_ISSUER",
            ]
            .contains(&name.as_str())
        {
            assert_eq!(ours, value, "{name} differs from the Lambda's");
        }
    }
}

fn template_lambda() -> Value {
    template()
}

fn statements(policy: &Value) -> BTreeMap<String, (Value, Value)> {
    policy["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| {
            assert_eq!(s["Effect"], "Allow");
            (
                s["Sid"].as_str().expect("Sid").to_string(),
                (s["Action"].clone(), s["Resource"].clone()),
            )
        })
        .collect()
}

#[test]
fn the_task_role_has_exactly_the_lambdas_permissions_on_its_exports() {
    let template = container();
    let lambda = template_lambda();
    let role = resource(&template, "TaskRole", "AWS::IAM::Role");
    assert!(
        role["ManagedPolicyArns"].is_null(),
        "no managed policy on the task role"
    );
    let policies = role["Policies"].as_array().expect("policies");
    assert_eq!(policies.len(), 1);
    let ours = statements(&policies[0]["PolicyDocument"]);
    let theirs =
        statements(&lambda["Resources"]["RedoxDestinationFunction"]["Properties"]["Policies"][0]);
    let actions = |s: &BTreeMap<String, (Value, Value)>| -> BTreeMap<String, Value> {
        s.iter().map(|(k, (a, _))| (k.clone(), a.clone())).collect()
    };
    assert_eq!(
        actions(&ours),
        actions(&theirs),
        "the same statements and actions"
    );
    assert_eq!(ours["ReadAuthMaterial"].1, import("SecretArn"));
    assert_eq!(ours["QueueAcceptedMessages"].1, import("QueueArn"));
    assert_eq!(
        ours["OffloadLargeBodies"].1,
        json!({"Fn::Sub": [
            "arn:${AWS::Partition}:s3:::${Bucket}/redox/*",
            {"Bucket": import("PayloadBucketName")}
        ]})
    );
    // The same prefix as the Lambda's role, lifecycle rule and setting.
    assert_eq!(
        theirs["OffloadLargeBodies"].1,
        json!({"Fn::Sub": "${PayloadBucket.Arn}/redox/*"})
    );
    let env = environment(the_container(&template));
    assert_eq!(
        env["REDOX_PAYLOAD_PREFIX"],
        lambda["Resources"]["RedoxDestinationFunction"]["Properties"]["Environment"]["Variables"]["REDOX_PAYLOAD_PREFIX"]
    );
    // No KMS statement because the Lambda stack uses none (SQS-managed
    // keys, SSE-S3): if it ever gets a key, the task needs it too.
    assert!(!lambda.to_string().contains("kms:"));
    assert!(!template.to_string().contains("kms:"));

    // Every import names an export of the Lambda stack, with the value the
    // task's statement is about.
    let exports: BTreeMap<String, Value> = lambda["Outputs"]
        .as_object()
        .expect("Outputs")
        .values()
        .filter_map(|o| {
            let name = o["Export"]["Name"]["Fn::Sub"].as_str()?;
            Some((
                name.strip_prefix("${AWS::StackName}-")?.to_string(),
                o["Value"].clone(),
            ))
        })
        .collect();
    for (export, value) in [
        ("SecretArn", json!({"Ref": "VerificationSecret"})),
        ("QueueUrl", json!({"Ref": "RedoxQueue"})),
        ("QueueArn", json!({"Fn::GetAtt": ["RedoxQueue", "Arn"]})),
        ("PayloadBucketName", json!({"Ref": "PayloadBucket"})),
        ("AlarmTopic", json!({"Ref": "AlarmTopic"})),
    ] {
        assert_eq!(exports.get(export), Some(&value), "export {export}");
    }
    let text = template.to_string();
    for imported in text.split("${LambdaStackName}-").skip(1) {
        let name: String = imported
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        assert!(
            exports.contains_key(&name),
            "{name} is not exported by template.yaml"
        );
    }
}

#[test]
fn the_alb_is_https_only_strict_and_health_checks_healthz() {
    let template = container();
    let alb = resource(
        &template,
        "LoadBalancer",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
    );
    assert_eq!(alb["Scheme"], "internet-facing");
    assert_eq!(alb["Type"], "application");
    let attributes = attributes(&alb["LoadBalancerAttributes"]);
    for (key, value) in [
        ("idle_timeout.timeout_seconds", "60"),
        ("routing.http.drop_invalid_header_fields.enabled", "true"),
        ("routing.http.desync_mitigation_mode", "strictest"),
        ("routing.http.xff_header_processing.mode", "append"),
        ("routing.http.preserve_host_header.enabled", "true"),
    ] {
        assert_eq!(
            attributes.get(key).map(String::as_str),
            Some(value),
            "{key}"
        );
    }

    // One listener: HTTPS on 443, TLS 1.2 or later; no plain HTTP at all.
    let listeners = resources_of(&template, "AWS::ElasticLoadBalancingV2::Listener");
    assert_eq!(listeners.len(), 1, "only the HTTPS listener");
    let https = &listeners[0].1["Properties"];
    assert_eq!(https["Port"], 443);
    assert_eq!(https["Protocol"], "HTTPS");
    assert_eq!(https["SslPolicy"], "ELBSecurityPolicy-TLS13-1-2-2021-06");
    assert_eq!(
        https["Certificates"],
        json!([{"CertificateArn": {"Ref": "CertificateArn"}}])
    );
    assert_eq!(
        https["DefaultActions"],
        json!([{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}])
    );

    let group = resource(
        &template,
        "TargetGroup",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
    );
    assert_eq!(group["TargetType"], "ip");
    assert_eq!(group["Port"], 8080);
    assert_eq!(group["Protocol"], "HTTP");
    assert_eq!(group["HealthCheckPath"], "/healthz");
    assert_eq!(group["Matcher"], json!({"HttpCode": "200"}));
    let delay: u64 = attributes_of(group)["deregistration_delay.timeout_seconds"]
        .parse()
        .expect("delay");
    let env = environment(the_container(&template));
    let request_secs = number(&env["REDOX_REQUEST_TIMEOUT_MS"]) / 1000;
    assert!(
        delay > request_secs && delay < 300,
        "deregistration delay {delay} s: above the {request_secs} s request deadline, below the 300 s default"
    );
}

fn attributes_of(group: &Value) -> BTreeMap<String, String> {
    attributes(&group["TargetGroupAttributes"])
}

#[test]
fn the_task_is_reachable_only_from_the_alb() {
    let template = container();
    let alb_sg = resource(
        &template,
        "LoadBalancerSecurityGroup",
        "AWS::EC2::SecurityGroup",
    );
    assert_eq!(
        alb_sg["SecurityGroupIngress"],
        json!([{"Description": "HTTPS from Redox (AllowedCidr)", "IpProtocol": "tcp",
                "FromPort": 443, "ToPort": 443, "CidrIp": {"Ref": "AllowedCidr"}}])
    );
    assert_eq!(
        alb_sg["SecurityGroupEgress"][0]["DestinationSecurityGroupId"],
        json!({"Ref": "TaskSecurityGroup"})
    );
    assert_eq!(
        alb_sg["SecurityGroupEgress"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        resource(
            &template,
            "LoadBalancer",
            "AWS::ElasticLoadBalancingV2::LoadBalancer"
        )["SecurityGroups"],
        json!([{"Ref": "LoadBalancerSecurityGroup"}])
    );

    let task_sg = resource(&template, "TaskSecurityGroup", "AWS::EC2::SecurityGroup");
    assert!(
        task_sg["SecurityGroupIngress"].is_null(),
        "no inline ingress"
    );
    let ingress = resources_of(&template, "AWS::EC2::SecurityGroupIngress");
    assert_eq!(ingress.len(), 1);
    let rule = &ingress[0].1["Properties"];
    assert_eq!(rule["GroupId"], json!({"Ref": "TaskSecurityGroup"}));
    assert_eq!(
        rule["SourceSecurityGroupId"],
        json!({"Ref": "LoadBalancerSecurityGroup"})
    );
    assert_eq!(
        (rule["FromPort"].clone(), rule["ToPort"].clone()),
        (json!(8080), json!(8080))
    );
    assert_eq!(
        resource(&template, "Service", "AWS::ECS::Service")["NetworkConfiguration"]["AwsvpcConfiguration"]
            ["SecurityGroups"],
        json!([{"Ref": "TaskSecurityGroup"}])
    );
}

#[test]
fn the_service_rolls_back_failed_deployments_and_scales_on_requests_and_cpu() {
    let template = container();
    let service = resource(&template, "Service", "AWS::ECS::Service");
    assert_eq!(service["LaunchType"], "FARGATE");
    assert_eq!(
        service["DeploymentConfiguration"]["DeploymentCircuitBreaker"],
        json!({"Enable": true, "Rollback": true})
    );
    assert_eq!(
        service["LoadBalancers"],
        json!([{"ContainerName": "redox-destination", "ContainerPort": 8080,
                "TargetGroupArn": {"Ref": "TargetGroup"}}])
    );
    assert_eq!(
        template["Resources"]["Service"]["DependsOn"],
        "HttpsListener"
    );

    let target = resource(
        &template,
        "ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalableTarget",
    );
    assert_eq!(target["ScalableDimension"], "ecs:service:DesiredCount");
    assert_eq!(
        target["ResourceId"],
        json!({"Fn::Sub": "service/${Cluster}/${Service.Name}"})
    );
    assert_eq!(target["MinCapacity"], json!({"Ref": "MinTasks"}));
    assert_eq!(target["MaxCapacity"], json!({"Ref": "MaxTasks"}));
    let metrics: BTreeMap<String, Value> =
        resources_of(&template, "AWS::ApplicationAutoScaling::ScalingPolicy")
            .into_iter()
            .map(|(_, p)| {
                let p = &p["Properties"];
                assert_eq!(p["PolicyType"], "TargetTrackingScaling");
                assert_eq!(p["ScalingTargetId"], json!({"Ref": "ScalableTarget"}));
                let spec =
                    &p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"];
                (
                    spec["PredefinedMetricType"]
                        .as_str()
                        .expect("metric")
                        .to_string(),
                    spec["ResourceLabel"].clone(),
                )
            })
            .collect();
    assert_eq!(
        metrics.keys().collect::<Vec<_>>(),
        [
            "ALBRequestCountPerTarget",
            "ECSServiceAverageCPUUtilization"
        ]
    );
    assert_eq!(
        metrics["ALBRequestCountPerTarget"],
        json!({"Fn::Sub": "${LoadBalancer.LoadBalancerFullName}/${TargetGroup.TargetGroupFullName}"})
    );
}

#[test]
fn alarms_watch_alb_and_target_5xx_and_unhealthy_tasks_on_the_lambda_stacks_topic() {
    let template = container();
    let topic = json!([import("AlarmTopic")]);
    let load_balancer = json!({"Name": "LoadBalancer", "Value": {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]}});
    let target_group = json!({"Name": "TargetGroup", "Value": {"Fn::GetAtt": ["TargetGroup", "TargetGroupFullName"]}});
    let mut watched = Vec::new();
    for (name, alarm) in resources_of(&template, "AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        assert_eq!(
            p["AlarmActions"], topic,
            "{name} must notify the Lambda stack's topic"
        );
        assert_eq!(p["OKActions"], topic, "{name}");
        assert!(
            p["AlarmDescription"].to_string().len() > 80,
            "{name} needs a description that says what it means and what to do"
        );
        assert_eq!(p["Namespace"], "AWS/ApplicationELB", "{name}");
        let dimensions = p["Dimensions"].as_array().expect("dimensions");
        assert_eq!(dimensions[0], load_balancer, "{name}");
        if p["MetricName"] != "HTTPCode_ELB_5XX_Count" {
            assert_eq!(dimensions.get(1), Some(&target_group), "{name}");
        }
        watched.push(p["MetricName"].as_str().expect("metric").to_string());
    }
    watched.sort();
    assert_eq!(
        watched,
        [
            "HTTPCode_ELB_5XX_Count",
            "HTTPCode_Target_5XX_Count",
            "HealthyHostCount",
            "UnHealthyHostCount"
        ]
    );
}
