#!/usr/bin/env python3
"""Every sample event in events/ through cargo-lambda's own Lambda emulator.

`make lambda-events` runs this script (`make test` with --release). It builds
the function with the very `cargo build` that `cargo lambda watch` asks for
(so the emulator's own build is a no-op, and compile errors show here), starts
`cargo lambda watch` in the background (the example auth material
events/example-secret.json, a temporary spool folder instead of SQS, a free
port), wakes the function with a warm-up invocation (cargo-lambda starts it
only on the first one) and waits until it is up, then:

1. invokes every event file in events/ with `cargo lambda invoke --data-file`
   (the SigV4 sample re-signed at the current time by scripts/sign_event.py
   first) and compares the answer with events/expected.json: status, body or
   error code, and whether a message was spooled;
2. sends a verification handshake (POST and GET) and token pushes with curl
   to the emulator's Function URL endpoint, so the event that cargo-lambda
   builds from a real HTTP request is exercised too;
3. the SQS samples (expected.json names "function": "redox-consumer") go to
   redox-consumer instead, in a second `cargo lambda watch` against a moto
   server from the venv (S3 only), where each body in events/payloads/ is
   first stored at the bucket and key its sample's pointer names; the answer's
   batchItemFailures must list exactly the expected message ids.

It prints one line per check, stops the emulator and everything it started,
and exits 1 on any mismatch (2 when the emulator cannot be started).

Usage:
    .venv/bin/python scripts/lambda_events.py [--release] [--port N] [--start-timeout SECONDS]

--release runs the static release build of `make build-release`
(target/x86_64-unknown-linux-gnu/release), with the same target and flags.

Needs `cargo lambda` (cargo-lambda from PyPI: `make lambda-tools`) and curl on
PATH, and moto_server and boto3 beside this Python (`make venv`).
"""

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
EXPECTED = EVENTS / "expected.json"
SECRET = EVENTS / "example-secret.json"
NOT_EVENTS = {EXPECTED.name, SECRET.name}
FUNCTION = "redox-destination"
CONSUMER = "redox-consumer"
PAYLOADS = EVENTS / "payloads"
# What the function logs once it is configured and about to poll /next.
READY_LINE = "lambda runtime starting"
CONSUMER_READY_LINE = "redox-consumer starting"
# With --release: the build `make build-release` makes (the static binary
# the tests and the image use), asked for with the same target and flags (the
# Makefile's RELEASE_FLAGS), so neither the build below nor cargo lambda
# watch's compiles anything again.
RELEASE_TARGET = "x86_64-unknown-linux-gnu"
RELEASE_ENV = {
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS": '-C target-feature=+crt-static --cfg getrandom_backend="linux_getrandom"'
}


def cargo_profile(release):
    """(extra cargo arguments, extra environment) for the chosen build."""
    return (["--release", "--target", RELEASE_TARGET], RELEASE_ENV) if release else ([], {})


