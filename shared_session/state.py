"""The framework-neutral life of one request's session, as pure functions.

The Flask and ASGI shells do only I/O: they ask ``identify`` which cookie to
trust, load or take over through their store, then ``plan_save`` says what to
write and ``cookie_headers`` what to tell the browser. Keeping this logic
here means both frameworks behave the same by construction.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared_session.codec import USER_PREFIX, decode_fields, encode_fields, encode_value
from shared_session.cookie import (
    CookieSigner,
    delete_cookie_header,
    new_session_id,
    set_cookie_header,
)
from shared_session.flashes import FLASHES_KEY
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


class SaveCounters:
    """How often a save did not go as the request asked, by reason:
    ``trimmed`` (oldest flashes dropped to fit), ``over_limit_saved`` (over
    the limit but not larger than loaded), ``too_large`` (changes dropped),
    ``write_refused`` (the store refused the write). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


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
    created_ms: int = 0  # creation time of the loaded session (0: unknown)
    # The values as decoded at load: an immutable value that is still the
    # same object keeps its loaded bytes instead of being encoded again.
    loaded: dict[str, Any] = field(default_factory=dict)


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
        self.counters = SaveCounters()

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
            data = _decode(stored.fields)
            state = SessionState(
                identity.sid,
                stored.fields,
                True,
                send_cookie=identity.stale_key,  # re-signed with the newest key
                legacy_cookies=legacy_cookies,
                created_ms=stored.created_ms,
                loaded=dict(data),
            )
            return data, state
        if identity.sid is not None:
            log.info("unknown or expired session id: starting a new session")
        if taken is not None:
            sid, fields = taken
            data = decode_fields(fields)
            state = SessionState(
                sid, fields, identity.had_cookie, True, legacy_cookies, loaded=dict(data)
            )
            return data, state
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
        return replace(plan, target=new_session_id(plan.source))

    def takeover_ttl(self, legacy: LegacySession) -> int:
        if legacy.origin == "flask":
            return self.settings.flask_max_age
        return self.settings.starlette_max_age

    def plan_save(self, state: SessionState, data: Mapping[str, Any]) -> SavePlan | None:
        """What to write for this request, or None when nothing changed.

        Never raises for size: a session over ``max_session_bytes`` is fitted
        (oldest flashes dropped) or this request's changes are not written
        (see ``_fit``). Raises TypeError when a value cannot be encoded.
        """
        if state.read_only:
            return None
        current = _encode(state, data)
        if state.cleared or state.sid is None:
            if state.sid is None and not current:
                return None
            mode = Mode.CLEAR if state.cleared and state.sid else Mode.NEW
            fitted = self._fit(current, data, loaded={})
            if fitted is None:
                # Logging out still happens; only what was set after clear() is lost.
                return (
                    SavePlan(mode, state.sid, new_session_id(state.sid))
                    if mode is Mode.CLEAR
                    else None
                )
            return SavePlan(mode, state.sid, new_session_id(state.sid), fitted)
        if not _differs(state.original, current) and not state.regenerate:
            return None
        fitted = self._fit(current, data, loaded=state.original)
        if fitted is None:
            if state.regenerate:  # the id still changes (login), the data stays as stored
                return SavePlan(Mode.REGENERATE, state.sid, new_session_id(state.sid))
            return None
        changed = {k: v for k, v in fitted.items() if state.original.get(k) != v}
        removed = [k for k in state.original if k not in fitted]
        if not changed and not removed and not state.regenerate:
            return None
        if state.regenerate:
            return SavePlan(Mode.REGENERATE, state.sid, new_session_id(state.sid), changed, removed)
        return SavePlan(
            Mode.UPDATE, state.sid, state.sid, changed, removed, created_ms=state.created_ms
        )

    def _fit(
        self, fields: dict[str, bytes], data: Mapping[str, Any], loaded: Mapping[str, bytes]
    ) -> dict[str, bytes] | None:
        """``fields`` as they may be written, or None when they must not be.

        Over ``max_session_bytes`` the oldest flash messages are dropped until
        the session fits (all of them if need be). If it still does not fit,
        it is written only when it is no larger than the session as loaded
        (a session already over the limit can still shrink); otherwise
        nothing of this request is written. Either way the response goes out
        as the handler produced it, and a warning names the largest keys.
        """
        limit = self.settings.max_session_bytes
        size = fields_size(fields)
        if size <= limit:
            return fields
        fitted, dropped = _drop_oldest_flashes(fields, data, limit)
        fitted_size = fields_size(fitted)
        if fitted_size <= limit or fitted_size <= fields_size(loaded):
            fits = fitted_size <= limit
            self.counters.add("trimmed" if fits else "over_limit_saved")
            log.warning(
                "session over max_session_bytes (%d > %d bytes): dropped the %d oldest flash "
                "messages, saved %d bytes%s; largest keys: %s",
                size, limit, dropped, fitted_size,
                "" if fits else " (still over, but not larger than as loaded)",
                largest_keys(fitted),
            )  # fmt: skip
            return fitted
        self.counters.add("too_large")
        log.warning(
            "session not saved: it would be %d bytes, over max_session_bytes (%d); this "
            "request's changes were dropped and the stored session is unchanged; keep large "
            "data elsewhere and its id in the session; largest keys: %s",
            size, limit, largest_keys(fields),
        )  # fmt: skip
        return None

    def save_refused(self, plan: SavePlan, error: Exception) -> None:
        """Log and count a save the store refused (nothing of it was written)."""
        self.counters.add("write_refused")
        log.warning(
            "session store refused the save (%s): this request's session changes were "
            "dropped, the response went out as produced; largest keys written: %s",
            error, largest_keys(plan.set_fields),
        )  # fmt: skip

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


