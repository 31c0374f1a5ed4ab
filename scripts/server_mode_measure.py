#!/usr/bin/env python3
"""Server mode, measured: pushes of given sizes through S3 offload on moto.

Usage (from the repository root, after `make venv` and `cargo build --release`):

    .venv/bin/python scripts/server_mode_measure.py [BINARY] [SIZES]

BINARY defaults to the static release build (make build-release); SIZES is a
comma-separated list of body sizes in bytes (default 1, 6, 10 and 40 MB).
For each size it starts a fresh server (REDOX_MAX_BODY_BYTES=47185920, S3
offload on, a queue and a bucket on a moto server of its own), sends the
push REPEAT times (default 5), CONCURRENT at a time (default 1), over
loopback, and prints one line: the statuses, the median and slowest
latency, the process's peak RSS (VmHWM) and its RSS when idle and after.
This is how the README's "Measured" table under Server mode was made.
"""
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
BINARY = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/x86_64-unknown-linux-gnu/release/redox-destination")
SIZES = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else [
    1_000_000, 6_000_000, 10_000_000, 40_000_000]
REPEAT = int(os.environ.get("REPEAT", "5"))
CONCURRENT = int(os.environ.get("CONCURRENT", "1"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def message(size):
    """A Redox message of `size` bytes with non-ASCII filler."""
    head = (b'{"Meta":{"DataModel":"Clinical Summary","EventType":"PatientPush",'
            b'"Logs":[{"ID":"measure","AttemptID":"a"}]},"Document":{"Content":"')
    filler = "Résumé clinique — données de référence 0123456789. ".encode()
    body = head + filler * ((size - len(head) - 3) // len(filler))
    return body + b" " * (size - 3 - len(body)) + b'"}}'


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise SystemExit(f"no {field} for {pid}")


def push(port, body):
    with socket.create_connection(("127.0.0.1", port)) as s:
        head = ("POST / HTTP/1.1\r\nhost: redox.example.com\r\ncontent-type: application/json\r\n"
                f"verification-token: measure\r\ncontent-length: {len(body)}\r\n"
                "connection: close\r\n\r\n").encode()
        started = time.monotonic()
        s.sendall(head)
        s.sendall(body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return int(answer.split(b" ")[1]), time.monotonic() - started


def main():
    moto_port = free_port()
    moto = subprocess.Popen([str(ROOT / ".venv/bin/moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(moto_port)
        aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_REGION": "us-east-1",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
        os.environ.update(aws)
        queue = boto3.client("sqs").create_queue(QueueName="measure")["QueueUrl"]
        boto3.client("s3").create_bucket(Bucket="measure-payloads")
        print(f"{BINARY}: {REPEAT} pushes per size, {CONCURRENT} at a time")
        for size in SIZES:
            measure(size, queue, aws)
    finally:
        moto.terminate()
        moto.wait()


def measure(size, queue, aws):
    port = free_port()
    env = {"PATH": os.environ["PATH"], "REDOX_LISTEN": f"127.0.0.1:{port}",
           "REDOX_VERIFICATION_TOKEN": "measure", "REDOX_QUEUE_URL": queue,
           "REDOX_PAYLOAD_BUCKET": "measure-payloads", "REDOX_MAX_BODY_BYTES": "47185920",
           "REDOX_REQUEST_TIMEOUT_MS": "60000", "REDOX_AWS_TIMEOUT_MS": "30000",
           "RUST_LOG": "warn", **aws}
    server = subprocess.Popen([BINARY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        idle = status_kib(server.pid, "VmHWM:")
        body = message(size)
        results = []
        for _ in range(REPEAT):
            clients = [threading.Thread(target=lambda: results.append(push(port, body)))
                       for _ in range(CONCURRENT)]
            for client in clients:
                client.start()
            for client in clients:
                client.join()
        peak = status_kib(server.pid, "VmHWM:")
        after = status_kib(server.pid, "VmRSS:")
    finally:
        server.terminate()
        server.wait()
    latencies = [latency for _, latency in results]
    print(f"{size / 1e6:5.0f} MB  status {sorted({status for status, _ in results})}  "
          f"latency median {statistics.median(latencies) * 1000:5.0f} ms "
          f"(slowest {max(latencies) * 1000:.0f})  peak RSS {peak / 1024:5.1f} MiB  "
          f"idle {idle / 1024:.1f} MiB  after {after / 1024:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
