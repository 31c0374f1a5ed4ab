#!/usr/bin/env python3
"""A fault-injecting HTTP proxy between the AWS SDK and moto.

    python tests/fault_proxy.py --upstream http://127.0.0.1:MOTOPORT [--port P]

Prints one line, `fault-proxy listening on 127.0.0.1:<port>`, once it
accepts connections (`--port 0`, the default, picks a free port). Every
request is forwarded to the upstream as sent (method, path and query,
headers including Host and the signature, body) on a fresh upstream
connection, and the answer is relayed, unless a fault rule says otherwise.

Control API on the same port, never forwarded:

    POST   /__faults__/rules   {"action": "SendMessage"|"PutObject"|"DeleteObject"|
                                "GetSecretValue"|...|"*",
                                "kind": see KINDS, "count": N (-1 = unlimited, default),
                                "delay_ms": D, "match": "substring of the scope" (optional)}
    DELETE /__faults__/rules   clears every rule
    GET    /__faults__/rules   the rules and what is left of their counts
    GET    /__faults__/stats[?match=S]
                               per action: requests seen, forwarded to the upstream,
                               faults injected (and per kind); with `match`, only the
                               requests whose scope contains S
    GET    /__faults__/log[?match=S]
                               one record per request, oldest first: action, scope,
                               fault, forwarded, status, upstream_ms (moto's time),
                               total_ms (until answered or closed)

A request's *action* comes from `X-Amz-Target` (JSON protocol: SQS sends
`AmazonSQS.SendMessage`, Secrets Manager `secretsmanager.GetSecretValue`),
else from a form-encoded `Action=` (the SQS query protocol), else from the
method and path-style S3 path (`PUT /bucket/key` is PutObject, `DELETE
/bucket/key` DeleteObject, ...). Its *scope* is the path plus, for JSON
bodies, the `QueueUrl`, `SecretId`, `MessageDeduplicationId` and the
`RedoxLogId` message attribute, so that concurrent tests can aim rules at
their own queue, bucket or message with `match`.

Rules are tried in the order they were added; the first one whose action
and match fit, and whose count is not used up, applies, and its count goes
down by one. The standard library only: this runs with any Python 3.8+.
"""

import argparse
import http.client
import http.server
import json
import socket
import sys
import threading
import time
import urllib.parse

KINDS = (
    "error500",  # a 500 with the protocol's error body; not forwarded
    "error400",  # a definite refusal (SQS QueueDoesNotExist, S3 AccessDenied, ...); not forwarded
    "throttle",  # the protocol's throttling error; not forwarded
    "drop",  # close the connection without forwarding or answering
    "hang",  # hold the connection delay_ms without forwarding, then close it
    "slow_before_commit",  # wait delay_ms, then forward and answer
    "drop_after_commit",  # forward, then close the connection without answering
    "late_after_commit",  # forward, wait delay_ms, then answer
)

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
}

S3_METHODS_ON_OBJECT = {
    "PUT": "PutObject",
    "DELETE": "DeleteObject",
    "GET": "GetObject",
    "HEAD": "HeadObject",
    "POST": "PostObject",
}
S3_METHODS_ON_BUCKET = {
    "PUT": "CreateBucket",
    "DELETE": "DeleteBucket",
    "GET": "ListObjects",
    "HEAD": "HeadBucket",
    "POST": "PostBucket",
}


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.log = []

    def add_rule(self, rule):
        with self.lock:
            self.rules.append(rule)

    def clear_rules(self):
        with self.lock:
            self.rules = []

    def take_rule(self, action, scope):
        """The first applicable rule (its count decremented), or None."""
        with self.lock:
            for rule in self.rules:
                if rule["action"] not in ("*", action):
                    continue
                if rule["match"] is not None and rule["match"] not in scope:
                    continue
                if rule["count"] == 0:
                    continue
                if rule["count"] > 0:
                    rule["count"] -= 1
                rule["used"] += 1
                return dict(rule)
            return None

    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    def entries(self, match):
        with self.lock:
            return [dict(e) for e in self.log if match is None or match in e["scope"]]


STATE = State()


