"""Schemathesis hooks for miniapp (scripts/schemathesis.sh loads them with SCHEMATHESIS_HOOKS).

Environment:
  MINIAPP_SCHEMATHESIS_URL    the API's base URL (miniapp dev's banner)
  MINIAPP_SCHEMATHESIS_PHASE  `signed` (default): every request of a signed operation is signed
                              as docs/api.md §5 says; `unsigned`: no credentials, schemathesis
                              generates the three headers itself (or leaves them out)

Signing: an auth provider marks each request of a signed operation with a placeholder
`Authorization`, and a requests auth object replaces it, as requests prepares the request, with
the three real headers; so the signature covers exactly the method, path, query and body bytes
that go on the wire. A request without the placeholder is sent as it is: that is how
schemathesis' `ignored_auth` check removes or spoils the credentials, and the server must then
answer 401. The hook logs in once (POST /session with the dev stand-in's code `dev-alice`);
`DELETE /session` and `POST /session/refresh` use their credentials up (a revoked session, a
single-use refresh), so each of those gets a session of its own; `DELETE /account` revokes every
session of its user and deletes the user's data, so each of those logs in a user of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import urllib.request
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, urlsplit

import requests
import schemathesis
from requests.auth import AuthBase

sys.path.insert(0, str(Path(__file__).resolve().parent))

import signing  # noqa: E402

PHASE = os.environ.get("MINIAPP_SCHEMATHESIS_PHASE", "signed")
LOGIN_CODE = "dev-alice"
# A second user, for the check that one user never sees another's items.
OTHER_CODE = "dev-bob"
# At most this many cross-user probes per operation: enough to cover each way an item is made.
OTHER_USER_PROBES = 25
PLACEHOLDER = "MINIAPP-HMAC-SHA256 (signed as sent)"
# Requests that use their credentials up: signed with a fresh session each.
SPENDING = {("DELETE", "/session"), ("POST", "/session/refresh")}
# Requests that end every session of their user: signed by a fresh user each.
USER_SPENDING = {("DELETE", "/account")}
# Generated login codes are random, so the stand-ins would refuse all of them (401) and no 201
# would be checked: half of the well-formed codes (chosen by a hash, so a seed still
# reproduces) become codes the dev stand-ins accept (docs/dev.md).
DEV_CODE_PREFIX = {"authCode": "dev-user-", "code": "dev-wx-"}


class Credentials(NamedTuple):
    access_key_id: str
    secret: str
    security_token: str


def base_url() -> str:
    url = os.environ.get("MINIAPP_SCHEMATHESIS_URL")
    if not url:
        raise RuntimeError("MINIAPP_SCHEMATHESIS_URL is not set")
    return url.rstrip("/")


def login(code: str = LOGIN_CODE) -> Credentials:
    """POST /session with a dev code; anything but 201 stops the run."""
    request = urllib.request.Request(
        base_url() + "/session",
        data=json.dumps({"authCode": code}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 201:
            raise RuntimeError(f"log-in answered {response.status}")
        creds = json.load(response)["credentials"]
    return Credentials(creds["accessKeyId"], creds["accessKeySecret"], creds["securityToken"])


class MiniappSigner(AuthBase):
    """A requests auth: swaps the placeholder for the three signing headers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared: Credentials | None = None
        self._other: Credentials | None = None
        # Every Authorization value this signer made, so checks can tell its requests apart.
        self.made: set[str] = set()
        self._users = 0

    def shared(self) -> Credentials:
        with self._lock:
            if self._shared is None:
                self._shared = login()
            return self._shared

    def __call__(self, r):  # type: ignore[no-untyped-def]
        if r.headers.get("Authorization") != PLACEHOLDER:
            return r
        url = urlsplit(r.url)
        path = url.path or "/"
        body = r.body if r.body is not None else b""
        if isinstance(body, str):
            # Sign and send the same bytes: UTF-8, not http.client's Latin-1 for text bodies.
            body = body.encode("utf-8")
            r.body = body
            r.headers["Content-Length"] = str(len(body))
        creds = self.credentials_for(r.method.upper(), path)
        query = url.query
        try:
            signing.canonical_query(query)
        except signing.InvalidQuery:
            # A malformed escape is 400 InvalidQuery before authentication: any signature does.
            query = ""
        headers = signing.signed_headers(
            creds.access_key_id, creds.secret, creds.security_token, r.method, path, query, body
        )
        r.headers.update(headers)
        with self._lock:
            self.made.add(headers["Authorization"])
        return r

    def credentials_for(self, method: str, path: str) -> Credentials:
        if (method, path) in USER_SPENDING:
            with self._lock:
                self._users += 1
                n = self._users
            return login(f"dev-user-gone{n}")
        return login() if (method, path) in SPENDING else self.shared()

    def as_other_user(self, method: str, path: str) -> requests.Response:
        """`method path` (no query, no body) signed with the second user's credentials."""
        with self._lock:
            if self._other is None:
                self._other = login(OTHER_CODE)
            creds = self._other
        headers = signing.signed_headers(
            creds.access_key_id, creds.secret, creds.security_token, method, path, "", b""
        )
        return requests.request(method, base_url() + path, headers=headers, timeout=30)

    def signed(self, response) -> bool:  # type: ignore[no-untyped-def]
        """Whether this signer signed the request of `response`."""
        with self._lock:
            return response.request.headers.get("Authorization") in self.made


