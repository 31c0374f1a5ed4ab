//! The container image (`make image`, `scripts/build_image.py`), read with
//! no daemon: the archive is an OCI image layout that `skopeo` reads and the
//! `manifest.json` that `docker load` reads, every blob is what its name
//! says; the one layer holds exactly the static release binary, the CA
//! bundle and the user files, owned by root with fixed modes and times; the
//! configuration runs it as 65532 with the bundle in `SSL_CERT_FILE`; two
//! builds are byte-identical. Then the binary runs from the unpacked root
//! filesystem (chrooted, as the image's user, when the test runs as root,
//! as CI does) and passes a handshake and a push that lands on SQS through
//! S3, over TLS to the emulator under a host name, as it reaches AWS from a
//! container: name lookup by the static glibc, the CA bundle, randomness
//! with no /dev.
//!
//! Needs the release build (`make build-release`), `.venv` (`make venv`),
//! and GNU tar and gzip on PATH.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{
    ChildGuard, free_port, http_request, release_binary, repo_root, venv_bin, wait_for_port,
};

const USER: &str = "65532:65532";
const BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

fn run(command: &mut Command) -> Vec<u8> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("UTF-8 output")
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("image-test-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a work folder");
    dir
}

/// Runs `scripts/build_image.py` on the release binary; returns the digest it printed.
fn build_image(out: &Path) -> String {
    let printed = text(run(Command::new(venv_bin("python"))
        .arg(repo_root().join("scripts/build_image.py"))
        .args(["--arch", "amd64", "--binary"])
        .arg(release_binary())
        .arg("--out")
        .arg(out)
        .env_remove("SOURCE_DATE_EPOCH")
        .current_dir(repo_root())));
    let digest = printed
        .split_whitespace()
        .skip_while(|word| *word != "digest")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest in {printed:?}"));
    digest.to_string()
}

/// The image, built once for the tests that read it, and its archive unpacked.
struct Image {
    archive: PathBuf,
    printed_digest: String,
    /// The archive's files (`oci-layout`, `index.json`, `blobs/sha256/…`).
    layout: PathBuf,
}

impl Image {
    fn get() -> &'static Image {
        static IMAGE: OnceLock<Image> = OnceLock::new();
        IMAGE.get_or_init(|| {
            let dir = work_dir("shared");
            let archive = dir.join("redox-destination-amd64.tar");
            let printed_digest = build_image(&archive);
            let layout = dir.join("layout");
            std::fs::create_dir_all(&layout).expect("layout folder");
            run(Command::new("tar")
                .arg("-xf")
                .arg(&archive)
                .arg("-C")
                .arg(&layout));
            Image {
                archive,
                printed_digest,
                layout,
            }
        })
    }

    fn json(&self, path: &str) -> Value {
        let bytes = std::fs::read(self.layout.join(path))
            .unwrap_or_else(|e| panic!("the archive has no {path}: {e}"));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
    }

    /// A blob by its descriptor, after checking its digest and size.
    fn blob(&self, descriptor: &Value) -> Vec<u8> {
        let digest = descriptor["digest"].as_str().expect("descriptor digest");
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let bytes = std::fs::read(self.layout.join("blobs/sha256").join(hex))
            .unwrap_or_else(|e| panic!("no blob {digest}: {e}"));
        assert_eq!(sha256_hex(&bytes), hex, "blob {digest} has other contents");
        assert_eq!(
            descriptor["size"],
            json!(bytes.len()),
            "size of blob {digest}"
        );
        bytes
    }

    fn manifest(&self) -> Value {
        let index = self.json("index.json");
        let manifests = index["manifests"].as_array().expect("index manifests");
        assert_eq!(manifests.len(), 1, "one image in the index: {index}");
        serde_json::from_slice(&self.blob(&manifests[0])).expect("manifest JSON")
    }

    fn config(&self) -> Value {
        serde_json::from_slice(&self.blob(&self.manifest()["config"])).expect("config JSON")
    }

    fn layer_path(&self) -> PathBuf {
        let manifest = self.manifest();
        let layers = manifest["layers"].as_array().expect("layers");
        assert_eq!(layers.len(), 1, "one layer: {manifest}");
        self.blob(&layers[0]);
        let hex = layers[0]["digest"].as_str().expect("digest")["sha256:".len()..].to_string();
        self.layout.join("blobs/sha256").join(hex)
    }

    /// The layer unpacked into a new folder (owners kept when run as root).
    fn unpack(&self, name: &str) -> PathBuf {
        let root = work_dir(name).join("rootfs");
        std::fs::create_dir_all(&root).expect("rootfs folder");
        run(Command::new("tar")
            .args(["--numeric-owner", "-xzf"])
            .arg(self.layer_path())
            .arg("-C")
            .arg(&root));
        root
    }
}

