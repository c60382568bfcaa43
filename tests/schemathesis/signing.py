"""MINIAPP-HMAC-SHA256 request signing (docs/api.md §5), standard library only.

Kept apart from the schemathesis hook so that test_signing.py can check it against the
project's signing vectors without schemathesis installed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "MINIAPP-HMAC-SHA256"


class InvalidQuery(ValueError):
    """A malformed percent-escape or non-UTF-8 bytes: the server answers 400 before signing matters."""


def _decode(component: str) -> str:
    """Percent-decodes one key or value, `+` kept as a literal plus (§5.3 step 3)."""
    i = 0
    while True:
        i = component.find("%", i)
        if i < 0:
            break
        pair = component[i + 1 : i + 3]
        if len(pair) != 2 or any(c not in "0123456789abcdefABCDEF" for c in pair):
            raise InvalidQuery(component)
        i += 3
    try:
        return unquote_to_bytes(component).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidQuery(component) from exc


def _encode(text: str) -> str:
    """RFC 3986: unreserved characters kept, every other UTF-8 byte as upper-case %XX (§5.3 step 4)."""
    return quote(text.encode("utf-8"), safe="-._~")


def canonical_query(raw: str) -> str:
    """The canonical form of a raw query string (the part after `?`), §5.3."""
    pairs = []
    for piece in raw.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        pairs.append((_encode(_decode(key)), _encode(_decode(value))))
    pairs.sort(key=lambda kv: (kv[0].encode(), kv[1].encode()))
    return "&".join(f"{k}={v}" for k, v in pairs)


def string_to_sign(date: str, method: str, path: str, query: str, body: bytes) -> str:
    """The six lines of §5.2, joined by LF."""
    return "\n".join(
        [
            ALGORITHM,
            date,
            method.upper(),
            path,
            canonical_query(query),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def signature(secret: str, to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 keyed with the UTF-8 bytes of the secret."""
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def amz_date(now: float | None = None) -> str:
    """`x-miniapp-date`: UTC, ISO 8601 basic, YYYYMMDDTHHMMSSZ."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))


def signed_headers(
    access_key_id: str,
    secret: str,
    security_token: str,
    method: str,
    path: str,
    query: str,
    body: bytes,
    date: str | None = None,
) -> dict[str, str]:
    """The three headers of §5.1 for one request, as sent (path still percent-encoded)."""
    date = date or amz_date()
    sig = signature(secret, string_to_sign(date, method, path, query, body))
    return {
        "Authorization": f"{ALGORITHM} Credential={access_key_id}, Signature={sig}",
        "x-miniapp-date": date,
        "x-miniapp-security-token": security_token,
    }
