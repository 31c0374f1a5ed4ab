//! The local spool sink: one JSON file per message in a folder.
//!
//! Each file is written to a temporary name, fsynced, renamed into place and
//! the folder fsynced, so a reader never sees half a message and an
//! acknowledged message survives a crash. Bodies that are not UTF-8 are
//! stored base64 in `body_base64`; all others verbatim in `body`.
//!
//! Bodies are patient data, so nothing here is ever readable by another
//! local user: the folder is created 0700 and every file (temporary ones
//! included) 0600, each with that mode from the start rather than chmod-ed
//! after. An existing folder of ours that others may open is tightened to
//! 0700; one that belongs to someone else or is shared by design (sticky,
//! like `/tmp`) is refused rather than altered.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use super::{QueuedMessage, Sink, SinkError, new_message_id};
use crate::BoxFuture;
use crate::clock::rfc3339;
use crate::telemetry::metrics::Dependency;

/// The spool folder's mode: its owner only.
const FOLDER_MODE: u32 = 0o700;
/// Every spool file's mode, from the moment it exists.
const FILE_MODE: u32 = 0o600;
/// The permission bits that let anyone but the owner in.
const GROUP_AND_OTHER: u32 = 0o077;
const STICKY: u32 = 0o1000;

/// Why the spool folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolOpenError {
    #[error("not a writable folder: {0}")]
    Unusable(#[from] std::io::Error),
    #[error(
        "other users may open it (mode {mode:04o}, owner uid {owner}{sticky}) and it is not this \
         process's to tighten; patient data needs a folder of your own (mode 0700)",
        sticky = if mode & STICKY != 0 { ", shared: sticky bit" } else { "" }
    )]
    Shared { mode: u32, owner: u32 },
}

pub struct SpoolSink {
    dir: PathBuf,
}

impl SpoolSink {
    /// Creates the folder (0700) if needed, makes sure no one else can open
    /// it, and checks that it is writable.
    pub fn open(dir: PathBuf) -> Result<Self, SpoolOpenError> {
        DirBuilder::new()
            .recursive(true)
            .mode(FOLDER_MODE)
            .create(&dir)?;
        let probe = dir.join(format!(".write-check-{}", std::process::id()));
        let _ = std::fs::remove_file(&probe);
        // The probe is ours, so its owner is this process's user: no libc
        // call needed to know who "we" are.
        let me = create_private_file(&probe)?.metadata()?.uid();
        std::fs::remove_file(&probe)?;
        keep_private(&dir, me)?;
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

/// An existing folder that others may open: tightened when it is ours and
/// not shared by design, refused otherwise. A folder made by an older version
/// (0755) is the usual case; tightening it also shields the 0644 files that
/// version left inside.
fn keep_private(dir: &Path, me: u32) -> Result<(), SpoolOpenError> {
    let metadata = std::fs::metadata(dir)?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & GROUP_AND_OTHER == 0 {
        return Ok(());
    }
    if metadata.uid() != me || mode & STICKY != 0 {
        return Err(SpoolOpenError::Shared {
            mode,
            owner: metadata.uid(),
        });
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(FOLDER_MODE))?;
    tracing::warn!(
        folder = %dir.display(),
        was = %format!("{mode:04o}"),
        "spool folder was open to other users; tightened to 0700"
    );
    Ok(())
}

/// A new file only its owner can read. `create_new` also refuses to follow a
/// symbolic link or reuse a file someone else left with a looser mode.
fn create_private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let final_path = dir.join(name);
    let temp_path = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = create_private_file(&temp_path)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&temp_path, &final_path)?;
        // The rename is durable only once the folder entry is on disk.
        File::open(dir)?.sync_all()
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

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[tokio::test]
    async fn the_spool_folder_and_its_files_are_readable_by_their_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        // Parents made on the way are as private as the spool itself.
        let sink = SpoolSink::open(dir.path().join("a/b/spool")).unwrap();
        assert_eq!(mode_of(sink.dir()), 0o700);
        assert_eq!(mode_of(&dir.path().join("a")), 0o700);
        let id = sink.put(&message(b"PHI")).await.unwrap();
        // The file is the renamed temporary file: its mode is the mode the
        // temporary file was created with.
        assert_eq!(mode_of(&sink.dir().join(format!("{id}.json"))), 0o600);
    }

    #[test]
    fn an_existing_folder_of_ours_that_others_can_open_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let old_file = spool.join("old.json");
        std::fs::write(&old_file, b"{}").unwrap();
        SpoolSink::open(spool.clone()).unwrap();
        assert_eq!(mode_of(&spool), 0o700);
        assert!(old_file.exists(), "what the folder held is left in place");
    }

    #[test]
    fn a_folder_shared_by_design_is_refused_not_altered() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let error = SpoolSink::open(shared.clone()).err().expect("refused");
        assert!(matches!(error, SpoolOpenError::Shared { mode: 0o1777, .. }));
        assert!(error.to_string().contains("sticky"), "{error}");
        assert_eq!(mode_of(&shared), 0o1777);
    }

    #[test]
    fn a_stale_temporary_file_is_never_written_through() {
        // Someone else's file (or a link) at the temporary name is not
        // opened and filled with a message.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(".m.json.tmp")).unwrap();
        assert!(write_atomically(dir.path(), "m.json", b"PHI").is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"");
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