def classify(method, path, headers, body):
    """The AWS action a request performs, and its protocol family."""
    target = headers.get("X-Amz-Target")
    if target:
        prefix, _, operation = target.rpartition(".")
        protocol = "sqs-json" if prefix.startswith("AmazonSQS") else "json"
        return operation or target, protocol
    content_type = headers.get("Content-Type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0], "query"
    split = urllib.parse.urlsplit(path)
    segments = split.path.lstrip("/").split("/", 1)
    query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
    if not segments[0]:
        return ("ListBuckets" if method == "GET" else "Unknown"), "s3"
    if len(segments) == 2 and segments[1]:
        if method == "PUT" and "x-amz-copy-source" in {k.lower() for k in headers.keys()}:
            return "CopyObject", "s3"
        if method == "PUT" and "partNumber" in query:
            return "UploadPart", "s3"
        return S3_METHODS_ON_OBJECT.get(method, "Unknown"), "s3"
    if method == "POST" and "delete" in query:
        return "DeleteObjects", "s3"
    if method == "GET" and query.get("list-type") == ["2"]:
        return "ListObjectsV2", "s3"
    return S3_METHODS_ON_BUCKET.get(method, "Unknown"), "s3"


def scope_of(path, protocol, body):
    parts = [path]
    if protocol in ("json", "sqs-json") and body:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            for key in ("QueueUrl", "SecretId", "MessageDeduplicationId"):
                value = document.get(key)
                if isinstance(value, str):
                    parts.append(value)
            attributes = document.get("MessageAttributes")
            if isinstance(attributes, dict):
                log_id = attributes.get("RedoxLogId")
                if isinstance(log_id, dict) and isinstance(log_id.get("StringValue"), str):
                    parts.append("RedoxLogId=" + log_id["StringValue"])
    return " ".join(parts)


def fault_answer(kind, protocol, action):
    """Status, headers and body of an injected error answer."""
    if protocol == "sqs-json":
        code, query_code, status = {
            "error500": ("InternalError", "InternalError;Receiver", 500),
            "throttle": ("ThrottlingException", "RequestThrottled;Sender", 400),
            "error400": (
                "QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue;Sender",
                400,
            ),
        }[kind]
        body = json.dumps(
            {"__type": "com.amazonaws.sqs#" + code, "message": f"injected {kind} on {action}"}
        )
        return (
            status,
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amzn-query-error", query_code),
                ("x-amzn-RequestId", "fault-proxy"),
            ],
            body.encode(),
        )
    if protocol == "json":
        code, status = {
            "error500": ("InternalServiceError", 500),
            "throttle": ("ThrottlingException", 400),
            "error400": ("AccessDeniedException", 400),
        }[kind]
        body = json.dumps({"__type": code, "message": f"injected {kind} on {action}"})
        return (
            status,
            [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", "fault-proxy")],
            body.encode(),
        )
    code, status = {
        "error500": ("InternalError", 500),
        "throttle": ("SlowDown", 503),
        "error400": ("AccessDenied", 403),
    }[kind]
    if protocol == "query":
        body = (
            '<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>injected {kind} on {action}</Message></Error>"
            "<RequestId>fault-proxy</RequestId></ErrorResponse>"
        )
    else:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Error>'
            f"<Code>{code}</Code><Message>injected {kind} on {action}</Message>"
            "<RequestId>fault-proxy</RequestId><HostId>fault-proxy</HostId></Error>"
        )
    return status, [("Content-Type", "application/xml")], body.encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-proxy"
    sys_version = ""
    # An idle pooled connection is closed after this long; the SDK reconnects.
    timeout = 120

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), format % args))

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def do_HEAD(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, headers, body, head_only=False):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(n.lower() == "content-length" for n, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)
        self.wfile.flush()

    def close_now(self):
        """Closes the client's connection without a byte of answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def handle_any(self):
        body = self.read_body()
        if self.path.startswith("/__faults__"):
            self.control(body)
            return
        action, protocol = classify(self.command, self.path, self.headers, body)
        scope = scope_of(self.path, protocol, body)
        rule = STATE.take_rule(action, scope)
        kind = rule["kind"] if rule else None
        delay = (rule or {}).get("delay_ms", 0) / 1000.0
        entry = {
            "action": action,
            "scope": scope,
            "fault": kind,
            "forwarded": False,
            "status": None,
            "started": time.time(),
            "upstream_ms": None,
            "total_ms": None,
        }
        started = time.monotonic()
        STATE.record(entry)
        self.log_message("%s %s %s fault=%s", self.command, self.path, action, kind)
        try:
            if kind in ("error500", "error400", "throttle"):
                status, headers, payload = fault_answer(kind, protocol, action)
                entry["status"] = status
                self.answer(status, headers, payload)
                return
            if kind == "drop":
                self.close_now()
                return
            if kind == "hang":
                time.sleep(delay)
                self.close_now()
                return
            if kind == "slow_before_commit":
                time.sleep(delay)
            status, headers, payload = self.forward(body, entry)
            if kind == "drop_after_commit":
                self.close_now()
                return
            if kind == "late_after_commit":
                time.sleep(delay)
            self.answer(status, headers, payload, head_only=self.command == "HEAD")
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            # The client gave up (its own timeout) before the answer.
            self.close_connection = True
        finally:
            # Until the answer was written or the connection closed.
            entry["total_ms"] = round((time.monotonic() - started) * 1000)

    def forward(self, body, entry):
        upstream = self.server.upstream
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        started = time.monotonic()
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    connection.putheader(name, value)
            if body or self.command in ("POST", "PUT", "PATCH"):
                connection.putheader("Content-Length", str(len(body)))
            connection.putheader("Connection", "close")
            connection.endheaders(body if body else None)
            response = connection.getresponse()
            payload = response.read()
            headers = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in HOP_BY_HOP
                or (self.command == "HEAD" and name.lower() == "content-length")
            ]
            entry["forwarded"] = True
            entry["status"] = response.status
            entry["upstream_ms"] = round((time.monotonic() - started) * 1000)
            return response.status, headers, payload
        finally:
            connection.close()

    def control(self, body):
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query)
        match = query.get("match", [None])[0]
        route = (self.command, split.path.rstrip("/"))
        if route == ("POST", "/__faults__/rules"):
            try:
                rule = json.loads(body or b"{}")
                kind = rule["kind"]
                if kind not in KINDS:
                    raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
                rule = {
                    "action": str(rule.get("action", "*")),
                    "kind": kind,
                    "count": int(rule.get("count", -1)),
                    "delay_ms": int(rule.get("delay_ms", 0)),
                    "match": rule.get("match"),
                    "used": 0,
                }
            except (ValueError, KeyError, TypeError) as error:
                self.json_answer(400, {"error": str(error)})
                return
            STATE.add_rule(rule)
            self.json_answer(200, rule)
        elif route == ("DELETE", "/__faults__/rules"):
            STATE.clear_rules()
            self.json_answer(200, {"rules": []})
        elif route == ("GET", "/__faults__/rules"):
            with STATE.lock:
                rules = [dict(r) for r in STATE.rules]
            self.json_answer(200, {"rules": rules})
        elif route == ("GET", "/__faults__/stats"):
            stats = {}
            for entry in STATE.entries(match):
                counts = stats.setdefault(
                    entry["action"], {"seen": 0, "forwarded": 0, "faults": 0, "by_kind": {}}
                )
                counts["seen"] += 1
                counts["forwarded"] += int(entry["forwarded"])
                if entry["fault"]:
                    counts["faults"] += 1
                    counts["by_kind"][entry["fault"]] = counts["by_kind"].get(entry["fault"], 0) + 1
            self.json_answer(200, stats)
        elif route == ("GET", "/__faults__/log"):
            self.json_answer(200, STATE.entries(match))
        else:
            self.json_answer(404, {"error": f"no control route {self.command} {split.path}"})

    def json_answer(self, status, value):
        self.answer(status, [("Content-Type", "application/json")], json.dumps(value).encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    upstream = urllib.parse.urlsplit(args.upstream)
    if upstream.scheme != "http" or not upstream.hostname or not upstream.port:
        parser.error("--upstream must be http://host:port")
    server = Server((args.host, args.port), Handler)
    server.upstream = upstream
    print(f"fault-proxy listening on {args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
