//! Delivery under faults (issue 10): the local server and the release
//! binary in Lambda mode talk to moto through `tests/fault_proxy.py`, which
//! fails, drops, delays or answers late the AWS calls it is told to. A
//! Redox simulator pushes distinct messages one after another, retrying
//! each until it gets a 2xx (as Redox does, with a short pause instead of
//! Redox's 10 s), and the queue and bucket are then reconciled through moto
//! directly:
//!
//! - every acknowledged message is in the queue (by `RedoxLogId`);
//! - every Extended Client pointer resolves to an S3 object that exists,
//!   and every body (inline or resolved) is byte-exact;
//! - copies of one message: exactly 1 on a FIFO queue; exactly 1 on a
//!   standard queue when no ambiguous fault (the call may have committed
//!   though its answer was lost) hit SendMessage; otherwise at most the
//!   SendMessage requests that reached SQS, at most 3 per Redox attempt;
//! - SendMessage is never sent again after a timeout;
//! - every non-2xx answer is a 503 with `Retry-After`, and none is later
//!   than the request deadline.
//!
//! Plus the request deadline (Lambda invocation deadline and
//! `REDOX_REQUEST_TIMEOUT_MS`), a Secrets Manager brown-out with material
//! cached, and a cold herd with nothing cached.
//!
//! Each reconciliation test prints a table (also written to
//! `target/fault-table.md`); with `FAULTS_TRACE=1` in the environment it
//! also prints what the proxy saw for every case (arrival offset, action,
//! fault, status, time until answered or closed).

mod support;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::aws::{World, attribute};
use support::faults::{
    DELETE_OBJECT, Fault, FaultProxy, GET_SECRET_VALUE, Kind, PUT_OBJECT, SEND_MESSAGE,
};
use support::{
    FunctionProcess, HttpAnswer, Invocation, LocalServer, RuntimeApi, function_url_event,
    parse_answer, repo_root,
};

const TOKEN: &str = "fault-injection-token";
/// `REDOX_AWS_TIMEOUT_MS` in the reconciliation cases.
const AWS_TIMEOUT_MS: u64 = 800;
/// The delay of the slow and late kinds: longer than the AWS timeout.
const SLOW: Duration = Duration::from_millis(1200);
/// Distinct messages each case pushes.
const MESSAGES: usize = 4;
/// The first this many matching calls get the fault.
const FAULTED_CALLS: i64 = 3;
/// Attempts the simulator makes per message before it gives up.
const REDOX_ATTEMPTS: usize = 8;
/// The simulator's pause between attempts (Redox's is 10 s and more).
const REDOX_PAUSE: Duration = Duration::from_millis(50);
/// At most this many SendMessage calls per request (first try + retries).
const SEND_ATTEMPTS_PER_REQUEST: u64 = 3;
/// The default request deadline (`REDOX_REQUEST_TIMEOUT_MS`).
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Cases run at once per test function.
const WORKERS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Local,
    Lambda,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Local => "local",
            Mode::Lambda => "lambda",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueType {
    Standard,
    Fifo,
}

impl QueueType {
    fn name(self) -> &'static str {
        match self {
            QueueType::Standard => "standard",
            QueueType::Fifo => "fifo",
        }
    }
}

/// The server under test, in either mode.
enum Front {
    Local(LocalServer),
    Lambda {
        api: RuntimeApi,
        process: FunctionProcess,
    },
}

/// One answer, whichever the front door.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn error_code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

fn push_headers() -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("verification-token", TOKEN.into()),
        ("authorization", format!("Bearer {TOKEN}")),
    ]
}

impl Front {
    fn start(mode: Mode, env: &[(String, String)]) -> Front {
        match mode {
            Mode::Local => Front::Local(LocalServer::start(env)),
            Mode::Lambda => {
                let api = RuntimeApi::start();
                let process = api.start_function(env);
                Front::Lambda { api, process }
            }
        }
    }

    fn push(&self, body: &[u8]) -> Answer {
        self.push_with_deadline(body, Duration::from_secs(15))
    }