def fail_start(message, log=None):
    print(f"lambda-events: {message}", file=sys.stderr)
    if log is not None and log.exists():
        tail = log.read_text(errors="replace").splitlines()[-30:]
        print("---- last lines of the cargo lambda watch output ----", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
    sys.exit(2)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def spooled(spool):
    """Message files in the spool (the temp files of atomic writes excluded)."""
    return sorted(p.name for p in spool.glob("*.json")) if spool.exists() else []


# ---- processes -------------------------------------------------------------


def proc_table():
    """pid -> (ppid, session id) for every process we can see."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[3]))
    return table


def family(root_pid):
    """The process root_pid started (its own session) and all its descendants."""
    table = proc_table()
    found = {pid for pid, (_, sid) in table.items() if sid == root_pid}
    if root_pid in table:
        found.add(root_pid)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def stop(watch):
    """Stops cargo lambda watch and every process it started; returns leftovers."""
    members = family(watch.pid)
    if watch.poll() is None:
        # SIGINT is what Ctrl-C sends: cargo lambda watch stops the function and exits.
        os.kill(watch.pid, signal.SIGINT)
        try:
            watch.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    members |= family(watch.pid)
    for pid in sorted(members):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if watch.poll() is None:
        watch.wait(timeout=10)
    time.sleep(0.2)
    table = proc_table()
    return sorted(pid for pid in members if pid in table and not is_zombie(pid))


def is_zombie(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2 :].split()[0] == "Z"


# ---- the emulator ----------------------------------------------------------


def start_watch(port, workdir, release, function, variables):
    env_file = workdir / f"{function}.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
    command = [
        "cargo", "lambda", "watch",
        "--ignore-changes",
        "--invoke-address", "127.0.0.1",
        "--invoke-port", str(port),
        "--bin", function,
        "--env-file", str(env_file),
    ]
    profile_args, profile_env = cargo_profile(release)
    command += profile_args
    # The caller's own REDOX_* settings (a queue URL, a token) must not change the answers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDOX_")}
    env.update(profile_env)
    log = workdir / f"watch-{function}.log"
    print(f"lambda-events: {' '.join(command)}  (output: {log})", flush=True)
    with open(log, "wb") as out:
        watch = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session and process group, ended as one
        )
    return watch, log


def wait_ready(watch, port, log, timeout, function=FUNCTION, ready_line=READY_LINE):
    """None once the function answers through the emulator, else the problem.

    cargo lambda watch serves its APIs at once but builds and starts the
    function (`cargo run`) only on the first invocation; a warm-up
    invocation with an event that is not an HTTP event (answered 400) makes
    that happen here, where a slow build, a compile error or a function that
    refuses to start is reported as such, not as a failed sample event.
    """
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if watch.poll() is not None:
            return f"cargo lambda watch exited with status {watch.returncode} before it served on port {port}"
        if time.monotonic() > deadline:
            return f"cargo lambda watch did not serve on port {port} within {timeout:.0f} s"
        time.sleep(0.1)
    warm_up = subprocess.Popen(
        invoke_command(port, "--data-ascii", "{}", function=function),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            text = log.read_text(errors="replace")
            if ready_line in text and warm_up.poll() is not None:
                return None
            if watch.poll() is not None:
                return f"cargo lambda watch exited with status {watch.returncode} before the function was ready"
            if "error: could not compile" in text:
                return "the function does not compile"
            if "configuration error" in text or "start-up error" in text:
                return "the function refused to start"
            if warm_up.poll() is not None and ready_line not in text:
                return "the warm-up invocation failed before the function started"
            if time.monotonic() > deadline:
                return (
                    f"the function was not ready within {timeout:.0f} s "
                    "(on a busy machine: --start-timeout)"
                )
            time.sleep(0.25)
    finally:
        if warm_up.poll() is None:
            warm_up.kill()
        warm_up.wait()


# ---- checks ----------------------------------------------------------------


class Report:
    def __init__(self):
        self.failures = 0
        self.passes = 0

    def line(self, name, want_status, status, want_queued, queued, problems):
        ok = not problems
        self.passes += ok
        self.failures += not ok
        yes = {True: "yes", False: "no", None: "-"}
        print(
            f"{name:<44} {want_status!s:>8} {status!s:>6}   {yes[want_queued]:>3} {yes[queued]:>3}   "
            + ("ok" if ok else "MISMATCH: " + "; ".join(problems)),
            flush=True,
        )


def invoke_command(port, *data, function=FUNCTION):
    # Long option names only: in cargo-lambda 1.9 `invoke -A` is both
    # --invoke-address and --data-ascii.
    return [
        "cargo", "lambda", "invoke", function,
        "--invoke-address", "127.0.0.1",
        "--invoke-port", str(port),
        "--output-format", "json",
        *data,
    ]


def invoke_json(port, data_file, function=FUNCTION):
    """The function's answer to one event, as JSON, or raises."""
    result = subprocess.run(
        invoke_command(port, "--data-file", str(data_file), function=function),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cargo lambda invoke failed: {(result.stderr or result.stdout).strip()[-300:]}")
    return json.loads(result.stdout)


def invoke(port, data_file):
    """Returns (status, headers, body text) of the function's answer, or raises."""
    answer = invoke_json(port, data_file)
    body = answer.get("body") or ""
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    return answer.get("statusCode"), headers, body


def compare(want, status, body, queued_now):
    problems = []
    if status != want["status"]:
        problems.append(f"status {status}, expected {want['status']}: {body[:200]}")
    if "body_equals" in want and body != want["body_equals"]:
        problems.append(f"body {body[:80]!r}, expected {want['body_equals']!r}")
    if "error" in want:
        try:
            code = json.loads(body).get("error")
        except (ValueError, AttributeError):
            code = None
        if code != want["error"]:
            problems.append(f"error {code!r}, expected {want['error']!r}")
    if "queued" in want and queued_now != want["queued"]:
        problems.append("queued" if queued_now else "not queued")
    return problems


def check_events(port, spool, workdir, expected, report):
    for name, want in expected.items():
        path = EVENTS / name
        before = spooled(spool)
        try:
            if want.get("resign"):
                signed = workdir / f"signed-{name}"
                subprocess.run(
                    [sys.executable, str(ROOT / "scripts" / "sign_event.py"), str(path), "--out", str(signed)],
                    check=True,
                    timeout=60,
                )
                path = signed
            status, _, body = invoke(port, path)
        except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as error:
            report.line(name, want.get("status"), "-", want.get("queued"), None, [str(error)])
            continue
        queued_now = len(spooled(spool)) > len(before)
        problems = compare(want, status, body, queued_now)
        new = [f for f in spooled(spool) if f not in before]
        if queued_now and len(new) != 1:
            problems.append(f"{len(new)} messages spooled")
        elif queued_now and "attributes" in want:
            try:
                got = json.loads((spool / new[0]).read_text())["attributes"]
                if got != want["attributes"]:
                    problems.append(f"attributes {got}, expected {want['attributes']}")
            except (OSError, ValueError, KeyError) as error:
                problems.append(f"the spooled message is unreadable: {error}")
        report.line(name, want.get("status"), status, want.get("queued"), queued_now, problems)


def curl(url, *args):
    """(status, body) of one request through the emulator's Function URL endpoint."""
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}", *args, url],
        capture_output=True,
        text=True,
        timeout=90,
    )
    if result.returncode != 0:
        raise RuntimeError(f"curl failed: {result.stderr.strip()}")
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def check_function_url(port, spool, report):
    token = json.loads(SECRET.read_text())["verification_tokens"][0]
    url = f"http://127.0.0.1:{port}/lambda-url/{FUNCTION}/"
    push = json.dumps(
        {
            "Meta": {
                "DataModel": "PatientAdmin",
                "EventType": "Arrival",
                "Test": True,
                "Source": {"ID": "7ce6f387-c33c-417d-8682-81e83628cbd9", "Name": "Redox Dev Tools"},
                "Logs": [{"ID": "d9f5d293-7110-461e-a875-3beb089e79f3", "AttemptID": "925d1617-2fe0-468c-a14c-f8c04b572c54"}],
            }
        }
    )
    challenge_post = "6f1c2a9e-8d3b-4c7a-9e2f-1a2b3c4d5e6f"
    challenge_get = "b3d9e1f0-2c4a-4e6b-8a1d-7f9e0c2b4a6d"
    checks = [
        (
            "url: POST handshake",
            {"status": 200, "body_equals": challenge_post, "queued": False},
            ["-H", "content-type: application/json",
             "-d", json.dumps({"verification-token": token, "challenge": challenge_post})],
            "",
        ),
        (
            "url: GET handshake",
            {"status": 200, "body_equals": challenge_get, "queued": False},
            ["-G", "--data-urlencode", f"challenge={challenge_get}", "--data-urlencode", f"verification-token={token}"],
            "",
        ),
        (
            "url: token push",
            {"status": 200, "queued": True},
            ["-H", "content-type: application/json", "-H", f"verification-token: {token}",
             "-H", f"authorization: Bearer {token}", "-d", push],
            "token",
        ),
        (
            "url: push, wrong token",
            {"status": 401, "error": "unauthorized", "queued": False},
            ["-H", "content-type: application/json", "-H", "verification-token: wrong", "-d", push],
            "",
        ),
    ]
    for name, want, args, auth_method in checks:
        before = spooled(spool)
        try:
            status, body = curl(url, *args)
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
            report.line(name, want["status"], "-", want["queued"], None, [str(error)])
            continue
        after = spooled(spool)
        new = [f for f in after if f not in before]
        problems = compare(want, status, body, bool(new))
        if new:
            # The answer names the message that was spooled, as the push's own record.
            try:
                message_id = json.loads(body)["message_id"]
                record = json.loads((spool / f"{message_id}.json").read_text())
                if record["attributes"].get("AuthMethod") != auth_method:
                    problems.append(f"AuthMethod {record['attributes'].get('AuthMethod')!r}")
                if record.get("body") != args[-1]:
                    problems.append("the spooled body differs from the one sent")
            except (OSError, ValueError, KeyError, TypeError) as error:
                problems.append(f"the answer does not name the spooled message: {error}")
        report.line(name, want["status"], status, want["queued"], bool(new), problems)


