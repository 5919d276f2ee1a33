"""The doctor's judgement: what is wrong with a deployment, and how to fix it.

Pure functions over :class:`Facts` (gathered by ``gateway.doctor_facts`` from a
configuration or from a running gateway's workers): no I/O here. Each problem
found is a :class:`Finding` carrying the fix; an empty list means nothing wrong
was found. ``migrate-gateway doctor`` prints them and exits non-zero if any.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from shared_session.cookie import CookieSigner, new_session_id
from shared_session.settings import SessionSettings

# Settings both apps must agree on, or one side's cookie or store is not the other's.
SHARED_FIELDS = (
    "cookie_name",
    "cookie_domain",
    "cookie_path",
    "cookie_secure",
    "cookie_samesite",
    "cookie_httponly",
    "cookie_persistent",
    "idle_timeout",
    "absolute_lifetime",
    "key_prefix",
    "redis_url",
)
# Secrets published in this project's docs and examples: anyone can sign with them.
PUBLIC_SECRETS = frozenset(
    {
        "change-me: a long random secret shared by both apps",
        "change-me",
        "changeme",
        "dev",
        "development",
        "secret",
        "secret-key",
        "test",
    }
)
MIN_TOKEN_LENGTH = 16
LOOPBACK_ONLY = frozenset({"", "127.0.0.1", "::1", "localhost", "127.0.0.1,::1"})


@dataclass(frozen=True)
class Finding:
    """One thing wrong: a stable ``code``, what is wrong, and what to do about it."""

    code: str
    problem: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class SessionSide:
    """How one app keeps its sessions. ``settings`` is None when the app does not
    use shared_session at all; ``keys`` are its signing keys, newest last."""

    side: str
    settings: SessionSettings | None
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class RedisProbe:
    """One Redis URL as seen from here: reachable or not, and which server it is."""

    purpose: str  # "flags" or "sessions (legacy)" ...
    url: str  # without a password
    reachable: bool
    server_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ForwardedProbe:
    """What a request that came through a proxy looked like to the gateway."""

    header_seen: bool  # X-Forwarded-For or X-Forwarded-Proto arrived
    trusted: bool  # and the server applied it (client address / scheme)


@dataclass(frozen=True)
class Facts:
    """Everything the doctor judges, gathered from one process's point of view."""

    sessions: tuple[SessionSide, ...] = ()
    flags_in_redis: bool = True
    redis: tuple[RedisProbe, ...] = ()
    workers: int | None = None
    # Both apps in the gateway's process (no legacy_upstream): an in-memory session
    # store is then shared by the two sides of one process.
    legacy_in_process: bool = True
    behind_proxy: bool = False
    forwarded_allow_ips: str | None = None
    forwarded: ForwardedProbe | None = None
    admin_open: bool = False
    admin_tokens: tuple[str, ...] = ()
    # (what it is, the setting that sets it, its value) of every secret in use.
    secrets: tuple[tuple[str, str, str], ...] = ()
    development_secret: str | None = None


def diagnose(facts: Facts) -> list[Finding]:
    """Every finding about ``facts``, in a stable order."""
    return [
        *signing_keys(facts.sessions),
        *cookie_settings(facts.sessions),
        *redis_reachable(facts.redis),
        *flags_in_memory(facts.flags_in_redis, facts.workers),
        *sessions_in_memory(facts.sessions, facts.workers, facts.legacy_in_process),
        *forwarded_headers(facts.behind_proxy, facts.forwarded_allow_ips, facts.forwarded),
        *admin_api(facts.admin_open, facts.admin_tokens),
        *development_secrets(facts.secrets, facts.development_secret),
    ]