    /// Pushes one body; in Lambda mode with the given invocation deadline.
    fn push_with_deadline(&self, body: &[u8], budget: Duration) -> Answer {
        let headers = push_headers();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        match self {
            Front::Local(server) => {
                let answer = server.post(&headers, body);
                Answer {
                    status: answer.status,
                    retry_after: answer.header("retry-after").map(str::to_owned),
                    body: answer.text(),
                }
            }
            Front::Lambda { api, .. } => {
                let event = function_url_event("POST", "/", "", &headers, body);
                match api.invoke_with_deadline(&event, budget) {
                    Invocation::Response(value) => {
                        let retry_after = value["headers"].as_object().and_then(|headers| {
                            headers
                                .iter()
                                .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
                                .and_then(|(_, v)| v.as_str().map(str::to_owned))
                        });
                        Answer {
                            status: value["statusCode"].as_u64().unwrap_or(0) as u16,
                            retry_after,
                            body: value["body"].as_str().unwrap_or_default().to_owned(),
                        }
                    }
                    Invocation::Error(value) => Answer {
                        status: 0,
                        retry_after: None,
                        body: format!("invocation error: {value}"),
                    },
                }
            }
        }
    }

    /// The function's log (Lambda mode), for failure messages.
    fn log_tail(&self) -> String {
        match self {
            Front::Local(_) => String::new(),
            Front::Lambda { process, .. } => {
                let log = process.log();
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(8)..].join("\n")
            }
        }
    }
}

/// A PatientAdmin push of exactly `size` bytes (JSON, with non-ASCII text).
fn redox_push(log_id: &str, attempt_id: &str, size: usize) -> Vec<u8> {
    let mut document = serde_json::json!({
        "Meta": {
            "DataModel": "PatientAdmin", "EventType": "Arrival",
            "EventDateTime": "2026-11-30T08:00:00.000Z", "Test": true,
            "Source": {"ID": "7ce6f387-c33c-417d-8682-81e83628cbd9", "Name": "Redox Dev Tools"},
            "Destinations": [{"ID": "af394f14-b34a-464f-8d24-895f370af4c9", "Name": "Redox EMR"}],
            "Logs": [{"ID": log_id, "AttemptID": attempt_id}],
            "FacilityCode": "RDX"
        },
        "Patient": {
            "Identifiers": [{"ID": "0000000001", "IDType": "MR"}],
            "Demographics": {"FirstName": "Zoë", "LastName": "Bixby-Ørsted"}
        },
        "Notes": ""
    });
    let base = document.to_string().len();
    let filler = "n".repeat(size.saturating_sub(base));
    document["Notes"] = serde_json::Value::String(filler);
    document.to_string().into_bytes()
}

/// One reconciliation case: a fault on one action, in one mode, on one
/// queue type, with or without S3 offload.
#[derive(Debug, Clone)]
struct Case {
    id: usize,
    mode: Mode,
    queue: QueueType,
    offload: bool,
    action: &'static str,
    kind: Kind,
}

impl Case {
    fn tag(&self) -> String {
        format!(
            "fault-{:03}-{}-{}",
            self.id,
            self.mode.name(),
            self.queue.name()
        )
    }

    /// Whether SendMessage may have stored a copy whose answer was lost.
    fn ambiguous_send(&self) -> bool {
        self.action == SEND_MESSAGE && self.kind.ambiguous()
    }

    fn fault_label(&self) -> String {
        if self.action == DELETE_OBJECT {
            format!(
                "{DELETE_OBJECT} {} (SendMessage error400)",
                self.kind.as_str()
            )
        } else {
            format!("{} {}", self.action, self.kind.as_str())
        }
    }
}

