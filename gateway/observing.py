"""Watching each answer: which backend gave it, its status and how long it took.

The gateway hands its decision to ``RequestObserver``, which calls the
decision's backend once and, when the response ends, adds the answer to one
row of counts per (endpoint, backend, status class): a count per latency
bucket and the sum of seconds. The rows only grow; the Prometheus metrics
and the rollback windows each read them (and what changed since they last
looked) on their own schedule, so a request pays for one dict lookup and two
additions, whoever watches. WebSockets pass straight through.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Awaitable

from starlette.types import Message, Receive, Scope, Send

from gateway.backends.label import SERVED_BY
from gateway.decision import Decision
from shared_session import unavailable

UNMATCHED = "<unmatched>"
# Latency buckets (seconds) suited to web requests, from 2.5 ms to 10 s.
BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A row: one count per bucket (BUCKETS, then +Inf), then the sum of seconds.
ROW_SIZE = len(BUCKETS) + 2
_CLASSES = ("5xx", "1xx", "2xx", "3xx", "4xx", "5xx")
SIDES: dict[bytes | None, str] = {b"legacy": "legacy", b"new": "new"}
_SIDES = SIDES
_clock = time.perf_counter
_bucket = bisect.bisect_left

RowKey = tuple[str, str, str]  # endpoint, backend ("legacy" | "new"), status class
# The status class of a 503 the shared session gave because its store is down
# (shared_session.unavailable): a 5xx to the client and in the metrics, but no
# fault of the backend that answered, so the rollback guard leaves it out.
SESSION_DOWN = "5xx-session"
SESSION_DOWN_HEADER = unavailable.ASGI_HEADER
# What a send wrapper passes to count() for such an answer (no HTTP status).
SESSION_DOWN_STATUS = -503


def status_class(status: int) -> str:
    """``503`` -> ``"5xx"``; anything out of range counts as ``"5xx"``."""
    return _CLASSES[status // 100] if 100 <= status < 600 else "5xx"


def reported_class(klass: str) -> str:
    """The status class metrics report for a row's class (SESSION_DOWN is a 5xx)."""
    return "5xx" if klass == SESSION_DOWN else klass


def new_row() -> list[float]:
    return [0] * (ROW_SIZE - 1) + [0.0]


class RequestObserver:
    """Calls ``decision.backend`` and counts the answer in ``rows``.

    A backend that raises before answering counts as a 500; a client gone
    before any answer is not counted. Paths no route matches count under
    ``<unmatched>``, never under their raw path.
    """

    def __init__(self) -> None:
        self.rows: dict[RowKey, list[float]] = {}

    async def __call__(
        self, decision: Decision, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["type"] != "http":
            await decision.backend(scope, receive, send)
            return
        started = _clock()
        status = 0
        side = _SIDES.get(decision.served_by, "")

        # A plain function handing on send's awaitable: no coroutine per message.
        def observed_send(message: Message) -> Awaitable[None]:
            nonlocal status, side
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 503 and SESSION_DOWN_HEADER in message.get("headers", ()):
                    status = SESSION_DOWN_STATUS
                if not side:  # fallback labels its own answers
                    for name, value in message.get("headers", ()):
                        if name == SERVED_BY:
                            side = _SIDES.get(value, "")
            return send(message)

        try:
            await decision.backend(scope, receive, observed_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            if status:
                self.count(decision.endpoint, side, status, _clock() - started)

    def count(self, endpoint: str | None, side: str, status: int, seconds: float) -> None:
        """Add one answer to its row (``side`` "" counts as legacy).

        The gateway calls this itself on its new path, from the send wrapper
        it needs anyway for its headers, sparing the coroutine ``__call__``
        would add to every request. ``SESSION_DOWN_STATUS`` counts under
        ``SESSION_DOWN``.
        """
        if status == SESSION_DOWN_STATUS:
            klass = SESSION_DOWN
        else:
            klass = _CLASSES[status // 100] if 100 <= status < 600 else "5xx"
        key = (endpoint or UNMATCHED, side or "legacy", klass)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = new_row()
        row[_bucket(BUCKETS, seconds)] += 1
        row[-1] += seconds


def changes_since(
    rows: dict[RowKey, list[float]], seen: dict[RowKey, list[float]]
) -> dict[RowKey, list[float]]:
    """What each row gained since ``seen`` (which is brought up to date)."""
    gained: dict[RowKey, list[float]] = {}
    for key, row in list(rows.items()):
        current = list(row)
        before = seen.get(key)
        seen[key] = current
        delta = current if before is None else [c - b for c, b in zip(current, before, strict=True)]
        if any(delta[:-1]):
            gained[key] = delta
    return gained
