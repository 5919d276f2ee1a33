"""Sticky, monotonic canary buckets.

Every browser gets a long-lived random bucket id in its own cookie (not the
session id, which changes on login and regeneration). A user's bucket for a
route is a stable hash of (bucket id, flag key) mod 10000; they are on the new
side iff bucket < the canary's basis points, so raising the percentage only
ever adds users.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

BUCKETS = 10_000
# 16 random bytes in unpadded base64url: exactly 22 characters.
_BUCKET_ID = re.compile(r"[A-Za-z0-9_-]{22}")
BUCKET_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600


def new_bucket_id() -> str:
    """A fresh random bucket id (128 bits)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


def is_valid_bucket_id(value: str | None) -> bool:
    """True if ``value`` has the shape ``new_bucket_id`` makes; anything else is replaced."""
    return value is not None and _BUCKET_ID.fullmatch(value) is not None


def bucket(bucket_id: str, key: str) -> int:
    """The user's bucket (0..9999) for one route or group key; stable across processes."""
    digest = hashlib.blake2b(f"{key}\x00{bucket_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def in_canary(bucket_id: str, key: str, basis_points: int) -> bool:
    """True if this user is inside a canary of ``basis_points`` (0..10000) for ``key``."""
    if basis_points <= 0:
        return False
    if basis_points >= BUCKETS:
        return True
    return bucket(bucket_id, key) < basis_points


def bucket_cookie_header(name: str, bucket_id: str, secure: bool = False) -> bytes:
    """The Set-Cookie value that stores a bucket id for two years on every path."""
    value = f"{name}={bucket_id}; Max-Age={BUCKET_COOKIE_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax"
    if secure:
        value += "; Secure"
    return value.encode("latin-1")


def read_cookie(cookie_header: str, name: str) -> str | None:
    """The first value of cookie ``name`` in a Cookie header, or None.

    Tolerates any junk around it: hostile headers must never raise.
    """
    if name not in cookie_header:
        return None
    for part in cookie_header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None
