"""The framework-neutral life of one request's session, as pure functions.

The Flask and ASGI shells do only I/O: they ask ``identify`` which cookie to
trust, load or take over through their store, then ``plan_save`` says what to
write and ``cookie_headers`` what to tell the browser. Keeping this logic
here means both frameworks behave the same by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared_session.codec import USER_PREFIX, decode_fields, encode_fields
from shared_session.cookie import (
    CookieSigner,
    delete_cookie_header,
    new_session_id,
    set_cookie_header,
)
from shared_session.errors import SessionTooLarge
from shared_session.legacy import LegacySession, read_legacy_session
from shared_session.settings import SessionSettings
from shared_session.store.base import Mode, SaveOutcome, SavePlan, SaveStatus, StoredSession

log = logging.getLogger("shared_session")

READ_ONLY_SCOPE_KEY = "shared_session.read_only"
# Flask's SessionMixin.permanent lives under this key; the ASGI side uses it too.
PERMANENT_KEY = "_permanent"
_PERMANENT_FIELD = USER_PREFIX + PERMANENT_KEY

# Signing keys, newest last: a list, or a function giving the current list
# (Flask reads SECRET_KEY and SECRET_KEY_FALLBACKS on every request).
Keys = Sequence[str | bytes] | Callable[[], Sequence[str | bytes]]
_SIGNER_CACHE_SIZE = 8


@dataclass(slots=True)
class SessionState:
    """What the request started from; the session object carries one."""

    sid: str | None = None  # id of the stored session loaded, None for a new one
    original: dict[str, bytes] = field(default_factory=dict)
    had_cookie: bool = False  # the browser sent our cookie (valid or not)
    send_cookie: bool = False  # the browser must get the cookie for sid (takeover)
    legacy_cookies: list[str] = field(default_factory=list)  # to delete in the browser
    regenerate: bool = False
    cleared: bool = False
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Identity:
    """What the request's cookies say, before any store access."""

    sid: str | None
    had_cookie: bool
    legacy: LegacySession | None
    stale_key: bool = False  # sid verified with an older key: re-sign it