# ---- the consumer ----------------------------------------------------------


def start_moto(workdir):
    """A moto server (the venv's, beside this Python) on a free port: (process, endpoint)."""
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        fail_start(f"{server} is missing: `make venv` installs moto")
    port = free_port()
    log = open(workdir / "moto.log", "wb")
    moto = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not port_open(port):
        if moto.poll() is not None or time.monotonic() > deadline:
            moto.kill()
            fail_start(f"moto_server did not serve on port {port}", workdir / "moto.log")
        time.sleep(0.1)
    return moto, f"http://127.0.0.1:{port}"


MOTO_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def store_payloads(endpoint, samples):
    """Puts events/payloads/<sample> where the sample's pointer says; returns the buckets."""
    import boto3  # the venv's; only this part of the script needs it

    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name=MOTO_ENV["AWS_REGION"],
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    buckets = set()
    for name in samples:
        payload = PAYLOADS / name
        if not payload.exists():
            continue
        record = json.loads((EVENTS / name).read_text())["Records"][0]
        pointer = json.loads(record["body"])[1]
        bucket, key = pointer["s3BucketName"], pointer["s3Key"]
        if bucket not in buckets:
            s3.create_bucket(Bucket=bucket)
            buckets.add(bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=payload.read_bytes())
    return buckets


