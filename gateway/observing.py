"""Watching each answer: which backend gave it, its status and how long it took.

The gateway hands its decision to ``RequestObserver``, which calls the
decision's backend once and, when the response ends, tells every sink
``(decision, backend, status, seconds)``: the Prometheus metrics and the
rollback windows. WebSockets pass straight through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from starlette.types import Message, Receive, Scope, Send

from gateway.backends.label import SERVED_BY
from gateway.decision import Decision

log = logging.getLogger("gateway.observing")

Sink = Callable[[Decision, str, int, float], None]
_SIDES = {b"legacy": "legacy", b"new": "new"}


class RequestObserver:
    """Calls ``decision.backend`` and reports the answer to ``sinks``.

    A backend that raises before answering counts as a 500; a client gone
    before any answer is not counted. A failing sink is logged, never raised.
    """

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = tuple(sinks)

    async def __call__(
        self, decision: Decision, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["type"] != "http":
            await decision.backend(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        side = _SIDES.get(decision.served_by or b"", "")

        async def observed_send(message: Message) -> None:
            nonlocal status, side
            if message["type"] == "http.response.start":
                status = message["status"]
                if not side:  # fallback labels its own answers
                    for name, value in message.get("headers", ()):
                        if name == SERVED_BY:
                            side = _SIDES.get(value, "")
            await send(message)

        try:
            await decision.backend(scope, receive, observed_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            if status:
                self._report(decision, side or "legacy", status, time.perf_counter() - started)

    def _report(self, decision: Decision, side: str, status: int, seconds: float) -> None:
        for sink in self.sinks:
            try:
                sink(decision, side, status, seconds)
            except Exception:
                log.exception("request observer sink failed")