class SessionCore:
    """The pure logic of one configuration (settings + signing keys)."""

    def __init__(self, settings: SessionSettings, keys: Keys, flask_keys: Keys):
        """Raises SessionConfigError when ``keys`` is an empty list (a function
        giving no keys raises it when the session is used)."""
        self.settings = settings
        self._keys = keys
        self._flask_keys = flask_keys
        self._signers: dict[tuple[str | bytes, ...], CookieSigner] = {}
        # Fixed keys: one signer, made now, so that missing keys fail at start-up.
        self._fixed = None if callable(keys) else CookieSigner(keys, settings.max_cookie_bytes)

    @property
    def signer(self) -> CookieSigner:
        """The signer for the current keys (one per key list, kept)."""
        if self._fixed is not None:
            return self._fixed
        assert callable(self._keys)
        keys = tuple(self._keys())
        signer = self._signers.get(keys)
        if signer is None:
            if len(self._signers) >= _SIGNER_CACHE_SIZE:
                self._signers.clear()  # keys changed many times: start over
            signer = CookieSigner(list(keys), self.settings.max_cookie_bytes)
            self._signers[keys] = signer
        return signer

    @property
    def flask_keys(self) -> list[str | bytes]:
        """The keys legacy Flask cookies are verified with, newest last."""
        return list(self._flask_keys() if callable(self._flask_keys) else self._flask_keys)

    def identify(self, cookies: Mapping[str, str]) -> Identity:
        """Our signed session id, and any legacy cookie session to take over."""
        raw = cookies.get(self.settings.cookie_name)
        sid, stale_key = self.signer.read(raw) if raw else (None, False)
        if raw and sid is None:
            log.warning(
                "rejected session cookie: bad signature, format or size (%d bytes)", len(raw)
            )
        legacy = None
        s = self.settings
        if s.flask_cookie_name in cookies or s.starlette_cookie_name in cookies:
            legacy = read_legacy_session(cookies, s, self.flask_keys)
        return Identity(sid, raw is not None, legacy, stale_key)

    def opened(
        self,
        identity: Identity,
        stored: StoredSession | None,
        taken: tuple[str, dict[str, bytes]] | None,
    ) -> tuple[dict[str, Any], SessionState]:
        """The session data and state once loading (or takeover) is done."""
        legacy_cookies = [identity.legacy.cookie_name] if identity.legacy else []
        if stored is not None and identity.sid is not None:
            state = SessionState(
                identity.sid,
                stored.fields,
                True,
                send_cookie=identity.stale_key,  # re-signed with the newest key
                legacy_cookies=legacy_cookies,
            )
            return decode_fields(stored.fields), state
        if identity.sid is not None:
            log.info("unknown or expired session id: starting a new session")
        if taken is not None:
            sid, fields = taken
            state = SessionState(sid, fields, identity.had_cookie, True, legacy_cookies)
            return decode_fields(fields), state
        if identity.legacy is not None and identity.legacy.data:
            log.info(
                "legacy %s session refused: it was taken over and has ended", identity.legacy.origin
            )
        return {}, SessionState(had_cookie=identity.had_cookie, legacy_cookies=legacy_cookies)

    def takeover_fields(self, identity: Identity) -> dict[str, bytes] | None:
        """Encoded data of a legacy session worth taking over, else None."""
        if identity.legacy is None or not identity.legacy.data:
            return None
        return encode_fields(identity.legacy.data)

    def retarget(self, plan: SavePlan) -> SavePlan:
        """The same plan under another new id (after an id collision)."""
        return replace(plan, target=new_session_id())

    def takeover_ttl(self, legacy: LegacySession) -> int:
        if legacy.origin == "flask":
            return self.settings.flask_max_age
        return self.settings.starlette_max_age

    def plan_save(self, state: SessionState, data: Mapping[str, Any]) -> SavePlan | None:
        """What to write for this request, or None when nothing changed.

        Raises SessionTooLarge (nothing written) over ``max_session_bytes``,
        TypeError when a value cannot be encoded.
        """
        if state.read_only:
            return None
        current = encode_fields(data)
        if state.cleared or state.sid is None:
            if state.sid is None and not current:
                return None
            self._check_size(current)
            mode = Mode.CLEAR if state.cleared and state.sid else Mode.NEW
            return SavePlan(mode, state.sid, new_session_id(), current)
        changed = {k: v for k, v in current.items() if state.original.get(k) != v}
        removed = [k for k in state.original if k not in current]
        if not changed and not removed and not state.regenerate:
            return None
        self._check_size(current)
        if state.regenerate:
            return SavePlan(Mode.REGENERATE, state.sid, new_session_id(), changed, removed)
        return SavePlan(Mode.UPDATE, state.sid, state.sid, changed, removed)

    def _check_size(self, fields: Mapping[str, bytes]) -> None:
        size = sum(len(k) + len(v) for k, v in fields.items())
        if size > self.settings.max_session_bytes:
            raise SessionTooLarge(
                f"the session would be {size} bytes, over the limit of "
                f"{self.settings.max_session_bytes} (max_session_bytes); keep large "
                "data elsewhere and store its id in the session"
            )

    def cookie_headers(
        self,
        state: SessionState,
        plan: SavePlan | None,
        outcome: SaveOutcome | None,
        data: Mapping[str, Any],
        *,
        secure: bool,
    ) -> list[str]:
        """The Set-Cookie header values this response needs (often none)."""
        if state.read_only:
            return []
        headers = [
            delete_cookie_header(self.settings, secure_request=secure, name=name)
            for name in state.legacy_cookies
            if name != self.settings.cookie_name
        ]
        sid: str | None = None
        if plan is not None and outcome is not None:
            if outcome.status is SaveStatus.SAVED:
                if (
                    plan.target != state.sid
                    or state.send_cookie
                    or _PERMANENT_FIELD in plan.set_fields
                    or _PERMANENT_FIELD in plan.delete_fields
                ):
                    sid = plan.target
            elif state.had_cookie or state.send_cookie or plan.source:
                headers.append(delete_cookie_header(self.settings, secure_request=secure))
                return headers
        elif state.send_cookie and state.sid:
            sid = state.sid
        elif state.had_cookie and state.sid is None and not state.read_only:
            # A cookie that leads nowhere (logged out elsewhere, expired,
            # forged): drop it so the browser stops sending it.
            headers.append(delete_cookie_header(self.settings, secure_request=secure))
        if sid is not None:
            # session.permanent, set by either side, wins over the default.
            permanent = bool(data.get(PERMANENT_KEY, self.settings.cookie_persistent))
            max_age = self.settings.absolute_lifetime if permanent else None
            headers.append(
                set_cookie_header(
                    self.settings, self.signer.sign(sid), secure_request=secure, max_age=max_age
                )
            )
        return headers