/// What git says about the commit the image was built from.
fn git(args: &[&str]) -> String {
    text(run(Command::new("git")
        .args(args)
        .env("TZ", "UTC")
        .current_dir(repo_root())))
    .trim()
    .to_string()
}

fn commit_time_rfc3339() -> String {
    git(&[
        "log",
        "-1",
        "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
        "--format=%cd",
    ])
}

#[test]
fn two_builds_give_the_same_bytes_and_digest() {
    let dir = work_dir("twice");
    let (first, second) = (dir.join("first.tar"), dir.join("second.tar"));
    let digest = build_image(&first);
    // A second later: a clock read anywhere in the build would show.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(build_image(&second), digest);
    let (a, b) = (
        std::fs::read(&first).expect("first"),
        std::fs::read(&second).expect("second"),
    );
    assert!(a == b, "two builds of the same binary differ");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
}

#[test]
fn the_archive_is_an_oci_layout_and_a_docker_load_archive() {
    let image = Image::get();
    assert_eq!(
        image.json("oci-layout"),
        json!({"imageLayoutVersion": "1.0.0"})
    );
    let index = image.json("index.json");
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let entry = &index["manifests"][0];
    assert_eq!(
        entry["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        entry["platform"],
        json!({"architecture": "amd64", "os": "linux"})
    );
    assert_eq!(
        entry["annotations"]["io.containerd.image.name"],
        "docker.io/library/redox-destination:latest"
    );
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    // The digest `make image` prints is the manifest's, what a registry shows.
    assert_eq!(entry["digest"], image.printed_digest.as_str());

    let manifest = image.manifest();
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );

    // Nothing else in the archive: every blob is one the manifest names.
    let mut blobs: Vec<String> = std::fs::read_dir(image.layout.join("blobs/sha256"))
        .expect("blobs folder")
        .map(|e| format!("sha256:{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    blobs.sort();
    let mut named = vec![
        entry["digest"]
            .as_str()
            .expect("manifest digest")
            .to_string(),
        manifest["config"]["digest"]
            .as_str()
            .expect("config")
            .to_string(),
        manifest["layers"][0]["digest"]
            .as_str()
            .expect("layer")
            .to_string(),
    ];
    named.sort();
    assert_eq!(blobs, named);

    // docker load reads manifest.json (as `docker save` writes it).
    let hex = |digest: &Value| digest.as_str().expect("digest")["sha256:".len()..].to_string();
    assert_eq!(
        image.json("manifest.json"),
        json!([{
            "Config": format!("blobs/sha256/{}", hex(&manifest["config"]["digest"])),
            "RepoTags": ["redox-destination:latest"],
            "Layers": [format!("blobs/sha256/{}", hex(&manifest["layers"][0]["digest"]))],
        }])
    );

    // The layer's uncompressed digest is the config's diff_id.
    let layer_tar = run(Command::new("gzip").arg("-dc").arg(image.layer_path()));
    assert_eq!(
        image.config()["rootfs"],
        json!({"type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&layer_tar))]})
    );
    // And the outer archive is in a fixed order, owned by root.
    let listing = text(run(Command::new("tar")
        .args(["--numeric-owner", "-tvf"])
        .arg(&image.archive)));
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.rsplit(' ').next().expect("name"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "archive entries in sorted order");
    assert!(listing.lines().all(|l| l.contains(" 0/0 ")), "{listing}");
}

#[test]
fn the_config_runs_the_entry_point_as_a_non_root_user() {
    let image = Image::get();
    let config = image.config();
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    let run_config = &config["config"];
    assert_eq!(run_config["User"], USER);
    assert_eq!(run_config["Entrypoint"], json!(["/redox-destination"]));
    assert!(run_config["Cmd"].is_null(), "no Cmd: {run_config}");
    assert_eq!(
        run_config["Env"],
        json!([
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "REDOX_LISTEN=0.0.0.0:8080"
        ])
    );
    assert_eq!(run_config["ExposedPorts"], json!({"8080/tcp": {}}));

    // Times and revision come from the commit, never from the clock.
    let created = commit_time_rfc3339();
    assert_eq!(config["created"], created.as_str());
    let labels = &run_config["Labels"];
    assert_eq!(labels["org.opencontainers.image.created"], created.as_str());
    let revision = labels["org.opencontainers.image.revision"]
        .as_str()
        .expect("revision label");
    assert_eq!(
        revision.trim_end_matches("-dirty"),
        git(&["rev-parse", "HEAD"])
    );
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(image.manifest()["annotations"], *labels);
}

/// One `tar -tv` line: (mode string, owner, time, name).
fn listing(layer: &Path) -> Vec<(String, String, String, String)> {
    let out = text(run(Command::new("tar")
        .args(["--numeric-owner", "--full-time", "-tvzf"])
        .arg(layer)
        .env("TZ", "UTC")));
    out.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 6, "unexpected tar listing line {line:?}");
            (
                fields[0].to_string(),
                fields[1].to_string(),
                format!("{}T{}Z", fields[3], fields[4]),
                fields[5].to_string(),
            )
        })
        .collect()
}

/// Whether an ELF file names a program interpreter (is dynamically linked).
fn has_interpreter(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[32..40].try_into().expect("8 bytes")) as usize;
    let (entry_size, count) = (u16_at(54), u16_at(56));
    (0..count).any(|i| {
        let at = phoff + i * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == 3 // PT_INTERP
    })
}

