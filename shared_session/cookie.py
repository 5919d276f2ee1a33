"""The session cookie: a random id, signed, and the Set-Cookie header for it.

Pure functions and one small class; both framework sides call them, so the
cookie is byte-for-byte the same whichever app wrote it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence

from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import want_bytes

from shared_session.errors import SessionConfigError
from shared_session.settings import SessionSettings

SALT = "shared-session.cookie.v1"
# token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_SID_RE = re.compile(r"[A-Za-z0-9_-]{43}")


# Ids that replace one another (regenerate, clear, a retry after a
# collision) keep the first FAMILY_CHARS characters of the id they replace,
# and an id made for a legacy cookie's takeover those of its fingerprint: the
# Redis store keys a family in one Redis Cluster hash slot, so one script can
# move a session to its new id atomically.
FAMILY_CHARS = 4
# Verified cookies a signer remembers (about 200 bytes each).
VERIFIED_CACHE_SIZE = 4096


def new_session_id(family: str | None = None) -> str:
    """A fresh, unguessable session id (256 bits; 232 when in a ``family``).

    With ``family`` (an id, or a hex fingerprint), the new id starts with its
    first FAMILY_CHARS characters.
    """
    sid = secrets.token_urlsafe(32)
    if family and len(family) >= FAMILY_CHARS:
        sid = family[:FAMILY_CHARS] + sid[FAMILY_CHARS:]
    return sid


def is_session_id(value: str) -> bool:
    return _SID_RE.fullmatch(value) is not None


class _DerivedKeyCache(Signer):
    """A Signer that derives each key once instead of on every sign/unsign."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._derived: dict[bytes, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        raw = self.secret_key if secret_key is None else want_bytes(secret_key)
        derived = self._derived.get(raw)
        if derived is None:
            derived = self._derived[raw] = super().derive_key(raw)
        return derived


class CookieSigner:
    """Signs session ids with the newest key and verifies with all of them.

    Keys are newest last, as Flask's ``[*SECRET_KEY_FALLBACKS, SECRET_KEY]``:
    a cookie signed with an older key still verifies, and ``read`` says so,
    so that the caller re-signs it with the newest key.
    """

    def __init__(self, keys: Sequence[str | bytes], max_cookie_bytes: int = 4096) -> None:
        if not keys or not all(keys):
            raise SessionConfigError(
                "shared_session needs at least one non-empty secret key: set "
                "SHARED_SESSION_SECRET_KEYS (JSON list, newest last) or the Flask SECRET_KEY"
            )
        options: dict[str, object] = {
            "salt": SALT,
            "key_derivation": "hmac",
            "digest_method": hashlib.sha256,
        }
        self._signer = _DerivedKeyCache(keys[-1], **options)
        # Older keys only verify; tried only when the newest does not.
        self._older = _DerivedKeyCache(list(keys[:-1]), **options) if len(keys) > 1 else None
        self.max_cookie_bytes = max_cookie_bytes
        # Cookies this signer verified (exact value -> what ``read`` gave):
        # the same cookie arrives on every request of a session, and the
        # answer for a value under fixed keys never changes. A signer serves
        # one key list (new keys get a new signer, so a new cache); only
        # valid cookies are kept, at most VERIFIED_CACHE_SIZE of them.
        self._verified: dict[str, tuple[str, bool]] = {}

    def sign(self, sid: str) -> str:
        return self._signer.sign(sid).decode()

    def unsign(self, value: str) -> str | None:
        """The session id in a cookie value, or None if it is not one of ours.

        Oversized, tampered, truncated, or signed-with-an-unknown-key values
        all give None; the caller starts a fresh session.
        """
        return self.read(value)[0]

    def read(self, value: str) -> tuple[str | None, bool]:
        """``(session id or None, signed with an older key)``, as ``unsign``."""
        known = self._verified.get(value)
        if known is not None:
            return known
        sid, older = self._verify(value)
        if sid is not None:
            verified = self._verified
            if len(verified) >= VERIFIED_CACHE_SIZE:
                verified.clear()  # cheaper than an LRU, and rare: start over
            verified[value] = (sid, older)
        return sid, older

    def _verify(self, value: str) -> tuple[str | None, bool]:
        if not value or len(value) > self.max_cookie_bytes:
            return None, False
        older = False
        try:
            raw = self._signer.unsign(value)
        except (BadSignature, UnicodeError, ValueError):
            if self._older is None:
                return None, False
            try:
                raw = self._older.unsign(value)
            except (BadSignature, UnicodeError, ValueError):
                return None, False
            older = True
        try:
            sid = raw.decode()
        except UnicodeError:
            return None, False
        return (sid, older) if is_session_id(sid) else (None, False)


def set_cookie_header(
    settings: SessionSettings,
    value: str,
    *,
    secure_request: bool,
    max_age: int | None,
    name: str | None = None,
) -> str:
    """The value of a Set-Cookie header; ``max_age=0`` deletes the cookie."""
    parts = [f"{name or settings.cookie_name}={value}", f"Path={settings.cookie_path}"]
    if settings.cookie_domain:
        parts.append(f"Domain={settings.cookie_domain}")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
        if max_age == 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    secure = secure_request if settings.cookie_secure is None else settings.cookie_secure
    if secure or settings.cookie_samesite == "none" or settings.cookie_partitioned:
        parts.append("Secure")
    if settings.cookie_httponly:
        parts.append("HttpOnly")
    if settings.cookie_samesite:
        parts.append(f"SameSite={settings.cookie_samesite.capitalize()}")
    if settings.cookie_partitioned:
        parts.append("Partitioned")
    return "; ".join(parts)


def delete_cookie_header(
    settings: SessionSettings, *, secure_request: bool, name: str | None = None
) -> str:
    return set_cookie_header(settings, "", secure_request=secure_request, max_age=0, name=name)
