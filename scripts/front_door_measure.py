#!/usr/bin/env python3
"""Measures what strangers without a credential can hold of server mode's
front door (README: Server mode, "Each client's share"), at the container
template's settings: REDOX_MAX_BODY_BYTES=47185920, the 432 MiB body budget
of a 1 GiB task, a 60 s request timeout, behind the load balancer (this
script plays the ALB and appends each client's address to X-Forwarded-For).

For each attack, genuine 1 MB and 40 MB pushes from another address are
timed while the attack holds what it can:

  heads     N connections (from N addresses) each send a head declaring
            45 MiB and no credential, and then nothing;
  trickle   N connections (from N addresses) each send a head with a valid
            token declaring 100 bytes, then 10 bytes, then nothing.

Usage: scripts/front_door_measure.py [--binary PATH] [--attackers N]
The binary defaults to make build-release's.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

TOKEN = "tok-front-door-measure-0123456789"
MAX_BODY = 47185920


def start(binary, spool, port):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "REDOX_LISTEN": f"127.0.0.1:{port}",
        "REDOX_VERIFICATION_TOKEN": TOKEN,
        "REDOX_SPOOL_DIR": spool,
        "REDOX_BEHIND_ALB": "true",
        "REDOX_MAX_BODY_BYTES": str(MAX_BODY),
        "REDOX_BODY_MEMORY_BYTES": str(432 * 1024 * 1024),
        "REDOX_REQUEST_TIMEOUT_MS": "60000",
        "RUST_LOG": "warn",
    }
    log = open(os.path.join(spool, "..", "server.log"), "w")
    child = subprocess.Popen([binary], env=env, stdout=log, stderr=log)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return child
        except OSError:
            time.sleep(0.05)
    child.kill()
    sys.exit("the server did not listen")


def head(forwarded, length, token=None):
    lines = [
        "POST / HTTP/1.1",
        "host: redox.example.com",
        "content-type: application/json",
        f"content-length: {length}",
        f"x-forwarded-for: {forwarded}",
    ]
    if token:
        lines.append(f"verification-token: {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_status(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    return int(data.split(b" ", 2)[1])


def genuine_push(port, size):
    body = (b'{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival"},"pad":"'
            + b"x" * max(0, size - 70) + b'"}')
    started = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head("198.51.100.200", len(body), TOKEN) + body)
    status = read_status(sock, 120)
    sock.close()
    return status, time.monotonic() - started


def attack(port, kind, attackers):
    held = []
    for i in range(attackers):
        sock = socket.create_connection(("127.0.0.1", port))
        address = f"203.0.{i // 250}.{i % 250 + 1}"
        if kind == "heads":
            sock.sendall(head(address, MAX_BODY))
        else:
            sock.sendall(head(address, 100, TOKEN) + b"{" * 10)
        held.append(sock)
    return held


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/x86_64-unknown-linux-gnu/release/redox-destination")
    parser.add_argument("--attackers", type=int, default=40)
    args = parser.parse_args()
    for kind in ("heads", "trickle"):
        with tempfile.TemporaryDirectory() as folder:
            spool = os.path.join(folder, "spool")
            os.mkdir(spool, 0o700)
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            child = start(args.binary, spool, port)
            try:
                started = time.monotonic()
                held = attack(port, kind, args.attackers)
                time.sleep(0.2)
                results = [genuine_push(port, size) for size in (1_000_000, 40_000_000)]
                statuses, last = [], 0.0
                for sock in held:
                    status = read_status(sock, max(0.01, started + 15 - time.monotonic()))
                    statuses.append(status)
                    if status is not None:
                        last = time.monotonic() - started
                codes = sorted({str(status) for status in statuses})
                line = ", ".join(f"{size}: {status} in {took:.2f} s"
                                 for size, (status, took) in zip(("1 MB", "40 MB"), results))
                print(f"{kind:8} x{args.attackers}: genuine pushes meanwhile {line}; "
                      f"attackers answered {'/'.join(codes)}, the last {last:.2f} s after the attack began")
                for sock in held:
                    sock.close()
            finally:
                child.terminate()
                child.wait(timeout=30)


if __name__ == "__main__":
    main()
