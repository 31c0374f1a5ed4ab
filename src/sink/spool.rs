//! The local spool sink: one JSON file per message in a folder.
//!
//! Each file is written to a temporary name, fsynced, renamed into place and
//! the folder fsynced, so a reader never sees half a message and an
//! acknowledged message survives a crash. Bodies that are not UTF-8 are
//! stored base64 in `body_base64`; all others verbatim in `body`.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::{QueuedMessage, Sink, SinkError, new_message_id};
use crate::BoxFuture;
use crate::clock::rfc3339;
use crate::telemetry::metrics::Dependency;

pub struct SpoolSink {
    dir: PathBuf,
}

impl SpoolSink {
    /// Creates the folder if needed and checks that it is writable.
    pub fn open(dir: PathBuf) -> Result<Self, std::io::Error> {
        std::fs::create_dir_all(&dir)?;
        let probe = dir.join(format!(".write-check-{}", std::process::id()));
        std::fs::write(&probe, b"")?;
        std::fs::remove_file(&probe)?;
        Ok(SpoolSink { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The spool file's JSON for one message.
pub fn spool_document(message_id: &str, message: &QueuedMessage) -> Value {
    let attributes: Map<String, Value> = message
        .attributes
        .iter()
        .map(|(n, v)| ((*n).to_owned(), Value::String(v.clone())))
        .collect();
    let mut doc = json!({
        "message_id": message_id,
        "received_at": rfc3339(message.received_at),
        "attributes": attributes,
    });
    match std::str::from_utf8(&message.body) {
        Ok(text) => doc["body"] = Value::String(text.to_owned()),
        Err(_) => doc["body_base64"] = Value::String(BASE64.encode(&message.body)),
    }
    doc
}

fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let final_path = dir.join(name);
    let temp_path = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = std::fs::File::create(&temp_path)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp_path, &final_path)?;
        // The rename is durable only once the folder entry is on disk.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp_path);
    }
    result
}

impl Sink for SpoolSink {
    fn dependency(&self) -> Dependency {
        Dependency::Spool
    }

    fn put<'a>(&'a self, message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(async move {
            let message_id = new_message_id();
            let contents = serde_json::to_vec_pretty(&spool_document(&message_id, message))
                .map_err(|e| SinkError::Unavailable(format!("spool encoding: {e}")))?;
            let dir = self.dir.clone();
            let name = format!("{message_id}.json");
            tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &contents))
                .await
                .map_err(|e| SinkError::Unavailable(format!("spool writer: {e}")))?
                .map_err(|e| {
                    SinkError::Unavailable(format!("spool {}: {e}", self.dir.display()))
                })?;
            Ok(message_id)
        })
    }

    fn describe(&self) -> String {
        format!("spool folder {}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthMethod;
    use crate::redox::Envelope;
    use bytes::Bytes;
    use std::time::SystemTime;

    fn message(body: &[u8]) -> QueuedMessage {
        QueuedMessage::new(
            Bytes::copy_from_slice(body),
            &Envelope::NotJson,
            AuthMethod::Token,
            Some("text/plain"),
            SystemTime::now(),
        )
    }

    #[tokio::test]
    async fn spool_files_parse_back_to_the_exact_body() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SpoolSink::open(dir.path().join("spool")).unwrap();
        for body in [
            b"plain text \x01 with control".to_vec(),
            vec![0xff, 0x00, 0xfe, 0x80],
            "ünïcödé {\"x\":1}".as_bytes().to_vec(),
            Vec::new(),
        ] {
            let id = sink.put(&message(&body)).await.unwrap();
            let text = std::fs::read_to_string(sink.dir().join(format!("{id}.json"))).unwrap();
            let doc: Value = serde_json::from_str(&text).unwrap();
            let back = match (doc.get("body"), doc.get("body_base64")) {
                (Some(Value::String(s)), None) => s.as_bytes().to_vec(),
                (None, Some(Value::String(b))) => BASE64.decode(b).unwrap(),
                other => panic!("unexpected body fields {other:?}"),
            };
            assert_eq!(back, body);
            assert_eq!(doc["message_id"], id);
            assert_eq!(doc["attributes"]["AuthMethod"], "token");
            assert_eq!(doc["attributes"]["RedoxEnvelope"], "not-json");
        }
        let leftovers: Vec<_> = std::fs::read_dir(sink.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind");
    }

    #[tokio::test]
    async fn an_unwritable_spool_is_an_error_not_an_acknowledgement() {
        let dir = tempfile::tempdir().unwrap();
        let sink = SpoolSink::open(dir.path().join("spool")).unwrap();
        std::fs::remove_dir(sink.dir()).unwrap();
        std::fs::write(sink.dir(), b"now a file").unwrap();
        assert!(matches!(
            sink.put(&message(b"x")).await,
            Err(SinkError::Unavailable(_))
        ));
    }
}