fn cases(mode: Mode) -> Vec<Case> {
    let send_kinds = [
        Kind::Error500,
        Kind::Drop,
        Kind::Throttle,
        Kind::SlowBeforeCommit,
        Kind::DropAfterCommit,
        Kind::LateAfterCommit,
    ];
    let mut specs: Vec<(bool, &'static str, Kind)> = Vec::new();
    for offload in [false, true] {
        for kind in send_kinds {
            specs.push((offload, SEND_MESSAGE, kind));
        }
    }
    for kind in [Kind::Error500, Kind::Drop, Kind::DropAfterCommit] {
        specs.push((true, PUT_OBJECT, kind));
    }
    for kind in [Kind::Error500, Kind::Drop] {
        specs.push((true, DELETE_OBJECT, kind));
    }
    let base = match mode {
        Mode::Local => 0,
        Mode::Lambda => 100,
    };
    let mut all = Vec::new();
    for queue in [QueueType::Standard, QueueType::Fifo] {
        for (offload, action, kind) in &specs {
            all.push(Case {
                id: base + all.len(),
                mode,
                queue,
                offload: *offload,
                action,
                kind: *kind,
            });
        }
    }
    all
}

/// What one case saw, for the table and the verdict.
#[derive(Debug, Default)]
struct Row {
    id: usize,
    mode: &'static str,
    queue: &'static str,
    body: &'static str,
    fault: String,
    pushes: usize,
    acknowledged: usize,
    queued: usize,
    readable: usize,
    duplicates: usize,
    orphans: usize,
    slowest: Duration,
    failures: Vec<String>,
    notes: Vec<String>,
}

struct MessageOutcome {
    log_id: String,
    attempts: usize,
    acknowledged: bool,
    answers: Vec<String>,
}

/// Receives (and deletes, so FIFO groups move on) every message.
async fn drain(world: &World, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let mut all = Vec::new();
    loop {
        let out = world
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(120)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        let batch = out.messages.unwrap_or_default();
        if batch.is_empty() {
            return all;
        }
        for message in &batch {
            world
                .sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle.clone().unwrap_or_default())
                .send()
                .await
                .expect("delete message");
        }
        all.extend(batch);
    }
}

async fn object(world: &World, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let output = world
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .ok()?;
    Some(output.body.collect().await.ok()?.into_bytes().to_vec())
}