#[test]
fn the_layer_holds_the_static_binary_the_ca_bundle_and_the_user_files() {
    let image = Image::get();
    let created = commit_time_rfc3339();
    let entries = listing(&image.layer_path());
    let expected = [
        ("drwxr-xr-x", "etc/"),
        ("-rw-r--r--", "etc/group"),
        ("-rw-r--r--", "etc/nsswitch.conf"),
        ("-rw-r--r--", "etc/passwd"),
        ("drwxr-xr-x", "etc/ssl/"),
        ("drwxr-xr-x", "etc/ssl/certs/"),
        ("-rw-r--r--", BUNDLE),
        ("-rwxr-xr-x", "redox-destination"),
    ];
    let got: Vec<(&str, &str)> = entries
        .iter()
        .map(|(mode, _, _, name)| (mode.as_str(), name.as_str()))
        .collect();
    assert_eq!(got, expected, "the layer's files, modes and order");
    for (_, owner, time, name) in &entries {
        assert_eq!(owner, "0/0", "{name} is not root's");
        assert_eq!(time, &created, "{name}'s time is not the commit's");
    }

    let root = image.unpack("files");
    let binary = std::fs::read(root.join("redox-destination")).expect("the binary");
    assert!(
        binary == std::fs::read(release_binary()).expect("release binary"),
        "the image's binary is not the release build"
    );
    assert!(
        !has_interpreter(&binary),
        "the binary is dynamically linked: it cannot start in a FROM-scratch image"
    );

    let certifi = text(run(
        Command::new(venv_bin("python")).args(["-c", "import certifi; print(certifi.where())"])
    ));
    assert!(
        std::fs::read(root.join(BUNDLE)).expect("bundle")
            == std::fs::read(certifi.trim()).expect("certifi's bundle"),
        "the CA bundle is not certifi's"
    );
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).expect("passwd");
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("redox:x:65532:65532:") && l.ends_with(":/sbin/nologin")),
        "{passwd}"
    );
    let group = std::fs::read_to_string(root.join("etc/group")).expect("group");
    assert!(group.lines().any(|l| l == "redox:x:65532:"), "{group}");
    let nsswitch = std::fs::read_to_string(root.join("etc/nsswitch.conf")).expect("nsswitch");
    assert!(
        nsswitch.lines().any(|l| l == "hosts: files dns"),
        "{nsswitch}"
    );
}

// ---- running it ------------------------------------------------------------

/// The venv's Python with a script; returns stdout.
fn python(script: &str, args: &[&str]) -> String {
    text(run(Command::new(venv_bin("python"))
        .arg("-c")
        .arg(script)
        .args(args)))
}

/// A CA and a server certificate for `moto.internal` and 127.0.0.1.
const MAKE_CERTS: &str = r#"
import datetime, ipaddress, sys
from pathlib import Path
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