_SCALARS = frozenset({str, int, float, bool, type(None)})
_MISSING = object()
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _encode(state: SessionState, data: Mapping[str, Any]) -> dict[str, bytes]:
    """``encode_fields(data)``, reusing the loaded bytes of every value that is
    still the very object loaded and cannot have changed in place; mutable
    values (lists, dicts) are encoded, so nested changes are seen."""
    loaded, original = state.loaded, state.original
    fields: dict[str, bytes] = {}
    for key, value in data.items():
        kind = type(value)
        if kind in _SCALARS and type(key) is str:
            if loaded.get(key, _MISSING) is value and (raw := original.get(USER_PREFIX + key)):
                fields[USER_PREFIX + key] = raw
            else:  # no tag applies to these exact types: plain compact JSON
                fields[USER_PREFIX + key] = _dumps(value).encode()
            continue
        if kind is bytes and loaded.get(key, _MISSING) is value:
            raw = original.get(USER_PREFIX + key)
            if raw is not None:
                fields[USER_PREFIX + key] = raw
                continue
        fields.update(encode_fields({key: value}))
    return fields


def _decode(fields: Mapping[str, bytes]) -> dict[str, Any]:
    """``decode_fields(fields)``; JSON scalars, which carry no tag, skip the
    tag scan."""
    data: dict[str, Any] = {}
    for name, raw in fields.items():
        if name.startswith(USER_PREFIX):
            value = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            if type(value) in _SCALARS:
                data[name[len(USER_PREFIX) :]] = value
            else:
                data.update(decode_fields({name: raw}))
    return data


def fields_size(fields: Mapping[str, bytes]) -> int:
    """The size ``max_session_bytes`` limits: field names plus encoded values."""
    return sum(len(k) + len(v) for k, v in fields.items())


def largest_keys(fields: Mapping[str, bytes], count: int = 5) -> str:
    """The ``count`` largest session keys with their sizes, never their values."""
    ranked = sorted(fields.items(), key=lambda item: len(item[1]), reverse=True)[:count]
    return ", ".join(f"{name.removeprefix(USER_PREFIX)[:80]!r} {len(v)} B" for name, v in ranked)


def _differs(original: Mapping[str, bytes], current: Mapping[str, bytes]) -> bool:
    return len(original) != len(current) or any(original.get(k) != v for k, v in current.items())


def _drop_oldest_flashes(
    fields: dict[str, bytes], data: Mapping[str, Any], limit: int
) -> tuple[dict[str, bytes], int]:
    """``fields`` with the fewest oldest flash messages dropped to fit ``limit``
    (all of them if that is not enough), and how many were dropped."""
    name = USER_PREFIX + FLASHES_KEY
    flashes = data.get(FLASHES_KEY)
    if name not in fields or not isinstance(flashes, list | tuple) or not flashes:
        return fields, 0
    rest = {k: v for k, v in fields.items() if k != name}
    room = limit - fields_size(rest) - len(name)
    low, high = 0, len(flashes)  # find the fewest drops whose encoding fits the room
    while low < high:
        middle = (low + high) // 2
        if len(encode_value(FLASHES_KEY, list(flashes[middle:]))) <= room:
            high = middle
        else:
            low = middle + 1
    if low < len(flashes):
        rest[name] = encode_value(FLASHES_KEY, list(flashes[low:]))
    return rest, low