fn run_case(rt: &tokio::runtime::Runtime, world: &World, proxy: &FaultProxy, case: &Case) -> Row {
    let tag = case.tag();
    let fifo = case.queue == QueueType::Fifo;
    let queue_name = if fifo {
        format!("{tag}.fifo")
    } else {
        tag.clone()
    };
    let bucket = format!("{tag}-payloads");
    let queue_url = rt.block_on(world.queue(&queue_name));
    let mut env = proxy.aws_env();
    env.extend([
        ("REDOX_VERIFICATION_TOKEN".to_string(), TOKEN.to_string()),
        ("REDOX_QUEUE_URL".to_string(), queue_url.clone()),
        (
            "REDOX_AWS_TIMEOUT_MS".to_string(),
            AWS_TIMEOUT_MS.to_string(),
        ),
    ]);
    if case.offload {
        rt.block_on(world.s3.create_bucket().bucket(&bucket).send())
            .expect("create bucket");
        env.extend([
            ("REDOX_PAYLOAD_BUCKET".to_string(), bucket.clone()),
            ("REDOX_OFFLOAD_ALL".to_string(), "true".to_string()),
        ]);
    }
    let front = Front::start(case.mode, &env);

    // Queue URLs end in /<tag>[.fifo], bucket paths start with /<tag>-.
    let scope = format!("/{tag}");
    if case.action == DELETE_OBJECT {
        // SQS definitely refuses the first calls, so the upload is removed
        // again, and that removal fails.
        proxy.add(
            &Fault::new(SEND_MESSAGE, Kind::Error400)
                .count(FAULTED_CALLS)
                .matching(&scope),
        );
        proxy.add(&Fault::new(DELETE_OBJECT, case.kind).matching(&scope));
    } else {
        proxy.add(
            &Fault::new(case.action, case.kind)
                .count(FAULTED_CALLS)
                .delay(SLOW)
                .matching(&scope),
        );
    }

    let mut row = Row {
        id: case.id,
        mode: case.mode.name(),
        queue: case.queue.name(),
        body: if case.offload { "s3" } else { "inline" },
        fault: case.fault_label(),
        ..Row::default()
    };
    let mut bodies: HashMap<(String, String), Vec<u8>> = HashMap::new();
    let mut outcomes = Vec::new();
    for m in 0..MESSAGES {
        let log_id = format!("{tag}-m{m}");
        let size = 400 + m * 333 + (case.id % 7) * 11;
        let mut outcome = MessageOutcome {
            log_id: log_id.clone(),
            attempts: 0,
            acknowledged: false,
            answers: Vec::new(),
        };
        for attempt in 0..REDOX_ATTEMPTS {
            let attempt_id = format!("{log_id}-a{attempt}");
            let body = redox_push(&log_id, &attempt_id, size);
            bodies.insert((log_id.clone(), attempt_id), body.clone());
            let started = Instant::now();
            let answer = front.push(&body);
            let took = started.elapsed();
            row.slowest = row.slowest.max(took);
            row.pushes += 1;
            outcome.attempts += 1;
            outcome.answers.push(format!(
                "{}{} {}ms",
                answer.status,
                match answer.error_code().as_str() {
                    "" => String::new(),
                    code => format!(" {code}"),
                },
                took.as_millis()
            ));
            if (200..300).contains(&answer.status) {
                outcome.acknowledged = true;
                row.acknowledged += 1;
                break;
            }
            if answer.status != 503 || answer.retry_after.is_none() {
                row.failures.push(format!(
                    "{log_id}: a refusal must be 503 with Retry-After, got {} (retry-after {:?}): {}",
                    answer.status, answer.retry_after, answer.body
                ));
            }
            std::thread::sleep(REDOX_PAUSE);
        }
        outcomes.push(outcome);
    }
    // Slow and late calls still reach moto after their client gave up.
    if case.kind.ambiguous() {
        std::thread::sleep(SLOW + Duration::from_millis(600));
    }

    // Reconcile through moto directly.
    let messages = rt.block_on(drain(world, &queue_url));
    row.queued = messages.len();
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    let mut referenced: HashSet<String> = HashSet::new();
    for message in &messages {
        let log_id = attribute(message, "RedoxLogId").unwrap_or_default();
        let attempt_id = attribute(message, "RedoxAttemptId").unwrap_or_default();
        *copies.entry(log_id.clone()).or_default() += 1;
        let text = message.body.clone().unwrap_or_default();
        let stored = if attribute(message, "ExtendedPayloadSize").is_some() {
            let pointer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let bucket_name = pointer[1]["s3BucketName"].as_str().unwrap_or_default();
            let key = pointer[1]["s3Key"].as_str().unwrap_or_default().to_string();
            referenced.insert(key.clone());
            match rt.block_on(object(world, bucket_name, &key)) {
                Some(bytes) => Some(bytes),
                None => {
                    row.failures.push(format!(
                        "{log_id} ({attempt_id}): the pointer to s3://{bucket_name}/{key} does not resolve"
                    ));
                    None
                }
            }
        } else {
            if case.offload {
                row.failures.push(format!(
                    "{log_id}: an inline body although REDOX_OFFLOAD_ALL=true"
                ));
            }
            Some(text.into_bytes())
        };
        let Some(stored) = stored else { continue };
        match bodies.get(&(log_id.clone(), attempt_id.clone())) {
            Some(expected) if *expected == stored => row.readable += 1,
            Some(expected) => row.failures.push(format!(
                "{log_id} ({attempt_id}): the body differs ({} bytes stored, {} sent)",
                stored.len(),
                expected.len()
            )),
            None => row.failures.push(format!(
                "a message with unknown RedoxLogId {log_id:?} / RedoxAttemptId {attempt_id:?}"
            )),
        }
    }
    row.duplicates = messages.len() - copies.len();
    if case.offload {
        let keys = rt.block_on(world.object_keys(&bucket));
        row.orphans = keys.iter().filter(|k| !referenced.contains(*k)).count();
        for key in &keys {
            if !key.starts_with("redox/") || key.len() < "redox/2026-11-30/".len() + 32 {
                row.failures
                    .push(format!("object key {key} is not redox/<YYYY-MM-DD>/<uuid>"));
            }
        }
    }

    for outcome in &outcomes {
        let log_id = &outcome.log_id;
        let n = copies.get(log_id).copied().unwrap_or(0);
        let sends = proxy
            .stats_matching(&format!("RedoxLogId={log_id}"))
            .get(SEND_MESSAGE);
        let history = outcome.answers.join(", ");
        if !outcome.acknowledged {
            row.failures.push(format!(
                "{log_id}: no 2xx in {} attempts ({history})",
                outcome.attempts
            ));
        } else if n == 0 {
            row.failures.push(format!(
                "{log_id}: acknowledged but not in the queue ({history})"
            ));
        }
        if n as u64 > sends.forwarded {
            row.failures.push(format!(
                "{log_id}: {n} copies but only {} SendMessage calls reached SQS (harness bug?)",
                sends.forwarded
            ));
        }
        if sends.seen > SEND_ATTEMPTS_PER_REQUEST * outcome.attempts as u64 {
            row.failures.push(format!(
                "{log_id}: {} SendMessage calls for {} Redox attempts: more than {SEND_ATTEMPTS_PER_REQUEST} per request",
                sends.seen, outcome.attempts
            ));
        }
        if case.action == SEND_MESSAGE
            && matches!(case.kind, Kind::SlowBeforeCommit | Kind::LateAfterCommit)
            && sends.seen > outcome.attempts as u64
        {
            row.failures.push(format!(
                "{log_id}: SendMessage sent again after a timeout: {} calls for {} Redox attempts ({history})",
                sends.seen, outcome.attempts
            ));
        }
        if fifo && n > 1 {
            row.failures.push(format!(
                "{log_id}: {n} copies on a FIFO queue (de-duplication by RedoxLogId failed)"
            ));
        }
        // On a loaded machine a call without a fault can be slow enough
        // for the client to give up, and then commit: that is ambiguous too.
        let slow_without_fault = proxy
            .log_matching(&format!("RedoxLogId={log_id}"))
            .iter()
            .filter(|r| r.action == SEND_MESSAGE && r.fault.is_none())
            .any(|r| r.total.unwrap_or_default() >= Duration::from_millis(AWS_TIMEOUT_MS / 2));
        if slow_without_fault {
            row.notes
                .push(format!("{log_id}: an unfaulted SendMessage was slow"));
        }
        if !fifo && !case.ambiguous_send() && !slow_without_fault && outcome.acknowledged && n > 1 {
            row.failures.push(format!(
                "{log_id}: {n} copies, though no SendMessage answer was lost ({history})"
            ));
        }
    }
    if row.slowest > REQUEST_DEADLINE + Duration::from_secs(1) {
        row.failures.push(format!(
            "the slowest answer took {:?}, past the {REQUEST_DEADLINE:?} request deadline",
            row.slowest
        ));
    }
    if std::env::var_os("FAULTS_TRACE").is_some() {
        eprintln!(
            "trace {tag} {} {}: {}",
            row.body,
            row.fault,
            proxy.trace_matching(&scope)
        );
    }
    if !row.failures.is_empty() {
        row.failures
            .push(format!("proxy trace: {}", proxy.trace_matching(&scope)));
        let log = front.log_tail();
        if !log.is_empty() {
            row.failures.push(format!("function log tail:\n{log}"));
        }
    }
    row
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| mode | queue | body | fault | pushes | 2xx | queued | readable | duplicates | orphans | slowest ms | verdict |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.mode,
            row.queue,
            row.body,
            row.fault,
            row.pushes,
            row.acknowledged,
            row.queued,
            row.readable,
            row.duplicates,
            if row.body == "s3" {
                row.orphans.to_string()
            } else {
                "-".into()
            },
            row.slowest.as_millis(),
            match (row.failures.is_empty(), row.notes.is_empty()) {
                (false, _) => "FAIL",
                (true, true) => "ok",
                (true, false) => "ok (note)",
            }
        ));
    }
    if rows.iter().any(|row| !row.notes.is_empty()) {
        out.push('\n');
    }
    for row in rows {
        for note in &row.notes {
            out.push_str(&format!(
                "note ({} {} {}): {note}\n",
                row.mode, row.queue, row.fault
            ));
        }
    }
    out
}