def signing_keys(sides: Iterable[SessionSide]) -> list[Finding]:
    """Each app must read the cookie the other signs (and use the shared session)."""
    findings, shared = [], []
    for side in sides:
        if side.settings is None:
            findings.append(
                Finding(
                    "session-not-shared",
                    f"the {side.side} app does not use shared_session: its users' sessions "
                    "are not seen by the other app",
                    "install it: install_flask_session(app, SessionSettings()) in Flask, "
                    "app.add_middleware(SessionMiddleware, settings=...) in FastAPI",
                )
            )
        elif not side.keys:
            findings.append(
                Finding(
                    "no-signing-key",
                    f"the {side.side} app has no session signing key",
                    "set SECRET_KEY (Flask) or SHARED_SESSION_SECRET_KEYS",
                )
            )
        else:
            shared.append(side)
    sid = new_session_id()
    for signer_side in shared:
        cookie = CookieSigner(list(signer_side.keys)).sign(sid)
        for reader in shared:
            if reader is not signer_side and CookieSigner(list(reader.keys)).unsign(cookie) != sid:
                findings.append(
                    Finding(
                        "different-signing-keys",
                        f"the {reader.side} app cannot read the {signer_side.side} app's "
                        "session cookie: they sign with different keys, so users are logged "
                        "out whenever they cross from one app to the other",
                        "give both the same keys, newest last: the same SECRET_KEY (and "
                        "SECRET_KEY_FALLBACKS) for both apps, or the same "
                        "SHARED_SESSION_SECRET_KEYS",
                    )
                )
    return findings


def cookie_settings(sides: Iterable[SessionSide]) -> list[Finding]:
    """Cookie attributes, lifetimes, key prefix and store must agree between the apps."""
    configured = [s for s in sides if s.settings is not None]
    findings = []
    for name in SHARED_FIELDS:
        values = {s.side: getattr(s.settings, name) for s in configured}
        if len({repr(v) for v in values.values()}) > 1:
            shown = ", ".join(f"{side}: {_redact(name, v)!r}" for side, v in values.items())
            findings.append(
                Finding(
                    "cookie-settings-disagree",
                    f"the apps disagree on the session's {name} ({shown}): one side's cookie "
                    "or stored session is not the other's",
                    f"give both apps the same SHARED_SESSION_{name.upper()}",
                )
            )
    return findings


# How Redis refuses a client without the right password (NOAUTH, WRONGPASS, and
# HELLO's "must be called with the client already authenticated").
_AUTH_REFUSED = re.compile(r"NOAUTH|WRONGPASS|authenticat|invalid password", re.IGNORECASE)


def redis_reachable(probes: Iterable[RedisProbe]) -> list[Finding]:
    """Every configured Redis answers, and the apps' sessions share one server."""
    probes = list(probes)
    findings = [
        Finding(
            "redis-unreachable",
            f"Redis for {p.purpose} at {p.url} does not answer: {p.error}",
            (
                "it wants a password (or another one): put it in the URL, "
                "redis://:PASSWORD@host:6379/0 (the same form for redis+sentinel:// and "
                "redis+cluster://), in "
                if _AUTH_REFUSED.search(p.error or "")
                else "start it, or fix "
            )
            + "REDIS_URL (GATEWAY_REDIS_URL for the gateway's flags, "
            "SHARED_SESSION_REDIS_URL for sessions)",
        )
        for p in probes
        if not p.reachable
    ]
    session_servers = {
        p.server_id for p in probes if p.purpose.startswith("sessions") and p.server_id
    }
    if len(session_servers) > 1:
        findings.append(
            Finding(
                "redis-not-shared",
                "the apps keep their sessions in different Redis servers",
                "point both apps at the same Redis: the same REDIS_URL",
            )
        )
    return findings


def workers_disagree(server_ids: Iterable[str | None], purpose: str) -> list[Finding]:
    """Workers of one gateway that see different Redis servers (or none) for ``purpose``."""
    seen = set(server_ids)
    if len(seen) <= 1:
        return []
    return [
        Finding(
            "redis-not-shared",
            f"the gateway's workers do not share one Redis for {purpose}: "
            f"{len(seen)} different servers (or none) answered",
            "give every worker and replica the same REDIS_URL",
        )
    ]


