"""moto's DynamoDB-compatible server with one request at a time.

`moto_server` serves requests on threads without a lock around its backends, so two
conditional writes to the same item can both pass their condition: a lost update that real
DynamoDB (atomic per item) never makes. Serialising requests restores that guarantee, which the
concurrency tests rely on. Same flags and start-up banner as `moto_server -H HOST -p PORT`.

moto accepts any signature; real DynamoDB does not. So every DynamoDB request signed with the
tests' access key (`test`, secret `test`) has its SigV4 signature recomputed here by botocore,
an implementation independent of the Rust SDK's signer, and is refused as DynamoDB refuses it
(400 `InvalidSignatureException`) when it does not match or is over 15 minutes old. Requests
signed with other keys pass unchecked.
"""

import argparse
import datetime
import hmac
import io
import json
import re
import threading

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def serialised(app):
    lock = threading.Lock()

    def wrapped(environ, start_response):
        with lock:
            # moto builds whole responses, so the body is complete when the lock is released.
            return list(app(environ, start_response))

    return wrapped


TEST_KEY_ID = "test"
TEST_SECRET = "test"
MAX_SKEW = datetime.timedelta(minutes=15)
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?"
    r"SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})"
)


def signature_problem(environ, body):
    """Why the request's signature is wrong, or None (right, or not signed with the test key)."""
    match = AUTHORIZATION.fullmatch(environ.get("HTTP_AUTHORIZATION", "").strip())
    if match is None:
        return "no SigV4 Authorization header"
    key_id, _day, region, service, signed, signature = match.groups()
    if key_id != TEST_KEY_ID:
        return None
    headers = {}
    for name in signed.split(";"):
        value = {"content-type": environ.get("CONTENT_TYPE"),
                 "content-length": environ.get("CONTENT_LENGTH")}.get(name)
        value = value if value is not None else environ.get("HTTP_" + name.upper().replace("-", "_"))
        if value is None:
            return f"signed header {name} is not in the request"
        headers[name] = value
    amz_date = headers.get("x-amz-date")
    if amz_date is None:
        return "x-amz-date is not signed"
    at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    if abs(datetime.datetime.now(datetime.timezone.utc) - at) > MAX_SKEW:
        return f"signature expired: {amz_date}"
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    request = AWSRequest(method=environ["REQUEST_METHOD"],
                         url="http://" + environ.get("HTTP_HOST", "") + path,
                         headers=headers, data=body)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key_id, TEST_SECRET, environ.get("HTTP_X_AMZ_SECURITY_TOKEN")),
                       service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, signature):
        return "The request signature we calculated does not match the signature you provided."
    return None


def checking_signatures(app):
    def wrapped(environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        problem = signature_problem(environ, body)
        if problem is None:
            return app(environ, start_response)
        answer = json.dumps({"__type": "com.amazon.coral.service#InvalidSignatureException",
                             "message": problem}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0"),
                                           ("Content-Length", str(len(answer)))])
        return [answer]

    return wrapped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        serialised(checking_signatures(app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