static TABLE_FILE: Mutex<()> = Mutex::new(());

/// Writes this mode's table to `target/fault-table-<mode>.md` and the
/// tables of every mode so far to `target/fault-table.md`.
fn write_table(mode: Mode, text: &str) {
    let _guard = TABLE_FILE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo_root().join("target");
    let _ = std::fs::write(dir.join(format!("fault-table-{}.md", mode.name())), text);
    let mut all = String::from("# Delivery under faults\n\n");
    for mode in [Mode::Local, Mode::Lambda] {
        if let Ok(part) =
            std::fs::read_to_string(dir.join(format!("fault-table-{}.md", mode.name())))
        {
            all.push_str(&format!("## {} mode\n\n{part}\n", mode.name()));
        }
    }
    let _ = std::fs::write(dir.join("fault-table.md"), all);
}

fn reconcile(mode: Mode) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let world = rt.block_on(World::start());
    let proxy = FaultProxy::start(&world.moto);
    let started = Instant::now();
    let pending = Mutex::new(cases(mode).into_iter().collect::<VecDeque<_>>());
    let rows = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                loop {
                    let Some(case) = pending.lock().unwrap().pop_front() else {
                        return;
                    };
                    let row = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        run_case(&rt, &world, &proxy, &case)
                    }))
                    .unwrap_or_else(|payload| Row {
                        id: case.id,
                        mode: case.mode.name(),
                        queue: case.queue.name(),
                        body: if case.offload { "s3" } else { "inline" },
                        fault: case.fault_label(),
                        failures: vec![format!("the case panicked: {}", panic_text(&*payload))],
                        ..Row::default()
                    });
                    rows.lock().unwrap().push(row);
                }
            });
        }
    });
    let mut rows = rows.into_inner().unwrap();
    rows.sort_by_key(|row| row.id);
    let text = table(&rows);
    eprintln!(
        "\ndelivery under faults, {} mode ({:.1?}):\n{text}",
        mode.name(),
        started.elapsed()
    );
    write_table(mode, &text);
    let failures: Vec<String> = rows
        .iter()
        .filter(|row| !row.failures.is_empty())
        .map(|row| {
            format!(
                "[{} {} {} {}]\n  {}",
                row.mode,
                row.queue,
                row.body,
                row.fault,
                row.failures.join("\n  ")
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn every_acknowledged_message_is_queued_and_readable_under_aws_faults_local_server() {
    reconcile(Mode::Local);
}

#[test]
fn every_acknowledged_message_is_queued_and_readable_under_aws_faults_lambda_mode() {
    reconcile(Mode::Lambda);
}

// ---------------------------------------------------------------------------
// Deadlines

/// moto, the proxy, and a standard queue.
fn world_with_proxy(queue: &str) -> (tokio::runtime::Runtime, World, FaultProxy, String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let world = rt.block_on(World::start());
    let proxy = FaultProxy::start(&world.moto);
    let queue_url = rt.block_on(world.queue(queue));
    (rt, world, proxy, queue_url)
}

fn queue_env(proxy: &FaultProxy, queue_url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = proxy.aws_env();
    env.push(("REDOX_VERIFICATION_TOKEN".into(), TOKEN.into()));
    env.push(("REDOX_QUEUE_URL".into(), queue_url.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn assert_deadline_answer(answer: &Answer, took: Duration, bound: Duration) {
    assert_eq!(answer.status, 503, "{answer:?} after {took:?}");
    assert_eq!(
        answer.error_code(),
        "deadline_exceeded",
        "{answer:?} after {took:?}"
    );
    assert!(answer.retry_after.is_some(), "no Retry-After: {answer:?}");
    assert!(
        took < bound,
        "the deadline answer came after {took:?} (bound {bound:?}): {answer:?}"
    );
}

#[test]
fn an_invocation_is_answered_503_before_its_deadline_while_sqs_hangs() {
    let (rt, world, proxy, queue_url) = world_with_proxy("redox-deadline-lambda");
    // REDOX_AWS_TIMEOUT_MS keeps its default (5 s): only the invocation
    // deadline (1.5 s away, less REDOX_DEADLINE_MARGIN_MS) can stop the call.
    let front = Front::start(Mode::Lambda, &queue_env(&proxy, &queue_url, &[]));
    proxy.inject(SEND_MESSAGE, Kind::Hang, -1, Duration::from_secs(10));

    let budget = Duration::from_millis(1500);
    let body = redox_push("deadline-lambda-1", "a1", 600);
    let started = Instant::now();
    let answer = front.push_with_deadline(&body, budget);
    let took = started.elapsed();
    eprintln!("deadline answer in Lambda mode after {took:?}");
    // `invoke` returns after the answer reached the Runtime API, and the
    // deadline counts from the function receiving the event: so `took`
    // below the budget means the answer arrived before deadline_ms.
    assert_deadline_answer(&answer, took, budget);

    proxy.clear();
    let answer = front.push(&redox_push("deadline-lambda-2", "a1", 600));
    assert_eq!(answer.status, 200, "the next invocation: {answer:?}");
    let messages = rt.block_on(drain(&world, &queue_url));
    let ids: Vec<String> = messages
        .iter()
        .filter_map(|m| attribute(m, "RedoxLogId"))
        .collect();
    assert_eq!(
        ids,
        ["deadline-lambda-2"],
        "the hung call was never forwarded"
    );
}

#[test]
fn the_local_server_answers_503_within_its_request_timeout_while_sqs_hangs() {
    let (_rt, _world, proxy, queue_url) = world_with_proxy("redox-deadline-local");
    let front = Front::start(
        Mode::Local,
        &queue_env(&proxy, &queue_url, &[("REDOX_REQUEST_TIMEOUT_MS", "1500")]),
    );
    proxy.inject(SEND_MESSAGE, Kind::Hang, -1, Duration::from_secs(10));
    let started = Instant::now();
    let answer = front.push(&redox_push("deadline-local-1", "a1", 600));
    let took = started.elapsed();
    eprintln!("deadline answer locally after {took:?}");
    assert_deadline_answer(&answer, took, Duration::from_secs(3));

    proxy.clear();
    let answer = front.push(&redox_push("deadline-local-2", "a1", 600));
    assert_eq!(answer.status, 200, "after the fault cleared: {answer:?}");
}

// ---------------------------------------------------------------------------
// Auth material under a failing Secrets Manager

/// One push over its own connection, with a read timeout.
fn try_post(port: u16, body: &[u8], timeout: Duration) -> Result<HttpAnswer, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut head = format!("POST / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for (name, value) in push_headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(body))
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("no answer within {timeout:?}: {e}"))?;
    if raw.is_empty() {
        return Err("the connection closed without an answer".into());
    }
    Ok(parse_answer(&raw))
}

/// moto with a secret, the proxy, and a local server reading the secret
/// through the proxy and spooling to a temp dir.
struct SecretsSetup {
    _rt: tokio::runtime::Runtime,
    _world: World,
    proxy: FaultProxy,
    secret: String,
    spool: tempfile::TempDir,
}

impl SecretsSetup {
    fn new(name: &str) -> SecretsSetup {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let world = rt.block_on(World::start());
        let proxy = FaultProxy::start(&world.moto);
        let secret = rt.block_on(world.secret(
            name,
            &serde_json::json!({ "verification_tokens": [TOKEN] }).to_string(),
        ));
        SecretsSetup {
            _rt: rt,
            _world: world,
            proxy,
            secret,
            spool: tempfile::tempdir().expect("spool dir"),
        }
    }

    fn server(&self, extra: &[(&str, &str)]) -> LocalServer {
        let mut env = self.proxy.aws_env();
        env.push(("REDOX_SECRET_ID".into(), self.secret.clone()));
        env.push((
            "REDOX_SPOOL_DIR".into(),
            self.spool.path().to_string_lossy().into_owned(),
        ));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        LocalServer::start(&env)
    }

    fn get_secret_value_calls(&self) -> u64 {
        self.proxy.stats().get(GET_SECRET_VALUE).seen
    }
}

#[test]
fn a_secrets_manager_brown_out_with_material_cached_does_not_slow_pushes() {
    let setup = SecretsSetup::new("redox/brown-out");
    // A re-fetch may start once a second, so after 1.2 s both the TTL and
    // the re-fetch interval have passed.
    let server = setup.server(&[
        ("REDOX_SECRET_TTL_SECS", "1"),
        ("REDOX_SECRET_REFETCH_SECS", "1"),
    ]);
    let body = redox_push("brown-out-0", "a1", 500);
    let answer = try_post(server.port, &body, Duration::from_secs(10)).expect("first push");
    assert_eq!(answer.status, 200, "{}", answer.text());

    // The cached copy is now past its TTL, and Secrets Manager hangs.
    std::thread::sleep(Duration::from_millis(1200));
    let before = setup.get_secret_value_calls();
    setup
        .proxy
        .inject(GET_SECRET_VALUE, Kind::Hang, -1, Duration::from_secs(10));
    let mut timings = Vec::new();
    for i in 1..=6 {
        let body = redox_push(&format!("brown-out-{i}"), "a1", 500);
        let started = Instant::now();
        let answer = try_post(server.port, &body, Duration::from_secs(15));
        let took = started.elapsed();
        let passed = matches!(&answer, Ok(a) if (200..300).contains(&a.status));
        timings.push((answer.map(|a| a.status), took));
        if !passed || took >= Duration::from_secs(1) {
            break; // the verdict is in; the rest would each wait as long
        }
    }
    let calls = setup.get_secret_value_calls() - before;
    eprintln!("brown-out: {timings:?}; {calls} GetSecretValue calls");
    for (i, (status, took)) in timings.iter().enumerate() {
        assert!(
            matches!(status, Ok(s) if (200..300).contains(s)) && *took < Duration::from_secs(1),
            "push {} of 6 got {status:?} after {took:?}: the stale copy must serve at once while one refresh runs (all: {timings:?})",
            i + 1
        );
    }
    assert_eq!(timings.len(), 6, "{timings:?}");
    assert!(
        calls <= 4,
        "{calls} GetSecretValue calls during the brown-out: one refresh, not one per push"
    );
}

/// 30 concurrent pushes with nothing cached and Secrets Manager failing
/// with `kind`; then the fault clears and pushes pass again.
fn cold_herd(kind: Kind) {
    let setup = SecretsSetup::new(&format!("redox/cold-{}", kind.as_str()));
    setup
        .proxy
        .inject(GET_SECRET_VALUE, kind, -1, Duration::from_secs(10));
    let server = setup.server(&[
        ("REDOX_AWS_TIMEOUT_MS", "1000"),
        ("REDOX_SECRET_REFETCH_SECS", "1"),
        ("REDOX_REQUEST_TIMEOUT_MS", "3000"),
    ]);
    let before = setup.get_secret_value_calls();
    let bound = Duration::from_secs(3) + Duration::from_secs(2);
    let started = Instant::now();
    let results: Vec<(Result<HttpAnswer, String>, Duration)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..30)
            .map(|i| {
                let port = server.port;
                scope.spawn(move || {
                    let body = redox_push(&format!("cold-{i}"), "a1", 500);
                    let started = Instant::now();
                    let answer = try_post(port, &body, bound + Duration::from_secs(3));
                    (answer, started.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("push thread"))
            .collect()
    });
    let herd_time = started.elapsed();
    let calls = setup.get_secret_value_calls() - before;
    let slowest = results
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    let summary: BTreeMap<String, usize> =
        results.iter().fold(BTreeMap::new(), |mut acc, (r, _)| {
            let key = match r {
                Ok(a) => format!(
                    "{} {}",
                    a.status,
                    serde_json::from_slice::<serde_json::Value>(&a.body)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
                Err(e) => format!("no answer: {e}"),
            };
            *acc.entry(key).or_default() += 1;
            acc
        });
    eprintln!(
        "cold herd ({}): {summary:?}, slowest {slowest:?}, all in {herd_time:?}, {calls} GetSecretValue calls",
        kind.as_str()
    );
    for (result, took) in &results {
        let answer = result
            .as_ref()
            .unwrap_or_else(|e| panic!("a push got no answer ({e}) after {took:?}: {summary:?}"));
        assert_eq!(answer.status, 503, "{}: {summary:?}", answer.text());
        let code = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        assert!(
            code == "auth_unavailable" || code == "deadline_exceeded",
            "{}",
            answer.text()
        );
        assert!(answer.header("retry-after").is_some(), "no Retry-After");
        assert!(
            *took < bound,
            "a push waited {took:?} (deadline 3 s + margin): {summary:?}"
        );
    }
    assert!(
        calls <= 8,
        "{calls} GetSecretValue calls for 30 concurrent pushes: concurrent requests must share one fetch"
    );

    // The fault clears: within REDOX_SECRET_REFETCH_SECS pushes pass again.
    setup.proxy.clear();
    let cleared = Instant::now();
    let mut last = String::new();
    let recovered =
        support::faults::eventually(Duration::from_secs(4), Duration::from_millis(100), || {
            match try_post(
                server.port,
                &redox_push("cold-after", "a1", 500),
                Duration::from_secs(5),
            ) {
                Ok(answer) if answer.status == 200 => true,
                Ok(answer) => {
                    last = format!("{} {}", answer.status, answer.text());
                    false
                }
                Err(e) => {
                    last = e;
                    false
                }
            }
        });
    let took = cleared.elapsed();
    assert!(
        recovered,
        "no push passed within {took:?} after Secrets Manager recovered; last: {last}"
    );
    assert!(
        took < Duration::from_secs(3),
        "pushes passed again only after {took:?} (REDOX_SECRET_REFETCH_SECS=1)"
    );
}

#[test]
fn a_cold_herd_with_secrets_manager_failing_shares_one_fetch_and_recovers() {
    cold_herd(Kind::Error500);
}

#[test]
fn a_cold_herd_with_secrets_manager_hanging_shares_one_fetch_and_recovers() {
    cold_herd(Kind::Hang);
}