def flags_in_memory(flags_in_redis: bool, workers: int | None) -> list[Finding]:
    if flags_in_redis or not workers or workers <= 1:
        return []
    return [
        Finding(
            "flags-in-memory",
            f"flags are kept in memory while {workers} workers run: each keeps its own "
            "table and a flip reaches one of them",
            "set REDIS_URL (or GATEWAY_REDIS_URL) so that every worker shares the flags",
        )
    ]


def sessions_in_memory(
    sides: Iterable[SessionSide], workers: int | None, legacy_in_process: bool
) -> list[Finding]:
    """Memory stores are per process: fine for one process serving both apps only."""
    in_memory = [s.side for s in sides if s.settings is not None and not s.settings.redis_url]
    if not in_memory or ((workers or 1) <= 1 and legacy_in_process):
        return []
    return [
        Finding(
            "sessions-in-memory",
            f"sessions of the {' and '.join(in_memory)} app are kept in process memory: "
            "each process has its own, so users are logged out between them",
            "set REDIS_URL for both apps",
        )
    ]


def forwarded_headers(
    behind_proxy: bool, allow_ips: str | None, probe: ForwardedProbe | None
) -> list[Finding]:
    """Behind a proxy the server must trust its X-Forwarded-* headers (client, https)."""
    untrusted = probe is not None and probe.header_seen and not probe.trusted
    configured_default = (
        behind_proxy and probe is None and (allow_ips or "127.0.0.1").strip() in LOOPBACK_ONLY
    )
    if not (untrusted or configured_default):
        return []
    return [
        Finding(
            "forwarded-headers-untrusted",
            "the gateway runs behind a proxy whose X-Forwarded-For/-Proto it does not trust: "
            "it sees the proxy as every client and plain http where users use https",
            "pass the proxy's address to the server: gunicorn/uvicorn --forwarded-allow-ips "
            "(or FORWARDED_ALLOW_IPS), e.g. --forwarded-allow-ips=10.0.0.5",
        )
    ]


def admin_api(admin_open: bool, tokens: Iterable[str]) -> list[Finding]:
    findings = []
    if admin_open:
        findings.append(
            Finding(
                "admin-api-open",
                "the admin API is open (GATEWAY_ADMIN_OPEN): anyone who reaches it can flip routes",
                "unset GATEWAY_ADMIN_OPEN and set GATEWAY_ADMIN_TOKEN to a long random value",
            )
        )
    for token in tokens:
        if len(token) < MIN_TOKEN_LENGTH:
            findings.append(
                Finding(
                    "admin-token-weak",
                    f"an admin token is {len(token)} characters long: it can be guessed",
                    "use a long random token: python3 -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))'",
                )
            )
    return findings


# What knowing a secret lets anyone do, by the setting that sets it.
_POWERS = {
    "GATEWAY_ADMIN_TOKEN": "flip routes and read the admin API",
    "GATEWAY_OVERRIDE_SECRET": "forge overrides that pick the app serving their requests",
}
_SESSION_KEY_POWER = "sign session cookies, and so be logged in as anyone"


def development_secrets(
    secrets_in_use: Iterable[tuple[str, str, str]], development_secret: str | None
) -> list[Finding]:
    """A secret from this checkout's development stack, or one published in examples."""
    findings = []
    for what, setting, value in secrets_in_use:
        if (development_secret and value == development_secret) or value in PUBLIC_SECRETS:
            findings.append(
                Finding(
                    "development-secret",
                    f"{what} is a development or published value: anyone who knows it can "
                    f"{_POWERS.get(setting, _SESSION_KEY_POWER)}",
                    f"set {setting} to a long random value kept out of the repository "
                    "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
                )
            )
    return findings


def _redact(name: str, value: Any) -> Any:
    return redact_url(value) if name == "redis_url" and isinstance(value, str) else value


def redact_url(url: str) -> str:
    """``redis://user:pw@host`` -> ``redis://user:***@host``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{host}"
