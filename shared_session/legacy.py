"""Reading the cookie sessions browsers carry from before the switch.

Flask's default session (itsdangerous URLSafeTimedSerializer over tagged
JSON) and Starlette's SessionMiddleware (TimestampSigner over base64 JSON)
are decoded here, so their data can be moved into the shared store.
"""

from __future__ import annotations

import hashlib
import json
from base64 import b64decode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask.json.tag import TaggedJSONSerializer
from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from shared_session.settings import SessionSettings

_flask_tagged_json = TaggedJSONSerializer()


class _StdlibTaggedJSON:
    """Flask's tagged JSON without an app context (same bytes, same types)."""

    @staticmethod
    def loads(value: str | bytes) -> Any:
        return _flask_tagged_json._untag_scan(json.loads(value))

    @staticmethod
    def dumps(value: Any) -> str:
        return json.dumps(_flask_tagged_json.tag(value), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class LegacySession:
    """A decoded legacy cookie: its data and what it came from."""

    origin: str  # "flask" or "starlette"
    cookie_name: str
    data: dict[str, Any]
    fingerprint: str  # sha256 of the raw cookie: names the takeover marker


def _fingerprint(origin: str, raw: str) -> str:
    return hashlib.sha256(f"{origin}\0{raw}".encode()).hexdigest()


def flask_serializer(keys: Sequence[str | bytes]) -> URLSafeTimedSerializer:
    """The serializer Flask's SecureCookieSessionInterface uses (keys newest last)."""
    return URLSafeTimedSerializer(
        list(keys),
        salt="cookie-session",
        serializer=_StdlibTaggedJSON,
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )


def decode_flask_cookie(
    raw: str, keys: Sequence[str | bytes], max_age: int
) -> dict[str, Any] | None:
    """The data of a Flask cookie session, or None if it does not verify."""
    if not keys:
        return None
    try:
        data = flask_serializer(keys).loads(raw, max_age=max_age)
    except (BadSignature, ValueError, TypeError, UnicodeError):
        return None
    return data if isinstance(data, dict) else None


def decode_starlette_cookie(raw: str, keys: Sequence[str], max_age: int) -> dict[str, Any] | None:
    """The data of a Starlette SessionMiddleware cookie, or None."""
    for key in reversed(keys):
        try:
            payload = TimestampSigner(key).unsign(raw.encode(), max_age=max_age)
            data = json.loads(b64decode(payload))
        except (BadSignature, ValueError, TypeError, UnicodeError):
            continue
        return data if isinstance(data, dict) else None
    return None


def read_legacy_session(
    cookies: Mapping[str, str],
    settings: SessionSettings,
    flask_keys: Sequence[str | bytes],
) -> LegacySession | None:
    """The first legacy session found among the request's cookies, if any.

    ``flask_keys`` are the Flask app's SECRET_KEY_FALLBACKS + SECRET_KEY
    (newest last) or the configured ``flask_secret_keys``.
    """
    if settings.takeover_flask:
        raw = cookies.get(settings.flask_cookie_name)
        if raw and len(raw) <= settings.max_cookie_bytes:
            data = decode_flask_cookie(raw, flask_keys, settings.flask_max_age)
            if data is not None:
                return LegacySession(
                    "flask", settings.flask_cookie_name, data, _fingerprint("flask", raw)
                )
    if settings.takeover_starlette:
        raw = cookies.get(settings.starlette_cookie_name)
        if raw and len(raw) <= settings.max_cookie_bytes:
            keys = [k.get_secret_value() for k in settings.starlette_secret_keys] or (
                settings.keys()
            )
            data = decode_starlette_cookie(raw, keys, settings.starlette_max_age)
            if data is not None:
                return LegacySession(
                    "starlette",
                    settings.starlette_cookie_name,
                    data,
                    _fingerprint("starlette", raw),
                )
    return None
