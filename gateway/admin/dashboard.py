"""The operator dashboard at ``<admin prefix>/``: server-rendered HTML, plain forms.

``GET /`` shows the sign-in form, or once signed in: progress, traffic and
latency per backend, shadow match rates with the latest diffs, every route
with its flag and flip controls (route, group, pattern or all), and the audit
trail. ``POST /signin`` takes an admin token and sets the session cookie
(gateway/admin/session.py); ``POST /flip`` first answers a confirmation page
listing exactly what will change, and flips (through the flip service, as
the signed-in token's name, via "dashboard") only when that page is
confirmed. Every POST needs the form's CSRF token. No JavaScript.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.admin.auth import CLOSED_MESSAGE, AdminAuth
from gateway.admin.figures import backend_figures, progress
from gateway.admin.session import LOGIN_COOKIE, SESSION_COOKIE, DashboardSessions
from gateway.audit import AuditLog, AuditUnavailable
from gateway.flags import FlagError, parse_flag
from gateway.flagstore import FlagStore, FlagStoreUnavailable
from gateway.flipping import FlipService, flippable_keys
from gateway.flips import FlipRefused, FlipRules
from gateway.metrics import GatewayMetrics

log = logging.getLogger("gateway.dashboard")

TEMPLATES = Path(__file__).parent / "templates"
FLAG_CHOICES = ("legacy", "shadow", "canary 1", "canary 5", "canary 25", "canary 50", "new")
MAX_FORM_BYTES = 64 * 1024
AUDIT_SHOWN = 25
DIFFS_SHOWN = 5
# No script, no frames, forms only to this origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

ShadowStats = Callable[[], Awaitable[dict[str, Any]]]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["ms"] = lambda s: "-" if s is None else f"{s * 1000:.1f} ms"
    env.filters["pct"] = lambda r: "-" if r is None else f"{r * 100:.1f} %"
    return env


class Dashboard:
    """The dashboard's routes under ``prefix``; see the module docstring."""

    def __init__(
        self,
        prefix: str,
        auth: AdminAuth,
        rules: FlipRules,
        store: FlagStore,
        flips: FlipService,
        audit: AuditLog,
        *,
        shadow_stats: ShadowStats | None = None,
        metrics: GatewayMetrics | None = None,
        session_seconds: int = 1800,
    ) -> None:
        self.prefix = prefix
        self.auth = auth
        self.rules = rules
        self.store = store
        self.flips = flips
        self.audit = audit
        self.shadow_stats = shadow_stats
        self.metrics = metrics
        self.sessions = DashboardSessions(auth.session_key(), session_seconds, prefix + "/")
        self.templates = _environment()

    def routes(self) -> list[BaseRoute]:
        p = self.prefix
        return [
            Route(p, self.to_slash, methods=["GET"]),
            Route(p + "/", self.page, methods=["GET"]),
            Route(p + "/signin", self.signin, methods=["POST"]),
            Route(p + "/signout", self.signout, methods=["POST"]),
            Route(p + "/flip", self.flip, methods=["POST"]),
        ]

    # --- helpers ----------------------------------------------------------
    def _render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(prefix=self.prefix, **context)
        return HTMLResponse(html, status, headers=SECURITY_HEADERS)

    def _set_cookie(
        self, response: Response, request: Request, name: str, value: str, max_age: int
    ) -> None:
        secure = request.url.scheme == "https"
        header = self.sessions.cookie_header(name, value, secure=secure, max_age=max_age)
        response.headers.append("set-cookie", header)

    def _signin_page(self, request: Request, status: int = 200, error: str = "") -> Response:
        cookie, token = self.sessions.login_token()
        response = self._render(
            "signin.html",
            status,
            csrf=token,
            error=error,
            closed=CLOSED_MESSAGE if self.auth.closed else "",
            open_mode=not self.auth.tokens and self.auth.open_on_loopback,
        )
        self._set_cookie(response, request, LOGIN_COOKIE, cookie, 600)
        return response

    @staticmethod
    async def _form(request: Request) -> FormData | None:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_FORM_BYTES:
            return None
        try:
            return await request.form(max_files=0, max_fields=200)
        except Exception:  # malformed body: the caller answers 400
            return None

    # --- pages ------------------------------------------------------------
    async def to_slash(self, request: Request) -> Response:
        return RedirectResponse(self.prefix + "/", 307)

    async def page(self, request: Request) -> Response:
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return self._signin_page(request)
        return self._render("dashboard.html", **await self._overview(), session=session)

    async def signin(self, request: Request) -> Response:
        form = await self._form(request)
        if form is None:
            return self._signin_page(request, 400, "The form could not be read.")
        if not self.sessions.login_accepts(request.cookies.get(LOGIN_COOKIE), form.get("csrf")):
            return self._signin_page(request, 403, "The form expired; please sign in again.")
        token = form.get("token")
        actor = self.auth.actor_for(token) if isinstance(token, str) and token else None
        if actor is None and not self.auth.tokens:
            actor = self.auth.check_open(request).actor  # open mode: loopback clients only
        if actor is None:
            log.warning("dashboard sign-in refused from %s", request.client)
            return self._signin_page(request, 401, "That is not an admin token.")
        value, _ = self.sessions.issue(actor)
        response = RedirectResponse(self.prefix + "/", 303, headers=SECURITY_HEADERS)
        self._set_cookie(response, request, SESSION_COOKIE, value, self.sessions.max_age)
        self._set_cookie(response, request, LOGIN_COOKIE, "", 0)
        return response

    async def signout(self, request: Request) -> Response:
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        form = await self._form(request)
        if session is None or form is None or not session.accepts(form.get("csrf")):
            return self._render("message.html", 403, title="Refused", message="Bad form token.")
        response = RedirectResponse(self.prefix + "/", 303, headers=SECURITY_HEADERS)
        self._set_cookie(response, request, SESSION_COOKIE, "", 0)
        return response

    async def flip(self, request: Request) -> Response:
        """Without ``confirm``: the confirmation page. With it: the flip itself."""
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return self._signin_page(request, 401, "Please sign in first.")
        form = await self._form(request)
        if form is None or not session.accepts(form.get("csrf")):
            return self._render(
                "message.html", 403, title="Refused", message="Bad or missing form token."
            )
        flag_text, reason = str(form.get("flag", "")), str(form.get("reason", ""))
        try:
            flag = parse_flag(flag_text)
            if form.get("confirm") == "yes":
                keys = [str(k) for k in form.getlist("key")]
                result = await self.flips.flip_many(
                    keys, flag, actor=session.actor, reason=reason, via="dashboard"
                )
                return self._render("done.html", result=result.as_dict(), session=session)
            keys = self._keys(form)
            table = self.store.table
            plan = []
            for key in keys:
                endpoints = self.rules.endpoints_for(key)
                missing = self.rules.unimplemented(endpoints) if flag.kind != "legacy" else []
                plan.append(
                    {
                        "key": key,
                        "old": str(table.flag_for(key)),
                        "endpoints": endpoints,
                        "missing": missing,
                    }
                )
        except (FlipRefused, FlagError) as exc:
            return self._render("message.html", 400, title="Not flipped", message=str(exc))
        except FlagStoreUnavailable as exc:
            return self._render("message.html", 503, title="Not flipped", message=str(exc))
        return self._render(
            "confirm.html", plan=plan, flag=str(flag), reason=reason, session=session
        )

    def _keys(self, form: FormData) -> list[str]:
        """The keys a flip form names: one target, or every key matching a pattern."""
        target, pattern = str(form.get("target", "")).strip(), str(form.get("match", "")).strip()
        if target:
            return [target]
        if pattern:
            return self.flips.keys_for([], pattern)
        raise FlipRefused("name a route or group, or a pattern such as 'auth.*' ('*' for all)")

    async def _overview(self) -> dict[str, Any]:
        table = self.store.table
        rows = self.rules.rows(table)
        groups = [
            {"name": name, "members": members, "flag": str(table.flag_for(name))}
            for name, members in sorted(self.rules.groups.members.items())
        ]
        figures: dict[str, Any] | None = None
        if self.metrics is not None:
            figures = backend_figures(self.metrics.collect())
        shadow = await self.shadow_stats() if self.shadow_stats is not None else None
        try:
            entries = [e.as_dict() for e in await self.audit.recent(AUDIT_SHOWN)]
            audit_error = ""
        except AuditUnavailable as exc:
            entries, audit_error = [], str(exc)
        return {
            "rows": rows,
            "flippable": set(flippable_keys(self.rules)),
            "groups": groups,
            "progress": progress(rows),
            "figures": figures,
            "shadow": shadow,
            "diffs": (shadow or {}).get("samples", [])[:DIFFS_SHOWN],
            "audit": entries,
            "audit_error": audit_error,
            "version": table.version,
            "choices": FLAG_CHOICES,
        }