SIGNER = MiniappSigner()


if PHASE == "signed":

    # Every operation but POST /session declares the three headers as its security requirement.
    @schemathesis.auth(refresh_interval=None, retry_on=[]).skip_for(method="POST", path="/session")
    class Placeholder:
        def get(self, case, context):  # type: ignore[no-untyped-def]
            return PLACEHOLDER

        def set(self, case, data, context):  # type: ignore[no-untyped-def]
            case.headers = {**(case.headers or {}), "Authorization": data}

    @schemathesis.hook
    def before_call(context, case, kwargs):  # type: ignore[no-untyped-def]
        kwargs["auth"] = SIGNER

    @schemathesis.check
    def signed_request_authenticated(ctx, response, case):  # type: ignore[no-untyped-def]
        """A request this hook signed is never refused as unauthenticated: else the signer or the
        server's verification (canonical query, path as sent, body hash) is wrong, and every
        other check would see nothing but 401s."""
        if response.status_code == 401 and SIGNER.signed(response):
            raise AssertionError(
                f"a correctly signed request was refused: 401 {_error_code(response)}"
            )
        return None

    @schemathesis.check
    class other_user_sees_nothing:  # noqa: N801 - a check's name is its class name
        """An item the first user's request answered with is 404 NotFound to a second user, on
        GET and DELETE alike (data is keyed by the user of the verified token, docs/api.md §4)."""

        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.probes: dict[str, int] = {}

        def after_response(self, ctx, response, case):  # type: ignore[no-untyped-def]
            if not (200 <= response.status_code < 300) or not SIGNER.signed(response):
                return None
            if case.operation.path not in ("/db/{collection}", "/db/{collection}/{id}"):
                return None
            try:
                body = response.json()
            except ValueError:
                return None
            items = body.get("items") if isinstance(body, dict) and "items" in body else [body]
            ids = [i["id"] for i in items or [] if isinstance(i, dict) and isinstance(i.get("id"), str)]
            if not ids:
                return None
            with self.lock:
                label = case.operation.label
                if self.probes.get(label, 0) >= OTHER_USER_PROBES:
                    return None
                self.probes[label] = self.probes.get(label, 0) + 1
            # The collection as the first request's path sent it (still percent-encoded).
            collection = urlsplit(response.request.url).path.split("/")[2]
            path = f"/db/{collection}/{quote(ids[0], safe='')}"
            for method in ("GET", "DELETE"):
                other = SIGNER.as_other_user(method, path)
                if other.status_code != 404 or _error_code(other) != "NotFound":
                    raise AssertionError(
                        f"{method} {path} by another user answered {other.status_code}"
                        f" {_error_code(other)}, not 404 NotFound"
                    )
            return None

    @schemathesis.check
    class every_operation_succeeds:  # noqa: N801 - a check's name is its class name
        """Each operation tested answered 2xx at least once: the happy path was checked too."""

        def __init__(self) -> None:
            self.tested: set[str] = set()
            self.succeeded: set[str] = set()

        def after_response(self, ctx, response, case):  # type: ignore[no-untyped-def]
            self.tested.add(case.operation.label)
            if 200 <= response.status_code < 300:
                self.succeeded.add(case.operation.label)

        def after_run(self, ctx):  # type: ignore[no-untyped-def]
            never = sorted(self.tested - self.succeeded)
            if never:
                raise AssertionError("never answered 2xx: " + ", ".join(never))

