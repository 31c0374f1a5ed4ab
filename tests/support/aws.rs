//! The AWS side of the emulator tests: clients on moto, queues and secrets
//! to create, a destination built against them, and pushes to send.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use bytes::Bytes;
use redox_destination::app;
use redox_destination::config::Config;
use redox_destination::destination::Destination;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use redox_destination::response::HttpResponse;

use super::Moto;

pub struct World {
    pub moto: Moto,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
}

impl World {
    pub async fn start() -> World {
        let moto = Moto::start();
        let sdk = moto.sdk_config().await;
        World {
            sqs: aws_sdk_sqs::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&sdk)
                    .force_path_style(true)
                    .build(),
            ),
            moto,
        }
    }

    pub async fn queue(&self, name: &str) -> String {
        let mut create = self.sqs.create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            create = create.attributes(QueueAttributeName::FifoQueue, "true");
        }
        create
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("url")
    }

    pub async fn bucket(&self, name: &str) -> String {
        self.s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create bucket");
        name.to_string()
    }

    /// Runs a Python script with the venv's boto3 against this emulator;
    /// returns its stdout, and fails the test with its stderr if it fails.
    pub fn python(&self, script: &str, args: &[&str]) -> Vec<u8> {
        let output = std::process::Command::new(super::venv_bin("python"))
            .arg("-c")
            .arg(script)
            .args(args)
            .envs(self.moto.aws_env())
            .output()
            .expect("run python");
        assert!(
            output.status.success(),
            "the Python script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    pub async fn secret(&self, name: &str, value: &str) -> String {
        self.secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create secret")
            .arn
            .expect("arn")
    }

    pub async fn destination(&self, vars: &[(&str, &str)]) -> Destination {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.entry("REDOX_AWS_TIMEOUT_MS".into())
            .or_insert_with(|| "3000".into());
        let config = Config::from_vars(&map).expect("config");
        let sdk = self.moto.sdk_config().await;
        app::build_with_sdk(&config, Some(sdk))
            .await
            .expect("build")
            .0
    }

    /// The keys of every object in `bucket`.
    pub async fn object_keys(&self, bucket: &str) -> Vec<String> {
        self.s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .expect("list objects")
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect()
    }

    pub async fn receive_all(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive");
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                return all;
            }
            all.extend(batch);
        }
    }
}

pub fn push(token: &str, body: &[u8]) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        raw_path: "/".into(),
        raw_query: String::new(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("verification-token".into(), token.into()),
            ("authorization".into(), format!("Bearer {token}")),
        ],
        body: Bytes::copy_from_slice(body),
        origin: Origin::new(FrontDoor::FunctionUrl),
    }
}

pub async fn send(destination: &Destination, token: &str, body: &[u8]) -> HttpResponse {
    destination
        .handle(push(token, body), SystemTime::now())
        .await
}

pub fn attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    message
        .message_attributes
        .as_ref()?
        .get(name)?
        .string_value
        .clone()
}

/// A Redox message of about `size` bytes (a clinical summary with a long
/// embedded document), with non-ASCII text so byte-identity means something.
pub fn large_message(size: usize) -> Vec<u8> {
    let head = r#"{"Meta":{"DataModel":"Clinical Summary","EventType":"PatientPush","Logs":[{"ID":"big-log-1","AttemptID":"a1"}],"Source":{"ID":"src-1"}},"Document":{"Content":""#;
    let mut body = head.as_bytes().to_vec();
    let filler = "Résumé clinique — données de référence 0123456789. ";
    while body.len() + filler.len() + 3 < size {
        body.extend_from_slice(filler.as_bytes());
    }
    body.extend_from_slice(b"\"}}");
    body
}

/// Receives one message with the official Python extended client and
/// returns the body it hands to its caller.
pub fn receive_with_extended_client(world: &World, queue_url: &str, bucket: &str) -> Vec<u8> {
    let script = r#"
import sys, boto3, sqs_extended_client  # noqa: F401 (patches boto3 sessions)
queue_url, bucket = sys.argv[1], sys.argv[2]
sqs = boto3.session.Session().client("sqs")
sqs.large_payload_support = bucket
sqs.use_legacy_attribute = False
response = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"], MaxNumberOfMessages=1)
messages = response.get("Messages", [])
assert len(messages) == 1, f"expected one message, got {len(messages)}"
sys.stdout.buffer.write(messages[0]["Body"].encode("utf-8"))
"#;
    world.python(script, &[queue_url, bucket])
}
