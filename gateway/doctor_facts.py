"""Facts for the doctor (``gateway.doctor``), gathered from loaded apps, settings and Redis.

Used two ways: by ``migrate-gateway doctor`` on a configuration (it loads the apps
as the gateway would), and by a running gateway's ``GET <prefix>/doctor`` on its own
apps, once per worker that answers. Blocking (Redis pings): the admin endpoint calls
it in a thread.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flask import Flask
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from gateway.admin.api import DoctorReport
from gateway.doctor import (
    Facts,
    ForwardedProbe,
    RedisProbe,
    SessionSide,
    diagnose,
)
from gateway.settings import GatewaySettings
from shared_session import SessionMiddleware, SharedSessionInterface
from shared_session.redis_connect import (
    REDIS_ERRORS,
    describe_redis_error,
    describe_redis_url,
    sync_client,
)

# The development stack's generated key (gateway/devstack.py writes it here).
DEVELOPMENT_KEY_FILE = Path("var/dev-secret-key")
MAX_WRAPPERS = 64


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the app below a middleware built only to read its settings."""


def flask_keys(app: Flask) -> tuple[str, ...]:
    fallbacks = app.config.get("SECRET_KEY_FALLBACKS") or []
    return tuple(str(k) for k in [*fallbacks, app.config.get("SECRET_KEY")] if k)


def flask_side(app: Flask) -> SessionSide:
    interface = app.session_interface
    if isinstance(interface, SharedSessionInterface):
        keys = tuple(interface.settings.keys()) or flask_keys(app)
        return SessionSide("legacy", interface.settings, keys)
    return SessionSide("legacy", None, flask_keys(app))


def session_middleware(app: Any) -> SessionMiddleware | None:
    """The shared_session middleware of an ASGI app: the instance in its built
    middleware stack, else one built from what ``add_middleware`` declared."""
    current, seen = app, 0
    while current is not None and seen < MAX_WRAPPERS:
        if isinstance(current, SessionMiddleware):
            return current
        stack = getattr(current, "middleware_stack", None)
        if stack is not None:
            current, seen = stack, seen + 1
            continue
        for entry in getattr(current, "user_middleware", None) or []:
            cls = getattr(entry, "cls", None) if isinstance(entry, Middleware) else None
            if isinstance(cls, type) and issubclass(cls, SessionMiddleware):
                return entry.cls(_no_app, *entry.args, **entry.kwargs)
        current, seen = getattr(current, "app", None), seen + 1
    return None


def asgi_side(app: Any) -> SessionSide:
    middleware = session_middleware(app)
    if middleware is None:
        return SessionSide("new", None)
    return SessionSide("new", middleware.settings, tuple(middleware.settings.keys()))


def probe_redis(purpose: str, url: str) -> RedisProbe:
    """Ping ``url`` (a server, Sentinel or Cluster URL) and read which server(s) it is:
    the run id, or the sorted run ids of a cluster's nodes. 2-second timeouts."""
    shown = describe_redis_url(url)
    try:
        client = sync_client(url, timeout=2)
    except ValueError as exc:
        return RedisProbe(purpose, shown, False, None, str(exc))
    try:
        info = client.info("server")
        if "run_id" in info:
            server_id = str(info["run_id"])
        else:  # a cluster answers per node
            ids = (str(v.get("run_id")) for v in info.values() if isinstance(v, dict))
            server_id = ",".join(sorted(ids))
        return RedisProbe(purpose, shown, True, server_id)
    except REDIS_ERRORS as exc:
        return RedisProbe(purpose, shown, False, None, describe_redis_error(exc))
    finally:
        client.close()


def development_key(path: Path = DEVELOPMENT_KEY_FILE) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def gather(
    settings: GatewaySettings,
    legacy_app: object | None,
    new_app: object | None,
    *,
    workers: int | None,
    behind_proxy: bool = False,
    forwarded_allow_ips: str | None = None,
    forwarded: ForwardedProbe | None = None,
) -> Facts:
    """The facts about a gateway configured by ``settings`` serving these apps."""
    sides = []
    if isinstance(legacy_app, Flask):
        sides.append(flask_side(legacy_app))
    if new_app is not None:
        sides.append(asgi_side(new_app))
    probes = []
    if settings.redis_url:
        probes.append(probe_redis("flags", settings.redis_url))
    for side in sides:
        if side.settings is not None and side.settings.redis_url:
            probes.append(probe_redis(f"sessions ({side.side} app)", side.settings.redis_url))
    tokens = [t.get_secret_value() for t in settings.admin_tokens]
    tokens = [t.partition(":")[2] or t for t in tokens]
    if settings.admin_token:
        tokens.append(settings.admin_token.get_secret_value())
    key_setting = "SECRET_KEY (or SHARED_SESSION_SECRET_KEYS), the same for both apps"
    secrets = [
        (f"the {side.side} app's session signing key", key_setting, key)
        for side in sides
        for key in side.keys
    ]
    if settings.override_secret:
        value = settings.override_secret.get_secret_value()
        secrets.append(("the staff override secret", "GATEWAY_OVERRIDE_SECRET", value))
    secrets += [("an admin token", "GATEWAY_ADMIN_TOKEN", t) for t in tokens]
    return Facts(
        sessions=tuple(sides),
        flags_in_redis=bool(settings.redis_url),
        redis=tuple(probes),
        workers=workers,
        legacy_in_process=not settings.legacy_upstream,
        behind_proxy=behind_proxy,
        forwarded_allow_ips=forwarded_allow_ips,
        forwarded=forwarded,
        admin_open=settings.admin_open,
        admin_tokens=tuple(tokens),
        secrets=tuple(secrets),
        development_secret=development_key(),
    )


def forwarded_probe(headers: Any, client_host: str | None, scheme: str) -> ForwardedProbe:
    """Whether the server applied the X-Forwarded-* headers of this request.

    Applied (uvicorn's proxy headers), the client address is one of the listed
    addresses and the scheme is the forwarded one; ignored, the client is the
    proxy and the scheme is the connection's.
    """
    forwarded_for = headers.get("x-forwarded-for")
    forwarded_proto = headers.get("x-forwarded-proto")
    if not forwarded_for and not forwarded_proto:
        return ForwardedProbe(False, False)
    trusted = True
    if forwarded_for:
        listed = {a.strip() for a in forwarded_for.split(",")}
        trusted = client_host in listed
    if forwarded_proto:
        trusted = trusted and scheme == forwarded_proto.strip().lower()
    return ForwardedProbe(True, trusted)


def doctor_report(
    settings: GatewaySettings, legacy_app: object | None, new_app: object, workers: int | None
) -> DoctorReport:
    """``GET <prefix>/doctor``: this worker's findings about its own apps and settings,
    plus what ``migrate-gateway doctor`` compares across workers (pid, Redis servers)."""

    async def report(request: Request) -> dict[str, Any]:
        client = request.client.host if request.client else None
        probe = forwarded_probe(request.headers, client, request.url.scheme)
        facts = await asyncio.to_thread(
            gather, settings, legacy_app, new_app, workers=workers, forwarded=probe
        )
        return {
            "pid": os.getpid(),
            "workers": workers,
            "flags_in_redis": facts.flags_in_redis,
            "redis": [asdict(p) for p in facts.redis],
            "forwarded": {"seen": probe.header_seen, "trusted": probe.trusted},
            "findings": [f.as_dict() for f in diagnose(facts)],
        }

    return report
