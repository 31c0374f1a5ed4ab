#!/usr/bin/env python3
"""Sign a Lambda Function URL / HTTP API (payload 2.0) event with AWS SigV4.

The signature is made by botocore's own SigV4Auth, the signer the AWS SDK for
Python uses, so it is an independent check of the function's verifier. It
signs what a real client sends to a Function URL: the method, the raw path and
query, the body, content-type, host and x-amz-date (plus x-amz-security-token
for a key with a session token). Like botocore for Lambda, it sends no
x-amz-content-sha256: the verifier hashes the body itself.

Usage:
    .venv/bin/python scripts/sign_event.py events/functionurl-sigv4-push.json --out /tmp/signed.json
    .venv/bin/python scripts/sign_event.py EVENT [--secret FILE] [--key-id AKID] [--at 2026-11-28T10:15:42Z]

The key comes from the auth material file (default events/example-secret.json,
an example key that must never be used in production). Without --at the event
is signed now; the committed events/functionurl-sigv4-push.json was signed at
a fixed time and is refused as stale until it is signed again.
"""

import argparse
import base64
import datetime
import json
import sys
from pathlib import Path
from unittest import mock

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET = ROOT / "events" / "example-secret.json"

# Headers this script writes; any earlier values are dropped first.
SIGNING_HEADERS = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "host"}


def fail(message):
    print(f"sign_event: {message}", file=sys.stderr)
    sys.exit(2)


def load_key(secret_path, key_id):
    try:
        material = json.loads(Path(secret_path).read_text())
    except (OSError, ValueError) as error:
        fail(f"cannot read auth material {secret_path}: {error}")
    keys = material.get("sigv4_keys") if isinstance(material, dict) else None
    if not keys:
        fail(f"{secret_path} has no sigv4_keys")
    for key in keys:
        if key_id is None or key.get("access_key_id") == key_id:
            return key
    fail(f"{secret_path} has no SigV4 key {key_id}")


def parse_time(text):
    try:
        moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        fail(f"--at {text!r} is not a UTC time like 2026-11-28T10:15:42Z")
    return moment.replace(tzinfo=datetime.timezone.utc)


def sign(event, key, at=None):
    """Returns a copy of the payload 2.0 event with fresh SigV4 headers."""
    if event.get("version") != "2.0" or "rawPath" not in event:
        fail("only payload 2.0 events (Function URL, HTTP API) can be signed")
    context = event.get("requestContext") or {}
    domain = context.get("domainName")
    method = (context.get("http") or {}).get("method")
    if not domain or not method:
        fail("the event has no requestContext.domainName or requestContext.http.method")

    body = event.get("body") or ""
    body_bytes = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")
    headers = event.get("headers") or {}
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)

    url = f"https://{domain}{event['rawPath']}"
    if event.get("rawQueryString"):
        url += "?" + event["rawQueryString"]
    request = AWSRequest(
        method=method,
        url=url,
        data=body_bytes,
        headers={"Content-Type": content_type} if content_type else {},
    )
    credentials = Credentials(key["access_key_id"], key["secret_access_key"], key.get("session_token"))
    signer = SigV4Auth(credentials, key["service"], key["region"])
    now = at or datetime.datetime.now(datetime.timezone.utc)
    # botocore reads the clock through this function; pinning it makes --at work.
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        signer.add_auth(request)

    signed = {k: v for k, v in headers.items() if k.lower() not in SIGNING_HEADERS}
    signed["host"] = domain
    signed["x-amz-date"] = request.headers["X-Amz-Date"]
    if key.get("session_token"):
        signed["x-amz-security-token"] = request.headers["X-Amz-Security-Token"]
    signed["authorization"] = request.headers["Authorization"]

    out = dict(event)
    out["headers"] = signed
    out["requestContext"] = dict(context)
    out["requestContext"]["time"] = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
    out["requestContext"]["timeEpoch"] = int(now.timestamp() * 1000)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("event", help="a payload 2.0 event JSON file")
    parser.add_argument("--out", help="write the signed event here (default: stdout)")
    parser.add_argument("--secret", default=str(DEFAULT_SECRET), help="auth material JSON with sigv4_keys")
    parser.add_argument("--key-id", help="access_key_id of the key to sign with (default: the first)")
    parser.add_argument("--at", help="signing time, UTC, like 2026-11-28T10:15:42Z (default: now)")
    args = parser.parse_args()

    try:
        event = json.loads(Path(args.event).read_text())
    except (OSError, ValueError) as error:
        fail(f"cannot read event {args.event}: {error}")
    key = load_key(args.secret, args.key_id)
    signed = sign(event, key, parse_time(args.at) if args.at else None)
    text = json.dumps(signed, indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