out = Path(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def cert(subject, key, issuer, issuer_key, ca, extra=()):
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())
ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
ca = cert("image test CA", ca_key, "image test CA", ca_key, True)
leaf = cert("moto.internal", key, "image test CA", ca_key, False, [
    x509.SubjectAlternativeName([x509.DNSName("moto.internal"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
])
pem = serialization.Encoding.PEM
(out / "ca.pem").write_bytes(ca.public_bytes(pem))
(out / "cert.pem").write_bytes(leaf.public_bytes(pem))
(out / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;

/// The queue and the secret on the emulator, through boto3 over TLS.
const SET_UP: &str = r#"
import boto3, json, sys
endpoint, ca, token = sys.argv[1:4]
session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
session.client("secretsmanager", endpoint_url=endpoint, verify=ca).create_secret(
    Name="redox/image-test", SecretString=json.dumps({"verification_tokens": [token]}))
session.client("s3", endpoint_url=endpoint, verify=ca).create_bucket(Bucket="redox-image-test")
print(session.client("sqs", endpoint_url=endpoint, verify=ca).create_queue(QueueName="redox-image-test")["QueueUrl"])
"#;

/// The queued messages: each one's S3 pointer and the object it points to.
const RECEIVE: &str = r#"
import boto3, json, sys
endpoint, ca, queue = sys.argv[1:4]
session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
sqs = session.client("sqs", endpoint_url=endpoint, verify=ca)
s3 = session.client("s3", endpoint_url=endpoint, verify=ca)
messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
out = []
for m in messages:
    kind, pointer = json.loads(m["Body"])
    body = s3.get_object(Bucket=pointer["s3BucketName"], Key=pointer["s3Key"])["Body"].read().decode()
    out.append({"pointer": kind, "key": pointer["s3Key"], "body": body,
                "auth": m["MessageAttributes"]["AuthMethod"]["StringValue"]})
print(json.dumps(out))
"#;

fn is_root() -> bool {
    text(run(Command::new("id").arg("-u"))).trim() == "0"
}

/// chroot(8), found before the child's environment is cleared (it is in
/// /usr/sbin, which a non-login PATH may lack).
fn chroot_program() -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        .map(|dir| Path::new(dir).join("chroot"))
        .find(|candidate| candidate.is_file())
        .expect("chroot (coreutils) is not installed")
}

fn process_uid(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .expect("Uid line")
        .split_whitespace()
        .next()
        .expect("real uid")
        .to_string()
}

#[test]
fn the_unpacked_image_serves_a_handshake_and_a_push_over_tls_to_aws() {
    let image = Image::get();
    let root = image.unpack("run");
    let certs = root.parent().expect("work folder").join("certs");
    std::fs::create_dir_all(&certs).expect("certs folder");
    python(MAKE_CERTS, &[certs.to_str().expect("path")]);
    let ca = certs.join("ca.pem");

    // The emulator over TLS, its certificate from a CA that only the
    // image's bundle (appended to here) trusts: the SDK must read the bundle.
    let moto_port = free_port();
    let moto_log = std::fs::File::create(certs.join("moto.log")).expect("moto log");
    let mut moto = Command::new(venv_bin("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &moto_port.to_string(), "-c"])
        .arg(certs.join("cert.pem"))
        .arg("-k")
        .arg(certs.join("key.pem"))
        // moto.internal is the emulator's name, not a bucket's (virtual-host S3).
        .env("S3_IGNORE_SUBDOMAIN_BUCKETNAME", "true")
        .stdout(moto_log.try_clone().expect("log"))
        .stderr(moto_log)
        .spawn()
        .expect("start moto_server");
    wait_for_port(moto_port, &mut moto, "moto_server");
    let _moto = ChildGuard(moto);
    let setup_endpoint = format!("https://127.0.0.1:{moto_port}");
    let ca_arg = ca.to_str().expect("path");
    let token = "image-test-token-0123456789";
    let queue = python(SET_UP, &[&setup_endpoint, ca_arg, token]);
    let queue = queue.trim();

    let mut bundle = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join(BUNDLE))
        .expect("open the image's bundle");
    bundle
        .write_all(&std::fs::read(&ca).expect("ca"))
        .expect("append the test CA");
    // What a container runtime provides: the name of the "AWS" endpoint.
    std::fs::write(
        root.join("etc/hosts"),
        "127.0.0.1 localhost moto.internal\n",
    )
    .expect("hosts");

    // The image's own environment, then the run's settings.
    let config = image.config();
    let mut env: BTreeMap<String, String> = config["config"]["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .map(|v| {
            let (k, v) = v.as_str().expect("Env entry").split_once('=').expect("K=V");
            (k.to_string(), v.to_string())
        })
        .collect();
    let port = free_port();
    // Loopback only in a test (the image listens on 0.0.0.0:8080).
    env.insert("REDOX_LISTEN".into(), format!("127.0.0.1:{port}"));
    env.insert("REDOX_SECRET_ID".into(), "redox/image-test".into());
    env.insert("REDOX_QUEUE_URL".into(), queue.into());
    // Through S3 as a large message goes: the object key is random.
    env.insert("REDOX_PAYLOAD_BUCKET".into(), "redox-image-test".into());
    env.insert("REDOX_OFFLOAD_ALL".into(), "true".into());
    // As the container template runs it.
    env.insert("REDOX_BEHIND_ALB".into(), "true".into());
    env.insert("REDOX_LOG_FORMAT".into(), "json".into());
    for (k, v) in [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        env.insert(k.into(), v.into());
    }
    let chrooted = is_root();
    let mut command = if chrooted {
        // As in the container: the image's root, the image's user, a host name.
        env.insert(
            "AWS_ENDPOINT_URL".into(),
            format!("https://moto.internal:{moto_port}"),
        );
        let mut command = Command::new(chroot_program());
        command
            .arg(format!("--userspec={USER}"))
            .arg(&root)
            .arg("/redox-destination");
        command
    } else {
        // Without root there is no chroot: the same binary, the bundle in
        // the unpacked root, the emulator by address.
        eprintln!("not root: running the image's binary directly, not chrooted");
        env.insert("AWS_ENDPOINT_URL".into(), setup_endpoint.clone());
        env.insert(
            "SSL_CERT_FILE".into(),
            root.join(BUNDLE).to_string_lossy().into_owned(),
        );
        Command::new(root.join("redox-destination"))
    };
    let log_path = certs.join("redox-destination.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut child = command
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start the image's binary");
    wait_for_port(port, &mut child, "the image's redox-destination");
    let pid = child.id();
    let server = ChildGuard(child);
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    if chrooted {
        assert_eq!(process_uid(pid), "65532", "not running as the image's user");
    }

    // The target group's health check.
    let health = http_request(port, "GET", "/healthz", &[], b"");
    assert_eq!(
        (health.status, health.text()),
        (200, "ok".to_string()),
        "{}",
        log_text()
    );

    let challenge = "b8f0c2f4-7a55-4b0e-9f57-0d3c1f9e2a61";
    let handshake = http_request(
        port,
        "POST",
        "/",
        &[("content-type", "application/json")],
        json!({"verification-token": token, "challenge": challenge})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(
        (handshake.status, handshake.text()),
        (200, challenge.to_string()),
        "{}",
        log_text()
    );

    let body = json!({"Meta": {"DataModel": "Results", "EventType": "New",
        "Logs": [{"ID": "0e7f1b9c-1d2e-4f3a-8b5c-6d7e8f9a0b1c"}]}, "Orders": []})
    .to_string();
    let bearer = format!("Bearer {token}");
    let push = http_request(
        port,
        "POST",
        "/",
        &[
            ("content-type", "application/json"),
            ("verification-token", token),
            ("authorization", &bearer),
        ],
        body.as_bytes(),
    );
    assert_eq!(push.status, 200, "{}\n{}", push.text(), log_text());
    assert_eq!(push.json()["status"], "queued");

    let queued: Value = serde_json::from_str(&python(RECEIVE, &[&setup_endpoint, ca_arg, queue]))
        .expect("received JSON");
    let key = queued[0]["key"].as_str().expect("the S3 key").to_string();
    assert_eq!(
        queued,
        json!([{"pointer": "software.amazon.payloadoffloading.PayloadS3Pointer",
                "key": key, "body": body, "auth": "token"}])
    );
    // The key ends in 16 random bytes. Without randomness the sink falls
    // back to the clock, whose top 6 bytes are zero: what a static binary
    // whose getrandom looks for /dev/urandom (absent here) produces.
    assert!(
        key.starts_with("redox/") && !key.ends_with("-000000000000"),
        "S3 key {key} was made from the clock: the binary found no randomness without /dev \
         (build-release's --cfg getrandom_backend=\"linux_getrandom\")"
    );
    drop(server);
}