def check_consumer(port, samples, expected, report):
    for name in samples:
        want = expected[name]["batch_item_failures"]
        try:
            answer = invoke_json(port, EVENTS / name, function=CONSUMER)
        except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as error:
            report.line(name, f"{len(want)} fail", "-", None, None, [str(error)])
            continue
        problems = []
        try:
            got = [item["itemIdentifier"] for item in answer["batchItemFailures"]]
        except (KeyError, TypeError):
            got = None
            problems.append(f"not a batch response: {json.dumps(answer)[:200]}")
        if got is not None and got != want:
            problems.append(f"batchItemFailures {got}, expected {want}")
        report.line(name, f"{len(want)} fail", "-" if got is None else f"{len(got)} fail", None, None, problems)


def run_consumer(samples, expected, workdir, release, start_timeout, report):
    """The SQS samples through redox-consumer in its own emulator, against moto."""
    moto, endpoint = start_moto(workdir)
    watch = None
    try:
        buckets = store_payloads(endpoint, samples)
        variables = dict(MOTO_ENV, AWS_ENDPOINT_URL=endpoint, RUST_LOG="info")
        if len(buckets) == 1:
            variables["REDOX_PAYLOAD_BUCKET"] = next(iter(buckets))
        port = free_port()
        watch, log = start_watch(port, workdir, release, CONSUMER, variables)
        problem = wait_ready(watch, port, log, start_timeout, CONSUMER, CONSUMER_READY_LINE)
        if problem:
            report.line(CONSUMER, "ready", "-", None, None, [problem])
            return
        print(f"lambda-events: {CONSUMER} ready on port {port}", flush=True)
        check_consumer(port, samples, expected, report)
        if report.failures:
            print("---- last lines of the redox-consumer output ----", file=sys.stderr)
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]), file=sys.stderr)
    finally:
        if watch is not None:
            leftovers = stop(watch)
            if leftovers:
                print(f"lambda-events: processes still running after the {CONSUMER} emulator stopped: {leftovers}", file=sys.stderr)
                report.failures += 1
        moto.terminate()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
            moto.wait()


def load_expected():
    expected = json.loads(EXPECTED.read_text())
    files = sorted(p.name for p in EVENTS.glob("*.json") if p.name not in NOT_EVENTS)
    missing = [f for f in files if f not in expected]
    absent = [f for f in expected if f not in files]
    if missing or absent:
        fail_start(
            "events/expected.json and the events/ folder disagree: "
            + (f"no expectation for {', '.join(missing)}" if missing else "")
            + ("; " if missing and absent else "")
            + (f"no file for {', '.join(absent)}" if absent else "")
        )
    for name, want in expected.items():
        if want.get("function") == CONSUMER:
            if not isinstance(want.get("batch_item_failures"), list):
                fail_start(f"events/expected.json: {name} needs a batch_item_failures list")
        elif not isinstance(want.get("status"), int) or not isinstance(want.get("queued"), bool):
            fail_start(f"events/expected.json: {name} needs an integer status and a boolean queued")
    return {name: expected[name] for name in files}


