"""The gateway's answer to "who serves this request?", as one frozen value.

The gateway decides once per request and calls ``decision.backend`` with the
request; the decision also travels in the scope under ``DECISION_KEY`` so
backend wrappers (shadow, fallback) can count per route without being told.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Scope

DECISION_KEY = "gateway.decision"


@dataclass(frozen=True, slots=True)
class Decision:
    """Where one request goes.

    ``backend`` is an ASGI app (legacy, new, or a wrapper such as shadow or
    fallback); ``served_by`` the ``X-Served-By`` value the answer carries, or
    None when the backend labels its own answers (fallback, which may switch
    sides mid-request); ``key`` is the flag key (route or group) when a legacy
    rule matched; ``endpoint`` the route's identity (None for 404s);
    ``set_cookie`` a Set-Cookie value the response must carry (a new canary
    bucket).
    """

    backend: ASGIApp
    served_by: bytes | None
    key: str | None = None
    endpoint: str | None = None
    set_cookie: bytes | None = None

    @property
    def route(self) -> str:
        """The name statistics are kept under: flag key, else endpoint, else "?"."""
        return self.key or self.endpoint or "?"


def decision_of(scope: Scope) -> Decision | None:
    """The decision the gateway put in ``scope``, if any."""
    return scope.get(DECISION_KEY)