elif PHASE != "unsigned":
    raise RuntimeError(f"MINIAPP_SCHEMATHESIS_PHASE must be signed or unsigned, not {PHASE!r}")


def _dev_code(field: str, code: object) -> object:
    """`code` turned into an accepted dev code, or unchanged."""
    if not isinstance(code, str) or not 1 <= len(code) <= 256:
        return code
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in code):
        return code
    digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()
    if int(digest[0], 16) % 2:
        return code
    return DEV_CODE_PREFIX[field] + digest[:16]


@schemathesis.hook
def map_case(context, case):  # type: ignore[no-untyped-def]
    if case.method.upper() == "POST" and case.operation.path == "/session" and isinstance(case.body, dict):
        body = dict(case.body)
        for field in DEV_CODE_PREFIX:
            if field in body:
                body[field] = _dev_code(field, body[field])
        case.body = body
    return case


def _error_code(response) -> str | None:  # type: ignore[no-untyped-def]
    try:
        return response.json()["error"]["code"]
    except Exception:  # noqa: BLE001 - any body that is not the Error shape
        return None


@schemathesis.hook
def filter_failure(context, failure, case, response):  # type: ignore[no-untyped-def]
    # A cursor is opaque and valid only as the server issued it (an item list's is HMAC-signed,
    # bound to the user, collection, prefix and order; a collections list's names a collection
    # and a position), so a generated one is "schema-valid" yet rightly 400
    # InvalidQuery. Only that rejection is dropped: a valid limit or order refused still fails.
    forged_cursor = (
        failure.code == "ST202"
        and case.method.upper() == "GET"
        and case.operation.path in ("/db/{collection}", "/db", "/files")
        and bool(case.query and case.query.get("cursor"))
        and _error_code(response) == "InvalidQuery"
    )
    # The file limits are configuration (MINIAPP_FILES_MAX_BYTES, MINIAPP_FILES_TYPES), not
    # schema: a schema-valid announcement over them is rightly 413 FileTooLarge or 415
    # UnsupportedFileType. Only those codes are dropped.
    over_file_limits = (
        failure.code == "ST202"
        and case.method.upper() == "POST"
        and case.operation.path == "/files"
        and _error_code(response) in ("FileTooLarge", "UnsupportedFileType")
    )
    # Stateful links take `/files/{id}` out of any URL of that shape in an answer, so also out of
    # the upload URL `/files/_upload`: not a file id (a UUID), rightly 400 InvalidId.
    params = case.path_parameters or {}
    link_to_upload_url = (
        failure.code == "ST202"
        and case.operation.path == "/files/{id}"
        and params.get("id") == "_upload"
        and _error_code(response) == "InvalidId"
    )
    return not (
        forged_cursor
        or over_file_limits
        or link_to_upload_url
        or _generated_where(failure, case, response)
        or _duplicate_targets(failure, case, response)
    )


def _generated_where(failure, case, response) -> bool:  # type: ignore[no-untyped-def]
    # A `where` expression has a grammar (docs/api.md §4.5) no JSON Schema can state, so a
    # generated string is "schema-valid" yet rightly 400 InvalidQuery; the schema's examples
    # are valid and must be accepted.
    return (
        failure.code == "ST202"
        and case.method.upper() == "GET"
        and case.operation.path == "/db/{collection}"
        and bool(case.query and case.query.get("where"))
        and _error_code(response) == "InvalidQuery"
    )


def _duplicate_targets(failure, case, response) -> bool:  # type: ignore[no-untyped-def]
    # Two operations of a batch on one item are 400 InvalidRequest (docs/api.md §4.6): a rule
    # across array items that JSON Schema cannot state. Only a body that has such a pair.
    if not (
        failure.code == "ST202"
        and case.method.upper() == "POST"
        and case.operation.path == "/db"
        and _error_code(response) == "InvalidRequest"
        and isinstance(case.body, dict)
        and isinstance(case.body.get("operations"), list)
    ):
        return False
    targets = [
        (op.get("collection"), op.get("id"))
        for op in case.body["operations"]
        if isinstance(op, dict) and op.get("op") != "create"
    ]
    return len(targets) != len(set(targets))