def main():
    # A terminated run (CI's time limit, kill PID) still stops the emulator.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", action="store_true", help="run the release build (default: the debug build)")
    parser.add_argument("--port", type=int, help="the emulator's invoke port (default: a free one)")
    parser.add_argument("--start-timeout", type=float, default=120, help="seconds to wait for the emulator and the function to start")
    args = parser.parse_args()

    expected = load_expected()
    consumer_samples = [name for name, want in expected.items() if want.get("function") == CONSUMER]
    expected_http = {name: want for name, want in expected.items() if name not in consumer_samples}
    try:
        version = subprocess.run(["cargo", "lambda", "--version"], capture_output=True, text=True, timeout=60)
    except OSError as error:
        fail_start(f"cannot run cargo: {error}")
    if version.returncode != 0:
        fail_start("`cargo lambda` is not installed: `make lambda-tools` installs it into .venv (PATH must include .venv/bin)")
    print(f"lambda-events: {version.stdout.strip()}", flush=True)

    # The same build `cargo lambda watch` asks for (`cargo run --bin ...`),
    # done here in the open: progress and compile errors show as usual, and
    # the emulator's own build is then a no-op (checked below).
    profile_args, profile_env = cargo_profile(args.release)
    build = ["cargo", "build", "--bin", FUNCTION, "--bin", CONSUMER] + profile_args
    print(f"lambda-events: {' '.join([*(f'{k}={v!r}' for k, v in profile_env.items()), *build])}", flush=True)
    built = time.monotonic()
    if subprocess.run(build, cwd=ROOT, stdin=subprocess.DEVNULL, env={**os.environ, **profile_env}).returncode != 0:
        fail_start("the function does not build")
    build_took = time.monotonic() - built

    port = args.port or free_port()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lambda-events-") as tmp:
        workdir = Path(tmp)
        spool = workdir / "spool"
        watch, log = start_watch(
            port, workdir, args.release, FUNCTION,
            {"REDOX_SECRET_FILE": SECRET, "REDOX_SPOOL_DIR": spool, "RUST_LOG": "info"},
        )
        report = Report()
        try:
            problem = wait_ready(watch, port, log, args.start_timeout)
            if problem:
                leftovers = stop(watch)
                fail_start(problem + (f" (processes left: {leftovers})" if leftovers else ""), log)
            print(f"lambda-events: function ready on port {port} after {time.monotonic() - started:.1f} s", flush=True)
            rebuilt = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip().startswith("Compiling ")]
            if rebuilt:
                print(
                    f"lambda-events: note: cargo lambda watch compiled {len(rebuilt)} crates again "
                    f"(first: {rebuilt[0]}); its build should reuse the one above",
                    flush=True,
                )
            print(f"{'event':<44} {'expected':>8} {'actual':>6}   {'queued exp/act':<14}", flush=True)
            checks_started = time.monotonic()
            check_events(port, spool, workdir, expected_http, report)
            check_function_url(port, spool, report)
            checks_took = time.monotonic() - checks_started
        finally:
            leftovers = stop(watch)
        if leftovers:
            print(f"lambda-events: processes still running after the emulator stopped: {leftovers}", file=sys.stderr)
            report.failures += 1
        else:
            print(f"lambda-events: emulator stopped (pid {watch.pid} and its children); none left running")
        if consumer_samples:
            run_consumer(consumer_samples, expected, workdir, args.release, args.start_timeout, report)
        if report.failures:
            print("---- last lines of the cargo lambda watch output ----", file=sys.stderr)
            print("\n".join(log.read_text(errors="replace").splitlines()[-25:]), file=sys.stderr)
    print(
        f"lambda-events: build check {build_took:.1f} s, emulator start {checks_started - started:.1f} s, "
        f"checks {checks_took:.1f} s"
    )
    print(f"lambda-events: {report.passes} passed, {report.failures} failed")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
